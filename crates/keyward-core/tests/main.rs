//! The pure core on compiled worlds: one test binary (one link) for compile,
//! the policy decision, the grants and the key ring.
#![allow(clippy::unwrap_used)]

mod client_credentials;
mod common;
mod compile;
mod keys;
mod policy;
mod token_exchange;
