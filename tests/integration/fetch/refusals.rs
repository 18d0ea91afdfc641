//! Where the fetcher refuses to go: literal internal addresses (before any
//! connection), names resolving to them, plain http, and redirect hops.

use std::net::IpAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use keyward::fetch::{AddrClass, FetchError, FetchPolicy, Fetcher, Refusal};

use super::support::{JwksServer, allow, bounded, json_response, jwks, kids, policy, serve, serve_on};

fn refused_as(result: Result<impl std::fmt::Debug, FetchError>, class: AddrClass) {
    match result {
        Err(FetchError::Refused { reason: Refusal::Address(_, found), .. }) if found == class => {}
        other => panic!("expected a refusal ({class}), got {other:?}"),
    }
}

/// Nothing connected to `listener` (a connection would be accepted at once).
async fn assert_untouched(listener: &tokio::net::TcpListener) {
    let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(accepted.is_err(), "a connection was made");
}

#[tokio::test]
async fn internal_addresses_are_refused_before_any_connection() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fetcher = Fetcher::new(FetchPolicy { allow_http: true, ..FetchPolicy::default() }).unwrap();

        let err = fetcher.jwks(&format!("http://127.0.0.1:{port}/jwks")).await.unwrap_err();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            err,
            FetchError::Refused {
                url: format!("http://127.0.0.1:{port}/jwks"),
                reason: Refusal::Address(loopback, AddrClass::Loopback),
            }
        );
        refused_as(fetcher.jwks(&format!("http://[::ffff:127.0.0.1]:{port}/jwks")).await, AddrClass::Loopback);
        refused_as(
            fetcher.json::<serde_json::Value>(&format!("http://2130706433:{port}/"), None).await,
            AddrClass::Loopback,
        );
        // A name that resolves to loopback is refused by the resolver, which
        // hands the connector no address at all.
        refused_as(fetcher.jwks(&format!("http://localhost:{port}/jwks")).await, AddrClass::Loopback);
        assert_untouched(&listener).await;

        refused_as(fetcher.jwks("http://169.254.169.254/latest/meta-data/").await, AddrClass::CloudMetadata);
        refused_as(fetcher.jwks("http://[fd00:ec2::254]/").await, AddrClass::CloudMetadata);
        refused_as(fetcher.jwks("http://[::ffff:169.254.169.254]/").await, AddrClass::CloudMetadata);
        refused_as(fetcher.jwks("http://10.0.0.1/").await, AddrClass::Private);
        refused_as(fetcher.jwks("http://[fe80::1]/").await, AddrClass::LinkLocal);
        refused_as(fetcher.jwks("http://100.64.0.1/").await, AddrClass::SharedAddressSpace);
        refused_as(fetcher.jwks("http://0.0.0.0/").await, AddrClass::Unspecified);
    })
    .await;
}

#[tokio::test]
async fn plain_http_needs_allow_http() {
    bounded(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let strict = Fetcher::new(FetchPolicy { allow: vec![allow("127.0.0.1")], ..FetchPolicy::default() }).unwrap();
        let err = strict.jwks(&format!("http://127.0.0.1:{port}/jwks")).await.unwrap_err();
        assert!(matches!(&err, FetchError::Refused { reason: Refusal::Scheme(s), .. } if s == "http"), "{err:?}");
        let err = strict.discovery(&format!("http://127.0.0.1:{port}")).await.unwrap_err();
        assert!(matches!(err, FetchError::Refused { reason: Refusal::Scheme(_), .. }), "{err:?}");
        assert_untouched(&listener).await;
    })
    .await;
}

#[tokio::test]
async fn the_allow_list_lifts_the_refusal_by_address_or_by_name() {
    bounded(async {
        let issuer = JwksServer::start(&["a"], None).await;
        let port = issuer.addr.port();
        let by_net = Fetcher::new(policy()).unwrap();
        assert_eq!(kids(&by_net.jwks(&issuer.url()).await.unwrap()), ["a"]);
        let by_name = Fetcher::new(FetchPolicy { allow: vec![allow("localhost")], ..policy() }).unwrap();
        assert_eq!(kids(&by_name.jwks(&format!("http://localhost:{port}/jwks")).await.unwrap()), ["a"]);
        // The name is allowed, not the address behind it.
        refused_as(by_name.jwks(&issuer.url()).await, AddrClass::Loopback);
    })
    .await;
}

