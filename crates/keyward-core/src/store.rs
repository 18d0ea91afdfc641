//! What the server writes at runtime goes through [`Store`]: for now the `jti`s
//! of revoked access tokens. Backends live at the edge (an embedded file for one
//! replica and `keyward serve`; Kubernetes objects later). Entries carry the
//! time after which they may be forgotten, so a store never grows without bound.

use crate::time::UnixTime;

#[derive(Debug, thiserror::Error)]
#[error("store: {0}")]
pub struct StoreError(pub String);

pub trait Store: Send + Sync + 'static {
    /// Remembers that the token `jti` is revoked until it would have expired.
    fn revoke(&self, jti: &str, until: UnixTime) -> Result<(), StoreError>;
    /// Whether `jti` is revoked.
    fn is_revoked(&self, jti: &str) -> Result<bool, StoreError>;
    /// Forgets entries whose time has passed; returns how many.
    fn purge(&self, now: UnixTime) -> Result<u64, StoreError>;
}
