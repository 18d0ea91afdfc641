//! Keys kept in the state directory (`keyward serve`): one JSON file, mode 0600,
//! replaced atomically, so a restart keeps signing with the same key and every
//! issued token stays verifiable.

use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use keyward_core::UnixTime;
use keyward_core::keys::{KeyAction, KeyMeta, RotationPolicy, apply, make_kid, plan};

use super::{KeyFile, KeySet, KeySetError, StoredKey, signer};
use crate::fsutil::{self, FsError};

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{path}: not a Keyward key file: {source}")]
    Parse { path: PathBuf, source: serde_json::Error },
    #[error(transparent)]
    KeySet(#[from] KeySetError),
    #[error(transparent)]
    Key(#[from] signer::KeyError),
    #[error("no randomness available")]
    Rng,
}

pub struct FileKeys {
    path: PathBuf,
    rng: SystemRandom,
}

impl FileKeys {
    pub fn new(state_dir: &Path) -> FileKeys {
        FileKeys { path: state_dir.join("signing-keys.json"), rng: SystemRandom::new() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<Vec<StoredKey>, KeyFileError> {
        match fsutil::read_optional(&self.path)? {
            None => Ok(Vec::new()),
            Some(bytes) => {
                let f: KeyFile = serde_json::from_slice(&bytes)
                    .map_err(|source| KeyFileError::Parse { path: self.path.clone(), source })?;
                Ok(f.keys)
            }
        }
    }

    /// Brings the stored ring in line with `policy` at `now`, saves it if it
    /// changed, and returns the key set plus whether anything changed.
    pub fn reconcile(&self, policy: &RotationPolicy, now: UnixTime) -> Result<(KeySet, bool), KeyFileError> {
        let mut stored = self.read()?;
        let changed = reconcile_ring(&mut stored, policy, now, &self.rng)?;
        if changed {
            let json = serde_json::to_vec_pretty(&KeyFile { keys: stored.clone() })
                .map_err(|source| KeyFileError::Parse { path: self.path.clone(), source })?;
            fsutil::write_private(&self.path, &json)?;
        }
        Ok((KeySet::build(&stored)?, changed))
    }
}

/// Runs the core's plan until it has nothing left to do.
pub fn reconcile_ring(
    stored: &mut Vec<StoredKey>,
    policy: &RotationPolicy,
    now: UnixTime,
    rng: &dyn SecureRandom,
) -> Result<bool, KeyFileError> {
    let mut changed = false;
    // Each round either finishes or moves a key one state on; four is more than
    // any ring needs.
    for _ in 0..4 {
        let ring: Vec<KeyMeta> = stored.iter().map(|k| k.meta.clone()).collect();
        let actions = plan(&ring, policy, now);
        if actions.is_empty() {
            break;
        }
        changed = true;
        for action in &actions {
            if let KeyAction::Generate { alg, state } = action {
                let mut r = [0u8; 4];
                rng.fill(&mut r).map_err(|_| KeyFileError::Rng)?;
                let der = signer::generate(*alg, rng)?;
                let activated = (*state == keyward_core::keys::KeyState::Active).then_some(now);
                stored.push(StoredKey {
                    meta: KeyMeta {
                        kid: make_kid(*alg, now, r),
                        alg: *alg,
                        state: *state,
                        created_at: now,
                        activated_at: activated,
                        retired_at: None,
                    },
                    pkcs8: base64::engine::general_purpose::STANDARD.encode(der),
                });
            } else {
                let mut ring: Vec<KeyMeta> = stored.iter().map(|k| k.meta.clone()).collect();
                apply(&mut ring, action, now);
                stored.retain(|k| ring.iter().any(|m| m.kid == k.meta.kid));
                for k in stored.iter_mut() {
                    if let Some(m) = ring.iter().find(|m| m.kid == k.meta.kid) {
                        k.meta = m.clone();
                    }
                }
            }
        }
    }
    Ok(changed)
}
