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
use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use keyward_api::v1alpha1::{AccessPolicy, OAuthClient, Resource};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use tokio::sync::watch as channel;

use super::RunOptions;
use super::client_secret::LABEL_CLIENT;
use super::inputs::Objects;

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
    secrets: Stores<Secret>,
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
    let task = tokio::spawn(async move {
        futures::pin_mut!(stream);
        let mut retry = Retry::default();
        let rng = SystemRandom::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => {
                    if retry.failures > 0 {
                        tracing::info!(watch = what, failures = retry.failures, "watch resumed");
                    }
                    retry = Retry::default();
                    signal.send_modify(|v| *v += 1);
                }
                Err(e) => {
                    let wait = retry.after(gone(&e), jitter(&rng));
                    // One warning per outage, not one a second.
                    if retry.failures == 1 {
                        tracing::warn!(watch = what, error = %e, "watch failed; retrying");
                    } else {
                        tracing::debug!(watch = what, error = %e, failures = retry.failures, "watch failed again");
                    }
                    if !wait.is_zero() {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
    });
    (reader, task)
}

/// First retry delay after a failure; it doubles up to `RETRY_MAX`.
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// The retry state of one watch since its last event.
#[derive(Debug, Default)]
struct Retry {
    failures: u32,
    /// A 410 was already retried at once in this run of failures.
    relisted: bool,
}

impl Retry {
    /// How long to wait before polling the watch again after a failure.
    /// `jitter` in [0, 1) picks the delay in the upper half of the step.
    fn after(&mut self, gone: bool, jitter: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        // Once per run: a server that answers 410 to a fresh list too must
        // not be asked in a tight loop.
        if gone && !self.relisted {
            self.relisted = true;
            return Duration::ZERO;
        }
        let step = RETRY_MIN.saturating_mul(1 << self.failures.saturating_sub(1).min(8)).min(RETRY_MAX);
        step.div_f64(2.0).mul_f64(1.0 + jitter.clamp(0.0, 1.0))
    }
}

/// Whether the API server no longer has the version the watch resumed from
/// (or the list's continue token): the watcher relists on the next poll.
fn gone(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}

fn jitter(rng: &SystemRandom) -> f64 {
    let mut b = [0u8; 2];
    // Without randomness the delay is the step's upper bound: still bounded.
    if rng.fill(&mut b).is_err() {
        return 1.0;
    }
    f64::from(u16::from_le_bytes(b)) / 65536.0
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
        let secrets = stores!(Secret, "client secrets", watcher::Config::default().labels(LABEL_CLIENT));
        let (keys, task) = reflect(
            Api::<Secret>::namespaced(client.clone(), &opts.namespace),
            watcher::Config::default().fields(&format!("metadata.name={}", opts.keys_secret())),
            keys_tx,
            "signing keys",
        );
        tasks.push(task);
        (Watches { clients, resources, policies, secrets, keys, config_version, keys_version }, tasks)
    }

    /// Waits until every configuration watch has listed once.
    pub async fn wait_synced(&self) {
        self.clients.wait().await;
        self.resources.wait().await;
        self.policies.wait().await;
        self.secrets.wait().await;
    }

    pub fn objects(&self) -> Objects {
        Objects {
            clients: self.clients.state(),
            resources: self.resources.state(),
            policies: self.policies.state(),
            secrets: self.secrets.state(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_a_quarter_second_to_at_most_one_second() {
        let mut r = Retry::default();
        let upper: Vec<u128> = (0..6).map(|_| r.after(false, 1.0).as_millis()).collect();
        assert_eq!(upper, vec![250, 500, 1000, 1000, 1000, 1000]);
        let mut r = Retry::default();
        let lower: Vec<u128> = (0..4).map(|_| r.after(false, 0.0).as_millis()).collect();
        assert_eq!(lower, vec![125, 250, 500, 500]);
        let mut r = Retry::default();
        for _ in 0..100 {
            assert!(r.after(false, 0.99) <= RETRY_MAX);
        }
    }

    #[test]
    fn a_410_relists_at_once_but_only_once_per_run_of_failures() {
        let mut r = Retry::default();
        assert_eq!(r.after(false, 1.0), Duration::from_millis(250), "the API server is away");
        assert_eq!(r.after(true, 1.0), Duration::ZERO, "back, and the version is gone: relist now");
        assert_eq!(r.after(true, 1.0), Duration::from_secs(1), "410 again: no tight loop");
        // An event in between starts a new run (the caller resets).
        let mut r = Retry::default();
        assert_eq!(r.after(true, 1.0), Duration::ZERO);
    }

    #[test]
    fn gone_is_recognised_as_a_watch_event_and_as_a_response() {
        let mut status = kube::core::Status::failure("too old resource version", "Expired");
        status.code = 410;
        assert!(gone(&watcher::Error::WatchError(Box::new(status.clone()))));
        assert!(gone(&watcher::Error::InitialListFailed(kube::Error::Api(Box::new(status.clone())))));
        status.code = 500;
        assert!(!gone(&watcher::Error::WatchError(Box::new(status))));
        assert!(!gone(&watcher::Error::NoResourceVersion));
    }
}