/// A server redirecting `/start` to `target`, and `/hop/{n}` through `n`
/// more hops to a JWKS.
async fn redirector(target: String) -> std::net::SocketAddr {
    serve(redirects(target)).await
}

fn redirects(target: String) -> Router {
    Router::new().route("/start", get(move || async move { Redirect::temporary(&target).into_response() })).route(
        "/hop/{n}",
        get(|Path(n): Path<u32>| async move {
            if n == 0 {
                json_response(&jwks(&["end"]), None)
            } else {
                Redirect::temporary(&format!("/hop/{}", n - 1)).into_response()
            }
        }),
    )
}

#[tokio::test]
async fn every_redirect_hop_is_checked() {
    bounded(async {
        let target = JwksServer::start(&["target"], None).await;
        let tport = target.addr.port();

        // Only the first host (by name) is allowed; the hop names 127.0.0.1.
        let first = redirector(format!("http://127.0.0.1:{tport}/jwks")).await;
        let fetcher = Fetcher::new(FetchPolicy { allow: vec![allow("localhost")], ..policy() }).unwrap();
        let err = fetcher.jwks(&format!("http://localhost:{}/start", first.port())).await.unwrap_err();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            err,
            FetchError::Refused {
                url: format!("http://127.0.0.1:{tport}/jwks"),
                reason: Refusal::Address(loopback, AddrClass::Loopback),
            }
        );

        // Only 127.0.0.2 is allowed; the hop names a host that resolves to
        // 127.0.0.1: refused by the resolver, on the address it found.
        let second = serve_on("127.0.0.2", redirects(format!("http://localhost:{tport}/jwks"))).await;
        let fetcher = Fetcher::new(FetchPolicy { allow: vec![allow("127.0.0.2")], ..policy() }).unwrap();
        refused_as(fetcher.jwks(&format!("http://127.0.0.2:{}/start", second.port())).await, AddrClass::Loopback);

        let fetcher = Fetcher::new(policy()).unwrap();

        // Straight to the metadata service, and to a scheme we never speak.
        let metadata = redirector("http://169.254.169.254/latest/meta-data/".into()).await;
        refused_as(
            fetcher.jwks(&format!("http://127.0.0.1:{}/start", metadata.port())).await,
            AddrClass::CloudMetadata,
        );
        let ftp = redirector("ftp://127.0.0.1/jwks".into()).await;
        let err = fetcher.jwks(&format!("http://127.0.0.1:{}/start", ftp.port())).await.unwrap_err();
        assert!(matches!(&err, FetchError::Refused { reason: Refusal::Scheme(s), .. } if s == "ftp"), "{err:?}");
        assert_eq!(target.hits.get(), 0, "no refused hop was followed");

        // An allowed hop is followed.
        let allowed = redirector(target.url()).await;
        assert_eq!(
            kids(&fetcher.jwks(&format!("http://127.0.0.1:{}/start", allowed.port())).await.unwrap()),
            ["target"]
        );
        assert_eq!(target.hits.get(), 1);
    })
    .await;
}

#[tokio::test]
async fn at_most_three_hops_are_followed() {
    bounded(async {
        let addr = redirector(String::new()).await;
        let fetcher = Fetcher::new(policy()).unwrap();
        assert_eq!(kids(&fetcher.jwks(&format!("http://127.0.0.1:{}/hop/3", addr.port())).await.unwrap()), ["end"]);
        assert_eq!(
            fetcher.jwks(&format!("http://127.0.0.1:{}/hop/4", addr.port())).await.unwrap_err(),
            FetchError::Redirect
        );
    })
    .await;
}
