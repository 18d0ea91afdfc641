//! People through the pages, over real HTTP with a scripted user agent (a
//! cookie jar, no redirects followed by itself): authorize, sign in,
//! consent, code, tokens, refresh rotation and reuse detection, with the
//! example manifests (`examples/people.yaml`, `examples/resources.yaml`).

use std::collections::BTreeMap;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use reqwest::redirect::Policy;

use crate::support::{Reply, TestHub, form, hub, url_encode};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk0123";
const REDIRECT: &str = "http://127.0.0.1:5555/callback";
const ORDERS: &str = "https://api.example.internal/orders";

pub(crate) fn challenge(v: &str) -> String {
    B64.encode(digest(&SHA256, v.as_bytes()).as_ref())
}

async fn people_hub() -> TestHub {
    hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .start()
        .await
}

/// A browser: keeps cookies, follows nothing on its own.
pub(crate) struct Browser {
    http: reqwest::Client,
    base: String,
    jar: BTreeMap<String, String>,
}

impl Browser {
    pub(crate) fn new(hub: &TestHub) -> Browser {
        let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
        Browser { http, base: hub.issuer(), jar: BTreeMap::new() }
    }

    fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{path}", self.base) }
    }

    fn cookie_header(&self) -> String {
        self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn keep(&mut self, r: reqwest::Response) -> Reply {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().unwrap();
            let (kv, _) = v.split_once(';').unwrap_or((v, ""));
            let (k, val) = kv.split_once('=').unwrap();
            if v.contains("Max-Age=0") {
                self.jar.remove(k);
            } else {
                self.jar.insert(k.to_owned(), val.to_owned());
            }
        }
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Reply { status, headers, body: serde_json::Value::Null, text }
    }

    pub(crate) async fn get(&mut self, path: &str) -> Reply {
        let r = self.http.get(self.url(path)).header("cookie", self.cookie_header()).send().await.unwrap();
        self.keep(r).await
    }

    /// Signs `user` in on the login page at `login` (where a 303 from
    /// `/authorize` sent the browser) and returns the page that follows.
    pub(crate) async fn log_in(&mut self, login: &str, user: &str, password: &str) -> Reply {
        let page = self.get(login).await;
        let (flow, csrf) = (hidden(&page.text, "flow"), hidden(&page.text, "csrf"));
        let o = origin(self);
        self.post("/login", &[("flow", &flow), ("csrf", &csrf), ("username", user), ("password", password)], Some(&o))
            .await
    }

    /// Presses Allow on `consent`; returns the query of the redirect back
    /// to the client.
    pub(crate) async fn allow(&mut self, consent: &Reply) -> BTreeMap<String, String> {
        let (flow, csrf) = (hidden(&consent.text, "flow"), hidden(&consent.text, "csrf"));
        let o = origin(self);
        let done = self.post("/consent", &[("flow", &flow), ("csrf", &csrf), ("decision", "allow")], Some(&o)).await;
        assert_eq!(done.status, 303, "{}", done.text);
        query_of(done.header("location").unwrap())
    }

    pub(crate) async fn post(&mut self, path: &str, pairs: &[(&str, &str)], origin: Option<&str>) -> Reply {
        let mut req = self
            .http
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        self.keep(r).await
    }
}

/// The value of hidden input `name` on a page.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page.find(&marker).unwrap_or_else(|| panic!("no {name} on the page: {page}"));
    let rest = &page[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

pub(crate) fn query_of(location: &str) -> BTreeMap<String, String> {
    let q = location.split_once('?').map_or("", |(_, q)| q);
    q.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), urldecode(v))).collect()
}

fn urldecode(s: &str) -> String {
    let s = s.replace('+', " ");
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn authorize_path(extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", "orders-desktop"),
        ("redirect_uri", REDIRECT),
        ("state", "st-123"),
        ("resource", ORDERS),
        ("scope", "orders:read orders:refund openid profile"),
        ("nonce", "n-1"),
    ];
    pairs.extend_from_slice(extra);
    let c = challenge(VERIFIER);
    if !extra.iter().any(|(k, _)| *k == "code_challenge") {
        pairs.push(("code_challenge", &c));
        pairs.push(("code_challenge_method", "S256"));
    }
    let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", url_encode(v))).collect();
    format!("/authorize?{}", q.join("&"))
}

