//! `OAuthClient` → `keyward_core::model::Client`: every field check of the kind,
//! the defaults (auth method, Secret name, resource namespace) and the
//! session-lifetime ranges. Cross-object checks (does the Resource exist, is
//! the client id taken) are compile's, not this module's.

use std::time::Duration;

use keyward_core::model::{
    self, AuthMethod, AuthorizationCodeGrant, ClientCredentialsGrant, Grants, IssuerSource, JwsAlgorithm,
    JwtBearerGrant, ResourceGrant, SecretRotation, SessionLifetimes, TokenExchangeGrant, TrustedIssuer, UserInfo,
};

use super::{Check, Invalid, is_client_id, is_https_url};
use crate::v1alpha1::common::limits;
use crate::v1alpha1::{
    AuthorizationCodeSpec, ClientResource, OAuthClient, SessionSpec, TokenEndpointAuthMethod, TrustedIssuerSpec,
};

const MINUTE: Duration = Duration::from_secs(60);

/// Ranges of the `spec.session` lifetimes, also in the CEL rules.
pub const ACCESS_KEY_SESSION_TOKEN_RANGE: (Duration, Duration) = (MINUTE, Duration::from_secs(24 * 3600));
pub const SESSION_TOKEN_RANGE: (Duration, Duration) = (MINUTE, Duration::from_secs(720 * 3600));
pub const ROTATION_GRACE_RANGE: (Duration, Duration) = (Duration::ZERO, Duration::from_secs(720 * 3600));
pub const DEFAULT_ROTATION_GRACE: Duration = Duration::from_secs(24 * 3600);
pub const REFRESH_TOKEN_RANGE: (Duration, Duration) = (MINUTE, Duration::from_secs(8760 * 3600));

/// The Secret a client's credentials go to when `spec.secret.name` is unset.
pub fn default_secret_name(client_name: &str) -> String {
    format!("{client_name}-credentials")
}

impl TryFrom<&OAuthClient> for model::Client {
    type Error = Invalid;

