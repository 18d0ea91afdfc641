//! Grant rules: what each grant checks and what it yields, before any signing.
//! One file per grant; client authentication is shared.

pub mod authenticate;
pub mod client_assertion;
pub mod client_credentials;
pub mod common;
pub mod jwt_bearer;
pub mod token_exchange;
