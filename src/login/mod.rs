//! Logging a person in: checking a static user's password off the async
//! workers, throttling guessers, and deriving the hub's `sub`.
//!
//! `sub` = base64url(SHA-256("keyward-user" 0x00 provider-namespace "/"
//! provider-name 0x00 upstream-name)), 43 characters. Stable across
//! restarts, replicas and re-applying the manifests; different per provider,
//! so two providers cannot mint the same person; and it reveals neither the
//! username nor the provider (docs/people.md).

pub mod password;
pub mod throttle;
pub mod upstream;

use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keyward_core::identity::{CompiledIdentityProvider, User};

pub use password::{Passwords, Verdict};
pub use throttle::Throttle;

/// The hub's subject for `upstream` at `provider`.
pub fn subject(provider: &CompiledIdentityProvider, upstream: &str) -> String {
    let input = format!("keyward-user\0{}/{}\0{upstream}", provider.key.namespace, provider.key.name);
    B64.encode(digest(&SHA256, input.as_bytes()).as_ref())
}

/// The user as the provider describes them now, for a refresh: a static
/// provider's manifest as it is now (`None` if it no longer lists them: the
/// refresh fails); for an upstream provider, the user of the last sign-in with
/// roles from the current `groupRoles` (the upstream is asked again only at
/// the next sign-in).
pub fn current_user(provider: &Arc<CompiledIdentityProvider>, user: &User) -> Option<User> {
    if provider.key.to_string() != user.provider {
        return None;
    }
    if provider.upstream.is_some() {
        return Some(User { roles: provider.roles_of(&user.groups), ..user.clone() });
    }
    static_user(provider, &user.username)
}

/// A static provider's user as its manifest describes `username` now.
pub fn static_user(provider: &Arc<CompiledIdentityProvider>, username: &str) -> Option<User> {
    let account = provider.users.get(username)?;
    let u = &account.user;
    Some(User {
        sub: subject(provider, &u.username),
        provider: provider.key.to_string(),
        username: u.username.clone(),
        name: u.display_name.clone(),
        email: u.email.clone(),
        groups: u.groups.clone(),
        roles: provider.roles_of(&u.groups),
    })
}
