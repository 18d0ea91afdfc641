//! `keyward serve`: the hub on a folder of manifests, with no cluster.
//!
//! Wires the folder source, the state directory (keys, generated credentials,
//! the embedded store) and the HTTP server, then keeps them current: the folder
//! is polled and recompiled on change, keys are rotated on schedule. Polling
//! rather than inotify: it also sees the symlink swaps of a mounted ConfigMap,
//! and one `stat` per file per second is nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use keyward_core::compile;
use keyward_core::keys::{Algorithm, RotationPolicy};
use keyward_core::snapshot::{HubSettings, Lifetimes, Runtime};
use keyward_core::store::Store;
use tokio::net::TcpListener;

use crate::assembly::client_secret::{Desired, Owner};
use crate::keys::file::FileKeys;
use crate::metrics::Metrics;
use crate::report::{Reporter, merge};
use crate::server::listener::{Drained, Limits, Server};
use crate::server::{self, AppState, Clock};
use crate::sources::ClientRef;
use crate::sources::credentials::GeneratedCredentials;
use crate::sources::incarnations::Incarnations;
use crate::sources::{assemble, folder::Folder};
use crate::store::{EmbeddedStore, JournalRecords};
use keyward_core::UnixTime;
use keyward_core::store::Records as _;

#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub manifests: PathBuf,
    pub listen: SocketAddr,
    pub state_dir: PathBuf,
    /// Defaults to `http://<listen>`.
    pub issuer: Option<String>,
    pub namespace: String,
    pub key_algorithm: Algorithm,
    pub key_rotation: Duration,
    pub poll_interval: Duration,
    pub lifetimes: Lifetimes,
    /// Outbound fetches of trusted issuers' keys and userinfo.
    pub fetch: crate::fetch::FetchPolicy,
    /// Timeouts, connection cap and shutdown grace of the HTTP listener.
    pub listener: Limits,
    /// Where the audit trail goes.
    pub audit: crate::audit::Sink,
    /// Replacements for the built-in sign-in pages.
    pub templates: Option<std::path::PathBuf>,
    /// Dynamic Client Registration, metadata documents and their limits;
    /// `None`: both off.
    pub registration: Option<crate::registration::Limits>,
}

