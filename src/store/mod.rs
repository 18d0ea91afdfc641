//! Store backends for what the server writes at runtime (see
//! `keyward_core::store`). `embedded` is the one-file database behind
//! `keyward serve` and single-replica deployments.

pub mod embedded;
pub mod memory;

pub use embedded::EmbeddedStore;
pub use memory::MemoryStore;
