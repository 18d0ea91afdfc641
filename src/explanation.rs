//! Why a token request gets the scopes it gets, from a compiled snapshot: the
//! catalog, the association, every policy that selects the client and
//! resource with whether it applied (and why not), and the rule behind every
//! scope. Shared by `POST /admin/explain` (the snapshot the hub serves) and
//! `keyward explain` (`explain.rs`, which loads one); it loads nothing itself.

use keyward_core::error::echo;
use keyward_core::grant::Grant;
use keyward_core::grant::client_credentials::{ClientCredentialsRequest, client_credentials};
use keyward_core::grant::common::target;
use keyward_core::grant::jwt_bearer::{Asserted, JwtBearerRequest, jwt_bearer, subject_allowed};
use keyward_core::grant::token_exchange::{ExchangeRequest, PresentedToken, exchange};
use keyward_core::model::{GrantType, ObjectKey};
use keyward_core::policy::{self, DecisionInput, Explanation, PolicyOutcome, Removal, Verdict};
use keyward_core::scope::parse_scope_param;
use keyward_core::snapshot::HubSnapshot;
use keyward_core::{OAuthError, UnixTime};
use serde_json::{Value, json};

/// The tag an OAuthClient needs to call the admin endpoints.
pub const ADMIN_TAG: &str = "keyward-admin";

/// A token request to explain.
#[derive(Clone, Debug)]
pub struct Query {
    /// The client id.
    pub client: String,
    /// The `resource` (an identifier); `None` as a request without one.
    pub resource: Option<String>,
    /// The `scope` parameter; `None` asks for the default.
    pub scope: Option<String>,
    pub grant: GrantType,
    pub subject: Option<String>,
    pub roles: Vec<String>,
    pub tenant: Option<String>,
    pub now: UnixTime,
}

impl Query {
    /// `--grant` / `grant`: the manifest spelling.
    pub fn parse_grant(s: &str) -> Result<GrantType, String> {
        GrantType::from_manifest_name(s).ok_or_else(|| {
            format!(
                "unknown grant '{}': use clientCredentials, jwtBearer, tokenExchange, authorizationCode, refreshToken or ciba",
                echo(s)
            )
        })
    }

    /// Roles as given on a command line or in a form: separated by commas
    /// and/or spaces.
    pub fn split_roles<'a>(items: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        items.into_iter().flat_map(|s| s.split([',', ' '])).filter(|r| !r.is_empty()).map(str::to_owned).collect()
    }
}

/// What a token request would get, and why.
#[derive(Debug)]
pub struct Report {
    pub client_id: String,
    pub client: ObjectKey,
    pub query: Query,
    /// The tenant the decision used (a client pinned to one tenant acts for it).
    pub tenant: Option<String>,
    pub resource: Option<ResourceFacts>,
    /// The client's `spec.resources` entry for the resource.
    pub association: Option<Vec<String>>,
    /// What the token endpoint would answer instead of a token.
    pub refused: Option<OAuthError>,
    pub notes: Vec<String>,
    pub explanation: Option<Explanation>,
    pub granted: Vec<String>,
}

#[derive(Debug)]
pub struct ResourceFacts {
    pub identifier: String,
    pub key: ObjectKey,
    pub catalog: Vec<String>,
}

/// The reason a query cannot be explained at all (not a refusal: the token
/// endpoint would not even know whom it talks to).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(pub String);

