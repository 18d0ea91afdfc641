//! Server-rendered pages (login, consent, errors) from minijinja templates
//! with auto-escaping, usable with no JavaScript. Every page carries a
//! Content-Security-Policy with no script at all, `frame-ancestors 'none'`
//! against clickjacking, and a `form-action` that names the client's
//! verified redirect origin: browsers apply `form-action` to the redirect
//! that answers a form post, so without it the consent page's 303 to the
//! client would be blocked.
//!
//! The look is replaceable: a folder holding `base.html`, `login.html`,
//! `consent.html`, `error.html` and `style.css` overrides the built-in ones
//! (`keyward serve --templates DIR`).

use std::path::Path;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

const BUILT_IN: [(&str, &str); 4] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("error.html", include_str!("templates/error.html")),
];
const STYLE: &str = include_str!("templates/style.css");

pub struct Pages {
    env: Environment<'static>,
    style: String,
}

impl Pages {
    /// The built-in pages, with any of them replaced from `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Pages, String> {
        let mut env = Environment::new();
        for (name, text) in BUILT_IN {
            let text = match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
                Some(p) => std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?,
                None => text.to_owned(),
            };
            env.add_template_owned(name, text).map_err(|e| format!("template {name}: {e}"))?;
        }
        let style = match dir.map(|d| d.join("style.css")).filter(|p| p.exists()) {
            Some(p) => std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?,
            None => STYLE.to_owned(),
        };
        Ok(Pages { env, style })
    }

    pub fn built_in() -> Pages {
        match Pages::load(None) {
            Ok(p) => p,
            // The built-in templates are compiled in and tested.
            Err(_) => Pages { env: Environment::new(), style: String::new() },
        }
    }

    /// Renders `name` as an HTML response; `form_origin` is the origin a
    /// form on it may end up redirected to.
    pub fn render(&self, status: StatusCode, name: &str, ctx: impl Serialize, form_origin: Option<&str>) -> Response {
        let body = self.env.get_template(name).and_then(|t| t.render(ctx)).unwrap_or_else(|e| {
            tracing::error!(template = name, error = %e, "a page template failed to render");
            "<!doctype html><title>Error</title><p>This page could not be shown.</p>".to_owned()
        });
        html(status, body, form_origin)
    }

    pub fn style(&self) -> Response {
        let mut r = (StatusCode::OK, self.style.clone()).into_response();
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=3600"));
        h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
        r
    }
}

fn html(status: StatusCode, body: String, form_origin: Option<&str>) -> Response {
    let mut r = (status, body).into_response();
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' https:; form-action 'self'{}; frame-ancestors 'none'; base-uri 'none'",
        form_origin.map(|o| format!(" {o}")).unwrap_or_default()
    );
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // same-origin, not no-referrer: with no-referrer browsers send
    // `Origin: null` on the pages' own form posts, which the Origin check
    // must refuse (found by the Chromium test, interop/browser). Nothing
    // leaks to other sites either way.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    r
}

/// `/favicon.ico`: nothing, said quickly, so browsers log no 404 on the pages.
pub async fn no_icon() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=86400"));
    r
}

/// The origin of a redirect URI as a CSP source: `https://host[:port]`, or
/// `scheme:` for a private-use scheme.
pub fn csp_origin(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    match rest.strip_prefix("//") {
        Some(after) => {
            let authority = after.split(['/', '?', '#']).next().unwrap_or(after);
            let ok =
                !authority.is_empty() && authority.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
            ok.then(|| format!("{scheme}://{authority}"))
        }
        None => scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)).then(|| format!("{scheme}:")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_template_renders_and_escapes() {
        let p = Pages::built_in();
        let ctx = minijinja::context! {
            hub => "Keyward", assets => "/assets", action => "/login", flow => "f", csrf => "c",
            client => minijinja::context! { name => "<script>x</script>" }, provider => "Demo", username => "",
            user => "alice", resources => Vec::<String>::new(), title => "t", message => "m",
        };
        for name in ["login.html", "consent.html", "error.html"] {
            let body = p.env.get_template(name).and_then(|t| t.render(&ctx)).unwrap_or_default();
            assert!(body.contains("<!doctype html>"), "{name}");
            assert!(!body.contains("<script>"), "{name} escapes");
        }
    }

    #[test]
    fn redirect_origins_become_csp_sources() {
        assert_eq!(csp_origin("https://app.example.com:8443/cb?x=1").as_deref(), Some("https://app.example.com:8443"));
        assert_eq!(csp_origin("http://127.0.0.1:5000/cb").as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(csp_origin("com.example.app:/cb").as_deref(), Some("com.example.app:"));
        assert_eq!(csp_origin("https://a b/"), None);
    }
}
