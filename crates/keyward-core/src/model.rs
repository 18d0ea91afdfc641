//! The validated model of Keyward's three resources.
//!
//! Values of these types come out of the one conversion in `keyward-api` (CRD →
//! model), so every field here has already passed its own syntax checks. What is
//! left for [`crate::compile`] is what needs several objects at once: references,
//! uniqueness, secrets. Durations are already parsed; absent optional values mean
//! "use the hub default".

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::time::UnixTime;

/// `namespace/name` of a namespaced object.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        ObjectKey { namespace: namespace.into(), name: name.into() }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The kinds, for reports and explanations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    OAuthClient,
    Resource,
    AccessPolicy,
    IdentityProvider,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::OAuthClient => "OAuthClient",
            Kind::Resource => "Resource",
            Kind::AccessPolicy => "AccessPolicy",
            Kind::IdentityProvider => "IdentityProvider",
        })
    }
}

/// What compile needs from an object's metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub key: ObjectKey,
    pub generation: Option<i64>,
    pub labels: BTreeMap<String, String>,
    /// Creation time, when the source knows it. Used only to decide which of two
    /// conflicting objects keeps a contested name: the older one does.
    pub created: Option<UnixTime>,
    /// This incarnation of the object: the API server's `metadata.uid`, or
    /// what the folder source assigns. An object deleted and created again
    /// under the same name gets a new one, and a client's tokens are bound to
    /// it, so deleting a client is final for everything it was issued.
    pub uid: Option<String>,
}

impl Default for ObjectKey {
    fn default() -> Self {
        ObjectKey::new("default", "")
    }
}

/// How a client proves its identity at the token endpoint (RFC 6749 §2.3,
/// OpenID Connect Core §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// RFC 6749 §2.3.1, HTTP Basic with form-encoded id and secret.
    ClientSecretBasic,
    /// RFC 6749 §2.3.1, `client_id` and `client_secret` in the request body.
    ClientSecretPost,
    /// RFC 7523 §2.2 / OpenID Connect Core §9: a JWT signed with the client's
    /// private key; the hub holds only the public keys.
    PrivateKeyJwt,
    /// RFC 7523 §2.2 transport with a JWT a trusted issuer minted for the
    /// workload (a projected service-account token): workload identity
    /// federation. The client names itself with `client_id`; the JWT's
    /// issuer and subject must match one of its federated credentials.
    FederatedJwt,
    /// A public client: it sends `client_id` and proves nothing; only the
    /// authorization code grant (PKCE binds the code to the app instance that
    /// asked for it) and refresh are open to it.
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::FederatedJwt => "federated_jwt",
            AuthMethod::None => "none",
        }
    }

    /// Whether the client proves itself with a secret the hub keeps in a
    /// Secret (or the folder's credentials file).
    pub fn uses_secret(self) -> bool {
        matches!(self, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)
    }
}

/// Every grant Keyward knows, including the ones later issues implement, so
/// policies can already name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    JwtBearer,
    TokenExchange,
    Ciba,
}

impl GrantType {
    /// The `grant_type` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::JwtBearer => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
            GrantType::Ciba => "urn:openid:params:grant-type:ciba",
        }
    }

    pub const ALL: [GrantType; 6] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
        GrantType::JwtBearer,
        GrantType::TokenExchange,
        GrantType::Ciba,
    ];

    pub fn from_wire(s: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// The manifest spelling (`spec.grantTypes` of an AccessPolicy, a policy
    /// condition's `request.grant`, `keyward explain --grant`).
    pub fn manifest_name(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorizationCode",
            GrantType::RefreshToken => "refreshToken",
            GrantType::ClientCredentials => "clientCredentials",
            GrantType::JwtBearer => "jwtBearer",
            GrantType::TokenExchange => "tokenExchange",
            GrantType::Ciba => "ciba",
        }
    }

    /// Grants whose subject is a person who logged in at the hub.
    pub fn is_for_users(self) -> bool {
        matches!(self, GrantType::AuthorizationCode | GrantType::RefreshToken | GrantType::Ciba)
    }

    pub fn from_manifest_name(s: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.manifest_name() == s)
    }
}

