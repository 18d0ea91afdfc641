//! Reads one YAML file of manifests (multi-document) into typed objects, with
//! errors precise enough to fix the file: document number, object, field path.
//!
//! Unknown fields are errors here (the folder has no API server to prune or
//! warn), found with serde_ignored rather than `deny_unknown_fields`, so the CRD
//! types stay tolerant for rolling upgrades in a cluster.

use k8s_openapi::api::core::v1::Secret;
use keyward_api::v1alpha1::{AccessPolicy, IdentityProvider, OAuthClient, Resource};
use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::read_error::{error_path, ignored_path, without_input};

pub const API_VERSION: &str = "keyward.dev/v1alpha1";
const API_GROUP: &str = "keyward.dev/";

/// A manifest Keyward reads.
#[derive(Clone, Debug)]
pub enum Manifest {
    Client(Box<OAuthClient>),
    Resource(Box<Resource>),
    Policy(Box<AccessPolicy>),
    IdentityProvider(Box<IdentityProvider>),
    /// A bring-your-own client Secret, or a static provider's passwords.
    Secret(Box<Secret>),
}

/// What a manifest declares itself to be, as far as it can be read.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Identity {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

#[derive(Clone, Debug)]
pub struct Doc {
    /// 1-based position in the file.
    pub index: usize,
    pub identity: Identity,
    pub manifest: Manifest,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocError {
    pub index: usize,
    /// Set when kind and name could be read despite the error.
    pub identity: Option<Identity>,
    pub message: String,
}

impl std::fmt::Display for DocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.identity {
            Some(id) => write!(f, "document {} ({id}): {}", self.index, self.message),
            None => write!(f, "document {}: {}", self.index, self.message),
        }
    }
}

#[derive(Debug, Default)]
pub struct ParsedFile {
    pub docs: Vec<Doc>,
    pub errors: Vec<DocError>,
    /// Documents of kinds Keyward does not read, described for a warning.
    pub ignored: Vec<String>,
}

/// The file is not valid YAML: nothing in it can be trusted.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SyntaxError(pub String);

pub fn parse(text: &str, default_namespace: &str) -> Result<ParsedFile, SyntaxError> {
    let mut values = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        values.push(<Value as serde::Deserialize>::deserialize(de).map_err(|e| SyntaxError(e.to_string()))?);
    }
    let mut out = ParsedFile::default();
    for (i, value) in values.into_iter().enumerate() {
        let index = i + 1;
        if value.is_null() {
            continue; // an empty document between `---` separators
        }
        match read_doc(value, default_namespace) {
            Read::Doc(identity, manifest) => out.docs.push(Doc { index, identity, manifest }),
            Read::Ignored(what) => out.ignored.push(format!("document {index}: {what}")),
            Read::Error(identity, message) => out.errors.push(DocError { index, identity, message }),
        }
    }
    Ok(out)
}

enum Read {
    Doc(Identity, Manifest),
    Ignored(String),
    Error(Option<Identity>, String),
}

fn str_at<'v>(v: &'v Value, path: &[&str]) -> Option<&'v str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p)?;
    }
    cur.as_str()
}

fn read_doc(mut value: Value, default_namespace: &str) -> Read {
    if !value.is_mapping() {
        return Read::Error(None, "a manifest must be a mapping with apiVersion and kind".into());
    }
    let (Some(api_version), Some(kind)) = (str_at(&value, &["apiVersion"]), str_at(&value, &["kind"])) else {
        return Read::Error(None, "apiVersion and kind are required".into());
    };
    let (api_version, kind) = (api_version.to_owned(), kind.to_owned());
    let ours = matches!(kind.as_str(), "OAuthClient" | "Resource" | "AccessPolicy" | "IdentityProvider");
    let secret = kind == "Secret" && api_version == "v1";
    if !ours && !secret {
        // A kind of our own group that we do not serve is a typo to report;
        // anything else (a Deployment beside the manifests) is simply not ours.
        if api_version.starts_with(API_GROUP) {
            return Read::Error(
                None,
                format!(
                    "kind is not served by {API_GROUP}: use OAuthClient, Resource, AccessPolicy or IdentityProvider"
                ),
            );
        }
        // Another kind's type is named only when it reads as one.
        let shown = |s: &str| s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"./-".contains(&b));
        if shown(&api_version) && shown(&kind) {
            return Read::Ignored(format!("{api_version} {kind} is not a Keyward kind"));
        }
        return Read::Ignored("not a Keyward kind".into());
    }
    let Some(name) = str_at(&value, &["metadata", "name"]).map(str::to_owned) else {
        return Read::Error(None, format!("{kind}: metadata.name is required"));
    };
    // kubectl's convention: no namespace means the default one.
    let namespace = match str_at(&value, &["metadata", "namespace"]) {
        Some(ns) => ns.to_owned(),
        None => {
            if let Some(meta) = value.get_mut("metadata").and_then(Value::as_mapping_mut) {
                meta.insert(Value::from("namespace"), Value::from(default_namespace));
            }
            default_namespace.to_owned()
        }
    };
    let identity = Identity { kind: kind.clone(), namespace, name };
    if ours && api_version != API_VERSION {
        let msg = format!("apiVersion is not served; use {API_VERSION}");
        return Read::Error(Some(identity), msg);
    }
    let manifest = match kind.as_str() {
        "OAuthClient" => typed(value).map(|v| Manifest::Client(Box::new(v))),
        "Resource" => typed(value).map(|v| Manifest::Resource(Box::new(v))),
        "AccessPolicy" => typed(value).map(|v| Manifest::Policy(Box::new(v))),
        "IdentityProvider" => typed(value).map(|v| Manifest::IdentityProvider(Box::new(v))),
        _ => typed(value).map(|v| Manifest::Secret(Box::new(v))),
    };
    match manifest {
        Ok(m) => Read::Doc(identity, m),
        Err(message) => Read::Error(Some(identity), message),
    }
}

