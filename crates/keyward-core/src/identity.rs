//! People: identity providers as the snapshot holds them, and the user a login
//! produced. The hub keeps no user table — a user is what a provider vouched
//! for at login: a stable `sub` (derived at the edge from the provider and the
//! upstream name, `docs/people.md`), the profile claims and the roles its
//! groups map to.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::model::{IdentityProvider, Kind, ObjectKey, StaticUser, UserSource};
use crate::status::{ObjectStatus, Problem, Reason};

/// A provider ready for logins.
#[derive(Debug)]
pub struct CompiledIdentityProvider {
    pub key: ObjectKey,
    pub display_name: String,
    /// `static`: the users who can sign in.
    pub users: HashMap<String, StaticAccount>,
    /// `oidc`: the upstream and the hub's client secret there.
    pub upstream: Option<(crate::model::Upstream, String)>,
    pub group_roles: BTreeMap<String, Vec<String>>,
}

/// A static user and the hash of its password (PHC form).
#[derive(Debug)]
pub struct StaticAccount {
    pub user: StaticUser,
    pub password_hash: String,
}

impl CompiledIdentityProvider {
    /// The roles of a member of `groups`, sorted and without duplicates.
    pub fn roles_of(&self, groups: &[String]) -> Vec<String> {
        let mut roles: Vec<String> = groups.iter().filter_map(|g| self.group_roles.get(g)).flatten().cloned().collect();
        roles.sort();
        roles.dedup();
        roles
    }
}

/// Who logged in, as every later step (consent, code, refresh, ID token)
/// carries it. Serialized into the store's records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The hub's subject for this person (stable per provider and upstream name).
    pub sub: String,
    /// `namespace/name` of the provider that vouched for the user.
    pub provider: String,
    pub username: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// Where an upstream sends users back, under the issuer: what an `oidc`
/// provider's `status.callbackURL` shows and the operator registers upstream.
pub fn callback_path(key: &ObjectKey) -> String {
    format!("/callback/{}/{}", key.namespace, key.name)
}

/// Whether a password hash is one the edge can check (PHC argon2id, or
/// bcrypt's modular crypt form). Anything else would never match: refusing it
/// at compile tells the operator instead of failing every login.
pub fn is_supported_hash(h: &str) -> bool {
    h.starts_with("$argon2id$") || ["$2a$", "$2b$", "$2y$"].iter().any(|p| h.starts_with(p))
}

