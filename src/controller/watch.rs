//! The watches every replica runs, as reflector stores, with a change signal,
//! and how a failed watch is retried. The stores (and so the snapshot) keep
//! their last content while the API server is away.
//!
//! Retries are short on purpose. A store that resumes late serves a deleted
//! client's tokens and keeps a new client from its Secret for as long: with
//! kube-runtime's `default_backoff` (up to 30 s plus jitter, reset only by an
//! event) a client created after an API-server restart was Ready only after
//! 48–62 s. So a failed watch is retried after a step of 250 ms that doubles
//! up to 1 s (the delay drawn in the step's upper half, so replicas do not
//! retry in step), and the step starts over with the first event that
//! arrives. A `410 Gone` — the resourceVersion a watch resumes from is older
//! than what the API server remembers, as after its restart — is retried at
//! once: the watcher has already dropped the version and relists, so waiting
//! only delays the relist (`StreamBackoff` cannot tell a 410 from any other
//! error, hence the loop below instead of `WatchStreamExt::backoff`). The
//! watches' client has no retry of its own (`Clients`, mod.rs). The cost:
//! while the API server is unreachable each watch tries about once a second.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use keyward_api::v1alpha1::{AccessPolicy, IdentityProvider, OAuthClient, Resource};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::watch as channel;

use super::RunOptions;
use super::client_secret::LABEL_CLIENT;
use super::inputs::{LABEL_PASSWORDS, Objects};

/// Stores of one kind, one per watched namespace (or one for all).
#[derive(Clone)]
struct Stores<K: kube::Resource<DynamicType = ()> + 'static>(Vec<Store<K>>);

impl<K: kube::Resource<DynamicType = ()> + Clone + 'static> Stores<K> {
    fn state(&self) -> Vec<Arc<K>> {
        self.0.iter().flat_map(|s| s.state()).collect()
    }

    async fn wait(&self) {
        for s in &self.0 {
            // A dropped writer means the task ended; the snapshot then stays as it is.
            let _ = s.wait_until_ready().await;
        }
    }
}

#[derive(Clone)]
pub struct Watches {
    clients: Stores<OAuthClient>,
    resources: Stores<Resource>,
    policies: Stores<AccessPolicy>,
    identity_providers: Stores<IdentityProvider>,
    secrets: Stores<Secret>,
    password_secrets: Stores<Secret>,
    keys: Store<Secret>,
    config_version: channel::Receiver<u64>,
    keys_version: channel::Receiver<u64>,
}

fn reflect<K>(
    api: Api<K>,
    config: watcher::Config,
    signal: Arc<channel::Sender<u64>>,
    what: &'static str,
) -> (Store<K>, tokio::task::JoinHandle<()>)
where
    K: kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    let (reader, writer) = reflector::store();
    let stream = watcher(api, config).reflect(writer);
    let task = tokio::spawn(crate::watch_retry::follow(stream, what, move |_| signal.send_modify(|v| *v += 1)));
    (reader, task)
}

fn apis<K>(client: &Client, namespaces: &[String]) -> Vec<Api<K>>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
{
    if namespaces.is_empty() {
        vec![Api::all(client.clone())]
    } else {
        namespaces.iter().map(|ns| Api::namespaced(client.clone(), ns)).collect()
    }
}

impl Watches {
    pub fn start(client: &Client, opts: &RunOptions) -> (Watches, Vec<tokio::task::JoinHandle<()>>) {
        let (config_tx, config_version) = channel::channel(0u64);
        let (keys_tx, keys_version) = channel::channel(0u64);
        let (config_tx, keys_tx) = (Arc::new(config_tx), Arc::new(keys_tx));
        let mut tasks = Vec::new();
        let ns = &opts.watch_namespaces;
        macro_rules! stores {
            ($k:ty, $what:expr, $config:expr) => {{
                let mut stores = Vec::new();
                for api in apis::<$k>(client, ns) {
                    let (store, task) = reflect(api, $config, Arc::clone(&config_tx), $what);
                    stores.push(store);
                    tasks.push(task);
                }
                Stores(stores)
            }};
        }
        let clients = stores!(OAuthClient, "oauthclients", watcher::Config::default());
        let resources = stores!(Resource, "resources", watcher::Config::default());
        let policies = stores!(AccessPolicy, "accesspolicies", watcher::Config::default());
        let identity_providers = stores!(IdentityProvider, "identityproviders", watcher::Config::default());
        let secrets = stores!(Secret, "client secrets", watcher::Config::default().labels(LABEL_CLIENT));
        // A static provider's password Secret is the user's; it opts in with
        // this label, so the hub never lists every Secret of the cluster.
        let password_secrets = stores!(Secret, "password secrets", watcher::Config::default().labels(LABEL_PASSWORDS));
        let (keys, task) = reflect(
            Api::<Secret>::namespaced(client.clone(), &opts.namespace),
            watcher::Config::default().fields(&format!("metadata.name={}", opts.keys_secret())),
            keys_tx,
            "signing keys",
        );
        tasks.push(task);
        (
            Watches {
                clients,
                resources,
                policies,
                identity_providers,
                secrets,
                password_secrets,
                keys,
                config_version,
                keys_version,
            },
            tasks,
        )
    }

    /// Waits until every configuration watch has listed once.
    pub async fn wait_synced(&self) {
        self.clients.wait().await;
        self.resources.wait().await;
        self.policies.wait().await;
        self.identity_providers.wait().await;
        self.secrets.wait().await;
        self.password_secrets.wait().await;
    }

    pub fn objects(&self) -> Objects {
        Objects {
            clients: self.clients.state(),
            resources: self.resources.state(),
            policies: self.policies.state(),
            identity_providers: self.identity_providers.state(),
            secrets: self.secrets.state(),
            password_secrets: self.password_secrets.state(),
        }
    }

    pub fn keys_secret(&self) -> Option<Arc<Secret>> {
        self.keys.state().into_iter().next()
    }

    pub fn keys_version(&self) -> channel::Receiver<u64> {
        self.keys_version.clone()
    }

    /// A change signal. Mark it seen (`borrow_and_update`) before reading the
    /// stores, so a change during the read is not lost.
    pub fn config_version(&self) -> channel::Receiver<u64> {
        self.config_version.clone()
    }
}