/// An `OAuthClient`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    pub meta: Meta,
    pub display_name: String,
    pub description: Option<String>,
    pub logo_uri: Option<String>,
    pub tags: Vec<String>,
    /// Set by the user; otherwise compile derives one (see [`default_client_id`]).
    pub client_id: Option<String>,
    pub auth_method: AuthMethod,
    /// `private_key_jwt` only: the client's public keys.
    pub keys: Option<ClientKeys>,
    /// `federated_jwt` only: whose JWTs authenticate the client, each with
    /// the subjects that may.
    pub federated: Vec<TrustedIssuer>,
    /// Name of the Secret (same namespace) that holds `client_secret`.
    pub secret_name: String,
    /// Put on a generated Secret.
    pub secret_labels: BTreeMap<String, String>,
    pub secret_annotations: BTreeMap<String, String>,
    /// The user provides the Secret: never generate it.
    pub secret_provided: bool,
    /// Declarative rotation of a generated secret.
    pub secret_rotation: Option<SecretRotation>,
    pub grants: Grants,
    pub resources: Vec<ResourceGrant>,
    pub session: SessionLifetimes,
    /// `spec.identityProvider`; `None`: the hub's default.
    pub identity_provider: Option<ObjectKey>,
}

/// The label that says how an OAuthClient came to be; absent on one a
/// person wrote.
pub const ORIGIN_LABEL: &str = "keyward.dev/origin";
/// [`ORIGIN_LABEL`]'s value on a client made by Dynamic Client Registration.
pub const ORIGIN_DCR: &str = "dcr";
/// [`ORIGIN_LABEL`]'s value on a client known by its Client ID Metadata
/// Document (its `client_id` is the document's URL).
pub const ORIGIN_CIMD: &str = "cimd";

/// How a client came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Written by a person (a manifest, a GitOps repository).
    Manifest,
    /// Registered itself at the registration endpoint (RFC 7591).
    Dynamic,
    /// Came with a Client ID Metadata Document's URL as its `client_id`.
    MetadataDocument,
}

impl Origin {
    pub fn of(labels: &BTreeMap<String, String>) -> Origin {
        match labels.get(ORIGIN_LABEL).map(String::as_str) {
            Some(ORIGIN_DCR) => Origin::Dynamic,
            Some(ORIGIN_CIMD) => Origin::MetadataDocument,
            _ => Origin::Manifest,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Manifest => "manifest",
            Origin::Dynamic => ORIGIN_DCR,
            Origin::MetadataDocument => ORIGIN_CIMD,
        }
    }

    /// Came to the hub by itself, vouched for by nobody.
    pub fn is_self_made(self) -> bool {
        self != Origin::Manifest
    }
}

impl Client {
    pub fn origin(&self) -> Origin {
        Origin::of(&self.meta.labels)
    }

    /// The Secret (same namespace) that holds this client's `client_secret`;
    /// `None` for a `private_key_jwt` or `federated_jwt` client, which holds
    /// no secret. Every source (compile, the folder loader, the controller,
    /// explain) asks here.
    pub fn secret_key(&self) -> Option<ObjectKey> {
        self.auth_method
            .uses_secret()
            .then(|| ObjectKey::new(self.meta.key.namespace.clone(), self.secret_name.clone()))
    }
}

/// Where a `private_key_jwt` client's public keys are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientKeys {
    /// `spec.jwks`: in the manifest.
    Inline(Vec<PublicJwk>),
    /// `spec.jwksUri`: fetched (guarded, cached) by the edge.
    Uri(String),
}

/// A validated public JWK (RFC 7517): members are base64url, checked for
/// shape; whether they form a usable key is decided when it is used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicJwk {
    pub kid: Option<String>,
    /// The one algorithm the key is pinned to, if its JWK says so.
    pub alg: Option<JwsAlgorithm>,
    pub key: PublicKey,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    Rsa { n: String, e: String },
    Ec { curve: EcCurve, x: String, y: String },
    Ed25519 { x: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcCurve {
    P256,
    P384,
}

impl PublicKey {
    /// The algorithms this key type can verify. The family follows from the
    /// key, never from the JWT header alone, so no header can make an RSA key
    /// verify an HMAC or an EC key verify RSA.
    pub fn algorithms(&self) -> &'static [JwsAlgorithm] {
        use JwsAlgorithm as A;
        match self {
            PublicKey::Rsa { .. } => &[A::RS256, A::RS384, A::RS512, A::PS256, A::PS384, A::PS512],
            PublicKey::Ec { curve: EcCurve::P256, .. } => &[A::ES256],
            PublicKey::Ec { curve: EcCurve::P384, .. } => &[A::ES384],
            PublicKey::Ed25519 { .. } => &[A::EdDSA],
        }
    }
}

