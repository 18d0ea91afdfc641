//! Clients that come by themselves, at the edge: Dynamic Client
//! Registration and Client ID Metadata Documents. Where such a client is
//! kept (a [`Registry`]: files in `keyward serve`, OAuthClient objects in a
//! cluster), the abuse limits, and the manifest each becomes. The rules of a
//! registration and of a document are core's (`keyward_core::registration`);
//! the HTTP side is `server/register.rs` and `server/metadata_document.rs`.
//!
//! Either is an OAuthClient like any other, labelled `keyward.dev/origin:
//! dcr` or `cimd`: the same compile makes it ready, the same listing shows
//! it, deleting it works the same way.

pub mod folder;
pub mod kube;
mod manifest;
mod rate;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use keyward_api::v1alpha1::OAuthClient;

pub use manifest::{ANNOTATION_INFORMATION, ANNOTATION_TOKEN, dynamic_client, metadata_client};
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
    /// Creates the client, or replaces it when one of that name exists.
    fn put<'a>(&'a self, client: &'a OAuthClient) -> RegistryFuture<'a, ()>;
    fn get<'a>(&'a self, name: &'a str) -> RegistryFuture<'a, Option<OAuthClient>>;
    /// `false` if it was not there.
    fn delete<'a>(&'a self, name: &'a str) -> RegistryFuture<'a, bool>;
}

/// The hub-wide switches and limits.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Dynamic Client Registration at `/register`.
    pub dynamic: bool,
    /// Client ID Metadata Documents: how they are fetched; `None`: off.
    pub documents: Option<DocumentPolicy>,
    /// The most clients of both kinds the hub keeps; beyond it, new ones are
    /// refused.
    pub max_clients: usize,
    /// Registrations per client address (IPv6: per /64) per `window`.
    pub per_address: u32,
    pub window: Duration,
    /// How long a registration waits for its client to be served.
    pub settle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            dynamic: true,
            documents: Some(DocumentPolicy::default()),
            max_clients: 1000,
            per_address: 10,
            window: Duration::from_secs(600),
            settle: Duration::from_secs(10),
        }
    }
}

/// How metadata documents are fetched: through the guarded fetcher, https
/// only, at most 5 KiB in 5 s, redirects only within the document's origin,
/// cached by their caching headers between a minute and a day.
#[derive(Clone, Debug)]
pub struct DocumentPolicy {
    pub fetch: crate::fetch::FetchPolicy,
    /// Extra trusted CA certificates (PEM), for a test's own CA. None by default.
    pub ca_pem: Option<String>,
}

impl Default for DocumentPolicy {
    fn default() -> Self {
        DocumentPolicy {
            fetch: crate::fetch::FetchPolicy {
                allow_http: false,
                allow: Vec::new(),
                timeout: Duration::from_secs(5),
                max_bytes: 5 * 1024,
                min_refresh_interval: Duration::from_secs(10),
                min_ttl: Duration::from_secs(60),
                max_ttl: Duration::from_secs(24 * 3600),
                default_ttl: Duration::from_secs(5 * 60),
                max_stale: Duration::from_secs(3600),
                same_origin_redirects: true,
            },
            ca_pem: None,
        }
    }
}

/// The state of both ways in: present when either is on.
pub struct Registrar {
    pub registry: Box<dyn Registry>,
    pub limits: Limits,
    pub rate: AddressRate,
    /// The metadata documents' fetcher, when they are on.
    pub documents: Option<crate::fetch::Fetcher>,
    /// Writes one at a time: the cap is counted against a snapshot that has
    /// every earlier client in it.
    pub serial: tokio::sync::Mutex<()>,
}

impl Registrar {
    /// `None` when both ways in are off.
    pub fn new(registry: Box<dyn Registry>, limits: Limits) -> Result<Option<Registrar>, crate::fetch::FetchError> {
        if !limits.dynamic && limits.documents.is_none() {
            return Ok(None);
        }
        let documents = match &limits.documents {
            None => None,
            Some(p) => {
                let f = crate::fetch::Fetcher::new(p.fetch.clone())?;
                Some(match &p.ca_pem {
                    Some(pem) => f.with_ca(pem)?,
                    None => f,
                })
            }
        };
        let rate = AddressRate::new(limits.per_address, limits.window);
        Ok(Some(Registrar { registry, limits, rate, documents, serial: tokio::sync::Mutex::new(()) }))
    }

    /// How many clients of both kinds the snapshot holds.
    pub fn count(hub: &keyward_core::HubSnapshot) -> usize {
        hub.clients().filter(|c| c.origin().is_self_made()).count()
    }

    /// At the cap, the oldest client of this registry that nobody has ever
    /// consented to, and that is older than [`EVICTION_GRACE`], goes to make
    /// room: without this, whoever registers the cap's worth of clients
    /// keeps registration closed for good. A client someone consented to is
    /// never taken, nor one still within its first sign-in. Returns the
    /// client id taken, if any.
    pub async fn make_room(
        &self,
        hub: &keyward_core::HubSnapshot,
        records: Option<&dyn keyward_core::store::Records>,
        now: keyward_core::UnixTime,
    ) -> Result<Option<String>, RegistryError> {
        let Some(records) = records else { return Ok(None) };
        let consents = records
            .list(keyward_core::store::RecordKind::Consent, None, now, usize::MAX)
            .await
            .map_err(|e| RegistryError::Backend(e.to_string()))?;
        let consented: std::collections::HashSet<String> = consents
            .into_iter()
            .filter_map(|(_, s)| serde_json::from_slice::<keyward_core::sessions::Consent>(&s.record.value).ok())
            .map(|c| c.client_id)
            .collect();
        let victim = hub
            .clients()
            .filter(|c| c.origin().is_self_made() && c.key.namespace == self.registry.namespace())
            .filter(|c| c.created.is_some_and(|t| now.0.saturating_sub(t.0) >= EVICTION_GRACE.as_secs()))
            .filter(|c| !consented.contains(c.client_id.as_ref()))
            .min_by_key(|c| (c.created, c.key.name.clone()));
        let Some(victim) = victim else { return Ok(None) };
        if !self.registry.delete(&victim.key.name).await? {
            return Ok(None);
        }
        tracing::info!(client = %victim.client_id, "an unused self-registered client was removed to make room");
        Ok(Some(victim.client_id.to_string()))
    }
}

/// How long a new self-registered client is safe from eviction: time for
/// its first sign-in and consent.
pub const EVICTION_GRACE: Duration = Duration::from_secs(3600);

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
