use std::time::Duration;

use keyward_core::model::{self, AuthMethod, ObjectKey};
use keyward_core::status::Reason;

use super::default_secret_name;
use crate::convert::Invalid;
use crate::convert::tests::{NS, assert_invalid, object_meta, problems};
use crate::v1alpha1::{
    ClientCredentialsSpec, ClientResource, ClientSecretSpec, GrantTypesSpec, OAuthClient, OAuthClientSpec, SessionSpec,
    TokenEndpointAuthMethod,
};

fn minimal() -> OAuthClient {
    OAuthClient {
        metadata: object_meta("billing-agent"),
        spec: OAuthClientSpec { display_name: "Billing agent".into(), ..OAuthClientSpec::default() },
        status: None,
    }
}

fn convert(edit: impl FnOnce(&mut OAuthClientSpec)) -> Result<model::Client, Invalid> {
    let mut obj = minimal();
    edit(&mut obj.spec);
    model::Client::try_from(&obj)
}

fn resource(name: &str, scopes: &[&str]) -> ClientResource {
    ClientResource { name: name.into(), namespace: None, scopes: scopes.iter().map(|s| s.to_string()).collect() }
}

fn session(edit: impl FnOnce(&mut SessionSpec)) -> Result<model::Client, Invalid> {
    convert(|s| {
        let mut session = SessionSpec::default();
        edit(&mut session);
        s.session = Some(session);
    })
}

#[test]
fn minimal_client_gets_the_defaults() {
    let c = convert(|_| {}).unwrap();
    assert_eq!(c.meta.key, ObjectKey::new(NS, "billing-agent"));
    assert_eq!(c.auth_method, AuthMethod::ClientSecretBasic);
    assert_eq!(c.secret_name, "billing-agent-credentials");
    assert_eq!(c.client_id, None);
    assert_eq!(c.grants.client_credentials, None);
    assert!(c.resources.is_empty() && c.tags.is_empty());
    assert_eq!(c.session, model::SessionLifetimes::default());
}

#[test]
fn full_client_converts_field_by_field() {
    let c = convert(|s| {
        s.description = Some("Reconciles invoices".into());
        s.logo_uri = Some("https://example.com/logo.png".into());
        s.tags = vec!["billing".into(), "agents".into()];
        s.client_id = Some("billing-agent@example".into());
        s.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::ClientSecretPost);
        s.secret = Some(ClientSecretSpec {
            name: Some("billing-oauth".into()),
            provided: false,
            rotation: None,
            ..Default::default()
        });
        s.grant_types = Some(GrantTypesSpec {
            jwt_bearer: None,
            token_exchange: None,
            authorization_code: None,
            client_credentials: Some(ClientCredentialsSpec { allowed_tenants: vec!["acme".into()] }),
        });
        s.resources = vec![
            resource("orders-api", &["orders:read"]),
            ClientResource { namespace: Some("shared".into()), ..resource("orders-api", &[]) },
        ];
        s.session = Some(SessionSpec {
            refresh_token_timeout: Some("720h".into()),
            session_token_timeout: Some("8h".into()),
            access_key_session_token_timeout: Some("1h30m".into()),
        });
    })
    .unwrap();
    assert_eq!(c.description.as_deref(), Some("Reconciles invoices"));
    assert_eq!(c.logo_uri.as_deref(), Some("https://example.com/logo.png"));
    assert_eq!(c.tags, ["billing", "agents"]);
    assert_eq!(c.client_id.as_deref(), Some("billing-agent@example"));
    assert_eq!(c.auth_method, AuthMethod::ClientSecretPost);
    assert_eq!(c.secret_name, "billing-oauth");
    assert_eq!(c.grants.client_credentials.unwrap().allowed_tenants, ["acme"]);
    assert_eq!(c.resources[0].resource, ObjectKey::new(NS, "orders-api"));
    assert_eq!(c.resources[0].scopes, ["orders:read"]);
    assert_eq!(c.resources[1].resource, ObjectKey::new("shared", "orders-api"));
    assert!(c.resources[1].scopes.is_empty(), "an entry without scopes is audience-only");
    assert_eq!(c.session.refresh_token, Some(Duration::from_secs(720 * 3600)));
    assert_eq!(c.session.session_token, Some(Duration::from_secs(8 * 3600)));
    assert_eq!(c.session.access_key_session_token, Some(Duration::from_secs(5400)));
}

