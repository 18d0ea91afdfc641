//! The OAuthClient a registration becomes: a pure builder, so the folder
//! and the cluster keep the same object and a test can read it whole.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use keyward_api::v1alpha1::{
    AuthorizationCodeSpec, GrantTypesSpec, OAuthClient, OAuthClientSpec, TokenEndpointAuthMethod,
};
use keyward_core::UnixTime;
use keyward_core::model::{ORIGIN_CIMD, ORIGIN_DCR, ORIGIN_LABEL};
use keyward_core::registration::Registration;

pub(super) const NAME_PREFIX: &str = "dcr-";
/// The SHA-256 (base64url) of the registration access token (RFC 7592):
/// what proves a later read or delete comes from the registrant.
pub const ANNOTATION_TOKEN: &str = "keyward.dev/registration-token-sha256";
/// The client information response as registered, returned again on read.
pub const ANNOTATION_INFORMATION: &str = "keyward.dev/client-information";

/// `suffix`: random lower-case hex, the object's name after `dcr-`.
pub fn dynamic_client(
    suffix: &str,
    namespace: &str,
    reg: &Registration,
    information: &serde_json::Map<String, serde_json::Value>,
    token_digest: &str,
    now: UnixTime,
) -> OAuthClient {
    let mut client = self_made(&format!("{NAME_PREFIX}{suffix}"), namespace, ORIGIN_DCR, reg, now);
    client.metadata.annotations = Some(BTreeMap::from([
        (ANNOTATION_TOKEN.to_owned(), token_digest.to_owned()),
        (ANNOTATION_INFORMATION.to_owned(), serde_json::Value::Object(information.clone()).to_string()),
    ]));
    client
}

/// The OAuthClient of the metadata document at `url`: named after the URL's
/// digest, so every replica and every fetch of one document name one object.
pub fn metadata_client(url: &str, namespace: &str, reg: &Registration, now: UnixTime) -> OAuthClient {
    use aws_lc_rs::digest::{SHA256, digest};
    let hash: String = digest(&SHA256, url.as_bytes()).as_ref()[..10].iter().map(|b| format!("{b:02x}")).collect();
    let mut client = self_made(&format!("cimd-{hash}"), namespace, ORIGIN_CIMD, reg, now);
    client.spec.client_id = Some(url.to_owned());
    if reg.jwks_uri.is_some() {
        client.spec.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
        client.spec.jwks_uri = reg.jwks_uri.clone();
    }
    client
}

/// What both kinds share: a public authorization-code client with the
/// registration's name, logo and redirect URIs, labelled with its origin.
/// The creation time is written for the folder (an API server sets its
/// own): eviction under a full cap takes the oldest first.
fn self_made(name: &str, namespace: &str, origin: &str, reg: &Registration, now: UnixTime) -> OAuthClient {
    let mut client = OAuthClient::new(
        name,
        OAuthClientSpec {
            display_name: reg.display_name().to_owned(),
            logo_uri: reg.logo_uri.clone(),
            token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
            grant_types: Some(GrantTypesSpec {
                authorization_code: Some(AuthorizationCodeSpec {
                    redirect_uris: reg.redirect_uris.clone(),
                    ..AuthorizationCodeSpec::default()
                }),
                ..GrantTypesSpec::default()
            }),
            ..OAuthClientSpec::default()
        },
    );
    client.metadata = ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(BTreeMap::from([(ORIGIN_LABEL.to_owned(), origin.to_owned())])),
        creation_timestamp: i64::try_from(now.0)
            .ok()
            .and_then(|s| k8s_openapi::jiff::Timestamp::from_second(s).ok())
            .map(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time),
        ..ObjectMeta::default()
    };
    client
}

#[cfg(test)]
mod tests {
    use keyward_core::model::{self, Origin};
    use serde_json::json;

    use super::*;

    #[test]
    fn a_registration_becomes_a_valid_public_dcr_client() {
        let reg = keyward_core::registration::check(&json!({
            "client_name": "Inspector",
            "redirect_uris": ["http://localhost:6274/oauth/callback"],
        }))
        .unwrap();
        let info = reg.client_information("dcr-00ff.default", 1);
        let obj = dynamic_client("00ff", "default", &reg, &info, "digest", UnixTime(1_800_000_000));
        assert_eq!(obj.metadata.name.as_deref(), Some("dcr-00ff"));
        let annotations = obj.metadata.annotations.clone().unwrap();
        assert_eq!(annotations[ANNOTATION_TOKEN], "digest");
        let kept: serde_json::Value = serde_json::from_str(&annotations[ANNOTATION_INFORMATION]).unwrap();
        assert_eq!(kept["client_id"], "dcr-00ff.default");
        let m = model::Client::try_from(&obj).expect("converts");
        assert_eq!(m.origin(), Origin::Dynamic);
        assert_eq!(m.auth_method, model::AuthMethod::None);
        assert!(m.resources.is_empty());
        assert_eq!(m.display_name, "Inspector");
    }

    #[test]
    fn a_metadata_document_becomes_a_client_named_after_its_url() {
        const URL: &str = "https://app.example/oauth/client.json";
        let doc = json!({"client_id": URL, "client_name": "App", "redirect_uris": ["http://127.0.0.1/cb"]});
        let reg = keyward_core::registration::check_metadata_document(URL, &doc).unwrap();
        let a = metadata_client(URL, "keyward", &reg, UnixTime(0));
        assert_eq!(a.metadata.name, metadata_client(URL, "keyward", &reg, UnixTime(0)).metadata.name, "stable");
        assert_ne!(
            a.metadata.name,
            metadata_client("https://app.example/other.json", "keyward", &reg, UnixTime(0)).metadata.name
        );
        let m = model::Client::try_from(&a).expect("converts");
        assert_eq!(m.origin(), Origin::MetadataDocument);
        assert_eq!(m.client_id.as_deref(), Some(URL));
        assert_eq!(m.auth_method, model::AuthMethod::None);
        let keyed = keyward_core::registration::check_metadata_document(
            URL,
            &json!({"client_id": URL, "redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks.json"}),
        )
        .unwrap();
        let m = model::Client::try_from(&metadata_client(URL, "keyward", &keyed, UnixTime(0))).expect("converts");
        assert_eq!(m.auth_method, model::AuthMethod::PrivateKeyJwt);
        // A URL client id is for these clients only.
        let mut manifest = a.clone();
        manifest.metadata.labels = None;
        let problems = model::Client::try_from(&manifest).unwrap_err().0;
        assert!(problems.iter().any(|p| p.field == "spec.clientId"), "{problems:?}");
    }

    #[test]
    fn a_dcr_label_on_a_client_that_is_not_public_and_bare_is_refused() {
        let reg = keyward_core::registration::check(&json!({"redirect_uris": ["https://a.example/cb"]})).unwrap();
        let mut obj = dynamic_client("01", "default", &reg, &serde_json::Map::new(), "d", UnixTime(0));
        obj.spec.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::ClientSecretBasic);
        obj.spec.grant_types.as_mut().unwrap().authorization_code.as_mut().unwrap().skip_consent = true;
        obj.spec.resources =
            vec![keyward_api::v1alpha1::ClientResource { name: "orders".into(), ..Default::default() }];
        let problems = model::Client::try_from(&obj).unwrap_err().0;
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        for f in ["spec.tokenEndpointAuthMethod", "spec.resources", "spec.grantTypes.authorizationCode.skipConsent"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
    }
}