    fn try_from(obj: &OAuthClient) -> Result<Self, Invalid> {
        let mut c = Check::default();
        let meta = c.meta(&obj.metadata);
        let spec = &obj.spec;

        c.length("spec.displayName", &spec.display_name, 1, limits::DISPLAY_NAME);
        c.optional_text("spec.description", spec.description.as_deref(), limits::DESCRIPTION);
        if let Some(uri) = &spec.logo_uri
            && c.length("spec.logoUri", uri, 0, limits::URI)
            && !is_https_url(uri)
        {
            c.invalid("spec.logoUri", "is not an https URL (https://host/path, no user@ part)".to_owned());
        }
        c.tags("spec.tags", &spec.tags);
        let origin = model::Origin::of(&meta.labels);
        if let Some(id) = &spec.client_id
            && c.length("spec.clientId", id, 1, limits::CLIENT_ID)
            && !is_client_id(id)
            // A metadata document's URL is its client's id; such a client
            // never authenticates with HTTP Basic.
            && !(origin == model::Origin::MetadataDocument
                && keyward_core::registration::metadata_url_problem(id).is_none())
        {
            c.invalid(
                "spec.clientId",
                "is not a valid client id: use printable ASCII without spaces and without ':' (HTTP Basic authentication splits on the first colon)",
            );
        }

        let auth_method = match spec.token_endpoint_auth_method.unwrap_or_default() {
            TokenEndpointAuthMethod::ClientSecretBasic => AuthMethod::ClientSecretBasic,
            TokenEndpointAuthMethod::ClientSecretPost => AuthMethod::ClientSecretPost,
            TokenEndpointAuthMethod::PrivateKeyJwt => AuthMethod::PrivateKeyJwt,
            TokenEndpointAuthMethod::FederatedJwt => AuthMethod::FederatedJwt,
            TokenEndpointAuthMethod::None => AuthMethod::None,
        };
        let private_key_jwt = auth_method == AuthMethod::PrivateKeyJwt;
        let keys = super::jwks::client_keys(&mut c, private_key_jwt, spec.jwks.as_ref(), spec.jwks_uri.as_deref());
        if !auth_method.uses_secret() && spec.secret.is_some() {
            c.invalid("spec.secret", format!("a {} client has no secret: remove spec.secret", auth_method.as_str()));
        }
        let federated = federated_credentials(&mut c, auth_method, &spec.federated_credentials);

        let secret_name = match spec.secret.as_ref().and_then(|s| s.name.as_deref()) {
            Some(name) => {
                c.object_name("spec.secret.name", name);
                name.to_owned()
            }
            None => {
                let name = default_secret_name(&meta.key.name);
                if name.len() > limits::NAME {
                    c.invalid(
                        "spec.secret.name",
                        format!(
                            "the default Secret name {name:?} is longer than {} characters; set spec.secret.name",
                            limits::NAME
                        ),
                    );
                }
                name
            }
        };

        let (secret_labels, secret_annotations) = match &spec.secret {
            Some(s) => {
                c.match_labels("spec.secret.labels", &s.labels);
                for (field, map) in [("spec.secret.labels", &s.labels), ("spec.secret.annotations", &s.annotations)] {
                    if map.keys().any(|k| k.starts_with("keyward.dev/")) {
                        c.invalid(field, "keys under keyward.dev/ are the hub's own");
                    }
                }
                if s.annotations.iter().any(|(k, v)| k.is_empty() || k.len() > 253 || v.len() > 4096) {
                    c.invalid("spec.secret.annotations", "keys are 1 to 253 characters, values at most 4096");
                }
                (s.labels.clone(), s.annotations.clone())
            }
            None => Default::default(),
        };
        let secret_rotation = spec.secret.as_ref().and_then(|s| s.rotation.as_ref()).map(|r| {
            let field = "spec.secret.rotation.id";
            if c.length(field, &r.id, 1, limits::ROTATION_ID)
                && !r.id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
            {
                c.invalid(field, "may only hold letters, digits, '.', '_' and '-'".to_owned());
            }
            let (min, max) = ROTATION_GRACE_RANGE;
            let grace = c.duration("spec.secret.rotation.gracePeriod", r.grace_period.as_deref(), min, max);
            SecretRotation { id: r.id.clone(), grace: grace.unwrap_or(DEFAULT_ROTATION_GRACE) }
        });

        let client_credentials = spec.grant_types.as_ref().and_then(|g| g.client_credentials.as_ref()).map(|cc| {
            c.tenants("spec.grantTypes.clientCredentials.allowedTenants", &cc.allowed_tenants);
            ClientCredentialsGrant { allowed_tenants: cc.allowed_tenants.clone() }
        });

        let jwt_bearer = spec.grant_types.as_ref().and_then(|g| g.jwt_bearer.as_ref()).map(|jb| JwtBearerGrant {
            trusted_issuers: jb
                .trusted_issuers
                .iter()
                .enumerate()
                .map(|(i, t)| trusted_issuer(&mut c, &format!("spec.grantTypes.jwtBearer.trustedIssuers[{i}]"), t))
                .collect(),
        });
        if jwt_bearer.as_ref().is_some_and(|j| j.trusted_issuers.is_empty()) {
            c.invalid("spec.grantTypes.jwtBearer.trustedIssuers", "must name at least one issuer");
        }
        let token_exchange =
            spec.grant_types.as_ref().and_then(|g| g.token_exchange.as_ref()).map(|_| TokenExchangeGrant {});
        let authorization_code = spec
            .grant_types
            .as_ref()
            .and_then(|g| g.authorization_code.as_ref())
            .map(|a| authorization_code(&mut c, a));
        let identity_provider = spec
            .identity_provider
            .as_ref()
            .map(|r| c.object_ref("spec.identityProvider", &r.name, r.namespace.as_deref(), &meta.key.namespace));

        let resources = resource_grants(&mut c, &spec.resources, &meta.key.namespace);
        let session = session(&mut c, spec.session.as_ref());
        if origin.is_self_made() {
            self_made_client(&mut c, origin, spec, auth_method, authorization_code.as_ref());
        }

        c.finish(model::Client {
            display_name: spec.display_name.clone(),
            description: spec.description.clone(),
            logo_uri: spec.logo_uri.clone(),
            tags: spec.tags.clone(),
            client_id: spec.client_id.clone(),
            auth_method,
            keys,
            federated,
            secret_name,
            secret_labels,
            secret_annotations,
            secret_provided: spec.secret.as_ref().is_some_and(|s| s.provided),
            secret_rotation,
            grants: Grants { authorization_code, client_credentials, jwt_bearer, token_exchange },
            resources,
            session,
            identity_provider,
            meta,
        })
    }
}

