//! The hub's issuer identifier, checked once at start by `serve` and `run`.

use anyhow::Context;

/// RFC 8414 §2: an https URL with no query or fragment. Plain http is accepted
/// for a laptop and said loudly.
pub fn check_issuer(issuer: &str) -> anyhow::Result<()> {
    let rest = issuer
        .strip_prefix("https://")
        .or_else(|| issuer.strip_prefix("http://"))
        .context("issuer must be an http(s) URL")?;
    anyhow::ensure!(!rest.is_empty() && !rest.starts_with('/'), "issuer must name a host");
    anyhow::ensure!(!issuer.contains(['?', '#']), "issuer must not have a query or fragment (RFC 8414 section 2)");
    anyhow::ensure!(
        !issuer.ends_with('/'),
        "issuer must not end with '/': tokens would carry a different iss than clients expect"
    );
    if issuer.starts_with("http://") {
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        if !matches!(host, "127.0.0.1" | "localhost" | "[" | "::1") && !rest.starts_with("[::1]") {
            tracing::warn!(issuer, "the issuer is plain http on a non-loopback host: use https outside a laptop");
        }
    }
    Ok(())
}
