//! Every response of an audited endpoint carries `X-Request-Id`, the id its
//! audit event (`crate::audit`) is recorded under, so a client's support
//! ticket and the audit trail meet. The id is always the hub's own: one sent
//! by the client is not trusted into the trail. Set by the handler rather than
//! by a middleware layer: measured, the layer cost the token path more than
//! the id itself.

use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::audit::{Event, Kind, Outcome};

pub const HEADER: &str = "x-request-id";

impl AppState {
    /// A new event of `kind` under a new request id.
    pub(super) fn event(&self, kind: Kind) -> Event {
        Event::new(kind, self.request_ids.next())
    }

    /// Records `ev` with the outcome of the handler and answers with the
    /// request id.
    pub(super) fn answer(&self, ev: &Event, result: Result<(Response, Outcome), ApiError>) -> Response {
        let mut response = match result {
            Ok((response, outcome)) => {
                self.audit.record(ev, outcome);
                response
            }
            Err(e) => {
                self.audit.record(ev, Outcome::Refused(e.code()));
                e.into_response()
            }
        };
        // Hex digits are always a valid header value.
        if let Ok(v) = HeaderValue::from_str(&ev.request_id) {
            response.headers_mut().insert(HEADER, v);
        }
        response
    }
}
