//! Client credentials `keyward serve` keeps: one Secret manifest per client in
//! `<state-dir>/credentials/<namespace>/<secret-name>.yaml`, mode 0600. What it
//! holds, and when its secret is generated, rotated or forgotten, is decided
//! by the same pure plan a cluster's Secrets follow
//! (`assembly::client_secret::plan`): the same keys (`client_id`,
//! `client_secret`, `issuer`, `token_endpoint`, `discovery_url`, `audiences`,
//! and `previous_client_secret` during a rotation's grace), the same
//! annotations. This file only reads the manifest and writes the result.
//!
//! The file is written with `stringData` (readable) and without an
//! ownerReference: it is this hub's by construction, and a manifest applied
//! to a cluster by mistake must not carry an owner uid that does not exist
//! there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use keyward_core::model::ObjectKey;
use keyward_core::secret::ClientSecrets;
use serde_json::Value;

use crate::assembly::client_secret::{Desired, SecretPlan, plan, secrets_of};
use crate::fsutil::{self, FsError};

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    Fs(#[from] FsError),
    #[error("{0}: not a Secret manifest with stringData.client_secret; remove it to have a new one generated")]
    Unreadable(PathBuf),
    #[error("no randomness available")]
    Rng,
    /// The plan waits (a client whose `spec.secret.provided` Secret is not in
    /// the folder); compile reports it.
    #[error("{0}")]
    Pending(String),
}

pub struct GeneratedCredentials {
    dir: PathBuf,
    rng: SystemRandom,
}

/// What `ensure` did, so the caller can say so once.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Existing,
    Created(PathBuf),
    /// Connection fields, metadata, or a previous secret whose grace ended.
    Updated(PathBuf),
    /// A new `spec.secret.rotation.id`: a new secret, the old one valid
    /// until the grace period ends.
    Rotated(PathBuf),
}

impl GeneratedCredentials {
    pub fn new(state_dir: &Path) -> GeneratedCredentials {
        GeneratedCredentials { dir: state_dir.join("credentials"), rng: SystemRandom::new() }
    }

    pub fn path(&self, secret: &ObjectKey) -> PathBuf {
        self.dir.join(&secret.namespace).join(format!("{}.yaml", secret.name))
    }

    /// The client's secrets, its file created or brought up to date first.
    pub fn ensure(&self, d: &Desired<'_>) -> Result<(ClientSecrets, Outcome), CredentialError> {
        let key = ObjectKey::new(d.owner.namespace, &d.client.secret_name);
        let path = self.path(&key);
        let unreadable = || CredentialError::Unreadable(path.clone());
        let existing = match fsutil::read_optional(&path)? {
            None => None,
            Some(bytes) => Some(from_file(&bytes, d).ok_or_else(unreadable)?),
        };
        let mut no_randomness = false;
        let mut new_secret = || {
            let mut raw = [0u8; 32];
            // 256 bits: the digest on /token can then be a plain SHA-256.
            if self.rng.fill(&mut raw).is_err() {
                no_randomness = true;
            }
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        };
        let planned = plan(d, existing.as_ref(), &mut new_secret);
        if no_randomness {
            return Err(CredentialError::Rng);
        }
        let (secret, outcome) = match (planned, existing) {
            (SecretPlan::UpToDate, Some(s)) => (s, Outcome::Existing),
            (SecretPlan::Create(s), _) => (*s, Outcome::Created(path.clone())),
            (SecretPlan::Patch { patch, changes }, Some(s)) => {
                let mut v = serde_json::to_value(&s).map_err(|_| unreadable())?;
                merge_patch(&mut v, &patch);
                let patched: Secret = serde_json::from_value(v).map_err(|_| unreadable())?;
                let outcome = if changes.contains(&"rotated") { Outcome::Rotated } else { Outcome::Updated };
                (patched, outcome(path.clone()))
            }
            (SecretPlan::Pending(m) | SecretPlan::Conflict(m), _) => return Err(CredentialError::Pending(m)),
            // The plan has nothing to compare without a file, so it creates.
            (SecretPlan::UpToDate | SecretPlan::Patch { .. }, None) => return Err(unreadable()),
        };
        if outcome != Outcome::Existing {
            fsutil::write_private(&path, to_file(&secret).ok_or_else(unreadable)?.as_bytes())?;
        }
        let secrets = secrets_of(&secret).ok_or_else(unreadable)?;
        Ok((secrets, outcome))
    }
}

/// The manifest as the plan sees a cluster's Secret: `data`, owned by the
/// client (`stringData` is what a person reads and edits, and wins, as in
/// Kubernetes).
fn from_file(bytes: &[u8], d: &Desired<'_>) -> Option<Secret> {
    let mut s: Secret = serde_yaml::from_slice(bytes).ok()?;
    let mut data = s.data.take().unwrap_or_default();
    for (k, v) in s.string_data.take().unwrap_or_default() {
        data.insert(k, ByteString(v.into_bytes()));
    }
    data.get("client_secret").filter(|v| !v.0.is_empty())?;
    s.data = Some(data);
    s.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "keyward.dev/v1alpha1".into(),
        kind: "OAuthClient".into(),
        name: d.owner.name.to_owned(),
        uid: d.owner.uid.to_owned(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }]);
    Some(s)
}

fn to_file(secret: &Secret) -> Option<String> {
    let mut s = secret.clone();
    s.metadata.owner_references = None;
    let data = s.data.take().unwrap_or_default();
    let mut text = BTreeMap::new();
    for (k, v) in data {
        text.insert(k, String::from_utf8(v.0).ok()?);
    }
    s.string_data = Some(text);
    let mut yaml = String::from("# Generated by keyward serve. Keep it private; delete it to get a new secret.\n");
    yaml.push_str(&serde_yaml::to_string(&s).ok()?);
    Some(yaml)
}

/// RFC 7386 JSON merge patch, as the API server applies the plan's patches.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(changes) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in changes {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patches_add_replace_and_remove() {
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut v, &json!({"a": null, "b": {"c": 4, "d": null}, "e": "x"}));
        assert_eq!(v, json!({"b": {"c": 4}, "e": "x"}));
    }
}
