//! Dynamic Client Registration at the edge: where a registered client is
//! kept (a [`Registry`]: files in `keyward serve`, OAuthClient objects in a
//! cluster), the abuse limits, and the manifest a registration becomes. The
//! rules of a registration itself are core's (`keyward_core::registration`);
//! the HTTP endpoint is `server/register.rs`.
//!
//! A registered client is an OAuthClient like any other, labelled
//! `keyward.dev/origin: dcr`: the same compile makes it ready, the same
//! listing shows it, deleting it works the same way.

pub mod folder;
pub mod kube;
mod manifest;
mod rate;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use keyward_api::v1alpha1::OAuthClient;

pub use manifest::{ANNOTATION_INFORMATION, ANNOTATION_TOKEN, dynamic_client};
pub use rate::AddressRate;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("the client registry failed: {0}")]
    Backend(String),
}

pub type RegistryFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, RegistryError>> + Send + 'a>>;

/// Where registered clients live. Names are the hub's own (`dcr-<random>`).
pub trait Registry: Send + Sync + 'static {
    /// The namespace registered clients are created in.
    fn namespace(&self) -> &str;
    fn create<'a>(&'a self, client: &'a OAuthClient) -> RegistryFuture<'a, ()>;
    fn get<'a>(&'a self, name: &'a str) -> RegistryFuture<'a, Option<OAuthClient>>;
    /// `false` if it was not there.
    fn delete<'a>(&'a self, name: &'a str) -> RegistryFuture<'a, bool>;
}

/// The hub-wide switch and limits of the registration endpoint.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The most registered clients the hub keeps; registration is refused
    /// beyond it.
    pub max_clients: usize,
    /// Registrations per client address (IPv6: per /64) per `window`.
    pub per_address: u32,
    pub window: Duration,
    /// How long a registration waits for its client to be served.
    pub settle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_clients: 1000, per_address: 10, window: Duration::from_secs(600), settle: Duration::from_secs(10) }
    }
}

/// The registration endpoint's state: present when registration is on.
pub struct Registrar {
    pub registry: Box<dyn Registry>,
    pub limits: Limits,
    pub rate: AddressRate,
    /// Registrations and deletions one at a time: the cap is counted against
    /// a snapshot that has every earlier registration in it.
    pub serial: tokio::sync::Mutex<()>,
}

impl Registrar {
    pub fn new(registry: Box<dyn Registry>, limits: Limits) -> Registrar {
        let rate = AddressRate::new(limits.per_address, limits.window);
        Registrar { registry, limits, rate, serial: tokio::sync::Mutex::new(()) }
    }
}

/// The object name of a registered client from its `client_id`
/// (`<name>.<namespace>`), if it is one of this registry's.
pub fn name_of<'a>(client_id: &'a str, namespace: &str) -> Option<&'a str> {
    let name = client_id.strip_suffix(namespace)?.strip_suffix('.')?;
    (name.starts_with(manifest::NAME_PREFIX)
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
    .then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_registered_client_ids_name_a_registry_object() {
        assert_eq!(name_of("dcr-0a1b.default", "default"), Some("dcr-0a1b"));
        assert_eq!(name_of("dcr-0a1b.other", "default"), None);
        assert_eq!(name_of("billing-agent.default", "default"), None);
        assert_eq!(name_of("dcr-../x.default", "default"), None);
        assert_eq!(name_of("dcr-A.default", "default"), None);
        assert_eq!(name_of("default", "default"), None);
    }
}
