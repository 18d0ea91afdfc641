//! End-to-end tests: a real `keyward serve` on 127.0.0.1, real HTTP requests,
//! tokens verified against the published JWKS by jsonwebtoken (not by our
//! signing code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod audit;
mod bad_input;
mod discovery;
mod examples;
mod explain;
mod explain_cli;
mod federated_jwt;
mod federation;
mod fetch;
mod gateway;
mod introspection;
mod issuer;
mod jwt_bearer;
mod metadata_document;
mod operator_mistakes;
mod people;
mod people_crash;
mod private_key_jwt;
mod records_contract;
mod registration;
mod reload;
mod slow_clients;
mod support;
mod token;
mod token_exchange;
