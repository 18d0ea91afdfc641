//! `keyward explain`: loads what the hub would serve (a folder of manifests,
//! or the cluster's objects listed once), compiles it as the hub does and
//! prints the explanation (`explanation.rs`) of one token request. Writes
//! nothing.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use keyward_core::compile::{Compiled, compile};
use keyward_core::model::Kind;
use keyward_core::snapshot::{HubSettings, Lifetimes, Runtime};
use keyward_core::status::ObjectStatus;

use crate::explanation::{Query, explain};
use crate::report::merge;
use crate::sources::ClientRef;
use crate::sources::credentials::Outcome;
use crate::sources::{assemble, folder::Folder};

/// Where `keyward explain` reads the configuration from.
#[derive(Clone, Debug)]
pub enum Source {
    /// A folder of manifests, judged for the hub that will read them: a
    /// cluster (`Runtime::Cluster`) or `keyward serve` (`Runtime::Folder`).
    Folder { manifests: PathBuf, namespace: String, runtime: Runtime },
    /// The cluster: a kubeconfig file, or the default (KUBECONFIG,
    /// ~/.kube/config, in-cluster).
    Cluster { kubeconfig: Option<PathBuf> },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    Text,
    Json,
}

pub struct ExplainOptions {
    pub source: Source,
    pub query: Query,
    pub output: Output,
}

fn settings(runtime: Runtime) -> HubSettings {
    HubSettings { issuer: "https://keyward.invalid".into(), defaults: Lifetimes::default(), runtime }
}

/// Compiles a folder as `keyward check` does: every client is assumed to have
/// its secret, which explaining does not need.
pub fn load_folder(
    manifests: &std::path::Path,
    namespace: &str,
    runtime: Runtime,
) -> anyhow::Result<(Compiled, Vec<ObjectStatus>)> {
    let mut folder = Folder::new(manifests, namespace);
    folder.scan().with_context(|| format!("reading {}", manifests.display()))?;
    let placeholder = |_: &ClientRef<'_>| Ok((placeholder_secrets(), Outcome::Existing));
    let loaded = assemble(&folder, settings(runtime), &placeholder);
    let compiled = compile(loaded.input);
    let statuses = merge(compiled.statuses.clone(), loaded.statuses);
    Ok((compiled, statuses))
}

/// Lists the three kinds and the labelled client Secrets once and compiles
/// them as every replica does.
pub async fn load_cluster(
    kubeconfig: Option<&std::path::Path>,
) -> anyhow::Result<(Compiled, Vec<ObjectStatus>, Vec<String>)> {
    use k8s_openapi::api::core::v1::Secret;
    use keyward_api::v1alpha1::{AccessPolicy, IdentityProvider, OAuthClient, Resource};
    use kube::api::{Api, ListParams};

    use crate::assembly::client_secret::LABEL_CLIENT;
    use crate::controller::inputs::{Objects, inputs};

    let client = match kubeconfig {
        Some(path) => {
            let kc =
                kube::config::Kubeconfig::read_from(path).with_context(|| format!("reading {}", path.display()))?;
            let config = kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default()).await?;
            kube::Client::try_from(config)?
        }
        None => kube::Client::try_default().await.context("no kubeconfig and not in a cluster")?,
    };
    async fn list<K>(client: &kube::Client, lp: &ListParams) -> Result<Vec<Arc<K>>, kube::Error>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        Ok(Api::<K>::all(client.clone()).list(lp).await?.items.into_iter().map(Arc::new).collect())
    }
    let lp = ListParams::default();
    let mut notes = Vec::new();
    let mut objects = Objects {
        clients: list::<OAuthClient>(&client, &lp).await.context("listing OAuthClients")?,
        resources: list::<Resource>(&client, &lp).await.context("listing Resources")?,
        policies: list::<AccessPolicy>(&client, &lp).await.context("listing AccessPolicies")?,
        // A cluster without the IdentityProvider CRD (an older install) has
        // no user logins to explain.
        identity_providers: list::<IdentityProvider>(&client, &lp).await.unwrap_or_default(),
        secrets: Vec::new(),
        password_secrets: list::<Secret>(
            &client,
            &ListParams::default().labels(crate::controller::inputs::LABEL_PASSWORDS),
        )
        .await
        .unwrap_or_default(),
    };
    let secrets_readable = match list::<Secret>(&client, &ListParams::default().labels(LABEL_CLIENT)).await {
        Ok(s) => {
            objects.secrets = s;
            true
        }
        Err(kube::Error::Api(e)) if e.code == 403 => {
            notes.push(
                "client Secrets are not readable with these credentials: every client is assumed to have its secret"
                    .into(),
            );
            false
        }
        Err(e) => return Err(e).context("listing client Secrets"),
    };
    let mut built = inputs(&objects, settings(Runtime::Cluster));
    if !secrets_readable {
        for key in built.input.clients.iter().filter_map(|c| c.secret_key()) {
            built
                .input
                .secrets
                .insert(key, keyward_core::secret::ClientSecrets::single(keyward_core::secret::SecretDigest([0; 32])));
        }
    }
    let compiled = compile(built.input);
    let statuses = merge(compiled.statuses.clone(), built.rejected);
    Ok((compiled, statuses, notes))
}

/// Why an unknown client id is unknown, when the statuses say.
fn hint(statuses: &[ObjectStatus], client_id: &str) -> Option<String> {
    statuses
        .iter()
        .find(|s| s.kind == Kind::OAuthClient && s.client_id.as_deref() == Some(client_id) && !s.ready())
        .map(|s| format!("OAuthClient {} has this client id and is not Ready: {}: {}", s.key, s.reason(), s.message()))
}

/// Runs `keyward explain`. `Ok(true)` when something would be granted.
pub async fn run(opts: &ExplainOptions, out: &mut impl std::io::Write) -> anyhow::Result<bool> {
    let (compiled, statuses, notes) = match &opts.source {
        Source::Folder { manifests, namespace, runtime } => {
            let (c, s) = load_folder(manifests, namespace, *runtime)?;
            (c, s, Vec::new())
        }
        Source::Cluster { kubeconfig } => load_cluster(kubeconfig.as_deref()).await?,
    };
    let mut report = match explain(&compiled.snapshot, &opts.query) {
        Ok(r) => r,
        Err(e) => match hint(&statuses, &opts.query.client) {
            Some(h) => anyhow::bail!("{e}; {h}"),
            None => anyhow::bail!("{e}"),
        },
    };
    report.notes.extend(notes);
    // A policy that is not Ready but in force (a condition that does not
    // compile) is worth a line of its own.
    if let Some(e) = &report.explanation {
        for p in &e.policies {
            if let Some(st) = statuses.iter().find(|s| s.kind == Kind::AccessPolicy && s.key == p.key && !s.ready()) {
                report.notes.push(format!("AccessPolicy {} is not Ready: {}", p.key, st.message()));
            }
        }
    }
    match opts.output {
        Output::Text => write!(out, "{report}")?,
        Output::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report.to_json())?)?,
    }
    Ok(report.granted_anything())
}

/// Every client is assumed to have its secret: checking and explaining need
/// no value.
fn placeholder_secrets() -> keyward_core::secret::ClientSecrets {
    keyward_core::secret::ClientSecrets::single(crate::secret_digest::digest_secret(b"placeholder"))
}
