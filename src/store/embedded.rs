//! The embedded store: one redb file in the state directory. redb takes an
//! exclusive lock on the file, so a second `keyward serve` on the same state
//! directory fails at start instead of corrupting it.

use std::path::Path;

use keyward_core::UnixTime;
use keyward_core::store::{Store, StoreError};
use redb::{Database, ReadableDatabase, TableDefinition};

/// `jti` → the token's `exp`: after that the entry can go.
const REVOKED: TableDefinition<&str, u64> = TableDefinition::new("revoked_jti");

pub struct EmbeddedStore {
    db: Database,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
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
                .map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        }
        let db = Database::create(path).map_err(|e| StoreError(format!("{}: {e}", path.display())))?;
        // Create the table up front so readers never meet a missing table.
        let tx = db.begin_write().map_err(err)?;
        tx.open_table(REVOKED).map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(EmbeddedStore { db })
    }
}

impl Store for EmbeddedStore {
    fn revoke(&self, jti: &str, until: UnixTime) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        {
            let mut t = tx.open_table(REVOKED).map_err(err)?;
            t.insert(jti, until.0).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_read().map_err(err)?;
        let t = tx.open_table(REVOKED).map_err(err)?;
        Ok(t.get(jti).map_err(err)?.is_some())
    }

    fn purge(&self, now: UnixTime) -> Result<u64, StoreError> {
        let tx = self.db.begin_write().map_err(err)?;
        let mut removed = 0;
        {
            let mut t = tx.open_table(REVOKED).map_err(err)?;
            t.retain(|_, until| {
                let keep = until > now.0;
                removed += u64::from(!keep);
                keep
            })
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn revocations_survive_reopening_and_are_purged_after_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.redb");
        {
            let s = EmbeddedStore::open(&path).unwrap();
            s.revoke("a", UnixTime(100)).unwrap();
            s.revoke("b", UnixTime(200)).unwrap();
        }
        let s = EmbeddedStore::open(&path).unwrap();
        assert!(s.is_revoked("a").unwrap());
        assert!(!s.is_revoked("c").unwrap());
        assert_eq!(s.purge(UnixTime(150)).unwrap(), 1);
        assert!(!s.is_revoked("a").unwrap());
        assert!(s.is_revoked("b").unwrap());
    }
}
