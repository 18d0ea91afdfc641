//! Client ID Metadata Documents over real HTTPS: a document server with a CA
//! made for the run (the hub trusts it and may fetch from 127.0.0.1 only
//! because the test says so), a person signing in to a client known by its
//! document, and every way a document can be wrong, each with the page a
//! person sees and no redirect.

use std::time::Duration;

use serde_json::json;

#[path = "../shared/document_server.rs"]
mod document_server;
use document_server::{Answer, DocumentServer};

use crate::people::{Browser, challenge, public_exchange};
use crate::support::{TestHub, hub, url_encode};

const VERIFIER: &str = "metadata-document-verifier-0123456789-abcdefghij";
const REDIRECT: &str = "http://127.0.0.1:5555/callback";
const DOCS: &str = "https://mcp.example.internal/docs/mcp";

fn limits(server: &DocumentServer) -> keyward::registration::Limits {
    let mut policy = keyward::registration::DocumentPolicy::default();
    policy.fetch.allow = vec!["127.0.0.1".parse().unwrap()];
    policy.fetch.timeout = Duration::from_secs(1);
    policy.fetch.min_ttl = Duration::from_secs(1);
    policy.fetch.min_refresh_interval = Duration::ZERO;
    policy.ca_pem = Some(server.ca_pem.clone());
    keyward::registration::Limits {
        documents: Some(policy),
        per_address: 1000,
        ..keyward::registration::Limits::default()
    }
}

async fn document_hub(server: &DocumentServer) -> TestHub {
    hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .registration(Some(limits(server)))
        .start()
        .await
}

fn authorize_path(client_id: &str, redirect: &str) -> String {
    let c = challenge(VERIFIER);
    let pairs = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("state", "s-1"),
        ("resource", DOCS),
        ("scope", "docs:search"),
        ("code_challenge", &c),
        ("code_challenge_method", "S256"),
    ];
    let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect();
    format!("/authorize?{}", q.join("&"))
}

#[tokio::test]
async fn a_person_signs_in_to_a_client_known_by_its_metadata_document() {
    let server = DocumentServer::start().await;
    let path = "/oauth/agent.json";
    let client_id = server.url(path);
    server.set(path, Answer::json(&server.document(REDIRECT, path, json!({}))));
    let h = document_hub(&server).await;
    let meta = h.get("/.well-known/oauth-authorization-server").await;
    assert_eq!(meta.body["client_id_metadata_document_supported"], true);

    let mut b = Browser::new(&h);
    let start = b.get(&authorize_path(&client_id, REDIRECT)).await;
    assert_eq!(start.status, 303, "{}", start.text);
    let consent = b.log_in(start.header("location").unwrap(), "alice", "alice-demo-password").await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    let host = server.base.trim_start_matches("https://");
    assert!(consent.text.contains(&format!("identified by <strong>{host}</strong>")), "{}", consent.text);
    let back = b.allow(&consent).await;
    let tokens = public_exchange(&h, &client_id, &back["code"], REDIRECT, VERIFIER).await;
    assert_eq!(tokens.status, 200, "{}", tokens.text);
    let claims = h.verify(tokens.body["access_token"].as_str().unwrap(), DOCS).await;
    assert_eq!(claims["client_id"], client_id.as_str());
    // Kept like a registered client, under the state directory.
    let kept: Vec<_> = std::fs::read_dir(h.state.join("dynamic-clients")).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].file_name().to_string_lossy().starts_with("cimd-"));
    // Fetched once: the document was fresh for the whole flow.
    assert_eq!(server.hits(path), 1);
}

