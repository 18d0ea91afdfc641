//! Dynamic Client Registration (RFC 7591) and its management (RFC 7592) over
//! real HTTP, with the example manifests: an MCP client registers itself,
//! signs a user in through the pages and gets a token for the MCP server;
//! every malformed registration gets its exact error; the limits hold.

use std::time::Duration;

use serde_json::{Value, json};

use crate::people::{Browser, challenge, public_exchange, query_of};
use crate::support::{Reply, TestHub, hub, url_encode};

const VERIFIER: &str = "registered-client-verifier-0123456789-abcdefghijkl";
const REDIRECT: &str = "http://127.0.0.1:5555/callback";
const DOCS: &str = "https://mcp.example.internal/docs/mcp";
const ORDERS: &str = "https://api.example.internal/orders";

async fn people_hub() -> TestHub {
    hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .start()
        .await
}

async fn register(h: &TestHub, body: &Value) -> Reply {
    h.post_raw("/register", &[("content-type", "application/json")], body.to_string()).await
}

/// What the MCP TypeScript SDK sends (its `clientMetadata` for a CLI app).
fn mcp_client() -> Value {
    json!({
        "client_name": "Docs agent",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": "docs:search"
    })
}

fn authorize_path(client_id: &str, resource: &str, scope: &str) -> String {
    let c = challenge(VERIFIER);
    let pairs = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("state", "s-1"),
        ("resource", resource),
        ("scope", scope),
        ("code_challenge", &c),
        ("code_challenge_method", "S256"),
    ];
    let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect();
    format!("/authorize?{}", q.join("&"))
}

async fn delete(h: &TestHub, client_id: &str, token: &str) -> Reply {
    let r = h.http.delete(format!("{}/register/{client_id}", h.base)).bearer_auth(token).send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Reply { status, headers, body: serde_json::from_str(&text).unwrap_or(Value::Null), text }
}

fn registered_files(h: &TestHub) -> usize {
    std::fs::read_dir(h.state.join("dynamic-clients")).map_or(0, |d| d.count())
}

#[tokio::test]
async fn an_mcp_client_registers_itself_signs_a_user_in_and_gets_a_token_for_the_mcp_server() {
    let h = people_hub().await;
    let meta = h.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(meta.body["registration_endpoint"], format!("{}/register", h.issuer()));
    // A browser-based client registers from its own origin.
    let preflight = h
        .http
        .request(reqwest::Method::OPTIONS, format!("{}/register", h.base))
        .header("origin", "https://inspector.example")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");

    let r = register(&h, &mcp_client()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let client_id = r.body["client_id"].as_str().unwrap().to_owned();
    assert!(client_id.starts_with("dcr-") && client_id.ends_with(".default"), "{client_id}");
    assert_eq!(r.body["token_endpoint_auth_method"], "none");
    assert_eq!(r.body["grant_types"], json!(["authorization_code", "refresh_token"]));
    assert_eq!(r.body["redirect_uris"], json!([REDIRECT]));
    assert_eq!(r.body["client_name"], "Docs agent");
    assert!(r.body.get("client_secret").is_none());
    assert!(r.body["client_id_issued_at"].is_u64());
    assert_eq!(r.body["registration_client_uri"], format!("{}/register/{client_id}", h.issuer()));
    assert!(r.body["registration_access_token"].as_str().unwrap().len() >= 43);

    // Through the pages: the consent page says who vouched for it (nobody)
    // and where the answer goes.
    let mut b = Browser::new(&h);
    let start = b.get(&authorize_path(&client_id, DOCS, "docs:search")).await;
    assert_eq!(start.status, 303, "{}", start.text);
    let consent = b.log_in(start.header("location").unwrap(), "alice", "alice-demo-password").await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    assert!(consent.text.contains("Allow Docs agent?"), "{}", consent.text);
    assert!(consent.text.contains("registered itself"), "{}", consent.text);
    assert!(consent.text.contains("<strong>127.0.0.1:5555</strong>"), "{}", consent.text);
    let back = b.allow(&consent).await;
    let tokens = public_exchange(&h, &client_id, &back["code"], REDIRECT, VERIFIER).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let claims = h.verify(tokens.body["access_token"].as_str().unwrap(), DOCS).await;
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["scope"], "docs:search");

    // Step-up: the registration asked for docs:search only, and that is no
    // cap. Signed in already, the user is asked about the new scope only.
    let more = b.get(&authorize_path(&client_id, DOCS, "docs:search docs:read")).await;
    assert_eq!(more.status, 200, "the consent page for the new scope: {}", more.text);
    assert!(more.text.contains("docs:read"), "{}", more.text);

    // Refresh, as a public client: client_id and the token.
    let refreshed = h
        .post(
            "/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", tokens.body["refresh_token"].as_str().unwrap()),
                ("client_id", &client_id),
            ],
        )
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);

    // The orders API is of type api: registered clients are kept out unless
    // it says otherwise.
    let api = b.get(&authorize_path(&client_id, ORDERS, "orders:read")).await;
    assert_eq!(api.status, 303, "{}", api.text);
    let q = query_of(api.header("location").unwrap());
    assert_eq!(q["error"], "invalid_target", "{q:?}");
}

