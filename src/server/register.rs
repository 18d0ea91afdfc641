//! The registration endpoint: Dynamic Client Registration (RFC 7591) and its
//! read and delete (RFC 7592). Open, as MCP clients expect, within the
//! limits of `crate::registration::Limits`. A registration is answered once
//! the client is in the snapshot, so the client's very next request (its
//! `/authorize`) finds it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_core::registration::{self, RegistrationError};
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::AppState;
use super::browser::{digest, random};
use super::error::json_response;
use super::metadata_document::settle;
use crate::registration::{ANNOTATION_INFORMATION, ANNOTATION_TOKEN, Registrar, dynamic_client, name_of};

fn error(status: StatusCode, code: &str, description: &str) -> Response {
    let body = json!({"error": code, "error_description": description}).to_string();
    json_response(status, body.into_bytes())
}

fn unavailable(why: &str) -> Response {
    error(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", why)
}

fn registrar(st: &AppState) -> Option<&Registrar> {
    st.registration.as_deref()
}

pub async fn register(
    State(st): State<Arc<AppState>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(reg) = registrar(&st).filter(|r| r.limits.dynamic) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        return error(StatusCode::BAD_REQUEST, "invalid_client_metadata", "body: must be application/json");
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return error(StatusCode::BAD_REQUEST, "invalid_client_metadata", "body: is not valid JSON");
    };
    let registration = match registration::check(&value) {
        Ok(r) => r,
        Err(e) => return refused(&e),
    };
    // Only a registration that would keep a client counts: a refused one
    // costs the hub nothing, and its caller learns its exact error.
    let now = st.now();
    if let Some(Extension(ConnectInfo(addr))) = peer
        && let Err(wait) = reg.rate.attempt(addr.ip(), now)
    {
        tracing::info!(peer = %addr.ip(), "registration refused: too many from this address");
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too many registrations from this address; wait and retry",
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }

    let _one_at_a_time = reg.serial.lock().await;
    if Registrar::count(&st.hub.load()) >= reg.limits.max_clients
        && let Ok(Some(gone)) = reg.make_room(&st.hub.load(), st.records.as_deref(), now).await
    {
        settle(&st, &gone, reg.limits.settle, |c| c.is_none()).await;
    }
    let registered = Registrar::count(&st.hub.load());
    if registered >= reg.limits.max_clients {
        tracing::warn!(registered, "registration refused: the hub holds its maximum of registered clients");
        return error(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the hub holds the most registered clients it accepts; ask its operator",
        );
    }
    let (Some(suffix), Some(token)) = (random_suffix(&st), random(&st)) else {
        return unavailable("no randomness; try again later");
    };
    let namespace = reg.registry.namespace().to_owned();
    let name = format!("dcr-{suffix}");
    let client_id = keyward_core::model::default_client_id(&keyward_core::model::ObjectKey::new(&namespace, &name));
    let mut information = registration.client_information(&client_id, now.0);
    let object = dynamic_client(&suffix, &namespace, &registration, &information, &digest(&token), now);
    if let Err(e) = reg.registry.put(&object).await {
        tracing::error!(error = %e, "registration failed");
        return unavailable("the client could not be stored; try again later");
    }
    if !settle(&st, &client_id, reg.limits.settle, |c| c.is_some()).await {
        // Not served: its status says why (a missing IdentityProvider, say).
        // Undo, so a half-made client does not count or linger.
        tracing::error!(client = %client_id, "a registered client did not become ready; removed again");
        let _ = reg.registry.delete(&name).await;
        return unavailable("the hub could not make the client ready; its log says why");
    }
    // The name is the registrant's words: the log names the client by id.
    tracing::info!(client = %client_id, "client registered (dynamic client registration)");
    information.insert("registration_access_token".into(), token.into());
    information.insert("registration_client_uri".into(), management_uri(&st, &client_id).into());
    json_response(StatusCode::CREATED, Value::Object(information).to_string().into_bytes())
}

/// RFC 7592 §2.1: the client as registered.
pub async fn read(State(st): State<Arc<AppState>>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    let Some(reg) = registrar(&st) else { return StatusCode::NOT_FOUND.into_response() };
    let (object, _) = match authorized(reg, &client_id, &headers).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let info = object
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_INFORMATION))
        .and_then(|s| serde_json::from_str::<serde_json::Map<String, Value>>(s).ok());
    let Some(mut info) = info else { return unavailable("the registration could not be read") };
    info.insert("registration_client_uri".into(), management_uri(&st, &client_id).into());
    json_response(StatusCode::OK, Value::Object(info).to_string().into_bytes())
}

/// RFC 7592 §2.3: the client is gone, with its tokens and consents.
pub async fn delete(State(st): State<Arc<AppState>>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    let Some(reg) = registrar(&st) else { return StatusCode::NOT_FOUND.into_response() };
    let (_, name) = match authorized(reg, &client_id, &headers).await {
        Ok(found) => found,
        Err(r) => return r,
    };
    let _one_at_a_time = reg.serial.lock().await;
    if let Err(e) = reg.registry.delete(&name).await {
        tracing::error!(error = %e, "deleting a registered client failed");
        return unavailable("the client could not be deleted; try again later");
    }
    settle(&st, &client_id, reg.limits.settle, |c| c.is_none()).await;
    tracing::info!(client = %client_id, "registered client deleted by its registrant");
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The registered client named by the path, if the bearer token is its
/// registration access token. RFC 7592 §2: an unknown client and a wrong
/// token get the same 401.
async fn authorized(
    reg: &Registrar,
    client_id: &str,
    headers: &HeaderMap,
) -> Result<(keyward_api::v1alpha1::OAuthClient, String), Response> {
    let denied = || {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the registration access token is missing, wrong, or for no registered client",
        );
        r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Bearer error="invalid_token""#));
        r
    };
    let token = super::bearer_token(headers);
    let (Some(token), Some(name)) = (token, name_of(client_id, reg.registry.namespace())) else {
        return Err(denied());
    };
    let object = match reg.registry.get(name).await {
        Ok(Some(o)) => o,
        Ok(None) => return Err(denied()),
        Err(e) => {
            tracing::error!(error = %e, "reading a registered client failed");
            return Err(unavailable("the registration could not be read; try again later"));
        }
    };
    let kept = object.metadata.annotations.as_ref().and_then(|a| a.get(ANNOTATION_TOKEN)).cloned().unwrap_or_default();
    let presented = digest(token);
    if kept.is_empty() || !bool::from(kept.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(denied());
    }
    Ok((object, name.to_owned()))
}

fn refused(e: &RegistrationError) -> Response {
    error(StatusCode::BAD_REQUEST, e.code(), &e.to_string())
}

fn management_uri(st: &AppState, client_id: &str) -> String {
    st.hub.load().settings.endpoint(&format!("/register/{client_id}"))
}

/// 80 random bits, lower-case hex: the object name after `dcr-`.
fn random_suffix(st: &AppState) -> Option<String> {
    use aws_lc_rs::rand::SecureRandom;
    let mut raw = [0u8; 10];
    st.rng.fill(&mut raw).ok()?;
    Some(raw.iter().map(|b| format!("{b:02x}")).collect())
}
