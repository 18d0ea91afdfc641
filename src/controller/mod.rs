//! `keyward run`: the hub fed by the Kubernetes API.
//!
//! Every replica watches the three kinds, the client Secrets and the
//! signing-keys Secret, compiles a snapshot on every change and serves tokens
//! from it; the token path never calls the API server. Only the Lease holder
//! (`election.rs`) writes: client Secrets, status, events, signing keys, the
//! JWKS ConfigMap (`writer.rs`; a client Secret only after a fresh read of its
//! OAuthClient, `secret_sync.rs`). What to write is decided by pure builders
//! (`client_secret.rs`, `status.rs`, `inputs.rs`) that the tests exercise
//! without a cluster.

pub use crate::assembly::client_secret;
mod collector;
pub mod election;
pub mod inputs;
pub mod keys;
pub mod kube_issuer;
mod secret_sync;
pub mod status;
mod watch;
pub mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use keyward_core::compile;
use keyward_core::keys::Algorithm;
use keyward_core::snapshot::{HubSettings, HubSnapshot, Lifetimes, Runtime};
use keyward_core::status::ObjectStatus;
use keyward_core::store::Store;
use kube::Client;
use tokio::net::TcpListener;
use tokio::sync::watch as channel;

use crate::metrics::Metrics;
use crate::report::{Reporter, merge};
use crate::server::listener::{Limits, Server};
use crate::server::{self, AppState, Clock};
use crate::store::KubeStore;
use inputs::{Objects, inputs};
pub use watch::Watches;

#[derive(Clone, Debug)]
pub struct RunOptions {
    pub issuer: String,
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    /// Where the signing-keys Secret, the JWKS ConfigMap and the Lease live.
    pub namespace: String,
    /// Prefix of those three names.
    pub name: String,
    /// This replica's leader-election identity.
    pub identity: String,
    /// Empty: every namespace.
    pub watch_namespaces: Vec<String>,
    pub key_algorithm: Algorithm,
    pub key_rotation: Duration,
    pub lifetimes: Lifetimes,
    /// How long the Lease is held without renewal.
    pub lease_seconds: u64,
    /// Outbound fetches of trusted issuers' keys and userinfo.
    pub fetch: crate::fetch::FetchPolicy,
    /// How often the leader deletes expired store records.
    pub store_gc_interval: Duration,
    /// Timeouts, connection cap and shutdown grace of both HTTP listeners.
    pub listener: Limits,
    /// Where the audit trail goes.
    pub audit: crate::audit::Sink,
    /// Replacements for the built-in sign-in pages.
    pub templates: Option<std::path::PathBuf>,
    /// Dynamic Client Registration and its limits; `None`: off.
    pub registration: Option<crate::registration::Limits>,
}

impl RunOptions {
    pub fn keys_secret(&self) -> String {
        format!("{}-signing-keys", self.name)
    }
    pub fn jwks_configmap(&self) -> String {
        format!("{}-jwks", self.name)
    }
    pub fn lease(&self) -> String {
        format!("{}-leader", self.name)
    }
}

/// A replica's API clients. The watches retry on their own terms
/// (`watch.rs`): with the client's built-in retry they would first wait out
/// whatever `Retry-After` a starting API server sends (10 s with
/// kube-apiserver's "is starting" 503) and resume that much later. Every other
/// call — writes, the Lease, the store — keeps the client's retry of 429, 503
/// and 504.
#[derive(Clone)]
pub struct Clients {
    pub watches: Client,
    pub calls: Client,
}

impl Clients {
    pub fn from_config(config: kube::Config) -> Result<Clients, kube::Error> {
        let calls = Client::try_from(config.clone())?;
        let mut config = config;
        config.default_retry = false;
        Ok(Clients { watches: Client::try_from(config)?, calls })
    }
}

/// One client for both, as its maker shaped it.
impl From<&Client> for Clients {
    fn from(client: &Client) -> Clients {
        Clients { watches: client.clone(), calls: client.clone() }
    }
}

/// One compile's outcome, for the leader's writer.
pub struct Compiled {
    pub objects: Objects,
    pub snapshot: Arc<HubSnapshot>,
    pub statuses: Vec<ObjectStatus>,
    pub clients: std::collections::HashMap<keyward_core::model::ObjectKey, keyward_core::model::Client>,
}

/// A running replica.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub state: Arc<AppState>,
    pub leader: channel::Receiver<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The public and the admin listener.
    servers: Vec<Server>,
}

impl Running {
    pub fn stop(self) {
        for s in self.servers {
            s.abort();
        }
        for t in self.tasks {
            t.abort();
        }
    }

    /// Stops gracefully: both listeners stop accepting and let requests in
    /// flight finish within the grace; then the watches and the leader stop.
    pub async fn shutdown(self) {
        futures::future::join_all(self.servers.into_iter().map(Server::shutdown)).await;
        for t in self.tasks {
            t.abort();
        }
        self.state.audit.flush();
    }

    /// Runs until a task ends (none does on its own).
    pub async fn wait(&mut self) -> anyhow::Result<()> {
        if self.tasks.is_empty() {
            return Ok(());
        }
        let (r, _, rest) = futures::future::select_all(std::mem::take(&mut self.tasks)).await;
        for t in rest {
            t.abort();
        }
        r.map_err(|e| anyhow::anyhow!("a task stopped: {e}"))
    }
}

