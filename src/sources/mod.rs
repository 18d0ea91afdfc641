//! The folder source behind `keyward serve`: manifests on disk → the core's
//! `CompileInput`, plus a verdict for everything that never reached compile
//! (unreadable manifests, duplicates, failed conversions).

pub mod credentials;
pub mod folder;
pub mod incarnations;
pub mod manifest;
mod read_error;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use keyward_core::compile::CompileInput;
use keyward_core::model::{Client, IdentityProvider, Kind, ObjectKey, Policy, Resource};
use keyward_core::secret::ClientSecrets;
use keyward_core::snapshot::HubSettings;
use keyward_core::status::{ObjectStatus, Problem, Reason};

use crate::secret_digest::digest_secret;
use credentials::{CredentialError, Outcome};
use folder::Folder;
use manifest::{Identity, Manifest};

/// A folder load, ready for `compile`.
pub struct Loaded {
    pub input: CompileInput,
    /// Objects that did not reach compile, and why.
    pub statuses: Vec<ObjectStatus>,
    /// One line per thing a user should fix: file errors, objects kept at
    /// their last good version.
    pub notes: Vec<String>,
    /// What the load did that is worth saying: credentials written,
    /// documents of other kinds passed over.
    pub info: Vec<String>,
}

fn kind_of(kind: &str) -> Option<Kind> {
    match kind {
        "OAuthClient" => Some(Kind::OAuthClient),
        "Resource" => Some(Kind::Resource),
        "AccessPolicy" => Some(Kind::AccessPolicy),
        "IdentityProvider" => Some(Kind::IdentityProvider),
        _ => None,
    }
}

fn rejected(kind: Kind, id: &Identity, problems: Vec<Problem>) -> ObjectStatus {
    crate::assembly::rejected(kind, ObjectKey::new(id.namespace.clone(), id.name.clone()), None, problems)
}

fn secret_value(s: &Secret) -> Option<Vec<u8>> {
    if let Some(v) = s.string_data.as_ref().and_then(|d| d.get("client_secret")) {
        return Some(v.as_bytes().to_vec());
    }
    s.data.as_ref().and_then(|d| d.get("client_secret")).map(|b| b.0.clone())
}

/// A client whose credentials the hub keeps (its Secret is not in the folder).
pub struct ClientRef<'a> {
    pub client: &'a Client,
    pub client_id: &'a str,
    /// Identifiers of the Resources it may ask for.
    pub audiences: Vec<&'a str>,
}

