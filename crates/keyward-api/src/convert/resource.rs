//! `Resource` → `keyward_core::model::Resource`: the identifier (the audience),
//! the scope catalog with its type-dependent fields, the token lifetime and the
//! introspecting clients. Whether the identifier is unique across Resources is
//! compile's question, not this module's.

use std::time::Duration;

use keyward_core::model::{self, ObjectKey, ResourceKind, ScopeDef};
use keyward_core::scope::is_scope_token;
use keyward_core::syntax::is_absolute_uri_without_fragment;

use super::{Check, Invalid, is_https_url, is_loopback_http_url, is_role};
use crate::v1alpha1::common::limits;
use crate::v1alpha1::{IntrospectionSpec, Resource, ResourceType, ScopeSpec};

/// Range of `spec.accessTokenLifetime`, also in its CEL rule.
pub const ACCESS_TOKEN_LIFETIME_RANGE: (Duration, Duration) = (Duration::from_secs(60), Duration::from_secs(24 * 3600));

impl TryFrom<&Resource> for model::Resource {
    type Error = Invalid;

    fn try_from(obj: &Resource) -> Result<Self, Invalid> {
        let mut c = Check::default();
        let meta = c.meta(&obj.metadata);
        let spec = &obj.spec;
        let kind = match spec.resource_type {
            ResourceType::Api => ResourceKind::Api,
            ResourceType::McpServer => ResourceKind::McpServer,
        };

        identifier(&mut c, kind, &spec.identifier);
        c.length("spec.displayName", &spec.display_name, 1, limits::DISPLAY_NAME);
        c.optional_text("spec.description", spec.description.as_deref(), limits::DESCRIPTION);
        let scopes = catalog(&mut c, kind, &spec.scopes);
        let (min, max) = ACCESS_TOKEN_LIFETIME_RANGE;
        let access_token_lifetime =
            c.duration("spec.accessTokenLifetime", spec.access_token_lifetime.as_deref(), min, max);
        let introspectors = introspectors(&mut c, spec.introspection.as_ref(), &meta.key.namespace);

        c.finish(model::Resource {
            kind,
            identifier: spec.identifier.clone(),
            display_name: spec.display_name.clone(),
            description: spec.description.clone(),
            scopes,
            access_token_lifetime,
            introspectors,
            dynamic_clients: spec
                .client_registration
                .as_ref()
                .and_then(|r| r.dynamic)
                .unwrap_or(kind == ResourceKind::McpServer),
            metadata_document_clients: spec
                .client_registration
                .as_ref()
                .and_then(|r| r.metadata_documents)
                .unwrap_or(kind == ResourceKind::McpServer),
            meta,
        })
    }
}

fn identifier(c: &mut Check, kind: ResourceKind, id: &str) {
    const FIELD: &str = "spec.identifier";
    if !c.length(FIELD, id, 1, limits::URI) {
        return;
    }
    if !is_absolute_uri_without_fragment(id) {
        c.invalid(
            FIELD,
            "is not an absolute URI without a fragment (RFC 8707 §2), such as https://api.example.com".to_owned(),
        );
    } else if kind == ResourceKind::McpServer && !is_https_url(id) && !is_loopback_http_url(id) {
        c.invalid(
            FIELD,
            "is not an https URL: an mcpServer identifier is the server's https URL, usually ending in /mcp (http only for localhost, 127.0.0.1 or [::1])",
        );
    }
}

fn catalog(c: &mut Check, kind: ResourceKind, scopes: &[ScopeSpec]) -> Vec<ScopeDef> {
    c.max_items("spec.scopes", scopes.len(), limits::SCOPES);
    let names: Vec<&str> = scopes.iter().map(|s| s.name.as_str()).collect();
    for (i, s) in scopes.iter().enumerate() {
        let field = format!("spec.scopes[{i}]");
        c.scope_token(&format!("{field}.name"), &s.name);
        if let Some(first) = names[..i].iter().position(|n| *n == s.name) {
            c.invalid(format!("{field}.name"), format!("is defined twice (first at spec.scopes[{first}])"));
        }
        c.optional_text(&format!("{field}.description"), s.description.as_deref(), limits::DESCRIPTION);

        let roles_field = format!("{field}.roles");
        if kind != ResourceKind::Api && !s.roles.is_empty() {
            c.invalid(roles_field, "roles can only be set on scopes of a Resource of type api");
        } else {
            c.max_items(&roles_field, s.roles.len(), limits::ROLES);
            for (j, role) in s.roles.iter().enumerate() {
                let f = format!("{roles_field}[{j}]");
                if c.length(&f, role, 1, limits::ROLE) && !is_role(role) {
                    c.invalid(f, "is not a valid role: use printable ASCII without spaces".to_owned());
                }
            }
            c.unique(&roles_field, &s.roles);
        }

        let tools_field = format!("{field}.tools");
        if kind != ResourceKind::McpServer && !s.tools.is_empty() {
            c.invalid(tools_field, "tools can only be set on scopes of a Resource of type mcpServer");
        } else {
            c.max_items(&tools_field, s.tools.len(), limits::TOOLS);
            for (j, tool) in s.tools.iter().enumerate() {
                let f = format!("{tools_field}[{j}]");
                if c.length(&f, tool, 1, limits::TOOL) && !tool.bytes().all(|b| b.is_ascii_graphic()) {
                    c.invalid(f, "is not a tool name: use printable ASCII without spaces".to_owned());
                }
            }
            c.unique(&tools_field, &s.tools);
        }

        let conn_field = format!("{field}.connectionScopes");
        if kind != ResourceKind::McpServer && !s.connection_scopes.is_empty() {
            c.invalid(conn_field, "connectionScopes can only be set on scopes of a Resource of type mcpServer");
        } else {
            c.scope_list(&conn_field, &s.connection_scopes, limits::CONNECTION_SCOPES);
            for (j, cs) in s.connection_scopes.iter().enumerate() {
                if *cs == s.name {
                    c.invalid(
                        format!("{conn_field}[{j}]"),
                        "is this scope itself; name another scope of this Resource".to_owned(),
                    );
                } else if is_scope_token(cs) && !names.contains(&cs.as_str()) {
                    // A malformed entry is already reported by scope_list.
                    c.invalid(format!("{conn_field}[{j}]"), "is not a scope of this Resource".to_owned());
                }
            }
        }
    }
    scopes
        .iter()
        .map(|s| ScopeDef {
            name: s.name.clone(),
            description: s.description.clone(),
            roles: s.roles.clone(),
            connection_scopes: s.connection_scopes.clone(),
            tools: s.tools.clone(),
        })
        .collect()
}

fn introspectors(c: &mut Check, spec: Option<&IntrospectionSpec>, own_namespace: &str) -> Vec<ObjectKey> {
    let Some(spec) = spec else { return Vec::new() };
    const FIELD: &str = "spec.introspection.clients";
    c.max_items(FIELD, spec.clients.len(), limits::INTROSPECTORS);
    let keys: Vec<ObjectKey> = spec
        .clients
        .iter()
        .enumerate()
        .map(|(i, r)| c.object_ref(&format!("{FIELD}[{i}]"), &r.name, r.namespace.as_deref(), own_namespace))
        .collect();
    // After defaulting the namespace, like the client's resource list.
    c.unique(FIELD, &keys);
    keys
}

#[cfg(test)]
mod tests;