/// A running hub: its address and state, for tests and for `main`.
pub struct Hub {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    pub issuer: String,
    server: Server,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Hub {
    /// Stops gracefully: no new connections, requests in flight finish within
    /// the listener's grace, then the background tasks stop.
    pub async fn shutdown(self) -> Drained {
        let drained = self.server.shutdown().await;
        for t in self.tasks {
            t.abort();
        }
        self.state.audit.flush();
        drained
    }

    /// Stops at once, dropping connections.
    pub fn stop(self) {
        self.server.abort();
        for t in self.tasks {
            t.abort();
        }
    }
}

pub async fn start(opts: ServeOptions, clock: Clock) -> anyhow::Result<Hub> {
    crate::fsutil::create_private_dir(&opts.state_dir)?;
    let listener = TcpListener::bind(opts.listen).await.with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let issuer = match &opts.issuer {
        Some(i) => i.clone(),
        None if addr.ip().is_unspecified() => format!("http://127.0.0.1:{}", addr.port()),
        None => format!("http://{addr}"),
    };
    crate::issuer::check_issuer(&issuer)?;
    let settings = HubSettings { issuer: issuer.clone(), defaults: opts.lifetimes.clone(), runtime: Runtime::Folder };

    let key_file = Arc::new(FileKeys::new(&opts.state_dir));
    let (algorithm, rotate_after) = (opts.key_algorithm, opts.key_rotation);
    let policy = move |retain: Duration| RotationPolicy {
        algorithm,
        rotate_after,
        publish_ahead: Duration::from_secs(3600).min(rotate_after / 4),
        retain_after_retire: retain,
    };
    // Until a snapshot says otherwise, keep retired keys for the longest default.
    let existed = key_file.path().exists();
    let (keys, changed) = key_file.reconcile(&policy(opts.lifetimes.access_token), clock())?;
    let what = match (existed, changed) {
        (false, _) => "signing key generated",
        (true, true) => "signing keys loaded and rotated",
        (true, false) => "signing key loaded",
    };
    tracing::info!(file = %key_file.path().display(), kid = %keys.active.kid, alg = keys.active.alg.as_str(), "{what}");

    let embedded = Arc::new(
        EmbeddedStore::open(&opts.state_dir.join("state.redb"))
            .context("cannot open the state store (is another keyward serve using this state directory?)")?,
    );
    let journal = Arc::new(
        JournalRecords::open(&opts.state_dir.join("records.journal")).context("cannot open the records journal")?,
    );
    move_legacy_records(&embedded, journal.as_ref()).await.context("cannot move records to the journal")?;
    let store: Arc<dyn Store> = embedded;
    let records: Arc<dyn keyward_core::store::Records> = Arc::clone(&journal) as _;

    let generated = Arc::new(GeneratedCredentials::new(&opts.state_dir));
    let incarnations = Arc::new(Incarnations::new(&opts.state_dir));
    let mut folder =
        Folder::new(&opts.manifests, &opts.namespace).with_extra(opts.state_dir.join(crate::registration::folder::DIR));
    let registered = Arc::new(tokio::sync::Notify::new());
    let registration = match opts.registration.clone() {
        None => None,
        Some(limits) => {
            let registry = crate::registration::folder::FolderRegistry::new(
                &opts.state_dir,
                &opts.namespace,
                Arc::clone(&registered),
            );
            crate::registration::Registrar::new(Box::new(registry), limits)
                .context("cannot set up client registration")?
        }
    };
    folder.scan().with_context(|| format!("cannot read manifests in {}", opts.manifests.display()))?;
    let mut reporter = Reporter::serving(settings.clone());
    let snapshot = load(&folder, &settings, &generated, &incarnations, &mut reporter, clock())?;
    let fetcher = crate::fetch::Fetcher::new(opts.fetch.clone()).context("cannot build the outbound HTTP client")?;
    let outbound = crate::server::Outbound { fetcher: Some(fetcher), cluster: None };
    let state = AppState::new(
        snapshot,
        Some(keys),
        opts.key_algorithm,
        Arc::clone(&store),
        Arc::clone(&clock),
        crate::audit::Audit::new(Arc::new(Metrics::new()), opts.audit.clone()),
        outbound,
        crate::server::People {
            records: Some(records),
            pages: crate::server::pages::Pages::load(opts.templates.as_deref())
                .map_err(|e| anyhow::anyhow!("cannot load the page templates: {e}"))?,
            registration,
        },
    );
    state.set_synced(true);

    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(reload_loop(
        folder,
        settings,
        generated,
        incarnations,
        reporter,
        Arc::clone(&state),
        Triggers { every: opts.poll_interval, registered },
    )));
    {
        let state = Arc::clone(&state);
        let default_ttl = opts.lifetimes.access_token;
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                // Retired keys stay published until every token they signed has
                // expired, plus a minute of clock skew.
                let retain =
                    state.hub.load().longest_access_token_lifetime().max(default_ttl) + Duration::from_secs(60);
                let now = state.now();
                let kf = Arc::clone(&key_file);
                let p = policy(retain);
                match tokio::task::spawn_blocking(move || kf.reconcile(&p, now)).await {
                    Ok(Ok((keys, true))) => {
                        tracing::info!(kid = %keys.active.kid, "signing keys rotated");
                        state.keys.store(Some(Arc::new(keys)));
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::error!(error = %e, "key rotation failed; the current keys stay in force"),
                    Err(e) => tracing::error!(error = %e, "key rotation task failed"),
                }
                let purged = match state.store.purge(now).await {
                    Ok(n) => journal.purge_records(now).await.map(|m| n + m),
                    Err(e) => Err(e),
                };
                match purged {
                    Ok(n) => {
                        state.metrics.store_records_purged.inc_by(n);
                    }
                    Err(e) => tracing::warn!(error = %e, "could not purge expired store records"),
                }
            }
        }));
    }

    let app = server::router(Arc::clone(&state)).merge(server::metrics_router(Arc::clone(&state)));
    let server = server::listener::spawn(listener, app, opts.listener)?;
    tracing::info!(%addr, %issuer, manifests = %opts.manifests.display(), state_dir = %opts.state_dir.display(), "keyward serving");
    Ok(Hub { addr, state, issuer, server, tasks })
}