/// Signs `user` in and allows; returns the redirect back to the client.
async fn sign_in_and_allow(b: &mut Browser, user: &str, password: &str) -> BTreeMap<String, String> {
    sign_in_with(b, user, password, &[]).await
}

async fn sign_in_with(b: &mut Browser, user: &str, password: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let r = b.get(&authorize_path(extra)).await;
    assert_eq!(r.status, 303, "{}", r.text);
    let login = r.header("location").unwrap().to_owned();
    assert!(login.starts_with("/login?flow="), "{login}");
    let page = b.get(&login).await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-security-policy").unwrap().contains("form-action 'self' http://127.0.0.1:5555"));
    assert!(page.text.contains("name=\"username\"") && page.text.contains("name=\"password\""));
    let (flow, csrf) = (hidden(&page.text, "flow"), hidden(&page.text, "csrf"));
    let consent = b
        .post(
            "/login",
            &[("flow", &flow), ("csrf", &csrf), ("username", user), ("password", password)],
            Some(&origin(b)),
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    assert!(consent.text.contains(">Allow<") && consent.text.contains(">Deny<"));
    assert!(consent.text.contains("Orders API"));
    let done = b
        .post(
            "/consent",
            &[
                ("flow", &hidden(&consent.text, "flow")),
                ("csrf", &hidden(&consent.text, "csrf")),
                ("decision", "allow"),
            ],
            Some(&origin(b)),
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.text);
    let back = done.header("location").unwrap();
    assert!(back.starts_with(&format!("{REDIRECT}?code=")), "{back}");
    query_of(back)
}

pub(crate) fn origin(b: &Browser) -> String {
    b.base.trim_end_matches('/').to_owned()
}

async fn redeem(hub: &TestHub, code: &str, verifier: &str) -> Reply {
    public_exchange(hub, "orders-desktop", code, REDIRECT, verifier).await
}

/// A public client's code exchange (`client_id`, no secret).
pub(crate) async fn public_exchange(
    hub: &TestHub,
    client_id: &str,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> Reply {
    hub.post(
        "/token",
        None,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("client_id", client_id),
        ],
    )
    .await
}

async fn refresh(hub: &TestHub, token: &str) -> Reply {
    hub.post(
        "/token",
        None,
        &[("grant_type", "refresh_token"), ("refresh_token", token), ("client_id", "orders-desktop")],
    )
    .await
}

#[tokio::test]
async fn a_user_signs_in_consents_and_the_app_gets_tokens_it_can_refresh() {
    let hub = people_hub().await;
    let mut b = Browser::new(&hub);
    let back = sign_in_and_allow(&mut b, "bob", "bob-demo-password").await;
    assert_eq!(back["state"], "st-123");
    assert_eq!(back["iss"], hub.issuer(), "RFC 9207");

    let t = redeem(&hub, &back["code"], VERIFIER).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let claims = hub.verify(t.body["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(claims["scope"], "orders:read orders:refund", "bob's finance role holds orders:refund");
    assert_eq!(claims["client_id"], "orders-desktop");
    assert_eq!(claims["sub"].as_str().unwrap().len(), 43);
    assert_eq!(t.body["scope"], "orders:read orders:refund");
    let id_token = t.body["id_token"].as_str().unwrap();
    let id: serde_json::Value =
        serde_json::from_slice(&B64.decode(id_token.split('.').nth(1).unwrap()).unwrap()).unwrap();
    assert_eq!((id["aud"].as_str(), id["nonce"].as_str()), (Some("orders-desktop"), Some("n-1")));
    assert_eq!((id["sub"].clone(), id["name"].as_str()), (claims["sub"].clone(), Some("Bob Builder")));

    // Rotation: each refresh gives a new token; the old one dies.
    let r1 = t.body["refresh_token"].as_str().unwrap().to_owned();
    let t2 = refresh(&hub, &r1).await;
    assert_eq!(t2.status, 200, "{}", t2.text);
    let r2 = t2.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(
        hub.verify(t2.body["access_token"].as_str().unwrap(), ORDERS).await["scope"],
        "orders:read orders:refund"
    );

    // Reuse of the rotated token after the grace revokes the whole family.
    hub.advance(11);
    refresh(&hub, &r1).await.assert_error(400, "invalid_grant", "the refresh token is invalid, expired or revoked");
    refresh(&hub, &r2).await.assert_error(400, "invalid_grant", "the refresh token is invalid, expired or revoked");

    // RFC 7009: the app revokes a refresh token (a public client names
    // itself); its family ends, another app's request for it is refused.
    let t3 = redeem(
        &hub,
        &sign_in_with(&mut Browser::new(&hub), "bob", "bob-demo-password", &[("prompt", "consent")]).await["code"],
        VERIFIER,
    )
    .await;
    let rt = t3.body["refresh_token"].as_str().unwrap().to_owned();
    let r = hub
        .post("/revoke", None, &[("token", &rt), ("token_type_hint", "refresh_token"), ("client_id", "orders-desktop")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    refresh(&hub, &rt).await.assert_error(400, "invalid_grant", "the refresh token is invalid, expired or revoked");

    // A second sign-in needs no password (session) and no consent (given).
    let r = b.get(&authorize_path(&[])).await;
    assert_eq!(r.status, 303);
    assert!(r.header("location").unwrap().starts_with(&format!("{REDIRECT}?code=")));
}

#[tokio::test]
async fn a_code_works_once_and_a_replay_revokes_what_it_issued() {
    let hub = people_hub().await;
    let mut b = Browser::new(&hub);
    let back = sign_in_and_allow(&mut b, "bob", "bob-demo-password").await;
    redeem(&hub, &back["code"], "x".repeat(43).as_str()).await.assert_error(
        400,
        "invalid_grant",
        "code_verifier does not match the code_challenge",
    );
    redeem(&hub, &back["code"], VERIFIER).await.assert_error(
        400,
        "invalid_grant",
        "the code is invalid, expired or already used",
    );

    let mut b = Browser::new(&hub);
    // Consent was given above: prompt=consent asks again.
    let back = sign_in_with(&mut b, "bob", "bob-demo-password", &[("prompt", "consent")]).await;
    let t = redeem(&hub, &back["code"], VERIFIER).await;
    assert_eq!(t.status, 200);
    redeem(&hub, &back["code"], VERIFIER).await.assert_error(
        400,
        "invalid_grant",
        "the code is invalid, expired or already used",
    );
    let rt = t.body["refresh_token"].as_str().unwrap();
    refresh(&hub, rt).await.assert_error(400, "invalid_grant", "the refresh token is invalid, expired or revoked");
    let r = hub.post("/introspect", None, &[("token", t.body["access_token"].as_str().unwrap())]).await;
    assert_ne!(r.body["active"], true);
}

#[tokio::test]
async fn scopes_follow_the_users_roles() {
    let hub = people_hub().await;
    let mut b = Browser::new(&hub);
    let back = sign_in_and_allow(&mut b, "alice", "alice-demo-password").await;
    let t = redeem(&hub, &back["code"], VERIFIER).await;
    assert_eq!(t.status, 200, "{}", t.text);
    let claims = hub.verify(t.body["access_token"].as_str().unwrap(), ORDERS).await;
    assert_eq!(claims["scope"], "orders:read", "alice is a viewer: no orders:refund");
}

#[tokio::test]
async fn an_unverified_redirect_gets_a_page_and_later_errors_go_to_the_client() {
    let hub = people_hub().await;
    let mut b = Browser::new(&hub);
    for (extra, why) in [
        (vec![("redirect_uri", "https://evil.example/cb")], "redirect_uri is not one registered"),
        (vec![("client_id", "nobody")], "unknown client"),
    ] {
        let path = authorize_path(&[]).replace(
            &format!(
                "{}={}",
                extra[0].0,
                url_encode(if extra[0].0 == "client_id" { "orders-desktop" } else { REDIRECT })
            ),
            &format!("{}={}", extra[0].0, url_encode(extra[0].1)),
        );
        let r = b.get(&path).await;
        assert_eq!(r.status, 400, "{path}");
        assert!(r.header("location").is_none(), "never a redirect");
        assert!(r.text.contains(why), "{}", r.text);
        assert!(r.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
    }
    // A loopback redirect may use any port (RFC 8252 §7.3).
    let other_port = authorize_path(&[]).replace(&url_encode(REDIRECT), &url_encode("http://127.0.0.1:61000/callback"));
    assert_eq!(b.get(&other_port).await.status, 303);

    let plain = authorize_path(&[("code_challenge", "abc"), ("code_challenge_method", "plain")]);
    let r = b.get(&plain).await;
    assert_eq!(r.status, 303);
    let q = query_of(r.header("location").unwrap());
    assert_eq!((q["error"].as_str(), q["state"].as_str()), ("invalid_request", "st-123"));
    assert!(q["error_description"].contains("S256"));

    let r = b.get(&authorize_path(&[("response_type", "token")]).replace("response_type=code&", "")).await;
    assert_eq!(query_of(r.header("location").unwrap())["error"], "unsupported_response_type");

    let r = b.get(&authorize_path(&[("prompt", "none")])).await;
    let q = query_of(r.header("location").unwrap());
    assert_eq!(q["error"], "login_required");
    assert_eq!(q["iss"], hub.issuer());

    let r = b.get(&authorize_path(&[]).replace("orders%3Aread", "orders%3Anope")).await;
    assert_eq!(query_of(r.header("location").unwrap())["error"], "invalid_scope");
}

#[tokio::test]
async fn the_login_form_refuses_wrong_passwords_forged_posts_and_guessers() {
    let hub = people_hub().await;
    let mut b = Browser::new(&hub);
    let r = b.get(&authorize_path(&[])).await;
    let page = b.get(r.header("location").unwrap()).await;
    let (flow, csrf) = (hidden(&page.text, "flow"), hidden(&page.text, "csrf"));
    let o = origin(&b);

    let r =
        b.post("/login", &[("flow", &flow), ("username", "bob"), ("password", "bob-demo-password")], Some(&o)).await;
    assert_eq!(r.status, 403, "no CSRF token");
    let r = b
        .post(
            "/login",
            &[("flow", &flow), ("csrf", &csrf), ("username", "bob"), ("password", "x")],
            Some("https://evil.example"),
        )
        .await;
    assert_eq!(r.status, 403, "foreign Origin");
    // A field sent twice is refused, not guessed at.
    let r = b
        .post(
            "/login",
            &[("flow", &flow), ("csrf", &csrf), ("username", "bob"), ("username", "alice"), ("password", "x")],
            Some(&o),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.text.contains("username&#x27; is repeated"), "{}", r.text);
    let mut stranger = Browser::new(&hub);
    let r = stranger
        .post(
            "/login",
            &[("flow", &flow), ("csrf", &csrf), ("username", "bob"), ("password", "bob-demo-password")],
            None,
        )
        .await;
    assert_eq!(r.status, 400, "another browser cannot finish this request");

    for _ in 0..5 {
        let r = b
            .post("/login", &[("flow", &flow), ("csrf", &csrf), ("username", "bob"), ("password", "nope")], Some(&o))
            .await;
        assert_eq!(r.status, 200);
        assert!(r.text.contains("Wrong username or password."));
    }
    let r = b
        .post(
            "/login",
            &[("flow", &flow), ("csrf", &csrf), ("username", "bob"), ("password", "bob-demo-password")],
            Some(&o),
        )
        .await;
    assert_eq!(r.status, 429, "throttled even with the right password");
    assert!(r.header("retry-after").is_some());
    let r = b
        .post("/login", &[("flow", &flow), ("csrf", &csrf), ("username", "nobody"), ("password", "x")], Some(&o))
        .await;
    assert_eq!(r.status, 429, "the address is throttled too");
}

#[tokio::test]
async fn discovery_lists_the_authorization_endpoint_with_pkce_s256() {
    let hub = people_hub().await;
    let d = hub.get("/.well-known/oauth-authorization-server").await.body;
    assert_eq!(d["authorization_endpoint"], format!("{}/authorize", hub.issuer()));
    assert_eq!(d["code_challenge_methods_supported"], serde_json::json!(["S256"]));
    assert_eq!(d["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
    assert!(d["token_endpoint_auth_methods_supported"].as_array().unwrap().contains(&"none".into()));
}

const ADMIN: &str = "apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: hub-admin, namespace: shop}
spec:
  displayName: Hub admin
  clientId: hub-admin
  tags: [keyward-admin]
";

#[tokio::test]
async fn revoking_consent_ends_refresh_and_userinfo_and_leaves_the_client() {
    let hub = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .file("admin.yaml", ADMIN)
        .start()
        .await;
    let mut b = Browser::new(&hub);
    let back = sign_in_and_allow(&mut b, "bob", "bob-demo-password").await;
    let t = redeem(&hub, &back["code"], VERIFIER).await;
    let access = t.body["access_token"].as_str().unwrap().to_owned();
    let sub = hub.verify(&access, ORDERS).await["sub"].as_str().unwrap().to_owned();

    let info = hub.http_get_bearer("/userinfo", &access).await;
    assert_eq!(info.status, 200, "{}", info.text);
    assert_eq!((info.body["sub"].as_str(), info.body["name"].as_str()), (Some(sub.as_str()), Some("Bob Builder")));
    assert!(info.body.get("email").is_none(), "email was not asked for");

    let admin = || keyward::consents_cli::Target::Hub {
        hub: hub.issuer(),
        id: "hub-admin".into(),
        secret: hub.secret("shop", "hub-admin"),
    };
    let mut out = Vec::new();
    let list = keyward::consents_cli::Action::List { sub: None, client: None, json: false };
    keyward::consents_cli::run(admin(), list, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("bob") && text.contains("orders-desktop") && text.contains(ORDERS), "{text}");
    assert!(text.contains("orders:read orders:refund openid profile"), "{text}");

    let mut out = Vec::new();
    let revoke =
        keyward::consents_cli::Action::Revoke { sub: sub.clone(), client: "orders-desktop".into(), resource: None };
    keyward::consents_cli::run(admin(), revoke, &mut out).await.unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), format!("revoked the consent for {ORDERS}\n"));

    refresh(&hub, t.body["refresh_token"].as_str().unwrap()).await.assert_error(
        400,
        "invalid_grant",
        "the user's consent was revoked",
    );
    assert_eq!(hub.http_get_bearer("/userinfo", &access).await.status, 401);
    // The client is still there: the next sign-in asks for consent again.
    let r = b.get(&authorize_path(&[])).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains(">Allow<"));

    // The admin API is for admins only.
    let r = hub.post("/admin/consents", Some(("orders-desktop", "x")), &[("action", "list")]).await;
    assert_eq!(r.status, 401);
}

/// A token request with `code` and the usual parameters, `extra` replacing
/// (or, with an empty value, removing) some.
async fn exchange(hub: &TestHub, code: &str, extra: &[(&str, &str)]) -> Reply {
    let mut p: Vec<(&str, &str)> = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", "orders-desktop"),
    ];
    for (k, v) in extra {
        p.retain(|(x, _)| x != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    hub.post("/token", None, &p).await
}

#[tokio::test]
async fn the_token_endpoint_binds_a_code_to_its_client_redirect_and_verifier() {
    let hub = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .file("admin.yaml", ADMIN)
        .start()
        .await;
    let mut b = Browser::new(&hub);
    // A new browser each time (a new sign-in), and consent asked again.
    let again = [("prompt", "consent")];

    // A malformed request does not spend the code.
    let code = sign_in_and_allow(&mut b, "bob", "bob-demo-password").await["code"].clone();
    exchange(&hub, &code, &[("code_verifier", "")]).await.assert_error(
        400,
        "invalid_request",
        "code_verifier is required (PKCE)",
    );
    exchange(&hub, &code, &[("code_verifier", "short")]).await.assert_error(
        400,
        "invalid_request",
        "code_verifier must be 43 to 128 unreserved characters (RFC 7636)",
    );
    exchange(&hub, &code, &[("redirect_uri", "")]).await.assert_error(
        400,
        "invalid_request",
        "redirect_uri is required",
    );
    exchange(&hub, &code, &[("client_id", "hub-admin")]).await.assert_error(
        401,
        "invalid_client",
        "client_secret is required",
    );
    exchange(&hub, &code, &[("resource", "https://mcp.example.internal/docs/mcp")]).await.assert_error(
        400,
        "invalid_target",
        "resource 'https://mcp.example.internal/docs/mcp' was not part of the authorization",
    );
    // ...that last one reached the code: it is spent.
    exchange(&hub, &code, &[]).await.assert_error(400, "invalid_grant", "the code is invalid, expired or already used");

    // A wrong redirect URI or verifier spends it.
    let code = sign_in_with(&mut Browser::new(&hub), "bob", "bob-demo-password", &again).await["code"].clone();
    exchange(&hub, &code, &[("redirect_uri", "http://127.0.0.1:5555/other")]).await.assert_error(
        400,
        "invalid_grant",
        "redirect_uri differs from the authorization request's",
    );
    exchange(&hub, &code, &[]).await.assert_error(400, "invalid_grant", "the code is invalid, expired or already used");
    let code = sign_in_with(&mut Browser::new(&hub), "bob", "bob-demo-password", &again).await["code"].clone();
    exchange(&hub, &code, &[("code_verifier", &"x".repeat(43))]).await.assert_error(
        400,
        "invalid_grant",
        "code_verifier does not match the code_challenge",
    );
    exchange(&hub, &code, &[]).await.assert_error(400, "invalid_grant", "the code is invalid, expired or already used");

    // A code is no use to another client, even a confidential one.
    let code = sign_in_with(&mut Browser::new(&hub), "bob", "bob-demo-password", &again).await["code"].clone();
    let admin = hub.secret("shop", "hub-admin");
    let p = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    hub.post("/token", Some(("hub-admin", &admin)), &p).await.assert_error(
        400,
        "unauthorized_client",
        "authorization_code is not enabled for this client",
    );
    assert_eq!(exchange(&hub, &code, &[]).await.status, 200, "a client without the grant never reached the code");
    exchange(&hub, "not-a-code", &[]).await.assert_error(
        400,
        "invalid_grant",
        "the code is invalid, expired or already used",
    );
}

#[tokio::test]
async fn prompt_none_without_consent_and_an_expired_code_are_refused() {
    let hub = people_hub().await;
    let mut b = Browser::new(&hub);
    let back = sign_in_and_allow(&mut b, "alice", "alice-demo-password").await;
    // Signed in, but a scope never consented to: prompt=none cannot ask.
    let path = authorize_path(&[("prompt", "none")]).replace("orders%3Aread+orders%3Arefund", "orders%3Aread");
    let r = b.get(&path.replace("scope=orders%3Aread", "scope=orders%3Aread+email")).await;
    assert_eq!(r.status, 303, "{}", r.text);
    assert_eq!(query_of(r.header("location").unwrap())["error"], "consent_required");
    // A code older than 60 s.
    hub.advance(61);
    redeem(&hub, &back["code"], VERIFIER).await.assert_error(
        400,
        "invalid_grant",
        "the code is invalid, expired or already used",
    );
    // max_age shorter than the session's age: sign in again.
    let r = b.get(&authorize_path(&[("max_age", "30")])).await;
    assert!(r.header("location").unwrap().starts_with("/login?flow="), "{:?}", r.header("location"));
}

#[tokio::test]
async fn an_oversized_login_form_is_refused_before_it_is_read() {
    let hub = people_hub().await;
    let mut b = Browser::new(&hub);
    let big = "x".repeat(64 * 1024);
    let r = b.post("/login", &[("flow", "f"), ("csrf", "c"), ("username", &big), ("password", "p")], None).await;
    assert_eq!(r.status, 413);
}

#[tokio::test]
async fn deleting_the_client_ends_its_refresh_tokens_and_an_unknown_resource_is_invalid_target() {
    let hub = people_hub().await;
    let mut b = Browser::new(&hub);
    let r = b.get(&authorize_path(&[("resource", "https://nowhere.example/api")])).await;
    let q = query_of(r.header("location").unwrap());
    assert_eq!((q["error"].as_str(), q["state"].as_str()), ("invalid_target", "st-123"));

    let back = sign_in_and_allow(&mut b, "bob", "bob-demo-password").await;
    let t = redeem(&hub, &back["code"], VERIFIER).await;
    let rt = t.body["refresh_token"].as_str().unwrap().to_owned();
    // The app's manifest goes; the hub reloads the folder.
    let people = include_str!("../../examples/people.yaml");
    let without_app = people.split("\n---\n").take(2).collect::<Vec<_>>().join("\n---\n");
    hub.write("people.yaml", &without_app);
    hub.eventually("the client is gone", || async {
        let r = refresh(&hub, &rt).await;
        r.status == 401 || r.body["error"] == "invalid_grant"
    })
    .await;
    let r = refresh(&hub, &rt).await;
    assert_eq!((r.status.as_u16(), r.body["error"].as_str()), (401, Some("invalid_client")), "{}", r.text);
    // Created again under the same id, it is another client: the old
    // refresh token stays dead.
    hub.write("people.yaml", people);
    hub.eventually("the client is back", || async {
        let r = b_get_status(&hub).await;
        r == 303
    })
    .await;
    refresh(&hub, &rt).await.assert_error(400, "invalid_grant", "the refresh token is invalid, expired or revoked");
}

async fn b_get_status(hub: &TestHub) -> u16 {
    let http = reqwest::Client::builder().redirect(Policy::none()).build().unwrap();
    http.get(format!("{}{}", hub.issuer(), authorize_path(&[]))).send().await.unwrap().status().as_u16()
}

/// A client with no Resource of its own that only signs users in: its access
/// token is for the hub's /userinfo, with no scope.
#[tokio::test]
async fn a_sign_in_only_client_gets_an_id_token_and_a_token_for_userinfo() {
    let app = "apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: portal, namespace: shop}
spec:
  displayName: Staff portal
  clientId: portal
  tokenEndpointAuthMethod: none
  identityProvider: {name: demo-users}
  grantTypes: {authorizationCode: {redirectUris: ['http://127.0.0.1/callback']}}
";
    let hub = hub()
        .file("resources.yaml", include_str!("../../examples/resources.yaml"))
        .file("people.yaml", include_str!("../../examples/people.yaml"))
        .file("portal.yaml", app)
        .start()
        .await;
    let mut b = Browser::new(&hub);
    let path = authorize_path(&[])
        .replace("client_id=orders-desktop", "client_id=portal")
        .replace(&format!("&resource={}", url_encode(ORDERS)), "")
        .replace("scope=orders%3Aread+orders%3Arefund+openid+profile", "scope=openid+profile+email");
    assert!(!path.contains("resource="), "{path}");
    let r = b.get(&path).await;
    let page = b.get(r.header("location").unwrap()).await;
    let (flow, csrf) = (hidden(&page.text, "flow"), hidden(&page.text, "csrf"));
    let consent = b
        .post(
            "/login",
            &[("flow", &flow), ("csrf", &csrf), ("username", "alice"), ("password", "alice-demo-password")],
            Some(&origin(&b)),
        )
        .await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    assert!(consent.text.contains("your email address"), "{}", consent.text);
    let done = b.post("/consent", &[("flow", &flow), ("csrf", &csrf), ("decision", "allow")], Some(&origin(&b))).await;
    let back = query_of(done.header("location").unwrap());
    let t = hub
        .post(
            "/token",
            None,
            &[
                ("grant_type", "authorization_code"),
                ("code", &back["code"]),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", "portal"),
            ],
        )
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let access = t.body["access_token"].as_str().unwrap();
    let claims = hub.verify(access, &format!("{}/userinfo", hub.issuer())).await;
    assert!(claims.get("scope").is_none(), "no scope: {claims}");
    assert!(t.body["id_token"].is_string());
    let info = hub.http_get_bearer("/userinfo", access).await;
    assert_eq!((info.status.as_u16(), info.body["email"].as_str()), (200, Some("alice@example.com")), "{}", info.text);
    // It refreshes too.
    let r = hub
        .post(
            "/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", t.body["refresh_token"].as_str().unwrap()),
                ("client_id", "portal"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}
