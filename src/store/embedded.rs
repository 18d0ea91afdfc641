//! The embedded store: one redb file in the state directory, for
//! `keyward serve` and a single replica. redb takes an exclusive lock on the
//! file, so a second `keyward serve` on the same state directory fails at start
//! instead of corrupting it.
//!
//! Every write goes through one writer thread that commits in groups: the
//! writes queued while the previous commit was syncing share the next commit,
//! and each caller is answered once its write is durable. A durable commit
//! costs an fsync (docs/operator.md has the numbers); committing one per
//! assertion would cap the JWT bearer grant at one fsync per token, while a
//! group pays one fsync for all the requests in flight. Nothing is lost in a
//! crash, so a replay never succeeds after a restart, clean or not.
//!
//! Revocations are also mirrored in memory (loaded at open), so `is_revoked`
//! never touches the file. The user flows' records are not here but in their
//! own journal (`journal.rs` says why); a file from before that split has
//! its records moved over once, at start (`take_legacy_records`).

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use keyward_core::UnixTime;
use keyward_core::store::{Record, RecordKind, Store, StoreError, StoreFuture, Use};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use super::memory::{Ledger, poisoned};
use super::records;

/// `jti` → the token's `exp`: after that the entry can go.
const REVOKED: TableDefinition<&str, u64> = TableDefinition::new("revoked_jti");
/// One-time-use key → until when it counts.
const USED: TableDefinition<&str, u64> = TableDefinition::new("used_once");
/// Before the records journal: the user flows' records, their index and
/// version counter. Read once at start, moved to the journal, then dropped.
const LEGACY_RECORDS: TableDefinition<&str, &[u8]> = TableDefinition::new("records");
const LEGACY: [&str; 3] = ["records", "records_index", "meta"];

/// Writes waiting for the writer; beyond that callers get `Full` (503) rather
/// than an ever longer queue.
const QUEUE: usize = 8192;
/// The most writes one commit carries.
const MAX_GROUP: usize = 1024;

/// What the writer is asked to do.
enum Write {
    Revoke { jti: String, until: u64 },
    FirstUse { key: String, until: u64, now: u64 },
    Purge { now: u64 },
}

enum Outcome {
    Done,
    Use(Use),
    Removed(u64),
}

/// Where the writer sends the answer, once the commit is durable.
enum Reply {
    Done(oneshot::Sender<Result<(), StoreError>>),
    Use(oneshot::Sender<Result<Use, StoreError>>),
    Removed(oneshot::Sender<Result<u64, StoreError>>),
}

impl Reply {
    fn send(self, r: Result<Outcome, StoreError>) {
        // A caller that stopped waiting (its request was dropped) needs no
        // answer, so a failed send is ignored.
        match self {
            Reply::Done(s) => {
                let _ = s.send(r.map(|_| ()));
            }
            Reply::Use(s) => {
                let _ = s.send(r.and_then(|o| if let Outcome::Use(u) = o { Ok(u) } else { Err(mismatch()) }));
            }
            Reply::Removed(s) => {
                let _ = s.send(r.and_then(|o| if let Outcome::Removed(n) = o { Ok(n) } else { Err(mismatch()) }));
            }
        }
    }
}

fn mismatch() -> StoreError {
    StoreError::Backend("the store writer answered a different question".into())
}

