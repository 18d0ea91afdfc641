//! One handler for every request: the metadata document at the gateway's
//! own well-known path, else check the token, check a `tools/call`'s scope,
//! and forward.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::json;

use super::rules::{self, Claims, Invalid, Presented};
use super::{GatewayState, Protected};

pub fn router(state: Arc<GatewayState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// RFC 9728 §3.1: the well-known segment before the resource's path.
pub(super) fn well_known_path(resource: &str) -> String {
    let after = resource.split_once("://").map_or(resource, |(_, r)| r);
    let path = after.find('/').map_or("", |i| &after[i..]);
    format!("/.well-known/oauth-protected-resource{}", path.trim_end_matches('/'))
}

/// Where the gateway serves the metadata, as clients reach it: the
/// resource's own origin (the gateway stands at the resource's URL), so the
/// challenge names the URL a client would also find by probing (§3.1).
pub(super) fn metadata_url(resource: &str) -> String {
    let (scheme, rest) = resource.split_once("://").unwrap_or(("https", resource));
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    format!("{scheme}://{authority}{}", well_known_path(resource))
}

fn json(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({"error": code, "error_description": description}).to_string();
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn refuse(st: &GatewayState, status: StatusCode, error: Option<(&str, &str)>, scope: Option<&str>) -> Response {
    let (code, description) = error.unwrap_or(("invalid_token", "an access token from the hub is required"));
    let mut r = json(status, code, description);
    if let Ok(v) = HeaderValue::from_str(&rules::challenge(&st.protected.load().well_known_url, error, scope)) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The request headers forwarded at most, all together.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Why a token was not accepted, or that the keys could not be had.
enum Verdict {
    Invalid(Invalid),
    KeysUnavailable,
}

const ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// A token's claims after its signature verified, by the token's digest:
/// a client sends the same token on every request until it refreshes, so
/// the signature is checked once per token, not per request. The claims are
/// still checked against the clock every time, and the cache is dropped when
/// the metadata (so possibly the issuer or the resource) changes.
pub(crate) struct Verified {
    map: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<Claims>>>,
}

/// Tokens remembered at most; when full, the map starts over.
const VERIFIED_MAX: usize = 10_000;

impl Verified {
    pub(super) fn new() -> Verified {
        Verified { map: std::sync::Mutex::new(std::collections::HashMap::new()) }
    }

    fn get(&self, key: &[u8; 32]) -> Option<Arc<Claims>> {
        self.map.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: [u8; 32], claims: Arc<Claims>) {
        if let Ok(mut m) = self.map.lock() {
            if m.len() >= VERIFIED_MAX {
                m.clear();
            }
            m.insert(key, claims);
        }
    }

    pub(super) fn clear(&self) {
        if let Ok(mut m) = self.map.lock() {
            m.clear();
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref());
    out
}

async fn verify(st: &GatewayState, p: &Protected, token: &str) -> Result<Arc<Claims>, Verdict> {
    let key = digest(token);
    if let Some(claims) = st.verified.get(&key) {
        rules::check_claims(&claims, &p.issuer, &p.resource, (st.clock)().0).map_err(Verdict::Invalid)?;
        return Ok(claims);
    }
    let claims = Arc::new(verify_signature(st, p, token).await?);
    rules::check_claims(&claims, &p.issuer, &p.resource, (st.clock)().0).map_err(Verdict::Invalid)?;
    st.verified.put(key, Arc::clone(&claims));
    Ok(claims)
}

async fn verify_signature(st: &GatewayState, p: &Protected, token: &str) -> Result<Claims, Verdict> {
    let bad = |i| Verdict::Invalid(i);
    let head = jsonwebtoken::decode_header(token).map_err(|_| bad(Invalid::Malformed))?;
    let typ = head.typ.as_deref().unwrap_or_default();
    if !(typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")) {
        return Err(bad(Invalid::NotAccessToken));
    }
    if !ALGORITHMS.contains(&head.alg) {
        return Err(bad(Invalid::Signature));
    }
    let kid = head.kid.as_deref().ok_or(bad(Invalid::Signature))?;
    let jwk = match st.fetcher.key(&p.jwks_uri, kid).await {
        Ok(Some(k)) => k,
        Ok(None) => return Err(bad(Invalid::Signature)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot fetch the hub's keys");
            return Err(Verdict::KeysUnavailable);
        }
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| bad(Invalid::Signature))?;
    let mut v = Validation::new(head.alg);
    // Time, issuer and audience are checked below, with the gateway's clock.
    v.validate_exp = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &v)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                bad(Invalid::Signature)
            }
            _ => bad(Invalid::Malformed),
        })?
        .claims;
    Ok(claims)
}

