//! What the JWT bearer grant needs from a Kubernetes cluster for its
//! service-account issuer: the issuer URL, its keys, and TokenReview. The
//! server sees only this trait; `keyward run` implements it with the kube
//! client (`controller/kube_issuer.rs`), `keyward serve` has none.

use futures::future::BoxFuture;
use jsonwebtoken::jwk::Jwk;

/// A TokenReview's verdict on an authenticated token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reviewed {
    pub username: String,
    pub groups: Vec<String>,
    pub audiences: Vec<String>,
}

pub trait ClusterIssuer: Send + Sync {
    /// The service-account issuer, once known.
    fn issuer(&self) -> Option<String>;
    /// The verification key `kid`; `None` when the issuer has no such key.
    fn key<'a>(&'a self, kid: &'a str) -> BoxFuture<'a, Result<Option<Jwk>, String>>;
    /// TokenReview of `token` for `audiences`; `None` when not authenticated.
    fn review<'a>(&'a self, token: &'a str, audiences: &'a [String])
    -> BoxFuture<'a, Result<Option<Reviewed>, String>>;
}
