//! Bounds: body size (declared or not), total time, and a slow issuer that
//! must not stall anyone else.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use futures::stream;
use keyward::fetch::{FetchError, FetchPolicy, Fetcher};

use super::support::{Hits, JwksServer, bounded, kids, policy, serve};

/// Endless chunked JSON-looking bytes: no Content-Length to refuse up front.
fn endless() -> Body {
    let chunk = Bytes::from(vec![b' '; 16 * 1024]);
    let head = stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"{\"keys\":["))]);
    Body::from_stream(futures::StreamExt::chain(head, stream::repeat_with(move || Ok(chunk.clone()))))
}

#[tokio::test]
async fn a_body_past_the_limit_is_too_large_with_or_without_content_length() {
    bounded(async {
        let router = Router::new()
            .route("/chunked", get(|| async { ([(CONTENT_TYPE, "application/json")], endless()) }))
            .route("/declared", get(|| async { ([(CONTENT_TYPE, "application/json")], vec![b' '; 300 * 1024]) }))
            .route(
                "/fits",
                get(|| async {
                    ([(CONTENT_TYPE, "application/json")], format!("{{\"keys\":[]}}{}", " ".repeat(1000)))
                }),
            );
        let addr = serve(router).await;
        let fetcher = Fetcher::new(FetchPolicy { max_bytes: 256 * 1024, ..policy() }).unwrap();
        let started = Instant::now();
        assert_eq!(fetcher.jwks(&format!("http://{addr}/chunked")).await.unwrap_err(), FetchError::TooLarge);
        assert!(started.elapsed() < Duration::from_secs(1), "stopped at the limit, not at the timeout");
        assert_eq!(fetcher.jwks(&format!("http://{addr}/declared")).await.unwrap_err(), FetchError::TooLarge);
        assert!(fetcher.jwks(&format!("http://{addr}/fits")).await.unwrap().keys.is_empty());
        // The uncached path is bounded the same way.
        let err = fetcher.json::<serde_json::Value>(&format!("http://{addr}/chunked"), None).await.unwrap_err();
        assert_eq!(err, FetchError::TooLarge);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_issuer_times_out_while_a_fast_one_is_served() {
    bounded(async {
        let timeout = Duration::from_millis(600);
        let fetcher = Fetcher::new(FetchPolicy { timeout, ..policy() }).unwrap();
        let slow = JwksServer::start(&["slow"], None).await;
        slow.update(|s| s.delay = Duration::from_secs(30));
        let fast = JwksServer::start(&["fast"], None).await;

        let started = Instant::now();
        let waiters: Vec<_> = (0..16)
            .map(|_| {
                let (fetcher, url) = (fetcher.clone(), slow.url());
                tokio::spawn(async move {
                    let result = fetcher.jwks(&url).await;
                    (result, Instant::now())
                })
            })
            .collect();
        // While every slow waiter is stuck, the fast issuer answers at once.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let asked = Instant::now();
        assert_eq!(kids(&fetcher.jwks(&fast.url()).await.unwrap()), ["fast"]);
        let fast_took = asked.elapsed();
        assert!(fast_took < Duration::from_millis(300), "fast issuer took {fast_took:?}");

        for waiter in waiters {
            let (result, done) = waiter.await.unwrap();
            assert_eq!(result.unwrap_err(), FetchError::Timeout);
            let took = done.duration_since(started);
            assert!(took >= timeout - Duration::from_millis(50), "gave up early: {took:?}");
            assert!(took < timeout + Duration::from_millis(700), "not bounded by the timeout: {took:?}");
        }
        assert_eq!(slow.hits.get(), 1, "sixteen waiters, one request");
    })
    .await;
}

#[tokio::test]
async fn a_body_trickled_forever_is_cut_at_the_timeout() {
    bounded(async {
        // Headers at once, then one byte every 100 ms: no single read stalls.
        let trickle = || {
            stream::unfold((), |()| async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                Some((Ok::<_, std::io::Error>(Bytes::from_static(b" ")), ()))
            })
        };
        let hits = Hits::default();
        let counter = hits.clone();
        let router = Router::new().route(
            "/jwks",
            get(move || {
                counter.hit();
                async move { ([(CONTENT_TYPE, "application/json")], Body::from_stream(trickle())).into_response() }
            }),
        );
        let addr = serve(router).await;
        let timeout = Duration::from_millis(500);
        let fetcher = Fetcher::new(FetchPolicy { timeout, ..policy() }).unwrap();
        let started = Instant::now();
        assert_eq!(fetcher.jwks(&format!("http://{addr}/jwks")).await.unwrap_err(), FetchError::Timeout);
        assert!(started.elapsed() < timeout + Duration::from_millis(500));
        assert_eq!(hits.get(), 1);
    })
    .await;
}
