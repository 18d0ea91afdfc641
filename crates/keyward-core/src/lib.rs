//! Keyward's pure core.
//!
//! Everything here is deterministic: the model of the resources, `compile`
//! into an immutable [`HubSnapshot`], the scope decision with its explanation, the
//! grant rules, access-token claims and the signing-key ring. The clock and
//! randomness are parameters; there is no I/O, no Kubernetes, no HTTP. The crate
//! graph enforces it: see this crate's Cargo.toml.

pub mod claims;
pub mod compile;
pub mod condition;
pub mod error;
pub mod grant;
pub mod identity;
pub mod jwks;
pub mod keys;
pub mod model;
pub mod policy;
pub mod protected_resource;
pub mod registration;
pub mod scope;
pub mod secret;
pub mod sessions;
pub mod snapshot;
pub mod status;
pub mod store;
pub mod syntax;
pub mod time;

pub use compile::{CompileInput, Compiled, compile};
pub use error::{ErrorCode, OAuthError};
pub use snapshot::HubSnapshot;
pub use time::UnixTime;
