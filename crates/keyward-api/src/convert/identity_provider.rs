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
    #![allow(clippy::unwrap_used)]
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
        let UserSource::Static { password_secret, users } = &p.source;
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
}
