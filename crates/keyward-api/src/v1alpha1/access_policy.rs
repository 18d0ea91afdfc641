//! `AccessPolicy`: rules the hub applies when it issues a token. Owns the wire
//! shape, the `kubectl explain` text and the schema of the kind; the conversion
//! into `keyward_core::model::Policy` is `crate::convert::access_policy`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{limits, patterns};

/// Allows or denies scopes of the Resources in this policy's namespace, for the
/// token requests it selects.
///
/// How it applies: a policy applies to a token request when every selector it
/// sets matches (its Resource, its client, its grant type, its tenant, its
/// subject) and its condition, if any, is true; a selector left out matches
/// everything, and within one list any entry matches. `deny` policies remove their scopes. `allow` policies work like
/// NetworkPolicies: as soon as any allow policy applies to a request, only
/// scopes that some applying allow policy names can be granted. Deny wins over
/// allow. A policy governs only Resources of its own namespace, so one team
/// cannot narrow or widen another team's APIs.
// Every printer column repeats `type_ = "string"`, which clippy mistakes for a
// duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "keyward.dev",
    version = "v1alpha1",
    kind = "AccessPolicy",
    plural = "accesspolicies",
    shortname = "kap",
    category = "keyward",
    namespaced,
    status = "AccessPolicyStatus",
    derive = "PartialEq",
    doc = "Allows or denies scopes of the Resources in its namespace for the token requests it selects.",
    printcolumn(name = "Effect", type_ = "string", json_path = ".spec.effect"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicySpec {
    /// `allow`: once any allow policy applies to a request, only scopes named
    /// by an applying allow policy can be granted (like a NetworkPolicy).
    /// `deny`: these scopes are never granted to the requests this policy
    /// selects; deny wins over allow.
    pub effect: Effect,

    /// The scopes this policy allows or denies, as the Resources define them.
    /// At least one; no duplicates; at most 128.
    #[schemars(length(min = 1, max = limits::SCOPES), inner(length(min = 1, max = limits::SCOPE), regex(pattern = patterns::SCOPE_TOKEN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub scopes: Vec<String>,

    /// Which Resources of this policy's namespace the policy governs. Left out:
    /// all of them. Resources in other namespaces are never affected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceSelectorSpec>,

    /// Which OAuthClients the policy applies to. Left out: every client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<ClientSelectorSpec>,

    /// The grants the policy applies to, any of `authorizationCode`,
    /// `refreshToken`, `clientCredentials`, `jwtBearer`, `tokenExchange` and
    /// `ciba`. Empty: every grant.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::GRANT_TYPES))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub grant_types: Vec<GrantTypeName>,

    /// The tenants (the `tenant` token-request parameter) the policy applies
    /// to. Empty: any tenant, and requests without one. Each 1 to 128 letters,
    /// digits, `.`, `_`, `-` or `:`; no duplicates; at most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::TENANTS), inner(length(min = 1, max = limits::TENANT), regex(pattern = patterns::TENANT)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub tenants: Vec<String>,

    /// Who the token is for, when it is not the client itself: the subject of
    /// a JWT bearer assertion (`system:serviceaccount:<namespace>:<name>` for a
    /// Kubernetes service account) or of an exchanged token. Every criterion
    /// given must match. Left out: any subject, and requests without one; set,
    /// the policy never applies to a request whose only identity is the client
    /// (client credentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects: Option<SubjectSelectorSpec>,

    /// A CEL expression over the request that must be true for the policy to
    /// apply, e.g. `request.time.getHours() >= 8 && request.time.getHours() <
    /// 18` or `!('finance' in request.roles)`. It sees one variable, `request`,
    /// with `client` (`id`, `name`, `namespace`, `tags`, `labels`), `resource`
    /// (`identifier`, `name`, `namespace`, `labels`), `subject` (`""` without
    /// one), `roles`, `tenant` (`""` without one), `grant` (`clientCredentials`,
    /// `jwtBearer`, `tokenExchange`, ...) and `time` (a timestamp, UTC). Checked
    /// when the hub loads the policy: an error makes the policy not Ready, with
    /// its line and column. Failures never widen access: a deny policy whose
    /// condition fails (or does not compile) denies as if it were true; an
    /// allow policy then restricts and allows nothing. At most 4096 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = CONDITION_MAX), regex(pattern = r"\S"))]
    pub condition: Option<String>,
}

/// The longest `spec.condition`.
pub const CONDITION_MAX: usize = 4096;
/// The longest subject name pattern, as for trusted issuers' subjects.
pub const SUBJECT_MAX: usize = 512;
/// `namespace/name` of a service account, either part `*`.
pub const SERVICE_ACCOUNT_PATTERN: &str =
    r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)/(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)$";

