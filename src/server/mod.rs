//! The HTTP server: one axum router, one file per endpoint, one error mapping
//! (`error.rs`). Handlers hold nothing but the shared [`AppState`]: the current
//! snapshot and key set (both swapped whole, read without locks), the store, and
//! the clock.

mod admin_consents;
mod assertion;
mod authorize;
pub mod browser;
mod callback;
mod client_assertion;
mod client_auth;
pub mod cluster_issuer;
mod consent;
mod discovery;
pub mod error;
mod explain;
mod flow;
mod form;
mod health;
mod introspect;
mod jwks;
pub mod listener;
mod login;
mod metadata_document;
pub mod pages;
mod protected_resource;
mod register;
pub mod replay;
mod request_id;
mod revoke;
mod token;
mod token_exchange;
mod token_param;
mod user_grants;
mod userinfo;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::{ArcSwap, ArcSwapOption};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use keyward_core::UnixTime;
use keyward_core::keys::Algorithm;
use keyward_core::snapshot::HubSnapshot;
use keyward_core::store::{Records, Store};

use crate::audit::{Audit, RequestIds};
use crate::keys::KeySet;
use crate::metrics::Metrics;

/// The most a request body to an OAuth endpoint may hold. A token request is a
/// few hundred bytes; 16 KiB leaves room for long assertions later.
pub const MAX_BODY: usize = 16 * 1024;

pub type Clock = Arc<dyn Fn() -> UnixTime + Send + Sync>;

/// Who the hub may call to verify assertions: issuers' endpoints through the
/// guarded fetcher, and the cluster for its service-account issuer.
#[derive(Default, Clone)]
pub struct Outbound {
    pub fetcher: Option<crate::fetch::Fetcher>,
    pub cluster: Option<Arc<dyn cluster_issuer::ClusterIssuer>>,
}

/// What the user side of the hub runs on.
pub struct People {
    pub records: Option<Arc<dyn Records>>,
    pub pages: pages::Pages,
    /// Dynamic Client Registration and metadata documents; `None`: both off.
    pub registration: Option<crate::registration::Registrar>,
}

impl Default for People {
    fn default() -> Self {
        People { records: None, pages: pages::Pages::built_in(), registration: None }
    }
}

pub fn system_clock() -> Clock {
    Arc::new(|| UnixTime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())))
}

pub struct AppState {
    pub hub: ArcSwap<HubSnapshot>,
    /// Absent until the first key set is loaded (in a cluster, until the leader
    /// has written the signing-keys Secret).
    pub keys: ArcSwapOption<KeySet>,
    pub store: Arc<dyn Store>,
    pub clock: Clock,
    pub rng: SystemRandom,
    pub metrics: Arc<Metrics>,
    /// Records every token decision: the audit trail and its counters.
    pub audit: Audit,
    request_ids: RequestIds,
    pub outbound: Outbound,
    synced: AtomicBool,
    discovery: discovery::Documents,
    /// Codes, login sessions, consents and refresh tokens; `None` where the
    /// hub has no store for them yet (a cluster), and the user grants are off.
    pub records: Option<Arc<dyn Records>>,
    pub pages: pages::Pages,
    pub passwords: crate::login::Passwords,
    pub throttle: crate::login::Throttle,
    pub registration: Option<Box<crate::registration::Registrar>>,
}

impl AppState {
    /// `alg` is the configured signing algorithm, which discovery advertises.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hub: HubSnapshot,
        keys: Option<KeySet>,
        alg: Algorithm,
        store: Arc<dyn Store>,
        clock: Clock,
        audit: Audit,
        outbound: Outbound,
        people: People,
    ) -> Arc<AppState> {
        let (dynamic, documents) =
            people.registration.as_ref().map_or((false, false), |r| (r.limits.dynamic, r.documents.is_some()));
        let discovery = discovery::Documents::new(&hub.settings, alg, dynamic, documents);
        let rng = SystemRandom::new();
        let mut prefix = [0u8; 4];
        // Without randomness the ids of two replicas may collide; they stay
        // unique within this one.
        let _ = rng.fill(&mut prefix);
        Arc::new(AppState {
            hub: ArcSwap::from_pointee(hub),
            keys: ArcSwapOption::from(keys.map(Arc::new)),
            store,
            clock,
            rng,
            metrics: audit.metrics(),
            audit,
            request_ids: RequestIds::new(u32::from_be_bytes(prefix)),
            outbound,
            synced: AtomicBool::new(false),
            discovery,
            records: people.records,
            pages: people.pages,
            passwords: crate::login::Passwords::default(),
            throttle: crate::login::Throttle::default(),
            registration: people.registration.map(Box::new),
        })
    }

    pub fn issuer(&self) -> String {
        self.hub.load().settings.issuer.clone()
    }

    /// Where the hub's pages live under the issuer (`""` or `/hub`).
    pub fn path_prefix(&self) -> String {
        issuer_path(&self.hub.load().settings.issuer)
    }

    pub fn assets(&self) -> String {
        format!("{}/assets", self.path_prefix())
    }

    /// Set once the configuration has been loaded (the folder read, or every
    /// watch listed once).
    pub fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Release);
    }

    /// Ready: configuration loaded, keys to sign with, and a store that knows
    /// the revocations made before this replica started.
    pub fn is_ready(&self) -> bool {
        self.synced.load(Ordering::Acquire) && self.keys.load().is_some() && self.store.is_ready()
    }

    pub fn now(&self) -> UnixTime {
        (self.clock)()
    }
}

