//! The one place errors become HTTP responses.
//!
//! RFC 6749 §5.2: JSON body with `error` and `error_description`, status 400,
//! except `invalid_client`, which is 401 with a `WWW-Authenticate` challenge
//! (Basic is always a scheme the client could use). Every response carries
//! `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use keyward_core::{ErrorCode, OAuthError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// The body is over the endpoint's limit.
    #[error("request body exceeds {0} bytes")]
    TooLarge(usize),
    /// The store failed: the request may succeed later.
    #[error("store unavailable: {0}")]
    Store(#[from] keyward_core::store::StoreError),
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ApiError::OAuth(e) => e.code,
            ApiError::TooLarge(_) => ErrorCode::InvalidRequest,
            ApiError::Store(_) => ErrorCode::TemporarilyUnavailable,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

pub(crate) fn no_store(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    no_store(resp)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, description) = match &self {
            ApiError::OAuth(e) => (status_of(e.code), e.code, e.description.to_string()),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::InvalidRequest, self.to_string()),
            ApiError::Store(e) => {
                let e = store_unavailable(e, "try again later");
                (status_of(e.code), e.code, e.description.to_string())
            }
        };
        let body =
            serde_json::to_vec(&Body { error: code.as_str(), error_description: &description }).unwrap_or_default();
        let mut resp = json_response(status, body);
        if code == ErrorCode::InvalidClient {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(r#"Basic realm="keyward""#));
        }
        resp
    }
}

/// The one conversion of a store failure: the client learns only that it may
/// retry (in the words of `what`), the cause goes to the log, and never a
/// token, `jti` or secret (store errors name only hashes).
pub(crate) fn store_unavailable(e: &keyward_core::store::StoreError, what: &'static str) -> OAuthError {
    tracing::warn!(error = %e, "store failure");
    OAuthError::new(ErrorCode::TemporarilyUnavailable, what)
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}
