//! `Resource`: an OAuth protected resource (an API or an MCP server) and its
//! scope catalog. Owns the wire shape, the `kubectl explain` text and the
//! schema/CEL rules of the kind; the conversion into
//! `keyward_core::model::Resource` is `crate::convert::resource`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{ObjectRef, limits, patterns};

/// A protected resource: an API or an MCP server that accepts the hub's access
/// tokens. Its `identifier` is the tokens' audience (`aud`, RFC 8707) and its
/// `scopes` are everything a token for it can carry.
// Every printer column repeats `type_ = "string"`, which clippy mistakes for a
// duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "keyward.dev",
    version = "v1alpha1",
    kind = "Resource",
    plural = "resources",
    shortname = "kres",
    category = "keyward",
    namespaced,
    status = "ResourceStatus",
    derive = "PartialEq",
    doc = "A protected resource (an API or an MCP server) that accepts the hub's access tokens.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Identifier", type_ = "string", json_path = ".spec.identifier"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new(mcp_identifier_rule())
    .message("an mcpServer identifier must be an https URL (http only for localhost, 127.0.0.1 or [::1]), usually ending in /mcp")
    .field_path(".identifier"))]
#[x_kube(validation = Rule::new("self.type == 'api' || !has(self.scopes) || self.scopes.all(s, !has(s.roles) || size(s.roles) == 0)")
    .message("roles can only be set on scopes of a Resource of type api")
    .field_path(".scopes")
    .reason(Reason::FieldValueForbidden))]
#[x_kube(validation = Rule::new("self.type == 'mcpServer' || !has(self.scopes) || self.scopes.all(s, !has(s.connectionScopes) || size(s.connectionScopes) == 0)")
    .message("connectionScopes can only be set on scopes of a Resource of type mcpServer")
    .field_path(".scopes")
    .reason(Reason::FieldValueForbidden))]
#[x_kube(validation = Rule::new("self.type == 'mcpServer' || !has(self.scopes) || self.scopes.all(s, !has(s.tools) || size(s.tools) == 0)")
    .message("tools can only be set on scopes of a Resource of type mcpServer")
    .field_path(".scopes")
    .reason(Reason::FieldValueForbidden))]
// Whether each connection scope exists in the catalog is left to the
// conversion: as a CEL rule it is cubic in the list sizes and its estimated
// cost exceeds what the API server accepts for a rule.
#[x_kube(validation = Rule::new("!has(self.scopes) || self.scopes.all(s, !has(s.connectionScopes) || !(s.name in s.connectionScopes))")
    .message("a scope cannot list itself in connectionScopes; name other scopes of this Resource")
    .field_path(".scopes"))]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    /// What kind of resource server this is: `api` (an HTTP API; scopes can
    /// map to user roles) or `mcpServer` (a Model Context Protocol server;
    /// MCP clients discover the hub through its protected-resource metadata).
    #[serde(rename = "type")]
    pub resource_type: ResourceType,

    /// The audience of tokens for this resource (the `resource` parameter of
    /// RFC 8707 and the token's `aud`): an absolute URI without a fragment, at
    /// most 2048 characters. For `mcpServer` the server's https URL, usually
    /// ending in `/mcp` (http only for `localhost`, `127.0.0.1` or `[::1]`).
    /// Cannot be changed: every issued token names it.
    #[schemars(length(min = 1, max = limits::URI), regex(pattern = patterns::ABSOLUTE_URI))]
    #[x_kube(validation = Rule::new("self == oldSelf")
        .message("identifier cannot be changed: every token issued for this Resource names it as its audience; create a new Resource for the new identifier")
        .reason(Reason::FieldValueForbidden))]
    pub identifier: String,

    /// Human-readable name shown on consent screens, 1 to 200 characters.
    #[schemars(length(min = 1, max = limits::DISPLAY_NAME))]
    pub display_name: String,

    /// What this resource is and who owns it, up to 2000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = limits::DESCRIPTION))]
    pub description: Option<String>,

    /// The scope catalog: every scope a token for this resource may carry.
    /// Names are unique; at most 128.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::SCOPES))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub scopes: Vec<ScopeSpec>,

    /// Lifetime of access tokens for this resource, from 1m to 24h, written
    /// as whole hours, minutes and seconds (`15m`, `1h30m`). Unset: the
    /// hub-wide default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = limits::DURATION), regex(pattern = patterns::DURATION))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m') && duration(self) <= duration('24h')")
        .message("accessTokenLifetime must be between 1m and 24h"))]
    pub access_token_lifetime: Option<String>,

    /// Who may call the hub's token introspection endpoint (RFC 7662) for
    /// tokens of this resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<IntrospectionSpec>,
    /// Which clients may ask for this resource without a manifest of their
    /// own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_registration: Option<ClientRegistrationSpec>,
}