pub struct EmbeddedStore {
    db: Arc<Database>,
    writer: Option<SyncSender<(Write, Reply)>>,
    thread: Option<JoinHandle<()>>,
    revoked: Mutex<Ledger>,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl EmbeddedStore {
    pub fn open(path: &Path) -> Result<EmbeddedStore, StoreError> {
        {
            // Owner-only from the first byte; redb then opens the existing file.
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        }
        let db = Database::create(path).map_err(|e| StoreError::Backend(format!("{}: {e}", path.display())))?;
        // Create the tables up front so readers never meet a missing table.
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(REVOKED).map_err(err)?;
        tx.open_table(USED).map_err(err)?;
        tx.commit().map_err(err)?;

        let mut revoked = Ledger::new(usize::MAX);
        {
            let tx = db.begin_read().map_err(err)?;
            let t = tx.open_table(REVOKED).map_err(err)?;
            for entry in t.iter().map_err(err)? {
                let (jti, until) = entry.map_err(err)?;
                revoked.insert(jti.value(), UnixTime(until.value()), UnixTime(0))?;
            }
        }
        let db = Arc::new(db);
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let for_writer = Arc::clone(&db);
        let thread = std::thread::Builder::new()
            .name("keyward-store".into())
            .spawn(move || writer(&for_writer, &rx))
            .map_err(|e| StoreError::Backend(format!("cannot start the store writer: {e}")))?;
        Ok(EmbeddedStore { db, writer: Some(tx), thread: Some(thread), revoked: Mutex::new(revoked) })
    }

    /// Hands `op` to the writer and waits for its answer without blocking a
    /// runtime thread.
    async fn send<T>(
        &self,
        write: Write,
        reply: Reply,
        answer: oneshot::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let writer = self.writer.as_ref().ok_or_else(|| StoreError::Backend("the store is closed".into()))?;
        match writer.try_send((write, reply)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(StoreError::Full(QUEUE)),
            Err(TrySendError::Disconnected(_)) => return Err(StoreError::Backend("the store writer stopped".into())),
        }
        answer.await.map_err(|_| StoreError::Backend("the store writer stopped".into()))?
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued and release
        // the file, so the same path can be opened again at once.
        self.writer.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The writer thread: one transaction per group of queued writes.
fn writer(db: &Database, rx: &Receiver<(Write, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(op) => group.push(op),
                Err(_) => break,
            }
        }
        let (writes, replies): (Vec<Write>, Vec<Reply>) = group.into_iter().unzip();
        // Nobody hears "first use" before the commit that recorded it is
        // durable; if the commit fails, every write of the group failed.
        match commit_group(db, &writes) {
            Ok(outcomes) => replies.into_iter().zip(outcomes).for_each(|(r, o)| r.send(Ok(o))),
            Err(e) => replies.into_iter().for_each(|r| r.send(Err(StoreError::Backend(e.to_string())))),
        }
    }
}

fn commit_group(db: &Database, writes: &[Write]) -> Result<Vec<Outcome>, StoreError> {
    let tx = db.begin_write().map_err(err)?;
    let mut outcomes = Vec::with_capacity(writes.len());
    {
        let mut revoked = tx.open_table(REVOKED).map_err(err)?;
        let mut used = tx.open_table(USED).map_err(err)?;
        for w in writes {
            outcomes.push(match w {
                Write::Revoke { jti, until } => {
                    let keep = revoked.get(jti.as_str()).map_err(err)?.map_or(*until, |v| v.value().max(*until));
                    revoked.insert(jti.as_str(), keep).map_err(err)?;
                    Outcome::Done
                }
                Write::FirstUse { key, until, now } => {
                    // Earlier writes of the same group are visible here, so a
                    // key sent twice in one group is first only once.
                    if used.get(key.as_str()).map_err(err)?.is_some_and(|v| v.value() > *now) {
                        Outcome::Use(Use::Replayed)
                    } else {
                        used.insert(key.as_str(), *until).map_err(err)?;
                        Outcome::Use(Use::First)
                    }
                }
                Write::Purge { now } => {
                    let mut removed = 0;
                    let mut expired = |_: &str, until: u64| {
                        let keep = until > *now;
                        removed += u64::from(!keep);
                        keep
                    };
                    revoked.retain(&mut expired).map_err(err)?;
                    used.retain(&mut expired).map_err(err)?;
                    Outcome::Removed(removed)
                }
            });
        }
    }
    tx.commit().map_err(err)?;
    Ok(outcomes)
}

impl Store for EmbeddedStore {
    fn revoke<'a>(&'a self, jti: &'a str, until: UnixTime) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            self.send(Write::Revoke { jti: jti.to_owned(), until: until.0 }, Reply::Done(reply), answer).await?;
            self.revoked.lock().map_err(poisoned)?.insert(jti, until, UnixTime(0))
        })
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.revoked.lock().map_err(poisoned)?.contains(jti))
    }

    fn first_use<'a>(&'a self, key: &'a str, until: UnixTime, now: UnixTime) -> StoreFuture<'a, Use> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let write = Write::FirstUse { key: key.to_owned(), until: until.0, now: now.0 };
            self.send(write, Reply::Use(reply), answer).await
        })
    }

    fn purge(&self, now: UnixTime) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let (reply, answer) = oneshot::channel();
            let n = self.send(Write::Purge { now: now.0 }, Reply::Removed(reply), answer).await?;
            self.revoked.lock().map_err(poisoned)?.purge(now);
            Ok(n)
        })
    }
}

