//! The document cache: freshness from `Cache-Control`, one fetch in flight
//! per key (single-flight), the last good copy served when a refresh fails
//! (stale-while-error), and a per-key limit on how often a fetch may start.
//!
//! Fetches run as their own tasks, so a caller that gives up (its request was
//! cancelled) does not abort a fetch others are waiting for, and only callers
//! that need this key ever wait on it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::{BoxFuture, Shared};

use super::FetchError;

/// How long a document stays fresh: `max-age` clamped to `[min, max]`,
/// `default` without one.
#[derive(Clone, Copy, Debug)]
pub struct Ttl {
    pub min: Duration,
    pub max: Duration,
    pub default: Duration,
}

/// The freshness lifetime of a response, from its `Cache-Control` values (all
/// of them: the header may repeat) and its `Age` (time it already spent in a
/// shared cache on the way).
///
/// `no-store` and `no-cache` mean "do not reuse"; we still keep the copy for
/// `min`, because refetching per token would hand the issuer's availability —
/// and an attacker's request rate — straight to it. A malformed `max-age` is
/// treated as stale (RFC 9111 §4.2.1), which also ends at `min`.
pub fn freshness(cache_control: &[&str], age: Option<&str>, ttl: &Ttl) -> Duration {
    let mut max_age: Option<u64> = None;
    for directive in cache_control.iter().flat_map(|v| v.split(',')) {
        let (name, value) = match directive.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (directive.trim(), None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return ttl.min;
        }
        if name.eq_ignore_ascii_case("max-age") {
            let secs = value.and_then(delta_seconds).unwrap_or(0);
            // Conflicting values: the most conservative wins.
            max_age = Some(max_age.map_or(secs, |m| m.min(secs)));
        }
    }
    let Some(max_age) = max_age else { return ttl.default.clamp(ttl.min, ttl.max) };
    let age = age.and_then(delta_seconds).unwrap_or(0);
    Duration::from_secs(max_age.saturating_sub(age)).clamp(ttl.min, ttl.max)
}

/// RFC 9111 delta-seconds: digits only; too large saturates rather than fails.
fn delta_seconds(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// At most one fetch start per `interval` for a key that was fetched before.
#[derive(Clone, Copy, Debug, Default)]
pub struct RateLimit {
    last: Option<Instant>,
}

impl RateLimit {
    pub fn may_start(&self, now: Instant, interval: Duration) -> bool {
        self.last.is_none_or(|last| now.saturating_duration_since(last) >= interval)
    }

    pub fn record(&mut self, now: Instant) {
        self.last = Some(now);
    }
}

/// `now + d` without the overflow panic of `Instant + Duration`; an absurd
/// duration saturates to "about a century".
pub fn later(now: Instant, d: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(d.min(CENTURY)).unwrap_or(now)
}

/// What a load produces: the document and how long it stays fresh.
pub type Load<T> = BoxFuture<'static, Result<(T, Duration), FetchError>>;

type Flight<T> = Shared<BoxFuture<'static, Result<Arc<T>, FetchError>>>;

/// Whether a caller accepts a fresh cached copy, or wants a newer one
/// (an unknown `kid`), which the rate limit may deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Fresh,
    Newer,
}

#[derive(Clone, Copy, Debug)]
pub struct CacheConfig {
    /// The least time between two fetch starts for one key, except when a
    /// fresh copy expires; also how long a failure is remembered.
    pub min_interval: Duration,
    /// How long after the last good fetch its copy may stand in for failures.
    pub max_stale: Duration,
    /// Keys kept at most; beyond, the least recently fetched are dropped.
    pub max_entries: usize,
}

struct Good<T> {
    value: Arc<T>,
    fetched: Instant,
    fresh_until: Instant,
}

struct Slot<T> {
    good: Option<Good<T>>,
    /// The last failure, repeated to callers until `.1` so a dead source is
    /// not retried per request.
    failed: Option<(FetchError, Instant)>,
    flight: Option<Flight<T>>,
    limit: RateLimit,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot { good: None, failed: None, flight: None, limit: RateLimit::default() }
    }
}

pub struct Cache<T> {
    slots: Mutex<HashMap<String, Slot<T>>>,
    config: CacheConfig,
}

