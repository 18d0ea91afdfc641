//! `compile`: validated objects + secrets → one [`HubSnapshot`] and a verdict per
//! object.
//!
//! Pure and total: any input yields a snapshot. An object with a problem (a
//! dangling reference, a contested id, a missing secret) is left out on its own,
//! with a reason and a field path; everything else still compiles. Conflicts are
//! settled deterministically: the older object (then the lower namespace/name)
//! keeps the contested name, so a newly applied manifest can never take over a
//! client id or an audience already in use.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use crate::condition::{ClientFacts, Condition};
use crate::model::{
    AuthMethod, Client, ClientSelector, Effect, IdentityProvider, IssuerSource, Kind, Meta, ObjectKey, Origin, Policy,
    Resource, ResourceSelector, default_client_id,
};
use crate::secret::ClientSecrets;
use crate::snapshot::{
    Association, CompiledClient, CompiledPolicy, CompiledResource, Credential, HubSettings, HubSnapshot,
    PolicyCondition, Runtime,
};
use crate::status::{ObjectStatus, Problem, Reason};

/// Everything compile reads. Secrets are keyed by the Secret's namespace/name.
#[derive(Debug)]
pub struct CompileInput {
    pub settings: HubSettings,
    pub clients: Vec<Client>,
    pub resources: Vec<Resource>,
    pub policies: Vec<Policy>,
    pub secrets: HashMap<ObjectKey, ClientSecrets>,
    pub identity_providers: Vec<IdentityProvider>,
    /// Password Secrets of static providers: Secret key → username → hash.
    pub passwords: HashMap<ObjectKey, BTreeMap<String, String>>,
    /// The provider of clients that name none. `None`: the only provider,
    /// when there is exactly one.
    pub default_identity_provider: Option<ObjectKey>,
    /// Objects that exist but did not convert (their verdict is the source's).
    /// A reference to one is told "is not valid", not "does not exist": the
    /// fix is in the named object, not in the reference.
    pub invalid: HashSet<(Kind, ObjectKey)>,
}

#[derive(Debug)]
pub struct Compiled {
    pub snapshot: HubSnapshot,
    /// One entry per input object, sorted by kind then key.
    pub statuses: Vec<ObjectStatus>,
}

impl Compiled {
    pub fn status(&self, kind: Kind, key: &ObjectKey) -> Option<&ObjectStatus> {
        self.statuses.iter().find(|s| s.kind == kind && &s.key == key)
    }
}

fn age_order(a: &Meta, b: &Meta) -> std::cmp::Ordering {
    // Objects with a known creation time are older than ones without (a file
    // loader has none); ties fall back to the key so the order is total.
    let ta = a.created.map_or(u64::MAX, |t| t.0);
    let tb = b.created.map_or(u64::MAX, |t| t.0);
    ta.cmp(&tb).then_with(|| a.key.cmp(&b.key))
}

fn status(kind: Kind, meta: &Meta) -> ObjectStatus {
    ObjectStatus {
        kind,
        key: meta.key.clone(),
        generation: meta.generation,
        problems: Vec::new(),
        warnings: Vec::new(),
        client_id: None,
    }
}

