//! `OAuthClient`: an application that gets tokens from the hub. Owns the wire
//! shape, the `kubectl explain` text and the schema/CEL rules of the kind; the
//! conversion into `keyward_core::model::Client` is `crate::convert::oauth_client`.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{limits, patterns};

/// An OAuth client of the Keyward hub: who it is, how it authenticates, which
/// grants it may use and which Resources (APIs, MCP servers) it may get tokens
/// for. The hub writes the client's credentials into a Secret in the same
/// namespace and reports the client id in status.
// Every printer column repeats `type_ = "string"`, which clippy mistakes for a
// duplicated attribute.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "keyward.dev",
    version = "v1alpha1",
    kind = "OAuthClient",
    plural = "oauthclients",
    shortname = "oac",
    category = "keyward",
    namespaced,
    status = "OAuthClientStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "An OAuth client of the Keyward hub: an application that gets access tokens for Resources.",
    printcolumn(name = "Client ID", type_ = "string", json_path = ".status.clientId"),
    printcolumn(name = "Ready", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].status"#),
    printcolumn(name = "Reason", type_ = "string", json_path = r#".status.conditions[?(@.type=="Ready")].reason"#),
    printcolumn(name = "Origin", type_ = "string", json_path = r#".metadata.labels.keyward\.dev/origin"#),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
// A transition rule on the spec rather than on the field: a field-level rule
// never sees the field being removed, and removing clientId changes the id too.
#[x_kube(validation = Rule::new("!has(oldSelf.clientId) || (has(self.clientId) && self.clientId == oldSelf.clientId)")
    .message("clientId cannot be changed or removed once set: issued tokens, the credentials Secret and every application configured with it refer to it; create a new OAuthClient for a new client id")
    .field_path(".clientId")
    .reason(Reason::FieldValueForbidden))]
#[x_kube(validation = Rule::new("!has(self.jwks) || !has(self.jwksUri)")
    .message("set jwks or jwksUri, not both")
    .field_path(".jwksUri"))]
#[x_kube(validation = Rule::new("(has(self.tokenEndpointAuthMethod) && self.tokenEndpointAuthMethod == 'private_key_jwt') == (has(self.jwks) || has(self.jwksUri))")
    .message("private_key_jwt needs the client's public keys in jwks or jwksUri, and only private_key_jwt uses them")
    .field_path(".tokenEndpointAuthMethod"))]
#[x_kube(validation = Rule::new("!(has(self.tokenEndpointAuthMethod) && self.tokenEndpointAuthMethod == 'private_key_jwt' && has(self.secret))")
    .message("a private_key_jwt client has no secret: remove spec.secret")
    .field_path(".secret"))]
#[x_kube(validation = Rule::new("(has(self.tokenEndpointAuthMethod) && self.tokenEndpointAuthMethod == 'federated_jwt') == has(self.federatedCredentials)")
    .message("federated_jwt needs federatedCredentials, and only federated_jwt uses them")
    .field_path(".tokenEndpointAuthMethod"))]
#[x_kube(validation = Rule::new("!(has(self.tokenEndpointAuthMethod) && self.tokenEndpointAuthMethod == 'federated_jwt' && has(self.secret))")
    .message("a federated_jwt client has no secret: remove spec.secret")
    .field_path(".secret"))]
