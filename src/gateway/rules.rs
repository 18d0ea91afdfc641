//! What the gateway decides, without I/O: where the token is, whether its
//! claims admit this request, which scope a `tools/call` needs, and the
//! challenge each refusal carries. `proxy.rs` does the fetching, the
//! signature check and the forwarding.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::HeaderMap;
use serde_json::Value;

/// What the token presented, if any. RFC 6750 §2.1: only the header; a
/// token in the query string is refused outright (it ends up in logs, and
/// MCP forbids it), a form-body token is never looked at.
#[derive(Debug, PartialEq, Eq)]
pub enum Presented<'a> {
    None,
    Bearer(&'a str),
    InQuery,
}

pub fn presented<'a>(headers: &'a HeaderMap, query: Option<&str>) -> Presented<'a> {
    if query.is_some_and(|q| q.split('&').any(|kv| kv.split('=').next() == Some("access_token"))) {
        return Presented::InQuery;
    }
    crate::server::bearer_token(headers).map_or(Presented::None, Presented::Bearer)
}

/// Why a token is not accepted here (RFC 6750 §3.1 `invalid_token`), in
/// words a client developer can act on; none repeats the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the access token is not a JWT")]
    Malformed,
    #[error("the access token is not an access token (typ at+jwt)")]
    NotAccessToken,
    #[error("the access token's signature does not verify with the hub's keys")]
    Signature,
    #[error("the access token was not issued by this resource's authorization server")]
    Issuer,
    #[error("the access token is for another resource")]
    Audience,
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is not valid yet")]
    NotYet,
}

/// The claims the gateway reads.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Claims {
    #[serde(default)]
    pub iss: String,
    #[serde(default)]
    pub aud: Audience,
    #[serde(default)]
    pub exp: Option<u64>,
    #[serde(default)]
    pub nbf: Option<u64>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
    #[default]
    Missing,
}

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY: u64 = 5;

/// `iss` exactly the issuer; `aud` names the resource (the root-slash
/// spellings of one identifier are one, as at the hub); `exp` required and
/// past `now` (within [`LEEWAY`]); `nbf`, when present, reached.
pub fn check_claims(c: &Claims, issuer: &str, resource: &str, now: u64) -> Result<(), Invalid> {
    if c.iss != issuer {
        return Err(Invalid::Issuer);
    }
    let ours = |a: &String| keyward_core::syntax::same_identifier(a, resource);
    let aud_ok = match &c.aud {
        Audience::One(a) => ours(a),
        Audience::Many(v) => v.iter().any(ours),
        Audience::Missing => false,
    };
    if !aud_ok {
        return Err(Invalid::Audience);
    }
    match c.exp {
        Some(exp) if now <= exp.saturating_add(LEEWAY) => {}
        _ => return Err(Invalid::Expired),
    }
    if c.nbf.is_some_and(|nbf| now.saturating_add(LEEWAY) < nbf) {
        return Err(Invalid::NotYet);
    }
    Ok(())
}

pub fn scopes(c: &Claims) -> BTreeSet<&str> {
    c.scope.as_deref().unwrap_or_default().split(' ').filter(|s| !s.is_empty()).collect()
}

/// The tools a JSON-RPC message (or batch) calls.
pub fn called_tools(body: &Value) -> Vec<&str> {
    fn one(m: &Value) -> Option<&str> {
        (m.get("method")?.as_str()? == "tools/call").then_some(())?;
        m.get("params")?.get("name")?.as_str()
    }
    match body {
        Value::Array(batch) => batch.iter().filter_map(one).collect(),
        m => one(m).into_iter().collect(),
    }
}

/// For each called tool that the token may not call, the scopes any one of
/// which it needs. Empty: every call is allowed. A tool the Resource names
/// under no scope needs none beyond a valid token.
pub fn missing<'a>(
    tool_scopes: &'a BTreeMap<String, Vec<String>>,
    held: &BTreeSet<&str>,
    tools: &[&str],
) -> Vec<&'a str> {
    let mut need: Vec<&str> = Vec::new();
    for t in tools {
        let Some(any_of) = tool_scopes.get(*t) else { continue };
        if !any_of.iter().any(|s| held.contains(s.as_str())) {
            // The first scope listed for the tool is the one to ask for.
            if let Some(first) = any_of.first()
                && !need.contains(&first.as_str())
            {
                need.push(first);
            }
        }
    }
    need
}

/// What a 401 asks for (RFC 6750 §3 `scope`): the scopes that guard no
/// tool, the access every client needs first. Tools' scopes come later, by
/// step-up, when a call needs one. Empty (no `scope` sent, and a client asks
/// for all it may) when every scope guards a tool.
pub fn base_scopes<'a>(supported: &'a [String], tool_scopes: &BTreeMap<String, Vec<String>>) -> Vec<&'a str> {
    supported.iter().filter(|s| !tool_scopes.values().any(|v| v.contains(s))).map(String::as_str).collect()
}