pub fn compile(input: CompileInput) -> Compiled {
    let CompileInput {
        settings,
        mut clients,
        mut resources,
        mut policies,
        secrets,
        mut identity_providers,
        passwords,
        default_identity_provider,
        invalid,
    } = input;
    resources.sort_by(|a, b| age_order(&a.meta, &b.meta));
    clients.sort_by(|a, b| age_order(&a.meta, &b.meta));
    policies.sort_by(|a, b| age_order(&a.meta, &b.meta));
    identity_providers.sort_by(|a, b| age_order(&a.meta, &b.meta));

    let mut provider_statuses = Vec::new();
    let providers = crate::identity::compile_providers(&identity_providers, &passwords, &mut provider_statuses);
    let people = People {
        providers: &providers,
        all: &identity_providers,
        default: default_identity_provider
            .or_else(|| (identity_providers.len() == 1).then(|| identity_providers[0].meta.key.clone())),
        invalid: &invalid,
    };
    let accepted_resources = accept_resources(&resources);
    let accepted_clients = accept_clients(&clients, &accepted_resources, &secrets, &settings, &people);
    let resource_keys = accepted_resources.keys.clone();
    let (compiled_resources, mut statuses) = compile_resources(accepted_resources, &accepted_clients, &invalid);
    let compiled_policies =
        compile_policies(&policies, &compiled_resources, &resource_keys, &accepted_clients, &invalid, &mut statuses);
    let AcceptedClients { pending, statuses: client_statuses, .. } = accepted_clients;
    let userinfo = crate::snapshot::userinfo_resource(&settings);
    let snapshot_clients = link_clients(pending, &compiled_resources, &compiled_policies, &userinfo);
    statuses.extend(client_statuses);
    statuses.extend(provider_statuses);
    statuses.sort_by(|a, b| (a.kind, &a.key).cmp(&(b.kind, &b.key)));

    let snapshot = HubSnapshot {
        userinfo,
        settings,
        clients: snapshot_clients,
        resources: compiled_resources
            .iter()
            .map(|r| (crate::syntax::identifier_key(&r.identifier).into(), Arc::clone(r)))
            .collect(),
        policies: compiled_policies.into_iter().map(|(p, _)| p).collect(),
        identity_providers: providers,
    };
    Compiled { snapshot, statuses }
}

/// Phase 1: Resources with unique names and identifiers.
struct AcceptedResources<'a> {
    accepted: Vec<(&'a Resource, ObjectStatus)>,
    rejected: Vec<ObjectStatus>,
    /// Every name seen, accepted or not.
    keys: HashSet<&'a ObjectKey>,
}

fn accept_resources(resources: &[Resource]) -> AcceptedResources<'_> {
    let mut accepted_resources: Vec<(&Resource, ObjectStatus)> = Vec::with_capacity(resources.len());
    let mut identifier_owner: HashMap<std::borrow::Cow<'_, str>, &ObjectKey> = HashMap::new();
    let mut resource_keys: HashSet<&ObjectKey> = HashSet::new();
    let mut rejected_resources = Vec::new();
    for r in resources {
        let mut st = status(Kind::Resource, &r.meta);
        if !resource_keys.insert(&r.meta.key) {
            st.problems.push(Problem::new(
                Reason::DuplicateName,
                "metadata.name",
                format!("another Resource is named {}", r.meta.key),
            ));
        } else if let Some(owner) = identifier_owner.get(&crate::syntax::identifier_key(&r.identifier)) {
            st.problems.push(Problem::new(
                Reason::DuplicateIdentifier,
                "spec.identifier",
                format!("this identifier is already used by Resource {owner}"),
            ));
        } else {
            identifier_owner.insert(crate::syntax::identifier_key(&r.identifier), &r.meta.key);
        }
        if st.ready() {
            accepted_resources.push((r, st));
        } else {
            rejected_resources.push(st);
        }
    }
    AcceptedResources { accepted: accepted_resources, rejected: rejected_resources, keys: resource_keys }
}

/// A client accepted by phase 2, waiting for its associations.
struct Pending<'a> {
    client: &'a Client,
    client_id: String,
    credential: Credential,
    /// Each associated Resource, with the scopes the client may get there
    /// (`None`: the whole catalog).
    resources: Vec<(usize, Option<&'a [String]>)>,
    identity_provider: Option<Arc<crate::identity::CompiledIdentityProvider>>,
}

/// What phase 2 needs to link clients to their identity providers.
struct People<'a> {
    providers: &'a HashMap<ObjectKey, Arc<crate::identity::CompiledIdentityProvider>>,
    all: &'a [IdentityProvider],
    default: Option<ObjectKey>,
    invalid: &'a HashSet<(Kind, ObjectKey)>,
}