#[x_kube(validation = Rule::new("!(has(self.tokenEndpointAuthMethod) && self.tokenEndpointAuthMethod == 'none' && has(self.secret))")
    .message("a public client (none) has no secret: remove spec.secret")
    .field_path(".secret"))]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientSpec {
    /// Human-readable name shown on consent screens and in audit output,
    /// 1 to 200 characters.
    #[schemars(length(min = 1, max = limits::DISPLAY_NAME))]
    pub display_name: String,

    /// What this client is and who owns it, up to 2000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = limits::DESCRIPTION))]
    pub description: Option<String>,

    /// An https URL of the client's logo, shown on consent screens. At most 2048
    /// characters; no user information (`user@`) in the host part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = limits::URI), regex(pattern = patterns::HTTPS_URL))]
    pub logo_uri: Option<String>,

    /// Free-form tags, for AccessPolicy client selectors (`spec.clients.tags`).
    /// Each 1 to 63 characters of letters, digits, `.`, `_` and `-`; no
    /// duplicates; at most 32.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::TAGS), inner(length(min = 1, max = limits::TAG), regex(pattern = patterns::TAG)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub tags: Vec<String>,

    /// The OAuth `client_id`. When unset the hub uses `<name>.<namespace>`,
    /// which stays the same if the object is deleted and re-applied. 1 to 255
    /// printable ASCII characters without spaces and without `:` (HTTP Basic
    /// authentication splits on the first colon). Cannot be changed or removed
    /// once set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::CLIENT_ID), regex(pattern = patterns::CLIENT_ID))]
    pub client_id: Option<String>,

    /// How the client authenticates at the token, introspection and revocation
    /// endpoints: `client_secret_basic` (HTTP Basic, the default),
    /// `client_secret_post` (`client_id` and `client_secret` in the form body),
    /// `private_key_jwt` (a JWT signed with the client's own private key,
    /// RFC 7523 §2.2; its public keys go in `jwks` or `jwksUri` and the hub
    /// holds no secret for it), or `federated_jwt` (a JWT a trusted issuer
    /// minted for the workload, such as its projected service-account token,
    /// sent the same way with `client_id`; see `federatedCredentials`; no
    /// secret either).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<TokenEndpointAuthMethod>,

    /// The client's public signing keys, for `private_key_jwt`: a JWK Set
    /// (RFC 7517) written into the manifest. Public members only; at most 8
    /// keys; each needs a `kid` when there are several. Exclusive with `jwksUri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<JwkSetSpec>,

    /// Where the hub fetches the client's public signing keys, for
    /// `private_key_jwt`: an https URL serving a JWK Set. Fetched through the
    /// hub's guarded outbound client (no private or loopback addresses unless
    /// allowed), cached, refreshed when an unknown `kid` appears. Exclusive with
    /// `jwks`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::URI))]
    pub jwks_uri: Option<String>,

    /// For `federated_jwt`: whose JWTs authenticate this client, the pattern
    /// cloud providers call workload identity federation. Typically the
    /// cluster's service-account issuer (`kubernetes: true`) with the one
    /// service account that runs the workload: the pod presents its projected
    /// token as `client_assertion` (with `client_id`) for every grant and
    /// needs no secret. Same fields as `grantTypes.jwtBearer.trustedIssuers`,
    /// but `subjects` is required: an issuer alone would let any of its
    /// subjects act as this client. 1 to 16 entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    #[x_kube(validation = Rule::new("self.all(c, has(c.subjects) && size(c.subjects) > 0)")
        .message("each federated credential must name the subjects that may authenticate as this client"))]
    pub federated_credentials: Vec<TrustedIssuerSpec>,

    /// The Secret the hub writes the client's credentials to (keys
    /// `client_id`, `client_secret`, `token_endpoint`, `issuer`). Mount it into
    /// the workload that uses this client. Not used with `private_key_jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<ClientSecretSpec>,

    /// The IdentityProvider this client's users log in with (authorization
    /// code grant). Unset: the hub's default provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_provider: Option<super::common::ObjectRef>,

    /// The OAuth grants this client may use. Every grant is off unless its
    /// field is present; an empty object (`clientCredentials: {}`) turns it on
    /// with default settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<GrantTypesSpec>,

    /// The Resources this client may request tokens for, each with the most
    /// scopes it may ever get there. A token request for a Resource not listed
    /// here is refused (`invalid_target`). Each Resource at most once; at most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::CLIENT_RESOURCES))]
    #[x_kube(validation = Rule::new("self.all(r, self.exists_one(o, o.name == r.name && (has(o.__namespace__) ? o.__namespace__ : '') == (has(r.__namespace__) ? r.__namespace__ : '')))")
        .message("each Resource may be listed only once in resources; merge the scopes into one entry"))]
    pub resources: Vec<ClientResource>,

    /// Lifetimes of what the hub issues to this client. Every field left out
    /// uses the hub-wide default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionSpec>,
}

