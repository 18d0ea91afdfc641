//! The pure part of the Kubernetes store: what a record object is called, how
//! it is labelled, and when it has expired. A record is a
//! `coordination.k8s.io/v1` Lease in the hub's namespace named
//! `<name>-<kind>-<hash>`, where the hash is SHA-256 of the key: a raw `jti`
//! or token never appears in a name, label, annotation or log.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use keyward_core::UnixTime;
use keyward_core::store::StoreError;

use crate::hub_objects::{LABEL_MANAGED_BY, MANAGER, own_meta};

/// `revoked` or `jti`: which of the store's two sets a record belongs to.
pub const LABEL_RECORD: &str = "keyward.dev/record";
/// Unix seconds after which the record may be deleted.
pub const ANNOTATION_EXPIRES: &str = "keyward.dev/expires-at";
/// A record whose expiry cannot be read (edited by hand) is collected this
/// long after its creation: longer than any access token lives, so nothing is
/// forgotten early, and never "never", so nothing piles up.
pub const UNREADABLE_EXPIRY_AFTER: u64 = 2 * 86_400;
/// Hex digits of the hash kept in a name: 128 bits, so two keys share a
/// record with negligible probability even across billions of records.
const HASH_HEX: usize = 32;
/// A Lease name is a DNS-1123 subdomain.
const MAX_NAME: usize = 253;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A revoked access token's `jti`.
    Revoked,
    /// A one-time-use key (an assertion's scope and `jti`).
    Used,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Revoked => "revoked",
            Kind::Used => "jti",
        }
    }

    pub const ALL: [Kind; 2] = [Kind::Revoked, Kind::Used];
}

/// Lowercase hex SHA-256 of `key`, truncated to [`HASH_HEX`] digits.
pub fn hash(key: &str) -> String {
    let d = digest(&SHA256, key.as_bytes());
    let mut out = String::with_capacity(HASH_HEX);
    for b in d.as_ref().iter().take(HASH_HEX / 2) {
        out.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
        out.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
    }
    out
}

/// Names of one hub's records (`--name`, the chart's fullname, is the prefix,
/// so two hubs in one namespace keep separate records).
#[derive(Clone, Debug)]
pub struct Naming {
    prefix: String,
}

impl Naming {
    pub fn new(prefix: &str) -> Result<Naming, StoreError> {
        let longest = prefix.len() + "-revoked-".len() + HASH_HEX;
        if prefix.is_empty() || longest > MAX_NAME {
            return Err(StoreError::Backend(format!(
                "the hub name must be 1 to {} characters to name its records",
                MAX_NAME - "-revoked-".len() - HASH_HEX
            )));
        }
        Ok(Naming { prefix: prefix.to_owned() })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The record's name for `hash` (see [`hash`]).
    pub fn name(&self, kind: Kind, hash: &str) -> String {
        format!("{}-{}-{hash}", self.prefix, kind.as_str())
    }

    /// The kind and hash of one of this hub's records; `None` for any other
    /// object (another hub's, the leader Lease, something hand-made).
    pub fn parse<'a>(&self, name: &'a str) -> Option<(Kind, &'a str)> {
        let rest = name.strip_prefix(self.prefix.as_str())?.strip_prefix('-')?;
        Kind::ALL.into_iter().find_map(|k| {
            let hash = rest.strip_prefix(k.as_str())?.strip_prefix('-')?;
            let ok = hash.len() == HASH_HEX && hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            ok.then_some((k, hash))
        })
    }

    /// The record object for `key`, to be created in `namespace`.
    pub fn lease(&self, namespace: &str, kind: Kind, key: &str, until: UnixTime) -> Lease {
        let mut metadata = own_meta(namespace, &self.name(kind, &hash(key)));
        metadata.labels.get_or_insert_with(BTreeMap::new).insert(LABEL_RECORD.to_owned(), kind.as_str().to_owned());
        metadata.annotations = Some(BTreeMap::from([(ANNOTATION_EXPIRES.to_owned(), until.0.to_string())]));
        Lease { metadata, spec: None }
    }
}

/// The label selector of a hub's records of `kind` (or of both).
pub fn selector(kind: Option<Kind>) -> String {
    match kind {
        Some(k) => format!("{LABEL_MANAGED_BY}={MANAGER},{LABEL_RECORD}={}", k.as_str()),
        None => format!("{LABEL_MANAGED_BY}={MANAGER},{LABEL_RECORD}"),
    }
}

/// The expiry written in the record, if readable.
pub fn expiry(meta: &ObjectMeta) -> Option<UnixTime> {
    meta.annotations.as_ref()?.get(ANNOTATION_EXPIRES)?.trim().parse().ok().map(UnixTime)
}

