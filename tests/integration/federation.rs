//! Federation: a second `keyward serve` with static users is the upstream
//! OpenID provider of the first (`IdentityProvider` of type `oidc`). The
//! browser goes downstream → upstream sign-in → back to the downstream's
//! callback → downstream consent → the app, over real HTTP; the downstream
//! verifies the upstream's ID token against its JWKS.

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::redirect::Policy;

use crate::support::{Reply, form, hub, url_encode};

const VERIFIER: &str = "federation-verifier-0123456789abcdef0123456789";
const APP_REDIRECT: &str = "http://127.0.0.1/callback";
/// An MCP server: its scopes are not role-gated (the upstream sends no groups).
const API: &str = "https://mcp.example.internal/docs/mcp";

/// A browser whose cookies are kept per origin (the two hubs share a host).
struct Browser {
    http: reqwest::Client,
    jars: BTreeMap<String, BTreeMap<String, String>>,
}

fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    format!("{scheme}://{}", rest.split('/').next().unwrap())
}

impl Browser {
    fn new() -> Browser {
        Browser { http: reqwest::Client::builder().redirect(Policy::none()).build().unwrap(), jars: BTreeMap::new() }
    }

    fn cookies(&self, url: &str) -> String {
        self.jars
            .get(&origin(url))
            .map(|j| j.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "))
            .unwrap_or_default()
    }

    async fn keep(&mut self, url: &str, r: reqwest::Response) -> Reply {
        let jar = self.jars.entry(origin(url)).or_default();
        for v in r.headers().get_all("set-cookie") {
            let kv = v.to_str().unwrap().split(';').next().unwrap();
            let (k, val) = kv.split_once('=').unwrap();
            jar.insert(k.to_owned(), val.to_owned());
        }
        let (status, headers) = (r.status(), r.headers().clone());
        let mut reply = Reply { status, headers, body: serde_json::Value::Null, text: r.text().await.unwrap() };
        // Relative redirects resolve against the origin that sent them.
        if let Some(loc) = reply.header("location").filter(|l| l.starts_with('/')).map(str::to_owned) {
            let abs = format!("{}{loc}", origin(url));
            reply.headers.insert("location", abs.parse().unwrap());
        }
        reply
    }

    async fn get(&mut self, url: &str) -> Reply {
        let r = self.http.get(url).header("cookie", self.cookies(url)).send().await.unwrap();
        self.keep(url, r).await
    }

    async fn post(&mut self, url: &str, pairs: &[(&str, &str)]) -> Reply {
        let r = self
            .http
            .post(url)
            .header("cookie", self.cookies(url))
            .header("origin", origin(url))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .await
            .unwrap();
        self.keep(url, r).await
    }
}

fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let rest = &page[page.find(&marker).unwrap_or_else(|| panic!("no {name}: {page}")) + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

fn people_of(yaml: &str) -> String {
    // The demo IdentityProvider and its password Secret.
    yaml.split("\n---\n").take(2).collect::<Vec<_>>().join("\n---\n")
}

#[tokio::test]
async fn a_keyward_upstream_signs_users_in_for_a_keyward_downstream() {
    let upstream = hub()
        .file("people.yaml", &people_of(include_str!("../../examples/people.yaml")))
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .start()
        .await;
    let downstream = hub().file("resources.yaml", include_str!("../../examples/resources.yaml")).start().await;
    let callback = format!("{}/callback/shop/corp", downstream.issuer());

    // Upstream: the downstream hub is a confidential client that skips consent.
    upstream.write(
        "downstream.yaml",
        &format!(
            "apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: downstream-hub, namespace: shop}}
spec:
  displayName: Downstream hub
  clientId: downstream-hub
  identityProvider: {{name: demo-users}}
  grantTypes:
    authorizationCode: {{redirectUris: ['{callback}'], skipConsent: true}}
  resources: [{{name: orders-api, scopes: [orders:read]}}]
"
        ),
    );
    let path = upstream.state_path("credentials/shop/downstream-hub-credentials.yaml");
    upstream.eventually("the upstream generated the downstream's secret", || async { path.exists() }).await;
    let secret = upstream.secret("shop", "downstream-hub");

    // Downstream: an oidc IdentityProvider pointing at the upstream, and an app.
    downstream.write(
        "corp.yaml",
        &format!(
            "apiVersion: keyward.dev/v1alpha1
kind: IdentityProvider
metadata: {{name: corp, namespace: shop}}
spec:
  type: oidc
  displayName: Corp sign-in
  oidc:
    issuer: {}
    clientId: downstream-hub
    clientSecret: {{name: corp-oidc}}
---
apiVersion: v1
kind: Secret
metadata: {{name: corp-oidc, namespace: shop}}
stringData: {{client_secret: {secret}}}
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {{name: fed-app, namespace: shop}}
spec:
  displayName: Federated app
  clientId: fed-app
  tokenEndpointAuthMethod: none
  identityProvider: {{name: corp}}
  grantTypes: {{authorizationCode: {{redirectUris: ['{APP_REDIRECT}']}}}}
  resources: [{{name: docs-mcp, scopes: [docs:search]}}]
",
            upstream.issuer()
        ),
    );
    let challenge = B64.encode(digest(&SHA256, VERIFIER.as_bytes()).as_ref());
    let authorize = format!(
        "{}/authorize?response_type=code&client_id=fed-app&redirect_uri={}&code_challenge={challenge}&code_challenge_method=S256&state=s1&scope=openid+profile",
        downstream.issuer(),
        url_encode(APP_REDIRECT)
    );
    let mut b = Browser::new();
    downstream
        .eventually("the downstream accepts fed-app", || {
            let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
            let url = authorize.clone();
            async move { http.get(&url).send().await.unwrap().status() == 303 }
        })
        .await;

    let r = b.get(&authorize).await;
    let login = r.header("location").unwrap().to_owned();
    let r = b.get(&login).await;
    assert_eq!(r.status, 303, "the downstream's login goes upstream: {}", r.text);
    let up = r.header("location").unwrap().to_owned();
    assert!(up.starts_with(&format!("{}/authorize?", upstream.issuer())), "{up}");
    assert!(up.contains("code_challenge_method=S256") && up.contains("nonce="), "{up}");
    let r = b.get(&up).await;
    let up_login = r.header("location").unwrap().to_owned();
    let page = b.get(&up_login).await;
    let (flow, csrf) = (hidden(&page.text, "flow"), hidden(&page.text, "csrf"));
    let r = b
        .post(
            &format!("{}/login", upstream.issuer()),
            &[("flow", &flow), ("csrf", &csrf), ("username", "bob"), ("password", "bob-demo-password")],
        )
        .await;
    assert_eq!(r.status, 303, "the upstream skips consent for the downstream hub: {}", r.text);
    let back = r.header("location").unwrap().to_owned();
    assert!(back.starts_with(&format!("{callback}?code=")), "{back}");
    let consent = b.get(&back).await;
    assert_eq!(consent.status, 200, "{:?} {}", consent.header("location"), consent.text);
    assert!(consent.text.contains("Bob Builder"), "the downstream knows the user's name from the ID token");
    let done = b
        .post(
            &format!("{}/consent", downstream.issuer()),
            &[
                ("flow", &hidden(&consent.text, "flow")),
                ("csrf", &hidden(&consent.text, "csrf")),
                ("decision", "allow"),
            ],
        )
        .await;
    let app = done.header("location").unwrap().to_owned();
    assert!(app.starts_with(&format!("{APP_REDIRECT}?code=")), "{app}");
    let code = app.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let t = downstream
        .post(
            "/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", APP_REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", "fed-app"),
            ],
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let claims = downstream.verify(t.body["access_token"].as_str().unwrap(), API).await;
    assert_eq!(claims["scope"], "docs:search");
    let id: serde_json::Value =
        serde_json::from_slice(&B64.decode(t.body["id_token"].as_str().unwrap().split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    assert_eq!((id["preferred_username"].as_str(), id["name"].as_str()), (Some("bob"), Some("Bob Builder")));
    assert_eq!(id["sub"], claims["sub"]);

    // A forged callback (another state) gets nothing.
    let forged = b.get(&format!("{callback}?code=x&state=nope.nope")).await;
    assert_eq!(forged.status, 400);
}
