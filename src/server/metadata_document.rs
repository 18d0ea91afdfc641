//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-
//! document, the MCP default): a `client_id` that is an https URL names the
//! client's own published metadata. At `/authorize` the hub fetches it
//! through the guarded fetcher (https only, 5 KiB, 5 s, redirects within its
//! origin, cached by its caching headers), checks it, and keeps the client as
//! an OAuthClient labelled `keyward.dev/origin: cimd`, so the rest of the
//! flow, `/token` and every listing see an ordinary client. A later
//! `/authorize` after the cache expired refetches it and updates the client
//! when the document changed.

use std::net::IpAddr;
use std::time::Duration;

use keyward_core::registration::{check_metadata_document, metadata_url_problem};
use keyward_core::snapshot::CompiledClient;

use super::AppState;
use crate::fetch::FetchError;
use crate::registration::{Registrar, metadata_client};

/// Why a metadata document's client cannot sign anyone in. Every message
/// names what failed, never the URL or the document's content.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("client_id: {0}")]
    Url(&'static str),
    #[error("the client's metadata document could not be fetched: {0}")]
    Fetch(&'static str),
    #[error("the client's metadata document is not acceptable: {0}")]
    Invalid(#[from] keyward_core::registration::RegistrationError),
    #[error("the hub holds the most clients it accepts; ask its operator")]
    Full,
    #[error("too many new clients from this address; wait and retry")]
    TooMany,
    #[error("the hub could not keep the client; try again later")]
    Unavailable,
}

fn fetch_failure(e: &FetchError) -> &'static str {
    match e {
        FetchError::Timeout => "it did not arrive in time",
        FetchError::TooLarge => "it is larger than 5 KiB",
        FetchError::Status(_) => "its server did not answer 200",
        FetchError::NotJson | FetchError::Invalid(_) => "it is not a JSON object",
        FetchError::Refused { .. } | FetchError::Redirect => {
            "its address is not one the hub fetches from (https, a public address, no redirect to another origin)"
        }
        _ => "its server could not be reached",
    }
}

/// Whether the served client is what the document says.
fn same(c: &CompiledClient, desired: &keyward_api::v1alpha1::OAuthClient) -> bool {
    let spec = &desired.spec;
    let redirects = spec.grant_types.as_ref().and_then(|g| g.authorization_code.as_ref()).map(|a| &a.redirect_uris);
    c.display_name == spec.display_name
        && c.logo_uri == spec.logo_uri
        && c.authorization_code.as_ref().map(|a| &a.redirect_uris) == redirects
        && (c.auth_method == keyward_core::model::AuthMethod::PrivateKeyJwt) == spec.jwks_uri.is_some()
}

/// Makes sure the client named by the document at `client_id` is served as
/// the document says. Does nothing for other client ids, or when documents
/// are off (the flow then finds no such client).
pub async fn ensure(st: &AppState, client_id: &str, peer: Option<IpAddr>) -> Result<(), DocumentError> {
    let Some(reg) = st.registration.as_deref() else { return Ok(()) };
    let Some(fetcher) = &reg.documents else { return Ok(()) };
    if !client_id.starts_with("https://") {
        return Ok(());
    }
    if let Some(problem) = metadata_url_problem(client_id) {
        return Err(DocumentError::Url(problem));
    }
    // A URL the hub does not know yet costs a fetch: it counts against the
    // caller's address like a registration, so /authorize cannot be used to
    // make the hub fetch URL after URL.
    let known = st.hub.load().client(client_id).is_some();
    if !known
        && let Some(ip) = peer
        && reg.rate.attempt(ip, st.now()).is_err()
    {
        return Err(DocumentError::TooMany);
    }
    let doc = fetcher.document(client_id).await.map_err(|e| {
        // FetchError names the URL, the caller's words: log what failed only.
        tracing::info!(reason = fetch_failure(&e), "a client's metadata document could not be fetched");
        DocumentError::Fetch(fetch_failure(&e))
    })?;
    let registration = check_metadata_document(client_id, &doc)?;
    let desired = metadata_client(client_id, reg.registry.namespace(), &registration, st.now());
    if st.hub.load().client(client_id).is_some_and(|c| same(c, &desired)) {
        return Ok(());
    }
    let _one_at_a_time = reg.serial.lock().await;
    let hub = st.hub.load_full();
    match hub.client(client_id) {
        Some(c) if same(c, &desired) => return Ok(()),
        Some(_) => {}
        None => {
            if Registrar::count(&hub) >= reg.limits.max_clients
                && let Ok(Some(gone)) = reg.make_room(&hub, st.records.as_deref(), st.now()).await
            {
                settle(st, &gone, reg.limits.settle, |c| c.is_none()).await;
            }
            if Registrar::count(&st.hub.load()) >= reg.limits.max_clients {
                tracing::warn!("a metadata document's client refused: the hub holds its maximum of such clients");
                return Err(DocumentError::Full);
            }
        }
    }
    if let Err(e) = reg.registry.put(&desired).await {
        tracing::error!(error = %e, "keeping a metadata document's client failed");
        return Err(DocumentError::Unavailable);
    }
    if !settle(st, client_id, reg.limits.settle, |c| c.is_some_and(|c| same(c, &desired))).await {
        tracing::error!("a metadata document's client did not become ready; its status says why");
        return Err(DocumentError::Unavailable);
    }
    let object = desired.metadata.name.as_deref().unwrap_or_default();
    tracing::info!(%object, "client known by its metadata document is served");
    Ok(())
}

/// Waits (at most `within`) until the snapshot's client `client_id`
/// satisfies `done`: a client written to its registry is served only once
/// the snapshot has it.
pub(super) async fn settle(
    st: &AppState,
    client_id: &str,
    within: Duration,
    done: impl Fn(Option<&std::sync::Arc<CompiledClient>>) -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if done(st.hub.load().client(client_id)) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