/// Deserializes with the path of the first type error and every unknown field,
/// in words that never quote the manifest (`read_error.rs`).
fn typed<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| {
        let path = ignored_path(&path);
        // apiVersion and kind were checked above; kube's derived types skip them.
        if path != "apiVersion" && path != "kind" {
            unknown.push(path);
        }
    };
    let de = serde_ignored::Deserializer::new(value, &mut note);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(de);
    let t = parsed.map_err(|e| {
        let path = error_path(e.path());
        let message = without_input(&e.inner().to_string());
        if path.is_empty() { message } else { format!("{path}: {message}") }
    })?;
    if !unknown.is_empty() {
        return Err(format!("unknown field{} {}", if unknown.len() > 1 { "s" } else { "" }, unknown.join(", ")));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    const CLIENT: &str =
        "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata:\n  name: a\nspec:\n  displayName: A\n";

    #[test]
    fn a_manifest_without_namespace_lands_in_the_default_one() {
        let f = parse(CLIENT, "team").unwrap();
        assert_eq!(f.docs.len(), 1);
        assert_eq!(
            f.docs[0].identity,
            Identity { kind: "OAuthClient".into(), namespace: "team".into(), name: "a".into() }
        );
        let Manifest::Client(c) = &f.docs[0].manifest else { panic!() };
        assert_eq!(c.metadata.namespace.as_deref(), Some("team"));
    }

    #[test]
    fn unknown_fields_are_reported_with_their_path() {
        let text = format!("{CLIENT}  grantTypes:\n    clientCredential: {{}}\n");
        let f = parse(&text, "default").unwrap();
        assert!(f.docs.is_empty());
        assert_eq!(f.errors[0].message, "unknown field spec.grantTypes.clientCredential");
        assert_eq!(f.errors[0].identity.as_ref().unwrap().name, "a");
    }

    #[test]
    fn wrong_types_are_reported_with_their_path() {
        let text = format!("{CLIENT}  tags: 3\n");
        let f = parse(&text, "default").unwrap();
        assert_eq!(f.errors[0].message, "spec.tags: expected a sequence, found an integer");
    }

    const CANARY: &str = "kw-canary-5c1d";

    #[test]
    fn a_secret_written_as_a_string_is_reported_without_its_value() {
        let text = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData: 'client_secret: {CANARY}'\n---\n{CLIENT}  secret: {CANARY}\n"
        );
        let f = parse(&text, "default").unwrap();
        let messages: Vec<_> = f.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "document 1 (Secret default/s): stringData: expected a map, found a string",
                "document 2 (OAuthClient default/a): spec.secret: expected struct ClientSecretSpec, found a string",
            ]
        );
    }

    #[test]
    fn a_value_in_an_enum_field_is_not_echoed() {
        let text = format!("{CLIENT}  tokenEndpointAuthMethod: {CANARY}\n");
        let f = parse(&text, "default").unwrap();
        assert!(
            f.errors[0].message.starts_with("spec.tokenEndpointAuthMethod: not an accepted value: expected one of")
        );
        assert!(!f.errors[0].message.contains(CANARY));
    }

    #[test]
    fn field_paths_index_lists_with_brackets_for_unknown_fields_and_type_errors_alike() {
        let text = format!("{CLIENT}  resources:\n  - name: r\n    scope: [a]\n  - name: 3\n");
        let f = parse(&text, "default").unwrap();
        assert_eq!(f.errors[0].message, "spec.resources[1].name: expected a string, found an integer");
        let text = format!("{CLIENT}  resources:\n  - name: r\n    scope: [a]\n");
        let f = parse(&text, "default").unwrap();
        assert_eq!(f.errors[0].message, "unknown field spec.resources[0].scope");
    }

    #[test]
    fn other_kinds_are_ignored_and_said() {
        let f = parse("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\n", "default").unwrap();
        assert!(f.docs.is_empty() && f.errors.is_empty());
        assert_eq!(f.ignored, vec!["document 1: v1 ConfigMap is not a Keyward kind"]);
    }

    #[test]
    fn an_unknown_kind_of_our_group_is_an_error() {
        let f =
            parse("apiVersion: keyward.dev/v1alpha1\nkind: OAuthClients\nmetadata:\n  name: x\n", "default").unwrap();
        assert_eq!(
            f.errors[0].message,
            "kind is not served by keyward.dev/: use OAuthClient, Resource, AccessPolicy or IdentityProvider"
        );
    }

    #[test]
    fn an_unserved_version_of_our_kind_is_an_error() {
        let f = parse(&CLIENT.replace("v1alpha1", "v1"), "default").unwrap();
        assert_eq!(f.errors[0].message, "apiVersion is not served; use keyward.dev/v1alpha1");
    }

    #[test]
    fn invalid_yaml_is_a_syntax_error() {
        assert!(parse("a: [b\n", "default").is_err());
    }

    #[test]
    fn non_mapping_documents_and_missing_names_are_errors() {
        let f = parse("- a\n---\napiVersion: keyward.dev/v1alpha1\nkind: Resource\nmetadata: {}\n", "default").unwrap();
        assert_eq!(f.errors[0].message, "a manifest must be a mapping with apiVersion and kind");
        assert_eq!(f.errors[1].message, "Resource: metadata.name is required");
    }
}