#[tokio::test]
async fn the_registrant_reads_and_deletes_its_client_with_the_registration_access_token_only() {
    let h = people_hub().await;
    let first = register(&h, &mcp_client()).await;
    let other = register(&h, &json!({"redirect_uris": ["https://other.example/cb"]})).await;
    let (id, token) =
        (first.body["client_id"].as_str().unwrap(), first.body["registration_access_token"].as_str().unwrap());
    let other_token = other.body["registration_access_token"].as_str().unwrap();

    let read = h.http_get_bearer(&format!("/register/{id}"), token).await;
    assert_eq!(read.status, 200, "{}", read.text);
    assert_eq!(read.body["client_id"], id);
    assert_eq!(read.body["redirect_uris"], json!([REDIRECT]));
    assert!(read.body.get("registration_access_token").is_none(), "issued once, never shown again");

    for (who, path, t) in [
        ("another client's token", format!("/register/{id}"), other_token),
        ("a made-up token", format!("/register/{id}"), "x"),
        ("a manifest client", "/register/orders-desktop.default".to_owned(), token),
        ("an unknown client", "/register/dcr-00000000000000000000.default".to_owned(), token),
        ("a path out of the folder", "/register/dcr-..%2F..%2Fkeys.default".to_owned(), token),
    ] {
        let r = h.http_get_bearer(&path, t).await;
        assert_eq!(r.status, 401, "{who}: {}", r.text);
        assert_eq!(r.body["error"], "invalid_token", "{who}");
        assert_eq!(r.header("www-authenticate"), Some(r#"Bearer error="invalid_token""#), "{who}");
    }
    let no_token = h.get(&format!("/register/{id}")).await;
    assert_eq!(no_token.status, 401);
    assert_eq!(delete(&h, id, other_token).await.status, 401);

    assert_eq!(registered_files(&h), 2);
    let gone = delete(&h, id, token).await;
    assert_eq!(gone.status, 204, "{}", gone.text);
    assert_eq!(registered_files(&h), 1);
    assert!(h.hub.as_ref().unwrap().state.hub.load().client(id).is_none(), "gone from the snapshot at once");
    assert_eq!(h.http_get_bearer(&format!("/register/{id}"), token).await.status, 401);
    let page = h.get(&authorize_path(id, DOCS, "docs:search")).await;
    assert_eq!(page.status, 400, "an unknown client gets a page, never a redirect: {}", page.text);
    assert!(page.header("location").is_none());
}

#[tokio::test]
async fn every_malformed_registration_gets_its_exact_error() {
    let h = people_hub().await;
    // (what, headers, body, status, error, error_description)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, String, u16, &'a str, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            "no content type",
            vec![],
            mcp_client().to_string(),
            400,
            "invalid_client_metadata",
            "body: must be application/json",
        ),
        (
            "a form",
            vec![("content-type", "application/x-www-form-urlencoded")],
            "redirect_uris=x".into(),
            400,
            "invalid_client_metadata",
            "body: must be application/json",
        ),
        (
            "not JSON",
            vec![("content-type", "application/json")],
            "{".into(),
            400,
            "invalid_client_metadata",
            "body: is not valid JSON",
        ),
        (
            "an array",
            vec![("content-type", "application/json")],
            "[]".into(),
            400,
            "invalid_client_metadata",
            "body: must be a JSON object",
        ),
        (
            "no redirect URIs",
            vec![("content-type", "application/json")],
            json!({"client_name": "x"}).to_string(),
            400,
            "invalid_redirect_uri",
            "redirect_uris: required: the authorization code grant needs at least one",
        ),
        (
            "plain http elsewhere",
            vec![("content-type", "application/json; charset=utf-8")],
            json!({"redirect_uris": ["http://evil.example/cb"]}).to_string(),
            400,
            "invalid_redirect_uri",
            "redirect_uris[0]: plain http is only for a native app's loopback listener: http://127.0.0.1, http://[::1] or http://localhost",
        ),
        (
            "javascript:",
            vec![("content-type", "application/json")],
            json!({"redirect_uris": ["javascript:alert(document.cookie)"]}).to_string(),
            400,
            "invalid_redirect_uri",
            "redirect_uris[0]: uses a scheme the browser handles itself; use https, a loopback http URL or the app's own scheme",
        ),
        (
            "a fragment",
            vec![("content-type", "application/json")],
            json!({"redirect_uris": ["https://app.example/cb#x"]}).to_string(),
            400,
            "invalid_redirect_uri",
            "redirect_uris[0]: must not contain a fragment (RFC 6749 section 3.1.2)",
        ),
        (
            "client_credentials",
            vec![("content-type", "application/json")],
            json!({"redirect_uris": [REDIRECT], "grant_types": ["client_credentials"]}).to_string(),
            400,
            "invalid_client_metadata",
            "grant_types: a registered client may use authorization_code and refresh_token only",
        ),
        (
            "implicit",
            vec![("content-type", "application/json")],
            json!({"redirect_uris": [REDIRECT], "response_types": ["token"]}).to_string(),
            400,
            "invalid_client_metadata",
            "response_types: only code is supported",
        ),
        (
            "an http logo",
            vec![("content-type", "application/json")],
            json!({"redirect_uris": [REDIRECT], "logo_uri": "http://img.example/l.png"}).to_string(),
            400,
            "invalid_client_metadata",
            "logo_uri: must be an https URL",
        ),
    ];
    for (what, headers, body, status, code, description) in cases {
        let r = h.post_raw("/register", &headers, body).await;
        assert_eq!(r.status.as_u16(), status, "{what}: {}", r.text);
        assert_eq!(r.body["error"], code, "{what}");
        assert_eq!(r.body["error_description"], description, "{what}");
        assert!(!r.text.contains("evil.example") && !r.text.contains("document.cookie"), "{what}: echoed input");
    }
    let huge = json!({"redirect_uris": [REDIRECT], "client_name": "x".repeat(20 * 1024)}).to_string();
    let r = h.post_raw("/register", &[("content-type", "application/json")], huge).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(registered_files(&h), 0, "nothing was kept");
    // The method is refused, not the resource.
    let put = h.http.put(format!("{}/register", h.base)).send().await.unwrap();
    assert_eq!(put.status(), 405);
}

