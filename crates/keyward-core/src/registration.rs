//! Dynamic Client Registration (RFC 7591): what a registration request may
//! ask for, checked field by field, and the answer it gets. The endpoint
//! (`src/server/register.rs`) brings the body, the clock and the randomness;
//! the registry at the edge keeps the client as an OAuthClient.
//!
//! Registration is open (MCP clients register themselves with no credential),
//! so a registered client proves nothing about who it is. It is therefore
//! always public (`token_endpoint_auth_method: none`): a secret handed to an
//! anonymous registrant would authenticate nobody, and PKCE already binds
//! each code to the app instance that asked for it. A request for another
//! method is answered with `none` (RFC 7591 §3.2.1 lets the server replace
//! requested values; the client reads what was registered). Only the
//! authorization code grant and refresh are open to such a client: every
//! token it gets is one a user consented to.
//!
//! Errors name the field and never repeat what was sent.

use serde_json::{Map, Value};

use crate::grant::redirect;

/// Bounds on one registration.
pub const MAX_REDIRECT_URIS: usize = 8;
pub const MAX_URI: usize = 2048;
pub const MAX_NAME: usize = 200;
const MAX_SOFTWARE: usize = 255;
/// The display name of a client that gave none.
pub const UNNAMED: &str = "Unnamed application";

/// RFC 7591 §3.2.2: the two error codes of a refused registration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    #[error("{field}: {reason}")]
    InvalidRedirectUri { field: String, reason: &'static str },
    #[error("{field}: {reason}")]
    InvalidClientMetadata { field: String, reason: &'static str },
}

impl RegistrationError {
    pub fn code(&self) -> &'static str {
        match self {
            RegistrationError::InvalidRedirectUri { .. } => "invalid_redirect_uri",
            RegistrationError::InvalidClientMetadata { .. } => "invalid_client_metadata",
        }
    }

    fn metadata(field: impl Into<String>, reason: &'static str) -> Self {
        RegistrationError::InvalidClientMetadata { field: field.into(), reason }
    }
}

/// A registration the hub accepts, as it will be kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    /// Whether `refresh_token` was among the grant types asked for. A client
    /// gets refresh tokens either way (as every authorization code client
    /// does); this only shapes the answer.
    pub refresh: bool,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
    /// A metadata document's client that authenticates with its own keys
    /// (`private_key_jwt`): where they are. `None`: a public client.
    pub jwks_uri: Option<String>,
}

impl Registration {
    pub fn display_name(&self) -> &str {
        self.client_name.as_deref().unwrap_or(UNNAMED)
    }

    pub fn grant_types(&self) -> Vec<&'static str> {
        if self.refresh { vec!["authorization_code", "refresh_token"] } else { vec!["authorization_code"] }
    }

    /// RFC 7591 §3.2.1: the client information response, without the
    /// RFC 7592 management fields the endpoint adds.
    pub fn client_information(&self, client_id: &str, issued_at: u64) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("client_id".into(), client_id.into());
        m.insert("client_id_issued_at".into(), issued_at.into());
        m.insert("client_name".into(), self.display_name().into());
        m.insert("redirect_uris".into(), self.redirect_uris.clone().into());
        m.insert("grant_types".into(), self.grant_types().into());
        m.insert("response_types".into(), vec!["code"].into());
        m.insert("token_endpoint_auth_method".into(), "none".into());
        for (k, v) in [
            ("client_uri", &self.client_uri),
            ("logo_uri", &self.logo_uri),
            ("software_id", &self.software_id),
            ("software_version", &self.software_version),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), v.clone().into());
            }
        }
        m
    }
}