/// Phase 2: everything that decides whether a client is accepted.
struct AcceptedClients<'a> {
    pending: Vec<Pending<'a>>,
    statuses: Vec<ObjectStatus>,
    /// Every name seen, accepted or not.
    keys: HashSet<&'a ObjectKey>,
}

impl AcceptedClients<'_> {
    fn id_by_key(&self) -> HashMap<&ObjectKey, &str> {
        self.pending.iter().map(|p| (&p.client.meta.key, p.client_id.as_str())).collect()
    }
}

fn accept_clients<'a>(
    clients: &'a [Client],
    resources: &AcceptedResources<'_>,
    secrets: &HashMap<ObjectKey, crate::secret::ClientSecrets>,
    settings: &HubSettings,
    people: &People<'_>,
) -> AcceptedClients<'a> {
    let invalid = people.invalid;
    let accepted_resources = &resources.accepted;
    let resource_index: HashMap<&ObjectKey, usize> =
        accepted_resources.iter().enumerate().map(|(i, (r, _))| (&r.meta.key, i)).collect();
    let rejected_resource_keys: HashSet<&ObjectKey> = resources.rejected.iter().map(|s| &s.key).collect();
    let mut pending: Vec<Pending<'_>> = Vec::with_capacity(clients.len());
    let mut id_owner: HashMap<String, ObjectKey> = HashMap::new();
    let mut client_keys: HashSet<&ObjectKey> = HashSet::new();
    let mut client_statuses: Vec<ObjectStatus> = Vec::with_capacity(clients.len());
    for c in clients {
        let mut st = status(Kind::OAuthClient, &c.meta);
        let client_id = c.client_id.clone().unwrap_or_else(|| default_client_id(&c.meta.key));
        st.client_id = Some(client_id.clone());
        if !client_keys.insert(&c.meta.key) {
            st.problems.push(Problem::new(
                Reason::DuplicateName,
                "metadata.name",
                format!("another OAuthClient is named {}", c.meta.key),
            ));
        } else if let Some(owner) = id_owner.get(&client_id) {
            let field = if c.client_id.is_some() { "spec.clientId" } else { "metadata.name" };
            st.problems.push(Problem::new(
                Reason::DuplicateClientId,
                field,
                format!("this client id is already used by OAuthClient {owner}"),
            ));
        }
        if settings.runtime == Runtime::Folder {
            st.problems.extend(unsupported_in_folder(c));
        }
        st.problems.extend(public_client_problems(c));
        let identity_provider = match &c.grants.authorization_code {
            None => None,
            Some(_) => {
                let (field, key) = match &c.identity_provider {
                    Some(k) => ("spec.identityProvider.name", Some(k.clone())),
                    None => ("spec.identityProvider", people.default.clone()),
                };
                match key.as_ref().and_then(|k| people.providers.get(k)) {
                    Some(p) => Some(Arc::clone(p)),
                    None => {
                        let why = match &key {
                            None if people.all.is_empty() => {
                                "no IdentityProvider exists for this client's users to log in with".to_owned()
                            }
                            None => "name the IdentityProvider this client's users log in with: the hub has several and no default".to_owned(),
                            Some(k) => reference(
                                Kind::IdentityProvider,
                                k,
                                people.all.iter().any(|p| &p.meta.key == k),
                                invalid,
                            ),
                        };
                        st.problems.push(Problem::new(Reason::IdentityProviderNotFound, field, why));
                        None
                    }
                }
            }
        };
        let mut linked = Vec::with_capacity(c.resources.len());
        for (i, grant) in c.resources.iter().enumerate() {
            let Some(&idx) = resource_index.get(&grant.resource) else {
                let why = reference(
                    Kind::Resource,
                    &grant.resource,
                    rejected_resource_keys.contains(&grant.resource),
                    invalid,
                );
                st.problems.push(Problem::new(Reason::ResourceNotFound, format!("spec.resources[{i}].name"), why));
                continue;
            };
            let resource = &accepted_resources[idx].0;
            for (j, scope) in grant.scopes.iter().enumerate() {
                if !resource.scopes.iter().any(|s| &s.name == scope) {
                    st.problems.push(Problem::new(
                        Reason::ScopeNotInCatalog,
                        format!("spec.resources[{i}].scopes[{j}]"),
                        format!("is not in the catalog of the Resource named at spec.resources[{i}].name"),
                    ));
                }
            }
            linked.push((idx, Some(grant.scopes.as_slice())));
        }
        // A client that came by itself (registration, metadata document)
        // lists nothing: it may ask for every Resource that admits its kind,
        // and is not capped below the catalog, so a tool that needs more
        // scope can step up.
        let admits = |r: &Resource| match c.origin() {
            Origin::Manifest => false,
            Origin::Dynamic => r.dynamic_clients,
            Origin::MetadataDocument => r.metadata_document_clients,
        };
        linked.extend(accepted_resources.iter().enumerate().filter(|(_, (r, _))| admits(r)).map(|(i, _)| (i, None)));
        // A private_key_jwt client authenticates with its own keys, a
        // federated_jwt one with its issuers' JWTs: neither has a Secret to
        // wait for.
        let credential = match (c.secret_key(), &c.keys) {
            (None, _) if c.auth_method == AuthMethod::None => Some(Credential::Public),
            (None, _) if c.auth_method == AuthMethod::FederatedJwt => Some(Credential::Federated(c.federated.clone())),
            (None, Some(keys)) => Some(Credential::Keys(keys.clone())),
            (None, None) => {
                st.problems.push(Problem::new(
                    Reason::InvalidSpec,
                    "spec.tokenEndpointAuthMethod",
                    "private_key_jwt needs the client's public keys in spec.jwks or spec.jwksUri",
                ));
                None
            }
            (Some(secret_key), _) => {
                let found = secrets.get(&secret_key).cloned().map(Credential::Secrets);
                if found.is_none() {
                    let message = format!("Secret {secret_key} with key client_secret is not available yet");
                    // In a cluster the hub writes a generated Secret next; one
                    // the user provides may never come.
                    st.problems.push(if c.secret_provided || settings.runtime == Runtime::Folder {
                        Problem::new(Reason::SecretPending, "spec.secret.name", message)
                    } else {
                        Problem::transient(Reason::SecretPending, "spec.secret.name", message)
                    });
                }
                found
            }
        };
        if let (true, Some(credential)) = (st.ready(), credential) {
            id_owner.insert(client_id.clone(), c.meta.key.clone());
            pending.push(Pending { client: c, client_id, credential, resources: linked, identity_provider });
        }
        client_statuses.push(st);
    }

    AcceptedClients { pending, statuses: client_statuses, keys: client_keys }
}

