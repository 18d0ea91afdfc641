//! `keyward gateway` between a client and an MCP server that knows nothing
//! of OAuth, over real HTTP: the hub of the examples, the gateway reading the
//! docs server's metadata from it, and an upstream that records what
//! reaches it. Every refusal with its exact status and challenge; what the
//! upstream sees; an SSE stream passing through as it is produced.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post as route_post};
use serde_json::{Value, json};

use crate::support::{TestHub, hub};

const DOCS: &str = "https://mcp.example.internal/docs/mcp";
const ORDERS: &str = "https://api.example.internal/orders";

/// What the upstream saw of the last request.
#[derive(Default)]
struct Seen {
    count: AtomicUsize,
    last: Mutex<Option<(HeaderMap, String)>>,
}

async fn upstream(seen: Arc<Seen>) -> String {
    let s = Arc::clone(&seen);
    let app = Router::new()
        .route(
            "/docs/mcp",
            route_post(move |headers: HeaderMap, body: String| {
                let s = Arc::clone(&s);
                async move {
                    s.count.fetch_add(1, Ordering::SeqCst);
                    *s.last.lock().unwrap() = Some((headers, body));
                    ([("content-type", "application/json")], r#"{"jsonrpc":"2.0","id":1,"result":{}}"#)
                }
            }),
        )
        .route(
            "/docs/mcp",
            get(|| async {
                // An SSE stream: one event now, one half a second later.
                let events = futures::stream::unfold(0, |n| async move {
                    match n {
                        0 => Some((Ok::<_, std::io::Error>("data: one\n\n".to_owned()), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            Some((Ok("data: two\n\n".to_owned()), 2))
                        }
                        _ => None,
                    }
                });
                ([("content-type", "text/event-stream")], Body::from_stream(events))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

struct Setup {
    h: TestHub,
    gateway: String,
    seen: Arc<Seen>,
    metadata: String,
    _gw: keyward::gateway::Gateway,
}

async fn setup() -> Setup {
    let h = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("clients.yaml", include_str!("../../examples/clients.yaml"))
        .start()
        .await;
    let seen = Arc::new(Seen::default());
    let up = upstream(Arc::clone(&seen)).await;
    let hub_metadata = format!("{}/protected-resources/shop/docs-mcp", h.issuer());
    // The challenge names the metadata where the gateway serves it: at the
    // resource's origin, where clients reach the gateway.
    let metadata = "https://mcp.example.internal/.well-known/oauth-protected-resource/docs/mcp".to_owned();
    let clock = Arc::clone(&h.clock);
    let gw = keyward::gateway::start(
        keyward::gateway::GatewayOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            upstream: up,
            resource_metadata: hub_metadata,
            fetch: keyward::fetch::FetchPolicy {
                allow_http: true,
                allow: vec!["127.0.0.1".parse().unwrap()],
                ..Default::default()
            },
            listener: keyward::server::listener::Limits::DEFAULT,
            max_body: 8 * 1024,
            refresh: Duration::from_secs(60),
        },
        Arc::new(move || keyward_core::UnixTime(clock.load(Ordering::SeqCst))),
    )
    .await
    .unwrap();
    let gateway = format!("http://{}", gw.addr);
    Setup { h, gateway, seen, metadata, _gw: gw }
}

async fn token(h: &TestHub, client: &str, resource: &str) -> String {
    let secret = h.secret("agents", client);
    let r = if client == "support-agent" {
        h.post(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("resource", resource),
                ("client_id", client),
                ("client_secret", &secret),
            ],
        )
        .await
    } else {
        // billing-agent acts for one of its two tenants.
        h.post(
            "/token",
            Some((client, &secret)),
            &[("grant_type", "client_credentials"), ("resource", resource), ("tenant", "acme")],
        )
        .await
    };
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["access_token"].as_str().unwrap().to_owned()
}

fn call(tool: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": {}}})
}

async fn post(s: &Setup, auth: Option<&str>, body: &Value, extra: &[(&str, &str)]) -> (StatusCode, HeaderMap, Value) {
    let mut r = s.h.http.post(format!("{}/docs/mcp", s.gateway)).header("content-type", "application/json");
    if let Some(t) = auth {
        r = r.bearer_auth(t);
    }
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    let resp = r.body(body.to_string()).send().await.unwrap();
    let (status, headers) = (resp.status(), resp.headers().clone());
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn www(h: &HeaderMap) -> &str {
    h.get("www-authenticate").map_or("", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn every_refusal_carries_its_challenge_and_nothing_reaches_the_server() {
    let s = setup().await;
    let doc = s.h.get("/protected-resources/shop/docs-mcp").await;
    let served: Value =
        s.h.http
            .get(format!("{}/.well-known/oauth-protected-resource/docs/mcp", s.gateway))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(served, doc.body, "the gateway serves the hub's document");
    assert_eq!(served["keyward_tool_scopes"], json!({"read_page": ["docs:read"], "search_docs": ["docs:search"]}));

    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}});
    let (status, headers, _) = post(&s, None, &initialize, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(www(&headers), format!(r#"Bearer resource_metadata="{}""#, s.metadata));

    let good = token(&s.h, "billing-agent", DOCS).await;
    let in_query =
        s.h.http
            .post(format!("{}/docs/mcp?access_token={good}", s.gateway))
            .header("content-type", "application/json")
            .body(initialize.to_string())
            .send()
            .await
            .unwrap();
    assert_eq!(in_query.status(), 400);
    assert!(www(in_query.headers()).starts_with(r#"Bearer error="invalid_request""#), "{}", www(in_query.headers()));

    let orders = token(&s.h, "billing-agent", ORDERS).await;
    let mut tampered = good.clone();
    tampered.replace_range(tampered.len() - 6.., "AAAAAA");
    for (what, t, description) in [
        ("garbage", "not-a-jwt".to_owned(), "the access token is not a JWT"),
        ("another resource's token", orders, "the access token is for another resource"),
        ("a tampered signature", tampered, "the access token's signature does not verify with the hub's keys"),
    ] {
        let (status, headers, body) = post(&s, Some(&t), &initialize, &[]).await;
        assert_eq!(status, 401, "{what}");
        assert_eq!(body["error"], "invalid_token", "{what}");
        assert_eq!(body["error_description"], description, "{what}");
        assert_eq!(
            www(&headers),
            format!(
                r#"Bearer error="invalid_token", error_description="{description}", resource_metadata="{}""#,
                s.metadata
            ),
            "{what}"
        );
    }

    // Past its exp (an hour, plus the leeway) by the gateway's clock.
    s.h.clock.fetch_add(3600 + 6, Ordering::SeqCst);
    let (status, _, body) = post(&s, Some(&good), &initialize, &[]).await;
    assert_eq!((status.as_u16(), body["error_description"].as_str()), (401, Some("the access token has expired")));
    s.h.clock.fetch_sub(3600 + 6, Ordering::SeqCst);

    let big_header = "x".repeat(20 * 1024);
    let (status, _, _) = post(&s, Some(&good), &initialize, &[("x-padding", &big_header)]).await;
    assert_eq!(status, 431);
    let huge = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "search_docs", "arguments": {"q": "x".repeat(9 * 1024)}}});
    let (status, _, _) = post(&s, Some(&good), &huge, &[]).await;
    assert_eq!(status, 413);
    assert_eq!(s.seen.count.load(Ordering::SeqCst), 0, "no refused request reached the server");
}

#[tokio::test]
async fn a_tool_call_without_its_scope_is_told_what_to_ask_for() {
    let s = setup().await;
    // billing-agent holds docs:search only.
    let search_only = token(&s.h, "billing-agent", DOCS).await;
    let (status, _, _) = post(&s, Some(&search_only), &call("search_docs"), &[]).await;
    assert_eq!(status, 200);
    for body in [call("read_page"), json!([call("search_docs"), call("read_page")])] {
        let (status, headers, answer) = post(&s, Some(&search_only), &body, &[]).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(answer["error"], "insufficient_scope");
        assert_eq!(
            www(&headers),
            format!(
                r#"Bearer error="insufficient_scope", error_description="this call needs the scope docs:read", scope="docs:search docs:read", resource_metadata="{}""#,
                s.metadata
            )
        );
    }
    assert_eq!(s.seen.count.load(Ordering::SeqCst), 1, "only the allowed call went through");
    // support-agent holds both.
    let both = token(&s.h, "support-agent", DOCS).await;
    let (status, _, _) = post(&s, Some(&both), &call("read_page"), &[]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_server_gets_the_caller_in_headers_and_never_the_token() {
    let s = setup().await;
    let t = token(&s.h, "support-agent", DOCS).await;
    let (status, _, body) =
        post(&s, Some(&t), &call("search_docs"), &[("x-keyward-subject", "admin"), ("mcp-session-id", "s-1")]).await;
    assert_eq!(status, 200);
    assert_eq!(body["result"], json!({}));
    let (headers, received) = s.seen.last.lock().unwrap().clone().unwrap();
    assert!(headers.get("authorization").is_none(), "the token is never passed through");
    assert_eq!(headers["x-keyward-client-id"], "support-agent");
    assert_eq!(headers["x-keyward-subject"], "support-agent", "the forged header is replaced");
    assert_eq!(headers["x-keyward-scope"], "docs:read docs:search");
    assert_eq!(headers["mcp-session-id"], "s-1");
    assert_eq!(serde_json::from_str::<Value>(&received).unwrap(), call("search_docs"));
}

#[tokio::test]
async fn an_sse_stream_passes_through_as_it_is_produced() {
    let s = setup().await;
    let t = token(&s.h, "support-agent", DOCS).await;
    let started = Instant::now();
    let mut resp =
        s.h.http
            .get(format!("{}/docs/mcp", s.gateway))
            .bearer_auth(&t)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let first = resp.chunk().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert_eq!(&first[..], b"data: one\n\n");
    assert!(first_at < Duration::from_millis(400), "the first event waited for the second: {first_at:?}");
    let second = resp.chunk().await.unwrap().unwrap();
    assert_eq!(&second[..], b"data: two\n\n");
    assert!(started.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn a_refused_request_leaves_its_connection_usable() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = setup().await;
    let mut conn = tokio::net::TcpStream::connect(s.gateway.trim_start_matches("http://")).await.unwrap();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}}).to_string();
    let request = format!(
        "POST /docs/mcp HTTP/1.1\r\nhost: gw\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let metadata = "GET /.well-known/oauth-protected-resource/docs/mcp HTTP/1.1\r\nhost: gw\r\n\r\n";
    // The body comes a moment after the head, as it does from a client that
    // writes them separately: a refusal sent before it arrives would leave
    // the server unable to reuse the connection.
    let (head, rest) = request.split_at(request.find("\r\n\r\n").unwrap() + 4);
    conn.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    conn.write_all(rest.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = conn.read(&mut buf).await.unwrap();
    let first = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    assert!(!first.to_ascii_lowercase().contains("connection: close"), "{first}");
    // The SDKs fetch the metadata next, on the same connection.
    conn.write_all(metadata.as_bytes()).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), conn.read(&mut buf)).await.unwrap().unwrap();
    let second = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(second.starts_with("HTTP/1.1 200"), "{second}");
}