#[test]
fn empty_client_credentials_object_enables_the_grant_for_any_tenant() {
    let obj: OAuthClient = serde_yaml::from_str(
        "apiVersion: keyward.dev/v1alpha1\nkind: OAuthClient\nmetadata: {name: a, namespace: team-a}\nspec:\n  displayName: A\n  grantTypes:\n    clientCredentials: {}\n",
    )
    .unwrap();
    let c = model::Client::try_from(&obj).unwrap();
    assert_eq!(c.grants.client_credentials, Some(model::ClientCredentialsGrant { allowed_tenants: vec![] }));
}

#[test]
fn empty_grant_types_object_enables_nothing() {
    let c = convert(|s| s.grant_types = Some(GrantTypesSpec::default())).unwrap();
    assert_eq!(c.grants.client_credentials, None);
}

#[test]
fn client_with_empty_display_name_is_invalid_at_its_path() {
    assert_invalid(convert(|s| s.display_name = String::new()), "spec.displayName", "must not be empty");
}

#[test]
fn client_with_display_name_over_200_characters_is_invalid() {
    assert_invalid(convert(|s| s.display_name = "é".repeat(201)), "spec.displayName", "at most 200 characters");
    assert!(convert(|s| s.display_name = "é".repeat(200)).is_ok());
}

#[test]
fn client_with_description_over_2000_characters_is_invalid() {
    assert_invalid(convert(|s| s.description = Some("x".repeat(2001))), "spec.description", "at most 2000");
}

#[test]
fn client_with_non_https_logo_is_invalid() {
    for uri in ["http://example.com/logo.png", "https://", "https://user@example.com/x", "logo.png"] {
        assert_invalid(convert(|s| s.logo_uri = Some(uri.into())), "spec.logoUri", "not an https URL");
    }
    let long = format!("https://example.com/{}", "a".repeat(2048));
    assert_invalid(convert(|s| s.logo_uri = Some(long)), "spec.logoUri", "at most 2048");
}

#[test]
fn client_with_malformed_tag_is_invalid_at_its_index() {
    assert_invalid(convert(|s| s.tags = vec!["ok".into(), "not ok".into()]), "spec.tags[1]", "not a valid tag");
    assert_invalid(convert(|s| s.tags = vec!["".into()]), "spec.tags[0]", "must not be empty");
    assert_invalid(convert(|s| s.tags = vec!["t".repeat(64)]), "spec.tags[0]", "at most 63");
}

#[test]
fn client_with_duplicate_tag_is_invalid_at_the_repeat() {
    assert_invalid(
        convert(|s| s.tags = vec!["a".into(), "b".into(), "a".into()]),
        "spec.tags[2]",
        "first at spec.tags[0]",
    );
}

#[test]
fn client_with_too_many_tags_is_invalid() {
    let tags = (0..33).map(|i| format!("t{i}")).collect();
    assert_invalid(convert(|s| s.tags = tags), "spec.tags", "at most 32 entries");
}

#[test]
fn client_id_with_colon_is_invalid_because_basic_auth_splits_on_it() {
    assert_invalid(convert(|s| s.client_id = Some("svc:billing".into())), "spec.clientId", "':'");
}

#[test]
fn client_id_with_space_or_non_ascii_is_invalid() {
    assert_invalid(convert(|s| s.client_id = Some("billing agent".into())), "spec.clientId", "printable ASCII");
    assert_invalid(convert(|s| s.client_id = Some("facturación".into())), "spec.clientId", "printable ASCII");
}

#[test]
fn client_id_length_is_1_to_255() {
    assert_invalid(convert(|s| s.client_id = Some(String::new())), "spec.clientId", "must not be empty");
    assert_invalid(convert(|s| s.client_id = Some("x".repeat(256))), "spec.clientId", "at most 255");
    assert!(convert(|s| s.client_id = Some("x".repeat(255))).is_ok());
}

#[test]
fn explicit_secret_name_must_be_a_dns_subdomain() {
    let secret = |n: &str| {
        Some(ClientSecretSpec { name: Some(n.into()), provided: false, rotation: None, ..Default::default() })
    };
    assert_invalid(convert(|s| s.secret = secret("Billing_Creds")), "spec.secret.name", "not a valid name");
    assert_invalid(convert(|s| s.secret = secret(&"a".repeat(254))), "spec.secret.name", "at most 253");
}

#[test]
fn secret_object_without_name_uses_the_default_name() {
    let c = convert(|s| {
        s.secret = Some(ClientSecretSpec { name: None, provided: false, rotation: None, ..Default::default() })
    })
    .unwrap();
    assert_eq!(c.secret_name, default_secret_name("billing-agent"));
}

#[test]
fn client_whose_default_secret_name_would_be_too_long_must_set_one() {
    let mut obj = minimal();
    obj.metadata.name = Some("a".repeat(250));
    assert_invalid(model::Client::try_from(&obj), "spec.secret.name", "set spec.secret.name");
}

