//! `keyward clients list`: every client a `keyward serve` hub knows, those
//! of the manifests and those that registered themselves (kept in the state
//! directory), with where each came from. In a cluster the same list is
//! `kubectl get oauthclients -A` (the ORIGIN column). Writes nothing.

use std::path::PathBuf;

use keyward_core::compile;
use keyward_core::model::Kind;
use keyward_core::snapshot::{HubSettings, Lifetimes, Runtime};

use crate::sources::ClientRef;
use crate::sources::credentials::Outcome;
use crate::sources::{assemble, folder::Folder};

pub struct ListOptions {
    pub manifests: PathBuf,
    pub state_dir: PathBuf,
    pub namespace: String,
}

pub fn list(opts: &ListOptions, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let mut folder =
        Folder::new(&opts.manifests, &opts.namespace).with_extra(opts.state_dir.join(crate::registration::folder::DIR));
    folder.scan()?;
    let settings = HubSettings {
        issuer: "https://keyward.invalid".into(),
        defaults: Lifetimes::default(),
        runtime: Runtime::Folder,
    };
    // Whether a secret exists is `keyward check`'s business, not this list's.
    let placeholder = |_: &ClientRef<'_>| {
        let digest = crate::secret_digest::digest_secret(b"placeholder");
        Ok((keyward_core::secret::ClientSecrets::single(digest), Outcome::Existing))
    };
    let loaded = assemble(&folder, settings, &placeholder);
    let compiled = compile(loaded.input);
    let hub = &compiled.snapshot;
    writeln!(out, "{:<44} {:<8} {:<19} {:<6} {:<32} RESOURCES", "CLIENT ID", "ORIGIN", "AUTH", "READY", "NAME")?;
    let mut rows: Vec<_> = compiled.statuses.iter().filter(|s| s.kind == Kind::OAuthClient).collect();
    rows.sort_by(|a, b| a.key.cmp(&b.key));
    for st in rows {
        let id = st.client_id.clone().unwrap_or_else(|| keyward_core::model::default_client_id(&st.key));
        let client = hub.client(&id).filter(|c| c.key == st.key);
        let (origin, auth, name, resources) = match client {
            Some(c) => (
                c.origin().as_str(),
                c.auth_method.as_str(),
                c.display_name.clone(),
                c.associations.iter().map(|a| a.resource.identifier.to_string()).collect::<Vec<_>>().join(","),
            ),
            None => ("-", "-", st.key.to_string(), String::new()),
        };
        let ready = if st.ready() { "True" } else { "False" };
        writeln!(out, "{id:<44} {origin:<8} {auth:<19} {ready:<6} {:<32} {resources}", truncate(&name, 32))?;
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_owned() } else { s.chars().take(max - 1).chain(['…']).collect() }
}
