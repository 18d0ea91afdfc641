//! What `keyward serve` (the folder, `sources/`) and `keyward run` (the
//! watches, `controller/`) build the same way from the objects they read: the
//! status of an object that never reached compile, and a client's credentials
//! — the secret, its rotation and the connection fields an agent starts with
//! (`client_secret.rs`, pure). Each source only reads objects and writes the
//! results: a Secret through the API server, or a file in the state
//! directory.

pub mod client_secret;

use keyward_core::model::{Kind, ObjectKey};
use keyward_core::status::{ObjectStatus, Problem};

/// The status of an object that never reached compile: it did not read or
/// convert. `generation` is the object's in a cluster, `None` in a folder.
pub fn rejected(kind: Kind, key: ObjectKey, generation: Option<i64>, problems: Vec<Problem>) -> ObjectStatus {
    ObjectStatus { kind, key, generation, problems, warnings: Vec::new(), client_id: None }
}