/// The checks made before the body is read: header size, the token and its
/// claims. `Err`: the refusal to send.
async fn admit(st: &GatewayState, p: &Protected, parts: &axum::http::request::Parts) -> Result<Arc<Claims>, Response> {
    // Headers beyond a few KiB are an attack or a mistake; the upstream is
    // not asked to judge which.
    let header_bytes: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len()).sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(json(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "invalid_request",
            "the request headers are too large",
        ));
    }
    let token = match rules::presented(&parts.headers, parts.uri.query()) {
        Presented::None => {
            let base = rules::base_scopes(&p.scopes_supported, &p.tool_scopes).join(" ");
            let scope = Some(base.as_str()).filter(|s| !s.is_empty());
            return Err(refuse(st, StatusCode::UNAUTHORIZED, None, scope));
        }
        Presented::InQuery => {
            let why = ("invalid_request", "send the access token in the Authorization header, never in the URL");
            return Err(refuse(st, StatusCode::BAD_REQUEST, Some(why), None));
        }
        Presented::Bearer(t) => t.to_owned(),
    };
    match verify(st, p, &token).await {
        Ok(c) => Ok(c),
        Err(Verdict::Invalid(why)) => {
            let description = why.to_string();
            Err(refuse(st, StatusCode::UNAUTHORIZED, Some(("invalid_token", &description)), None))
        }
        Err(Verdict::KeysUnavailable) => {
            Err(json(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", "the hub's keys are unavailable"))
        }
    }
}

async fn handle(State(st): State<Arc<GatewayState>>, req: Request) -> Response {
    let p = st.protected.load_full();
    let path = req.uri().path();
    if req.method() == Method::GET && (path == p.well_known_path || path == "/.well-known/oauth-protected-resource") {
        let mut r = (StatusCode::OK, p.document.clone()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        return r;
    }
    let (parts, body) = req.into_parts();
    let claims = match admit(&st, &p, &parts).await {
        Ok(c) => c,
        Err(refusal) => {
            // Read what the client sent (bounded), so its connection stays
            // usable for the request that follows the refusal (the SDKs
            // reuse it for discovery).
            let _ = axum::body::to_bytes(body, st.max_body).await;
            return refusal;
        }
    };
    let held = rules::scopes(&claims);

    // A JSON-RPC POST is read whole to find its tool calls; anything else
    // (an SSE GET, a DELETE) streams through.
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    let body = if parts.method == Method::POST && is_json {
        let Ok(bytes) = axum::body::to_bytes(body, st.max_body).await else {
            return json(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request",
                "the request body is larger than the gateway reads",
            );
        };
        if let Ok(message) = serde_json::from_slice::<serde_json::Value>(&bytes) {
            let need = rules::missing(&p.tool_scopes, &held, &rules::called_tools(&message));
            if !need.is_empty() {
                let mut ask: Vec<&str> = held.iter().copied().collect();
                ask.extend(need.iter().copied().filter(|s| !held.contains(s)));
                let description = format!("this call needs the scope {}", need.join(" or "));
                return refuse(
                    &st,
                    StatusCode::FORBIDDEN,
                    Some(("insufficient_scope", &description)),
                    Some(&ask.join(" ")),
                );
            }
        }
        reqwest::Body::from(bytes)
    } else {
        reqwest::Body::wrap_stream(body.into_data_stream())
    };
    forward(&st, parts, body, &claims, &held).await
}

/// Hop-by-hop headers (RFC 9110 §7.6.1) and what the gateway replaces.
fn dropped(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "authorization"
            | "content-length"
    ) || name.as_str().starts_with("x-keyward-")
}

async fn forward(
    st: &GatewayState,
    parts: axum::http::request::Parts,
    body: reqwest::Body,
    claims: &Claims,
    held: &BTreeSet<&str>,
) -> Response {
    let target = format!("{}{}", st.upstream_base, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let mut headers = HeaderMap::new();
    for (k, v) in &parts.headers {
        if !dropped(k) {
            headers.append(k.clone(), v.clone());
        }
    }
    let scope = held.iter().copied().collect::<Vec<_>>().join(" ");
    for (name, value) in [
        ("x-keyward-subject", claims.sub.as_deref()),
        ("x-keyward-client-id", claims.client_id.as_deref()),
        ("x-keyward-scope", Some(scope.as_str())),
    ] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_static(name), v);
        }
    }
    let sent = st.upstream.request(parts.method, &target).headers(headers).body(body).send().await;
    let upstream = match sent {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "the upstream MCP server did not answer");
            return json(StatusCode::BAD_GATEWAY, "server_error", "the MCP server did not answer");
        }
    };
    let mut r = Response::builder().status(upstream.status());
    if let Some(h) = r.headers_mut() {
        for (k, v) in upstream.headers() {
            if !dropped(k) || k == header::CONTENT_LENGTH {
                h.append(k.clone(), v.clone());
            }
        }
    }
    r.body(Body::from_stream(upstream.bytes_stream())).unwrap_or_else(|_| {
        json(StatusCode::BAD_GATEWAY, "server_error", "the MCP server's answer could not be relayed")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_path_follows_the_resource_path() {
        assert_eq!(well_known_path("https://mcp.example/mcp"), "/.well-known/oauth-protected-resource/mcp");
        assert_eq!(well_known_path("https://mcp.example/"), "/.well-known/oauth-protected-resource");
        assert_eq!(well_known_path("https://mcp.example"), "/.well-known/oauth-protected-resource");
    }

    #[test]
    fn the_challenge_names_the_metadata_at_the_resources_origin() {
        assert_eq!(
            metadata_url("https://mcp.example/docs/mcp"),
            "https://mcp.example/.well-known/oauth-protected-resource/docs/mcp"
        );
        assert_eq!(
            metadata_url("http://127.0.0.1:8090/"),
            "http://127.0.0.1:8090/.well-known/oauth-protected-resource"
        );
    }

    #[test]
    fn the_clients_token_and_forged_identity_headers_never_pass() {
        for h in ["authorization", "x-keyward-subject", "x-keyward-scope", "connection", "host"] {
            assert!(dropped(&HeaderName::from_static(h)), "{h}");
        }
        for h in ["content-type", "accept", "mcp-session-id", "mcp-protocol-version", "last-event-id"] {
            assert!(!dropped(&HeaderName::from_static(h)), "{h}");
        }
    }
}
