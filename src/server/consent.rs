//! `POST /consent`: the user's answer on the consent page. "Allow" records
//! the consent and ends at the client with a code; "Deny" ends there with
//! `access_denied`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use keyward_core::store::RecordKind;
use keyward_core::{ErrorCode, OAuthError};

use super::AppState;
use super::flow::{self, error_page};

pub async fn submit(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let now = st.now();
    let flow::Posted { values, flow, pending: p, .. } =
        match flow::posted(&st, &headers, &body, &["decision"], now).await {
            Ok(x) => x,
            Err(r) => return r,
        };
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
    match values[0].as_str() {
        "deny" => {
            let _ = records.delete(RecordKind::Pending, &flow.id).await;
            let denied = OAuthError::new(ErrorCode::AccessDenied, "the user denied access");
            flow::error_to_client(&p, &denied, &st.issuer())
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
            // Decided again: the snapshot may have changed since the page.
            let a = match flow::asked(&st, client, &p, &user, now).await {
                Ok(a) => a,
                Err(r) => return r,
            };
            let id = Some(flow.id.as_str());
            flow::finish(&st, client, &p, &user, auth_time, &a.decided, &a.openid, a.consents, false, id, now).await
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