#[test]
fn client_with_malformed_tenant_is_invalid_at_its_path() {
    let cc = |t: &str| {
        Some(GrantTypesSpec {
            jwt_bearer: None,
            token_exchange: None,
            authorization_code: None,
            client_credentials: Some(ClientCredentialsSpec { allowed_tenants: vec!["acme".into(), t.into()] }),
        })
    };
    let field = "spec.grantTypes.clientCredentials.allowedTenants[1]";
    assert_invalid(convert(|s| s.grant_types = cc("ac me")), field, "not a valid tenant");
    assert_invalid(convert(|s| s.grant_types = cc(&"t".repeat(129))), field, "at most 128");
    assert_invalid(convert(|s| s.grant_types = cc("acme")), field, "listed twice");
}

#[test]
fn client_with_scope_containing_a_space_is_invalid_at_its_path() {
    assert_invalid(
        convert(|s| s.resources = vec![resource("orders", &["orders:read", "orders write"])]),
        "spec.resources[0].scopes[1]",
        "not a scope token",
    );
}

#[test]
fn client_with_scope_containing_a_quote_or_backslash_is_invalid() {
    for bad in ["say\"hi", "back\\slash", ""] {
        let p = problems(convert(|s| s.resources = vec![resource("orders", &[bad])]));
        assert_eq!((p.len(), p[0].field.as_str()), (1, "spec.resources[0].scopes[0]"), "{bad:?}: {p:?}");
    }
}

#[test]
fn client_with_duplicate_scope_in_one_entry_is_invalid() {
    assert_invalid(
        convert(|s| s.resources = vec![resource("orders", &["a", "a"])]),
        "spec.resources[0].scopes[1]",
        "listed twice",
    );
}

#[test]
fn client_with_malformed_resource_reference_is_invalid_at_its_path() {
    assert_invalid(
        convert(|s| s.resources = vec![resource("Orders", &[])]),
        "spec.resources[0].name",
        "not a valid name",
    );
    let bad_ns = ClientResource { namespace: Some("team.a".into()), ..resource("orders", &[]) };
    assert_invalid(convert(|s| s.resources = vec![bad_ns]), "spec.resources[0].namespace", "not a valid namespace");
}

#[test]
fn client_listing_a_resource_twice_is_invalid_even_when_one_spells_out_its_own_namespace() {
    let explicit = ClientResource { namespace: Some(NS.into()), ..resource("orders", &["b"]) };
    assert_invalid(
        convert(|s| s.resources = vec![resource("orders", &["a"]), explicit]),
        "spec.resources[1]",
        "Resource team-a/orders is listed twice (first at spec.resources[0])",
    );
}

#[test]
fn client_with_more_than_64_resources_is_invalid() {
    let many = (0..65).map(|i| resource(&format!("r{i}"), &[])).collect();
    assert_invalid(convert(|s| s.resources = many), "spec.resources", "at most 64 entries");
}

#[test]
fn same_resource_name_in_two_namespaces_is_two_resources() {
    let other = ClientResource { namespace: Some("shared".into()), ..resource("orders", &[]) };
    assert!(convert(|s| s.resources = vec![resource("orders", &[]), other]).is_ok());
}

#[test]
fn session_lifetimes_outside_their_range_name_field_value_and_range() {
    assert_invalid(
        session(|s| s.access_key_session_token_timeout = Some("25h".into())),
        "spec.session.accessKeySessionTokenTimeout",
        "is out of range: must be between 1m and 24h",
    );
    assert_invalid(
        session(|s| s.session_token_timeout = Some("59s".into())),
        "spec.session.sessionTokenTimeout",
        "is out of range: must be between 1m and 720h",
    );
    assert_invalid(
        session(|s| s.refresh_token_timeout = Some("8761h".into())),
        "spec.session.refreshTokenTimeout",
        "is out of range: must be between 1m and 8760h",
    );
}

#[test]
fn session_lifetimes_at_the_range_edges_are_valid() {
    let c = session(|s| {
        s.access_key_session_token_timeout = Some("24h".into());
        s.session_token_timeout = Some("1m".into());
        s.refresh_token_timeout = Some("8760h".into());
    })
    .unwrap();
    assert_eq!(c.session.access_key_session_token, Some(Duration::from_secs(86_400)));
    assert_eq!(c.session.session_token, Some(Duration::from_secs(60)));
}