// How a client authenticates at the token endpoint (RFC 6749 §2.3, OpenID
// Connect Core §9). `//`, not `///`: on an optional enum the type's doc would
// replace the field's `kubectl explain` text. `non_exhaustive` because
// `none` is coming: code matching on this must already handle variants it
// does not know.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[non_exhaustive]
pub enum TokenEndpointAuthMethod {
    /// HTTP Basic authentication with the form-encoded id and secret
    /// (RFC 6749 §2.3.1).
    #[default]
    #[serde(rename = "client_secret_basic")]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body (RFC 6749 §2.3.1).
    #[serde(rename = "client_secret_post")]
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2, OpenID
    /// Connect Core §9), verified with `jwks` or `jwksUri`.
    #[serde(rename = "private_key_jwt")]
    PrivateKeyJwt,
    /// A JWT from one of `federatedCredentials` (workload identity
    /// federation), sent as a client assertion with `client_id`.
    #[serde(rename = "federated_jwt")]
    FederatedJwt,
    /// A public client (a native or browser app that cannot keep a secret):
    /// it sends only `client_id`, may use only the authorization code grant
    /// (with PKCE) and refresh, and has no secret.
    #[serde(rename = "none")]
    None,
}

/// A JWK Set of public keys (RFC 7517 §5).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct JwkSetSpec {
    /// The keys, 1 to 8.
    #[schemars(length(min = 1, max = limits::CLIENT_KEYS))]
    pub keys: Vec<JwkSpec>,
}

/// One public key (RFC 7517 §4, RFC 7518 §6): RSA (`n`, `e`), EC P-256 or
/// P-384 (`crv`, `x`, `y`), or Ed25519 (`kty: OKP`, `crv`, `x`). Private
/// members (`d`, `p`, `q`, ...) are refused: the hub never needs them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct JwkSpec {
    /// Key type: `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Key id, matched against the `kid` of the client's JWTs. 1 to 256
    /// printable ASCII characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 256))]
    pub kid: Option<String>,
    /// Intended use; only `sig` is accepted.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
    /// The one algorithm this key signs with (RS256, RS384, RS512, PS256,
    /// PS384, PS512, ES256, ES384, EdDSA). Unset: any the key type allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// RSA modulus, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 2048))]
    pub n: Option<String>,
    /// RSA public exponent, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub e: Option<String>,
    /// Curve: `P-256` or `P-384` for EC, `Ed25519` for OKP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC or OKP public x coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub x: Option<String>,
    /// EC public y coordinate, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub y: Option<String>,
    /// A private RSA, EC or OKP member. Listed so it is refused with a clear
    /// message instead of being dropped unseen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 0))]
    pub d: Option<String>,
}

/// Where the client's credentials are written.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct ClientSecretSpec {
    /// Name of the Secret, in this OAuthClient's namespace. Defaults to
    /// `<metadata.name>-credentials`. A DNS-1123 subdomain of at most 253
    /// characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::NAME), regex(pattern = patterns::DNS_SUBDOMAIN))]
    pub name: Option<String>,

    /// Labels put on a Secret the hub generates (for example to let a tool
    /// replicate it). Keys under `keyward.dev/` are the hub's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = limits::MATCH_LABELS))]
    pub labels: BTreeMap<String, String>,

    /// Annotations put on a Secret the hub generates. Keys under
    /// `keyward.dev/` are the hub's own.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = limits::MATCH_LABELS))]
    pub annotations: BTreeMap<String, String>,

    /// You provide the Secret (by hand, External Secrets, Sealed Secrets…): the
    /// hub never generates a value for it. Until it exists with a
    /// `client_secret` key the client is not Ready (`SecretPending`). Without
    /// this, a missing Secret is generated, and an existing one with a
    /// `client_secret` is adopted as is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provided: bool,

    /// Rotation of a secret the hub generated, driven from Git: set `id` to any
    /// new value and the hub writes a new `client_secret`; the previous one keeps
    /// working for `gracePeriod`, then stops. Ignored for a Secret you provide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<SecretRotationSpec>,
}

/// A requested rotation of the client secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRotationSpec {
    /// Any token (a date, a ticket number): changing it rotates the secret once.
    /// 1 to 63 letters, digits, `.`, `_`, `-`.
    #[schemars(length(min = 1, max = limits::ROTATION_ID), regex(pattern = patterns::ROTATION_ID))]
    pub id: String,

    /// How long the previous secret keeps working after a rotation, from 0s to
    /// 720h. Default 24h: time for every workload to pick up the new Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = limits::DURATION), regex(pattern = patterns::DURATION))]
    #[x_kube(validation = Rule::new("duration(self) <= duration('720h')")
        .message("gracePeriod must be between 0s and 720h"))]
    pub grace_period: Option<String>,
}

