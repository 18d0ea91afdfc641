//! The `keyward` binary's library: everything at the edge of the pure core.
//!
//! `server/` serves HTTP, `sources/` reads a folder of manifests, `keys/` keeps
//! and rotates signing keys, `store/` persists runtime state; `serve` and
//! `check` are the commands that wire them. `main.rs` only parses arguments.

pub mod assembly;
pub mod audit;
pub mod check;
pub mod clients_cli;
pub mod consents;
pub mod consents_cli;
pub mod controller;
pub mod explain;
pub mod explanation;
pub mod fetch;
mod fsutil;
pub mod gateway;
mod hub_objects;
pub mod issuer;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod registration;
pub mod report;
mod secret_digest;
pub mod serve;
pub mod server;
pub mod sources;
pub mod store;
mod watch_retry;