impl PublicJwk {
    /// Whether a JWT signed with `alg` may be verified by this key.
    pub fn accepts(&self, alg: JwsAlgorithm) -> bool {
        self.alg.is_none_or(|pinned| pinned == alg) && self.key.algorithms().contains(&alg)
    }
}

/// `spec.secret.rotation`: a new `id` asks for a new secret; the previous one
/// keeps working for `grace`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRotation {
    pub id: String,
    pub grace: Duration,
}

/// The grants a client may use. Each is off unless present.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Grants {
    pub authorization_code: Option<AuthorizationCodeGrant>,
    pub client_credentials: Option<ClientCredentialsGrant>,
    pub jwt_bearer: Option<JwtBearerGrant>,
    pub token_exchange: Option<TokenExchangeGrant>,
}

/// RFC 7523 §2.1: assertions from these issuers buy tokens for this client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JwtBearerGrant {
    pub trusted_issuers: Vec<TrustedIssuer>,
}

/// Who signs the assertions a client may present, and what they must say.
/// Shaped like kube-apiserver's structured JWT authenticator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIssuer {
    pub source: IssuerSource,
    /// Accepted `alg`s; never `none` nor an HMAC (a public key is no secret).
    pub algorithms: Vec<JwsAlgorithm>,
    /// Accepted `aud` values; empty means the hub's issuer.
    pub audiences: Vec<String>,
    /// Accepted subjects after mapping: exact, or with `*` wildcards.
    pub subjects: Vec<String>,
    /// The claim that holds the subject (default `sub`).
    pub subject_claim: String,
    /// Called after validation to load what the token lacks.
    pub userinfo: Option<UserInfo>,
    /// Kubernetes only: ask the API server (TokenReview) instead of verifying
    /// the signature alone, so deleted pods and service accounts are caught.
    pub token_review: bool,
    /// The longest `exp - iat` accepted.
    pub max_lifetime: Duration,
    /// Refuse a `jti` seen before within its lifetime (RFC 7523 §3 item 7).
    pub reject_replay: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IssuerSource {
    /// Any OpenID-style issuer: keys from `jwks_uri`, else from discovery.
    Url { issuer: String, discovery_url: Option<String>, jwks_uri: Option<String>, ca_bundle: Option<String> },
    /// The cluster's service-account issuer, found through the API server
    /// (`keyward run`) or named here (`issuer`, for `keyward serve`).
    Kubernetes { issuer: Option<String>, jwks_uri: Option<String>, ca_bundle: Option<String> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

impl JwsAlgorithm {
    pub const ALL: [JwsAlgorithm; 9] = [
        JwsAlgorithm::RS256,
        JwsAlgorithm::RS384,
        JwsAlgorithm::RS512,
        JwsAlgorithm::PS256,
        JwsAlgorithm::PS384,
        JwsAlgorithm::PS512,
        JwsAlgorithm::ES256,
        JwsAlgorithm::ES384,
        JwsAlgorithm::EdDSA,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JwsAlgorithm::RS256 => "RS256",
            JwsAlgorithm::RS384 => "RS384",
            JwsAlgorithm::RS512 => "RS512",
            JwsAlgorithm::PS256 => "PS256",
            JwsAlgorithm::PS384 => "PS384",
            JwsAlgorithm::PS512 => "PS512",
            JwsAlgorithm::ES256 => "ES256",
            JwsAlgorithm::ES384 => "ES384",
            JwsAlgorithm::EdDSA => "EdDSA",
        }
    }

    pub fn parse(s: &str) -> Option<JwsAlgorithm> {
        JwsAlgorithm::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserInfo {
    pub endpoint: String,
    /// The userinfo member that must equal the assertion's subject.
    pub login_id_field: String,
}

/// RFC 8693 token exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TokenExchangeGrant {}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCredentialsGrant {
    /// Tenants the client may ask for with `tenant`; empty means any.
    pub allowed_tenants: Vec<String>,
}

/// The client ↔ resource association: the most this client may ever get from
/// one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceGrant {
    pub resource: ObjectKey,
    pub scopes: Vec<String>,
}

/// Per-client lifetimes; `None` falls back to the hub-wide default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionLifetimes {
    pub refresh_token: Option<Duration>,
    pub session_token: Option<Duration>,
    /// Lifetime of tokens a client gets for itself (client_credentials).
    pub access_key_session_token: Option<Duration>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    Api,
    McpServer,
}

impl ResourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Api => "api",
            ResourceKind::McpServer => "mcpServer",
        }
    }
}

