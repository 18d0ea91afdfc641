//! A hub under test: temp folders for manifests and state, a clock the test
//! moves, and helpers that speak HTTP to it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation, decode, decode_header};
use keyward::serve::{Hub, ServeOptions, start};
use keyward::server::listener::Limits;
use keyward_core::UnixTime;
use keyward_core::keys::Algorithm;
use keyward_core::snapshot::Lifetimes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

pub const START: u64 = 1_800_000_000;

/// Resources, clients and policies most tests use. `bot` may get orders
/// read/write and docs search; `poster` authenticates in the body; `server` is
/// the orders API's own credential (an introspector); `pinned` is limited to the
/// tenant acme.
pub const WORLD: &str = r#"
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {name: orders, namespace: shop}
spec:
  type: api
  identifier: https://api.example.test/orders
  displayName: Orders
  scopes:
    - {name: "orders:read", roles: [viewer]}
    - {name: "orders:write", roles: [editor]}
  introspection:
    clients: [{name: server, namespace: agents}]
---
apiVersion: keyward.dev/v1alpha1
kind: Resource
metadata: {name: docs, namespace: shop}
spec:
  type: mcpServer
  identifier: https://mcp.example.test/mcp
  displayName: Docs
  scopes: [{name: "docs:search"}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: bot, namespace: agents}
spec:
  displayName: Bot
  clientId: bot
  grantTypes: {clientCredentials: {}}
  resources:
    - {name: orders, namespace: shop, scopes: ["orders:read", "orders:write"]}
    - {name: docs, namespace: shop, scopes: ["docs:search"]}
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: poster, namespace: agents}
spec:
  displayName: Poster
  clientId: poster
  tokenEndpointAuthMethod: client_secret_post
  grantTypes: {clientCredentials: {}}
  resources: [{name: orders, namespace: shop, scopes: ["orders:read"]}]
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: pinned, namespace: agents}
spec:
  displayName: Pinned
  clientId: pinned
  grantTypes: {clientCredentials: {allowedTenants: [acme]}}
  resources: [{name: orders, namespace: shop, scopes: ["orders:read"]}]
  session: {accessKeySessionTokenTimeout: 5m}
---
apiVersion: keyward.dev/v1alpha1
kind: OAuthClient
metadata: {name: server, namespace: agents}
spec:
  displayName: Orders API server
  clientId: server
"#;

pub struct TestHub {
    pub hub: Option<Hub>,
    pub base: String,
    pub manifests: tempfile::TempDir,
    pub state: PathBuf,
    _state_dir: Option<tempfile::TempDir>,
    pub clock: Arc<AtomicU64>,
    pub http: reqwest::Client,
    pub alg: Algorithm,
}

pub struct Builder {
    files: Vec<(String, String)>,
    alg: Algorithm,
    issuer: Option<String>,
    state: Option<(PathBuf, Option<tempfile::TempDir>)>,
    manifests: Option<tempfile::TempDir>,
    listener: Limits,
    audit: keyward::audit::Sink,
    registration: Option<keyward::registration::Limits>,
}

