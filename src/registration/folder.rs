//! Registered clients of `keyward serve`: one OAuthClient manifest per
//! client in `<state-dir>/dynamic-clients/`, which the folder source reads
//! beside the manifests. A file is written whole (temporary file, fsync,
//! rename), so a crash leaves the client registered or not, never half.

use std::path::PathBuf;
use std::sync::Arc;

use keyward_api::v1alpha1::OAuthClient;
use tokio::sync::Notify;

use super::{Registry, RegistryError, RegistryFuture};

/// The folder under the state directory.
pub const DIR: &str = "dynamic-clients";

pub struct FolderRegistry {
    dir: PathBuf,
    namespace: String,
    /// Tells the reload loop to read the folder now rather than at its next
    /// tick.
    changed: Arc<Notify>,
}

impl FolderRegistry {
    pub fn new(state_dir: &std::path::Path, namespace: &str, changed: Arc<Notify>) -> FolderRegistry {
        FolderRegistry { dir: state_dir.join(DIR), namespace: namespace.to_owned(), changed }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.yaml"))
    }
}

fn backend(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Backend(e.to_string())
}

impl Registry for FolderRegistry {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn put<'a>(&'a self, client: &'a OAuthClient) -> RegistryFuture<'a, ()> {
        Box::pin(async move {
            let name = client.metadata.name.clone().unwrap_or_default();
            let path = self.path(&name);
            let text = serde_yaml::to_string(client).map_err(backend)?;
            tokio::task::spawn_blocking(move || crate::fsutil::write_private(&path, text.as_bytes()))
                .await
                .map_err(backend)?
                .map_err(backend)?;
            self.changed.notify_one();
            Ok(())
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> RegistryFuture<'a, Option<OAuthClient>> {
        Box::pin(async move {
            let path = self.path(name);
            let bytes = tokio::task::spawn_blocking(move || crate::fsutil::read_optional(&path))
                .await
                .map_err(backend)?
                .map_err(backend)?;
            match bytes {
                None => Ok(None),
                // serde_yaml's message may quote the file, which holds what a
                // registrant wrote.
                Some(b) => serde_yaml::from_slice(&b)
                    .map(Some)
                    .map_err(|_| RegistryError::Backend(format!("{name}.yaml does not parse as an OAuthClient"))),
            }
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> RegistryFuture<'a, bool> {
        Box::pin(async move {
            let found = match tokio::fs::remove_file(self.path(name)).await {
                Ok(()) => true,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) => return Err(backend(e)),
            };
            self.changed.notify_one();
            Ok(found)
        })
    }
}
