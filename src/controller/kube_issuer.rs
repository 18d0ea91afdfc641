//! The cluster's service-account issuer, through the kube client: issuer URL
//! from `/.well-known/openid-configuration`, keys from `/openid/v1/jwks`
//! (cached, refreshed on an unknown kid at most every 30 s), and TokenReview.
//! The hub's ServiceAccount needs `system:service-account-issuer-discovery`
//! and `create` on `tokenreviews` (the chart grants both).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::future::BoxFuture;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::api::PostParams;
use kube::{Api, Client};
use serde_json::Value;

use crate::server::cluster_issuer::{ClusterIssuer, Reviewed};

const REFRESH_EVERY: Duration = Duration::from_secs(300);
const MIN_REFRESH: Duration = Duration::from_secs(30);

struct Cached {
    keys: Option<Arc<JwkSet>>,
    fetched: Option<Instant>,
}

pub struct KubeIssuer {
    client: Client,
    issuer: Arc<Mutex<Option<String>>>,
    keys: tokio::sync::Mutex<Cached>,
}

impl KubeIssuer {
    /// Starts looking up the issuer in the background (retrying), so a slow
    /// API server never delays start.
    pub fn start(client: Client) -> KubeIssuer {
        let issuer = Arc::new(Mutex::new(None));
        let (c, slot) = (client.clone(), Arc::clone(&issuer));
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                match get_json(&c, "/.well-known/openid-configuration").await {
                    Ok(doc) => {
                        if let Some(iss) = doc.get("issuer").and_then(Value::as_str) {
                            tracing::info!(issuer = iss, "Kubernetes service-account issuer found");
                            if let Ok(mut s) = slot.lock() {
                                *s = Some(iss.to_owned());
                            }
                            return;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "service-account issuer discovery failed; retrying"),
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        });
        KubeIssuer { client, issuer, keys: tokio::sync::Mutex::new(Cached { keys: None, fetched: None }) }
    }

    async fn jwks(&self, force: bool) -> Result<Arc<JwkSet>, String> {
        let mut cached = self.keys.lock().await;
        let age = cached.fetched.map(|t| t.elapsed());
        let stale = age.is_none_or(|a| a > REFRESH_EVERY);
        let may_force = age.is_none_or(|a| a > MIN_REFRESH);
        if let Some(keys) = &cached.keys
            && !stale
            && !(force && may_force)
        {
            return Ok(Arc::clone(keys));
        }
        match get_json(&self.client, "/openid/v1/jwks")
            .await
            .and_then(|v| serde_json::from_value::<JwkSet>(v).map_err(|e| e.to_string()))
        {
            Ok(set) => {
                let set = Arc::new(set);
                cached.keys = Some(Arc::clone(&set));
                cached.fetched = Some(Instant::now());
                Ok(set)
            }
            // Serve the last good keys while the API server is away.
            Err(e) => cached.keys.clone().ok_or(e),
        }
    }
}

async fn get_json(client: &Client, path: &str) -> Result<Value, String> {
    let req = axum::http::Request::get(path).body(Vec::new()).map_err(|e| e.to_string())?;
    client.request::<Value>(req).await.map_err(|e| e.to_string())
}

impl ClusterIssuer for KubeIssuer {
    fn issuer(&self) -> Option<String> {
        self.issuer.lock().ok().and_then(|s| s.clone())
    }

    fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Option<Jwk>, String>> {
        async move {
            let set = self.jwks(false).await?;
            if let Some(k) = set.find(kid) {
                return Ok(Some(k.clone()));
            }
            Ok(self.jwks(true).await?.find(kid).cloned())
        }
        .boxed()
    }

    fn review<'a>(
        &'a self,
        token: &'a str,
        audiences: &'a [String],
    ) -> BoxFuture<'a, Result<Option<Reviewed>, String>> {
        async move {
            let api: Api<TokenReview> = Api::all(self.client.clone());
            let review = TokenReview {
                spec: TokenReviewSpec { token: Some(token.to_owned()), audiences: Some(audiences.to_vec()) },
                ..TokenReview::default()
            };
            let r = api.create(&PostParams::default(), &review).await.map_err(|e| e.to_string())?;
            let Some(status) = r.status else { return Ok(None) };
            if status.authenticated != Some(true) {
                return Ok(None);
            }
            let user = status.user.unwrap_or_default();
            Ok(user.username.map(|username| Reviewed {
                username,
                groups: user.groups.unwrap_or_default(),
                audiences: status.audiences.unwrap_or_default(),
            }))
        }
        .boxed()
    }
}
