//! Guarded outbound HTTP: the one way keyward fetches documents from other
//! servers — trusted issuers' OpenID discovery documents and JWKS (the
//! JWT-bearer grant, RFC 7523) and userinfo.
//!
//! A URL given to us is not trusted to point somewhere harmless: https only
//! (unless `allow_http`); loopback, private, link-local, CGNAT, metadata and
//! other special-purpose addresses refused unless allow-listed, judged on the
//! addresses actually dialled (`guard`); every redirect hop re-checked, at
//! most [`MAX_REDIRECTS`]; time and size bounded, JSON only (`http`).
//! Discovery and JWKS are cached by `Cache-Control`, fetched once for many
//! concurrent callers, served stale when a refresh fails, and refetched for an
//! unknown `kid` at most once per `min_refresh_interval` (`cache`).

mod cache;
mod guard;
mod http;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures::FutureExt;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet, PublicKeyUse};
use reqwest::{Certificate, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use guard::{AddrClass, Refusal, classify};

use cache::{Cache, CacheConfig, Ttl, Want};
use guard::Guard;
use http::Http;

/// Redirect hops followed at most.
pub const MAX_REDIRECTS: usize = 3;

/// Cached documents kept per kind (discovery, JWKS) and client.
const MAX_CACHED: usize = 1024;

/// Clients with extra CA bundles kept; past it the map starts over.
const MAX_CA_CLIENTS: usize = 64;

/// What outbound fetches may do. Build with `..FetchPolicy::default()`.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    /// Permit plain `http://` (tests, or an issuer reached over a mesh).
    pub allow_http: bool,
    /// Lifts the address refusal for these networks and exact host names.
    pub allow: Vec<AllowEntry>,
    /// Bounds connecting and the whole exchange, body included.
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_bytes: usize,
    /// The least time between two fetches of one document outside its normal
    /// expiry (an unknown `kid`), and how long a failure is remembered.
    pub min_refresh_interval: Duration,
    /// Bounds on the `Cache-Control: max-age` we honour.
    pub min_ttl: Duration,
    pub max_ttl: Duration,
    /// Freshness when the response says nothing.
    pub default_ttl: Duration,
    /// How long the last good copy may stand in for a failing source.
    pub max_stale: Duration,
    /// Follow redirects only within the first URL's origin.
    pub same_origin_redirects: bool,
}

impl Default for FetchPolicy {
    fn default() -> Self {
        FetchPolicy {
            allow_http: false,
            allow: Vec::new(),
            timeout: Duration::from_secs(5),
            max_bytes: 256 * 1024,
            min_refresh_interval: Duration::from_secs(30),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            default_ttl: Duration::from_secs(5 * 60),
            max_stale: Duration::from_secs(24 * 3600),
            same_origin_redirects: false,
        }
    }
}

/// An allow-list entry: a network (`10.0.0.0/8`, a single `127.0.0.1` or
/// `::1`) or an exact host name (`kubernetes.default.svc`), which permits
/// whatever that name resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowEntry {
    Net(ipnet::IpNet),
    Host(String),
}

/// An allow-list entry that is neither a CIDR, an address nor a host name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid allow-list entry {0:?}: expected a CIDR (10.0.0.0/8), an IP address or a host name")]
pub struct InvalidAllowEntry(pub String);

impl FromStr for AllowEntry {
    type Err = InvalidAllowEntry;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        let bare = trimmed.trim_start_matches('[').trim_end_matches(']');
        if let Ok(net) = trimmed.parse::<ipnet::IpNet>() {
            return Ok(AllowEntry::Net(net.trunc()));
        }
        if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
            return Ok(AllowEntry::Net(ipnet::IpNet::from(ip)));
        }
        let host = trimmed.trim_end_matches('.').to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        // All-numeric names would be read as IPv4 by URL parsers.
        let numeric = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if host.len() <= 253 && !numeric && host.split('.').all(label_ok) {
            return Ok(AllowEntry::Host(host));
        }
        Err(InvalidAllowEntry(s.to_owned()))
    }
}

/// What can go wrong. Messages name the URL without credentials or query and
/// never include a response body or a token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    #[error("refused to fetch {url}: {reason}")]
    Refused { url: String, reason: Refusal },
    #[error("timed out")]
    Timeout,
    #[error("response body exceeds the size limit")]
    TooLarge,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("response is not JSON")]
    NotJson,
    #[error("unexpected JSON document: {0}")]
    Invalid(String),
    #[error("discovery document names issuer {found:?}, expected {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("more than {MAX_REDIRECTS} redirects")]
    Redirect,
    #[error("network error: {0}")]
    Network(String),
    #[error("fetch client configuration: {0}")]
    Config(String),
}

/// The part of an OpenID Provider's metadata we use (OpenID Discovery §3).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// An upstream identity provider's endpoints (`oidc` IdentityProvider).
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
}

