//! Registrations per client address in a fixed window. IPv6 addresses count
//! per /64: one host usually holds the whole prefix. Memory is bounded: when
//! full, windows that ended go, and if none did the newest address is
//! refused rather than an old window forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use keyward_core::UnixTime;

const CAPACITY: usize = 100_000;

pub struct AddressRate {
    limit: u32,
    window: u64,
    seen: Mutex<HashMap<IpAddr, (u64, u32)>>,
}

impl AddressRate {
    pub fn new(limit: u32, window: Duration) -> AddressRate {
        AddressRate { limit, window: window.as_secs().max(1), seen: Mutex::new(HashMap::new()) }
    }

    /// Counts one attempt from `addr`; `Err(seconds to wait)` past the limit.
    pub fn attempt(&self, addr: IpAddr, now: UnixTime) -> Result<(), u64> {
        let key = bucket(addr);
        let Ok(mut seen) = self.seen.lock() else { return Err(self.window) };
        if !seen.contains_key(&key) && seen.len() >= CAPACITY {
            seen.retain(|_, (start, _)| now.0 < *start + self.window);
            if seen.len() >= CAPACITY {
                return Err(self.window);
            }
        }
        let e = seen.entry(key).or_insert((now.0, 0));
        if now.0 >= e.0 + self.window {
            *e = (now.0, 0);
        }
        if e.1 >= self.limit {
            return Err(e.0 + self.window - now.0);
        }
        e.1 += 1;
        Ok(())
    }
}

fn bucket(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut s = v6.segments();
                s[4..].fill(0);
                IpAddr::V6(s.into())
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_limit_per_window_and_ipv6_counts_per_64() {
        let r = AddressRate::new(2, Duration::from_secs(60));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(r.attempt(a, UnixTime(100)), Ok(()));
        assert_eq!(r.attempt(a, UnixTime(101)), Ok(()));
        assert_eq!(r.attempt(a, UnixTime(110)), Err(50));
        assert_eq!(r.attempt("192.0.2.2".parse().unwrap(), UnixTime(110)), Ok(()));
        assert_eq!(r.attempt(a, UnixTime(160)), Ok(()), "a new window");
        let v6 = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(r.attempt(v6("2001:db8:1:2::1"), UnixTime(100)), Ok(()));
        assert_eq!(r.attempt(v6("2001:db8:1:2:ffff::9"), UnixTime(100)), Ok(()));
        assert!(r.attempt(v6("2001:db8:1:2:abcd::1"), UnixTime(100)).is_err(), "same /64");
        assert_eq!(r.attempt(v6("2001:db8:1:3::1"), UnixTime(100)), Ok(()));
        assert!(r.attempt(v6("::ffff:192.0.2.1"), UnixTime(161)).is_ok());
        assert!(r.attempt(v6("::ffff:192.0.2.1"), UnixTime(161)).is_err(), "mapped v4 is the v4 address");
    }
}
