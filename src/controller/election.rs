//! Leader election: which replica writes. One Lease `<name>-leader` in the
//! hub's namespace, held through kube-lease-manager; this module owns how a
//! replica joins it (identity, timings, field manager), not what a leader does
//! (`writer.rs`).
//!
//! kube-lease-manager takes a free Lease with a non-forced server-side apply
//! of `holderIdentity` and counts on the API server's 409 Conflict to tell the
//! loser. Server-side apply only conflicts between *different* field managers:
//! with one manager shared by every replica, two applies racing for a fresh
//! Lease both succeed, and both replicas lead until the first renewal. So each
//! identity applies under its own manager (`field_manager`). The status and
//! Secret writes keep the one manager `keyward` (writer.rs): there the writes
//! are forced and every leader must own the same fields.

use aws_lc_rs::digest::{SHA256, digest};
use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};

/// Field managers are limited to 128 characters by the API server.
const FIELD_MANAGER_MAX: usize = 128;
const FIELD_MANAGER_PREFIX: &str = "keyward-lease-";
/// Hex digits of the identity's SHA-256 kept when the identity must be
/// shortened or rewritten: 64 bits, so two replicas never share a manager.
const HASH_HEX: usize = 16;

/// The field manager under which `identity` takes and renews the Lease:
/// `keyward-lease-<identity>` when that is short and plain enough; otherwise
/// the identity cut and cleaned, followed by a hash of the whole identity, so
/// that distinct identities keep distinct managers.
pub fn field_manager(identity: &str) -> String {
    let plain = identity.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if plain && !identity.is_empty() && FIELD_MANAGER_PREFIX.len() + identity.len() <= FIELD_MANAGER_MAX {
        return format!("{FIELD_MANAGER_PREFIX}{identity}");
    }
    let hash: String = digest(&SHA256, identity.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect();
    let room = FIELD_MANAGER_MAX - FIELD_MANAGER_PREFIX.len() - 1 - HASH_HEX;
    let cleaned: String = identity
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') { c } else { '-' })
        .take(room)
        .collect();
    format!("{FIELD_MANAGER_PREFIX}{cleaned}-{}", &hash[..HASH_HEX])
}

/// Joins the election for `lease` in `namespace` as `identity` (the Lease is
/// created if absent). The holder renews `grace` = a third of the duration
/// before expiry; a standby takes over once the duration has passed without a
/// renewal.
pub async fn join(
    client: Client,
    namespace: &str,
    lease: &str,
    identity: &str,
    lease_seconds: u64,
) -> kube_lease_manager::Result<LeaseManager> {
    // kube-lease-manager needs 0 < grace < duration.
    let duration = lease_seconds.max(2);
    LeaseManagerBuilder::new(client, lease)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(duration)
        .with_grace((duration / 3).max(1))
        .with_field_manager(field_manager(identity))
        .build()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_name_is_its_own_field_manager() {
        assert_eq!(field_manager("keyward-7d9c-x2x"), "keyward-lease-keyward-7d9c-x2x");
    }

    #[test]
    fn distinct_long_or_odd_identities_get_distinct_valid_managers() {
        let long_a = format!("{}a", "r".repeat(300));
        let long_b = format!("{}b", "r".repeat(300));
        let odd = ["pod/1 ü", "pod/1 ö", "", " "];
        let mut seen = std::collections::HashSet::new();
        for id in [long_a.as_str(), long_b.as_str()].into_iter().chain(odd) {
            let m = field_manager(id);
            assert!(m.len() <= FIELD_MANAGER_MAX, "{m}");
            assert!(m.bytes().all(|b| b.is_ascii_graphic()), "{m}");
            assert!(seen.insert(m), "{id:?} shares a manager");
        }
    }
}