/// The guarded fetcher. Cloning shares the client and the caches.
#[derive(Clone)]
pub struct Fetcher {
    inner: Arc<Inner>,
}

struct Inner {
    policy: FetchPolicy,
    guard: Arc<Guard>,
    http: Http,
    ttl: Ttl,
    discovery: Arc<Cache<Discovery>>,
    jwks: Arc<Cache<JwkSet>>,
    /// Client ID Metadata Documents, as JSON, by URL.
    documents: Arc<Cache<serde_json::Value>>,
    family: Family,
}

/// The root fetcher keeps the per-CA-bundle fetchers; they point back
/// weakly, so there is no reference cycle.
enum Family {
    Root(Mutex<HashMap<String, Fetcher>>),
    Derived(Weak<Inner>),
}

impl Fetcher {
    pub fn new(policy: FetchPolicy) -> Result<Fetcher, FetchError> {
        if policy.timeout.is_zero() || policy.max_bytes == 0 {
            return Err(FetchError::Config("timeout and max_bytes must be positive".into()));
        }
        if policy.min_ttl > policy.max_ttl {
            return Err(FetchError::Config("min_ttl exceeds max_ttl".into()));
        }
        let guard = Arc::new(Guard::new(policy.allow_http, &policy.allow));
        Fetcher::build(policy, guard, Vec::new(), Family::Root(Mutex::new(HashMap::new())))
    }

    fn build(
        policy: FetchPolicy,
        guard: Arc<Guard>,
        roots: Vec<Certificate>,
        family: Family,
    ) -> Result<Fetcher, FetchError> {
        let http = Http::new(
            Arc::clone(&guard),
            policy.allow_http,
            policy.timeout,
            policy.max_bytes,
            roots,
            policy.same_origin_redirects,
        )?;
        let ttl = Ttl { min: policy.min_ttl, max: policy.max_ttl, default: policy.default_ttl };
        let config = CacheConfig {
            min_interval: policy.min_refresh_interval,
            max_stale: policy.max_stale,
            max_entries: MAX_CACHED,
        };
        let inner = Inner {
            policy,
            guard,
            http,
            ttl,
            discovery: Arc::new(Cache::new(config)),
            jwks: Arc::new(Cache::new(config)),
            documents: Arc::new(Cache::new(config)),
            family,
        };
        Ok(Fetcher { inner: Arc::new(inner) })
    }

    /// A fetcher that also trusts the CA certificates in `pem` (a trusted
    /// issuer's `caBundle`), with its own caches: a document fetched under
    /// one trust configuration is never served under another. Kept per
    /// bundle, so calling this per request costs a map lookup.
    pub fn with_ca(&self, pem: &str) -> Result<Fetcher, FetchError> {
        let root = match &self.inner.family {
            Family::Root(_) => Arc::clone(&self.inner),
            Family::Derived(root) => match root.upgrade() {
                Some(root) => root,
                // The root is gone (shutdown): still answer, uncached.
                None => return derive(&self.inner, pem, Weak::new()),
            },
        };
        let Family::Root(map) = &root.family else { return derive(&root, pem, Weak::new()) };
        let key = pem.trim();
        if let Some(found) = map.lock().unwrap_or_else(PoisonError::into_inner).get(key) {
            return Ok(found.clone());
        }
        // Built outside the lock; of two racing builds, the first stored wins.
        let built = derive(&root, pem, Arc::downgrade(&root))?;
        let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_CA_CLIENTS {
            map.clear();
        }
        Ok(map.entry(key.to_owned()).or_insert(built).clone())
    }

    /// GET `url` as JSON, uncached (userinfo). A JWT-typed userinfo response
    /// (`application/jwt`) is refused as [`FetchError::NotJson`].
    pub async fn json<T: DeserializeOwned>(&self, url: &str, bearer: Option<&str>) -> Result<T, FetchError> {
        let body = self.inner.http.get(url, "application/json", bearer).await?;
        http::parse(&body.bytes)
    }

    /// POST a form with Basic credentials, uncached (an upstream's token
    /// endpoint), and parse the JSON answer.
    pub async fn post_form<T: DeserializeOwned>(
        &self,
        url: &str,
        form: &str,
        basic: (&str, &str),
    ) -> Result<T, FetchError> {
        let body = self.inner.http.post_form(url, form, basic).await?;
        http::parse(&body.bytes)
    }

    /// The OpenID discovery document of `issuer`, cached. The document must
    /// name exactly `issuer` (OpenID Discovery §4.3), or it is an error and
    /// not cached.
    pub async fn discovery(&self, issuer: &str) -> Result<Arc<Discovery>, FetchError> {
        // §4: a terminating "/" is removed before appending the well-known path.
        let url = format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'));
        let (http, ttl, expected) = (self.inner.http.clone(), self.inner.ttl, issuer.to_owned());
        let load = move || {
            async move {
                let body = http.get(&url, "application/json", None).await?;
                let doc: Discovery = http::parse(&body.bytes)?;
                if doc.issuer != expected {
                    let found = doc.issuer.chars().take(256).collect();
                    return Err(FetchError::IssuerMismatch { expected, found });
                }
                Ok((doc, freshness(&body, &ttl)))
            }
            .boxed()
        };
        // Keyed by the issuer, not the URL: "https://a" and "https://a/"
        // share a URL but expect different `issuer` values.
        self.inner.discovery.get(issuer, Want::Fresh, load).await
    }

