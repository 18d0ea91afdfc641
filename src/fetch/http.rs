//! One guarded GET: the URL checked before anything is sent, the client's
//! resolver and redirect policy checking the rest, the whole exchange under
//! one deadline, the body read chunk by chunk up to the size limit, and only
//! JSON accepted. Errors are mapped to [`FetchError`] without echoing
//! credentials, query strings or response bodies.

use std::error::Error as _;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, AGE, CACHE_CONTROL, CONTENT_TYPE, HeaderMap};
use reqwest::{Certificate, Client, Url};
use serde::de::DeserializeOwned;

use super::guard::{Guard, GuardedResolver, Refused, TooManyRedirects, redirect_policy};
use super::{FetchError, redact};

/// A client bound to one [`Guard`] and one set of trusted roots.
#[derive(Clone)]
pub struct Http {
    client: Client,
    guard: Arc<Guard>,
    timeout: Duration,
    max_bytes: usize,
}

/// A successful response body and the headers that decide its freshness.
pub struct Body {
    pub bytes: Vec<u8>,
    pub cache_control: Vec<String>,
    pub age: Option<String>,
}

impl Http {
    /// `extra_roots` are trusted in addition to the platform's.
    pub fn new(
        guard: Arc<Guard>,
        allow_http: bool,
        timeout: Duration,
        max_bytes: usize,
        extra_roots: Vec<Certificate>,
        same_origin_redirects: bool,
    ) -> Result<Http, FetchError> {
        let client = Client::builder()
            // A proxy would resolve names itself, out of the guard's sight.
            .no_proxy()
            .dns_resolver(GuardedResolver(Arc::clone(&guard)))
            .redirect(redirect_policy(Arc::clone(&guard), same_origin_redirects))
            .https_only(!allow_http)
            .connect_timeout(timeout)
            .timeout(timeout)
            .referer(false)
            .user_agent(concat!("keyward/", env!("CARGO_PKG_VERSION")))
            .tls_certs_merge(extra_roots)
            .build()
            .map_err(|e| FetchError::Config(describe(&e)))?;
        Ok(Http { client, guard, timeout, max_bytes })
    }

    /// GET `url` and return its body if it is a 2xx JSON response within the
    /// limits. `bearer` is sent as `Authorization: Bearer`; reqwest drops it
    /// on a redirect to another origin.
    pub async fn get(&self, url: &str, accept: &'static str, bearer: Option<&str>) -> Result<Body, FetchError> {
        let url = Url::parse(url).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
        // Literal IPs never reach the resolver: judge them (and the scheme) here.
        self.guard.check_url(&url).map_err(|reason| FetchError::Refused { url: redact(&url), reason })?;
        let shown = redact(&url);
        let mut request = self.client.get(url).header(ACCEPT, accept);
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        // reqwest's own timeouts are set too; this one also covers reading
        // the body however the server trickles it.
        match tokio::time::timeout(self.timeout, self.exchange(request, &shown)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    /// POST a form to `url` with HTTP Basic credentials (an upstream token
    /// endpoint) and return the JSON body. A non-2xx answer with an OAuth
    /// error body is `FetchError::Status`; the body is not echoed.
    pub async fn post_form(&self, url: &str, form: &str, basic: (&str, &str)) -> Result<Body, FetchError> {
        let url = Url::parse(url).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
        self.guard.check_url(&url).map_err(|reason| FetchError::Refused { url: redact(&url), reason })?;
        let shown = redact(&url);
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let request = self
            .client
            .post(url)
            .header(ACCEPT, "application/json")
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            // RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
            .basic_auth(enc(basic.0), Some(enc(basic.1)))
            .body(form.to_owned());
        match tokio::time::timeout(self.timeout, self.exchange(request, &shown)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn exchange(&self, request: reqwest::RequestBuilder, shown: &str) -> Result<Body, FetchError> {
        let mut response = request.send().await.map_err(|e| map_error(&e, shown))?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
        if !is_json(response.headers()) {
            return Err(FetchError::NotJson);
        }
        if response.content_length().is_some_and(|len| len > self.max_bytes as u64) {
            return Err(FetchError::TooLarge);
        }
        let cache_control = response
            .headers()
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let age = response.headers().get(AGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        // Content-Length may be absent (chunked) or wrong: count what arrives.
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| map_error(&e, shown))? {
            if bytes.len().saturating_add(chunk.len()) > self.max_bytes {
                return Err(FetchError::TooLarge);
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Body { bytes, cache_control, age })
    }
}

/// `application/json` or any `application/*+json` (`jwk-set+json`, ...).
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Parse a body as `T`. Syntax errors are "not JSON"; shape errors name a
/// missing field or a position, never a value (which may be personal data).
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FetchError> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            let message = e.to_string();
            if message.starts_with("missing field") {
                FetchError::Invalid(message)
            } else {
                FetchError::Invalid(format!("unexpected type or value at line {} column {}", e.line(), e.column()))
            }
        }
        _ => FetchError::NotJson,
    })
}

/// Our guard's refusals travel through reqwest's error chain as sources;
/// find them before falling back to timeout / network.
fn map_error(error: &reqwest::Error, shown: &str) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            let url = match (&refused.hop, error.url()) {
                (Some(hop), _) | (None, Some(hop)) => redact(hop),
                (None, None) => shown.to_owned(),
            };
            return FetchError::Refused { url, reason: refused.reason.clone() };
        }
        if cause.is::<TooManyRedirects>() {
            return FetchError::Redirect;
        }
        source = cause.source();
    }
    if error.is_timeout() {
        return FetchError::Timeout;
    }
    FetchError::Network(describe(error))
}

/// The error and its causes, without the URL reqwest would print (it may
/// carry a query string).
fn describe(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source: Option<&(dyn std::error::Error + 'static)> = error.source();
    let head = if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "reading the response"
    } else if error.is_builder() {
        "building the client"
    } else {
        "request"
    };
    parts.push(head.to_owned());
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn only_json_media_types_pass() {
        let mut headers = HeaderMap::new();
        assert!(!is_json(&headers));
        for (value, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/jwk-set+json", true),
            ("application/jwt", false),
            ("text/html", false),
            ("text/json+html", false),
            ("application/json-seq", false),
        ] {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_json(&headers), ok, "{value}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Doc {
        issuer: String,
        n: u32,
    }

    #[test]
    fn parse_errors_never_echo_values() {
        assert_eq!(parse::<Doc>(b"<html>").unwrap_err(), FetchError::NotJson);
        assert_eq!(parse::<Doc>(b"{\"issuer\":").unwrap_err(), FetchError::NotJson);
        let missing = parse::<Doc>(b"{\"n\":1}").unwrap_err();
        assert!(matches!(&missing, FetchError::Invalid(m) if m.contains("missing field `issuer`")), "{missing}");
        let wrong = parse::<Doc>(b"{\"issuer\":\"x\",\"n\":\"secret-value\"}").unwrap_err();
        assert!(matches!(&wrong, FetchError::Invalid(m) if !m.contains("secret")), "{wrong}");
    }
}