#[tokio::test]
async fn every_bad_metadata_document_gets_a_page_and_no_redirect() {
    let server = DocumentServer::start().await;
    let h = document_hub(&server).await;
    let huge = server.document(
        REDIRECT,
        "/huge.json",
        json!({"client_name": "x".repeat(200), "software_id": "y".repeat(200), "padding": "z".repeat(6 * 1024)}),
    );
    let cases: Vec<(&str, Option<Answer>, &str)> = vec![
        (
            "/other.json",
            Some(Answer::json(&server.document(
                REDIRECT,
                "/other.json",
                json!({"client_id": "https://elsewhere.example/c.json"}),
            ))),
            "is not acceptable: client_id: must be exactly the URL the document was fetched from",
        ),
        (
            "/secret.json",
            Some(Answer::json(&server.document(REDIRECT, "/secret.json", json!({"client_secret": "hunter2-hunter2"})))),
            "is not acceptable: client_secret: a published document must not hold a secret",
        ),
        (
            "/basic.json",
            Some(Answer::json(&server.document(
                REDIRECT,
                "/basic.json",
                json!({"token_endpoint_auth_method": "client_secret_basic"}),
            ))),
            "is not acceptable: token_endpoint_auth_method: must be none or private_key_jwt",
        ),
        (
            "/script.json",
            Some(Answer::json(&server.document(
                REDIRECT,
                "/script.json",
                json!({"redirect_uris": ["javascript:alert(1)"]}),
            ))),
            "is not acceptable: redirect_uris[0]: uses a scheme the browser handles itself",
        ),
        ("/huge.json", Some(Answer::json(&huge)), "could not be fetched: it is larger than 5 KiB"),
        (
            "/slow.json",
            Some(Answer {
                delay: Duration::from_secs(3),
                ..Answer::json(&server.document(REDIRECT, "/slow.json", json!({})))
            }),
            "could not be fetched: it did not arrive in time",
        ),
        (
            "/broken.json",
            Some(Answer { body: b"{\"client_id\":".to_vec(), ..Answer::json(&json!({})) }),
            "could not be fetched: it is not a JSON object",
        ),
        ("/missing.json", None, "could not be fetched: its server did not answer 200"),
        (
            "/moved.json",
            Some(Answer {
                status: 302,
                headers: vec![("location".into(), server.url("/moved.json").replace("127.0.0.1", "localhost"))],
                body: vec![],
                delay: Duration::ZERO,
            }),
            "could not be fetched: its address is not one the hub fetches from",
        ),
        (
            "/metadata.json",
            Some(Answer {
                status: 302,
                headers: vec![("location".into(), "https://169.254.169.254/latest/meta-data".into())],
                body: vec![],
                delay: Duration::ZERO,
            }),
            "could not be fetched: its address is not one the hub fetches from",
        ),
    ];
    for (path, answer, expected) in cases {
        if let Some(a) = answer {
            server.set(path, a);
        }
        let r = h.get(&authorize_path(&server.url(path), REDIRECT)).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert!(r.header("location").is_none(), "{path}: an unverified client never gets a redirect");
        assert!(r.text.contains(expected), "{path}: {}", r.text);
        assert!(!r.text.contains("hunter2") && !r.text.contains("127.0.0.1:"), "{path}: echoed input: {}", r.text);
    }
    for (url, expected) in [
        (format!("{}/", server.base), "client_id: must have a path"),
        (format!("{}/a/../b.json", server.base), "client_id: must not contain . or .. path segments"),
        (format!("{}/a.json#f", server.base), "client_id: must not contain a fragment"),
    ] {
        let r = h.get(&authorize_path(&url, REDIRECT)).await;
        assert_eq!(r.status, 400, "{url}");
        assert!(r.text.contains(expected), "{url}: {}", r.text);
    }
    // A private address is refused unless allowed, even with the CA trusted.
    let strict = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .registration(Some({
            let mut l = limits(&server);
            if let Some(d) = l.documents.as_mut() {
                d.fetch.allow.clear();
            }
            l
        }))
        .start()
        .await;
    server.set("/ok.json", Answer::json(&server.document(REDIRECT, "/ok.json", json!({}))));
    let r = strict.get(&authorize_path(&server.url("/ok.json"), REDIRECT)).await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("its address is not one the hub fetches from"), "{}", r.text);
    assert!(std::fs::read_dir(h.state.join("dynamic-clients")).map_or(0, |d| d.count()) == 0, "nothing kept");
}

#[tokio::test]
async fn a_changed_document_takes_effect_once_its_cache_expires() {
    let server = DocumentServer::start().await;
    let path = "/app.json";
    let client_id = server.url(path);
    let mut first = Answer::json(&server.document(REDIRECT, path, json!({})));
    first.headers.push(("cache-control".into(), "max-age=1".into()));
    server.set(path, first.clone());
    let h = document_hub(&server).await;
    // A browser that follows no redirect: a 303 to the sign-in page is the answer.
    let mut b = Browser::new(&h);
    let r = b.get(&authorize_path(&client_id, REDIRECT)).await;
    assert_eq!(r.status, 303, "{}", r.text);

    let moved = "https://app.example/callback";
    let mut second = Answer::json(&server.document(REDIRECT, path, json!({"redirect_uris": [moved]})));
    second.headers.push(("cache-control".into(), "max-age=1".into()));
    server.set(path, second);
    // Still fresh: the old redirect URI holds, the new one is unknown.
    let r = b.get(&authorize_path(&client_id, moved)).await;
    assert_eq!(r.status, 400, "{}", r.text);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = b.get(&authorize_path(&client_id, moved)).await;
    assert_eq!(r.status, 303, "refetched and updated: {}", r.text);
    assert_eq!(server.hits(path), 2);
    let old = b.get(&authorize_path(&client_id, REDIRECT)).await;
    assert_eq!(old.status, 400, "the old redirect URI is gone");
}

#[tokio::test]
async fn metadata_documents_off_are_unknown_clients() {
    let server = DocumentServer::start().await;
    server.set("/app.json", Answer::json(&server.document(REDIRECT, "/app.json", json!({}))));
    let h = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .registration(Some(keyward::registration::Limits { documents: None, ..limits(&server) }))
        .start()
        .await;
    let meta = h.get("/.well-known/oauth-authorization-server").await;
    assert!(meta.body.get("client_id_metadata_document_supported").is_none());
    let r = h.get(&authorize_path(&server.url("/app.json"), REDIRECT)).await;
    assert_eq!(r.status, 400);
    assert_eq!(server.hits("/app.json"), 0, "never fetched");
}

#[tokio::test]
async fn unknown_document_urls_count_against_the_callers_address() {
    let server = DocumentServer::start().await;
    let h = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .registration(Some(keyward::registration::Limits { per_address: 2, ..limits(&server) }))
        .start()
        .await;
    // Two fetches of URLs the hub does not know (one fails), then no more.
    server.set("/a.json", Answer::json(&server.document(REDIRECT, "/a.json", json!({}))));
    let mut b = Browser::new(&h);
    assert_eq!(b.get(&authorize_path(&server.url("/a.json"), REDIRECT)).await.status, 303);
    assert_eq!(b.get(&authorize_path(&server.url("/missing.json"), REDIRECT)).await.status, 400);
    let r = b.get(&authorize_path(&server.url("/c.json"), REDIRECT)).await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("too many new clients from this address"), "{}", r.text);
    assert_eq!(server.hits("/c.json"), 0, "refused before any fetch");
    // A client the hub knows costs nothing more.
    assert_eq!(b.get(&authorize_path(&server.url("/a.json"), REDIRECT)).await.status, 303);
}
