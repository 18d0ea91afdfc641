//! Caching: reuse, `max-age`, refresh on unknown kid (rate-limited),
//! single-flight on a cold cache, stale-while-error.

use std::time::{Duration, Instant};

use keyward::fetch::{FetchError, FetchPolicy, Fetcher};

use super::support::{JwksServer, bounded, kids, policy};

#[tokio::test]
async fn a_jwks_is_fetched_once_and_then_served_from_cache() {
    bounded(async {
        let issuer = JwksServer::start(&["a", "b"], None).await;
        let fetcher = Fetcher::new(policy()).unwrap();
        let first = fetcher.jwks(&issuer.url()).await.unwrap();
        assert_eq!(kids(&first), ["a", "b"]);
        let second = fetcher.jwks(&issuer.url()).await.unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &second));
        assert!(fetcher.key(&issuer.url(), "b").await.unwrap().is_some());
        // Clones share the cache.
        assert!(fetcher.clone().key(&issuer.url(), "a").await.unwrap().is_some());
        assert_eq!(issuer.hits.get(), 1);
    })
    .await;
}

#[tokio::test]
async fn max_age_is_honoured_within_the_policy_clamp() {
    bounded(async {
        let short = FetchPolicy { min_ttl: Duration::from_millis(100), max_ttl: Duration::from_secs(10), ..policy() };
        let fetcher = Fetcher::new(short).unwrap();
        let issuer = JwksServer::start(&["a"], Some("public, max-age=1")).await;
        let started = Instant::now();
        fetcher.jwks(&issuer.url()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        fetcher.jwks(&issuer.url()).await.unwrap();
        assert_eq!(issuer.hits.get(), 1, "fresh for max-age=1s");
        tokio::time::sleep(Duration::from_secs(1).saturating_sub(started.elapsed()) + Duration::from_millis(100)).await;
        fetcher.jwks(&issuer.url()).await.unwrap();
        assert_eq!(issuer.hits.get(), 2, "refetched after max-age");

        // no-store: kept for the minimum only, not refetched per call.
        let volatile = JwksServer::start(&["a"], Some("no-store")).await;
        fetcher.jwks(&volatile.url()).await.unwrap();
        fetcher.jwks(&volatile.url()).await.unwrap();
        assert_eq!(volatile.hits.get(), 1);
        tokio::time::sleep(Duration::from_millis(150)).await;
        fetcher.jwks(&volatile.url()).await.unwrap();
        assert_eq!(volatile.hits.get(), 2);

        // Above the clamp: max-age=1 day is held for max_ttl at most.
        let clamp =
            FetchPolicy { min_ttl: Duration::from_millis(100), max_ttl: Duration::from_millis(200), ..policy() };
        let long = Fetcher::new(clamp).unwrap();
        let lasting = JwksServer::start(&["a"], Some("max-age=86400")).await;
        long.jwks(&lasting.url()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        long.jwks(&lasting.url()).await.unwrap();
        assert_eq!(lasting.hits.get(), 2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_triggers_one_refresh_per_interval() {
    bounded(async {
        let interval = Duration::from_millis(800);
        let fetcher = Fetcher::new(FetchPolicy { min_refresh_interval: interval, ..policy() }).unwrap();
        let issuer = JwksServer::start(&["a"], None).await;
        let url = issuer.url();

        // Cold cache, unknown kid: the one fetch just happened, no second.
        assert!(fetcher.key(&url, "b").await.unwrap().is_none());
        assert_eq!(issuer.hits.get(), 1);

        // The issuer rotates; once the interval has passed, a token with the
        // new kid refreshes the set — once, however many kids are sprayed.
        issuer.update(|s| s.kids = vec!["a", "b"]);
        tokio::time::sleep(interval + Duration::from_millis(50)).await;
        let started = Instant::now();
        let sprays: Vec<_> = (0..50)
            .map(|i| {
                let (fetcher, url) = (fetcher.clone(), url.clone());
                tokio::spawn(async move { fetcher.key(&url, &format!("random-{i}")).await })
            })
            .collect();
        for spray in sprays {
            assert!(spray.await.unwrap().unwrap().is_none());
        }
        assert!(fetcher.key(&url, "b").await.unwrap().is_some());
        for i in 0..50 {
            assert!(fetcher.key(&url, &format!("again-{i}")).await.unwrap().is_none());
        }
        assert!(started.elapsed() < interval, "the spray must fit in one interval for this test to mean anything");
        assert_eq!(issuer.hits.get(), 2, "exactly one refresh within the interval");

        // The next interval allows the next refresh.
        tokio::time::sleep(interval).await;
        assert!(fetcher.key(&url, "c").await.unwrap().is_none());
        assert_eq!(issuer.hits.get(), 3);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_fetch() {
    bounded(async {
        let fetcher = Fetcher::new(policy()).unwrap();
        let issuer = JwksServer::start(&["a"], None).await;
        issuer.update(|s| s.delay = Duration::from_millis(300));
        let waiters: Vec<_> = (0..32)
            .map(|_| {
                let (fetcher, url) = (fetcher.clone(), issuer.url());
                tokio::spawn(async move { fetcher.jwks(&url).await })
            })
            .collect();
        for waiter in waiters {
            assert_eq!(kids(&waiter.await.unwrap().unwrap()), ["a"]);
        }
        assert_eq!(issuer.hits.get(), 1);
    })
    .await;
}

#[tokio::test]
async fn the_last_good_copy_stands_in_while_the_issuer_fails() {
    bounded(async {
        let quick = FetchPolicy {
            min_ttl: Duration::from_millis(100),
            max_ttl: Duration::from_millis(100),
            min_refresh_interval: Duration::from_millis(100),
            max_stale: Duration::from_millis(1200),
            ..policy()
        };
        let fetcher = Fetcher::new(quick).unwrap();
        let issuer = JwksServer::start(&["a"], None).await;
        let good = fetcher.jwks(&issuer.url()).await.unwrap();

        issuer.update(|s| s.fail = Some(503));
        tokio::time::sleep(Duration::from_millis(150)).await;
        // Expired, the refresh fails: the last good copy is served...
        let stale = fetcher.jwks(&issuer.url()).await.unwrap();
        assert!(std::sync::Arc::ptr_eq(&good, &stale));
        assert_eq!(issuer.hits.get(), 2, "a refresh was attempted");
        assert!(fetcher.key(&issuer.url(), "a").await.unwrap().is_some());

        // ...until it is older than max_stale.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(fetcher.jwks(&issuer.url()).await.unwrap_err(), FetchError::Status(503));

        // The issuer recovers: served again after the failure is forgotten.
        issuer.update(|s| s.fail = None);
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert_eq!(kids(&fetcher.jwks(&issuer.url()).await.unwrap()), ["a"]);
    })
    .await;
}
