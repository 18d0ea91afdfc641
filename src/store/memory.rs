//! An in-memory store for `keyward run` until the Kubernetes-object store
//! exists: revocations live as long as the replica and are not shared between
//! replicas. Stated in docs/operator.md; the trait keeps the swap local.

use std::collections::HashMap;
use std::sync::Mutex;

use keyward_core::UnixTime;
use keyward_core::store::{Store, StoreError};

#[derive(Default)]
pub struct MemoryStore {
    revoked: Mutex<HashMap<String, u64>>,
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError("memory store lock poisoned".into())
}

impl Store for MemoryStore {
    fn revoke(&self, jti: &str, until: UnixTime) -> Result<(), StoreError> {
        self.revoked.lock().map_err(poisoned)?.insert(jti.to_owned(), until.0);
        Ok(())
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        Ok(self.revoked.lock().map_err(poisoned)?.contains_key(jti))
    }

    fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let mut m = self.revoked.lock().map_err(poisoned)?;
        let before = m.len();
        m.retain(|_, until| *until > now.0);
        Ok((before - m.len()) as u64)
    }
}
