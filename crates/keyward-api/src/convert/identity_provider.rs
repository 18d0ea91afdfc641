//! `IdentityProvider` → `keyward_core::model::IdentityProvider`: every field
//! check of the kind. Whether the password Secret exists is compile's.

use std::collections::BTreeMap;

use keyward_core::model::{self, StaticUser, UserSource};

use super::{Check, Invalid, is_role};
use crate::v1alpha1::common::limits;
use crate::v1alpha1::{IdentityProvider, IdentityProviderType};

impl TryFrom<&IdentityProvider> for model::IdentityProvider {
    type Error = Invalid;

    fn try_from(obj: &IdentityProvider) -> Result<Self, Invalid> {
        let mut c = Check::default();
        let meta = c.meta(&obj.metadata);
        let spec = &obj.spec;
        c.length("spec.displayName", &spec.display_name, 1, limits::DISPLAY_NAME);

        let source = match spec.provider_type {
            IdentityProviderType::Static => {
                let Some(s) = &spec.static_users else {
                    c.invalid("spec.static", "a static IdentityProvider needs spec.static");
                    return Err(Invalid(c.problems));
                };
                c.object_name("spec.static.passwordSecret", &s.password_secret);
                if s.users.is_empty() {
                    c.invalid("spec.static.users", "must list at least one user");
                }
                c.max_items("spec.static.users", s.users.len(), limits::STATIC_USERS);
                let mut users = Vec::with_capacity(s.users.len());
                for (i, u) in s.users.iter().enumerate() {
                    let field = format!("spec.static.users[{i}]");
                    if c.length(&format!("{field}.username"), &u.username, 1, limits::USERNAME)
                        && !is_username(&u.username)
                    {
                        c.invalid(
                            format!("{field}.username"),
                            "is not a valid username: use letters, digits, '.', '_' and '-' (it is also the key of the password Secret)",
                        );
                    }
                    if let Some(first) = s.users[..i].iter().position(|x| x.username == u.username) {
                        c.invalid(
                            format!("{field}.username"),
                            format!("is listed twice (first at spec.static.users[{first}])"),
                        );
                    }
                    c.optional_text(&format!("{field}.displayName"), u.display_name.as_deref(), limits::DISPLAY_NAME);
                    if let Some(e) = &u.email
                        && c.length(&format!("{field}.email"), e, 3, limits::EMAIL)
                        && !is_email(e)
                    {
                        c.invalid(format!("{field}.email"), "is not an email address (local@domain)");
                    }
                    roles(&mut c, &format!("{field}.groups"), &u.groups);
                    users.push(StaticUser {
                        username: u.username.clone(),
                        display_name: u.display_name.clone(),
                        email: u.email.clone(),
                        groups: u.groups.clone(),
                    });
                }
                UserSource::Static { password_secret: s.password_secret.clone(), users }
            }
            IdentityProviderType::Oidc => {
                let Some(o) = &spec.oidc else {
                    c.invalid("spec.oidc", "an oidc IdentityProvider needs spec.oidc");
                    return Err(Invalid(c.problems));
                };
                if c.length("spec.oidc.issuer", &o.issuer, 1, limits::URI)
                    && !(super::is_https_url(&o.issuer) || super::is_loopback_http_url(&o.issuer))
                {
                    c.invalid("spec.oidc.issuer", "is not an https URL (http only for a loopback issuer)");
                }
                if o.issuer.contains(['?', '#']) {
                    c.invalid("spec.oidc.issuer", "must have no query or fragment (OpenID Discovery section 2)");
                }
                c.length("spec.oidc.clientId", &o.client_id, 1, limits::CLIENT_ID);
                c.object_name("spec.oidc.clientSecret.name", &o.client_secret.name);
                let key = o.client_secret.key.clone().unwrap_or_else(|| "client_secret".to_owned());
                if !is_username(&key) {
                    c.invalid("spec.oidc.clientSecret.key", "is not a Secret key: letters, digits, '.', '_' and '-'");
                }
                c.scope_list("spec.oidc.scopes", &o.scopes, 16);
                let scopes = if o.scopes.is_empty() {
                    vec!["openid".to_owned(), "profile".to_owned(), "email".to_owned()]
                } else {
                    o.scopes.clone()
                };
                if !scopes.iter().any(|s| s == "openid") {
                    c.invalid("spec.oidc.scopes", "must include openid: the hub signs users in with the ID token");
                }
                let claims = o.claims.clone().unwrap_or_default();
                for (field, v) in [
                    ("subject", &claims.subject),
                    ("username", &claims.username),
                    ("email", &claims.email),
                    ("name", &claims.name),
                    ("groups", &claims.groups),
                ] {
                    if let Some(v) = v {
                        c.length(&format!("spec.oidc.claims.{field}"), v, 1, 128);
                    }
                }
                if let Some(ca) = &o.certificate_authority
                    && !ca.contains("-----BEGIN CERTIFICATE-----")
                {
                    c.invalid("spec.oidc.certificateAuthority", "is not PEM (-----BEGIN CERTIFICATE-----)");
                }
                UserSource::Oidc(Box::new(model::Upstream {
                    issuer: o.issuer.clone(),
                    client_id: o.client_id.clone(),
                    client_secret: (o.client_secret.name.clone(), key),
                    scopes,
                    subject_claim: claims.subject.unwrap_or_else(|| "sub".to_owned()),
                    username_claim: claims.username,
                    email_claim: claims.email.unwrap_or_else(|| "email".to_owned()),
                    name_claim: claims.name.unwrap_or_else(|| "name".to_owned()),
                    groups_claim: claims.groups,
                    certificate_authority: o.certificate_authority.clone(),
                }))
            }
        };

        c.max_items("spec.groupRoles", spec.group_roles.len(), limits::ROLES);
        let mut group_roles = BTreeMap::new();
        for (i, g) in spec.group_roles.iter().enumerate() {
            let field = format!("spec.groupRoles[{i}]");
            if c.length(&format!("{field}.group"), &g.group, 1, limits::ROLE) && !is_role(&g.group) {
                c.invalid(format!("{field}.group"), "is not a valid group: printable ASCII without spaces");
            }
            if g.roles.is_empty() {
                c.invalid(format!("{field}.roles"), "must list at least one role");
            }
            roles(&mut c, &format!("{field}.roles"), &g.roles);
            if group_roles.insert(g.group.clone(), g.roles.clone()).is_some() {
                c.invalid(format!("{field}.group"), "is listed twice: merge the roles into one entry");
            }
        }

        c.finish(model::IdentityProvider { meta, display_name: spec.display_name.clone(), source, group_roles })
    }
}

