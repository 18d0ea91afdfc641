//! `POST /consent`: the user's answer on the consent page. "Allow" records
//! the consent and ends at the client with a code; "Deny" ends there with
//! `access_denied`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyward_core::{ErrorCode, OAuthError};

use super::browser;
use super::flow::{self, error_page, store_page};
use super::{AppState, form};

pub async fn submit(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let now = st.now();
    let issuer = st.issuer();
    if !browser::same_origin(&headers, &issuer) {
        return error_page(
            &st,
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form was posted from another site.",
            Some(ErrorCode::InvalidRequest),
        );
    }
    if form::require_form_content_type(&headers).is_err() {
        return error_page(&st, StatusCode::BAD_REQUEST, "Invalid request", "The request must be a form post.", None);
    }
    let params = match form::parse(&body) {
        Ok(p) => p,
        Err(e) => return error_page(&st, StatusCode::BAD_REQUEST, "Invalid request", &e.description, Some(e.code)),
    };
    let field = |n: &str| params.one(n).ok().flatten().unwrap_or_default().to_owned();
    let (flow_id, csrf, decision) = (field("flow"), field("csrf"), field("decision"));
    let (_version, p, _until) = match flow::pending(&st, &headers, &flow_id, now).await {
        Ok(Some(x)) => x,
        Ok(None) => {
            return error_page(
                &st,
                StatusCode::BAD_REQUEST,
                "This sign-in has expired",
                "Go back to the application and start again.",
                Some(ErrorCode::InvalidRequest),
            );
        }
        Err(e) => return store_page(&st, &e),
    };
    if csrf.is_empty() || browser::digest(&csrf) != p.csrf {
        return error_page(
            &st,
            StatusCode::FORBIDDEN,
            "Request refused",
            "The form is stale or was not issued by this hub: reload the page.",
            Some(ErrorCode::InvalidRequest),
        );
    }
    let (Some(user), Some(auth_time)) = (p.user.clone(), p.auth_time) else {
        return error_page(
            &st,
            StatusCode::BAD_REQUEST,
            "Not signed in",
            "Sign in first.",
            Some(ErrorCode::InvalidRequest),
        );
    };
    let Ok(records) = flow::records(&st) else { return flow::no_records(&st) };
    match decision.as_str() {
        "deny" => {
            let _ = records.delete(keyward_core::store::RecordKind::Pending, &flow_id).await;
            flow::error_to_client(&p, &OAuthError::new(ErrorCode::AccessDenied, "the user denied access"), &issuer)
        }
        "allow" => {
            let hub = st.hub.load_full();
            let Some(client) = flow::client_of(&hub, &p) else {
                return error_page(
                    &st,
                    StatusCode::BAD_REQUEST,
                    "Sign-in failed",
                    "The application is no longer registered.",
                    Some(ErrorCode::InvalidClient),
                );
            };
            let decided = match keyward_core::grant::authorize::decide_for_user(
                &hub.userinfo.identifier,
                client,
                &p.resources,
                p.scope.as_deref(),
                &user.sub,
                &user.roles,
                keyward_core::model::GrantType::AuthorizationCode,
                now,
                &mut (),
            ) {
                Ok(d) => d,
                Err(e) => return flow::error_to_client(&p, &e, &issuer),
            };
            let openid = flow::openid_of(p.scope.as_deref());
            let mut consents = Vec::with_capacity(decided.len());
            for (resource, _) in &decided {
                let key = browser::digest(&keyward_core::sessions::consent_key(&user.sub, &client.client_id, resource));
                let found = match keyward_core::sessions::get::<keyward_core::sessions::Consent>(
                    &**records,
                    keyward_core::store::RecordKind::Consent,
                    &key,
                    now,
                )
                .await
                {
                    Ok(c) => c.map(|(_, c, _)| c).filter(|c| c.incarnation == *client.incarnation),
                    Err(e) => return store_page(&st, &e),
                };
                consents.push((key, found));
            }
            flow::finish(&st, client, &p, &user, auth_time, &decided, &openid, consents, false, Some(&flow_id), now)
                .await
        }
        _ => error_page(
            &st,
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "Choose Allow or Deny.",
            Some(ErrorCode::InvalidRequest),
        ),
    }
}