/// Explains `q` against a snapshot. `Err` only when the client is unknown.
///
/// The grant's own core function decides, exactly as `/token` calls it, with
/// an [`Explanation`] as its trace: the refusals, the tenant, the target and
/// the verdicts are the token endpoint's. Only what a request would present
/// (an assertion, a subject token) is stood in for by the query's subject,
/// roles and tenant.
pub fn explain(hub: &HubSnapshot, q: &Query) -> Result<Report, QueryError> {
    let client = hub.client(&q.client).ok_or_else(|| {
        QueryError(format!("unknown client '{}': no Ready OAuthClient has this client id", echo(&q.client)))
    })?;
    let mut report = Report {
        client_id: client.client_id.to_string(),
        client: client.key.clone(),
        query: q.clone(),
        tenant: q.tenant.clone(),
        resource: None,
        association: None,
        refused: None,
        notes: Vec::new(),
        explanation: None,
        granted: Vec::new(),
    };
    let resources: Vec<&str> = q.resource.as_deref().into_iter().collect();
    let mut trace = Explanation { defaulted: q.scope.is_none(), ..Explanation::default() };
    let asserted = Asserted { subject: q.subject.clone().unwrap_or_default(), roles: q.roles.clone() };
    let presented = PresentedToken {
        sub: q.subject.clone().unwrap_or_else(|| client.client_id.to_string()),
        roles: q.roles.clone(),
        tenant: q.tenant.clone(),
        ..PresentedToken::default()
    };
    let decided: Option<Result<Grant<'_>, OAuthError>> = match q.grant {
        GrantType::ClientCredentials => {
            if q.subject.is_some() || !q.roles.is_empty() {
                report.notes.push(
                    "client_credentials tokens have no subject besides the client: the subject and roles given are ignored"
                        .into(),
                );
            }
            let req = ClientCredentialsRequest {
                scope: q.scope.as_deref(),
                resources: resources.clone(),
                tenant: q.tenant.as_deref(),
            };
            Some(client_credentials(hub, client, &req, q.now, &mut trace))
        }
        GrantType::JwtBearer => {
            let req = JwtBearerRequest { assertion: "", scope: q.scope.as_deref(), resources: resources.clone() };
            match (&client.jwt_bearer, q.subject.as_deref()) {
                (None, _) => Some(jwt_bearer(hub, client, &req, &asserted, q.now, &mut trace)),
                (Some(_), None) => {
                    report.notes.push("a JWT bearer assertion always has a subject: give --subject".into());
                    None
                }
                (Some(jb), Some(s)) => {
                    report.notes.push(
                        "the assertion itself (issuer, signature, audience, lifetime) is not checked here".into(),
                    );
                    if jb.trusted_issuers.iter().any(|t| subject_allowed(t, s)) {
                        Some(jwt_bearer(hub, client, &req, &asserted, q.now, &mut trace))
                    } else {
                        Some(Err(OAuthError::new(
                            keyward_core::ErrorCode::InvalidGrant,
                            format!("no trusted issuer of this client accepts the subject '{}'", echo(s)),
                        )))
                    }
                }
            }
        }
        GrantType::TokenExchange => {
            if client.token_exchange.is_some() {
                report.notes.push(
                    "the subject token itself is not checked here: the subject, roles and tenant given stand for its claims"
                        .into(),
                );
            }
            let req = ExchangeRequest {
                scope: q.scope.as_deref(),
                resources: resources.clone(),
                ..ExchangeRequest::default()
            };
            Some(exchange(hub, client, &presented, None, &req, q.now, &mut trace))
        }
        GrantType::AuthorizationCode | GrantType::RefreshToken => match (&client.authorization_code, &q.subject) {
            (None, _) => {
                Some(Err(OAuthError::unauthorized_client("authorization_code is not enabled for this client")))
            }
            (Some(_), None) => {
                report
                    .notes
                    .push("a user grant always has a subject: give --subject (the user's sub) and --roles".into());
                None
            }
            (Some(_), Some(sub)) => {
                report.notes.push(
                    "the sign-in and the consent are not checked here: the subject and roles given stand for the user"
                        .into(),
                );
                match target(hub, client, &resources) {
                    Err(e) => Some(Err(e)),
                    Ok(a) => {
                        let ids = [a.resource.identifier.to_string()];
                        match keyward_core::grant::authorize::decide_for_user(
                            client,
                            &ids,
                            q.scope.as_deref(),
                            sub,
                            &q.roles,
                            q.grant,
                            q.now,
                            &mut trace,
                        ) {
                            Ok(d) => {
                                report.granted = d.into_iter().flat_map(|(_, s)| s).collect();
                                None
                            }
                            Err(e) => Some(Err(e)),
                        }
                    }
                }
            }
        },
        other => Some(Err(OAuthError::new(
            keyward_core::ErrorCode::UnsupportedGrantType,
            format!("{} is not served by this hub yet; the policies' decision is shown anyway", other.manifest_name()),
        ))),
    };
    match decided {
        Some(Ok(g)) => {
            report.tenant = g.tenant.map(str::to_owned);
            report.granted = g.scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect();
        }
        Some(Err(e)) => report.refused = Some(e),
        None => {}
    }

    // The target Resource (RFC 8707), as every grant picks it.
    let assoc = match target(hub, client, &resources) {
        Ok(a) => a,
        Err(e) => {
            report.refused.get_or_insert(e);
            return Ok(report);
        }
    };
    let resource = &assoc.resource;
    report.resource = Some(ResourceFacts {
        identifier: resource.identifier.to_string(),
        key: resource.key.clone(),
        catalog: resource.catalog.iter().map(|s| s.name.clone()).collect(),
    });
    report.association = Some(assoc.scopes.iter().map(|s| s.to_string()).collect());

    // A grant that refused before its decision leaves the trace empty: show
    // what the policies alone would decide.
    if trace.policies.is_empty() && trace.verdicts.is_empty() {
        let Ok(requested) = q.scope.as_deref().map(parse_scope_param).transpose() else {
            return Ok(report);
        };
        let roles: Vec<&str> = q.roles.iter().map(String::as_str).collect();
        let input = DecisionInput {
            requested: requested.as_deref(),
            grant: q.grant,
            tenant: report.tenant.as_deref(),
            subject: if q.grant == GrantType::ClientCredentials { None } else { q.subject.as_deref() },
            roles: if q.grant == GrantType::ClientCredentials { &[] } else { &roles },
            now: q.now,
        };
        trace = policy::explain(assoc, &input);
    }
    if report.refused.is_some() {
        report.granted.clear();
    }
    report.explanation = Some(trace);
    Ok(report)
}

