//! Failed-login throttling per username and per client address: after
//! `LIMIT` failures within `WINDOW`, further attempts are refused until the
//! window has passed since the first failure. A success clears the
//! username's count. Memory is bounded: when full, the oldest windows go.

use std::collections::HashMap;
use std::sync::Mutex;

use keyward_core::UnixTime;

pub const LIMIT: u32 = 5;
pub const WINDOW_SECS: u64 = 300;
const CAPACITY: usize = 100_000;

#[derive(Default)]
pub struct Throttle {
    inner: Mutex<HashMap<String, (u64, u32)>>,
}

impl Throttle {
    /// Seconds to wait if any of `keys` is over the limit.
    pub fn blocked(&self, keys: &[String], now: UnixTime) -> Option<u64> {
        let m = self.inner.lock().ok()?;
        keys.iter()
            .filter_map(|k| m.get(k))
            .filter(|(start, n)| *n >= LIMIT && now.0 < start + WINDOW_SECS)
            .map(|(start, _)| start + WINDOW_SECS - now.0)
            .max()
    }

    pub fn failed(&self, keys: &[String], now: UnixTime) {
        let Ok(mut m) = self.inner.lock() else { return };
        if m.len() >= CAPACITY {
            m.retain(|_, (start, _)| now.0 < *start + WINDOW_SECS);
        }
        for k in keys {
            let e = m.entry(k.clone()).or_insert((now.0, 0));
            if now.0 >= e.0 + WINDOW_SECS {
                *e = (now.0, 0);
            }
            e.1 += 1;
        }
    }

    pub fn succeeded(&self, key: &str) {
        if let Ok(mut m) = self.inner.lock() {
            m.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_block_until_the_window_passes() {
        let t = Throttle::default();
        let keys = ["user:alice".to_owned(), "addr:1.2.3.4".to_owned()];
        for _ in 0..LIMIT {
            assert_eq!(t.blocked(&keys, UnixTime(100)), None);
            t.failed(&keys, UnixTime(100));
        }
        assert_eq!(t.blocked(&keys, UnixTime(101)), Some(299));
        assert_eq!(t.blocked(&["addr:1.2.3.4".to_owned()], UnixTime(399)), Some(1));
        assert_eq!(t.blocked(&keys, UnixTime(400)), None);
        t.succeeded("user:alice");
        assert_eq!(t.blocked(&["user:alice".to_owned()], UnixTime(101)), None);
    }
}
