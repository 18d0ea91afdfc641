//! OpenID discovery (the issuer must match exactly) and the uncached JSON
//! path used for userinfo.

use axum::Router;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use keyward::fetch::{FetchError, Fetcher};
use serde_json::{Value, json};

use super::support::{Hits, bounded, json_response, policy, serve};

fn host(headers: &HeaderMap) -> String {
    headers.get(HOST).and_then(|h| h.to_str().ok()).unwrap_or_default().to_owned()
}

async fn provider() -> (std::net::SocketAddr, Hits) {
    let hits = Hits::default();
    let counter = hits.clone();
    let router = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move |headers: HeaderMap| {
                counter.hit();
                async move {
                    let issuer = format!("http://{}", host(&headers));
                    let doc = json!({
                        "issuer": issuer,
                        "jwks_uri": format!("{issuer}/jwks"),
                        "userinfo_endpoint": format!("{issuer}/userinfo"),
                        "grant_types_supported": ["urn:ietf:params:oauth:grant-type:jwt-bearer"],
                    });
                    json_response(&doc, None)
                }
            }),
        )
        .route(
            "/tenant/.well-known/openid-configuration",
            get(|headers: HeaderMap| async move {
                let issuer = format!("http://{}/tenant", host(&headers));
                json_response(&json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")}), None)
            }),
        )
        .route(
            "/evil/.well-known/openid-configuration",
            get(|| async {
                json_response(
                    &json!({"issuer": "https://accounts.example", "jwks_uri": "https://accounts.example/jwks"}),
                    None,
                )
            }),
        )
        .route(
            "/partial/.well-known/openid-configuration",
            get(|headers: HeaderMap| async move {
                json_response(&json!({"issuer": format!("http://{}/partial", host(&headers))}), None)
            }),
        )
        .route(
            "/userinfo",
            get(|headers: HeaderMap| async move {
                match headers.get(AUTHORIZATION).and_then(|h| h.to_str().ok()) {
                    Some("Bearer good-token") => json_response(&json!({"sub": "alice"}), None),
                    _ => StatusCode::UNAUTHORIZED.into_response(),
                }
            }),
        )
        .route("/text", get(|| async { ([(CONTENT_TYPE, "text/plain")], "{\"sub\":\"alice\"}") }))
        .route("/jwt", get(|| async { ([(CONTENT_TYPE, "application/jwt")], "eyJ...") }))
        .route("/broken", get(|| async { ([(CONTENT_TYPE, "application/json")], "{\"sub\":") }));
    (serve(router).await, hits)
}

#[tokio::test]
async fn discovery_is_cached_and_the_issuer_must_match_exactly() {
    bounded(async {
        let (addr, hits) = provider().await;
        let fetcher = Fetcher::new(policy()).unwrap();
        let issuer = format!("http://{addr}");
        let doc = fetcher.discovery(&issuer).await.unwrap();
        assert_eq!(doc.issuer, issuer);
        assert_eq!(doc.jwks_uri, format!("{issuer}/jwks"));
        assert_eq!(doc.userinfo_endpoint, Some(format!("{issuer}/userinfo")));
        fetcher.discovery(&issuer).await.unwrap();
        assert_eq!(hits.get(), 1);

        // Issuers with a path: the well-known suffix goes after the path.
        let tenant = format!("http://{addr}/tenant");
        assert_eq!(fetcher.discovery(&tenant).await.unwrap().issuer, tenant);

        // A document claiming another issuer is rejected (OpenID Discovery §4.3).
        let err = fetcher.discovery(&format!("http://{addr}/evil")).await.unwrap_err();
        assert_eq!(
            err,
            FetchError::IssuerMismatch {
                expected: format!("http://{addr}/evil"),
                found: "https://accounts.example".into()
            }
        );
        // Exactly: a trailing slash is a different issuer.
        let err = fetcher.discovery(&format!("http://{addr}/")).await.unwrap_err();
        assert!(matches!(err, FetchError::IssuerMismatch { .. }), "{err:?}");
        // A document without a jwks_uri is named as such.
        let err = fetcher.discovery(&format!("http://{addr}/partial")).await.unwrap_err();
        assert!(matches!(&err, FetchError::Invalid(m) if m.contains("jwks_uri")), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn json_sends_the_bearer_token_and_is_not_cached() {
    bounded(async {
        let (addr, _) = provider().await;
        let fetcher = Fetcher::new(policy()).unwrap();
        let url = format!("http://{addr}/userinfo");
        let info: Value = fetcher.json(&url, Some("good-token")).await.unwrap();
        assert_eq!(info["sub"], "alice");
        assert_eq!(fetcher.json::<Value>(&url, Some("bad-token")).await.unwrap_err(), FetchError::Status(401));
        assert_eq!(fetcher.json::<Value>(&url, None).await.unwrap_err(), FetchError::Status(401));
        assert!(!FetchError::Status(401).to_string().contains("token"));

        assert_eq!(fetcher.json::<Value>(&format!("http://{addr}/text"), None).await.unwrap_err(), FetchError::NotJson);
        assert_eq!(fetcher.json::<Value>(&format!("http://{addr}/jwt"), None).await.unwrap_err(), FetchError::NotJson);
        assert_eq!(
            fetcher.json::<Value>(&format!("http://{addr}/broken"), None).await.unwrap_err(),
            FetchError::NotJson
        );
        assert_eq!(
            fetcher.json::<Value>(&format!("http://{addr}/absent"), None).await.unwrap_err(),
            FetchError::Status(404)
        );
        // A JWKS that is not JSON is not cached as one.
        assert_eq!(fetcher.jwks(&format!("http://{addr}/text")).await.unwrap_err(), FetchError::NotJson);
    })
    .await;
}