impl EmbeddedStore {
    /// The records a file from before the records journal holds: unexpired
    /// or not (the journal's purge decides), undecodable ones skipped and
    /// counted in the log by number only.
    pub fn take_legacy_records(&self) -> Result<Vec<(RecordKind, String, Record)>, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = match tx.open_table(LEGACY_RECORDS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(err(e)),
        };
        let (mut out, mut skipped) = (Vec::new(), 0usize);
        for entry in t.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            let parsed = k.value().split_once('\0').and_then(|(kind, key)| {
                let kind = RecordKind::ALL.into_iter().find(|x| x.as_str() == kind)?;
                Some((kind, key.to_owned(), records::decode(v.value()).ok()?.1))
            });
            match parsed {
                Some(r) => out.push(r),
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            tracing::warn!(skipped, "records in the old layout that do not decode were not moved to the journal");
        }
        Ok(out)
    }

    /// Drops the old layout's tables, once their records are in the journal.
    pub fn drop_legacy_records(&self) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        for name in LEGACY {
            // Deleting goes by name only: the value type is not checked.
            let def: TableDefinition<&str, &[u8]> = TableDefinition::new(name);
            tx.delete_table(def).map_err(err)?;
        }
        tx.commit().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use super::*;

    fn path() -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        (dir, path)
    }

    #[tokio::test]
    async fn revocations_survive_reopening_and_are_purged_after_expiry() {
        let (_dir, path) = path();
        {
            let s = EmbeddedStore::open(&path).unwrap();
            s.revoke("a", UnixTime(100)).await.unwrap();
            s.revoke("b", UnixTime(200)).await.unwrap();
            assert!(s.is_revoked("a").unwrap(), "seen at once by the replica that revoked");
        }
        let s = EmbeddedStore::open(&path).unwrap();
        assert!(s.is_revoked("a").unwrap());
        assert!(!s.is_revoked("c").unwrap());
        assert_eq!(s.purge(UnixTime(150)).await.unwrap(), 1);
        assert!(!s.is_revoked("a").unwrap());
        assert!(s.is_revoked("b").unwrap());
    }

    #[tokio::test]
    async fn a_used_key_is_still_refused_after_a_restart_until_it_expires() {
        let (_dir, path) = path();
        {
            let s = EmbeddedStore::open(&path).unwrap();
            assert_eq!(s.first_use("iss\0jti", UnixTime(100), UnixTime(0)).await.unwrap(), Use::First);
        }
        let s = EmbeddedStore::open(&path).unwrap();
        assert_eq!(s.first_use("iss\0jti", UnixTime(100), UnixTime(10)).await.unwrap(), Use::Replayed);
        assert_eq!(s.first_use("iss\0other", UnixTime(100), UnixTime(10)).await.unwrap(), Use::First);
        assert_eq!(s.first_use("iss\0jti", UnixTime(300), UnixTime(100)).await.unwrap(), Use::First, "expired");
        assert_eq!(s.purge(UnixTime(150)).await.unwrap(), 1, "iss\\0other");
        assert_eq!(s.first_use("iss\0jti", UnixTime(300), UnixTime(150)).await.unwrap(), Use::Replayed);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_many_concurrent_uses_of_one_key_exactly_one_is_first() {
        let (_dir, path) = path();
        let s = Arc::new(EmbeddedStore::open(&path).unwrap());
        let tasks: Vec<_> = (0..32)
            .map(|i| {
                let s = Arc::clone(&s);
                tokio::spawn(async move {
                    let key = if i % 2 == 0 { "shared".to_owned() } else { format!("own-{i}") };
                    (i, s.first_use(&key, UnixTime(100), UnixTime(0)).await.unwrap())
                })
            })
            .collect();
        let mut shared_firsts = 0;
        for t in tasks {
            let (i, u) = t.await.unwrap();
            if i % 2 == 0 {
                shared_firsts += usize::from(u == Use::First);
            } else {
                assert_eq!(u, Use::First, "distinct keys are independent");
            }
        }
        assert_eq!(shared_firsts, 1);
    }

    #[tokio::test]
    async fn a_second_store_on_the_same_file_is_refused() {
        let (_dir, path) = path();
        let _first = EmbeddedStore::open(&path).unwrap();
        assert!(matches!(EmbeddedStore::open(&path), Err(StoreError::Backend(_))));
    }
}