/// Checks a registration request (the parsed JSON body).
pub fn check(body: &Value) -> Result<Registration, RegistrationError> {
    let Some(m) = body.as_object() else {
        return Err(RegistrationError::metadata("body", "must be a JSON object"));
    };
    let redirect_uris = redirect_uris(m)?;
    let grants = string_list(m, "grant_types")?;
    let mut refresh = false;
    match grants {
        None => {}
        Some(g) => {
            for t in &g {
                match t.as_str() {
                    "authorization_code" => {}
                    "refresh_token" => refresh = true,
                    _ => {
                        return Err(RegistrationError::metadata(
                            "grant_types",
                            "a registered client may use authorization_code and refresh_token only",
                        ));
                    }
                }
            }
            if !g.iter().any(|t| t == "authorization_code") {
                return Err(RegistrationError::metadata("grant_types", "must include authorization_code"));
            }
        }
    }
    if let Some(r) = string_list(m, "response_types")?
        && r.iter().any(|t| t != "code")
    {
        return Err(RegistrationError::metadata("response_types", "only code is supported"));
    }
    // Checked for type only: the method registered is always none.
    optional_string(m, "token_endpoint_auth_method", 64)?;
    let client_name = optional_string(m, "client_name", MAX_NAME)?.map(str::to_owned);
    if client_name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        return Err(RegistrationError::metadata("client_name", "must not be blank"));
    }
    let client_uri = optional_https(m, "client_uri")?;
    let logo_uri = optional_https(m, "logo_uri")?;
    let software_id = optional_string(m, "software_id", MAX_SOFTWARE)?.map(str::to_owned);
    let software_version = optional_string(m, "software_version", MAX_SOFTWARE)?.map(str::to_owned);
    // Known but not kept: checked for type so a malformed request is told.
    for field in ["scope", "tos_uri", "policy_uri", "jwks_uri"] {
        optional_string(m, field, MAX_URI)?;
    }
    let logo_uri = logo_uri.or_else(|| known_logo(&redirect_uris).map(str::to_owned));
    Ok(Registration {
        redirect_uris,
        client_name,
        client_uri,
        logo_uri,
        refresh,
        software_id,
        software_version,
        jwks_uri: None,
    })
}

/// Why `url` cannot be a Client ID Metadata Document's URL (and so a
/// `client_id`): https, a host without user information, a path other than
/// `/`, no fragment, no `.` or `..` segments (draft-ietf-oauth-client-id-
/// metadata-document §3), and at most 255 characters, the hub's bound on a
/// client id.
pub fn metadata_url_problem(url: &str) -> Option<&'static str> {
    let Some(rest) = url.strip_prefix("https://") else { return Some("must be an https URL") };
    if url.len() > 255 {
        return Some("is longer than 255 characters");
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Some("must be printable ASCII without spaces");
    }
    if url.contains('#') {
        return Some("must not contain a fragment");
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    if authority.is_empty() || authority.contains('@') {
        return Some("must name a host, without user information");
    }
    let path = tail.split('?').next().unwrap_or(tail);
    if path.is_empty() || path == "/" {
        return Some("must have a path");
    }
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return Some("must not contain . or .. path segments");
    }
    None
}

/// Checks a Client ID Metadata Document fetched from `url`: the
/// registration's rules, plus what makes it a document about this client
/// (`client_id` is exactly `url`) and what a published document must not
/// hold (a secret). The client is public, or `private_key_jwt` with its keys
/// at `jwks_uri`.
pub fn check_metadata_document(url: &str, body: &Value) -> Result<Registration, RegistrationError> {
    let Some(m) = body.as_object() else {
        return Err(RegistrationError::metadata("body", "must be a JSON object"));
    };
    if m.get("client_id").and_then(Value::as_str) != Some(url) {
        return Err(RegistrationError::metadata("client_id", "must be exactly the URL the document was fetched from"));
    }
    for field in ["client_secret", "client_secret_expires_at"] {
        if m.contains_key(field) {
            return Err(RegistrationError::metadata(field, "a published document must not hold a secret"));
        }
    }
    let mut reg = check(body)?;
    match optional_string(m, "token_endpoint_auth_method", 64)? {
        None | Some("none") => {}
        Some("private_key_jwt") => {
            let Some(jwks_uri) = optional_https(m, "jwks_uri")? else {
                return Err(RegistrationError::metadata("jwks_uri", "private_key_jwt needs the keys' https URL"));
            };
            reg.jwks_uri = Some(jwks_uri);
        }
        Some(_) => {
            return Err(RegistrationError::metadata(
                "token_endpoint_auth_method",
                "must be none or private_key_jwt: a published document cannot share a secret",
            ));
        }
    }
    if m.contains_key("jwks") {
        return Err(RegistrationError::metadata("jwks", "publish the keys at jwks_uri instead"));
    }
    Ok(reg)
}

