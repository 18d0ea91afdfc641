//! The published JWK Set (RFC 7517 §5): every key that is Next, Active or still
//! Retired, pre-serialized by the key set.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use keyward_core::{ErrorCode, OAuthError};

use super::AppState;
use super::error::ApiError;

pub async fn jwks(State(st): State<Arc<AppState>>) -> Response {
    let keys = st.keys.load();
    let Some(keys) = keys.as_ref() else {
        let e = OAuthError::new(ErrorCode::TemporarilyUnavailable, "signing keys are not loaded yet");
        return ApiError::from(e).into_response();
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json")),
            // Short enough that a Next key published a day ahead reaches every cache.
            (header::CACHE_CONTROL, HeaderValue::from_static("max-age=300")),
        ],
        keys.jwks_json.clone(),
    )
        .into_response()
}
