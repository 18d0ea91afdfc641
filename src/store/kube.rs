//! The cluster store for several replicas of `keyward run`, with no database
//! besides the API server: every record is a Lease in the hub's namespace
//! (`record.rs` names them), created once and deleted by the leader's
//! collector after its expiry (Pinniped's approach; collecting is what keeps
//! Dex-style pile-ups away).
//!
//! - One-time use is `create`: the API server lets exactly one create of a
//!   name succeed, so of two replicas seeing the same assertion one gets
//!   201 and the other 409 AlreadyExists. Known uses are remembered locally,
//!   so a replay at the same replica costs no call.
//! - Revocation is `create` too (409 is fine: already revoked). Every replica
//!   follows the revocation records with a watch, so `is_revoked` is a memory
//!   lookup and introspection makes no API call.
//! - Every call has a deadline; an API error or timeout is a `StoreError`,
//!   which the server answers with 503.

mod record;
mod records;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use keyward_core::UnixTime;
use keyward_core::store::{Store, StoreError, StoreFuture, Use};
use kube::api::{DeleteParams, ListParams, PostParams, Preconditions};
use kube::core::PartialObjectMeta;
use kube::runtime::watcher;
use kube::{Api, Client};

use super::memory::{Ledger, poisoned};
pub use record::hash;
use record::{Kind, Naming};

/// The longest a store call may take before the request gets a 503.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// One-time uses remembered locally (the API server holds them all; this only
/// saves a call for a replay at the same replica).
const LOCAL_USES: usize = 100_000;
/// Collector bounds per pass: objects listed per page, pages, deletions.
pub const GC_PAGE: u32 = 500;
pub const GC_PAGES_PER_PASS: usize = 20;
pub const GC_DELETES_PER_PASS: u64 = 1000;
const GC_CONCURRENCY: usize = 8;

pub struct KubeStore {
    api: Api<Lease>,
    /// The user flows' records (`records.rs`), and their metadata for the collector.
    secrets: Api<k8s_openapi::api::core::v1::Secret>,
    secrets_meta: Api<PartialObjectMeta<k8s_openapi::api::core::v1::Secret>>,
    /// The same, metadata only: the watch and the collector need no more.
    meta: Api<PartialObjectMeta<Lease>>,
    /// The same records through a client that does not retry on its own
    /// (`with_watch_client`), so a restarting API server's `Retry-After`
    /// does not hold the revocation watch back.
    watch: Api<PartialObjectMeta<Lease>>,
    namespace: String,
    naming: Naming,
    timeout: Duration,
    /// Hashes of revoked `jti`s → until when, from the watch and own writes.
    revoked: Mutex<Ledger>,
    /// Hashes of keys known to be used → until when.
    used: Mutex<Ledger>,
    /// The revocation watch has listed once.
    synced: AtomicBool,
    /// Where the collector's next pass resumes listing.
    gc_cursor: Mutex<Option<String>>,
}

fn api_error(e: kube::Error) -> StoreError {
    StoreError::Backend(format!("Kubernetes API: {e}"))
}

fn status_of(e: &kube::Error) -> Option<&kube::core::Status> {
    match e {
        kube::Error::Api(s) => Some(s),
        _ => None,
    }
}

impl KubeStore {
    /// The store of the hub `name` (its `--name`) in `namespace`. Call
    /// [`KubeStore::follow_revocations`] on every replica.
    pub fn new(client: Client, namespace: &str, name: &str) -> Result<KubeStore, StoreError> {
        Ok(KubeStore {
            api: Api::namespaced(client.clone(), namespace),
            secrets: Api::namespaced(client.clone(), namespace),
            secrets_meta: Api::namespaced(client.clone(), namespace),
            meta: Api::namespaced(client.clone(), namespace),
            watch: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            naming: Naming::new(name)?,
            timeout: CALL_TIMEOUT,
            revoked: Mutex::new(Ledger::new(usize::MAX)),
            used: Mutex::new(Ledger::new(LOCAL_USES)),
            synced: AtomicBool::new(false),
            gc_cursor: Mutex::new(None),
        })
    }

    /// The client the revocation watch uses (see `controller::Clients`).
    pub fn with_watch_client(mut self, client: Client) -> KubeStore {
        self.watch = Api::namespaced(client, &self.namespace);
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> KubeStore {
        self.timeout = timeout;
        self
    }

    async fn call<T>(
        &self,
        f: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<Result<T, kube::Error>, StoreError> {
        tokio::time::timeout(self.timeout, f)
            .await
            .map_err(|_| StoreError::Timeout(u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX)))
    }

    /// Creates the record; `Ok(false)` when it already exists.
    async fn create(&self, kind: Kind, key: &str, until: UnixTime) -> Result<bool, StoreError> {
        let lease = self.naming.lease(&self.namespace, kind, key, until);
        match self.call(self.api.create(&PostParams::default(), &lease)).await? {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e).is_some_and(|s| s.is_already_exists()) => Ok(false),
            Err(e) => Err(api_error(e)),
        }
    }

    /// Every replica, for as long as it runs: follows the revocation records
    /// (a metadata-only watch, retried with backoff) into the local set
    /// `is_revoked` reads. `now` prunes what expired after each relist.
    pub async fn follow_revocations(self: Arc<Self>, now: impl Fn() -> UnixTime + Send) {
        let config = watcher::Config::default().labels(&record::selector(Some(Kind::Revoked)));
        let stream = watcher(self.watch.clone(), config);
        crate::watch_retry::follow(stream, "revocations", |e| self.observe(e, now())).await;
    }

