//! Chainable builders for core tests.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use keyward_core::compile::{CompileInput, Compiled, compile};
use keyward_core::model::*;
use keyward_core::secret::{ClientSecrets, SecretDigest};
use keyward_core::snapshot::{HubSettings, Lifetimes, Runtime};

pub const ISSUER: &str = "https://hub.example";

pub fn meta(ns: &str, name: &str) -> Meta {
    Meta { key: ObjectKey::new(ns, name), ..Meta::default() }
}

pub fn api(ns: &str, name: &str, identifier: &str, scopes: &[&str]) -> Resource {
    Resource {
        meta: meta(ns, name),
        kind: ResourceKind::Api,
        identifier: identifier.into(),
        display_name: name.into(),
        description: None,
        scopes: scopes.iter().map(|s| ScopeDef { name: (*s).into(), ..ScopeDef::default() }).collect(),
        access_token_lifetime: None,
        introspectors: vec![],
        dynamic_clients: false,
        metadata_document_clients: false,
    }
}

pub fn client(ns: &str, name: &str) -> Client {
    Client {
        meta: meta(ns, name),
        display_name: name.into(),
        description: None,
        logo_uri: None,
        tags: vec![],
        client_id: None,
        auth_method: AuthMethod::ClientSecretBasic,
        keys: None,
        federated: vec![],
        secret_name: format!("{name}-credentials"),
        secret_labels: Default::default(),
        secret_annotations: Default::default(),
        secret_provided: false,
        secret_rotation: None,
        grants: Grants { client_credentials: Some(ClientCredentialsGrant::default()), ..Grants::default() },
        resources: vec![],
        session: SessionLifetimes::default(),
        identity_provider: None,
    }
}

pub trait ClientExt {
    fn id(self, id: &str) -> Self;
    fn may(self, ns: &str, resource: &str, scopes: &[&str]) -> Self;
    fn tags(self, tags: &[&str]) -> Self;
    fn tenants(self, tenants: &[&str]) -> Self;
    fn ttl(self, secs: u64) -> Self;
}

impl ClientExt for Client {
    fn id(mut self, id: &str) -> Self {
        self.client_id = Some(id.into());
        self
    }
    fn may(mut self, ns: &str, resource: &str, scopes: &[&str]) -> Self {
        self.resources.push(ResourceGrant {
            resource: ObjectKey::new(ns, resource),
            scopes: scopes.iter().map(|s| (*s).into()).collect(),
        });
        self
    }
    fn tags(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|s| (*s).into()).collect();
        self
    }
    fn tenants(mut self, tenants: &[&str]) -> Self {
        self.grants.client_credentials =
            Some(ClientCredentialsGrant { allowed_tenants: tenants.iter().map(|s| (*s).into()).collect() });
        self
    }
    fn ttl(mut self, secs: u64) -> Self {
        self.session.access_key_session_token = Some(Duration::from_secs(secs));
        self
    }
}

pub fn policy(ns: &str, name: &str, effect: Effect, scopes: &[&str]) -> Policy {
    Policy {
        meta: meta(ns, name),
        effect,
        scopes: scopes.iter().map(|s| (*s).into()).collect(),
        resources: ResourceSelector::default(),
        clients: ClientSelector::default(),
        grant_types: vec![],
        tenants: vec![],
        subjects: SubjectSelector::default(),
        condition: None,
    }
}

pub fn secret(n: u8) -> ClientSecrets {
    ClientSecrets::single(SecretDigest([n; 32]))
}

pub struct World {
    pub clients: Vec<Client>,
    pub resources: Vec<Resource>,
    pub policies: Vec<Policy>,
    pub no_secret_for: Vec<ObjectKey>,
    pub runtime: Runtime,
    pub invalid: HashSet<(Kind, ObjectKey)>,
    pub identity_providers: Vec<IdentityProvider>,
    pub passwords: HashMap<ObjectKey, std::collections::BTreeMap<String, String>>,
}

impl World {
    pub fn new() -> World {
        World {
            clients: vec![],
            resources: vec![],
            policies: vec![],
            no_secret_for: vec![],
            runtime: Runtime::Cluster,
            invalid: HashSet::new(),
            identity_providers: vec![],
            passwords: HashMap::new(),
        }
    }
    /// As `keyward serve` compiles: no cluster behind the hub.
    pub fn in_folder(mut self) -> Self {
        self.runtime = Runtime::Folder;
        self
    }
    /// No client has its Secret yet.
    pub fn without_secrets(mut self) -> Self {
        self.no_secret_for = self.clients.iter().map(|c| c.meta.key.clone()).collect();
        self
    }
    /// An object the source could not convert.
    pub fn invalid(mut self, kind: Kind, ns: &str, name: &str) -> Self {
        self.invalid.insert((kind, ObjectKey::new(ns, name)));
        self
    }
    pub fn resource(mut self, r: Resource) -> Self {
        self.resources.push(r);
        self
    }
    pub fn client(mut self, c: Client) -> Self {
        self.clients.push(c);
        self
    }
    pub fn policy(mut self, p: Policy) -> Self {
        self.policies.push(p);
        self
    }
    pub fn compile(self) -> Compiled {
        let mut secrets = HashMap::new();
        for c in &self.clients {
            let key = ObjectKey::new(c.meta.key.namespace.clone(), c.secret_name.clone());
            if !self.no_secret_for.contains(&c.meta.key) {
                secrets.insert(key, secret(1));
            }
        }
        compile(CompileInput {
            settings: HubSettings { issuer: ISSUER.into(), defaults: Lifetimes::default(), runtime: self.runtime },
            clients: self.clients,
            resources: self.resources,
            policies: self.policies,
            secrets,
            identity_providers: self.identity_providers,
            passwords: self.passwords,
            default_identity_provider: None,
            invalid: self.invalid,
        })
    }
}

/// The world with labels on the client and the resource, for conditions.
pub fn labelled_world(policies: Vec<Policy>) -> Compiled {
    let mut r = api("shop", "orders", "https://api/orders", &["read", "write", "refund", "admin"]);
    r.meta.labels.insert("tier".into(), "prod".into());
    let mut c = client("agents", "bot").tags(&["agent", "finance"]).may("shop", "orders", &["read", "write", "refund"]);
    c.meta.labels.insert("team".into(), "billing".into());
    let mut w = World::new().resource(r).client(c);
    for p in policies {
        w = w.policy(p);
    }
    w.compile()
}
