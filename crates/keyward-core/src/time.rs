//! Time as the core sees it: whole seconds since the Unix epoch, always passed in
//! by the caller so expiry and rotation are testable without a clock.

use serde::Serialize;
use std::time::Duration;

/// Seconds since 1970-01-01T00:00:00Z. JWT `NumericDate` (RFC 7519 §2) without
/// fractions, which is what every verifier compares against.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UnixTime(pub u64);

impl UnixTime {
    pub fn plus(self, d: Duration) -> UnixTime {
        UnixTime(self.0.saturating_add(d.as_secs()))
    }

    /// How long from `self` until `later`; zero when `later` is not later.
    pub fn until(self, later: UnixTime) -> Duration {
        Duration::from_secs(later.0.saturating_sub(self.0))
    }
}
