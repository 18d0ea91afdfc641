//! `keyward check`: loads and compiles a folder of manifests once and prints
//! every object's verdict; exits non-zero when anything is not Ready. For CI on
//! the repository that holds the manifests. Writes nothing.

use std::path::PathBuf;

use keyward_core::compile;
use keyward_core::snapshot::{HubSettings, Lifetimes, Runtime};

use crate::report::merge;
use crate::sources::ClientRef;
use crate::sources::credentials::Outcome;
use crate::sources::{assemble, folder::Folder};

pub struct CheckOptions {
    pub manifests: PathBuf,
    pub namespace: String,
    /// The hub the manifests are for: some fields need a cluster.
    pub runtime: Runtime,
}

/// Returns whether everything is Ready and every file is clean.
pub fn run(opts: &CheckOptions, out: &mut impl std::io::Write) -> anyhow::Result<bool> {
    let mut folder = Folder::new(&opts.manifests, &opts.namespace);
    folder.scan()?;
    let settings =
        HubSettings { issuer: "https://keyward.invalid".into(), defaults: Lifetimes::default(), runtime: opts.runtime };
    // Secrets are not this command's business: every client is assumed to get one.
    let placeholder = |_: &ClientRef<'_>| Ok((placeholder_secrets(), Outcome::Existing));
    let loaded = assemble(&folder, settings, &placeholder);
    let compiled = compile(loaded.input);
    let statuses = merge(compiled.statuses, loaded.statuses);
    // A file that could not be read holds objects nobody can see: it counts
    // as much as an object that is not Ready, and the summary says so.
    let unreadable = folder.reports().filter(|(_, r)| !r.is_clean()).count();
    let mut ok = unreadable == 0;
    for n in &loaded.notes {
        writeln!(out, "note: {n}")?;
    }
    for s in &statuses {
        let verdict = if s.ready() { "Ready" } else { "NotReady" };
        writeln!(
            out,
            "{:<16} {:<40} {:<9} {:<20} {}",
            s.kind.to_string(),
            s.key.to_string(),
            verdict,
            s.reason(),
            s.message()
        )?;
        ok &= s.ready();
    }
    let not_ready = statuses.iter().filter(|s| !s.ready()).count();
    let files = if unreadable == 1 { "file" } else { "files" };
    writeln!(out, "{} objects, {not_ready} not ready, {unreadable} {files} with errors", statuses.len())?;
    Ok(ok)
}

/// Every client is assumed to have its secret: checking and explaining need
/// no value.
fn placeholder_secrets() -> keyward_core::secret::ClientSecrets {
    keyward_core::secret::ClientSecrets::single(crate::secret_digest::digest_secret(b"placeholder"))
}
