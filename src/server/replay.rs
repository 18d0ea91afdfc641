//! One-time use of assertions (`jti`, RFC 7523 §3 item 7), through the store:
//! with `keyward serve` the embedded file (a replay stays refused across a
//! restart), in a cluster a record in the API server (refused at every
//! replica). This is the one place that asks; callers name the scope.

use keyward_core::grant::jwt_bearer::LEEWAY;
use keyward_core::store::Use;
use keyward_core::{OAuthError, UnixTime};

use super::AppState;
use super::error::store_unavailable;

/// Records the `jti` of an assertion under its `scope` (an issuer, or a client
/// for client assertions) and says whether this was its first use; each
/// caller words a replay in its own error. 503 when the hub cannot remember
/// (the store failed or is full): never accepted unchecked.
///
/// The record lasts until `exp` plus the clock-skew leeway, the last moment the
/// assertion is still accepted.
pub async fn once(st: &AppState, scope: &str, jti: &str, exp: u64, now: UnixTime) -> Result<Use, OAuthError> {
    let until = UnixTime(exp.saturating_add(LEEWAY));
    let key = format!("{scope}\u{0}{jti}");
    let used = st.store.first_use(&key, until, now).await;
    st.metrics.one_time_use(used.as_ref().ok().copied());
    match used {
        Ok(used) => Ok(used),
        Err(e) => Err(store_unavailable(&e, "the hub cannot check assertions for replay right now, try again")),
    }
}