/// Moves a state file's records from before the journal into it, once:
/// users stay signed in across the upgrade. Idempotent (a record already in
/// the journal is not created again), so a crash between the two steps only
/// repeats the move.
async fn move_legacy_records(embedded: &EmbeddedStore, journal: &JournalRecords) -> anyhow::Result<()> {
    let legacy = embedded.take_legacy_records()?;
    if legacy.is_empty() {
        return Ok(());
    }
    let n = legacy.len();
    for (kind, key, record) in legacy {
        // `now` 0: any record already in the journal counts as live there.
        journal.create(kind, &key, record, keyward_core::UnixTime(0)).await?;
    }
    embedded.drop_legacy_records()?;
    tracing::info!(records = n, "records moved from the state file to the records journal");
    Ok(())
}

/// One load of the folder. Fails only when the clients' incarnations cannot
/// be kept: serving without them could revive a deleted client's tokens.
fn load(
    folder: &Folder,
    settings: &HubSettings,
    generated: &GeneratedCredentials,
    incarnations: &Incarnations,
    reporter: &mut Reporter,
    now: UnixTime,
) -> anyhow::Result<keyward_core::HubSnapshot> {
    let ids = incarnations.sync(folder).context("cannot keep the clients' incarnations")?;
    // The folder's credentials follow the cluster's plan; the client's
    // incarnation stands in for the owner's uid.
    let make = |r: &ClientRef<'_>| {
        let key = &r.client.meta.key;
        let uid = ids.get(&key.to_string()).map_or("", String::as_str);
        let desired = Desired {
            owner: Owner { name: &key.name, namespace: &key.namespace, uid },
            client: r.client,
            client_id: r.client_id,
            settings,
            audiences: r.audiences.clone(),
            now,
        };
        generated.ensure(&desired)
    };
    let mut loaded = assemble(folder, settings.clone(), &make);
    for c in &mut loaded.input.clients {
        c.meta.uid = ids.get(&c.meta.key.to_string()).cloned();
    }
    for line in &loaded.info {
        tracing::info!("{line}");
    }
    let compiled = compile(loaded.input);
    reporter.log(&merge(compiled.statuses, loaded.statuses), &loaded.notes);
    Ok(compiled.snapshot)
}

/// When the folder is read again: every `every`, and at once when a client
/// registers or is deleted.
struct Triggers {
    every: Duration,
    registered: Arc<tokio::sync::Notify>,
}

async fn reload_loop(
    folder: Folder,
    settings: HubSettings,
    generated: Arc<GeneratedCredentials>,
    incarnations: Arc<Incarnations>,
    reporter: Reporter,
    state: Arc<AppState>,
    triggers: Triggers,
) {
    let Triggers { every, registered } = triggers;
    let shared = Arc::new(std::sync::Mutex::new((folder, reporter)));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // A registration is waiting for its client: read the folder now.
        tokio::select! {
            _ = tick.tick() => {}
            () = registered.notified() => {}
        }
        let (shared, settings, generated, incarnations) =
            (Arc::clone(&shared), settings.clone(), Arc::clone(&generated), Arc::clone(&incarnations));
        let now = state.now();
        let result = tokio::task::spawn_blocking(move || {
            let mut guard = shared.lock().map_err(|_| anyhow::anyhow!("loader state poisoned"))?;
            let (folder, reporter) = &mut *guard;
            if !folder.scan()? {
                return Ok(None);
            }
            anyhow::Ok(Some(load(folder, &settings, &generated, &incarnations, reporter, now)?))
        })
        .await;
        match result {
            Ok(Ok(Some(snapshot))) => {
                state.hub.store(Arc::new(snapshot));
                tracing::info!("configuration reloaded");
            }
            Ok(Ok(None)) => {}
            // The last good snapshot stays in force.
            Ok(Err(e)) => tracing::error!(error = %e, "cannot reload manifests"),
            Err(e) => tracing::error!(error = %e, "reload task failed"),
        }
    }
}