#[tokio::test]
async fn ten_thousand_registrations_from_one_address_make_ten_clients() {
    let h = people_hub().await;
    let body = mcp_client().to_string();
    let mut statuses = std::collections::BTreeMap::new();
    let mut retry_after = None;
    let started = std::time::Instant::now();
    for chunk in 0..100 {
        let batch: Vec<_> = (0..100)
            .map(|_| {
                let h = &h;
                let body = body.clone();
                async move { h.post_raw("/register", &[("content-type", "application/json")], body).await }
            })
            .collect();
        for r in futures::future::join_all(batch).await {
            *statuses.entry(r.status.as_u16()).or_insert(0) += 1;
            if r.status == 429 {
                retry_after = r.header("retry-after").map(str::to_owned);
                assert_eq!(r.body["error"], "too_many_requests");
            }
        }
        if chunk == 0 {
            assert_eq!(statuses.get(&201), Some(&10), "{statuses:?}");
        }
    }
    assert_eq!(statuses, std::collections::BTreeMap::from([(201, 10), (429, 9990)]));
    let wait: u64 = retry_after.unwrap().parse().unwrap();
    assert!(wait > 0 && wait <= 600, "{wait}");
    assert_eq!(registered_files(&h), 10);
    eprintln!("10,000 registrations from one address: {:?}", started.elapsed());
    // The window passes: the address may register again.
    h.clock.fetch_add(601, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(register(&h, &mcp_client()).await.status, 201);
}

#[tokio::test]
async fn the_cap_on_registered_clients_holds_and_deleting_one_makes_room() {
    let h = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .registration(Some(keyward::registration::Limits {
            max_clients: 3,
            per_address: 1000,
            ..keyward::registration::Limits::default()
        }))
        .start()
        .await;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let r = register(&h, &mcp_client()).await;
        assert_eq!(r.status, 201, "{}", r.text);
        tokens.push((r.body["client_id"].as_str().unwrap().to_owned(), r.body["registration_access_token"].clone()));
    }
    let full = register(&h, &mcp_client()).await;
    assert_eq!(full.status, 403, "{}", full.text);
    assert_eq!(full.body["error"], "access_denied");
    assert_eq!(
        full.body["error_description"],
        "the hub holds the most registered clients it accepts; ask its operator"
    );
    let (id, token) = &tokens[0];
    assert_eq!(delete(&h, id, token.as_str().unwrap()).await.status, 204);
    assert_eq!(register(&h, &mcp_client()).await.status, 201);
}

