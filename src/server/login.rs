//! `GET|POST /login`: the sign-in page of a pending authorization request.
//! Static users only so far: the password is checked off the async workers
//! (`crate::login::password`), failures are throttled per username and per
//! client address, and a success starts a login session (cookie) and goes on
//! with the request.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use keyward_core::sessions::{self, LoginSession, PendingAuthorization};
use keyward_core::store::RecordKind;
use minijinja::context;
use serde::Deserialize;

use super::AppState;
use super::browser::{self, SESSION};
use super::flow::{self, store_page};
use crate::login::Verdict;

#[derive(Deserialize)]
pub struct FlowQuery {
    flow: Option<String>,
}

use super::flow::expired_page as expired;

pub async fn show(State(st): State<Arc<AppState>>, headers: HeaderMap, Query(q): Query<FlowQuery>) -> Response {
    let now = st.now();
    let Some(flow_id) = q.flow else { return expired(&st) };
    let (version, p, until) = match flow::pending(&st, &headers, &flow_id, now).await {
        Ok(Some(x)) => x,
        Ok(None) => return expired(&st),
        Err(e) => return store_page(&st, &e),
    };
    // A fresh CSRF token for this page view.
    let Some(csrf) = browser::random(&st) else { return expired(&st) };
    let mut p = p;
    p.csrf = browser::digest(&csrf);
    let hint = p.login_hint.clone().unwrap_or_default();
    let hub = st.hub.load_full();
    let upstream = flow::client_of(&hub, &p).and_then(|c| c.identity_provider.clone()).filter(|i| i.upstream.is_some());
    if let Some(provider) = upstream {
        return super::callback::to_upstream(&st, &provider, flow_id, version, p, until, now).await;
    }
    let Ok(records) = flow::records(&st) else { return expired(&st) };
    match sessions::replace(&**records, RecordKind::Pending, &flow_id, &version, &p, until, None, now).await {
        Ok(true) => {}
        Ok(false) => return expired(&st),
        Err(e) => return store_page(&st, &e),
    }
    page(&st, &p, &flow_id, &csrf, &hint, None, StatusCode::OK)
}

fn page(
    st: &AppState,
    p: &PendingAuthorization,
    flow_id: &str,
    csrf: &str,
    username: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let hub = st.hub.load();
    let Some(client) = flow::client_of(&hub, p) else { return expired(st) };
    let provider = client.identity_provider.as_ref().map(|p| p.display_name.clone()).unwrap_or_default();
    st.pages.render(
        status,
        "login.html",
        context! {
            hub => "Keyward", assets => st.assets(), action => format!("{}/login", st.path_prefix()),
            flow => flow_id, csrf, username, error, provider,
            client => context! { name => client.display_name.clone() },
        },
        super::pages::csp_origin(&p.redirect_uri).as_deref(),
    )
}

pub async fn submit(
    State(st): State<Arc<AppState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = st.now();
    let posted = match flow::posted(&st, &headers, &body, &["username", "password"], now).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let flow::Posted { values, csrf, flow, pending: mut p } = posted;
    let (username, password) = (values[0].as_str(), values[1].as_str());
    let flow_id = flow.id.clone();
    let hub = st.hub.load_full();
    let Some(client) = flow::client_of(&hub, &p).cloned() else { return expired(&st) };
    let Some(provider) = client.identity_provider.clone() else { return expired(&st) };
    let addr = peer.map_or_else(|| "unknown".to_owned(), |Extension(ConnectInfo(a))| a.ip().to_string());
    let keys = [format!("user:{}:{username}", provider.key), format!("addr:{addr}")];
    if let Some(wait) = st.throttle.blocked(&keys, now) {
        let msg = format!("Too many failed attempts. Try again in {} minute(s).", wait.div_ceil(60));
        let mut r = page(&st, &p, &flow_id, &csrf, username, Some(&msg), StatusCode::TOO_MANY_REQUESTS);
        if let Ok(v) = wait.to_string().parse() {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let hash = provider.users.get(username).map(|a| a.password_hash.as_str());
    if username.is_empty() || password.is_empty() || st.passwords.verify(hash, password).await != Verdict::Valid {
        st.throttle.failed(&keys, now);
        return page(
            &st,
            &p,
            &flow_id,
            &csrf,
            username,
            Some("Wrong username or password."),
            // 200, not 401: a 401 must carry an HTTP authentication
            // challenge (RFC 9110 §15.5.2), and this is a form page.
            StatusCode::OK,
        );
    }
    st.throttle.succeeded(&keys[0]);
    let Some(user) = crate::login::static_user(&provider, username) else { return expired(&st) };

    // A new session on every sign-in (no fixation of an old cookie).
    let Ok(records) = flow::records(&st) else { return expired(&st) };
    let Some(cookie) = browser::random(&st) else { return expired(&st) };
    let settings = &hub.settings;
    let session_until = now.plus(settings.defaults.session_token);
    let session = LoginSession { user: user.clone(), auth_time: now.0 };
    match sessions::create(&**records, RecordKind::Login, &browser::digest(&cookie), &session, session_until, None, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => return expired(&st),
        Err(e) => return store_page(&st, &e),
    }
    p.user = Some(user);
    p.auth_time = Some(now.0);
    let mut r = flow::proceed(&st, &hub, Some(flow), p, None, &csrf, false, now).await;
    if let Some(v) =
        browser::set_cookie(&st.issuer(), SESSION, &cookie, Some(settings.defaults.session_token.as_secs()))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