/// The bearer token of `Authorization` (RFC 6750 §2.1; the scheme is
/// case-insensitive, RFC 9110 §11.1), if there is a non-empty one. Every
/// endpoint and the gateway read it here.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
}

/// The path component of the issuer: endpoints live under it.
fn issuer_path(issuer: &str) -> String {
    let after_scheme = issuer.split_once("://").map_or(issuer, |(_, r)| r);
    match after_scheme.find('/') {
        Some(i) => after_scheme[i..].trim_end_matches('/').to_owned(),
        None => String::new(),
    }
}

/// The admin listener (cluster mode): metrics and probes, kept off the public
/// port.
pub fn admin_router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .with_state(Arc::clone(&state))
        .merge(metrics_router(state))
}

/// `/metrics` (Prometheus text): on the admin listener in a cluster, on the
/// one listener of `keyward serve`.
pub fn metrics_router(state: Arc<AppState>) -> Router {
    Router::new().route("/metrics", get(health::metrics)).with_state(state)
}

pub fn router(state: Arc<AppState>) -> Router {
    let prefix = issuer_path(&state.hub.load().settings.issuer);
    // What a browser-based client (an MCP inspector, a single-page app) calls
    // from another origin. None of it reads a cookie, so any origin may; the
    // pages and the admin endpoint get no CORS at all.
    let cross_origin = Router::new()
        .route("/token", post(token::token))
        .route("/revoke", post(revoke::revoke))
        .route("/userinfo", get(userinfo::userinfo).post(userinfo::userinfo))
        .route("/register", post(register::register))
        .route("/register/{client_id}", get(register::read).delete(register::delete))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route("/jwks.json", get(jwks::jwks))
        .route("/.well-known/openid-configuration", get(discovery::openid_configuration))
        .route("/protected-resources/{namespace}/{name}", get(protected_resource::metadata))
        .layer(cors());
    let oauth = Router::new()
        .route("/introspect", post(introspect::introspect))
        .route("/authorize", get(authorize::authorize).post(authorize::authorize))
        .route("/login", get(login::show).post(login::submit))
        .route("/callback/{namespace}/{name}", get(callback::callback))
        .route("/consent", post(consent::submit))
        .route("/admin/consents", post(admin_consents::handle))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .route(
            "/assets/style.css",
            get(|axum::extract::State(st): axum::extract::State<Arc<AppState>>| async move { st.pages.style() }),
        )
        .merge(explain::routes())
        .merge(cross_origin);
    let oauth = if prefix.is_empty() { oauth } else { Router::new().nest(&prefix, oauth) };
    // RFC 8414 §3.1: the well-known segment goes between host and issuer
    // path. OpenID Connect Discovery appends it instead (served above, under
    // the issuer); clients that apply the RFC 8414 rule to it as well (the
    // MCP specification lists both) find it inserted too.
    let well_known = Router::new()
        .route(&format!("/.well-known/oauth-authorization-server{prefix}"), get(discovery::authorization_server));
    let well_known = if prefix.is_empty() {
        well_known
    } else {
        well_known.route(&format!("/.well-known/openid-configuration{prefix}"), get(discovery::openid_configuration))
    };
    oauth
        .merge(well_known.layer(cors()))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
        .route("/favicon.ico", get(pages::no_icon))
        .with_state(state)
}

/// Any origin, no credentials (a wildcard never admits cookies). The request
/// headers are those an OAuth or MCP client sends: `MCP-Protocol-Version`
/// goes with the MCP SDKs' discovery requests and so triggers a preflight.
fn cors() -> tower_http::cors::CorsLayer {
    use axum::http::{HeaderName, Method, header};
    tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            HeaderName::from_static("mcp-protocol-version"),
        ])
        .expose_headers([header::WWW_AUTHENTICATE])
        .max_age(std::time::Duration::from_secs(3600))
}
