//! Grant rules: what each grant checks and what it yields, before any signing.
//!
//! One file per grant. Each has a typed request (read once from the body by
//! [`request::TokenRequest::parse`]) and one function: request and verified
//! facts in, a [`common::Grant`] (or the OAuth error) out. The edge extracts,
//! verifies signatures, calls that function and signs; `keyward explain`
//! calls the same functions, so an explanation cannot disagree with a token.

pub mod authenticate;
pub mod authorization_code;
pub mod authorize;
pub mod client_assertion;
pub mod client_credentials;
pub mod common;
pub mod jwt_bearer;
pub mod own_token;
pub mod redirect;
pub mod refresh;
pub mod request;
pub mod token_exchange;

pub use common::Grant;
pub use request::{Params, TokenRequest};
