//! Store backends for what the server writes at runtime (see
//! `keyward_core::store`): `embedded`, the one-file database behind
//! `keyward serve` and a single replica, with `journal` for its user
//! records; `kube`, records as Kubernetes objects
//! for several replicas of `keyward run`; `memory`, the in-memory ledger both
//! keep in front of their storage (and a whole store for tests).

pub mod embedded;
pub mod journal;
pub mod kube;
pub mod memory;
pub mod records;

pub use embedded::EmbeddedStore;
pub use journal::JournalRecords;
pub use kube::KubeStore;
pub use memory::MemoryStore;
pub use records::MemoryRecords;
