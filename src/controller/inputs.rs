//! What the watches hold → the core's `CompileInput`, without I/O. Objects that
//! fail conversion get a status here; everything else is compile's.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use keyward_api::v1alpha1::{AccessPolicy, IdentityProvider, OAuthClient, Resource};
use keyward_core::compile::CompileInput;
use keyward_core::model::{self, Kind, ObjectKey};
use keyward_core::snapshot::HubSettings;
use keyward_core::status::{ObjectStatus, Problem};
use kube::ResourceExt;

use super::client_secret::secrets_of;

/// One consistent read of every watch.
#[derive(Default, Clone)]
pub struct Objects {
    pub clients: Vec<Arc<OAuthClient>>,
    pub resources: Vec<Arc<Resource>>,
    pub policies: Vec<Arc<AccessPolicy>>,
    pub identity_providers: Vec<Arc<IdentityProvider>>,
    /// Client Secrets (labelled `keyward.dev/oauthclient`).
    pub secrets: Vec<Arc<Secret>>,
    /// Static providers' password Secrets (labelled [`LABEL_PASSWORDS`]).
    pub password_secrets: Vec<Arc<Secret>>,
}

/// The label a static IdentityProvider's password Secret carries (any
/// value): the hub watches only Secrets that opt in.
pub const LABEL_PASSWORDS: &str = "keyward.dev/passwords";

pub struct Inputs {
    pub input: CompileInput,
    /// Objects conversion refused.
    pub rejected: Vec<ObjectStatus>,
    /// Converted clients by key, for the Secret writer.
    pub clients: HashMap<ObjectKey, model::Client>,
}

fn key_of(obj: &impl kube::Resource) -> ObjectKey {
    ObjectKey::new(obj.namespace().unwrap_or_default(), obj.name_any())
}

fn rejected(kind: Kind, obj: &impl kube::Resource, problems: Vec<Problem>) -> ObjectStatus {
    crate::assembly::rejected(kind, key_of(obj), obj.meta().generation, problems)
}

/// Objects being deleted are left out: their tokens stop now, not when the
/// finalizers (if any) are done.
fn live(obj: &impl kube::Resource) -> bool {
    obj.meta().deletion_timestamp.is_none()
}

pub fn inputs(objects: &Objects, settings: HubSettings) -> Inputs {
    let mut rejected_statuses = Vec::new();
    let mut clients = Vec::new();
    let mut converted = HashMap::new();
    for c in objects.clients.iter().filter(|c| live(c.as_ref())) {
        match model::Client::try_from(c.as_ref()) {
            Ok(m) => {
                converted.insert(m.meta.key.clone(), m.clone());
                clients.push(m);
            }
            Err(e) => rejected_statuses.push(rejected(Kind::OAuthClient, c.as_ref(), e.0)),
        }
    }
    let mut resources = Vec::new();
    for r in objects.resources.iter().filter(|r| live(r.as_ref())) {
        match model::Resource::try_from(r.as_ref()) {
            Ok(m) => resources.push(m),
            Err(e) => rejected_statuses.push(rejected(Kind::Resource, r.as_ref(), e.0)),
        }
    }
    let mut policies = Vec::new();
    for p in objects.policies.iter().filter(|p| live(p.as_ref())) {
        match model::Policy::try_from(p.as_ref()) {
            Ok(m) => policies.push(m),
            Err(e) => rejected_statuses.push(rejected(Kind::AccessPolicy, p.as_ref(), e.0)),
        }
    }
    let mut identity_providers = Vec::new();
    for p in objects.identity_providers.iter().filter(|p| live(p.as_ref())) {
        match model::IdentityProvider::try_from(p.as_ref()) {
            Ok(m) => identity_providers.push(m),
            Err(e) => rejected_statuses.push(rejected(Kind::IdentityProvider, p.as_ref(), e.0)),
        }
    }
    let passwords = objects
        .password_secrets
        .iter()
        .filter(|s| live(s.as_ref()))
        .map(|s| (key_of(s.as_ref()), crate::assembly::secret_strings(s)))
        .collect();
    let secrets = objects
        .secrets
        .iter()
        .filter(|s| live(s.as_ref()))
        .filter_map(|s| secrets_of(s).map(|d| (key_of(s.as_ref()), d)))
        .collect();
    let invalid = rejected_statuses.iter().map(|s| (s.kind, s.key.clone())).collect();
    Inputs {
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
        rejected: rejected_statuses,
        clients: converted,
    }
}