/// Selects the token's subject. Every criterion given must match; within one
/// list any entry matches. Set at least one criterion.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.names) ? size(self.names) : 0) + (has(self.serviceAccounts) ? size(self.serviceAccounts) : 0) + (has(self.roles) ? size(self.roles) : 0) > 0")
    .message("subjects must set names, serviceAccounts or roles; leave subjects out to select every subject"))]
pub struct SubjectSelectorSpec {
    /// Subjects, exactly or with `*` standing for any run of characters:
    /// `alice@example.com`, `*@example.com`, `system:serviceaccount:agents:*`.
    /// At most 64, each 1 to 512 characters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::SELECTOR_ENTRIES), inner(length(min = 1, max = SUBJECT_MAX)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub names: Vec<String>,

    /// Kubernetes service accounts as `namespace/name`, `namespace/*` (any in
    /// the namespace), `*/name` (that name in any namespace) or `*/*`. Matches
    /// a subject `system:serviceaccount:<namespace>:<name>`. At most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::SELECTOR_ENTRIES), inner(length(min = 3, max = limits::QUALIFIED_NAME), regex(pattern = SERVICE_ACCOUNT_PATTERN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub service_accounts: Vec<String>,

    /// The subject must hold at least one of these roles (as its issuer or the
    /// exchanged token says). Printable ASCII without spaces; at most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::ROLES), inner(length(min = 1, max = limits::ROLE), regex(pattern = patterns::ROLE)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub roles: Vec<String>,
}

/// What a policy does with its scopes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Effect {
    Allow,
    Deny,
}

/// A grant type, by the name Keyward's manifests use for it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum GrantTypeName {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    JwtBearer,
    TokenExchange,
    Ciba,
}

/// Selects Resources in the policy's namespace. Every criterion given must
/// match; an empty selector selects every Resource of the namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSelectorSpec {
    /// Resource names (in this policy's namespace); any of them matches.
    /// Empty: any name. At most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::SELECTOR_ENTRIES), inner(length(min = 1, max = limits::NAME), regex(pattern = patterns::DNS_SUBDOMAIN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub names: Vec<String>,

    /// Labels the Resource must carry, all of them, with these exact values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = limits::MATCH_LABELS))]
    pub match_labels: BTreeMap<String, String>,
}

/// Selects OAuthClients, in any namespace. Every criterion given must match;
/// within one list any entry matches; an empty selector selects every client.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientSelectorSpec {
    /// OAuthClients by name: `name` for one in this policy's namespace, or
    /// `namespace/name`. At most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::SELECTOR_ENTRIES), inner(length(min = 1, max = limits::QUALIFIED_NAME), regex(pattern = patterns::QUALIFIED_NAME)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub names: Vec<String>,

    /// Namespaces the OAuthClient must be in, any of them. At most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::SELECTOR_ENTRIES), inner(length(min = 1, max = limits::NAMESPACE), regex(pattern = patterns::DNS_LABEL)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub namespaces: Vec<String>,

    /// The OAuthClient must carry at least one of these `spec.tags`. At most 32.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::TAGS), inner(length(min = 1, max = limits::TAG), regex(pattern = patterns::TAG)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub tags: Vec<String>,

    /// Labels the OAuthClient must carry, all of them, with these exact values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = limits::MATCH_LABELS))]
    pub match_labels: BTreeMap<String, String>,
}

/// What the hub observed. Written by the operator; do not set it by hand.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessPolicyStatus {
    /// The `metadata.generation` this status describes. Lower than
    /// `metadata.generation` means the hub has not processed the latest change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Current state. `Ready` is `True` once the policy is in force; otherwise
    /// its `reason` and `message` name every problem with its field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}
