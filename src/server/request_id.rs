//! Every response of the OAuth listener carries `X-Request-Id`, the id its
//! audit event (`crate::audit`) is recorded under, so a client's support
//! ticket and the audit trail meet. The id is always the hub's own: one sent
//! by the client is not trusted into the trail.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;

/// The id of the request being handled (a request extension).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

pub const HEADER: &str = "x-request-id";

pub async fn assign(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    let id = st.request_ids.next();
    let value = HeaderValue::from_str(&id);
    req.extensions_mut().insert(RequestId(id));
    let mut response = next.run(req).await;
    // Hex digits are always a valid header value.
    if let Ok(v) = value {
        response.headers_mut().insert(HEADER, v);
    }
    response
}
