//! How every watch of the hub comes back after the API server went away:
//! quickly and boundedly. kube-runtime's default backoff waits up to 30 s
//! plus jitter and then meets a 410 Gone that costs another step before the
//! relist; a client created meanwhile waited a minute to be Ready, and a
//! deleted one kept its tokens for most of one. Here a retry starts at
//! 250 ms and doubles to at most 1 s, a 410 relists at once (once per run of
//! failures, so a server that keeps answering 410 is not asked in a tight
//! loop), and an outage is one warning, not one a second. Shared by the
//! controller's watches and the cluster store's revocation watch.

use std::time::Duration;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use futures::{Stream, StreamExt};
use kube::runtime::watcher;

/// Polls `stream` for as long as it runs, calling `on_event` for every event
/// and waiting as [`Retry`] says after every failure.
pub async fn follow<S, T>(stream: S, what: &'static str, mut on_event: impl FnMut(T))
where
    S: Stream<Item = Result<T, watcher::Error>>,
{
    futures::pin_mut!(stream);
    let mut retry = Retry::default();
    let rng = SystemRandom::new();
    while let Some(event) = stream.next().await {
        match event {
            Ok(e) => {
                if retry.failures > 0 {
                    tracing::info!(watch = what, failures = retry.failures, "watch resumed");
                }
                retry = Retry::default();
                on_event(e);
            }
            Err(e) => {
                let wait = retry.after(gone(&e), jitter(&rng));
                // One warning per outage, not one a second.
                if retry.failures == 1 {
                    tracing::warn!(watch = what, error = %e, "watch failed; retrying");
                } else {
                    tracing::debug!(watch = what, error = %e, failures = retry.failures, "watch failed again");
                }
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }
}

/// First retry delay after a failure; it doubles up to `RETRY_MAX`.
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(1);

/// The retry state of one watch since its last event.
#[derive(Debug, Default)]
pub(crate) struct Retry {
    failures: u32,
    /// A 410 was already retried at once in this run of failures.
    relisted: bool,
}

impl Retry {
    /// How long to wait before polling the watch again after a failure.
    /// `jitter` in [0, 1) picks the delay in the upper half of the step.
    fn after(&mut self, gone: bool, jitter: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        // Once per run: a server that answers 410 to a fresh list too must
        // not be asked in a tight loop.
        if gone && !self.relisted {
            self.relisted = true;
            return Duration::ZERO;
        }
        let step = RETRY_MIN.saturating_mul(1 << self.failures.saturating_sub(1).min(8)).min(RETRY_MAX);
        step.div_f64(2.0).mul_f64(1.0 + jitter.clamp(0.0, 1.0))
    }
}

/// Whether the API server no longer has the version the watch resumed from
/// (or the list's continue token): the watcher relists on the next poll.
fn gone(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}

fn jitter(rng: &SystemRandom) -> f64 {
    let mut b = [0u8; 2];
    // Without randomness the delay is the step's upper bound: still bounded.
    if rng.fill(&mut b).is_err() {
        return 1.0;
    }
    f64::from(u16::from_le_bytes(b)) / 65536.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_double_from_a_quarter_second_to_at_most_one_second() {
        let mut r = Retry::default();
        let upper: Vec<u128> = (0..6).map(|_| r.after(false, 1.0).as_millis()).collect();
        assert_eq!(upper, vec![250, 500, 1000, 1000, 1000, 1000]);
        let mut r = Retry::default();
        let lower: Vec<u128> = (0..4).map(|_| r.after(false, 0.0).as_millis()).collect();
        assert_eq!(lower, vec![125, 250, 500, 500]);
        let mut r = Retry::default();
        for _ in 0..100 {
            assert!(r.after(false, 0.99) <= RETRY_MAX);
        }
    }

    #[test]
    fn a_410_relists_at_once_but_only_once_per_run_of_failures() {
        let mut r = Retry::default();
        assert_eq!(r.after(false, 1.0), Duration::from_millis(250), "the API server is away");
        assert_eq!(r.after(true, 1.0), Duration::ZERO, "back, and the version is gone: relist now");
        assert_eq!(r.after(true, 1.0), Duration::from_secs(1), "410 again: no tight loop");
        // An event in between starts a new run (the caller resets).
        let mut r = Retry::default();
        assert_eq!(r.after(true, 1.0), Duration::ZERO);
    }

    #[test]
    fn gone_is_recognised_as_a_watch_event_and_as_a_response() {
        let mut status = kube::core::Status::failure("too old resource version", "Expired");
        status.code = 410;
        assert!(gone(&watcher::Error::WatchError(Box::new(status.clone()))));
        assert!(gone(&watcher::Error::InitialListFailed(kube::Error::Api(Box::new(status.clone())))));
        status.code = 500;
        assert!(!gone(&watcher::Error::WatchError(Box::new(status))));
        assert!(!gone(&watcher::Error::NoResourceVersion));
    }
}