#[test]
fn session_lifetime_that_is_not_a_duration_is_invalid() {
    assert_invalid(
        session(|s| s.session_token_timeout = Some("1.5h".into())),
        "spec.session.sessionTokenTimeout",
        "is not a duration",
    );
    assert_invalid(
        session(|s| s.refresh_token_timeout = Some("9".repeat(40))),
        "spec.session.refreshTokenTimeout",
        "at most 32 characters",
    );
}

#[test]
fn every_problem_is_reported_in_one_pass() {
    let p = problems(convert(|s| {
        s.display_name = String::new();
        s.client_id = Some("a:b".into());
        s.tags = vec!["x y".into()];
        s.resources = vec![resource("orders", &["a b"])];
        s.session = Some(SessionSpec { refresh_token_timeout: Some("0s".into()), ..SessionSpec::default() });
    }));
    let fields: Vec<_> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.displayName",
            "spec.tags[0]",
            "spec.clientId",
            "spec.resources[0].scopes[0]",
            "spec.session.refreshTokenTimeout"
        ]
    );
    assert!(p.iter().all(|p| p.reason == Reason::InvalidSpec));
}

#[test]
fn metadata_and_spec_problems_are_reported_together() {
    let mut obj = minimal();
    obj.metadata.namespace = None;
    obj.spec.display_name = String::new();
    let p = problems(model::Client::try_from(&obj));
    let got: Vec<_> = p.iter().map(|p| (p.reason, p.field.as_str())).collect();
    assert_eq!(got, [(Reason::InvalidManifest, "metadata.namespace"), (Reason::InvalidSpec, "spec.displayName")]);
}

mod private_key_jwt {
    use keyward_core::model::{ClientKeys, EcCurve, JwsAlgorithm, PublicKey};

    use super::*;
    use crate::v1alpha1::{JwkSetSpec, JwkSpec};

    const X: &str = "JdaYV0MLMxB6wNYD-BhTA8JV0M7hrZ3xu0pt58noF4M";
    const Y: &str = "sGV22Xeo2AYCihOaoaYuzrFJMLGX5YYcAcomfELBTSY";

    fn ec() -> JwkSpec {
        JwkSpec {
            kty: "EC".into(),
            crv: Some("P-256".into()),
            kid: Some("k1".into()),
            x: Some(X.into()),
            y: Some(Y.into()),
            ..JwkSpec::default()
        }
    }

    /// An RSA key with a modulus of `bytes` bytes (only its size matters here).
    fn rsa(bytes: usize) -> JwkSpec {
        use base64::Engine;
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![0xc5; bytes]);
        JwkSpec { kty: "RSA".into(), kid: Some("r1".into()), n: Some(n), e: Some("AQAB".into()), ..JwkSpec::default() }
    }

    fn with_keys(keys: Vec<JwkSpec>) -> Result<model::Client, Invalid> {
        convert(|s| {
            s.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
            s.jwks = Some(JwkSetSpec { keys });
        })
    }

    fn with_key(edit: impl FnOnce(&mut JwkSpec)) -> Result<model::Client, Invalid> {
        let mut k = ec();
        edit(&mut k);
        with_keys(vec![k])
    }

    #[test]
    fn a_valid_key_set_converts_into_public_keys() {
        let c = with_keys(vec![ec(), rsa(256)]).unwrap();
        assert_eq!(c.auth_method, AuthMethod::PrivateKeyJwt);
        let Some(ClientKeys::Inline(keys)) = c.keys else { panic!("inline keys") };
        assert_eq!(keys[0].key, PublicKey::Ec { curve: EcCurve::P256, x: X.into(), y: Y.into() });
        assert!(keys[1].accepts(JwsAlgorithm::PS256) && !keys[1].accepts(JwsAlgorithm::ES256));
        let c = convert(|s| {
            s.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
            s.jwks_uri = Some("https://agent.example.com/jwks.json".into());
        })
        .unwrap();
        assert_eq!(c.keys, Some(ClientKeys::Uri("https://agent.example.com/jwks.json".into())));
    }

    #[test]
    fn weak_or_malformed_keys_are_refused_at_their_member() {
        assert_invalid(with_keys(vec![rsa(128)]), "spec.jwks.keys[0].n", "1024 bits is not accepted");
        assert_invalid(with_key(|k| k.x = Some("c2hvcnQ".into())), "spec.jwks.keys[0].x", "must decode to 32 bytes");
        assert_invalid(with_key(|k| k.y = Some("not base64!".into())), "spec.jwks.keys[0].y", "base64url");
        assert_invalid(with_key(|k| k.crv = Some("P-521".into())), "spec.jwks.keys[0].crv", "use P-256 or P-384");
        assert_invalid(with_key(|k| k.kty = "oct".into()), "spec.jwks.keys[0].kty", "never oct");
        assert_invalid(with_key(|k| k.use_ = Some("enc".into())), "spec.jwks.keys[0].use", "use: sig");
        assert_invalid(with_key(|k| k.alg = Some("RS256".into())), "spec.jwks.keys[0].alg", "does not fit this key");
        assert_invalid(with_key(|k| k.alg = Some("HS256".into())), "spec.jwks.keys[0].alg", "is not accepted");
        assert_invalid(with_key(|k| k.n = Some("AQAB".into())), "spec.jwks.keys[0].n", "not a member of a EC key");
        assert_invalid(with_key(|k| k.d = Some("c2VjcmV0".into())), "spec.jwks.keys[0].d", "private key member");
    }

    #[test]
    fn several_keys_need_distinct_kids() {
        let mut second = ec();
        assert_invalid(with_keys(vec![ec(), second.clone()]), "spec.jwks.keys[1].kid", "used twice");
        second.kid = None;
        assert_invalid(with_keys(vec![ec(), second]), "spec.jwks.keys[1].kid", "required when there are several");
        assert_invalid(with_keys(vec![]), "spec.jwks.keys", "at least one key");
    }

    #[test]
    fn keys_go_with_private_key_jwt_and_nothing_else() {
        let r = convert(|s| s.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt));
        assert_invalid(r, "spec.tokenEndpointAuthMethod", "needs the client's public keys");
        let r = convert(|s| s.jwks_uri = Some("https://agent.example.com/jwks.json".into()));
        assert_invalid(r, "spec.jwksUri", "only used with tokenEndpointAuthMethod: private_key_jwt");
        let r = convert(|s| {
            s.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
            s.jwks_uri = Some("http://agent.example.com/jwks.json".into());
        });
        assert_invalid(r, "spec.jwksUri", "is not an https URL");
        let r = convert(|s| {
            s.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::PrivateKeyJwt);
            s.jwks = Some(JwkSetSpec { keys: vec![ec()] });
            s.secret = Some(ClientSecretSpec::default());
        });
        assert_invalid(r, "spec.secret", "has no secret");
    }
}