/// Phase 3: Resources, with their introspectors from the accepted clients.
fn compile_resources(
    resources: AcceptedResources<'_>,
    clients: &AcceptedClients<'_>,
    invalid: &HashSet<(Kind, ObjectKey)>,
) -> (Vec<Arc<CompiledResource>>, Vec<ObjectStatus>) {
    let id_by_key = clients.id_by_key();
    let client_keys = &clients.keys;
    let mut statuses = Vec::with_capacity(resources.accepted.len() + resources.rejected.len());
    let mut compiled_resources: Vec<Arc<CompiledResource>> = Vec::with_capacity(resources.accepted.len());
    for (r, mut st) in resources.accepted {
        let mut introspectors = Vec::new();
        for (i, k) in r.introspectors.iter().enumerate() {
            match id_by_key.get(k) {
                Some(id) => introspectors.push(Box::from(*id)),
                None => st.warnings.push(format!(
                    "spec.introspection.clients[{i}]: {}, so it cannot introspect",
                    reference(Kind::OAuthClient, k, client_keys.contains(k), invalid)
                )),
            }
        }
        compiled_resources.push(Arc::new(CompiledResource {
            key: r.meta.key.clone(),
            kind: r.kind,
            identifier: r.identifier.as_str().into(),
            display_name: r.display_name.clone(),
            catalog: r.scopes.clone(),
            access_token_lifetime: r.access_token_lifetime,
            introspectors,
            labels: r.meta.labels.clone(),
        }));
        statuses.push(st);
    }
    statuses.extend(resources.rejected);
    (compiled_resources, statuses)
}

