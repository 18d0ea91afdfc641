//! What the three kinds share: the limits and patterns that both the CRD schema
//! and the conversion enforce (one constant, two enforcers), and the small types
//! that several specs reuse. Holds no validation logic of its own: that lives
//! in `crate::convert`.

use serde::{Deserialize, Serialize};

/// Upper bounds. The schema publishes them (`maxLength`, `maxItems`) so the API
/// server rejects early and CEL rules stay inside the cost budget; the
/// conversion checks the same numbers for `keyward serve`, which has no API
/// server in front of it.
pub mod limits {
    pub const DISPLAY_NAME: usize = 200;
    pub const DESCRIPTION: usize = 2000;
    pub const URI: usize = 2048;
    pub const TAG: usize = 63;
    pub const TAGS: usize = 32;
    pub const CLIENT_ID: usize = 255;
    /// DNS-1123 subdomain, the longest Kubernetes object name.
    pub const NAME: usize = 253;
    /// DNS-1123 label, the longest namespace.
    pub const NAMESPACE: usize = 63;
    pub const TENANT: usize = 128;
    pub const ROTATION_ID: usize = 63;
    pub const TENANTS: usize = 64;
    pub const SCOPE: usize = 128;
    /// Scopes a Resource defines, and scopes one list may name.
    pub const SCOPES: usize = 128;
    pub const ROLE: usize = 253;
    pub const ROLES: usize = 64;
    pub const CONNECTION_SCOPES: usize = 16;
    pub const TOOLS: usize = 64;
    pub const TOOL: usize = 128;
    pub const CLIENT_RESOURCES: usize = 64;
    /// Keys in an OAuthClient's `jwks`.
    pub const CLIENT_KEYS: usize = 8;
    pub const INTROSPECTORS: usize = 16;
    pub const SELECTOR_ENTRIES: usize = 64;
    /// Room for grants added later without a schema change.
    pub const GRANT_TYPES: usize = 16;
    pub const MATCH_LABELS: usize = 32;
    /// `"namespace/name"` in a policy's client selector.
    pub const QUALIFIED_NAME: usize = NAMESPACE + 1 + NAME;
    pub const DURATION: usize = 32;
    pub const STATIC_USERS: usize = 1000;
    pub const USERNAME: usize = 253;
    /// RFC 5321 §4.5.3.1: the longest forward path.
    pub const EMAIL: usize = 254;
    pub const REDIRECT_URIS: usize = 16;
}

/// Regular expressions published as schema `pattern`s (RE2 syntax, anchored).
/// Each has a hand-written twin in `crate::convert` that the tests hold equal.
pub mod patterns {
    /// RFC 6749 §3.3 scope-token: `%x21 / %x23-5B / %x5D-7E`.
    pub const SCOPE_TOKEN: &str = r"^[!#-\[\]-~]+$";
    /// Printable ASCII without `:` (HTTP Basic splits user and password on the
    /// first colon, and many clients do not form-encode the client id), or an
    /// https URL: the id of a client known by its metadata document, which
    /// the conversion accepts only on such a client.
    pub const CLIENT_ID: &str = "^([!-9;-~]+|https://[!-~]+)$";
    pub const TAG: &str = "^[A-Za-z0-9._-]+$";
    /// `spec.secret.rotation.id`: same alphabet as tags.
    pub const ROTATION_ID: &str = "^[A-Za-z0-9._-]+$";
    /// `keyward_core::syntax::is_tenant`.
    pub const TENANT: &str = "^[A-Za-z0-9._:-]+$";
    pub const ROLE: &str = "^[!-~]+$";
    /// A static user's name: also a Secret key, so within Kubernetes' key alphabet.
    pub const USERNAME: &str = "^[A-Za-z0-9._-]+$";
    /// DNS-1123 subdomain: object names (length is `maxLength`).
    pub const DNS_SUBDOMAIN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
    /// DNS-1123 label: namespaces.
    pub const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
    /// `name` or `namespace/name`.
    pub const QUALIFIED_NAME: &str =
        r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
    /// Go duration restricted to whole hours, minutes and seconds in that
    /// order ("90s", "1h30m", "720h"); `minLength: 2` rules out the empty match.
    pub const DURATION: &str = "^([0-9]+h)?([0-9]+m)?([0-9]+s)?$";
    /// RFC 8707 §2 absolute URI without fragment, in printable ASCII
    /// (`keyward_core::syntax::is_absolute_uri_without_fragment`).
    pub const ABSOLUTE_URI: &str = r#"^[A-Za-z][A-Za-z0-9+.-]*:[!-"$-~]+$"#;
    /// `https://` then a non-empty authority without userinfo (printable
    /// ASCII except `/?#@`), then optionally a path or query.
    pub const HTTPS_URL: &str = r#"^https://[!-"$-.0->A-~]+([/?#][!-~]*)?$"#;
    /// Plain http to the local machine only (MCP servers under development).
    pub const LOOPBACK_HTTP_URL: &str = r"^http://(localhost|127\.0\.0\.1|\[::1\])(:[0-9]+)?([/?#][!-~]*)?$";
}

/// A reference to a namespaced object of a kind the field implies.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct ObjectRef {
    /// Name of the object.
    #[schemars(length(min = 1, max = limits::NAME), regex(pattern = patterns::DNS_SUBDOMAIN))]
    pub name: String,

    /// Namespace of the object. Defaults to the namespace of the object that
    /// holds this reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::NAMESPACE), regex(pattern = patterns::DNS_LABEL))]
    pub namespace: Option<String>,
}
