//! One-time use of assertions (`jti`, RFC 7523 §3 item 7), in memory.
//!
//! Kept in memory rather than in the store so the JWT bearer path writes
//! nothing durable (DESIGN.md: it stays stateless on the hot path). The price:
//! each replica remembers only what it saw, so with several replicas an
//! assertion could be used once per replica. Entries leave when the assertion
//! expires; the map is bounded, and a full map refuses new assertions rather
//! than forgetting old ones (forgetting would allow replays).

use std::collections::HashMap;
use std::sync::Mutex;

use keyward_core::error::ErrorCode;
use keyward_core::{OAuthError, UnixTime};

use super::AppState;

/// The one call site of one-time use: refuses an assertion whose `jti` this
/// `scope` (an issuer, or a client for client assertions) has seen before
/// `exp`. `invalid_grant` for a replay; 503 when the hub cannot remember.
pub async fn once(st: &AppState, scope: &str, jti: &str, exp: u64, now: UnixTime) -> Result<(), OAuthError> {
    match st.replay.first_use(scope, jti, exp, now) {
        FirstUse::Yes => Ok(()),
        FirstUse::Replayed => Err(OAuthError::new(ErrorCode::InvalidGrant, "the assertion was already used (jti)")),
        FirstUse::Full => {
            Err(OAuthError::new(ErrorCode::TemporarilyUnavailable, "too many assertions in flight, try again"))
        }
    }
}

pub struct ReplayCache {
    seen: Mutex<HashMap<String, u64>>,
    capacity: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum FirstUse {
    Yes,
    Replayed,
    Full,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> ReplayCache {
        ReplayCache { seen: Mutex::new(HashMap::new()), capacity }
    }

    /// Records `iss`+`jti` until `exp`; says whether this is its first use.
    pub fn first_use(&self, iss: &str, jti: &str, exp: u64, now: UnixTime) -> FirstUse {
        let Ok(mut seen) = self.seen.lock() else { return FirstUse::Full };
        let key = format!("{iss}\u{0}{jti}");
        if seen.get(&key).is_some_and(|until| *until > now.0) {
            return FirstUse::Replayed;
        }
        if seen.len() >= self.capacity {
            seen.retain(|_, until| *until > now.0);
            if seen.len() >= self.capacity {
                return FirstUse::Full;
            }
        }
        seen.insert(key, exp);
        FirstUse::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jti_is_accepted_once_until_it_expires_and_a_full_cache_refuses() {
        let c = ReplayCache::new(2);
        assert_eq!(c.first_use("i", "a", 100, UnixTime(0)), FirstUse::Yes);
        assert_eq!(c.first_use("i", "a", 100, UnixTime(50)), FirstUse::Replayed);
        assert_eq!(c.first_use("other", "a", 100, UnixTime(50)), FirstUse::Yes);
        assert_eq!(c.first_use("i", "b", 100, UnixTime(50)), FirstUse::Full);
        assert_eq!(c.first_use("i", "b", 300, UnixTime(100)), FirstUse::Yes, "expired entries make room");
    }
}
