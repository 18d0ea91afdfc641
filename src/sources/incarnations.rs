//! What the API server's `metadata.uid` is to a cluster, for a folder: an id
//! for each OAuthClient that lives as long as its manifest does. Tokens carry
//! their client's id (`client_incarnation`), so a client whose manifest is
//! removed and later added again is a new client, and what the first one was
//! issued stays dead, as in a cluster.
//!
//! Kept in `<state-dir>/incarnations.json` (0600) so a restart of `keyward
//! serve` keeps tokens alive. A client that exists in the folder in any form
//! (valid, invalid, served from its last good version) keeps its id; one that
//! is gone from the folder at a load is forgotten. What `serve` cannot see is
//! a manifest removed and restored while it was stopped: that client keeps
//! its id.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use keyward_core::model::ObjectKey;

use super::folder::Folder;
use crate::fsutil::{self, FsError};

#[derive(Debug, thiserror::Error)]
pub enum IncarnationError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{0}: not an incarnations file; remove it (tokens issued before are then refused)")]
    Unreadable(PathBuf),
    #[error("no randomness available")]
    Rng,
}

pub struct Incarnations {
    path: PathBuf,
    rng: SystemRandom,
    /// `namespace/name` → id; `None` until first read from disk.
    ids: Mutex<Option<BTreeMap<String, String>>>,
}

/// Every OAuthClient the folder holds in any form.
fn present(folder: &Folder) -> BTreeSet<String> {
    let docs = folder.docs().map(|(_, d)| &d.identity);
    let broken = folder.reports().flat_map(|(_, r)| r.errors.iter().filter_map(|e| e.identity.as_ref()));
    docs.chain(broken)
        .filter(|id| id.kind == "OAuthClient")
        .map(|id| ObjectKey::new(id.namespace.clone(), id.name.clone()).to_string())
        .collect()
}

impl Incarnations {
    pub fn new(state_dir: &Path) -> Incarnations {
        Incarnations { path: state_dir.join("incarnations.json"), rng: SystemRandom::new(), ids: Mutex::new(None) }
    }

    /// Brings the ids in line with the folder (new clients get one, gone
    /// clients lose theirs, saved if anything changed) and returns them by
    /// `namespace/name`.
    pub fn sync(&self, folder: &Folder) -> Result<BTreeMap<String, String>, IncarnationError> {
        let mut guard = self.ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let ids = match guard.as_mut() {
            Some(ids) => ids,
            None => guard.insert(self.read()?),
        };
        let present = present(folder);
        let before = ids.len();
        ids.retain(|k, _| present.contains(k));
        let mut changed = ids.len() != before;
        for key in present {
            if let std::collections::btree_map::Entry::Vacant(slot) = ids.entry(key) {
                // 128 bits: ids must never repeat across incarnations.
                let mut raw = [0u8; 16];
                self.rng.fill(&mut raw).map_err(|_| IncarnationError::Rng)?;
                slot.insert(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw));
                changed = true;
            }
        }
        if changed {
            let json = serde_json::to_vec_pretty(&*ids).map_err(|_| IncarnationError::Unreadable(self.path.clone()))?;
            fsutil::write_private(&self.path, &json)?;
        }
        Ok(ids.clone())
    }

    fn read(&self) -> Result<BTreeMap<String, String>, IncarnationError> {
        match fsutil::read_optional(&self.path)? {
            None => Ok(BTreeMap::new()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|_| IncarnationError::Unreadable(self.path.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const CLIENT: &str =
        "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata:\n  name: a\nspec:\n  displayName: A\n";

    fn folder(dir: &Path) -> Folder {
        let mut f = Folder::new(dir, "default");
        f.scan().unwrap();
        f
    }

    #[test]
    fn a_client_keeps_its_id_across_loads_and_restarts_and_gets_a_new_one_when_re_added() {
        let (manifests, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(manifests.path().join("c.yaml"), CLIENT).unwrap();
        let first = Incarnations::new(state.path()).sync(&folder(manifests.path())).unwrap();
        let id = first.get("default/a").cloned().unwrap();

        let registry = Incarnations::new(state.path());
        assert_eq!(registry.sync(&folder(manifests.path())).unwrap().get("default/a"), Some(&id));

        std::fs::remove_file(manifests.path().join("c.yaml")).unwrap();
        assert!(registry.sync(&folder(manifests.path())).unwrap().is_empty());
        std::fs::write(manifests.path().join("c.yaml"), CLIENT).unwrap();
        let again = registry.sync(&folder(manifests.path())).unwrap();
        assert_ne!(again.get("default/a"), Some(&id));
    }

    #[test]
    fn a_client_whose_manifest_is_broken_keeps_its_id() {
        let (manifests, state) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        std::fs::write(manifests.path().join("c.yaml"), CLIENT).unwrap();
        let registry = Incarnations::new(state.path());
        let id = registry.sync(&folder(manifests.path())).unwrap().get("default/a").cloned();
        std::fs::write(manifests.path().join("c.yaml"), format!("{CLIENT}  tags: 3\n")).unwrap();
        assert_eq!(registry.sync(&folder(manifests.path())).unwrap().get("default/a").cloned(), id);
    }
}
