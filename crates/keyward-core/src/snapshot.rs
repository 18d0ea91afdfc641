//! The immutable, indexed state the server reads: built once by [`crate::compile`],
//! swapped atomically by the edge, never mutated. Lookups on the token path are
//! `&str` hash lookups; per-client allowed scopes and the policies that can apply
//! to each client ↔ resource pair are computed here, not per request.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::model::{
    AuthMethod, ClientCredentialsGrant, Effect, GrantType, ObjectKey, ResourceKind, ScopeDef, SessionLifetimes,
};
use crate::secret::ClientSecrets;

/// Hub-wide settings that every source shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubSettings {
    /// The `iss` of every token, an https URL without query or fragment
    /// (RFC 8414 §2).
    pub issuer: String,
    pub defaults: Lifetimes,
    /// What feeds the hub, and so what it can honour.
    pub runtime: Runtime,
}

/// Where the hub runs. Some fields need a cluster (a TokenReview, the
/// cluster's own service-account issuer) or a writer that only `keyward run`
/// has (declared secret rotation): compile refuses them in a folder rather
/// than accept what it cannot do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Runtime {
    /// `keyward run`: the Kubernetes API behind the hub.
    #[default]
    Cluster,
    /// `keyward serve` (and `check`, `explain` on a folder): no cluster.
    Folder,
}

/// Hub-wide token lifetimes used where neither client nor resource set one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifetimes {
    pub access_token: Duration,
    pub refresh_token: Duration,
    pub session_token: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            access_token: Duration::from_secs(3600),
            refresh_token: Duration::from_secs(30 * 24 * 3600),
            session_token: Duration::from_secs(8 * 3600),
        }
    }
}

impl HubSettings {
    /// `<issuer>/token`, and so on: endpoints hang under the issuer, so an issuer
    /// with a path (a hub behind a shared ingress) works unchanged.
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer.trim_end_matches('/'), path)
    }
}

#[derive(Debug)]
pub struct CompiledResource {
    pub key: ObjectKey,
    pub kind: ResourceKind,
    pub identifier: Box<str>,
    pub display_name: String,
    pub catalog: Vec<ScopeDef>,
    pub access_token_lifetime: Option<Duration>,
    /// Client ids that may introspect tokens for this resource.
    pub introspectors: Vec<Box<str>>,
    pub labels: BTreeMap<String, String>,
}

impl CompiledResource {
    pub fn defines_scope(&self, scope: &str) -> bool {
        self.catalog.iter().any(|s| s.name == scope)
    }
}

/// An AccessPolicy reduced to what is checked per request; resource, namespace
/// and client selectors were resolved at compile time. Grant type, tenant,
/// subject and condition are checked per request (`policy.rs`).
#[derive(Debug)]
pub struct CompiledPolicy {
    pub key: ObjectKey,
    pub effect: Effect,
    pub scopes: Vec<Box<str>>,
    pub grant_types: Vec<GrantType>,
    pub tenants: Vec<Box<str>>,
    /// Empty: any subject, and requests without one.
    pub subjects: crate::model::SubjectSelector,
    pub condition: Option<PolicyCondition>,
}

/// `spec.condition`, compiled once for the snapshot.
#[derive(Debug, Clone)]
pub struct PolicyCondition {
    /// The program, or why it did not compile: then the policy is not Ready and
    /// acts in its fail-closed form (see `policy.rs`).
    pub program: Result<Arc<crate::condition::Condition>, crate::condition::ConditionError>,
    /// `request.client` and `request.resource` of the association this copy of
    /// the policy belongs to; `None` on the snapshot's own list of policies and
    /// when the program did not compile.
    pub facts: Option<Arc<crate::condition::StaticFacts>>,
}

impl CompiledPolicy {
    /// Whether the policy applies to a request of this grant and tenant. A policy
    /// that lists tenants does not apply to requests without one.
    pub fn applies(&self, grant: GrantType, tenant: Option<&str>) -> bool {
        (self.grant_types.is_empty() || self.grant_types.contains(&grant))
            && (self.tenants.is_empty() || tenant.is_some_and(|t| self.tenants.iter().any(|x| &**x == t)))
    }

    pub fn names(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| &**s == scope)
    }

    /// This policy as one client ↔ resource association sees it: a policy with
    /// a condition gets its own copy carrying the association's
    /// `request.client` and `request.resource`; any other is shared.
    pub fn for_association(
        self: &Arc<Self>,
        client: crate::condition::ClientFacts<'_>,
        resource: &CompiledResource,
    ) -> Arc<CompiledPolicy> {
        let Some(condition) = &self.condition else { return Arc::clone(self) };
        let facts = condition.program.as_ref().ok().map(|program| {
            Arc::new(program.facts(
                client,
                crate::condition::ResourceFacts {
                    identifier: &resource.identifier,
                    name: &resource.key.name,
                    namespace: &resource.key.namespace,
                    labels: &resource.labels,
                },
            ))
        });
        Arc::new(CompiledPolicy {
            key: self.key.clone(),
            effect: self.effect,
            scopes: self.scopes.clone(),
            grant_types: self.grant_types.clone(),
            tenants: self.tenants.clone(),
            subjects: self.subjects.clone(),
            condition: Some(PolicyCondition { program: condition.program.clone(), facts }),
        })
    }
}

