//! Signing keys in a cluster: a Secret `<name>-signing-keys` in the hub's
//! namespace holds the ring (`keys.json`, the same format as `keyward serve`'s
//! file). The leader creates and rotates it (`reconcile`); every replica loads
//! it from its watch (`load_loop`). The leader also publishes the JWKS in a
//! ConfigMap for resource servers that prefer to mount it.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use keyward_core::UnixTime;
use keyward_core::keys::{KeyState, RotationPolicy};
use kube::api::PostParams;
use kube::{Api, Client};

use super::watch::Watches;
use crate::hub_objects::own_meta;
use crate::keys::file::reconcile_ring;
use crate::keys::{KeyFile, KeySet};
use crate::server::AppState;

pub const KEY_FILE: &str = "keys.json";
pub const JWKS_KEY: &str = "jwks.json";

#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    #[error("the signing-keys Secret holds no valid {KEY_FILE}: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    Keys(#[from] crate::keys::file::KeyFileError),
    #[error(transparent)]
    KeySet(#[from] crate::keys::KeySetError),
}

pub fn parse(secret: &Secret) -> Result<KeyFile, KeysError> {
    let raw = secret
        .data
        .as_ref()
        .and_then(|d| d.get(KEY_FILE))
        .ok_or_else(|| KeysError::Unreadable(format!("no {KEY_FILE} key")))?;
    serde_json::from_slice(&raw.0).map_err(|e| KeysError::Unreadable(e.to_string()))
}

/// Every replica: load the key set whenever the Secret changes.
pub async fn load_loop(watches: Watches, state: Arc<AppState>) {
    let mut version = watches.keys_version();
    loop {
        version.borrow_and_update();
        if let Some(secret) = watches.keys_secret() {
            match parse(&secret).and_then(|f| KeySet::build(&f.keys).map_err(KeysError::from)) {
                Ok(keys) => {
                    let changed = state.keys.load().as_ref().is_none_or(|k| k.ring != keys.ring);
                    if changed {
                        tracing::info!(kid = %keys.active.kid, "signing keys loaded");
                        if let Some(a) = keys.ring.iter().find(|k| k.state == KeyState::Active) {
                            let since = a.activated_at.unwrap_or(a.created_at);
                            state.metrics.signing_key_age_seconds.set(state.now().0.saturating_sub(since.0) as i64);
                        }
                        state.keys.store(Some(Arc::new(keys)));
                    }
                }
                // Keep the last good keys: tokens keep verifying.
                Err(e) => tracing::error!(error = %e, "cannot load signing keys; keeping the current ones"),
            }
        }
        if version.changed().await.is_err() {
            return;
        }
    }
}

/// Leader: create the ring if absent, rotate it when due. Optimistic
/// concurrency (resourceVersion) guards against a former leader still writing.
pub async fn reconcile(
    client: &Client,
    namespace: &str,
    name: &str,
    current: Option<&Secret>,
    policy: &RotationPolicy,
    now: UnixTime,
) -> Result<Option<KeySet>, KeysError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut stored = match current {
        Some(s) => parse(s)?.keys,
        None => Vec::new(),
    };
    let rng = SystemRandom::new();
    if !reconcile_ring(&mut stored, policy, now, &rng)? {
        return Ok(None);
    }
    let json = serde_json::to_vec_pretty(&KeyFile { keys: stored.clone() })
        .map_err(|e| KeysError::Unreadable(e.to_string()))?;
    let mut secret = Secret {
        metadata: own_meta(namespace, name),
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(KEY_FILE.to_owned(), ByteString(json))])),
        ..Secret::default()
    };
    match current {
        None => {
            api.create(&PostParams::default(), &secret).await?;
        }
        Some(s) => {
            secret.metadata.resource_version = s.metadata.resource_version.clone();
            api.replace(name, &PostParams::default(), &secret).await?;
        }
    }
    Ok(Some(KeySet::build(&stored)?))
}

/// Leader: the JWKS as a ConfigMap, written only when it differs (create or
/// update: the chart grants nothing more on it).
pub async fn publish_jwks(client: &Client, namespace: &str, name: &str, jwks: &str) -> Result<bool, KeysError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let current = api.get_opt(name).await?;
    if current.as_ref().and_then(|c| c.data.as_ref()).and_then(|d| d.get(JWKS_KEY)).map(String::as_str) == Some(jwks) {
        return Ok(false);
    }
    let mut cm = ConfigMap {
        metadata: own_meta(namespace, name),
        data: Some(BTreeMap::from([(JWKS_KEY.to_owned(), jwks.to_owned())])),
        ..ConfigMap::default()
    };
    match current {
        None => {
            api.create(&PostParams::default(), &cm).await?;
        }
        Some(c) => {
            cm.metadata.resource_version = c.metadata.resource_version;
            api.replace(name, &PostParams::default(), &cm).await?;
        }
    }
    Ok(true)
}