/// Phase 4: policies, all accepted; selectors resolve to nothing rather than
/// dangle, so a policy written before its resource starts working when the
/// resource lands.
fn compile_policies<'p>(
    policies: &'p [Policy],
    compiled_resources: &[Arc<CompiledResource>],
    resource_keys: &HashSet<&ObjectKey>,
    clients: &AcceptedClients<'_>,
    invalid: &HashSet<(Kind, ObjectKey)>,
    statuses: &mut Vec<ObjectStatus>,
) -> Vec<(Arc<CompiledPolicy>, &'p Policy)> {
    let id_by_key = clients.id_by_key();
    let client_keys = &clients.keys;
    let mut policy_keys: HashSet<&ObjectKey> = HashSet::new();
    let mut compiled_policies: Vec<(Arc<CompiledPolicy>, &Policy)> = Vec::with_capacity(policies.len());
    for p in policies {
        let mut st = status(Kind::AccessPolicy, &p.meta);
        if !policy_keys.insert(&p.meta.key) {
            st.problems.push(Problem::new(
                Reason::DuplicateName,
                "metadata.name",
                format!("another AccessPolicy is named {}", p.meta.key),
            ));
            statuses.push(st);
            continue;
        }
        if !compiled_resources.iter().any(|r| selects_resource(p, r)) {
            st.warnings.push(format!("selects no Resource in namespace {} yet", p.meta.key.namespace));
        }
        // A misspelt name selects nothing, silently narrowing what the policy
        // governs: not an error (the object may land later), but said.
        for (i, name) in p.resources.names.iter().enumerate() {
            let key = ObjectKey::new(p.meta.key.namespace.clone(), name.clone());
            if !compiled_resources.iter().any(|r| r.key == key) {
                let why = reference(Kind::Resource, &key, resource_keys.contains(&key), invalid);
                st.warnings.push(format!("spec.resources.names[{i}]: {why}"));
            }
        }
        for (i, key) in p.clients.names.iter().enumerate() {
            if !id_by_key.contains_key(key) {
                let why = reference(Kind::OAuthClient, key, client_keys.contains(key), invalid);
                st.warnings.push(format!("spec.clients.names[{i}]: {why}"));
            }
        }
        // A condition that does not compile makes the policy not Ready, but the
        // policy stays in force in its fail-closed form (a deny denies, an allow
        // allows nothing): dropping it would hand out what a deny withholds.
        let condition = p
            .condition
            .as_deref()
            .map(|source| PolicyCondition { program: Condition::compile(source).map(Arc::new), facts: None });
        if let Some(Err(e)) = condition.as_ref().map(|c| &c.program) {
            let consequence = match p.effect {
                Effect::Deny => {
                    "until it is fixed, the policy denies its scopes to every request its other selectors match"
                }
                Effect::Allow => {
                    "until it is fixed, the policy applies to every request its other selectors match and allows nothing"
                }
            };
            st.problems.push(Problem::new(Reason::InvalidSpec, "spec.condition", format!("{e}; {consequence}")));
            for r in compiled_resources.iter().filter(|r| selects_resource(p, r)) {
                if let Some(rs) = statuses.iter_mut().find(|s| s.kind == Kind::Resource && s.key == r.key) {
                    let what = match p.effect {
                        Effect::Deny => format!("denies {} here to", p.scopes.join(" ")),
                        Effect::Allow => "allows nothing here (and restricts)".to_owned(),
                    };
                    rs.warnings.push(format!(
                        "AccessPolicy {} has a condition that does not compile: until it is fixed it {what} every request its other selectors match",
                        p.meta.key
                    ));
                }
            }
        }
        compiled_policies.push((
            Arc::new(CompiledPolicy {
                key: p.meta.key.clone(),
                effect: p.effect,
                scopes: p.scopes.iter().map(|s| s.as_str().into()).collect(),
                grant_types: p.grant_types.clone(),
                tenants: p.tenants.iter().map(|s| s.as_str().into()).collect(),
                subjects: p.subjects.clone(),
                condition,
            }),
            p,
        ));
        statuses.push(st);
    }

    compiled_policies
}

