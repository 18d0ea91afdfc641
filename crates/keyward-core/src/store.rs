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

/// The record kinds of the user flows (`crate::session`). Each is its own
/// namespace of keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordKind {
    /// An `/authorize` request waiting for login and consent.
    Pending,
    /// A browser's login session.
    Login,
    /// An authorization code.
    Code,
    /// A refresh token.
    Refresh,
    /// A refresh-token family: everything one authorization issued.
    Family,
    /// A user's consent to one client for one Resource.
    Consent,
}

impl RecordKind {
    pub const ALL: [RecordKind; 6] = [
        RecordKind::Pending,
        RecordKind::Login,
        RecordKind::Code,
        RecordKind::Refresh,
        RecordKind::Family,
        RecordKind::Consent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordKind::Pending => "pending",
            RecordKind::Login => "login",
            RecordKind::Code => "code",
            RecordKind::Refresh => "refresh",
            RecordKind::Family => "family",
            RecordKind::Consent => "consent",
        }
    }
}

/// A record as a backend keeps it: opaque bytes (JSON of `crate::session`'s
/// types), when it may be forgotten, and one optional index value to list by
/// (a consent's subject).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub value: Vec<u8>,
    pub until: UnixTime,
    pub index: Option<String>,
}

/// A record read back, with the version a conditional write must name.
/// Versions are opaque: a counter in the embedded store, a
/// `resourceVersion` in the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub version: String,
    pub record: Record,
}

/// The answer of a conditional write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    /// Written; the record's new version.
    Done(String),
    /// `create`: the key exists. `replace`: the record changed since it was
    /// read, or is gone.
    Conflict,
}

/// Keyed records with optimistic concurrency: what the user flows need from
/// a backend, and no more, so a Kubernetes-object backend and a SQL one can
/// follow the embedded one. Keys are chosen by the caller and are safe in any
/// backend: lower-case hex or base64url digests of secrets (a code, a
/// refresh token, a session cookie), never the secrets themselves.
///
/// The contract, which `tests/integration/records_contract.rs` holds every
/// backend to:
/// - `create` succeeds for exactly one of concurrent callers with one key;
/// - `replace` succeeds only if the stored version is still `expected`, so of
///   two replicas racing on one refresh token exactly one wins;
/// - a record whose `until` has passed reads as absent (and can be created
///   anew), whether or not a purge has run;
/// - a write is durable when its future resolves `Ok`.
pub trait Records: Send + Sync + 'static {
    fn create<'a>(&'a self, kind: RecordKind, key: &'a str, record: Record, now: UnixTime) -> StoreFuture<'a, Write>;
    fn get<'a>(&'a self, kind: RecordKind, key: &'a str, now: UnixTime) -> StoreFuture<'a, Option<Stored>>;
    fn replace<'a>(
        &'a self,
        kind: RecordKind,
        key: &'a str,
        expected: &'a str,
        record: Record,
        now: UnixTime,
    ) -> StoreFuture<'a, Write>;
    /// `replace` of `key`, then `create` of `new_key` only if it landed: a
    /// refresh rotation. Backends that can make both one durable write (the
    /// embedded store: one commit) override this; the answer is the create's,
    /// or the replace's `Conflict`.
    #[allow(clippy::too_many_arguments)]
    fn replace_then_create<'a>(
        &'a self,
        kind: RecordKind,
        key: &'a str,
        expected: &'a str,
        record: Record,
        new_key: &'a str,
        new_record: Record,
        now: UnixTime,
    ) -> StoreFuture<'a, Write> {
        Box::pin(async move {
            match self.replace(kind, key, expected, record, now).await? {
                Write::Conflict => Ok(Write::Conflict),
                Write::Done(_) => self.create(kind, new_key, new_record, now).await,
            }
        })
    }

    /// Removes the record; `false` if it was not there.
    fn delete<'a>(&'a self, kind: RecordKind, key: &'a str) -> StoreFuture<'a, bool>;
    /// Unexpired records of a kind, all or those with this index value, with
    /// their keys, at most `limit`.
    fn list<'a>(
        &'a self,
        kind: RecordKind,
        index: Option<&'a str>,
        now: UnixTime,
        limit: usize,
    ) -> StoreFuture<'a, Vec<(String, Stored)>>;
    /// Forgets expired records; returns how many. Bounded work per call.
    fn purge_records(&self, now: UnixTime) -> StoreFuture<'_, u64>;
}