fn roles(c: &mut Check, field: &str, roles: &[String]) {
    c.max_items(field, roles.len(), limits::ROLES);
    for (j, r) in roles.iter().enumerate() {
        let f = format!("{field}[{j}]");
        if c.length(&f, r, 1, limits::ROLE) && !is_role(r) {
            c.invalid(f, "printable ASCII without spaces");
        }
    }
    c.unique(field, roles);
}

/// The twin of `patterns::USERNAME`.
pub(crate) fn is_username(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Deliberately loose (RFC 5322 is not a regular language): one `@` with
/// something on both sides and a dot in the domain, printable ASCII.
fn is_email(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_graphic())
        && s.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.contains('@'))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn parse(yaml: &str) -> Result<model::IdentityProvider, Invalid> {
        let obj: IdentityProvider = serde_yaml::from_str(yaml).unwrap();
        model::IdentityProvider::try_from(&obj)
    }

    const HEAD: &str =
        "apiVersion: keyward.dev/v1alpha1\nkind: IdentityProvider\nmetadata: {name: demo, namespace: id}\n";

    #[test]
    fn a_static_provider_converts() {
        let p = parse(&format!(
            "{HEAD}spec:\n  type: static\n  displayName: Demo\n  static:\n    passwordSecret: demo-passwords\n    users:\n    - {{username: alice, email: alice@example.com, groups: [ops]}}\n  groupRoles:\n  - {{group: ops, roles: [admin]}}\n"
        ))
        .unwrap();
        let UserSource::Static { password_secret, users } = &p.source else { panic!("not static") };
        assert_eq!((password_secret.as_str(), users[0].username.as_str()), ("demo-passwords", "alice"));
        assert_eq!(p.group_roles["ops"], ["admin"]);
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let e = parse(&format!(
            "{HEAD}spec:\n  type: static\n  displayName: ''\n  static:\n    passwordSecret: Bad_Name\n    users:\n    - {{username: 'a b', email: nope}}\n    - {{username: 'a b'}}\n  groupRoles:\n  - {{group: ops, roles: []}}\n  - {{group: ops, roles: [x]}}\n"
        ))
        .unwrap_err();
        let fields: Vec<_> = e.problems().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.displayName",
                "spec.static.passwordSecret",
                "spec.static.users[0].username",
                "spec.static.users[0].email",
                "spec.static.users[1].username",
                "spec.static.users[1].username",
                "spec.groupRoles[0].roles",
                "spec.groupRoles[1].group",
            ]
        );
    }

    #[test]
    fn an_oidc_provider_converts_with_its_defaults_and_refuses_what_cannot_work() {
        let p = parse(&format!(
            "{HEAD}spec:\n  type: oidc\n  displayName: Corp\n  oidc:\n    issuer: https://login.example.com\n    clientId: hub\n    clientSecret: {{name: corp}}\n"
        ))
        .unwrap();
        let UserSource::Oidc(up) = &p.source else { panic!("not oidc") };
        assert_eq!(up.scopes, ["openid", "profile", "email"]);
        assert_eq!(up.client_secret, ("corp".to_owned(), "client_secret".to_owned()));
        assert_eq!((up.subject_claim.as_str(), up.username_claim.as_deref()), ("sub", None));
        let e = parse(&format!(
            "{HEAD}spec:\n  type: oidc\n  displayName: Corp\n  oidc:\n    issuer: http://login.example.com/?x\n    clientId: hub\n    clientSecret: {{name: corp, key: 'a b'}}\n    scopes: [profile]\n    certificateAuthority: nope\n"
        ))
        .unwrap_err();
        let fields: Vec<_> = e.problems().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "spec.oidc.issuer",
                "spec.oidc.issuer",
                "spec.oidc.clientSecret.key",
                "spec.oidc.scopes",
                "spec.oidc.certificateAuthority"
            ]
        );
        let e = parse(&format!("{HEAD}spec:\n  type: oidc\n  displayName: Corp\n")).unwrap_err();
        assert_eq!(e.problems()[0].field, "spec.oidc");
    }
}
