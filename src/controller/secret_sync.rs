//! One client's Secret brought in line against the API server: the Secret
//! from the cache (read by name when the cache has none: a Secret to adopt is
//! not labelled yet), the plan (`client_secret::plan`, pure), then — only when
//! the plan writes — a fresh read of the owning OAuthClient, and the write.
//! Events, metrics and status are the caller's (`writer.rs`).
//!
//! Why the fresh read: the OAuthClient watch and the Secret watch resume
//! independently (after an API-server restart one may be seconds behind the
//! other). A client deleted meanwhile is still in a stale OAuthClient cache
//! while its Secret, collected by the garbage collector, is already gone from a
//! current Secret cache: planning from the two creates the Secret again, the
//! collector deletes it again, and so on for as long as the caches disagree
//! (hundreds of writes and `SecretCreated` events, measured). So a write is
//! based on the owner as the API server has it now — it exists, with the uid
//! and generation the plan was made from, and is not being deleted — and
//! never on what two caches say together. Otherwise nothing is written; the
//! watch brings the change and a later pass plans again. The ownerReference
//! written is then the owner's current uid.

use k8s_openapi::api::core::v1::Secret;
use keyward_api::v1alpha1::OAuthClient;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::client_secret::{self, Desired, SecretPlan};

/// What one sync did.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    UpToDate,
    Created,
    /// What the patch changed (for events and logs).
    Patched(Vec<&'static str>),
    /// Not ready yet; the message says what is awaited.
    Pending(String),
    /// A Secret of that name exists and is not this client's to write.
    Conflict(String),
    /// A write was planned from a cached owner the API server no longer has
    /// in that form; nothing was written.
    StaleOwner(Stale),
}

/// How the cached OAuthClient differs from the API server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    Deleted,
    /// Deleted and created again under the same name (another uid).
    Replaced,
    Deleting,
    /// Its spec changed since the cache saw it (another generation).
    Changed,
}

impl std::fmt::Display for Stale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stale::Deleted => "deleted",
            Stale::Replaced => "replaced by an object with another uid",
            Stale::Deleting => "being deleted",
            Stale::Changed => "changed since the cache saw it",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot read the client Secret: {0}")]
    ReadSecret(#[source] kube::Error),
    #[error("cannot read the OAuthClient before writing its Secret: {0}")]
    ReadOwner(#[source] kube::Error),
    #[error("cannot create the client Secret: {0}")]
    Create(#[source] kube::Error),
    #[error("cannot update the client Secret: {0}")]
    Patch(#[source] kube::Error),
}

/// `owner` is the cached OAuthClient `desired` was built from; `cached` its
/// Secret as the Secret watch has it.
pub async fn sync(
    client: &Client,
    owner: &OAuthClient,
    desired: &Desired<'_>,
    cached: Option<&Secret>,
    new_secret: &mut (dyn FnMut() -> String + Send),
) -> Result<Outcome, SyncError> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), desired.owner.namespace);
    let name = &desired.client.secret_name;
    let read;
    let existing = match cached {
        Some(s) => Some(s),
        None => {
            read = secrets.get_opt(name).await.map_err(SyncError::ReadSecret)?;
            read.as_ref()
        }
    };
    let plan = client_secret::plan(desired, existing, new_secret);
    if matches!(plan, SecretPlan::Create(_) | SecretPlan::Patch { .. })
        && let Some(stale) = stale_owner(client, owner).await?
    {
        return Ok(Outcome::StaleOwner(stale));
    }
    Ok(match plan {
        SecretPlan::UpToDate => Outcome::UpToDate,
        SecretPlan::Pending(m) => Outcome::Pending(m),
        SecretPlan::Conflict(m) => Outcome::Conflict(m),
        SecretPlan::Create(secret) => {
            secrets.create(&PostParams::default(), &secret).await.map_err(SyncError::Create)?;
            Outcome::Created
        }
        SecretPlan::Patch { patch, changes } => {
            secrets.patch(name, &PatchParams::default(), &Patch::Merge(&patch)).await.map_err(SyncError::Patch)?;
            Outcome::Patched(changes)
        }
    })
}

/// Reads `cached` fresh; `None` when the API server has it as the cache does.
async fn stale_owner(client: &Client, cached: &OAuthClient) -> Result<Option<Stale>, SyncError> {
    let api: Api<OAuthClient> = Api::namespaced(client.clone(), &cached.namespace().unwrap_or_default());
    let Some(fresh) = api.get_opt(&cached.name_any()).await.map_err(SyncError::ReadOwner)? else {
        return Ok(Some(Stale::Deleted));
    };
    Ok(if fresh.metadata.uid != cached.metadata.uid {
        Some(Stale::Replaced)
    } else if fresh.metadata.deletion_timestamp.is_some() {
        Some(Stale::Deleting)
    } else if fresh.metadata.generation != cached.metadata.generation {
        Some(Stale::Changed)
    } else {
        None
    })
}