/// A client that came by itself (registration, metadata document) signs
/// users in and nothing else, asks for whatever Resources admit its kind,
/// and never skips consent: nobody vouched for it. A registered one is
/// public; a metadata document's is public or holds its keys at `jwksUri`,
/// and its `clientId` is the document's URL.
fn self_made_client(
    c: &mut Check,
    origin: model::Origin,
    spec: &crate::v1alpha1::OAuthClientSpec,
    auth: AuthMethod,
    code: Option<&AuthorizationCodeGrant>,
) {
    let why = format!("a client labelled {}={}", model::ORIGIN_LABEL, origin.as_str());
    let (allowed, switch) = match origin {
        model::Origin::MetadataDocument => {
            (matches!(auth, AuthMethod::None | AuthMethod::PrivateKeyJwt) && spec.jwks.is_none(), "metadataDocuments")
        }
        _ => (auth == AuthMethod::None, "dynamic"),
    };
    if !allowed {
        let what =
            if origin == model::Origin::MetadataDocument { "none, or private_key_jwt with jwksUri" } else { "none" };
        c.invalid("spec.tokenEndpointAuthMethod", format!("{why} must use {what}"));
    }
    if origin == model::Origin::MetadataDocument
        && spec.client_id.as_deref().is_none_or(|id| keyward_core::registration::metadata_url_problem(id).is_some())
    {
        c.invalid("spec.clientId", format!("{why} is named by its metadata document's https URL"));
    }
    if !spec.resources.is_empty() {
        c.invalid(
            "spec.resources",
            format!("{why} may ask for every Resource whose spec.clientRegistration.{switch} is true: list none"),
        );
    }
    let g = spec.grant_types.as_ref();
    if g.is_some_and(|g| g.client_credentials.is_some() || g.jwt_bearer.is_some() || g.token_exchange.is_some()) {
        c.invalid("spec.grantTypes", format!("{why} uses the authorization code grant only"));
    }
    match code {
        None => c.invalid("spec.grantTypes.authorizationCode", format!("{why} uses the authorization code grant")),
        Some(a) if a.skip_consent => {
            c.invalid("spec.grantTypes.authorizationCode.skipConsent", format!("{why} never skips consent"))
        }
        Some(_) => {}
    }
}

fn authorization_code(c: &mut Check, a: &AuthorizationCodeSpec) -> AuthorizationCodeGrant {
    let field = "spec.grantTypes.authorizationCode.redirectUris";
    if a.redirect_uris.is_empty() {
        c.invalid(field, "must list at least one redirect URI");
    }
    c.max_items(field, a.redirect_uris.len(), limits::REDIRECT_URIS);
    for (i, uri) in a.redirect_uris.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if c.length(&f, uri, 1, limits::URI)
            && let Err(why) = keyward_core::grant::redirect::check_registered(uri)
        {
            c.invalid(f, why);
        }
    }
    c.unique(field, &a.redirect_uris);
    AuthorizationCodeGrant { redirect_uris: a.redirect_uris.clone(), skip_consent: a.skip_consent }
}

