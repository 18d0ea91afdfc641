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

/// Every key of a Secret whose value is UTF-8, as both sources read a static
/// IdentityProvider's password hashes or an upstream's client secret
/// (`stringData` wins, as the API server merges it; a cluster's Secrets
/// carry only `data`).
pub fn secret_strings(s: &k8s_openapi::api::core::v1::Secret) -> std::collections::BTreeMap<String, String> {
    let mut out: std::collections::BTreeMap<String, String> =
        s.data.iter().flatten().filter_map(|(k, v)| Some((k.clone(), String::from_utf8(v.0.clone()).ok()?))).collect();
    out.extend(s.string_data.iter().flatten().map(|(k, v)| (k.clone(), v.clone())));
    out
}
