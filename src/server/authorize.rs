//! `GET|POST /authorize` (RFC 6749 §4.1.1, OAuth 2.1 §4.1.1): validates the
//! request (`keyward_core::grant::authorize`), records it bound to this
//! browser, and hands it to the flow (`flow.rs`): sign in, consent, code.

use std::sync::Arc;

use std::net::SocketAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::Response;
use keyward_core::grant::authorize::{AuthorizeError, AuthorizeRequest, validate};
use keyward_core::sessions::PendingAuthorization;

use super::browser::{self, BROWSER};
use super::flow::{self, error_page, store_page};
use super::{AppState, form};

pub async fn authorize(
    State(st): State<Arc<AppState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let raw: &[u8] = if method == Method::POST {
        if form::require_form_content_type(&headers).is_err() {
            return error_page(
                &st,
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The request must be a form post.",
                None,
            );
        }
        &body
    } else {
        query.as_deref().unwrap_or_default().as_bytes()
    };
    let params = match form::parse(raw) {
        Ok(p) => p,
        Err(e) => return error_page(&st, StatusCode::BAD_REQUEST, "Invalid request", &e.description, Some(e.code)),
    };
    let req = match AuthorizeRequest::parse(&params) {
        Ok(r) => r,
        Err(e) => return error_page(&st, StatusCode::BAD_REQUEST, "Invalid request", &e.description, Some(e.code)),
    };
    // A client id that is a metadata document's URL: fetched, checked and
    // kept as a client before the request is judged like any other.
    let peer = peer.map(|Extension(ConnectInfo(a))| a.ip());
    if let Some(client_id) = req.client_id
        && let Err(e) = super::metadata_document::ensure(&st, client_id, peer).await
    {
        return error_page(
            &st,
            StatusCode::BAD_REQUEST,
            "This application cannot sign you in",
            &e.to_string(),
            Some(keyward_core::ErrorCode::InvalidClient),
        );
    }
    let hub = st.hub.load_full();
    let issuer = st.issuer();
    let a = match validate(&hub, &req) {
        Ok(a) => a,
        Err(AuthorizeError::Page(e)) => {
            return error_page(
                &st,
                StatusCode::BAD_REQUEST,
                "This sign-in link is not valid",
                &e.description,
                Some(e.code),
            );
        }
        Err(AuthorizeError::Redirect { redirect_uri, state, error }) => {
            return flow::to_client(
                &redirect_uri,
                &[("error", error.code.as_str()), ("error_description", &error.description)],
                state.as_deref(),
                &issuer,
            );
        }
    };
    let now = st.now();
    if flow::records(&st).is_err() {
        return flow::no_records(&st);
    }
    let login = match flow::session(&st, &headers, now).await {
        Ok(s) => s.filter(|s| a.max_age.is_none_or(|m| now.0 <= s.auth_time.saturating_add(m))),
        Err(e) => return store_page(&st, &e),
    };
    // The browser cookie: reuse this browser's, or give it one.
    let cookie_name = browser::cookie_name(&issuer, BROWSER);
    let (browser_id, new_cookie) = match browser::cookie(&headers, &cookie_name) {
        Some(c) if c.len() == 43 => (c.to_owned(), false),
        _ => match browser::random(&st) {
            Some(c) => (c, true),
            None => return error_page(&st, StatusCode::SERVICE_UNAVAILABLE, "Try again", "No randomness.", None),
        },
    };
    let Some(csrf) = browser::random(&st) else {
        return error_page(&st, StatusCode::SERVICE_UNAVAILABLE, "Try again", "No randomness.", None);
    };
    let p = PendingAuthorization {
        client_id: a.client.client_id.to_string(),
        incarnation: a.client.incarnation.to_string(),
        redirect_uri: a.redirect_uri.clone(),
        state: a.state.clone(),
        code_challenge: a.code_challenge.clone(),
        resources: a.resources.clone(),
        scope: req.scope.map(str::to_owned),
        nonce: a.nonce.clone(),
        force_consent: a.prompt.consent,
        force_login: a.prompt.login,
        login_hint: a.login_hint.clone(),
        csrf: browser::digest(&csrf),
        browser: browser::digest(&browser_id),
        user: None,
        auth_time: None,
        upstream: None,
    };
    // The request is stored only if a page is needed (flow::keep).
    let mut response = flow::proceed(&st, &hub, None, p, login, &csrf, a.prompt.none, now).await;
    if new_cookie && let Some(v) = browser::set_cookie(&issuer, BROWSER, &browser_id, Some(400 * 24 * 3600)) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}