fn resource_grants(c: &mut Check, entries: &[ClientResource], own_namespace: &str) -> Vec<ResourceGrant> {
    c.max_items("spec.resources", entries.len(), limits::CLIENT_RESOURCES);
    let mut out: Vec<ResourceGrant> = Vec::with_capacity(entries.len());
    for (i, r) in entries.iter().enumerate() {
        let field = format!("spec.resources[{i}]");
        let key = c.object_ref(&field, &r.name, r.namespace.as_deref(), own_namespace);
        c.scope_list(&format!("{field}.scopes"), &r.scopes, limits::SCOPES);
        // Compared after defaulting: `{name: x}` and `{name: x, namespace: <own>}`
        // are the same Resource, which the CEL rule (blind to metadata) misses.
        if let Some(first) = out.iter().position(|g| g.resource == key) {
            c.invalid(
                field,
                format!(
                    "Resource {key} is listed twice (first at spec.resources[{first}]); merge the scopes into one entry"
                ),
            );
        }
        out.push(ResourceGrant { resource: key, scopes: r.scopes.clone() });
    }
    out
}

fn session(c: &mut Check, s: Option<&SessionSpec>) -> SessionLifetimes {
    let Some(s) = s else { return SessionLifetimes::default() };
    let (rmin, rmax) = REFRESH_TOKEN_RANGE;
    let (smin, smax) = SESSION_TOKEN_RANGE;
    let (amin, amax) = ACCESS_KEY_SESSION_TOKEN_RANGE;
    SessionLifetimes {
        refresh_token: c.duration("spec.session.refreshTokenTimeout", s.refresh_token_timeout.as_deref(), rmin, rmax),
        session_token: c.duration("spec.session.sessionTokenTimeout", s.session_token_timeout.as_deref(), smin, smax),
        access_key_session_token: c.duration(
            "spec.session.accessKeySessionTokenTimeout",
            s.access_key_session_token_timeout.as_deref(),
            amin,
            amax,
        ),
    }
}

/// Assertion lifetimes: `maxLifetime` range and defaults.
pub const MAX_LIFETIME_RANGE: (Duration, Duration) = (MINUTE, Duration::from_secs(48 * 3600));
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(3600);
pub const DEFAULT_KUBERNETES_MAX_LIFETIME: Duration = Duration::from_secs(48 * 3600);

pub(crate) fn https(c: &mut Check, field: &str, value: Option<&str>) -> Option<String> {
    let v = value?;
    if c.length(field, v, 1, limits::URI) && !is_https_url(v) && !super::is_loopback_http_url(v) {
        c.invalid(field, "is not an https URL".to_owned());
    }
    Some(v.to_owned())
}