/// Whether the collector may delete the record at `now`.
pub fn is_expired(meta: &ObjectMeta, now: UnixTime) -> bool {
    match expiry(meta) {
        Some(until) => until <= now,
        None => meta
            .creation_timestamp
            .as_ref()
            .and_then(|t| u64::try_from(t.0.as_second()).ok())
            .is_some_and(|created| created.saturating_add(UNREADABLE_EXPIRY_AFTER) <= now.0),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    #[test]
    fn names_carry_a_hash_of_the_key_never_the_key() {
        let n = Naming::new("keyward").unwrap();
        let lease = n.lease("hub", Kind::Used, "https://issuer.example\0secret-jti", UnixTime(1_800_000_060));
        let name = lease.metadata.name.clone().unwrap();
        assert!(name.starts_with("keyward-jti-") && name.len() == "keyward-jti-".len() + 32, "{name}");
        let all = serde_json::to_string(&lease).unwrap();
        assert!(!all.contains("secret-jti") && !all.contains("issuer.example"), "{all}");
        let labels = lease.metadata.labels.unwrap();
        assert_eq!(labels[LABEL_RECORD], "jti");
        assert_eq!(labels[LABEL_MANAGED_BY], "keyward");
        assert_eq!(lease.metadata.namespace.as_deref(), Some("hub"));
        assert_eq!(lease.metadata.annotations.unwrap()[ANNOTATION_EXPIRES], "1800000060");
    }

    #[test]
    fn a_name_is_a_valid_dns_subdomain_and_parses_back_to_its_kind_and_hash() {
        let n = Naming::new("keyward").unwrap();
        let h = hash("a-jti");
        assert_eq!(h, hash("a-jti"), "stable");
        assert_ne!(h, hash("a-jtj"));
        let name = n.name(Kind::Revoked, &h);
        assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'), "{name}");
        assert_eq!(n.parse(&name), Some((Kind::Revoked, h.as_str())));
        assert_eq!(n.parse(&n.name(Kind::Used, &h)), Some((Kind::Used, h.as_str())));
    }

    #[test]
    fn other_objects_in_the_namespace_are_not_taken_for_records() {
        let n = Naming::new("keyward").unwrap();
        let h = hash("x");
        assert_eq!(n.parse("keyward-leader"), None);
        assert_eq!(n.parse(&Naming::new("other").unwrap().name(Kind::Used, &h)), None, "another hub's");
        assert_eq!(n.parse(&Naming::new("keyward-a").unwrap().name(Kind::Used, &h)), None);
        assert_eq!(n.parse(&format!("keyward-jti-{}", &h[..31])), None, "short hash");
        assert_eq!(n.parse(&format!("keyward-jti-{}", h.to_uppercase())), None);
    }

    #[test]
    fn a_hub_name_too_long_for_record_names_is_refused() {
        assert!(Naming::new(&"k".repeat(212)).is_ok());
        assert!(Naming::new(&"k".repeat(213)).is_err());
        assert!(Naming::new("").is_err());
    }

    fn meta(expires: Option<&str>, created: Option<i64>) -> ObjectMeta {
        ObjectMeta {
            annotations: expires.map(|e| BTreeMap::from([(ANNOTATION_EXPIRES.to_owned(), e.to_owned())])),
            creation_timestamp: created.map(|s| Time(k8s_openapi::jiff::Timestamp::from_second(s).unwrap())),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn a_record_expires_at_its_annotated_time() {
        let m = meta(Some("1000"), Some(0));
        assert_eq!(expiry(&m), Some(UnixTime(1000)));
        assert!(!is_expired(&m, UnixTime(999)));
        assert!(is_expired(&m, UnixTime(1000)));
        assert_eq!(expiry(&meta(Some(" 1000\n"), None)), Some(UnixTime(1000)), "whitespace from a hand edit");
    }

    #[test]
    fn a_record_with_an_unreadable_expiry_is_collected_two_days_after_creation() {
        for m in [meta(Some("soon"), Some(1000)), meta(Some("-5"), Some(1000)), meta(None, Some(1000))] {
            assert_eq!(expiry(&m), None);
            assert!(!is_expired(&m, UnixTime(1000 + UNREADABLE_EXPIRY_AFTER - 1)));
            assert!(is_expired(&m, UnixTime(1000 + UNREADABLE_EXPIRY_AFTER)));
        }
        assert!(!is_expired(&meta(None, None), UnixTime(u64::MAX)), "no time at all: kept");
    }

    #[test]
    fn selectors_pick_one_kind_or_every_record() {
        assert_eq!(selector(Some(Kind::Revoked)), "app.kubernetes.io/managed-by=keyward,keyward.dev/record=revoked");
        assert_eq!(selector(None), "app.kubernetes.io/managed-by=keyward,keyward.dev/record");
    }
}
