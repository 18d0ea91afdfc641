//! Users' consents: listing and revoking them on any records store. Used by
//! `POST /admin/consents` (a running hub's own store) and by `keyward
//! consents --cluster` (the cluster's records, straight from the API).
//! Revoking deletes the consent record: every refresh token resting on it
//! fails at its next use, and the client is left as it is.

use keyward_core::UnixTime;
use keyward_core::sessions::{self, Consent};
use keyward_core::store::{RecordKind, Records, StoreError};
use serde::Serialize;

use crate::secret_digest::handle_digest;

/// The most consents one call lists.
pub const MAX_LISTED: usize = 1000;

#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub sub: Option<String>,
    pub client: Option<String>,
    pub resource: Option<String>,
}

/// A consent as `keyward consents list` shows it.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConsentView {
    pub sub: String,
    pub username: String,
    pub provider: String,
    pub client: String,
    /// The client's incarnation the consent was given to (a client deleted
    /// and created again is another client: its old consents count for nothing).
    pub incarnation: String,
    pub resource: String,
    pub scopes: Vec<String>,
    pub openid: Vec<String>,
    pub granted_at: u64,
    pub implicit: bool,
}

pub async fn list(records: &dyn Records, f: &Filter, now: UnixTime) -> Result<Vec<ConsentView>, StoreError> {
    let index = f.sub.as_deref().map(handle_digest);
    let all = records.list(RecordKind::Consent, index.as_deref(), now, MAX_LISTED).await?;
    let mut out: Vec<ConsentView> = all
        .into_iter()
        .filter_map(|(_, s)| serde_json::from_slice::<Consent>(&s.record.value).ok())
        .filter(|c| f.client.as_ref().is_none_or(|id| *id == c.client_id))
        .filter(|c| f.resource.as_ref().is_none_or(|r| *r == c.resource))
        .map(|c| ConsentView {
            sub: c.user.sub,
            username: c.user.username,
            provider: c.user.provider,
            client: c.client_id,
            incarnation: c.incarnation,
            resource: c.resource,
            scopes: c.scopes,
            openid: c.openid,
            granted_at: c.granted_at,
            implicit: c.implicit,
        })
        .collect();
    out.sort_by(|a, b| (&a.username, &a.client, &a.resource).cmp(&(&b.username, &b.client, &b.resource)));
    Ok(out)
}

/// Revokes `sub`'s consents to `client` (one resource, or all of them);
/// returns the resources revoked.
pub async fn revoke(
    records: &dyn Records,
    sub: &str,
    client: &str,
    resource: Option<&str>,
    now: UnixTime,
) -> Result<Vec<String>, StoreError> {
    let resources: Vec<String> = match resource {
        Some(r) => vec![r.to_owned()],
        None => {
            let f = Filter { sub: Some(sub.to_owned()), client: Some(client.to_owned()), resource: None };
            list(records, &f, now).await?.into_iter().map(|c| c.resource).collect()
        }
    };
    let mut revoked = Vec::new();
    for r in resources {
        let key = handle_digest(&sessions::consent_key(sub, client, &r));
        if records.delete(RecordKind::Consent, &key).await? {
            revoked.push(r);
        }
    }
    Ok(revoked)
}

/// One line per consent, for a terminal.
pub fn table(consents: &[ConsentView], live: impl Fn(&ConsentView) -> Option<bool>) -> String {
    let mut out = format!("{:<16} {:<24} {:<40} {:<8} {}\n", "USER", "CLIENT", "RESOURCE", "GIVEN", "SCOPES");
    for c in consents {
        let how = match (c.implicit, live(c)) {
            (_, Some(false)) => "deleted",
            (true, _) => "skipped",
            (false, _) => "user",
        };
        let scopes: Vec<&str> = c.scopes.iter().chain(c.openid.iter()).map(String::as_str).collect();
        out.push_str(&format!(
            "{:<16} {:<24} {:<40} {:<8} {}\n",
            c.username,
            c.client,
            c.resource,
            how,
            scopes.join(" ")
        ));
    }
    out
}