/// Makes, reuses or rotates the secret of a client whose Secret is not in the
/// folder (`credentials.rs` in `keyward serve`; a stand-in for `check` and
/// `explain`).
pub type SecretMaker<'a> = &'a dyn Fn(&ClientRef<'_>) -> Result<(ClientSecrets, Outcome), CredentialError>;

/// Builds the compile input from what the folder holds.
pub fn assemble(folder: &Folder, settings: HubSettings, generated: SecretMaker<'_>) -> Loaded {
    let mut statuses = Vec::new();
    let mut notes = Vec::new();
    let mut info = Vec::new();
    let rel = |p: &Path| folder.relative(p);

    for (path, report) in folder.reports() {
        if let Some(e) = &report.file_error {
            notes.push(format!("{}: {e}", rel(path)));
        }
        for e in &report.errors {
            notes.push(format!("{}: {e}", rel(path)));
        }
        for i in &report.ignored {
            info.push(format!("{}: {i} (ignored)", rel(path)));
        }
        for id in &report.kept_last_good {
            notes.push(format!("{}: {id}: serving its last good version until the error is fixed", rel(path)));
        }
        // An object whose first version is already broken has nothing to fall
        // back on: it gets a status of its own.
        for e in &report.errors {
            let Some(id) = &e.identity else { continue };
            let Some(kind) = kind_of(&id.kind) else { continue };
            if !report.kept_last_good.contains(id) {
                let field = if e.message.starts_with("apiVersion") { "apiVersion" } else { "" };
                statuses.push(rejected(
                    kind,
                    id,
                    vec![Problem::new(Reason::InvalidManifest, field, e.message.clone())],
                ));
            }
        }
    }

    let mut seen: HashMap<Identity, String> = HashMap::new();
    let mut clients: Vec<Client> = Vec::new();
    let mut resources: Vec<Resource> = Vec::new();
    let mut policies: Vec<Policy> = Vec::new();
    let mut byo: HashMap<ObjectKey, Option<Vec<u8>>> = HashMap::new();
    let mut identity_providers: Vec<IdentityProvider> = Vec::new();
    let mut all_secrets: HashMap<ObjectKey, BTreeMap<String, String>> = HashMap::new();
    for (path, doc) in folder.docs() {
        let here = format!("{} document {}", rel(path), doc.index);
        if let Some(first) = seen.get(&doc.identity) {
            match kind_of(&doc.identity.kind) {
                Some(kind) => statuses.push(rejected(
                    kind,
                    &doc.identity,
                    vec![Problem::new(
                        Reason::DuplicateName,
                        "metadata.name",
                        format!("defined twice: in {first} and in {here}"),
                    )],
                )),
                None => notes.push(format!("{here}: {} is defined twice; using {first}", doc.identity)),
            }
            continue;
        }
        seen.insert(doc.identity.clone(), here);
        let converted = match &doc.manifest {
            Manifest::Client(c) => Client::try_from(c.as_ref()).map(|m| clients.push(m)),
            Manifest::Resource(r) => Resource::try_from(r.as_ref()).map(|m| resources.push(m)),
            Manifest::Policy(p) => Policy::try_from(p.as_ref()).map(|m| policies.push(m)),
            Manifest::IdentityProvider(p) => IdentityProvider::try_from(p.as_ref()).map(|m| identity_providers.push(m)),
            Manifest::Secret(s) => {
                let key = ObjectKey::new(doc.identity.namespace.clone(), doc.identity.name.clone());
                all_secrets.insert(key.clone(), crate::assembly::secret_strings(s));
                byo.insert(key, secret_value(s));
                Ok(())
            }
        };
        if let (Err(invalid), Some(kind)) = (converted, kind_of(&doc.identity.kind)) {
            statuses.push(rejected(kind, &doc.identity, invalid.0));
        }
    }

    let mut secrets = HashMap::new();
    let mut used_byo = HashSet::new();
    let identifiers: HashMap<&ObjectKey, &str> =
        resources.iter().map(|r| (&r.meta.key, r.identifier.as_str())).collect();
    // A private_key_jwt or federated_jwt client has no secret: nothing to read
    // or generate.
    for (c, key) in clients.iter().filter_map(|c| Some((c, c.secret_key()?))) {
        match byo.get(&key) {
            // A Secret of that name that lacks client_secret is the user's:
            // never filled with a generated value behind their back.
            Some(None) => {}
            Some(Some(value)) => {
                used_byo.insert(key.clone());
                secrets.insert(key, ClientSecrets::single(digest_secret(value)));
            }
            None => {
                let client_id =
                    c.client_id.clone().unwrap_or_else(|| keyward_core::model::default_client_id(&c.meta.key));
                let audiences = c.resources.iter().filter_map(|g| identifiers.get(&g.resource).copied()).collect();
                match generated(&ClientRef { client: c, client_id: &client_id, audiences }) {
                    Ok((client_secrets, outcome)) => {
                        let did = match &outcome {
                            Outcome::Created(p) => Some(("generated credentials in", p)),
                            Outcome::Updated(p) => Some(("updated", p)),
                            Outcome::Rotated(p) => {
                                Some(("rotated the secret (the previous one works until the grace period ends) in", p))
                            }
                            Outcome::Existing => None,
                        };
                        if let Some((what, p)) = did {
                            info.push(format!("OAuthClient {}: {what} {}", c.meta.key, p.display()));
                        }
                        secrets.insert(key, client_secrets);
                    }
                    // compile says the Secret is pending.
                    Err(CredentialError::Pending(_)) => {}
                    Err(e) => notes.push(format!("OAuthClient {}: {e}", c.meta.key)),
                }
            }
        }
    }
    // A static provider's password Secret: read as strings (PHC hashes).
    let password_keys: HashSet<ObjectKey> = identity_providers
        .iter()
        .map(|p| {
            let name = match &p.source {
                keyward_core::model::UserSource::Static { password_secret, .. } => password_secret.clone(),
                keyward_core::model::UserSource::Oidc(up) => up.client_secret.0.clone(),
            };
            ObjectKey::new(p.meta.key.namespace.clone(), name)
        })
        .collect();
    let passwords: HashMap<ObjectKey, BTreeMap<String, String>> =
        all_secrets.into_iter().filter(|(k, _)| password_keys.contains(k)).collect();
    for key in byo.keys().filter(|k| !used_byo.contains(*k)) {
        if password_keys.contains(key) {
            continue;
        }
        if !clients.iter().any(|c| c.secret_key().as_ref() == Some(key)) {
            notes.push(format!("Secret {key} is not the secret of any OAuthClient (ignored)"));
        }
    }
    let invalid = statuses.iter().map(|s| (s.kind, s.key.clone())).collect();
    Loaded {
        input: CompileInput {
            settings,
            clients,
            resources,
            policies,
            secrets,
            identity_providers,
            passwords,
            default_identity_provider: None,
            invalid,
        },
        statuses,
        notes,
        info,
    }
}