#[tokio::test]
async fn registration_off_is_neither_advertised_nor_served() {
    let h = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .registration(None)
        .start()
        .await;
    let meta = h.get("/.well-known/oauth-authorization-server").await;
    assert!(meta.body.get("registration_endpoint").is_none(), "{}", meta.text);
    assert_eq!(register(&h, &mcp_client()).await.status, 404);
}

#[tokio::test]
async fn a_resource_turns_registered_clients_away_and_a_restart_keeps_them() {
    let h = people_hub().await;
    let r = register(&h, &mcp_client()).await;
    let id = r.body["client_id"].as_str().unwrap().to_owned();
    let token = r.body["registration_access_token"].as_str().unwrap().to_owned();
    let allowed = |h: &TestHub| {
        let hub = h.hub.as_ref().unwrap().state.hub.load();
        let c = hub.client(&id).cloned();
        c.map(|c| c.associations.iter().map(|a| a.resource.identifier.to_string()).collect::<Vec<_>>())
    };
    assert_eq!(allowed(&h), Some(vec![DOCS.to_owned()]));

    let edited = include_str!("../../examples/resources.yaml")
        .replace("  type: mcpServer\n", "  type: mcpServer\n  clientRegistration:\n    dynamic: false\n");
    assert_ne!(edited, include_str!("../../examples/resources.yaml"));
    h.write("resources.yaml", &edited);
    // Left with no Resource, it may still sign users in (the hub's /userinfo).
    let userinfo = vec![format!("{}/userinfo", h.issuer())];
    h.eventually("the docs server turns registered clients away", || async { allowed(&h) == Some(userinfo.clone()) })
        .await;

    let h = h.restart().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(allowed(&h), Some(userinfo), "still registered after a restart");
    assert_eq!(h.http_get_bearer(&format!("/register/{id}"), &token).await.status, 200);
}

#[tokio::test]
async fn at_the_cap_the_oldest_client_nobody_consented_to_makes_room() {
    let h = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .registration(Some(keyward::registration::Limits {
            max_clients: 2,
            per_address: 1000,
            ..keyward::registration::Limits::default()
        }))
        .start()
        .await;
    let used = register(&h, &mcp_client()).await;
    let unused = register(&h, &mcp_client()).await;
    let (used_id, unused_id) = (used.body["client_id"].as_str().unwrap(), unused.body["client_id"].as_str().unwrap());
    // alice consents to the first one.
    let mut b = Browser::new(&h);
    let start = b.get(&authorize_path(used_id, DOCS, "docs:search")).await;
    let consent = b.log_in(start.header("location").unwrap(), "alice", "alice-demo-password").await;
    b.allow(&consent).await;

    // Within their first hour neither may go: the cap holds.
    assert_eq!(register(&h, &mcp_client()).await.status, 403);
    h.clock.fetch_add(3601, std::sync::atomic::Ordering::SeqCst);
    let third = register(&h, &mcp_client()).await;
    assert_eq!(third.status, 201, "{}", third.text);
    let snapshot = h.hub.as_ref().unwrap().state.hub.load();
    assert!(snapshot.client(used_id).is_some(), "a client someone consented to stays");
    assert!(snapshot.client(unused_id).is_none(), "the unused one made room");
    let token = unused.body["registration_access_token"].as_str().unwrap();
    assert_eq!(h.http_get_bearer(&format!("/register/{unused_id}"), token).await.status, 401);
    assert_eq!(registered_files(&h), 2);
    // The newcomer is within its first hour, the other consented to: full.
    assert_eq!(register(&h, &mcp_client()).await.status, 403);
}
