//! Keyward's custom resources (`keyward.dev/v1alpha1`) and their one conversion
//! into the core model.
//!
//! - [`v1alpha1`]: `OAuthClient`, `Resource` and `AccessPolicy` as written in
//!   YAML, with the CRD schema and CEL rules the API server enforces.
//! - [`convert`]: `TryFrom<&OAuthClient> for keyward_core::model::Client` (and
//!   the same for `Resource` and `AccessPolicy`), the authority on what a valid
//!   object is. `keyward serve` reads manifests with no API server in front, so
//!   the conversion re-checks everything the schema and CEL rules check and
//!   reports every problem at once, each with its field path.
//! - [`crds`] and [`crd_manifests`]: the generated CustomResourceDefinitions,
//!   written to `crds/` by `cargo run -p keyward-api --bin crdgen`.
//!
//! This crate neither reconciles nor serves.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub mod convert;
pub mod v1alpha1;

pub use convert::Invalid;
pub use v1alpha1::{AccessPolicy, IdentityProvider, OAuthClient, Resource};

/// The command that regenerates the committed CRD files.
pub const CRDGEN_COMMAND: &str = "cargo run -p keyward-api --bin crdgen -- crds";

/// The CustomResourceDefinitions of every kind.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![OAuthClient::crd(), Resource::crd(), AccessPolicy::crd(), IdentityProvider::crd()]
}

/// One CRD rendered as the YAML file committed under `crds/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrdManifest {
    /// `<plural>.<group>.yaml`, e.g. `oauthclients.keyward.dev.yaml`.
    pub file_name: String,
    pub yaml: String,
}

/// [`crds`] rendered as files, the single rendering that `crdgen` writes and
/// the freshness test compares against.
pub fn crd_manifests() -> Result<Vec<CrdManifest>, serde_yaml::Error> {
    crds()
        .into_iter()
        .map(|crd| {
            let name = crd.metadata.name.clone().unwrap_or_default();
            let body = serde_yaml::to_string(&crd)?;
            Ok(CrdManifest {
                file_name: format!("{name}.yaml"),
                yaml: format!("# Generated from crates/keyward-api by `{CRDGEN_COMMAND}`. Do not edit.\n{body}"),
            })
        })
        .collect()
}