/// The grants a client may use; each is enabled by being present.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GrantTypesSpec {
    /// The client credentials grant (RFC 6749 §4.4): the client gets tokens for
    /// itself with its own id and secret, with no user involved. For agents,
    /// CronJobs and controllers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_credentials: Option<ClientCredentialsSpec>,

    /// The JWT bearer grant (RFC 7523 §2.1): a workload presents a JWT from a
    /// trusted issuer — typically its projected Kubernetes service-account
    /// token — and gets an access token for that subject, with no secret of
    /// its own. The client may be named by `client_id` alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt_bearer: Option<JwtBearerSpec>,

    /// The authorization code grant (RFC 6749 §4.1 as OAuth 2.1 profiles it,
    /// PKCE S256 required): the client sends a user to the hub's
    /// `/authorize`, the user logs in and consents, and the client exchanges
    /// the code for tokens — an access token, a refresh token, and an ID token
    /// when it asked for `openid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_code: Option<AuthorizationCodeSpec>,

    /// Token exchange (RFC 8693): the client trades a token (from this hub or
    /// a trusted issuer) for one toward another of its Resources, with scopes
    /// that only narrow; the result names the client in `act`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_exchange: Option<TokenExchangeSpec>,
}

/// Settings of the JWT bearer grant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JwtBearerSpec {
    /// Who may sign the assertions this client presents. At least one; at most 16.
    #[schemars(length(min = 1, max = 16))]
    pub trusted_issuers: Vec<TrustedIssuerSpec>,
}

/// Settings of the authorization code grant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationCodeSpec {
    /// Where the hub may send the user back with the code, compared exactly
    /// (no wildcards, no prefix match). `https` URLs, or for native apps a
    /// loopback `http://127.0.0.1/...` or `http://[::1]/...` (any port is
    /// accepted for those, RFC 8252 §7.3) or the app's own scheme such as
    /// `com.example.app:/callback` (never one a browser handles itself:
    /// `javascript:`, `data:`, `file:`…). No fragment. 1 to 16.
    #[schemars(length(min = 1, max = limits::REDIRECT_URIS), inner(length(min = 1, max = limits::URI)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub redirect_uris: Vec<String>,

    /// Skip the consent page: for first-party apps the organisation trusts.
    /// Only for confidential clients (public clients always ask).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_consent: bool,
}

/// Settings of token exchange (none yet: being present turns it on).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct TokenExchangeSpec {}

/// An issuer whose JWTs this client may present, shaped like the
/// kube-apiserver's structured JWT authenticator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrustedIssuerSpec {
    /// The `iss` of accepted assertions, an https URL. With `kubernetes: true`
    /// it may be left out in a cluster: the hub asks the API server for its
    /// service-account issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,

    /// The cluster's service-account issuer: keys from the API server's
    /// `/openid/v1/jwks` (or `jwksUri`), subjects written
    /// `system:serviceaccount:<namespace>:<name>`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kubernetes: bool,

    /// OpenID discovery document; default `<issuer>/.well-known/openid-configuration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_url: Option<String>,

    /// The issuer's JWK Set; default: the discovery document's `jwks_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,

    /// PEM CA bundle to trust for the issuer's https endpoints, beside the
    /// system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,

    /// Accepted signature algorithms; default `[RS256, ES256]`. Never `none`,
    /// never an HMAC.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub algorithms: Vec<String>,

    /// Accepted `aud` values; default: this hub's issuer URL. A Kubernetes
    /// projected token for the hub names it as its audience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,

    /// Accepted subjects, exact or with `*` wildcards
    /// (`system:serviceaccount:agents:*`). Empty: any subject of this issuer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<String>,

    /// Where the subject is read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_mappings: Option<ClaimMappingsSpec>,

    /// Called with the assertion after validation to load what it lacks; the
    /// member named `loginIdField` must equal the subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_info_endpoint: Option<String>,

    /// The userinfo member that holds the login id; default `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_id_field: Option<String>,

    /// Kubernetes only: validate each token with a TokenReview instead of its
    /// signature alone, which also catches deleted pods and service accounts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub token_review: bool,

    /// The longest assertion lifetime (`exp - iat`) accepted, 1m to 48h;
    /// default 1h, 48h for Kubernetes (projected tokens live up to a day+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_lifetime: Option<String>,

    /// Refuse an assertion whose `jti` was already used. Default true, false
    /// for Kubernetes: a projected token is presented many times by design.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_replay: Option<bool>,
}

