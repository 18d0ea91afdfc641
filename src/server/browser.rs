//! What the pages need from the browser: cookies, the CSRF check and random
//! handles. Cookies are `HttpOnly`, `SameSite=Lax` and `Path=/`; under an
//! https issuer they are also `Secure` and carry the `__Host-` prefix (the
//! browser then refuses them from anything but this exact origin). A plain
//! http issuer (a laptop's `keyward serve`) gets unprefixed cookies, which
//! browsers would otherwise drop.

use aws_lc_rs::rand::SecureRandom;
use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::AppState;

/// A browser's login at the hub.
pub const SESSION: &str = "keyward-session";
/// Binds an `/authorize` request to the browser that started it.
pub const BROWSER: &str = "keyward-browser";

/// The cookie's name as the issuer's scheme allows.
pub fn cookie_name(issuer: &str, base: &str) -> String {
    if issuer.starts_with("https://") { format!("__Host-{base}") } else { base.to_owned() }
}

/// The value of cookie `name`, if the request sent it (once).
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value. `max_age: None` deletes the cookie.
pub fn set_cookie(issuer: &str, base: &str, value: &str, max_age: Option<u64>) -> Option<HeaderValue> {
    let secure = issuer.starts_with("https://");
    let mut c = format!("{}={value}; Path=/; HttpOnly; SameSite=Lax", cookie_name(issuer, base));
    if secure {
        c.push_str("; Secure");
    }
    match max_age {
        Some(s) => c.push_str(&format!("; Max-Age={s}")),
        None => c.push_str("; Max-Age=0"),
    }
    HeaderValue::from_str(&c).ok()
}

/// 256 random bits, base64url: cookies, flow ids, CSRF tokens, codes,
/// refresh tokens.
pub fn random(st: &AppState) -> Option<String> {
    let mut raw = [0u8; 32];
    st.rng.fill(&mut raw).ok()?;
    Some(B64.encode(raw))
}

pub use crate::secret_digest::handle_digest as digest;

/// Whether a form post may come from where it says: a browser names the
/// page's origin in `Origin`, which must be the hub's; `Sec-Fetch-Site`, when
/// sent, must not be cross-site. A request without either (curl, a scripted
/// agent) passes on to the CSRF token and browser cookie, which it must hold.
pub fn same_origin(headers: &HeaderMap, issuer: &str) -> bool {
    if headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()).is_some_and(|v| v == "cross-site") {
        return false;
    }
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(o) => Some(o) == origin_of(issuer).as_deref(),
    }
}

/// `scheme://authority` of the issuer.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_prefixed_and_secure_only_under_https() {
        let v = set_cookie("https://hub.example.com", SESSION, "abc", Some(60))
            .map(|v| v.to_str().unwrap_or("").to_owned());
        assert_eq!(
            v.as_deref(),
            Some("__Host-keyward-session=abc; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60")
        );
        let v = set_cookie("http://127.0.0.1:8080", SESSION, "abc", None).map(|v| v.to_str().unwrap_or("").to_owned());
        assert_eq!(v.as_deref(), Some("keyward-session=abc; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"));
    }

    #[test]
    fn a_foreign_origin_or_a_cross_site_fetch_is_refused() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h, "https://hub.example.com/x"));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://hub.example.com"));
        assert!(same_origin(&h, "https://hub.example.com/x"));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h, "https://hub.example.com/x"));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(!same_origin(&h, "https://hub.example.com/x"));
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, "https://hub.example.com"));
    }

    #[test]
    fn a_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; keyward-session=xyz; b=2"));
        assert_eq!(cookie(&h, SESSION), Some("xyz"));
        assert_eq!(cookie(&h, BROWSER), None);
    }
}
