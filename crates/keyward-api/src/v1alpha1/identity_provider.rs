//! `IdentityProvider`: where the people who log in through the hub come from.
//! Owns the wire shape, the `kubectl explain` text and the schema rules of the
//! kind; the conversion into `keyward_core::model::IdentityProvider` is
//! `crate::convert::identity_provider`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{limits, patterns};

/// Where users come from when an OAuthClient sends them through the hub's
/// `/authorize`: a fixed list of users with password hashes in a Secret
/// (`static`, for demos, `keyward serve` and tests). The hub keeps no user
/// table: a user's `sub` is derived from this provider and the user's name.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "keyward.dev",
    version = "v1alpha1",
    kind = "IdentityProvider",
    plural = "identityproviders",
    shortname = "kidp",
    category = "keyward",
    namespaced,
    status = "IdentityProviderStatus",
    derive = "PartialEq",
    doc = "Where the users who log in through the Keyward hub come from.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[x_kube(validation = Rule::new("self.type != 'static' || has(self.static)")
    .message("a static IdentityProvider needs spec.static")
    .field_path(".static"))]
#[x_kube(validation = Rule::new("self.type != 'oidc' || has(self.oidc)")
    .message("an oidc IdentityProvider needs spec.oidc")
    .field_path(".oidc"))]
#[serde(rename_all = "camelCase")]
pub struct IdentityProviderSpec {
    /// `static`: the users listed in `static.users`, their password hashes in
    /// a Secret. `oidc`: users sign in at an upstream OpenID provider (Dex,
    /// Keycloak, Entra ID, Google, Okta, another Keyward); the hub is its client.
    #[serde(rename = "type")]
    pub provider_type: IdentityProviderType,

    /// The name the login page shows. 1 to 200 characters.
    #[schemars(length(min = 1, max = limits::DISPLAY_NAME))]
    pub display_name: String,

    /// The users of a `static` provider.
    #[serde(default, rename = "static", skip_serializing_if = "Option::is_none")]
    pub static_users: Option<StaticUsersSpec>,

    /// The upstream OpenID provider of an `oidc` provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcSpec>,

    /// Roles given to the members of each group. A user's roles decide which
    /// scopes of `api` Resources the user's tokens may carry, and policies can
    /// select on them. At most 64 entries; each group at most once.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::ROLES))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["group".into()]))]
    pub group_roles: Vec<GroupRolesSpec>,
}

// The kind of provider. `//`: the type's doc would replace the field's.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[non_exhaustive]
pub enum IdentityProviderType {
    /// Users listed in the manifest with password hashes in a Secret.
    #[serde(rename = "static")]
    Static,
    /// Federation to an upstream OpenID provider.
    #[serde(rename = "oidc")]
    Oidc,
}

/// The upstream OpenID provider and the hub's registration there.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OidcSpec {
    /// The upstream issuer, exactly as its discovery document names it
    /// (`<issuer>/.well-known/openid-configuration`). https (http only for a
    /// loopback issuer the hub's fetch policy allows).
    #[schemars(length(min = 1, max = limits::URI))]
    pub issuer: String,

    /// The hub's client id at the upstream provider.
    #[schemars(length(min = 1, max = limits::CLIENT_ID))]
    pub client_id: String,

    /// The Secret (this namespace) holding the hub's client secret at the
    /// upstream, under `key` (default `client_secret`). In a cluster it must
    /// carry the label `keyward.dev/passwords`.
    pub client_secret: SecretKeyRef,

    /// Scopes asked of the upstream. Default: openid profile email.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(min = 1, max = limits::SCOPE)))]
    pub scopes: Vec<String>,

    /// Which ID-token claims make the user. Defaults: `sub`,
    /// `preferred_username` (falling back to `email`, then `sub`), `email`,
    /// `name`, and no groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<ClaimMapSpec>,

    /// PEM CA certificates the upstream's TLS chains to, besides the
    /// system's (a private Keycloak).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub certificate_authority: Option<String>,
}

/// A Secret key in the object's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct SecretKeyRef {
    #[schemars(length(min = 1, max = limits::NAME), regex(pattern = patterns::DNS_SUBDOMAIN))]
    pub name: String,
    /// Default: `client_secret`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// ID-token claim names.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct ClaimMapSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A claim holding a list of group names (or one string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<String>,
}

/// Users of a `static` provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaticUsersSpec {
    /// The Secret (in this namespace) that holds one key per user: the
    /// username, whose value is the password's hash in PHC form — argon2id
    /// (`$argon2id$...`) or bcrypt (`$2b$...`). Never a password.
    #[schemars(length(min = 1, max = limits::NAME), regex(pattern = patterns::DNS_SUBDOMAIN))]
    pub password_secret: String,

    /// The users. 1 to 1000; each username once.
    #[schemars(length(min = 1, max = limits::STATIC_USERS))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["username".into()]))]
    pub users: Vec<StaticUserSpec>,
}

/// One user of a `static` provider.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StaticUserSpec {
    /// What the user types on the login page, and the key of the password
    /// Secret: 1 to 253 of letters, digits, `.`, `_` and `-`.
    #[schemars(length(min = 1, max = limits::USERNAME), regex(pattern = patterns::USERNAME))]
    pub username: String,

    /// The user's name as pages and the ID token's `name` show it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = limits::DISPLAY_NAME))]
    pub display_name: Option<String>,

    /// The user's email address (the ID token's `email` with the `email` scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = limits::EMAIL))]
    pub email: Option<String>,

    /// Groups the user belongs to; `groupRoles` turns them into roles. At most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::ROLES), inner(length(min = 1, max = limits::ROLE), regex(pattern = patterns::ROLE)))]
    pub groups: Vec<String>,
}

/// The roles of one group's members.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct GroupRolesSpec {
    /// The group, as the provider names it.
    #[schemars(length(min = 1, max = limits::ROLE), regex(pattern = patterns::ROLE))]
    pub group: String,
    /// Roles its members hold. 1 to 64.
    #[schemars(length(min = 1, max = limits::ROLES), inner(length(min = 1, max = limits::ROLE), regex(pattern = patterns::ROLE)))]
    pub roles: Vec<String>,
}

/// What the hub observed. Written by the hub; do not set it by hand.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct IdentityProviderStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// `Ready` is `True` once users can log in through this provider;
    /// otherwise its `reason` and `message` name every problem with its field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,

    /// `oidc`: the redirect URI to register for the hub at the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "callbackURL")]
    pub callback_url: Option<String>,
}
