//! Registered clients in a cluster: OAuthClient objects in the hub's
//! namespace, labelled `keyward.dev/origin: dcr`. The watch brings them into
//! the snapshot like any other client; `kubectl get oauthclients -l
//! keyward.dev/origin=dcr` lists them, and GitOps tools leave them alone
//! (they are in no repository's inventory). Any replica may register: the
//! API server makes the name unique.

use keyward_api::v1alpha1::OAuthClient;
use kube::api::{Api, DeleteParams, PostParams};

use super::{Registry, RegistryError, RegistryFuture};

pub struct KubeRegistry {
    api: Api<OAuthClient>,
    namespace: String,
}

impl KubeRegistry {
    pub fn new(client: kube::Client, namespace: &str) -> KubeRegistry {
        KubeRegistry { api: Api::namespaced(client, namespace), namespace: namespace.to_owned() }
    }
}

/// The API server's refusal by code and reason only: its message may quote
/// a field of the object, which holds what a registrant wrote.
fn backend(e: kube::Error) -> RegistryError {
    match e {
        kube::Error::Api(s) => RegistryError::Backend(format!("API server answered {} {}", s.code, s.reason)),
        e => RegistryError::Backend(e.to_string()),
    }
}

impl Registry for KubeRegistry {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn put<'a>(&'a self, client: &'a OAuthClient) -> RegistryFuture<'a, ()> {
        Box::pin(async move {
            let pp = PostParams { field_manager: Some("keyward".into()), ..PostParams::default() };
            match self.api.create(&pp, client).await {
                Ok(_) => Ok(()),
                // A metadata document's client is named after its URL: it
                // exists (another replica, an earlier version of the
                // document). Replace it on its current resourceVersion.
                Err(kube::Error::Api(e)) if e.code == 409 => {
                    let name = client.metadata.name.clone().unwrap_or_default();
                    let current = self.api.get(&name).await.map_err(backend)?;
                    let mut next = client.clone();
                    next.metadata.resource_version = current.metadata.resource_version;
                    next.status = current.status;
                    self.api.replace(&name, &pp, &next).await.map(|_| ()).map_err(backend)
                }
                Err(e) => Err(backend(e)),
            }
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> RegistryFuture<'a, Option<OAuthClient>> {
        Box::pin(async move { self.api.get_opt(name).await.map_err(backend) })
    }

    fn delete<'a>(&'a self, name: &'a str) -> RegistryFuture<'a, bool> {
        Box::pin(async move {
            match self.api.delete(name, &DeleteParams::default()).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
                Err(e) => Err(backend(e)),
            }
        })
    }
}
