//! The one validation of user-written resources: `TryFrom<&Kind>` into
//! `keyward_core::model`. Owns the field checks (and the hand-written twins of
//! the schema patterns), metadata reading and [`Invalid`]; owns no wire types.
//!
//! `keyward serve` reads manifests with no API server in front of it, so this
//! module is the authority: it re-checks every length, pattern, range,
//! uniqueness and cross-field rule the CRD schema and its CEL rules carry, and
//! collects every problem in one pass so a user fixes a manifest in one round.

pub mod access_policy;
pub mod duration;
pub mod identity_provider;
pub mod jwks;
pub mod oauth_client;
pub mod resource;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use keyward_core::UnixTime;
use keyward_core::model::{Meta, ObjectKey};
use keyward_core::scope::is_scope_token;
use keyward_core::status::{Problem, Reason};

use crate::v1alpha1::common::limits;
use duration::{format_go_duration, parse_go_duration};

/// Why an object did not convert: every problem found, in field order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid(pub Vec<Problem>);

impl Invalid {
    pub fn problems(&self) -> &[Problem] {
        &self.0
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Invalid {}

/// Collects problems while a conversion walks an object.
#[derive(Debug, Default)]
pub(crate) struct Check {
    problems: Vec<Problem>,
}

impl Check {
    pub(crate) fn finish<T>(self, value: T) -> Result<T, Invalid> {
        if self.problems.is_empty() { Ok(value) } else { Err(Invalid(self.problems)) }
    }

    pub(crate) fn invalid(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem::new(Reason::InvalidSpec, field, message));
    }

    fn manifest(&mut self, field: &str, message: impl Into<String>) {
        self.problems.push(Problem::new(Reason::InvalidManifest, field, message));
    }

    /// Lengths count characters, as the API server's `maxLength` does.
    /// Returns whether the length is within bounds.
    pub(crate) fn length(&mut self, field: &str, value: &str, min: usize, max: usize) -> bool {
        let n = value.chars().count();
        if n < min {
            if n == 0 {
                self.invalid(field, "must not be empty");
            } else {
                self.invalid(field, format!("must be at least {min} characters long, not {n}"));
            }
            false
        } else if n > max {
            self.invalid(field, format!("must be at most {max} characters long, not {n}"));
            false
        } else {
            true
        }
    }

    pub(crate) fn max_items(&mut self, field: &str, len: usize, max: usize) {
        if len > max {
            self.invalid(field, format!("must have at most {max} entries, not {len}"));
        }
    }

    /// Reports every entry that repeats an earlier one, at the repeat's index.
    pub(crate) fn unique<T: PartialEq + fmt::Display>(&mut self, field: &str, items: &[T]) {
        for (j, item) in items.iter().enumerate() {
            if let Some(i) = items[..j].iter().position(|x| x == item) {
                self.invalid(format!("{field}[{j}]"), format!("is listed twice (first at {field}[{i}])"));
            }
        }
    }

    pub(crate) fn optional_text(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            self.length(field, v, 0, max);
        }
    }

    pub(crate) fn scope_token(&mut self, field: &str, value: &str) {
        if self.length(field, value, 1, limits::SCOPE) && !is_scope_token(value) {
            self.invalid(
                field,
                "is not a scope token: use printable ASCII without spaces, '\"' or '\\' (RFC 6749 §3.3)",
            );
        }
    }

    pub(crate) fn scope_list(&mut self, field: &str, scopes: &[String], max: usize) {
        self.max_items(field, scopes.len(), max);
        for (j, s) in scopes.iter().enumerate() {
            self.scope_token(&format!("{field}[{j}]"), s);
        }
        self.unique(field, scopes);
    }

    pub(crate) fn object_name(&mut self, field: &str, value: &str) {
        if self.length(field, value, 1, limits::NAME) && !is_dns_subdomain(value) {
            self.invalid(field, format!("is not a valid name: {DNS_SUBDOMAIN_RULE}"));
        }
    }

    pub(crate) fn namespace(&mut self, field: &str, value: &str) {
        if self.length(field, value, 1, limits::NAMESPACE) && !is_dns_label(value) {
            self.invalid(field, format!("is not a valid namespace: {DNS_LABEL_RULE}"));
        }
    }

    /// `name` plus optional `namespace` (defaulting to `own`), as an ObjectKey.
    pub(crate) fn object_ref(&mut self, field: &str, name: &str, namespace: Option<&str>, own: &str) -> ObjectKey {
        self.object_name(&format!("{field}.name"), name);
        if let Some(ns) = namespace {
            self.namespace(&format!("{field}.namespace"), ns);
        }
        ObjectKey::new(namespace.unwrap_or(own), name)
    }

    pub(crate) fn tags(&mut self, field: &str, tags: &[String]) {
        self.max_items(field, tags.len(), limits::TAGS);
        for (j, t) in tags.iter().enumerate() {
            let f = format!("{field}[{j}]");
            if self.length(&f, t, 1, limits::TAG) && !is_tag(t) {
                self.invalid(f, "is not a valid tag: use letters, digits, '.', '_' and '-'".to_owned());
            }
        }
        self.unique(field, tags);
    }