pub async fn start(clients: Clients, opts: RunOptions, clock: Clock) -> anyhow::Result<Running> {
    let client = clients.calls;
    crate::issuer::check_issuer(&opts.issuer)?;
    let settings =
        HubSettings { issuer: opts.issuer.clone(), defaults: opts.lifetimes.clone(), runtime: Runtime::Cluster };
    let metrics = Arc::new(Metrics::new());
    // Revocations and one-time uses are shared by the replicas through the API
    // server (store/kube.rs); the token path never reaches it.
    let kube_store = Arc::new(
        KubeStore::new(client.clone(), &opts.namespace, &opts.name)
            .context("cannot set up the cluster store")?
            .with_watch_client(clients.watches.clone()),
    );
    let store: Arc<dyn Store> = Arc::clone(&kube_store) as Arc<dyn Store>;
    let state = AppState::new(
        HubSnapshot::empty(settings.clone()),
        None,
        opts.key_algorithm,
        store,
        Arc::clone(&clock),
        crate::audit::Audit::new(Arc::clone(&metrics), opts.audit.clone()),
        crate::server::Outbound {
            fetcher: Some(
                crate::fetch::Fetcher::new(opts.fetch.clone()).context("cannot build the outbound HTTP client")?,
            ),
            cluster: Some(Arc::new(kube_issuer::KubeIssuer::start(client.clone()))),
        },
        crate::server::People {
            records: Some(Arc::clone(&kube_store) as Arc<dyn keyward_core::store::Records>),
            pages: crate::server::pages::Pages::load(opts.templates.as_deref())
                .map_err(|e| anyhow::anyhow!("cannot load the page templates: {e}"))?,
            registration: match opts.registration.clone() {
                None => None,
                Some(limits) => {
                    let registry = crate::registration::kube::KubeRegistry::new(client.clone(), &opts.namespace);
                    crate::registration::Registrar::new(Box::new(registry), limits)
                        .context("cannot set up client registration")?
                }
            },
        },
    );

    let listener = TcpListener::bind(opts.listen).await.with_context(|| format!("cannot listen on {}", opts.listen))?;
    let admin = TcpListener::bind(opts.admin_listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.admin_listen))?;
    let (addr, admin_addr) = (listener.local_addr()?, admin.local_addr()?);
    let mut tasks = Vec::new();
    let servers = vec![
        server::listener::spawn(listener, server::router(Arc::clone(&state)), opts.listener)?,
        server::listener::spawn(admin, server::admin_router(Arc::clone(&state)), opts.listener)?,
    ];

    let (watches, watch_tasks) = Watches::start(&clients.watches, &opts);
    tasks.extend(watch_tasks);
    let now = Arc::clone(&clock);
    tasks.push(tokio::spawn(kube_store.follow_revocations(move || now())));

    let (compiled_tx, compiled_rx) = channel::channel::<Option<Arc<Compiled>>>(None);
    tasks.push(tokio::spawn(compile_loop(watches.clone(), settings, Arc::clone(&state), compiled_tx)));
    tasks.push(tokio::spawn(keys::load_loop(watches.clone(), Arc::clone(&state))));

    let (leader_tx, leader_rx) = channel::channel(false);
    tasks.push(tokio::spawn(collector::collect_loop(Arc::clone(&state), leader_rx.clone(), opts.store_gc_interval)));
    tasks.push(tokio::spawn(writer::leader_loop(
        client,
        opts.clone(),
        Arc::clone(&state),
        watches,
        compiled_rx,
        leader_tx,
    )));
    tracing::info!(%addr, %admin_addr, issuer = %opts.issuer, identity = %opts.identity, "keyward running");
    Ok(Running { addr, admin_addr, state, leader: leader_rx, tasks, servers })
}

/// Recompiles after every burst of watch events, on every replica.
async fn compile_loop(
    watches: Watches,
    settings: HubSettings,
    state: Arc<AppState>,
    out: channel::Sender<Option<Arc<Compiled>>>,
) {
    let mut reporter = Reporter::default();
    let mut version = watches.config_version();
    watches.wait_synced().await;
    loop {
        version.borrow_and_update();
        let objects = watches.objects();
        let settings = settings.clone();
        let started = Instant::now();
        let built = tokio::task::spawn_blocking(move || {
            let inputs = inputs(&objects, settings);
            let compiled = compile(inputs.input);
            let statuses = merge(compiled.statuses, inputs.rejected);
            (objects, compiled.snapshot, statuses, inputs.clients)
        })
        .await;
        match built {
            Ok((objects, snapshot, statuses, clients)) => {
                state.metrics.compile_seconds.observe(started.elapsed().as_secs_f64());
                state.metrics.record_statuses(&statuses);
                reporter.log(&statuses, &[]);
                let snapshot = Arc::new(snapshot);
                state.hub.store(Arc::clone(&snapshot));
                state.set_synced(true);
                out.send_replace(Some(Arc::new(Compiled { objects, snapshot, statuses, clients })));
            }
            Err(e) => tracing::error!(error = %e, "compile task failed; the last snapshot stays in force"),
        }
        if version.changed().await.is_err() {
            return; // every watch task is gone
        }
        // Coalesce a burst (a `kubectl apply` of many objects) into one compile.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod mock_tests;
