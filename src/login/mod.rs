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

/// The user as the provider describes `username` now; `None` if it no longer
/// lists them (a refresh for a removed user fails).
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