impl Builder {
    /// Dynamic Client Registration's limits; `None`: off (default: open).
    pub fn registration(mut self, limits: Option<keyward::registration::Limits>) -> Self {
        self.registration = limits;
        self
    }
    pub fn file(mut self, name: &str, text: &str) -> Self {
        self.files.push((name.into(), text.into()));
        self
    }
    pub fn alg(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self
    }
    pub fn issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some(issuer.into());
        self
    }
    pub fn listener(mut self, limits: Limits) -> Self {
        self.listener = limits;
        self
    }
    /// The audit trail's lines, into `trail` (default: nowhere).
    pub fn audit(mut self, trail: &Captured) -> Self {
        let trail = trail.clone();
        self.audit = keyward::audit::Sink::Lines(Arc::new(move |line| {
            use std::io::Write as _;
            let mut t = trail.clone();
            let _ = t.write_all(format!("{line}\n").as_bytes());
        }));
        self
    }
    pub async fn start(self) -> TestHub {
        self.try_start(1).await
    }

    /// Starting again on a state directory waits for the previous server to let
    /// go of its store (redb locks it).
    async fn try_start(self, attempts: usize) -> TestHub {
        let manifests = self.manifests.unwrap_or_else(|| tempfile::tempdir().unwrap());
        for (name, text) in &self.files {
            std::fs::write(manifests.path().join(name), text).unwrap();
        }
        let (state, state_dir) = self.state.unwrap_or_else(|| {
            let d = tempfile::tempdir().unwrap();
            (d.path().join("state"), Some(d))
        });
        let clock = Arc::new(AtomicU64::new(START));
        let c = Arc::clone(&clock);
        let opts = ServeOptions {
            manifests: manifests.path().to_owned(),
            listen: "127.0.0.1:0".parse().unwrap(),
            state_dir: state.clone(),
            issuer: self.issuer,
            namespace: "default".into(),
            key_algorithm: self.alg,
            key_rotation: Duration::from_secs(30 * 24 * 3600),
            poll_interval: Duration::from_millis(50),
            lifetimes: Lifetimes::default(),
            fetch: keyward::fetch::FetchPolicy {
                allow_http: true,
                allow: vec!["127.0.0.1".parse().unwrap()],
                timeout: Duration::from_secs(2),
                ..Default::default()
            },
            listener: self.listener,
            audit: self.audit.clone(),
            templates: None,
            registration: self.registration.clone(),
        };
        let clock_fn: keyward::server::Clock = Arc::new(move || UnixTime(c.load(Ordering::SeqCst)));
        let mut hub = start(opts.clone(), Arc::clone(&clock_fn)).await;
        for _ in 1..attempts {
            if hub.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            hub = start(opts.clone(), Arc::clone(&clock_fn)).await;
        }
        let hub = hub.unwrap();
        let base = format!("http://{}", hub.addr);
        TestHub {
            hub: Some(hub),
            base,
            manifests,
            state,
            _state_dir: state_dir,
            clock,
            http: reqwest::Client::new(),
            alg: self.alg,
        }
    }
}

pub fn hub() -> Builder {
    Builder {
        files: vec![],
        alg: Algorithm::ES256,
        issuer: None,
        state: None,
        manifests: None,
        listener: Limits::DEFAULT,
        audit: keyward::audit::Sink::Off,
        registration: Some(keyward::registration::Limits::default()),
    }
}

/// The usual world.
pub async fn world() -> TestHub {
    hub().file("world.yaml", WORLD).start().await
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    async fn from(r: reqwest::Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, body, text }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 6749 §5.2 error response, to the letter.
    pub fn assert_error(&self, status: u16, error: &str, description: &str) {
        assert_eq!(
            (self.status.as_u16(), self.body["error"].as_str(), self.body["error_description"].as_str()),
            (status, Some(error), Some(description)),
            "body: {}",
            self.text
        );
        assert_eq!(self.header("content-type"), Some("application/json"));
        assert_eq!(self.header("cache-control"), Some("no-store"));
        assert_eq!(self.header("pragma"), Some("no-cache"));
        let challenge = self.header("www-authenticate");
        if error == "invalid_client" {
            assert_eq!(challenge, Some(r#"Basic realm="keyward""#));
        } else {
            assert_eq!(challenge, None);
        }
        let members: Vec<&String> = self.body.as_object().unwrap().keys().collect();
        assert_eq!(members, vec!["error", "error_description"]);
    }
}

pub fn basic(id: &str, secret: &str) -> String {
    // RFC 6749 §2.3.1: form-encode each part before base64.
    let enc = |s: &str| url_encode(s);
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    pairs.iter().map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v))).collect::<Vec<_>>().join("&")
}

impl TestHub {
    pub fn now(&self) -> u64 {
        self.clock.load(Ordering::SeqCst)
    }

    pub fn advance(&self, secs: u64) {
        self.clock.fetch_add(secs, Ordering::SeqCst);
    }

