//! Syntax of values that both the manifest conversion and the grant rules
//! check, so a value the API accepts is one a request may carry and back.

/// Tenant ids: 1–128 characters of letters, digits, `.`, `_`, `-`, `:`.
pub fn is_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// The spelling under which a resource identifier is looked up. RFC 3986
/// §6.2.3: `https://host` and `https://host/` are the same URI (an empty
/// path is `/` for http and https), and clients and server frameworks differ
/// in which one they send: the MCP TypeScript SDK always publishes the
/// slashed one. Only that case is folded; `/mcp` and `/mcp/` stay two
/// resources, as the RFC has them.
pub fn identifier_key(s: &str) -> std::borrow::Cow<'_, str> {
    let authority_only = ["https://", "http://"]
        .iter()
        .find_map(|scheme| s.get(..scheme.len()).filter(|p| p.eq_ignore_ascii_case(scheme)).map(|p| &s[p.len()..]))
        .is_some_and(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#']));
    if authority_only { std::borrow::Cow::Owned(format!("{s}/")) } else { std::borrow::Cow::Borrowed(s) }
}

/// Whether two resource identifiers name the same resource (see
/// [`identifier_key`]).
pub fn same_identifier(a: &str, b: &str) -> bool {
    a == b || identifier_key(a) == identifier_key(b)
}

/// RFC 8707 §2: "an absolute URI, as specified by Section 4.3 of RFC 3986 … MUST
/// NOT include a fragment component".
/// `https://`, a non-empty authority without user information, then only
/// printable ASCII: what the hub accepts where it will fetch or show a URL
/// (logos, issuers, registered clients' pages).
pub fn is_https_url(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("https://") else { return false };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    !authority.is_empty() && !authority.contains('@') && rest.bytes().all(|b| b.is_ascii_graphic())
}

pub fn is_absolute_uri_without_fragment(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !s.contains('#')
        && s.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_path_and_a_slash_are_one_identifier() {
        assert!(same_identifier("http://127.0.0.1:18099", "http://127.0.0.1:18099/"));
        assert!(same_identifier("https://mcp.example/", "https://mcp.example"));
        assert!(same_identifier("HTTPS://mcp.example", "HTTPS://mcp.example/"));
        assert_eq!(identifier_key("https://mcp.example"), "https://mcp.example/");
        assert_eq!(identifier_key("https://mcp.example/"), "https://mcp.example/");
    }

    #[test]
    fn any_other_difference_is_another_identifier() {
        for (a, b) in [
            ("https://mcp.example/mcp", "https://mcp.example/mcp/"),
            ("https://mcp.example", "https://mcp.example//"),
            ("https://mcp.example?x", "https://mcp.example/?x"),
            ("urn:example:api", "urn:example:api/"),
            ("https://", "https:///"),
            ("https://a.example", "https://b.example/"),
        ] {
            assert!(!same_identifier(a, b), "{a} vs {b}");
        }
        assert_eq!(identifier_key("urn:example:api"), "urn:example:api");
    }
}