    pub(crate) fn tenants(&mut self, field: &str, tenants: &[String]) {
        use keyward_core::syntax::is_tenant;
        self.max_items(field, tenants.len(), limits::TENANTS);
        for (j, t) in tenants.iter().enumerate() {
            let f = format!("{field}[{j}]");
            if self.length(&f, t, 1, limits::TENANT) && !is_tenant(t) {
                self.invalid(f, "is not a valid tenant: use letters, digits, '.', '_', '-' and ':'".to_owned());
            }
        }
        self.unique(field, tenants);
    }

    /// A duration field with its allowed range; `None` when absent or invalid.
    pub(crate) fn duration(
        &mut self,
        field: &str,
        value: Option<&str>,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        let value = value?;
        if value.len() > limits::DURATION {
            self.invalid(field, format!("must be at most {} characters long", limits::DURATION));
            return None;
        }
        match parse_go_duration(value) {
            Err(e) => {
                self.invalid(field, format!("is not a duration: {e}"));
                None
            }
            Ok(d) if d < min || d > max => {
                self.invalid(
                    field,
                    format!(
                        "is out of range: must be between {} and {}",
                        format_go_duration(min),
                        format_go_duration(max)
                    ),
                );
                None
            }
            Ok(d) => Some(d),
        }
    }

    /// Selector labels that no Kubernetes object could carry would silently
    /// select nothing, so they are errors rather than non-matches.
    pub(crate) fn match_labels(&mut self, field: &str, labels: &BTreeMap<String, String>) {
        if labels.len() > limits::MATCH_LABELS {
            self.invalid(field, format!("must have at most {} entries, not {}", limits::MATCH_LABELS, labels.len()));
        }
        for (k, v) in labels {
            // A key is shown in the path only once it is known to be a label key.
            if !is_label_key(k) {
                self.invalid(
                    field,
                    "a key is not a valid label key: an optional DNS subdomain prefix and '/', then 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                );
            } else if !is_label_value(v) {
                self.invalid(
                    format!("{field}[{k}]"),
                    "is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
                );
            }
        }
    }

    /// What compile needs from `metadata`. A folder loader defaults the
    /// namespace before converting, so a missing one is a manifest problem.
    pub(crate) fn meta(&mut self, m: &ObjectMeta) -> Meta {
        let name = m.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            self.manifest("metadata.name", "is required");
        } else if name.chars().count() > limits::NAME || !is_dns_subdomain(name) {
            self.manifest(
                "metadata.name",
                format!("is not a valid name: at most {} characters; {DNS_SUBDOMAIN_RULE}", limits::NAME),
            );
        }
        let namespace = m.namespace.as_deref().unwrap_or_default();
        if namespace.is_empty() {
            self.manifest("metadata.namespace", "is required: every Keyward object is namespaced");
        } else if namespace.len() > limits::NAMESPACE || !is_dns_label(namespace) {
            self.manifest(
                "metadata.namespace",
                format!("is not a valid namespace: at most {} characters; {DNS_LABEL_RULE}", limits::NAMESPACE),
            );
        }
        Meta {
            key: ObjectKey::new(namespace, name),
            generation: m.generation,
            labels: m.labels.clone().unwrap_or_default(),
            created: m.creation_timestamp.as_ref().and_then(|t| u64::try_from(t.0.as_second()).ok()).map(UnixTime),
            uid: m.uid.clone(),
        }
    }
}

const DNS_SUBDOMAIN_RULE: &str = "use lower-case letters, digits, '-' and '.', with each dot-separated part starting and ending with a letter or digit";
const DNS_LABEL_RULE: &str = "use lower-case letters, digits and '-', starting and ending with a letter or digit";

// The twins of `v1alpha1::common::patterns`. Lengths are checked separately,
// as the schema does with maxLength.

fn is_alnum_lower(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

/// DNS-1123 label without its length limit.
pub(crate) fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(&first), Some(&last)) => {
            is_alnum_lower(first) && is_alnum_lower(last) && b.iter().all(|&c| is_alnum_lower(c) || c == b'-')
        }
        _ => false,
    }
}

/// DNS-1123 subdomain without its length limit.
pub(crate) fn is_dns_subdomain(s: &str) -> bool {
    s.split('.').all(is_dns_label)
}

pub(crate) fn is_tag(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

pub(crate) fn is_client_id(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

/// What the schema admits as `spec.clientId`: a client id, or an https URL
/// (a metadata document's client; the conversion decides which may be one).
#[cfg(test)]
pub(crate) fn is_client_id_syntax(s: &str) -> bool {
    is_client_id(s)
        || s.strip_prefix("https://").is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_graphic()))
}

pub(crate) fn is_role(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

/// `https://`, a non-empty authority without userinfo, then anything printable.
pub(crate) fn is_https_url(s: &str) -> bool {
    keyward_core::syntax::is_https_url(s)
}

/// `http://` to the local machine, with an optional port.
pub(crate) fn is_loopback_http_url(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("http://") else { return false };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = ["localhost", "127.0.0.1", "[::1]"].into_iter().find(|h| authority.starts_with(h));
    let Some(host) = host else { return false };
    let port = &authority[host.len()..];
    let port_ok = port.is_empty()
        || port.strip_prefix(':').is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && tail.bytes().all(|b| b.is_ascii_graphic())
}

/// `name` or `namespace/name` → (namespace, name).
pub(crate) fn split_qualified_name(s: &str) -> (Option<&str>, &str) {
    match s.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, s),
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            b.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => prefix.len() <= limits::NAME && is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(s),
    }
}

fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_label_name(s)
}

#[cfg(test)]
mod tests;