/// Phase 5: each accepted client's associations, with the policies that
/// apply to each.
fn link_clients(
    pending: Vec<Pending<'_>>,
    compiled_resources: &[Arc<CompiledResource>],
    compiled_policies: &[(Arc<CompiledPolicy>, &Policy)],
    userinfo: &Arc<CompiledResource>,
) -> HashMap<Box<str>, Arc<CompiledClient>> {
    // Which policies select each resource, computed once rather than per client.
    let policies_of: Vec<Vec<usize>> = compiled_resources
        .iter()
        .map(|r| (0..compiled_policies.len()).filter(|&i| selects_resource(compiled_policies[i].1, r)).collect())
        .collect();
    let mut snapshot_clients = HashMap::with_capacity(pending.len());
    for p in pending {
        let c = p.client;
        let mut associations: Vec<Association> = p
            .resources
            .into_iter()
            .map(|(idx, cap)| {
                let resource = Arc::clone(&compiled_resources[idx]);
                // Catalog order, so issued scope strings are stable.
                let scopes = resource
                    .catalog
                    .iter()
                    .filter(|s| cap.is_none_or(|cap| cap.contains(&s.name)))
                    .map(|s| Box::from(s.name.as_str()))
                    .collect();
                let policies = policies_of[idx]
                    .iter()
                    .map(|&i| &compiled_policies[i])
                    .filter(|(_, pol)| selects_client(&pol.clients, c))
                    .map(|(cp, _)| cp.for_association(client_facts(&p.client_id, c), &resource))
                    .collect();
                Association { resource, scopes, policies }
            })
            .collect();
        // A client that signs users in and names no Resource gets its access
        // tokens for the hub's /userinfo, with no scope: every grant then
        // targets it the way it targets any only Resource.
        if associations.is_empty() && c.grants.authorization_code.is_some() {
            associations.push(Association { resource: Arc::clone(userinfo), scopes: Vec::new(), policies: Vec::new() });
        }
        snapshot_clients.insert(
            Box::from(p.client_id.as_str()),
            Arc::new(CompiledClient {
                key: c.meta.key.clone(),
                client_id: p.client_id.as_str().into(),
                incarnation: c.meta.uid.as_deref().unwrap_or_default().into(),
                display_name: c.display_name.clone(),
                description: c.description.clone(),
                logo_uri: c.logo_uri.clone(),
                auth_method: c.auth_method,
                credential: p.credential,
                authorization_code: c.grants.authorization_code.clone(),
                identity_provider: p.identity_provider,
                client_credentials: c.grants.client_credentials.clone(),
                jwt_bearer: c.grants.jwt_bearer.clone(),
                token_exchange: c.grants.token_exchange.clone(),
                associations,
                session: c.session.clone(),
                tags: c.tags.clone(),
                labels: c.meta.labels.clone(),
                created: c.meta.created,
            }),
        );
    }
    snapshot_clients
}

