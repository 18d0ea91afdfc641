//! What marks the objects the hub writes in a cluster (the signing keys, the
//! JWKS ConfigMap, client Secrets, the store's records): shared by the
//! controller and the cluster store, which must not depend on each other.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const MANAGER: &str = "keyward";

/// Metadata of an object the hub owns in its own namespace.
pub fn own_meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(BTreeMap::from([(LABEL_MANAGED_BY.to_owned(), MANAGER.to_owned())])),
        ..ObjectMeta::default()
    }
}