impl<T: Send + Sync + 'static> Cache<T> {
    pub fn new(config: CacheConfig) -> Cache<T> {
        Cache { slots: Mutex::new(HashMap::new()), config }
    }

    /// No critical section panics, so a poisoned lock still guards a
    /// consistent map.
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Slot<T>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The document under `key`, loading it with `load` when needed.
    pub async fn get(
        self: &Arc<Self>,
        key: &str,
        want: Want,
        load: impl FnOnce() -> Load<T>,
    ) -> Result<Arc<T>, FetchError> {
        let flight = {
            let mut slots = self.lock();
            let now = Instant::now();
            if !slots.contains_key(key) && slots.len() >= self.config.max_entries {
                self.evict(&mut slots, now);
            }
            let slot = slots.entry(key.to_owned()).or_default();
            if let Some(flight) = &slot.flight {
                // A fresh copy beats waiting on somebody's forced refresh.
                match &slot.good {
                    Some(good) if want == Want::Fresh && now < good.fresh_until => return Ok(Arc::clone(&good.value)),
                    _ => flight.clone(),
                }
            } else {
                let fresh = slot.good.as_ref().filter(|good| now < good.fresh_until);
                match (want, fresh) {
                    (Want::Fresh, Some(good)) => return Ok(Arc::clone(&good.value)),
                    (Want::Fresh, None) => match &slot.failed {
                        Some((error, until)) if now < *until => return Err(error.clone()),
                        _ => self.start(slot, key, now, load),
                    },
                    (Want::Newer, _) if slot.limit.may_start(now, self.config.min_interval) => {
                        self.start(slot, key, now, load)
                    }
                    // Rate-limited: what we have (possibly stale), or the failure.
                    (Want::Newer, _) => match (&slot.good, &slot.failed) {
                        (Some(good), _) => return Ok(Arc::clone(&good.value)),
                        (None, Some((error, _))) => return Err(error.clone()),
                        (None, None) => self.start(slot, key, now, load),
                    },
                }
            }
        };
        flight.await
    }

    fn start(
        self: &Arc<Self>,
        slot: &mut Slot<T>,
        key: &str,
        now: Instant,
        load: impl FnOnce() -> Load<T>,
    ) -> Flight<T> {
        slot.limit.record(now);
        let cache = Arc::clone(self);
        let owned = key.to_owned();
        let work = load();
        let task = tokio::spawn(async move {
            let result = work.await;
            cache.finish(&owned, result)
        });
        let flight = async move {
            match task.await {
                Ok(result) => result,
                Err(_) => Err(FetchError::Network("the fetch task ended abnormally".into())),
            }
        }
        .boxed()
        .shared();
        slot.flight = Some(flight.clone());
        flight
    }

    fn finish(&self, key: &str, result: Result<(T, Duration), FetchError>) -> Result<Arc<T>, FetchError> {
        let mut slots = self.lock();
        let now = Instant::now();
        let Some(slot) = slots.get_mut(key) else {
            // Evicted while in flight: hand the result to the waiters only.
            return result.map(|(value, _)| Arc::new(value));
        };
        slot.flight = None;
        match result {
            Ok((value, fresh_for)) => {
                let value = Arc::new(value);
                slot.good = Some(Good { value: Arc::clone(&value), fetched: now, fresh_until: later(now, fresh_for) });
                slot.failed = None;
                Ok(value)
            }
            Err(error) => {
                let retry = later(now, self.config.min_interval);
                if let Some(good) = &mut slot.good {
                    let age = now.saturating_duration_since(good.fetched);
                    if age <= self.config.max_stale {
                        tracing::warn!(
                            url = %super::redact_str(key),
                            %error,
                            age_secs = age.as_secs(),
                            "refresh failed; serving the last good copy"
                        );
                        good.fresh_until = good.fresh_until.max(retry);
                        return Ok(Arc::clone(&good.value));
                    }
                }
                tracing::warn!(url = %super::redact_str(key), %error, "fetch failed");
                slot.good = None;
                slot.failed = Some((error.clone(), retry));
                Err(error)
            }
        }
    }

    /// Drop what can no longer be served; if that frees nothing, the key
    /// fetched longest ago. Keys with a fetch in flight stay.
    fn evict(&self, slots: &mut HashMap<String, Slot<T>>, now: Instant) {
        let max_stale = self.config.max_stale;
        slots.retain(|_, slot| {
            slot.flight.is_some()
                || slot.good.as_ref().is_some_and(|good| now.saturating_duration_since(good.fetched) <= max_stale)
        });
        if slots.len() < self.config.max_entries {
            return;
        }
        let oldest = slots
            .iter()
            .filter(|(_, slot)| slot.flight.is_none())
            .min_by_key(|(_, slot)| slot.limit.last)
            .map(|(key, _)| key.clone());
        if let Some(key) = oldest {
            slots.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const TTL: Ttl =
        Ttl { min: Duration::from_secs(60), max: Duration::from_secs(86_400), default: Duration::from_secs(300) };

    fn fresh(cc: &[&str], age: Option<&str>) -> u64 {
        freshness(cc, age, &TTL).as_secs()
    }

    #[test]
    fn cache_control_is_parsed_and_clamped() {
        assert_eq!(fresh(&[], None), 300);
        assert_eq!(fresh(&["public, max-age=600"], None), 600);
        assert_eq!(fresh(&["MAX-AGE=\"900\""], None), 900);
        assert_eq!(fresh(&["max-age=5"], None), 60);
        assert_eq!(fresh(&["max-age=0"], None), 60);
        assert_eq!(fresh(&["max-age=999999999"], None), 86_400);
        assert_eq!(fresh(&["max-age=99999999999999999999999"], None), 86_400);
        assert_eq!(fresh(&["no-store"], None), 60);
        assert_eq!(fresh(&["max-age=600, no-cache"], None), 60);
        assert_eq!(fresh(&["private", "No-Store"], None), 60);
        // Malformed: stale, so the minimum.
        assert_eq!(fresh(&["max-age=abc"], None), 60);
        assert_eq!(fresh(&["max-age=-5"], None), 60);
        assert_eq!(fresh(&["max-age"], None), 60);
        // Unrelated directives keep the default.
        assert_eq!(fresh(&["public, s-maxage=10"], None), 300);
        // Conflicts: the smaller.
        assert_eq!(fresh(&["max-age=600", "max-age=120"], None), 120);
        // Age counts against max-age.
        assert_eq!(fresh(&["max-age=600"], Some("500")), 100);
        assert_eq!(fresh(&["max-age=600"], Some("900")), 60);
        assert_eq!(fresh(&["max-age=600"], Some("junk")), 600);
    }

    #[test]
    fn clamp_bounds_are_the_policy() {
        let short =
            Ttl { min: Duration::from_millis(200), max: Duration::from_secs(1), default: Duration::from_secs(5) };
        assert_eq!(freshness(&[], None, &short), Duration::from_secs(1));
        assert_eq!(freshness(&["max-age=0"], None, &short), Duration::from_millis(200));
    }

    #[test]
    fn rate_limit_allows_one_start_per_interval() {
        let t0 = Instant::now();
        let interval = Duration::from_secs(30);
        let mut limit = RateLimit::default();
        assert!(limit.may_start(t0, interval));
        limit.record(t0);
        assert!(!limit.may_start(t0, interval));
        assert!(!limit.may_start(t0 + Duration::from_secs(29), interval));
        assert!(limit.may_start(t0 + Duration::from_secs(30), interval));
        // A clock read before the record (another thread) is not "long ago".
        if let Some(before) = t0.checked_sub(Duration::from_millis(1)) {
            assert!(!limit.may_start(before, interval));
        }
    }

    #[test]
    fn later_never_overflows() {
        let now = Instant::now();
        assert!(later(now, Duration::MAX) > now);
        assert_eq!(later(now, Duration::from_secs(1)), now + Duration::from_secs(1));
    }

    fn config(min_interval: Duration) -> CacheConfig {
        CacheConfig { min_interval, max_stale: Duration::from_secs(3600), max_entries: 4 }
    }

    fn counting(n: &Arc<AtomicUsize>, value: u32, fresh: Duration) -> impl FnOnce() -> Load<u32> {
        let n = Arc::clone(n);
        move || {
            async move {
                n.fetch_add(1, Ordering::SeqCst);
                Ok((value, fresh))
            }
            .boxed()
        }
    }

    fn failing(n: &Arc<AtomicUsize>) -> impl FnOnce() -> Load<u32> {
        let n = Arc::clone(n);
        move || {
            async move {
                n.fetch_add(1, Ordering::SeqCst);
                Err(FetchError::Status(500))
            }
            .boxed()
        }
    }

    #[tokio::test]
    async fn fresh_copies_are_reused_and_newer_is_rate_limited() {
        let cache = Arc::new(Cache::new(config(Duration::from_secs(30))));
        let n = Arc::new(AtomicUsize::new(0));
        let hour = Duration::from_secs(3600);
        assert_eq!(*cache.get("k", Want::Fresh, counting(&n, 1, hour)).await.unwrap(), 1);
        assert_eq!(*cache.get("k", Want::Fresh, counting(&n, 2, hour)).await.unwrap(), 1);
        // The first fetch just happened: a newer copy is refused for now.
        assert_eq!(*cache.get("k", Want::Newer, counting(&n, 3, hour)).await.unwrap(), 1);
        assert_eq!(n.load(Ordering::SeqCst), 1);
        // Other keys are independent.
        assert_eq!(*cache.get("j", Want::Newer, counting(&n, 4, hour)).await.unwrap(), 4);
        assert_eq!(n.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn failures_are_remembered_and_stale_copies_stand_in() {
        let cache = Arc::new(Cache::new(config(Duration::from_secs(30))));
        let n = Arc::new(AtomicUsize::new(0));
        assert_eq!(cache.get("dead", Want::Fresh, failing(&n)).await, Err(FetchError::Status(500)));
        // Remembered: no second attempt within the interval.
        assert_eq!(cache.get("dead", Want::Fresh, failing(&n)).await, Err(FetchError::Status(500)));
        assert_eq!(n.load(Ordering::SeqCst), 1);

        // Good copy, expired at once; the refresh fails; the copy is served.
        let cache = Arc::new(Cache::new(config(Duration::ZERO)));
        assert_eq!(*cache.get("k", Want::Fresh, counting(&n, 7, Duration::ZERO)).await.unwrap(), 7);
        assert_eq!(*cache.get("k", Want::Fresh, failing(&n)).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn the_cache_stays_bounded() {
        let cache = Arc::new(Cache::new(config(Duration::ZERO)));
        let n = Arc::new(AtomicUsize::new(0));
        for i in 0..20u32 {
            cache.get(&format!("k{i}"), Want::Fresh, counting(&n, i, Duration::from_secs(60))).await.unwrap();
        }
        assert!(cache.lock().len() <= 4);
        assert!(cache.lock().contains_key("k19"));
    }
}