/// What one client may get from one resource, with the policies that select both.
#[derive(Debug)]
pub struct Association {
    pub resource: Arc<CompiledResource>,
    /// The most this client may get, in catalog order.
    pub scopes: Vec<Box<str>>,
    pub policies: Vec<Arc<CompiledPolicy>>,
}

#[derive(Debug)]
pub struct CompiledClient {
    pub key: ObjectKey,
    pub client_id: Box<str>,
    /// The object's uid (see `Meta::uid`), carried by every token issued to
    /// it; empty where the source has none (`check`, `explain`).
    pub incarnation: Box<str>,
    pub display_name: String,
    pub auth_method: AuthMethod,
    pub credential: Credential,
    pub authorization_code: Option<crate::model::AuthorizationCodeGrant>,
    /// The provider this client's users log in with (its own or the hub's
    /// default); set whenever `authorization_code` is.
    pub identity_provider: Option<Arc<crate::identity::CompiledIdentityProvider>>,
    pub description: Option<String>,
    pub logo_uri: Option<String>,
    pub client_credentials: Option<ClientCredentialsGrant>,
    pub jwt_bearer: Option<crate::model::JwtBearerGrant>,
    pub token_exchange: Option<crate::model::TokenExchangeGrant>,
    pub associations: Vec<Association>,
    pub session: SessionLifetimes,
    pub tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// When the object was made, when its source says.
    pub created: Option<crate::time::UnixTime>,
}

/// What a client authenticates with: digests of its secrets, or its public
/// keys (`private_key_jwt`).
#[derive(Debug)]
pub enum Credential {
    Secrets(ClientSecrets),
    Keys(crate::model::ClientKeys),
    /// `federated_jwt`: the issuers (with their subjects) whose JWTs
    /// authenticate the client.
    Federated(Vec<crate::model::TrustedIssuer>),
    /// A public client (`none`): nothing to prove.
    Public,
}

impl CompiledClient {
    pub fn origin(&self) -> crate::model::Origin {
        crate::model::Origin::of(&self.labels)
    }

    pub fn association(&self, identifier: &str) -> Option<&Association> {
        self.associations.iter().find(|a| crate::syntax::same_identifier(&a.resource.identifier, identifier))
    }
}

#[derive(Debug)]
pub struct HubSnapshot {
    pub settings: HubSettings,
    pub(crate) clients: HashMap<Box<str>, Arc<CompiledClient>>,
    pub(crate) resources: HashMap<Box<str>, Arc<CompiledResource>>,
    pub(crate) policies: Vec<Arc<CompiledPolicy>>,
    pub(crate) identity_providers: HashMap<ObjectKey, Arc<crate::identity::CompiledIdentityProvider>>,
    /// The hub's own `/userinfo` as a Resource without scopes: the audience
    /// of the access token a sign-in-only client (no Resource of its own,
    /// `openid` asked) gets.
    pub userinfo: Arc<CompiledResource>,
}

/// The Resource standing for the hub's `/userinfo`.
pub fn userinfo_resource(settings: &HubSettings) -> Arc<CompiledResource> {
    Arc::new(CompiledResource {
        key: ObjectKey::new("keyward", "userinfo"),
        kind: crate::model::ResourceKind::Api,
        identifier: settings.endpoint("/userinfo").into(),
        display_name: "Your profile".into(),
        catalog: Vec::new(),
        access_token_lifetime: None,
        introspectors: Vec::new(),
        labels: BTreeMap::new(),
    })
}

impl HubSnapshot {
    /// A snapshot with nothing in it: what the server holds before the first load.
    pub fn empty(settings: HubSettings) -> Self {
        HubSnapshot {
            clients: HashMap::new(),
            resources: HashMap::new(),
            policies: Vec::new(),
            identity_providers: HashMap::new(),
            userinfo: userinfo_resource(&settings),
            settings,
        }
    }

    pub fn client(&self, client_id: &str) -> Option<&Arc<CompiledClient>> {
        self.clients.get(client_id)
    }

    /// The client a token of this hub was issued to, if that very client still
    /// exists: one deleted and created again under the same id is another
    /// client, and the tokens of the first stay dead (introspection, exchange,
    /// refresh).
    pub fn issuing_client(&self, client_id: &str, incarnation: &str) -> Option<&Arc<CompiledClient>> {
        self.clients.get(client_id).filter(|c| *c.incarnation == *incarnation)
    }

    pub fn resource(&self, identifier: &str) -> Option<&Arc<CompiledResource>> {
        self.resources.get(&*crate::syntax::identifier_key(identifier))
    }

    pub fn clients(&self) -> impl Iterator<Item = &Arc<CompiledClient>> {
        self.clients.values()
    }

    pub fn resources(&self) -> impl Iterator<Item = &Arc<CompiledResource>> {
        self.resources.values()
    }

    pub fn identity_provider(&self, key: &ObjectKey) -> Option<&Arc<crate::identity::CompiledIdentityProvider>> {
        self.identity_providers.get(key)
    }

    pub fn policy_count(&self) -> usize {
        self.policies.len()
    }

    /// The longest access-token lifetime any client can get: how long a retired
    /// signing key must stay published.
    pub fn longest_access_token_lifetime(&self) -> Duration {
        let mut longest = self.settings.defaults.access_token;
        for c in self.clients.values() {
            for a in &c.associations {
                longest = longest.max(crate::claims::access_token_lifetime(&self.settings, c, &a.resource));
            }
        }
        longest
    }
}