/// Clients that registered themselves.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientRegistrationSpec {
    /// Clients registered by Dynamic Client Registration (RFC 7591, the
    /// hub's `registration_endpoint`) may ask users for tokens for this
    /// resource, with any scope of its catalog; AccessPolicies still decide
    /// what a token gets. Default: true for `mcpServer` (MCP clients register
    /// themselves), false for `api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic: Option<bool>,

    /// Clients known by a Client ID Metadata Document (a `client_id` that is
    /// the https URL of the client's published metadata, the MCP default)
    /// may ask users for tokens for this resource, as dynamic ones do.
    /// Default: true for `mcpServer`, false for `api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_documents: Option<bool>,
}

/// MCP clients only talk to authorization-protected servers over TLS, except on
/// the developer's own machine. Built from the same patterns the conversion's
/// twin checks mirror.
fn mcp_identifier_rule() -> String {
    format!(
        "self.type != 'mcpServer' || self.identifier.matches(r'{}') || self.identifier.matches(r'{}')",
        patterns::HTTPS_URL,
        patterns::LOOPBACK_HTTP_URL
    )
}

/// The kind of resource server.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ResourceType {
    Api,
    McpServer,
}

/// One scope of the catalog.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSpec {
    /// The scope as it appears in `scope` parameters and token claims: 1 to 128
    /// printable ASCII characters without space, `"` or `\` (RFC 6749 §3.3).
    #[schemars(length(min = 1, max = limits::SCOPE), regex(pattern = patterns::SCOPE_TOKEN))]
    pub name: String,

    /// What the scope allows, shown on consent screens; up to 2000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = limits::DESCRIPTION))]
    pub description: Option<String>,

    /// Only for type `api`: the user roles that may hold this scope in tokens
    /// issued for a user. Each 1 to 253 printable ASCII characters without
    /// spaces; no duplicates; at most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::ROLES), inner(length(min = 1, max = limits::ROLE), regex(pattern = patterns::ROLE)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub roles: Vec<String>,

    /// Only for type `mcpServer`: other scopes of this resource that are also
    /// requested when a client connects with this one. Each must name another
    /// scope in this catalog; no duplicates; at most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::CONNECTION_SCOPES), inner(length(min = 1, max = limits::SCOPE), regex(pattern = patterns::SCOPE_TOKEN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub connection_scopes: Vec<String>,
    /// Only for type `mcpServer`: the MCP tools whose calls need this scope.
    /// `keyward gateway` answers a `tools/call` of one of them without this
    /// scope with 403 `insufficient_scope` naming it, so the client steps up.
    /// A tool listed under several scopes needs any one of them. Each 1 to
    /// 128 printable ASCII characters; no duplicates; at most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::TOOLS), inner(length(min = 1, max = limits::TOOL)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub tools: Vec<String>,
}

/// Token introspection settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
pub struct IntrospectionSpec {
    /// The OAuthClients (the resource server's own credentials) allowed to
    /// introspect tokens whose audience is this resource. A missing namespace
    /// means this Resource's namespace. No duplicates; at most 16.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::INTROSPECTORS))]
    #[x_kube(validation = Rule::new("self.all(r, self.exists_one(o, o.name == r.name && (has(o.__namespace__) ? o.__namespace__ : '') == (has(r.__namespace__) ? r.__namespace__ : '')))")
        .message("each OAuthClient may be listed only once"))]
    pub clients: Vec<ObjectRef>,
}

/// What the hub observed. Written by the operator; do not set it by hand.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceStatus {
    /// The `metadata.generation` this status describes. Lower than
    /// `metadata.generation` means the hub has not processed the latest change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Current state. `Ready` is `True` once tokens can be issued for this
    /// resource; otherwise its `reason` (InvalidSpec, DuplicateIdentifier, ...)
    /// and `message` name every problem with its field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// Where the hub serves this resource's OAuth protected-resource metadata
    /// (RFC 9728), which clients (MCP clients first) read to find the
    /// authorization server. Set once the Resource is Ready.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "protectedResourceMetadataURL")]
    pub protected_resource_metadata_url: Option<String>,

    /// The `WWW-Authenticate` header value the resource server sends with a
    /// 401 when a request has no valid token: it names the metadata above,
    /// from which MCP clients find the hub.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub www_authenticate: Option<String>,
}