/// Which claims mean what.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct ClaimMappingsSpec {
    /// The claim holding the subject; default `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// Settings of the client credentials grant.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClientCredentialsSpec {
    /// Tenants this client may name in the `tenant` token-request parameter;
    /// the tenant lands in the token's `tenant` claim. Empty: any tenant. Each
    /// 1 to 128 letters, digits, `.`, `_`, `-` or `:`; no duplicates; at most 64.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::TENANTS), inner(length(min = 1, max = limits::TENANT), regex(pattern = patterns::TENANT)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub allowed_tenants: Vec<String>,
}

/// One Resource the client may get tokens for.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
pub struct ClientResource {
    /// Name of the Resource.
    #[schemars(length(min = 1, max = limits::NAME), regex(pattern = patterns::DNS_SUBDOMAIN))]
    pub name: String,

    /// Namespace of the Resource. Defaults to this OAuthClient's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = limits::NAMESPACE), regex(pattern = patterns::DNS_LABEL))]
    pub namespace: Option<String>,

    /// The most this client may get from the Resource: each must be a scope the
    /// Resource defines. AccessPolicies can narrow it further. Empty: tokens
    /// for this audience carry no scope. No duplicates; at most 128.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = limits::SCOPES), inner(length(min = 1, max = limits::SCOPE), regex(pattern = patterns::SCOPE_TOKEN)))]
    #[x_kube(merge_strategy = ListMerge::Set)]
    pub scopes: Vec<String>,
}

/// Per-client lifetimes. Each is a duration of whole hours, minutes and
/// seconds in that order, such as `90s`, `30m`, `1h30m` or `720h`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionSpec {
    /// How long a refresh token stays usable, from 1m to 8760h (one year).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = limits::DURATION), regex(pattern = patterns::DURATION))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m') && duration(self) <= duration('8760h')")
        .message("refreshTokenTimeout must be between 1m and 8760h"))]
    pub refresh_token_timeout: Option<String>,

    /// How long a user's session with this client lasts before the user has to
    /// sign in again, from 1m to 720h (30 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = limits::DURATION), regex(pattern = patterns::DURATION))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m') && duration(self) <= duration('720h')")
        .message("sessionTokenTimeout must be between 1m and 720h"))]
    pub session_token_timeout: Option<String>,

    /// Lifetime of the access tokens the client gets for itself (client
    /// credentials), from 1m to 24h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = limits::DURATION), regex(pattern = patterns::DURATION))]
    #[x_kube(validation = Rule::new("duration(self) >= duration('1m') && duration(self) <= duration('24h')")
        .message("accessKeySessionTokenTimeout must be between 1m and 24h"))]
    pub access_key_session_token_timeout: Option<String>,
}

/// What the hub observed. Written by the operator; do not set it by hand.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthClientStatus {
    /// The client id in force: `spec.clientId`, or the one the hub derived.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,

    /// The Secret that holds the client's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretRef>,

    /// How the client came to be: `manual` (written by a person or GitOps),
    /// `dcr` (Dynamic Client Registration, RFC 7591) or `cimd` (a Client ID
    /// Metadata Document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<ClientOrigin>,

    /// The `metadata.generation` this status describes. Lower than
    /// `metadata.generation` means the hub has not processed the latest change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Current state. `Ready` is `True` once the client can get tokens;
    /// otherwise its `reason` (InvalidSpec, ResourceNotFound, ScopeNotInCatalog,
    /// DuplicateClientId, SecretPending, ...) and `message` name every problem
    /// with its field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

/// A Secret in the OAuthClient's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, schemars::JsonSchema)]
pub struct SecretRef {
    /// Name of the Secret.
    pub name: String,
}

// How an OAuthClient came to exist (`//`: see TokenEndpointAuthMethod).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ClientOrigin {
    /// Written by a person or applied from Git.
    Manual,
    /// Registered at the hub's Dynamic Client Registration endpoint (RFC 7591).
    Dcr,
    /// Described by a Client ID Metadata Document the hub fetched.
    Cimd,
}