    /// The generated client secret of `<ns>/<name>-credentials`.
    /// A file under the hub's state directory.
    pub fn state_path(&self, rel: &str) -> std::path::PathBuf {
        self.state.join(rel)
    }

    pub fn secret(&self, ns: &str, client_name: &str) -> String {
        self.credentials(ns, &format!("{client_name}-credentials"))["client_secret"].clone()
    }

    pub fn credentials(&self, ns: &str, secret_name: &str) -> std::collections::BTreeMap<String, String> {
        let path = self.state.join("credentials").join(ns).join(format!("{secret_name}.yaml"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        serde_yaml::from_value(v["stringData"].clone()).unwrap()
    }

    pub async fn post_raw(&self, path: &str, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> Reply {
        let mut r = self.http.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        Reply::from(r.send().await.unwrap()).await
    }

    /// A form POST with Basic credentials (when given).
    pub async fn post(&self, path: &str, auth: Option<(&str, &str)>, pairs: &[(&str, &str)]) -> Reply {
        let b = auth.map(|(id, s)| basic(id, s));
        let mut headers = vec![("content-type", "application/x-www-form-urlencoded")];
        if let Some(b) = &b {
            headers.push(("authorization", b.as_str()));
        }
        self.post_raw(path, &headers, form(pairs)).await
    }

    pub async fn http_get_bearer(&self, path: &str, token: &str) -> Reply {
        let r = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.unwrap();
        Reply::from(r).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(self.http.get(format!("{}{path}", self.base)).send().await.unwrap()).await
    }

    /// A token for `bot` (Basic) with extra parameters.
    pub async fn bot_token(&self, extra: &[(&str, &str)]) -> Reply {
        let secret = self.secret("agents", "bot");
        let mut pairs = vec![("grant_type", "client_credentials")];
        pairs.extend_from_slice(extra);
        self.post("/token", Some(("bot", &secret)), &pairs).await
    }

    pub async fn jwks(&self) -> JwkSet {
        let r = self.get("/jwks.json").await;
        assert_eq!(r.status, 200);
        serde_json::from_str(&r.text).unwrap()
    }

    /// Verifies `token` the way a resource server would: by the JWKS, with an
    /// independent JOSE implementation, for the given audience.
    pub async fn verify(&self, token: &str, audience: &str) -> Value {
        let header = decode_header(token).unwrap();
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let jwks = self.jwks().await;
        let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("kid is published");
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let mut v = Validation::new(header.alg);
        v.set_audience(&[audience]);
        v.set_issuer(&[self.issuer().as_str()]);
        // The hub's clock is the test's; jsonwebtoken checks exp against the real
        // one, so exp is compared below instead.
        v.validate_exp = false;
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = decode::<Value>(token, &key, &v).unwrap();
        assert!(data.claims["exp"].as_u64().unwrap() > self.now());
        data.claims
    }

    pub fn issuer(&self) -> String {
        self.hub.as_ref().unwrap().issuer.clone()
    }

    pub fn write(&self, name: &str, text: &str) {
        let path = self.manifests.path().join(name);
        let tmp = self.manifests.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, path).unwrap();
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.manifests.path().join(name)).unwrap();
    }

    /// Waits (bounded) until `probe` holds, polling the server.
    pub async fn eventually<F, Fut>(&self, what: &str, mut probe: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..100 {
            if probe().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for: {what}");
    }

    /// Stops the server and starts another on the same folders.
    pub async fn restart(mut self) -> TestHub {
        let issuer = self.issuer();
        self.hub.take().unwrap().stop();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let b = Builder {
            files: vec![],
            alg: self.alg,
            issuer: Some(issuer),
            state: Some((self.state.clone(), self._state_dir.take())),
            manifests: Some(self.manifests),
            listener: Limits::DEFAULT,
            audit: keyward::audit::Sink::Off,
            registration: Some(keyward::registration::Limits::default()),
        };
        let h = b.try_start(50).await;
        h.clock.store(self.clock.load(Ordering::SeqCst), Ordering::SeqCst);
        h
    }
}

/// A writer that keeps what a `tracing` layer writes, for tests that read the
/// log or the audit trail.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}