/// A `Resource`: an OAuth protected resource, named by its `identifier` (the
/// token's `aud`, RFC 8707).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub meta: Meta,
    pub kind: ResourceKind,
    pub identifier: String,
    pub display_name: String,
    pub description: Option<String>,
    pub scopes: Vec<ScopeDef>,
    pub access_token_lifetime: Option<Duration>,
    /// OAuthClients (the resource server's own credentials) that may introspect
    /// tokens whose audience is this resource.
    pub introspectors: Vec<ObjectKey>,
    /// Whether clients that registered themselves (RFC 7591) may ask for it.
    pub dynamic_clients: bool,
    /// Whether clients known by a metadata document may ask for it.
    pub metadata_document_clients: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeDef {
    pub name: String,
    pub description: Option<String>,
    /// `api` resources: the roles that may hold this scope (used by user grants).
    pub roles: Vec<String>,
    /// `mcpServer` resources: scopes requested when connecting.
    pub connection_scopes: Vec<String>,
    /// `mcpServer` resources: the tools whose calls need this scope (what
    /// `keyward gateway` enforces).
    pub tools: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
        }
    }
}

/// An `AccessPolicy`. It governs the Resources of its own namespace only, so a
/// team cannot filter another team's resources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub meta: Meta,
    pub effect: Effect,
    pub scopes: Vec<String>,
    pub resources: ResourceSelector,
    pub clients: ClientSelector,
    /// Empty: every grant type.
    pub grant_types: Vec<GrantType>,
    /// Empty: any tenant, and requests without one.
    pub tenants: Vec<String>,
    /// Empty: any subject.
    pub subjects: SubjectSelector,
    /// A CEL expression over the request; the policy applies only when it is
    /// true.
    pub condition: Option<String>,
}

/// Selects the token's subject. Every given criterion must hold; each list
/// matches if any entry does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SubjectSelector {
    /// Subjects, exact or with `*` wildcards.
    pub names: Vec<String>,
    /// Service accounts as `namespace/name`, `namespace/*` or `*/name`.
    pub service_accounts: Vec<String>,
    /// Any of these roles.
    pub roles: Vec<String>,
}

/// Selects Resources in the policy's namespace. Empty selects all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResourceSelector {
    pub names: Vec<String>,
    pub match_labels: BTreeMap<String, String>,
}

/// Selects OAuthClients. Every given criterion must hold; each list matches if
/// any entry does; an empty selector selects every client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientSelector {
    /// Exact objects (a bare name is in the policy's namespace).
    pub names: Vec<ObjectKey>,
    pub namespaces: Vec<String>,
    /// Any of these tags.
    pub tags: Vec<String>,
    pub match_labels: BTreeMap<String, String>,
}

/// `spec.grantTypes.authorizationCode` of an OAuthClient.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthorizationCodeGrant {
    /// Compared exactly, except a loopback `http` URI, whose port may differ
    /// (RFC 8252 §7.3).
    pub redirect_uris: Vec<String>,
    pub skip_consent: bool,
}

/// An `IdentityProvider`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentityProvider {
    pub meta: Meta,
    pub display_name: String,
    pub source: UserSource,
    /// Group → the roles its members hold.
    pub group_roles: BTreeMap<String, Vec<String>>,
}

/// Where a provider's users are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserSource {
    /// Listed in the manifest; password hashes in the Secret `password_secret`
    /// of the provider's namespace.
    Static { password_secret: String, users: Vec<StaticUser> },
    /// An upstream OpenID provider; the hub is its client.
    Oidc(Box<Upstream>),
}

/// `spec.oidc` of an IdentityProvider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub issuer: String,
    pub client_id: String,
    /// Secret name (provider's namespace) and key of the client secret.
    pub client_secret: (String, String),
    pub scopes: Vec<String>,
    pub subject_claim: String,
    /// `None`: `preferred_username`, then `email`, then the subject.
    pub username_claim: Option<String>,
    pub email_claim: String,
    pub name_claim: String,
    pub groups_claim: Option<String>,
    pub certificate_authority: Option<String>,
}

/// A user of a `static` provider.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticUser {
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub groups: Vec<String>,
}

/// The client id given to a client that does not set one: `<name>.<namespace>`.
///
/// Derived rather than random so the id survives deleting and re-applying the
/// manifest (a cluster rebuilt from Git keeps its client ids). Namespaces have no
/// dots, so the last label always names the namespace and two objects never
/// derive the same id.
pub fn default_client_id(key: &ObjectKey) -> String {
    format!("{}.{}", key.name, key.namespace)
}
