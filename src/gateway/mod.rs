//! `keyward gateway`: the hub's tokens in front of an unmodified MCP server.
//!
//! A reverse proxy for MCP's streamable HTTP transport (POST, and GET or
//! POST answered with an SSE stream, passed through as it is produced). It
//! learns everything from the Resource's protected-resource metadata at the
//! hub (`status.protectedResourceMetadataURL`): the resource identifier, the
//! issuer (then its JWKS), the scopes, and which tools need which scope. On
//! each request it checks the bearer token (signature against the JWKS,
//! `typ`, `iss`, `aud`, `exp`), answers 401 with the challenge that sends a
//! client to the hub (naming the metadata at the gateway's own well-known
//! path, where it re-serves the hub's document), and 403
//! `insufficient_scope` naming the scope a
//! `tools/call` needs (step-up). It never forwards the client's token (the
//! MCP specification forbids passing it through) and tells the upstream who
//! called in `X-Keyward-*` headers it strips from the client's request, so
//! the upstream can trust them when only the gateway reaches it (a sidecar
//! on localhost, or a NetworkPolicy).

mod proxy;
pub mod rules;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use tokio::net::TcpListener;

use crate::fetch::{FetchPolicy, Fetcher};
use crate::server::Clock;
use crate::server::listener::{Drained, Limits, Server};

#[derive(Clone, Debug)]
pub struct GatewayOptions {
    pub listen: SocketAddr,
    /// The MCP server, e.g. `http://127.0.0.1:3000`; request paths are kept.
    pub upstream: String,
    /// The Resource's protected-resource metadata at the hub.
    pub resource_metadata: String,
    /// Fetching the metadata, the hub's discovery and its JWKS.
    pub fetch: FetchPolicy,
    pub listener: Limits,
    /// The largest JSON-RPC body read to find `tools/call`s.
    pub max_body: usize,
    /// How often the metadata is read again (a scope or tool added to the
    /// Resource reaches the gateway within this).
    pub refresh: Duration,
}

impl GatewayOptions {
    pub const MAX_BODY: usize = 1024 * 1024;
}

/// What the gateway knows of its Resource.
#[derive(Debug)]
pub(crate) struct Protected {
    pub resource: String,
    pub issuer: String,
    pub jwks_uri: String,
    /// The document as the hub serves it, re-served at the gateway's own
    /// well-known path.
    pub document: String,
    pub tool_scopes: std::collections::BTreeMap<String, Vec<String>>,
    pub scopes_supported: Vec<String>,
    /// Where the gateway serves the document (RFC 9728 §3.1), as a path and
    /// as the URL its challenges name.
    pub well_known_path: String,
    pub well_known_url: String,
}

#[derive(serde::Deserialize)]
struct Document {
    resource: String,
    authorization_servers: Vec<String>,
    #[serde(default)]
    scopes_supported: Vec<String>,
    #[serde(default)]
    keyward_tool_scopes: std::collections::BTreeMap<String, Vec<String>>,
}

async fn learn(fetcher: &Fetcher, url: &str) -> anyhow::Result<Protected> {
    let raw: serde_json::Value =
        fetcher.json(url, None).await.context("cannot read the protected-resource metadata")?;
    let doc: Document = serde_json::from_value(raw.clone())
        .context("the protected-resource metadata lacks resource or authorization_servers")?;
    let issuer = doc.authorization_servers.first().context("the metadata names no authorization server")?.clone();
    let discovery = fetcher.discovery(&issuer).await.context("cannot read the hub's discovery document")?;
    Ok(Protected {
        issuer,
        jwks_uri: discovery.jwks_uri.clone(),
        document: raw.to_string(),
        tool_scopes: doc.keyward_tool_scopes,
        scopes_supported: doc.scopes_supported,
        well_known_path: proxy::well_known_path(&doc.resource),
        well_known_url: proxy::metadata_url(&doc.resource),
        resource: doc.resource,
    })
}

pub(crate) struct GatewayState {
    pub protected: ArcSwap<Protected>,
    /// The Resource's document at the hub, read again every `refresh`.
    pub hub_metadata_url: String,
    pub fetcher: Fetcher,
    pub upstream: reqwest::Client,
    pub upstream_base: String,
    pub clock: Clock,
    pub max_body: usize,
    pub verified: proxy::Verified,
}

pub struct Gateway {
    pub addr: SocketAddr,
    server: Server,
    refresh: tokio::task::JoinHandle<()>,
}

impl Gateway {
    pub async fn shutdown(self) -> Drained {
        self.refresh.abort();
        self.server.shutdown().await
    }
}

pub async fn start(opts: GatewayOptions, clock: Clock) -> anyhow::Result<Gateway> {
    let upstream_base = opts.upstream.trim_end_matches('/').to_owned();
    let parsed = reqwest::Url::parse(&upstream_base).context("--upstream is not a URL")?;
    anyhow::ensure!(matches!(parsed.scheme(), "http" | "https"), "--upstream must be an http or https URL");
    let fetcher = Fetcher::new(opts.fetch.clone()).context("cannot build the outbound HTTP client")?;
    let protected = learn(&fetcher, &opts.resource_metadata).await?;
    tracing::info!(resource = %protected.resource, issuer = %protected.issuer, tools = protected.tool_scopes.len(), "gateway protecting");
    let upstream = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .build()
        .context("cannot build the upstream client")?;
    let state = Arc::new(GatewayState {
        protected: ArcSwap::from_pointee(protected),
        hub_metadata_url: opts.resource_metadata.clone(),
        fetcher,
        upstream,
        upstream_base,
        clock,
        max_body: opts.max_body,
        verified: proxy::Verified::new(),
    });
    let refresh = {
        let state = Arc::clone(&state);
        let every = opts.refresh;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match learn(&state.fetcher, &state.hub_metadata_url).await {
                    Ok(p) => {
                        let changed = {
                            let old = state.protected.load();
                            old.issuer != p.issuer || old.resource != p.resource || old.jwks_uri != p.jwks_uri
                        };
                        state.protected.store(Arc::new(p));
                        if changed {
                            state.verified.clear();
                        }
                    }
                    // The last good metadata stays in force.
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "cannot refresh the protected-resource metadata")
                    }
                }
            }
        })
    };
    let listener = TcpListener::bind(opts.listen).await.with_context(|| format!("cannot listen on {}", opts.listen))?;
    let addr = listener.local_addr()?;
    let server = crate::server::listener::spawn(listener, proxy::router(state), opts.listener)?;
    tracing::info!(%addr, upstream = %opts.upstream, "keyward gateway serving");
    Ok(Gateway { addr, server, refresh })
}