/// Compiles the providers: each one's password Secret must be there; a user
/// without a usable hash is a warning (that user cannot log in, the others can).
pub fn compile_providers(
    providers: &[IdentityProvider],
    passwords: &HashMap<ObjectKey, BTreeMap<String, String>>,
    statuses: &mut Vec<ObjectStatus>,
) -> HashMap<ObjectKey, std::sync::Arc<CompiledIdentityProvider>> {
    let mut out = HashMap::new();
    let mut seen = HashSet::new();
    for p in providers {
        let mut st = ObjectStatus {
            kind: Kind::IdentityProvider,
            key: p.meta.key.clone(),
            generation: p.meta.generation,
            problems: Vec::new(),
            warnings: Vec::new(),
            client_id: None,
        };
        if !seen.insert(&p.meta.key) {
            st.problems.push(Problem::new(
                Reason::DuplicateName,
                "metadata.name",
                format!("another IdentityProvider is named {}", p.meta.key),
            ));
            statuses.push(st);
            continue;
        }
        let (password_secret, users) = match &p.source {
            UserSource::Static { password_secret, users } => (password_secret, users),
            UserSource::Oidc(up) => {
                let (name, key) = &up.client_secret;
                let secret_key = ObjectKey::new(p.meta.key.namespace.clone(), name.clone());
                match passwords.get(&secret_key).and_then(|s| s.get(key)) {
                    Some(secret) if !secret.is_empty() => {
                        out.insert(
                            p.meta.key.clone(),
                            std::sync::Arc::new(CompiledIdentityProvider {
                                key: p.meta.key.clone(),
                                display_name: p.display_name.clone(),
                                users: HashMap::new(),
                                upstream: Some(((**up).clone(), secret.clone())),
                                group_roles: p.group_roles.clone(),
                            }),
                        );
                    }
                    _ => st.problems.push(Problem::new(
                        Reason::SecretPending,
                        "spec.oidc.clientSecret",
                        format!("Secret {secret_key} with key {key} is not available"),
                    )),
                }
                statuses.push(st);
                continue;
            }
        };
        let secret_key = ObjectKey::new(p.meta.key.namespace.clone(), password_secret.clone());
        let Some(hashes) = passwords.get(&secret_key) else {
            st.problems.push(Problem::new(
                Reason::SecretPending,
                "spec.static.passwordSecret",
                format!("Secret {secret_key} is not available"),
            ));
            statuses.push(st);
            continue;
        };
        let mut accounts = HashMap::with_capacity(users.len());
        for (i, u) in users.iter().enumerate() {
            match hashes.get(&u.username) {
                Some(h) if is_supported_hash(h) => {
                    accounts.insert(
                        u.username.clone(),
                        StaticAccount { user: u.clone(), password_hash: h.clone() },
                    );
                }
                Some(_) => st.warnings.push(format!(
                    "spec.static.users[{i}]: the Secret's value for this user is not an argon2id or bcrypt hash, so the user cannot log in"
                )),
                None => st.warnings.push(format!(
                    "spec.static.users[{i}]: the Secret has no key for this user, so the user cannot log in"
                )),
            }
        }
        let extra = hashes.keys().filter(|k| !users.iter().any(|u| &u.username == *k)).count();
        if extra > 0 {
            st.warnings.push(format!("the password Secret has {extra} key(s) that name no user in spec.static.users"));
        }
        out.insert(
            p.meta.key.clone(),
            std::sync::Arc::new(CompiledIdentityProvider {
                key: p.meta.key.clone(),
                display_name: p.display_name.clone(),
                users: accounts,
                upstream: None,
                group_roles: p.group_roles.clone(),
            }),
        );
        statuses.push(st);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::Meta;

    fn provider(users: &[&str]) -> IdentityProvider {
        IdentityProvider {
            meta: Meta { key: ObjectKey::new("id", "demo"), ..Meta::default() },
            display_name: "Demo".into(),
            source: UserSource::Static {
                password_secret: "demo-passwords".into(),
                users: users
                    .iter()
                    .map(|u| StaticUser {
                        username: (*u).into(),
                        display_name: None,
                        email: None,
                        groups: vec!["ops".into(), "dev".into()],
                    })
                    .collect(),
            },
            group_roles: BTreeMap::from([
                ("ops".into(), vec!["admin".into(), "reader".into()]),
                ("dev".into(), vec!["reader".into()]),
            ]),
        }
    }

    #[test]
    fn users_without_a_usable_hash_are_warned_about_and_left_out() {
        let secret = BTreeMap::from([
            ("alice".to_owned(), "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
            ("bob".to_owned(), "hunter2".to_owned()),
            ("zed".to_owned(), "$2b$10$abc".to_owned()),
        ]);
        let passwords = HashMap::from([(ObjectKey::new("id", "demo-passwords"), secret)]);
        let mut statuses = Vec::new();
        let out = compile_providers(&[provider(&["alice", "bob", "carol"])], &passwords, &mut statuses);
        let p = &out[&ObjectKey::new("id", "demo")];
        assert_eq!(p.users.keys().collect::<Vec<_>>(), ["alice"]);
        assert!(statuses[0].problems.is_empty());
        assert_eq!(
            statuses[0].warnings,
            [
                "spec.static.users[1]: the Secret's value for this user is not an argon2id or bcrypt hash, so the user cannot log in",
                "spec.static.users[2]: the Secret has no key for this user, so the user cannot log in",
                "the password Secret has 1 key(s) that name no user in spec.static.users",
            ]
        );
        assert_eq!(p.roles_of(&["dev".into(), "ops".into(), "x".into()]), ["admin", "reader"]);
    }

    #[test]
    fn a_missing_password_secret_makes_the_provider_not_ready() {
        let mut statuses = Vec::new();
        let out = compile_providers(&[provider(&["alice"])], &HashMap::new(), &mut statuses);
        assert!(out.is_empty());
        assert_eq!(statuses[0].problems[0].reason, Reason::SecretPending);
        assert_eq!(statuses[0].problems[0].field, "spec.static.passwordSecret");
    }
}
