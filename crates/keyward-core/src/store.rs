//! What the server writes at runtime goes through [`Store`]: the `jti`s of
//! revoked access tokens, and one-time use of assertions (RFC 7523 §3 item 7).
//! Backends live at the edge (an embedded file for one replica and
//! `keyward serve`; Kubernetes objects for several replicas). Entries carry the
//! time after which they may be forgotten, so a store never grows without bound.
//!
//! Writes may cross a network, so they are futures (std's boxed futures: the
//! core names no runtime). `is_revoked` is synchronous on purpose: every
//! backend answers it from memory, so introspection and token exchange never
//! wait on a disk or an API server.

use std::future::Future;
use std::pin::Pin;

use crate::time::UnixTime;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend refused or failed (an I/O or API error, its text).
    #[error("store backend: {0}")]
    Backend(String),
    /// The backend did not answer in time; the write may or may not have landed.
    #[error("store backend did not answer within {0} ms")]
    Timeout(u64),
    /// The backend has not loaded what it must know yet (a replica starting).
    #[error("store not ready: {0}")]
    NotReady(&'static str),
    /// A bounded store is full of unexpired entries. Refusing is the safe
    /// answer: forgetting an entry early would allow a replay.
    #[error("store full: {0} unexpired entries")]
    Full(usize),
}

/// A store write in flight.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The answer of [`Store::first_use`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Use {
    /// Recorded now: nobody used the key before.
    First,
    /// The key was already recorded and has not expired.
    Replayed,
}

pub trait Store: Send + Sync + 'static {
    /// Remembers that the access token `jti` is revoked until `until` (its
    /// `exp`). Idempotent.
    fn revoke<'a>(&'a self, jti: &'a str, until: UnixTime) -> StoreFuture<'a, ()>;

    /// Whether `jti` is revoked, from memory. `NotReady` while a backend has
    /// not yet learnt the revocations made before it started.
    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// Records `key` until `until` and says whether this is its first use
    /// among every replica sharing the store. Of two concurrent calls with the
    /// same key, exactly one gets [`Use::First`]. A record whose `until` has
    /// passed (`<= now`) no longer counts.
    fn first_use<'a>(&'a self, key: &'a str, until: UnixTime, now: UnixTime) -> StoreFuture<'a, Use>;

    /// Forgets entries whose time has passed; returns how many. Work per call
    /// is bounded; with a backend shared by replicas, one replica (the leader)
    /// calls it.
    fn purge(&self, now: UnixTime) -> StoreFuture<'_, u64>;

    /// Whether the store can answer `is_revoked` truthfully yet.
    fn is_ready(&self) -> bool {
        true
    }
}
