//! Test issuers: axum servers on 127.0.0.1:0 that count their requests, and a
//! policy that lets the fetcher reach them.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use keyward::fetch::{AllowEntry, FetchPolicy};
use serde_json::{Value, json};

/// Every test body runs under this bound.
pub const BOUND: Duration = Duration::from_secs(20);

/// Run `test` or fail after [`BOUND`].
pub async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(BOUND, test).await.expect("the test exceeded its time bound")
}

/// Serve `router` on 127.0.0.1 at a free port.
pub async fn serve(router: Router) -> SocketAddr {
    serve_on("127.0.0.1", router).await
}

/// Serve `router` on `ip` (a loopback address) at a free port.
pub async fn serve_on(ip: &str, router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    addr
}

/// A request counter shared between a handler and the test.
#[derive(Clone, Default)]
pub struct Hits(Arc<AtomicUsize>);

impl Hits {
    pub fn hit(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// Plain http to 127.0.0.1 allowed; the rest as in production, except
/// shorter clocks where a test needs them.
pub fn policy() -> FetchPolicy {
    FetchPolicy {
        allow_http: true,
        allow: vec![allow("127.0.0.1")],
        timeout: Duration::from_secs(2),
        ..FetchPolicy::default()
    }
}

pub fn allow(entry: &str) -> AllowEntry {
    entry.parse().unwrap()
}

/// A JWKS with one EC P-256 key per kid (the same public point: only the
/// kids matter here).
pub fn jwks(kids: &[&str]) -> Value {
    let keys: Vec<Value> = kids
        .iter()
        .map(|kid| {
            json!({
                "kty": "EC", "crv": "P-256", "kid": kid, "use": "sig", "alg": "ES256",
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            })
        })
        .collect();
    json!({ "keys": keys })
}

/// A JSON response with an optional Cache-Control.
pub fn json_response(body: &Value, cache_control: Option<&'static str>) -> Response {
    let mut response = ([(CONTENT_TYPE, "application/json")], body.to_string()).into_response();
    if let Some(cc) = cache_control {
        response.headers_mut().insert(CACHE_CONTROL, cc.parse().unwrap());
    }
    response
}

/// The kids of a key set, in order.
pub fn kids(set: &jsonwebtoken::jwk::JwkSet) -> Vec<String> {
    set.keys.iter().filter_map(|k| k.common.key_id.clone()).collect()
}

/// What a [`JwksServer`] answers; tests change it between calls.
#[derive(Clone, Debug)]
pub struct Served {
    pub kids: Vec<&'static str>,
    pub cache_control: Option<&'static str>,
    /// Answer with this status instead of the set.
    pub fail: Option<u16>,
    /// Wait this long before answering.
    pub delay: Duration,
}

/// A JWKS endpoint at `/jwks` whose answer the test controls.
pub struct JwksServer {
    pub addr: SocketAddr,
    pub hits: Hits,
    served: Arc<std::sync::Mutex<Served>>,
}

impl JwksServer {
    pub async fn start(kids: &[&'static str], cache_control: Option<&'static str>) -> JwksServer {
        let served = Arc::new(std::sync::Mutex::new(Served {
            kids: kids.to_vec(),
            cache_control,
            fail: None,
            delay: Duration::ZERO,
        }));
        let hits = Hits::default();
        let (state, counter) = (Arc::clone(&served), hits.clone());
        let router = Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                let (state, counter) = (Arc::clone(&state), counter.clone());
                async move {
                    counter.hit();
                    let now = state.lock().unwrap().clone();
                    tokio::time::sleep(now.delay).await;
                    match now.fail {
                        Some(code) => axum::http::StatusCode::from_u16(code).unwrap().into_response(),
                        None => json_response(&jwks(&now.kids), now.cache_control),
                    }
                }
            }),
        );
        let addr = serve(router).await;
        JwksServer { addr, hits, served }
    }

    pub fn url(&self) -> String {
        format!("http://{}/jwks", self.addr)
    }

    pub fn update(&self, change: impl FnOnce(&mut Served)) {
        change(&mut self.served.lock().unwrap());
    }
}