    /// Applies one watch event to the local revocation set. A relist adds to
    /// the set rather than replacing it, so a revocation this replica just
    /// wrote is never dropped by a list that started before it; what expired
    /// is pruned at the end of the relist.
    pub fn observe(&self, event: watcher::Event<PartialObjectMeta<Lease>>, now: UnixTime) {
        let Ok(mut revoked) = self.revoked.lock() else { return };
        match event {
            watcher::Event::Apply(o) | watcher::Event::InitApply(o) => {
                if let Some(h) = self.revoked_hash(&o.metadata) {
                    let until = record::expiry(&o.metadata).unwrap_or(UnixTime(u64::MAX));
                    // The local set is unbounded: a revocation must never be dropped for room.
                    let _ = revoked.insert(h, until, now);
                }
            }
            watcher::Event::Delete(o) => {
                if let Some(h) = self.revoked_hash(&o.metadata) {
                    revoked.remove(h);
                }
            }
            watcher::Event::Init => {}
            watcher::Event::InitDone => {
                revoked.purge(now);
                if !self.synced.swap(true, Ordering::AcqRel) {
                    tracing::info!(revoked = revoked.len(), "revocations loaded");
                }
            }
        }
    }

    fn revoked_hash<'a>(&self, meta: &'a ObjectMeta) -> Option<&'a str> {
        match self.naming.parse(meta.name.as_deref()?)? {
            (Kind::Revoked, h) => Some(h),
            _ => None,
        }
    }

    /// One collector pass: lists records (resuming where the last pass
    /// stopped) and deletes the expired ones, each guarded by its
    /// resourceVersion so a record changed since the list is left alone.
    async fn collect(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut cursor = self.gc_cursor.lock().map_err(poisoned)?.take();
        let mut expired: Vec<(String, Option<String>)> = Vec::new();
        for _ in 0..GC_PAGES_PER_PASS {
            let mut lp = ListParams::default().labels(&record::selector(None)).limit(GC_PAGE);
            if let Some(c) = &cursor {
                lp = lp.continue_token(c);
            }
            let page = match self.call(self.meta.list(&lp)).await? {
                Ok(p) => p,
                // 410 Gone: the cursor outlived the API server's history; start over next pass.
                Err(e) if status_of(&e).is_some_and(|s| s.code == 410) => {
                    cursor = None;
                    break;
                }
                Err(e) => return Err(api_error(e)),
            };
            for o in &page.items {
                let ours = o.metadata.name.as_deref().is_some_and(|n| self.naming.parse(n).is_some());
                if ours && record::is_expired(&o.metadata, now) {
                    expired.push((o.metadata.name.clone().unwrap_or_default(), o.metadata.resource_version.clone()));
                }
            }
            cursor = page.metadata.continue_.filter(|c| !c.is_empty());
            if cursor.is_none() || expired.len() as u64 >= GC_DELETES_PER_PASS {
                break;
            }
        }
        *self.gc_cursor.lock().map_err(poisoned)? = cursor;
        expired.truncate(usize::try_from(GC_DELETES_PER_PASS).unwrap_or(usize::MAX));

        let results: Vec<Result<bool, StoreError>> = futures::stream::iter(expired)
            .map(|(name, rv)| async move {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions { resource_version: rv, uid: None }),
                    ..DeleteParams::default()
                };
                match self.call(self.api.delete(&name, &dp)).await? {
                    Ok(_) => Ok(true),
                    // Gone already, or changed since the list: nothing to do.
                    Err(e) if status_of(&e).is_some_and(|s| s.is_not_found() || s.is_conflict()) => Ok(false),
                    Err(e) => Err(api_error(e)),
                }
            })
            .buffer_unordered(GC_CONCURRENCY)
            .collect()
            .await;
        let deleted = results.iter().filter(|r| matches!(r, Ok(true))).count() as u64;
        match results.into_iter().find_map(Result::err) {
            Some(e) if deleted == 0 => Err(e),
            Some(e) => {
                tracing::warn!(error = %e, deleted, "some expired store records could not be deleted; retrying next pass");
                Ok(deleted)
            }
            None => Ok(deleted),
        }
    }
}

impl Store for KubeStore {
    fn revoke<'a>(&'a self, jti: &'a str, until: UnixTime) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.create(Kind::Revoked, jti, until).await?;
            // Seen at once here; the other replicas learn it from their watch.
            self.revoked.lock().map_err(poisoned)?.insert(&hash(jti), until, UnixTime(0))
        })
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        if !self.synced.load(Ordering::Acquire) {
            return Err(StoreError::NotReady("the revocation records are still being listed"));
        }
        Ok(self.revoked.lock().map_err(poisoned)?.contains(&hash(jti)))
    }

    fn first_use<'a>(&'a self, key: &'a str, until: UnixTime, now: UnixTime) -> StoreFuture<'a, Use> {
        Box::pin(async move {
            let h = hash(key);
            if self.used.lock().map_err(poisoned)?.holds(&h, now) {
                return Ok(Use::Replayed);
            }
            let first = self.create(Kind::Used, key, until).await?;
            // A full local memory only costs a call on the next replay.
            let _ = self.used.lock().map_err(poisoned)?.insert(&h, until, now);
            Ok(if first { Use::First } else { Use::Replayed })
        })
    }

    fn purge(&self, now: UnixTime) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            self.used.lock().map_err(poisoned)?.purge(now);
            self.collect(now).await
        })
    }

    fn is_ready(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests;
