//! OAuth 2.0 Protected Resource Metadata (RFC 9728) for a Resource, and the
//! `WWW-Authenticate` challenge that points a client at it.
//!
//! The hub serves each Resource's document itself, under its issuer, so an
//! MCP server only has to send the challenge: `resource_metadata` may name
//! any URL (RFC 9728 §5.1), and what a client checks is that the document's
//! `resource` is the server it called (§3.3), which the identifier is by
//! definition. A server that wants clients probing its own well-known path
//! (§3.1) to succeed serves the same JSON there, or runs `keyward gateway`.

use serde::Serialize;

use crate::model::ObjectKey;
use crate::snapshot::{CompiledResource, HubSettings};

/// Under the issuer: `/protected-resources/<namespace>/<name>`. Object names
/// are DNS subdomains or labels, so they need no escaping in a path.
pub fn path(key: &ObjectKey) -> String {
    format!("/protected-resources/{}/{}", key.namespace, key.name)
}

pub fn url(settings: &HubSettings, key: &ObjectKey) -> String {
    settings.endpoint(&path(key))
}

/// What a resource server answers to a request without a usable token
/// (RFC 6750 §3, RFC 9728 §5.1). No `scope`: a client then asks for the
/// Resource's `scopes_supported` and the hub grants what the client's
/// association and the policies allow; a server adds `scope="…"` (and
/// `error="insufficient_scope"` with 403) when an operation needs more.
pub fn challenge(settings: &HubSettings, key: &ObjectKey) -> String {
    format!(r#"Bearer resource_metadata="{}""#, url(settings, key))
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Document<'a> {
    pub resource: &'a str,
    pub authorization_servers: [&'a str; 1],
    pub scopes_supported: Vec<&'a str>,
    /// Tokens go in the `Authorization` header only: a token in a query
    /// string ends up in logs, and MCP forbids it.
    pub bearer_methods_supported: [&'a str; 1],
    pub resource_name: &'a str,
    /// Keyward's own member (RFC 9728 §2 admits more): which scopes each MCP
    /// tool's calls need, for `keyward gateway`.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub keyward_tool_scopes: std::collections::BTreeMap<&'a str, Vec<&'a str>>,
}

/// Each tool declared on the Resource's scopes, with the scopes any one of
/// which its calls need.
pub fn tool_scopes(r: &CompiledResource) -> std::collections::BTreeMap<&str, Vec<&str>> {
    let mut m: std::collections::BTreeMap<&str, Vec<&str>> = std::collections::BTreeMap::new();
    for s in &r.catalog {
        for t in &s.tools {
            m.entry(t.as_str()).or_default().push(s.name.as_str());
        }
    }
    m
}

pub fn document<'a>(settings: &'a HubSettings, r: &'a CompiledResource) -> Document<'a> {
    Document {
        resource: &r.identifier,
        authorization_servers: [&settings.issuer],
        scopes_supported: r.catalog.iter().map(|s| s.name.as_str()).collect(),
        bearer_methods_supported: ["header"],
        resource_name: &r.display_name,
        keyward_tool_scopes: tool_scopes(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResourceKind, ScopeDef};

    fn settings(issuer: &str) -> HubSettings {
        HubSettings { issuer: issuer.into(), defaults: Default::default(), runtime: Default::default() }
    }

    fn resource() -> CompiledResource {
        CompiledResource {
            key: ObjectKey { namespace: "tools".into(), name: "docs".into() },
            kind: ResourceKind::McpServer,
            identifier: "https://mcp.example/docs/mcp".into(),
            display_name: "Docs".into(),
            catalog: vec![
                ScopeDef { name: "tools:read".into(), ..ScopeDef::default() },
                ScopeDef { name: "tools:call".into(), ..ScopeDef::default() },
            ],
            access_token_lifetime: None,
            introspectors: vec![],
            labels: Default::default(),
        }
    }

    #[test]
    fn the_url_hangs_under_the_issuer_with_or_without_a_path() {
        let r = resource();
        assert_eq!(url(&settings("https://hub.example"), &r.key), "https://hub.example/protected-resources/tools/docs");
        assert_eq!(
            url(&settings("https://example.com/keyward/"), &r.key),
            "https://example.com/keyward/protected-resources/tools/docs"
        );
    }

    #[test]
    fn the_challenge_names_the_document() {
        assert_eq!(
            challenge(&settings("https://hub.example"), &resource().key),
            r#"Bearer resource_metadata="https://hub.example/protected-resources/tools/docs""#
        );
    }

    #[test]
    fn the_document_has_every_member_clients_read() {
        let s = settings("https://hub.example");
        let r = resource();
        let json = serde_json::to_value(document(&s, &r)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "resource": "https://mcp.example/docs/mcp",
                "authorization_servers": ["https://hub.example"],
                "scopes_supported": ["tools:read", "tools:call"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Docs",
            })
        );
    }
}