/// `WWW-Authenticate` for a refusal (RFC 6750 §3, RFC 9728 §5.1). `scope`:
/// what to ask for next. Values are the hub's and the Resource's, never the
/// client's.
pub fn challenge(metadata_url: &str, error: Option<(&str, &str)>, scope: Option<&str>) -> String {
    let mut c = String::from("Bearer");
    let mut sep = " ";
    if let Some((code, description)) = error {
        c.push_str(&format!("{sep}error=\"{code}\", error_description=\"{description}\""));
        sep = ", ";
    }
    if let Some(s) = scope {
        c.push_str(&format!("{sep}scope=\"{s}\""));
        sep = ", ";
    }
    c.push_str(&format!("{sep}resource_metadata=\"{metadata_url}\""));
    c
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderValue, header};
    use serde_json::json;

    use super::*;

    fn headers(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn the_token_comes_from_the_header_only() {
        assert_eq!(presented(&headers("Bearer abc"), None), Presented::Bearer("abc"));
        assert_eq!(presented(&headers("bearer  abc "), None), Presented::Bearer("abc"));
        assert_eq!(presented(&headers("Basic abc"), None), Presented::None);
        assert_eq!(presented(&headers("Bearer "), None), Presented::None);
        assert_eq!(presented(&HeaderMap::new(), None), Presented::None);
        assert_eq!(presented(&HeaderMap::new(), Some("a=1&access_token=x")), Presented::InQuery);
        assert_eq!(presented(&headers("Bearer abc"), Some("access_token=x")), Presented::InQuery);
        assert_eq!(presented(&HeaderMap::new(), Some("my_access_token=x")), Presented::None);
    }

    fn claims(aud: Audience, exp: Option<u64>) -> Claims {
        Claims { iss: "https://hub".into(), aud, exp, ..Claims::default() }
    }

    #[test]
    fn issuer_audience_and_time_are_checked_exactly() {
        const R: &str = "https://mcp.example/mcp";
        let ok = claims(Audience::One(R.into()), Some(1000));
        assert_eq!(check_claims(&ok, "https://hub", R, 1000), Ok(()));
        assert_eq!(check_claims(&ok, "https://hub", R, 1005), Ok(()), "within the leeway");
        assert_eq!(check_claims(&ok, "https://hub", R, 1006), Err(Invalid::Expired));
        assert_eq!(check_claims(&ok, "https://hub/", R, 10), Err(Invalid::Issuer));
        assert_eq!(check_claims(&ok, "https://hub", "https://mcp.example/mcp/", 10), Err(Invalid::Audience));
        let many = claims(Audience::Many(vec!["x".into(), R.into()]), Some(1000));
        assert_eq!(check_claims(&many, "https://hub", R, 10), Ok(()));
        assert_eq!(check_claims(&claims(Audience::Missing, Some(1000)), "https://hub", R, 10), Err(Invalid::Audience));
        assert_eq!(check_claims(&claims(Audience::One(R.into()), None), "https://hub", R, 10), Err(Invalid::Expired));
        let root = claims(Audience::One("https://mcp.example".into()), Some(1000));
        assert_eq!(check_claims(&root, "https://hub", "https://mcp.example/", 10), Ok(()), "root slash");
        let later = Claims { nbf: Some(500), ..claims(Audience::One(R.into()), Some(1000)) };
        assert_eq!(check_claims(&later, "https://hub", R, 400), Err(Invalid::NotYet));
        assert_eq!(check_claims(&later, "https://hub", R, 496), Ok(()));
    }

    #[test]
    fn tools_calls_are_found_in_messages_and_batches() {
        let call = |name: &str| json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name}});
        assert_eq!(called_tools(&call("search_docs")), ["search_docs"]);
        assert_eq!(called_tools(&json!([call("a"), {"method": "tools/list"}, call("b")])), ["a", "b"]);
        assert!(called_tools(&json!({"method": "initialize"})).is_empty());
        assert!(called_tools(&json!({"method": "tools/call", "params": {"name": 7}})).is_empty());
    }

    #[test]
    fn a_tool_needs_one_of_its_scopes() {
        let map: BTreeMap<String, Vec<String>> = [
            ("search_docs".to_owned(), vec!["docs:search".to_owned()]),
            ("read_page".to_owned(), vec!["docs:read".to_owned(), "docs:admin".to_owned()]),
        ]
        .into();
        let held: BTreeSet<&str> = ["docs:search"].into();
        assert!(missing(&map, &held, &["search_docs", "unlisted"]).is_empty());
        assert_eq!(missing(&map, &held, &["read_page", "read_page"]), ["docs:read"]);
        let admin: BTreeSet<&str> = ["docs:admin"].into();
        assert!(missing(&map, &admin, &["read_page"]).is_empty());
    }

    #[test]
    fn a_first_authorization_asks_for_the_scopes_no_tool_needs() {
        let supported: Vec<String> = ["docs:connect", "docs:search", "docs:read"].map(String::from).to_vec();
        let tools: BTreeMap<String, Vec<String>> = [
            ("search_docs".to_owned(), vec!["docs:search".to_owned()]),
            ("read_page".to_owned(), vec!["docs:read".to_owned()]),
        ]
        .into();
        assert_eq!(base_scopes(&supported, &tools), ["docs:connect"]);
        assert!(base_scopes(&supported[1..], &tools).is_empty());
        assert_eq!(base_scopes(&supported, &BTreeMap::new()).len(), 3);
    }

    #[test]
    fn challenges_name_the_metadata_and_what_to_ask_for() {
        assert_eq!(challenge("https://hub/p", None, None), r#"Bearer resource_metadata="https://hub/p""#);
        assert_eq!(
            challenge("https://hub/p", Some(("insufficient_scope", "needs docs:read")), Some("docs:search docs:read")),
            r#"Bearer error="insufficient_scope", error_description="needs docs:read", scope="docs:search docs:read", resource_metadata="https://hub/p""#
        );
    }
}