fn redirect_uris(m: &Map<String, Value>) -> Result<Vec<String>, RegistrationError> {
    const FIELD: &str = "redirect_uris";
    let Some(list) = string_list(m, FIELD)? else {
        return Err(RegistrationError::InvalidRedirectUri {
            field: FIELD.into(),
            reason: "required: the authorization code grant needs at least one",
        });
    };
    if list.is_empty() {
        return Err(RegistrationError::InvalidRedirectUri { field: FIELD.into(), reason: "must not be empty" });
    }
    if list.len() > MAX_REDIRECT_URIS {
        return Err(RegistrationError::InvalidRedirectUri { field: FIELD.into(), reason: "at most 8" });
    }
    for (i, uri) in list.iter().enumerate() {
        let field = format!("{FIELD}[{i}]");
        if uri.len() > MAX_URI {
            return Err(RegistrationError::InvalidRedirectUri { field, reason: "longer than 2048 characters" });
        }
        redirect::check_registered(uri).map_err(|reason| RegistrationError::InvalidRedirectUri { field, reason })?;
        if list[..i].contains(uri) {
            return Err(RegistrationError::InvalidRedirectUri {
                field: format!("{FIELD}[{i}]"),
                reason: "listed twice",
            });
        }
    }
    Ok(list)
}

/// An array of strings, or absent (`null` counts as absent).
fn string_list(m: &Map<String, Value>, field: &'static str) -> Result<Option<Vec<String>>, RegistrationError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) if a.len() <= 32 => a
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or(RegistrationError::metadata(field, "must hold strings")))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(Value::Array(_)) => Err(RegistrationError::metadata(field, "has too many entries")),
        Some(_) => Err(RegistrationError::metadata(field, "must be an array of strings")),
    }
}

fn optional_string<'a>(
    m: &'a Map<String, Value>,
    field: &'static str,
    max: usize,
) -> Result<Option<&'a str>, RegistrationError> {
    match m.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(RegistrationError::metadata(field, "is longer than the hub accepts"))
        }
        Some(Value::String(s)) if s.chars().any(char::is_control) => {
            Err(RegistrationError::metadata(field, "must not contain control characters"))
        }
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(RegistrationError::metadata(field, "must be a string")),
    }
}

fn optional_https(m: &Map<String, Value>, field: &'static str) -> Result<Option<String>, RegistrationError> {
    let Some(s) = optional_string(m, field, MAX_URI)? else { return Ok(None) };
    if crate::syntax::is_https_url(s) {
        Ok(Some(s.to_owned()))
    } else {
        Err(RegistrationError::metadata(field, "must be an https URL"))
    }
}

/// Well-known MCP clients, recognised by where their codes go (which a
/// registrant cannot borrow: the code would reach the real app), never by the
/// name they give.
struct KnownClient {
    /// Redirect URIs that belong to the app, by prefix.
    redirects: &'static [&'static str],
    logo: &'static str,
}

const KNOWN_CLIENTS: &[KnownClient] = &[
    KnownClient {
        redirects: &["https://claude.ai/api/mcp/auth_callback", "https://claude.com/api/mcp/auth_callback"],
        logo: "https://claude.ai/favicon.ico",
    },
    KnownClient { redirects: &["cursor://anysphere.cursor-"], logo: "https://cursor.com/favicon.ico" },
    KnownClient {
        redirects: &["https://vscode.dev/redirect", "https://insiders.vscode.dev/redirect"],
        logo: "https://code.visualstudio.com/favicon.ico",
    },
    KnownClient {
        redirects: &["https://chatgpt.com/connector_platform_oauth_redirect"],
        logo: "https://chatgpt.com/favicon.ico",
    },
];

