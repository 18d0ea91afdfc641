//! The guarded fetcher (`keyward::fetch`) against real HTTP servers on
//! 127.0.0.1 (port 0, allow-listed per test): caching, refresh limits,
//! size and time bounds, single-flight, redirects and address refusals.
//! Loopback only; every test is bounded in time.

mod caching;
mod discovery;
mod limits;
mod refusals;
mod support;