    /// A JSON document (a Client ID Metadata Document), cached by its HTTP
    /// caching headers within the policy's bounds and refetched when stale.
    pub async fn document(&self, url: &str) -> Result<Arc<serde_json::Value>, FetchError> {
        let (http, ttl, u) = (self.inner.http.clone(), self.inner.ttl, url.to_owned());
        let load = move || {
            async move {
                let body = http.get(&u, "application/json", None).await?;
                let doc: serde_json::Value = http::parse(&body.bytes)?;
                Ok((doc, freshness(&body, &ttl)))
            }
            .boxed()
        };
        self.inner.documents.get(url, Want::Fresh, load).await
    }

    /// The key set at `jwks_uri`, cached.
    pub async fn jwks(&self, jwks_uri: &str) -> Result<Arc<JwkSet>, FetchError> {
        self.inner.jwks.get(jwks_uri, Want::Fresh, self.load_jwks(jwks_uri)).await
    }

    /// The key `kid` of `jwks_uri`: from the cache; if absent, after one
    /// refresh — unless the set was fetched within `min_refresh_interval`, so
    /// tokens with made-up kids cannot make us hammer the issuer.
    pub async fn key(&self, jwks_uri: &str, kid: &str) -> Result<Option<Jwk>, FetchError> {
        let set = self.jwks(jwks_uri).await?;
        if let Some(key) = set.find(kid) {
            return Ok(Some(key.clone()));
        }
        let set = self.inner.jwks.get(jwks_uri, Want::Newer, self.load_jwks(jwks_uri)).await?;
        Ok(set.find(kid).cloned())
    }

    fn load_jwks(&self, jwks_uri: &str) -> impl FnOnce() -> cache::Load<JwkSet> + use<> {
        let (http, ttl, url) = (self.inner.http.clone(), self.inner.ttl, jwks_uri.to_owned());
        move || {
            async move {
                let body = http.get(&url, "application/jwk-set+json, application/json", None).await?;
                let set = usable_keys(http::parse(&body.bytes)?);
                Ok((set, freshness(&body, &ttl)))
            }
            .boxed()
        }
    }
}

/// A fetcher like `base` whose client also trusts the certificates in `pem`.
fn derive(base: &Inner, pem: &str, root: Weak<Inner>) -> Result<Fetcher, FetchError> {
    let certs = Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|_| FetchError::Config("the CA bundle is not valid PEM".into()))?;
    if certs.is_empty() {
        return Err(FetchError::Config("the CA bundle holds no certificate".into()));
    }
    Fetcher::build(base.policy.clone(), Arc::clone(&base.guard), certs, Family::Derived(root))
}

/// A JWKS as published, keys still unparsed.
#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// The keys we may verify with. A key jsonwebtoken cannot read (a new key
/// type, a malformed entry) is skipped rather than failing the set, so one odd
/// key does not take an issuer offline. Only public-key types are kept —
/// a symmetric key in a public document would let anyone forge tokens — and
/// keys published for encryption only are dropped (RFC 7517 §4.2).
fn usable_keys(raw: RawSet) -> JwkSet {
    let total = raw.keys.len();
    let keys: Vec<Jwk> = raw
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter(|jwk| {
            matches!(
                jwk.algorithm,
                AlgorithmParameters::EllipticCurve(_)
                    | AlgorithmParameters::RSA(_)
                    | AlgorithmParameters::OctetKeyPair(_)
            )
        })
        .filter(|jwk| !matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)))
        .collect();
    if keys.len() < total {
        tracing::debug!(skipped = total - keys.len(), "JWKS entries skipped: unreadable, symmetric or encryption keys");
    }
    JwkSet { keys }
}

fn freshness(body: &http::Body, ttl: &Ttl) -> Duration {
    let values: Vec<&str> = body.cache_control.iter().map(String::as_str).collect();
    cache::freshness(&values, body.age.as_deref(), ttl)
}

/// A URL fit for messages and logs: scheme, host, port and path only — no
/// credentials, query or fragment — and bounded in length.
fn redact(url: &Url) -> String {
    let shown = match url.scheme() {
        "http" | "https" => format!("{}{}", url.origin().ascii_serialization(), url.path()),
        other => format!("{other}:"),
    };
    shown.chars().take(256).collect()
}

fn redact_str(url: &str) -> String {
    Url::parse(url).map_or_else(|_| "<invalid URL>".to_owned(), |u| redact(&u))
}

#[cfg(test)]
mod tests;