/// The logo of a well-known client whose every redirect URI (loopback ones
/// aside) is its own, with at least one that is.
pub fn known_logo(redirect_uris: &[String]) -> Option<&'static str> {
    let own: Vec<&String> = redirect_uris.iter().filter(|u| !redirect::is_loopback(u)).collect();
    if own.is_empty() {
        return None;
    }
    KNOWN_CLIENTS.iter().find(|k| own.iter().all(|u| k.redirects.iter().any(|p| u.starts_with(p)))).map(|k| k.logo)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn err(body: Value) -> (String, String) {
        let e = check(&body).unwrap_err();
        (e.code().to_owned(), e.to_string())
    }

    #[test]
    fn what_an_mcp_client_sends_is_registered_public() {
        let r = check(&json!({
            "client_name": "Claude Code",
            "redirect_uris": ["http://localhost:54212/callback"],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": "tools:read",
            "unknown_member": {"ignored": true}
        }))
        .unwrap();
        assert_eq!(r.display_name(), "Claude Code");
        assert!(r.refresh);
        let info = Value::Object(r.client_information("dcr-1.keyward", 1_700_000_000));
        assert_eq!(info["token_endpoint_auth_method"], "none");
        assert_eq!(info["grant_types"], json!(["authorization_code", "refresh_token"]));
        assert_eq!(info["response_types"], json!(["code"]));
        assert_eq!(info["client_id_issued_at"], 1_700_000_000);
        assert!(info.get("client_secret").is_none());
        assert!(info.get("scope").is_none(), "a registered client is not capped to a scope");
    }

    #[test]
    fn a_request_for_a_secret_is_answered_with_a_public_client() {
        let r = check(
            &json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
        )
        .unwrap();
        assert_eq!(r.client_information("x", 0)["token_endpoint_auth_method"], "none");
        assert_eq!(r.display_name(), UNNAMED);
        assert!(!r.refresh);
    }

    #[test]
    fn redirect_uris_are_required_and_checked_one_by_one() {
        for (body, field, why) in [
            (json!({}), "redirect_uris", "required"),
            (json!({"redirect_uris": null}), "redirect_uris", "required"),
            (json!({"redirect_uris": []}), "redirect_uris", "empty"),
            (json!({"redirect_uris": "https://a.example/cb"}), "redirect_uris", "array"),
            (json!({"redirect_uris": [1]}), "redirect_uris", "strings"),
            (json!({"redirect_uris": ["https://a.example/cb", "http://a.example/cb"]}), "redirect_uris[1]", "loopback"),
            (json!({"redirect_uris": ["javascript:alert(1)"]}), "redirect_uris[0]", "browser"),
            (json!({"redirect_uris": ["data:text/html,x"]}), "redirect_uris[0]", "browser"),
            (json!({"redirect_uris": ["https://a.example/cb#x"]}), "redirect_uris[0]", "fragment"),
            (json!({"redirect_uris": ["https://a.example/cb", "https://a.example/cb"]}), "redirect_uris[1]", "twice"),
            (json!({"redirect_uris": [format!("https://a.example/{}", "a".repeat(2048))]}), "redirect_uris[0]", "2048"),
            (
                json!({"redirect_uris": (0..9).map(|i| format!("https://a.example/{i}")).collect::<Vec<_>>()}),
                "redirect_uris",
                "at most 8",
            ),
        ] {
            let (code, message) = err(body.clone());
            let expected =
                if why == "array" || why == "strings" { "invalid_client_metadata" } else { "invalid_redirect_uri" };
            assert_eq!(code, expected, "{body}");
            assert!(message.starts_with(&format!("{field}: ")), "{body}: {message}");
            assert!(message.contains(why), "{body}: {message}");
            assert!(!message.contains("a.example"), "a sent value is never echoed: {message}");
        }
    }

    #[test]
    fn only_the_user_grants_and_code_responses_may_be_registered() {
        let base = |extra: Value| {
            let mut b = json!({"redirect_uris": ["https://app.example/cb"]});
            b.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            b
        };
        for (body, field) in [
            (base(json!({"grant_types": ["client_credentials"]})), "grant_types"),
            (
                base(json!({"grant_types": ["authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"]})),
                "grant_types",
            ),
            (base(json!({"grant_types": ["refresh_token"]})), "grant_types"),
            (base(json!({"grant_types": ["implicit"]})), "grant_types"),
            (base(json!({"response_types": ["token"]})), "response_types"),
            (base(json!({"client_name": 7})), "client_name"),
            (base(json!({"client_name": "   "})), "client_name"),
            (base(json!({"client_name": "a\u{0}b"})), "client_name"),
            (base(json!({"client_name": "x".repeat(201)})), "client_name"),
            (base(json!({"logo_uri": "http://logo.example/x.png"})), "logo_uri"),
            (base(json!({"logo_uri": "javascript:alert(1)"})), "logo_uri"),
            (base(json!({"client_uri": "https://user@evil.example/"})), "client_uri"),
            (base(json!({"scope": ["a"]})), "scope"),
            (base(json!({"token_endpoint_auth_method": 1})), "token_endpoint_auth_method"),
        ] {
            let (code, message) = err(body.clone());
            assert_eq!(code, "invalid_client_metadata", "{body}");
            assert!(message.starts_with(&format!("{field}: ")), "{body}: {message}");
        }
        assert_eq!(err(json!([])).0, "invalid_client_metadata");
    }

    #[test]
    fn a_metadata_url_is_https_with_a_path_and_nothing_ambiguous() {
        assert_eq!(metadata_url_problem("https://app.example/client.json"), None);
        assert_eq!(metadata_url_problem("https://app.example:8443/oauth/client?v=1"), None);
        for (bad, why) in [
            ("http://app.example/client.json", "https"),
            ("https://app.example", "path"),
            ("https://app.example/", "path"),
            ("https://app.example/a#b", "fragment"),
            ("https://user@app.example/c", "host"),
            ("https:///c", "host"),
            ("https://app.example/a/../c", ".."),
            ("https://app.example/./c", ".."),
            ("https://app.example/a b", "printable"),
        ] {
            assert!(metadata_url_problem(bad).is_some_and(|p| p.contains(why)), "{bad}");
        }
        assert!(metadata_url_problem(&format!("https://app.example/{}", "a".repeat(250))).is_some());
    }

    #[test]
    fn a_metadata_document_names_itself_holds_no_secret_and_is_public_or_keyed() {
        const URL: &str = "https://app.example/client.json";
        let doc = |extra: Value| {
            let mut d = json!({"client_id": URL, "client_name": "App", "redirect_uris": ["https://app.example/cb"]});
            d.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            d
        };
        let ok = check_metadata_document(URL, &doc(json!({}))).unwrap();
        assert_eq!((ok.display_name(), ok.jwks_uri.as_deref()), ("App", None));
        let keyed = check_metadata_document(
            URL,
            &doc(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "https://app.example/jwks"})),
        )
        .unwrap();
        assert_eq!(keyed.jwks_uri.as_deref(), Some("https://app.example/jwks"));
        for (body, field) in [
            (
                json!({"client_id": "https://other.example/client.json", "redirect_uris": ["https://app.example/cb"]}),
                "client_id",
            ),
            (json!({"redirect_uris": ["https://app.example/cb"]}), "client_id"),
            (doc(json!({"client_secret": "s3cret"})), "client_secret"),
            (doc(json!({"client_secret_expires_at": 0})), "client_secret_expires_at"),
            (doc(json!({"token_endpoint_auth_method": "client_secret_basic"})), "token_endpoint_auth_method"),
            (doc(json!({"token_endpoint_auth_method": "private_key_jwt"})), "jwks_uri"),
            (
                doc(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": "http://app.example/jwks"})),
                "jwks_uri",
            ),
            (doc(json!({"jwks": {"keys": []}})), "jwks"),
            (doc(json!({"redirect_uris": ["javascript:alert(1)"]})), "redirect_uris[0]"),
            (doc(json!({"grant_types": ["client_credentials"]})), "grant_types"),
        ] {
            let e = check_metadata_document(URL, &body).unwrap_err();
            assert!(e.to_string().starts_with(&format!("{field}: ")), "{body}: {e}");
            assert!(!e.to_string().contains("s3cret"));
        }
    }

    #[test]
    fn well_known_clients_get_their_logo_by_redirect_never_by_name() {
        let logo = |uris: &[&str]| known_logo(&uris.iter().map(|u| (*u).to_owned()).collect::<Vec<_>>());
        assert_eq!(logo(&["https://claude.ai/api/mcp/auth_callback"]), Some("https://claude.ai/favicon.ico"));
        assert_eq!(
            logo(&["http://127.0.0.1:33418/", "https://vscode.dev/redirect"]),
            Some("https://code.visualstudio.com/favicon.ico")
        );
        assert_eq!(
            logo(&["cursor://anysphere.cursor-retrieval/oauth/user_mcp/callback"]),
            Some("https://cursor.com/favicon.ico")
        );
        assert_eq!(logo(&["https://claude.ai/api/mcp/auth_callback", "https://evil.example/cb"]), None);
        assert_eq!(logo(&["http://localhost:3000/cb"]), None);
        assert_eq!(logo(&["https://claude.ai.evil.example/api/mcp/auth_callback"]), None);
        let named = check(&json!({"client_name": "Claude", "redirect_uris": ["https://evil.example/cb"]})).unwrap();
        assert_eq!(named.logo_uri, None);
        let own = check(&json!({"logo_uri": "https://me.example/l.png", "redirect_uris": ["https://claude.ai/api/mcp/auth_callback"]})).unwrap();
        assert_eq!(own.logo_uri.as_deref(), Some("https://me.example/l.png"));
    }
}