fn trusted_issuer(c: &mut Check, field: &str, t: &TrustedIssuerSpec) -> TrustedIssuer {
    let issuer = https(c, &format!("{field}.issuer"), t.issuer.as_deref());
    let discovery_url = https(c, &format!("{field}.discoveryUrl"), t.discovery_url.as_deref());
    let jwks_uri = https(c, &format!("{field}.jwksUri"), t.jwks_uri.as_deref());
    if let Some(ca) = &t.certificate_authority
        && !ca.contains("-----BEGIN CERTIFICATE-----")
    {
        c.invalid(format!("{field}.certificateAuthority"), "must be a PEM bundle of certificates");
    }
    let source = if t.kubernetes {
        if discovery_url.is_some() {
            c.invalid(
                format!("{field}.discoveryUrl"),
                "not used with kubernetes: true (set jwksUri, or leave both out in a cluster)",
            );
        }
        IssuerSource::Kubernetes { issuer, jwks_uri, ca_bundle: t.certificate_authority.clone() }
    } else {
        let Some(issuer) = issuer else {
            c.invalid(format!("{field}.issuer"), "is required unless kubernetes is true");
            return placeholder();
        };
        IssuerSource::Url { issuer, discovery_url, jwks_uri, ca_bundle: t.certificate_authority.clone() }
    };
    if t.token_review && !t.kubernetes {
        c.invalid(format!("{field}.tokenReview"), "only a Kubernetes issuer can be asked by TokenReview");
    }
    let mut algorithms = Vec::new();
    for (i, a) in t.algorithms.iter().enumerate() {
        match JwsAlgorithm::parse(a) {
            Some(alg) if !algorithms.contains(&alg) => algorithms.push(alg),
            Some(_) => c.invalid(format!("{field}.algorithms[{i}]"), format!("{a} is listed twice")),
            None => c.invalid(
                format!("{field}.algorithms[{i}]"),
                "is not accepted: use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA (never none or an HMAC)",
            ),
        }
    }
    if algorithms.is_empty() {
        algorithms = vec![JwsAlgorithm::RS256, JwsAlgorithm::ES256];
    }
    for (i, s) in t.subjects.iter().enumerate() {
        c.length(&format!("{field}.subjects[{i}]"), s, 1, 512);
    }
    for (i, a) in t.audiences.iter().enumerate() {
        c.length(&format!("{field}.audiences[{i}]"), a, 1, limits::URI);
    }
    let subject_claim = t.claim_mappings.as_ref().and_then(|m| m.subject.clone()).unwrap_or_else(|| "sub".into());
    c.length(&format!("{field}.claimMappings.subject"), &subject_claim, 1, 128);
    let userinfo = https(c, &format!("{field}.userInfoEndpoint"), t.user_info_endpoint.as_deref()).map(|endpoint| {
        UserInfo { endpoint, login_id_field: t.login_id_field.clone().unwrap_or_else(|| "sub".into()) }
    });
    if userinfo.is_none() && t.login_id_field.is_some() {
        c.invalid(format!("{field}.loginIdField"), "only used with userInfoEndpoint");
    }
    let (min, max) = MAX_LIFETIME_RANGE;
    let default_lifetime = if t.kubernetes { DEFAULT_KUBERNETES_MAX_LIFETIME } else { DEFAULT_MAX_LIFETIME };
    let max_lifetime =
        c.duration(&format!("{field}.maxLifetime"), t.max_lifetime.as_deref(), min, max).unwrap_or(default_lifetime);
    TrustedIssuer {
        source,
        algorithms,
        audiences: t.audiences.clone(),
        subjects: t.subjects.clone(),
        subject_claim,
        userinfo,
        token_review: t.token_review,
        max_lifetime,
        reject_replay: t.reject_replay.unwrap_or(!t.kubernetes),
    }
}

/// `spec.federatedCredentials`: used by `federated_jwt` and only by it, and
/// never without subjects (an issuer alone would let any of its subjects act
/// as the client).
fn federated_credentials(c: &mut Check, method: AuthMethod, specs: &[TrustedIssuerSpec]) -> Vec<TrustedIssuer> {
    let field = "spec.federatedCredentials";
    match (method == AuthMethod::FederatedJwt, specs.is_empty()) {
        (true, true) => c.invalid(field, "federated_jwt needs at least one federated credential"),
        (false, false) => c.invalid(field, "is only used with tokenEndpointAuthMethod: federated_jwt"),
        _ => {}
    }
    if specs.len() > 16 {
        c.invalid(field, "at most 16 federated credentials");
    }
    specs
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let field = format!("{field}[{i}]");
            if t.subjects.is_empty() {
                c.invalid(
                    format!("{field}.subjects"),
                    "must name the subjects that may authenticate as this client (an issuer alone would admit all of its subjects)",
                );
            }
            trusted_issuer(c, &field, t)
        })
        .collect()
}

/// Stands in for an issuer whose spec is invalid (the client is rejected anyway).
fn placeholder() -> TrustedIssuer {
    TrustedIssuer {
        source: IssuerSource::Url { issuer: String::new(), discovery_url: None, jwks_uri: None, ca_bundle: None },
        algorithms: vec![],
        audiences: vec![],
        subjects: vec![],
        subject_claim: "sub".into(),
        userinfo: None,
        token_review: false,
        max_lifetime: DEFAULT_MAX_LIFETIME,
        reject_replay: true,
    }
}

#[cfg(test)]
mod tests;
