//! Expiring records in memory: [`Ledger`], the map every backend keeps in
//! front of its storage, and [`MemoryStore`], a whole store made of two of
//! them — for tests, and the reference for what the other backends must do.
//! Nothing here outlives the process or is shared between replicas.

use std::collections::HashMap;
use std::sync::Mutex;

use keyward_core::UnixTime;
use keyward_core::store::{Store, StoreError, StoreFuture, Use};

/// Keys with the time until which they count. A record counts while
/// `until > now`; expired records are dropped by [`Ledger::purge`] or when the
/// ledger is full.
pub struct Ledger {
    entries: HashMap<String, u64>,
    capacity: usize,
    /// The `now` of the last sweep for room: within the same second nothing
    /// more can have expired, so a full ledger is not swept again per call.
    swept_at: Option<u64>,
}

impl Ledger {
    pub fn new(capacity: usize) -> Ledger {
        Ledger { entries: HashMap::new(), capacity, swept_at: None }
    }

    /// Whether `key` is recorded, expired or not (the caller knows no time).
    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// Whether `key` is recorded and unexpired at `now`.
    pub fn holds(&self, key: &str, now: UnixTime) -> bool {
        self.entries.get(key).is_some_and(|until| *until > now.0)
    }

    /// Records `key` until `until` (keeping the later time if it is already
    /// there). `Full` when there is no room even after dropping what expired.
    pub fn insert(&mut self, key: &str, until: UnixTime, now: UnixTime) -> Result<(), StoreError> {
        if let Some(t) = self.entries.get_mut(key) {
            *t = (*t).max(until.0);
            return Ok(());
        }
        self.make_room(now)?;
        self.entries.insert(key.to_owned(), until.0);
        Ok(())
    }

    /// Records `key` unless an unexpired record of it exists.
    pub fn first_use(&mut self, key: &str, until: UnixTime, now: UnixTime) -> Result<Use, StoreError> {
        if self.holds(key, now) {
            return Ok(Use::Replayed);
        }
        self.entries.remove(key);
        self.make_room(now)?;
        self.entries.insert(key.to_owned(), until.0);
        Ok(Use::First)
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Drops expired records; returns how many.
    pub fn purge(&mut self, now: UnixTime) -> u64 {
        let before = self.entries.len();
        self.entries.retain(|_, until| *until > now.0);
        (before - self.entries.len()) as u64
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn make_room(&mut self, now: UnixTime) -> Result<(), StoreError> {
        if self.entries.len() >= self.capacity {
            if self.swept_at != Some(now.0) {
                self.swept_at = Some(now.0);
                self.purge(now);
            }
            if self.entries.len() >= self.capacity {
                return Err(StoreError::Full(self.entries.len()));
            }
        }
        Ok(())
    }
}

/// The most records of each kind a [`MemoryStore`] holds.
pub const MEMORY_CAPACITY: usize = 1_000_000;

pub struct MemoryStore {
    revoked: Mutex<Ledger>,
    used: Mutex<Ledger>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::with_capacity(MEMORY_CAPACITY)
    }
}

impl MemoryStore {
    pub fn with_capacity(capacity: usize) -> MemoryStore {
        MemoryStore { revoked: Mutex::new(Ledger::new(capacity)), used: Mutex::new(Ledger::new(capacity)) }
    }
}

pub(crate) fn poisoned<T>(_: T) -> StoreError {
    StoreError::Backend("a store lock was poisoned by a panic".into())
}

impl Store for MemoryStore {
    fn revoke<'a>(&'a self, jti: &'a str, until: UnixTime) -> StoreFuture<'a, ()> {
        // Revocations are dropped by `purge` only; `until` is the latest time a
        // revocation matters, so nothing earlier can make room.
        let r = self.revoked.lock().map_err(poisoned).and_then(|mut l| l.insert(jti, until, UnixTime(0)));
        Box::pin(std::future::ready(r))
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.revoked.lock().map_err(poisoned)?.contains(jti))
    }

    fn first_use<'a>(&'a self, key: &'a str, until: UnixTime, now: UnixTime) -> StoreFuture<'a, Use> {
        let r = self.used.lock().map_err(poisoned).and_then(|mut l| l.first_use(key, until, now));
        Box::pin(std::future::ready(r))
    }

    fn purge(&self, now: UnixTime) -> StoreFuture<'_, u64> {
        let r = (|| {
            let revoked = self.revoked.lock().map_err(poisoned)?.purge(now);
            let used = self.used.lock().map_err(poisoned)?.purge(now);
            Ok(revoked + used)
        })();
        Box::pin(std::future::ready(r))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn block<T>(f: StoreFuture<'_, T>) -> Result<T, StoreError> {
        futures::executor::block_on(f)
    }

    #[test]
    fn a_key_is_used_once_until_it_expires_then_may_be_used_again() {
        let s = MemoryStore::default();
        assert_eq!(block(s.first_use("k", UnixTime(100), UnixTime(0))).unwrap(), Use::First);
        assert_eq!(block(s.first_use("k", UnixTime(100), UnixTime(99))).unwrap(), Use::Replayed);
        assert_eq!(block(s.first_use("other", UnixTime(100), UnixTime(99))).unwrap(), Use::First);
        assert_eq!(block(s.first_use("k", UnixTime(200), UnixTime(100))).unwrap(), Use::First, "expired at 100");
        assert_eq!(block(s.first_use("k", UnixTime(200), UnixTime(150))).unwrap(), Use::Replayed);
    }

    #[test]
    fn a_full_ledger_makes_room_from_expired_records_and_otherwise_refuses() {
        let s = MemoryStore::with_capacity(2);
        block(s.first_use("a", UnixTime(100), UnixTime(0))).unwrap();
        block(s.first_use("b", UnixTime(300), UnixTime(0))).unwrap();
        let full = block(s.first_use("c", UnixTime(300), UnixTime(50)));
        assert!(matches!(full, Err(StoreError::Full(2))), "{full:?}");
        assert_eq!(block(s.first_use("c", UnixTime(300), UnixTime(100))).unwrap(), Use::First, "a expired");
        assert_eq!(block(s.first_use("b", UnixTime(300), UnixTime(100))).unwrap(), Use::Replayed);
    }

    #[test]
    fn revocations_are_idempotent_and_purged_after_expiry() {
        let s = MemoryStore::default();
        block(s.revoke("a", UnixTime(100))).unwrap();
        block(s.revoke("a", UnixTime(100))).unwrap();
        block(s.revoke("b", UnixTime(200))).unwrap();
        assert!(s.is_revoked("a").unwrap());
        assert!(!s.is_revoked("c").unwrap());
        block(s.first_use("u", UnixTime(120), UnixTime(0))).unwrap();
        assert_eq!(block(s.purge(UnixTime(150))).unwrap(), 2, "a and u");
        assert!(!s.is_revoked("a").unwrap());
        assert!(s.is_revoked("b").unwrap());
    }

    #[test]
    fn inserting_an_existing_key_keeps_the_later_expiry() {
        let mut l = Ledger::new(10);
        l.insert("k", UnixTime(200), UnixTime(0)).unwrap();
        l.insert("k", UnixTime(100), UnixTime(0)).unwrap();
        assert!(l.holds("k", UnixTime(150)));
        assert_eq!(l.purge(UnixTime(200)), 1);
        assert!(l.is_empty());
    }
}