/// A public client proves nothing, so only a grant where PKCE binds the code
/// to the app instance that asked for it is open to it (OAuth 2.1 §2.1).
fn public_client_problems(c: &Client) -> Vec<Problem> {
    if c.auth_method != AuthMethod::None {
        return Vec::new();
    }
    let mut problems = Vec::new();
    let g = &c.grants;
    for (on, field) in [
        (g.client_credentials.is_some(), "spec.grantTypes.clientCredentials"),
        (g.jwt_bearer.is_some(), "spec.grantTypes.jwtBearer"),
        (g.token_exchange.is_some(), "spec.grantTypes.tokenExchange"),
    ] {
        if on {
            problems.push(Problem::new(
                Reason::InvalidSpec,
                field,
                "a public client (tokenEndpointAuthMethod: none) may only use authorizationCode",
            ));
        }
    }
    if g.authorization_code.is_none() {
        problems.push(Problem::new(
            Reason::InvalidSpec,
            "spec.grantTypes.authorizationCode",
            "a public client (tokenEndpointAuthMethod: none) needs the authorization code grant, the only one open to it",
        ));
    }
    if g.authorization_code.as_ref().is_some_and(|a| a.skip_consent) {
        problems.push(Problem::new(
            Reason::InvalidSpec,
            "spec.grantTypes.authorizationCode.skipConsent",
            "only a confidential client may skip consent: anyone can claim a public client's id",
        ));
    }
    problems
}

/// What a client asks that only a cluster can do. Accepting it in a folder
/// would be Ready on paper and fail at the first token request.
fn unsupported_in_folder(c: &Client) -> Vec<Problem> {
    let mut problems = Vec::new();
    let grant = c.grants.jwt_bearer.iter().flat_map(|g| g.trusted_issuers.iter());
    let grant = grant.enumerate().map(|(i, t)| (format!("spec.grantTypes.jwtBearer.trustedIssuers[{i}]"), t));
    let federated = c.federated.iter().enumerate().map(|(i, t)| (format!("spec.federatedCredentials[{i}]"), t));
    for (field, t) in grant.chain(federated) {
        let IssuerSource::Kubernetes { issuer, jwks_uri, .. } = &t.source else { continue };
        if t.token_review {
            problems.push(Problem::new(
                Reason::Unsupported,
                format!("{field}.tokenReview"),
                "keyward serve has no cluster to ask: set tokenReview to false (keys from jwksUri verify the token)",
            ));
        }
        if issuer.is_none() || jwks_uri.is_none() {
            problems.push(Problem::new(
                Reason::Unsupported,
                format!("{field}.kubernetes"),
                "keyward serve has no cluster to find its service-account issuer: set issuer and jwksUri to the cluster's (kubectl get --raw /.well-known/openid-configuration)",
            ));
        }
    }
    problems
}

/// Why a reference does not resolve, without repeating the name it holds: the
/// field path says where it is.
fn reference(kind: Kind, key: &ObjectKey, exists: bool, invalid: &HashSet<(Kind, ObjectKey)>) -> String {
    if invalid.contains(&(kind, key.clone())) {
        format!("the {kind} named here is not valid: fix that object")
    } else if exists {
        format!("the {kind} named here is not Ready")
    } else {
        format!("no {kind} of this name exists")
    }
}

fn labels_match(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A policy governs Resources of its own namespace only.
fn selects_resource(policy: &Policy, resource: &CompiledResource) -> bool {
    if resource.key.namespace != policy.meta.key.namespace {
        return false;
    }
    let ResourceSelector { names, match_labels } = &policy.resources;
    if !names.is_empty() && !names.contains(&resource.key.name) {
        return false;
    }
    labels_match(match_labels, &resource.labels)
}

/// What a policy condition sees of a client as `request.client`.
fn client_facts<'a>(id: &'a str, c: &'a Client) -> ClientFacts<'a> {
    ClientFacts { id, name: &c.meta.key.name, namespace: &c.meta.key.namespace, tags: &c.tags, labels: &c.meta.labels }
}

fn selects_client(sel: &ClientSelector, c: &Client) -> bool {
    (sel.names.is_empty() || sel.names.contains(&c.meta.key))
        && (sel.namespaces.is_empty() || sel.namespaces.contains(&c.meta.key.namespace))
        && (sel.tags.is_empty() || sel.tags.iter().any(|t| c.tags.contains(t)))
        && labels_match(&sel.match_labels, &c.meta.labels)
}
