//! The upstream leg of a sign-in (`IdentityProvider` of type `oidc`):
//! `/login` sends the browser to the upstream's authorization endpoint, and
//! `GET /callback/{namespace}/{name}` takes it back, redeems the upstream's
//! code, verifies its ID token and goes on with the request as a signed-in
//! user (`flow::proceed`). `state` is `<flow id>.<random>`: the flow id finds
//! the pending request (still bound to this browser by its cookie), the
//! random half must match the digest kept in it.

use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keyward_core::identity::{CompiledIdentityProvider, callback_path};
use keyward_core::model::ObjectKey;
use keyward_core::sessions::{self, LoginSession, PendingAuthorization, UpstreamLeg};
use keyward_core::store::RecordKind;
use keyward_core::{ErrorCode, OAuthError, UnixTime};
use serde::Deserialize;

use super::AppState;
use super::browser::{self, SESSION};
use super::flow::{self, error_page, store_page};
use crate::login::upstream;

fn failed(st: &AppState, message: &str) -> Response {
    error_page(st, StatusCode::BAD_GATEWAY, "Sign-in failed", message, Some(ErrorCode::TemporarilyUnavailable))
}

/// Sends the browser to the upstream, remembering state, nonce and verifier.
pub async fn to_upstream(
    st: &AppState,
    provider: &Arc<CompiledIdentityProvider>,
    flow_id: String,
    version: String,
    mut p: PendingAuthorization,
    until: UnixTime,
    now: UnixTime,
) -> Response {
    let (Some(fetcher), Some((up, _))) = (&st.outbound.fetcher, &provider.upstream) else {
        return failed(st, "This hub cannot reach an upstream provider.");
    };
    let (Some(half), Some(nonce), Some(verifier)) = (browser::random(st), browser::random(st), browser::random(st))
    else {
        return failed(st, "No randomness.");
    };
    let challenge = B64.encode(digest(&SHA256, verifier.as_bytes()).as_ref());
    let state = format!("{flow_id}.{half}");
    let redirect = st.hub.load().settings.endpoint(&callback_path(&provider.key));
    let url = match upstream::authorize_url(fetcher, up, &redirect, &state, &nonce, &challenge, p.login_hint.as_deref())
        .await
    {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(provider = %provider.key, error = %e, "cannot start a sign-in at the upstream provider");
            return failed(st, "The identity provider cannot be reached. Try again in a moment.");
        }
    };
    p.upstream = Some(UpstreamLeg { state: browser::digest(&half), nonce, verifier });
    let Ok(records) = flow::records(st) else { return flow::no_records(st) };
    match sessions::replace(&**records, RecordKind::Pending, &flow_id, &version, &p, until, None, now).await {
        Ok(true) => flow::see_other(&url),
        Ok(false) => error_page(st, StatusCode::CONFLICT, "Try again", "This sign-in changed in another tab.", None),
        Err(e) => store_page(st, &e),
    }
}

#[derive(Deserialize)]
pub struct Answer {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn callback(
    State(st): State<Arc<AppState>>,
    Path((namespace, name)): Path<(String, String)>,
    headers: HeaderMap,
    Query(a): Query<Answer>,
) -> Response {
    let now = st.now();
    let expired = || flow::expired_page(&st);
    let Some((flow_id, half)) = a.state.as_deref().and_then(|s| s.split_once('.')) else { return expired() };
    let (version, mut p, until) = match flow::pending(&st, &headers, flow_id, now).await {
        Ok(Some(x)) => x,
        Ok(None) => return expired(),
        Err(e) => return store_page(&st, &e),
    };
    let Some(leg) = p.upstream.take().filter(|l| l.state == browser::digest(half)) else { return expired() };
    let hub = st.hub.load_full();
    let Some(client) = flow::client_of(&hub, &p).cloned() else { return expired() };
    let Some(provider) = client.identity_provider.clone().filter(|i| i.key == ObjectKey::new(namespace, name)) else {
        return expired();
    };
    if a.error.is_some() {
        // The upstream refused (the user cancelled, or it denied): the
        // client hears access_denied; the upstream's words stay here.
        let e = OAuthError::new(ErrorCode::AccessDenied, "the identity provider did not sign the user in");
        return flow::error_to_client(&p, &e, &st.issuer());
    }
    let Some(code) = a.code else { return expired() };
    let Some(fetcher) = &st.outbound.fetcher else { return failed(&st, "This hub cannot reach an upstream provider.") };
    let redirect = hub.settings.endpoint(&callback_path(&provider.key));
    let user = match upstream::finish(fetcher, &provider, &code, &redirect, &leg.verifier, &leg.nonce, now).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(provider = %provider.key, error = %e, "a sign-in at the upstream provider failed");
            return failed(&st, "The identity provider's answer could not be verified.");
        }
    };
    // A new hub session, as after a password sign-in.
    let Ok(records) = flow::records(&st) else { return flow::no_records(&st) };
    let Some(cookie) = browser::random(&st) else { return expired() };
    let session_until = now.plus(hub.settings.defaults.session_token);
    let session = LoginSession { user: user.clone(), auth_time: now.0 };
    match sessions::create(&**records, RecordKind::Login, &browser::digest(&cookie), &session, session_until, None, now)
        .await
    {
        Ok(true) => {}
        Ok(false) => return expired(),
        Err(e) => return store_page(&st, &e),
    }
    p.user = Some(user);
    p.auth_time = Some(now.0);
    // The consent page's form needs a CSRF token this request can show.
    let Some(csrf) = browser::random(&st) else { return expired() };
    p.csrf = browser::digest(&csrf);
    let flow = flow::Flow { id: flow_id.to_owned(), version, until };
    let mut r = flow::proceed(&st, &hub, Some(flow), p, None, &csrf, false, now).await;
    if let Some(v) =
        browser::set_cookie(&st.issuer(), SESSION, &cookie, Some(hub.settings.defaults.session_token.as_secs()))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