impl Report {
    /// The token endpoint would issue a token with at least one scope.
    pub fn granted_anything(&self) -> bool {
        !self.granted.is_empty()
    }

    pub fn to_json(&self) -> Value {
        let e = self.explanation.as_ref();
        let policies: Vec<Value> = e
            .map(|e| {
                e.policies
                    .iter()
                    .map(|p| {
                        let (outcome, reason) = match &p.outcome {
                            PolicyOutcome::Applied => ("applied", Value::Null),
                            PolicyOutcome::Skipped(why) => ("skipped", json!(why.to_string())),
                            PolicyOutcome::FailedClosed { error } => ("failedClosed", json!(error)),
                        };
                        json!({
                            "policy": p.key.to_string(),
                            "effect": p.effect.as_str(),
                            "scopes": p.scopes,
                            "outcome": outcome,
                            "reason": reason,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let scopes: Vec<Value> = e
            .map(|e| {
                e.verdicts
                    .iter()
                    .map(|(scope, v)| match v {
                        Verdict::Granted { allowed_by } => json!({
                            "scope": scope,
                            "granted": true,
                            "rule": if allowed_by.is_empty() { "association" } else { "allowed" },
                            "policies": keys(allowed_by),
                        }),
                        Verdict::Removed(r) => {
                            let (rule, policies) = match r {
                                Removal::NotInCatalog => ("notInCatalog", vec![]),
                                Removal::NotAssociated => ("notAssociated", vec![]),
                                Removal::NotAllowed { applicable_allow } => ("notAllowed", keys(applicable_allow)),
                                Removal::Denied { by } => ("denied", vec![by.to_string()]),
                                Removal::NoRole { roles } => ("noRole", roles.clone()),
                            };
                            json!({"scope": scope, "granted": false, "rule": rule, "policies": policies})
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        json!({
            "client": {"id": self.client_id, "namespace": self.client.namespace, "name": self.client.name},
            "resource": self.resource.as_ref().map(|r| json!({
                "identifier": r.identifier,
                "namespace": r.key.namespace,
                "name": r.key.name,
                "catalog": r.catalog,
            })),
            "request": {
                "grant": self.query.grant.manifest_name(),
                "tenant": self.tenant,
                "subject": self.query.subject,
                "roles": self.query.roles,
                "scope": self.query.scope,
                "time": self.query.now.0,
            },
            "association": self.association,
            "defaulted": e.is_some_and(|e| e.defaulted),
            "policies": policies,
            "scopes": scopes,
            "refused": self.refused.as_ref().map(|r| json!({"error": r.code.as_str(), "error_description": r.description})),
            "notes": self.notes,
            "granted": self.granted,
        })
    }
}

fn keys(k: &[ObjectKey]) -> Vec<String> {
    k.iter().map(ToString::to_string).collect()
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = &self.query;
        writeln!(f, "client       {} (OAuthClient {})", self.client_id, self.client)?;
        match &self.resource {
            Some(r) => writeln!(f, "resource     {} (Resource {})", r.identifier, r.key)?,
            None => writeln!(f, "resource     {}", q.resource.as_deref().unwrap_or("(none given)"))?,
        }
        let subject = match (q.grant, q.subject.as_deref()) {
            (GrantType::ClientCredentials, _) | (_, None) => "the client itself".to_owned(),
            (_, Some(s)) => s.to_owned(),
        };
        writeln!(
            f,
            "request      grant {}, tenant {}, subject {}, roles {}",
            q.grant.manifest_name(),
            self.tenant.as_deref().unwrap_or("(none)"),
            subject,
            if q.roles.is_empty() { "(none)".to_owned() } else { q.roles.join(" ") },
        )?;
        writeln!(f, "scope        {}", q.scope.as_deref().unwrap_or("(none: the client's whole association)"))?;
        if let Some(r) = &self.resource {
            writeln!(f, "catalog      {}", r.catalog.join(" "))?;
        }
        if let Some(a) = &self.association {
            writeln!(
                f,
                "association  {} (the client's spec.resources entry)",
                if a.is_empty() { "(no scopes: an audience-only token)".to_owned() } else { a.join(" ") }
            )?;
        }
        if let Some(e) = &self.explanation {
            if e.policies.is_empty() {
                writeln!(f, "policies     none select this client and resource")?;
            }
            write!(f, "{e}")?;
        }
        for n in &self.notes {
            writeln!(f, "note         {n}")?;
        }
        if let Some(r) = &self.refused {
            writeln!(f, "refused      {}: {}", r.code.as_str(), r.description)?;
            if self.explanation.is_some() {
                writeln!(f, "             (no token: the verdicts above are what the policies alone would decide)")?;
            }
        }
        if self.granted.is_empty() {
            writeln!(f, "granted      nothing")
        } else {
            writeln!(f, "granted      {}", self.granted.join(" "))
        }
    }
}