mod federated_jwt {
    use keyward_core::model::IssuerSource;

    use super::*;
    use crate::v1alpha1::TrustedIssuerSpec;

    fn service_account(subjects: &[&str]) -> TrustedIssuerSpec {
        TrustedIssuerSpec {
            kubernetes: true,
            subjects: subjects.iter().map(|s| (*s).to_owned()).collect(),
            ..TrustedIssuerSpec::default()
        }
    }

    fn federated(credentials: Vec<TrustedIssuerSpec>) -> Result<model::Client, Invalid> {
        convert(|s| {
            s.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::FederatedJwt);
            s.federated_credentials = credentials;
        })
    }

    #[test]
    fn a_service_account_credential_converts_and_the_client_holds_no_secret() {
        let c = federated(vec![service_account(&["system:serviceaccount:agents:bot"])]).unwrap();
        assert_eq!(c.auth_method, AuthMethod::FederatedJwt);
        assert_eq!(c.secret_key(), None);
        assert_eq!(c.federated.len(), 1);
        assert!(matches!(c.federated[0].source, IssuerSource::Kubernetes { .. }));
        assert_eq!(c.federated[0].subjects, ["system:serviceaccount:agents:bot"]);
        // Projected tokens are presented many times.
        assert!(!c.federated[0].reject_replay);
    }

    #[test]
    fn every_credential_names_its_subjects() {
        let r = federated(vec![service_account(&["system:serviceaccount:agents:bot"]), service_account(&[])]);
        assert_invalid(r, "spec.federatedCredentials[1].subjects", "must name the subjects");
    }

    #[test]
    fn credentials_go_with_federated_jwt_and_nothing_else() {
        assert_invalid(federated(vec![]), "spec.federatedCredentials", "needs at least one federated credential");
        let r = convert(|s| s.federated_credentials = vec![service_account(&["x"])]);
        assert_invalid(r, "spec.federatedCredentials", "only used with tokenEndpointAuthMethod: federated_jwt");
        let r = convert(|s| {
            s.token_endpoint_auth_method = Some(TokenEndpointAuthMethod::FederatedJwt);
            s.federated_credentials = vec![service_account(&["x"])];
            s.secret = Some(ClientSecretSpec::default());
        });
        assert_invalid(r, "spec.secret", "a federated_jwt client has no secret");
        let r = federated(vec![TrustedIssuerSpec { subjects: vec!["x".into()], ..TrustedIssuerSpec::default() }]);
        assert_invalid(r, "spec.federatedCredentials[0].issuer", "is required unless kubernetes is true");
    }
}
