//! The embedded store's one-time use (the JWT bearer grant with replay
//! refusal): latency of `first_use` one at a time, where every call pays its
//! own durable commit, and throughput with many requests in flight, where
//! the writer's group commits share one fsync. Medians over several runs.
//!
//!   cargo bench --bench store               # OPS=2000 INFLIGHT=64 RUNS=5
//!   STATE_DIR=/path cargo bench --bench store   # measure another disk
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use keyward::store::EmbeddedStore;
use keyward_core::UnixTime;
use keyward_core::store::{Store, Use};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &mut [Duration], p: usize) -> Duration {
    v.sort();
    v[(v.len() * p / 100).min(v.len() - 1)]
}

fn key(run: usize, i: usize) -> String {
    format!("https://issuer.example.test\u{0}{run:04}-{i:032x}")
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let (ops, inflight, runs) = (env("OPS", 2000), env("INFLIGHT", 64), env("RUNS", 5));
    let base = std::env::var("STATE_DIR").map(std::path::PathBuf::from).unwrap_or_else(|_| std::env::temp_dir());
    let dir = tempfile::tempdir_in(&base).unwrap();
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("state.redb")).unwrap());
    let (until, now) = (UnixTime(u64::MAX), UnixTime(0));

    let (mut serial_median, mut serial_p99, mut serial_rate) = (Vec::new(), Vec::new(), Vec::new());
    let mut group_rate = Vec::new();
    for run in 0..runs {
        let mut lat = Vec::with_capacity(ops);
        let started = Instant::now();
        for i in 0..ops {
            let t = Instant::now();
            assert_eq!(store.first_use(&key(run, i), until, now).await.unwrap(), Use::First);
            lat.push(t.elapsed());
        }
        serial_rate.push(ops as f64 / started.elapsed().as_secs_f64());
        serial_median.push(percentile(&mut lat, 50).as_secs_f64() * 1e6);
        serial_p99.push(percentile(&mut lat, 99).as_secs_f64() * 1e6);

        let started = Instant::now();
        let tasks: Vec<_> = (0..inflight)
            .map(|t| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    for i in (t..ops * 10).step_by(inflight) {
                        let u = store.first_use(&key(run + 1000, i), until, now).await.unwrap();
                        assert_eq!(u, Use::First);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        group_rate.push((ops * 10) as f64 / started.elapsed().as_secs_f64());
    }
    println!("embedded store, state file in {}", base.display());
    println!(
        "first_use one at a time (one durable commit each): median {:.0} µs, p99 {:.0} µs, {:.0}/s",
        median(serial_median),
        median(serial_p99),
        median(serial_rate)
    );
    println!("first_use with {inflight} in flight (group commits): {:.0}/s", median(group_rate));
}
