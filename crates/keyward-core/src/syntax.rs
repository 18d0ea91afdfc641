//! Syntax of values that both the manifest conversion and the grant rules
//! check, so a value the API accepts is one a request may carry and back.

/// Tenant ids: 1–128 characters of letters, digits, `.`, `_`, `-`, `:`.
pub fn is_tenant(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 128
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// RFC 8707 §2: "an absolute URI, as specified by Section 4.3 of RFC 3986 … MUST
/// NOT include a fragment component".
pub fn is_absolute_uri_without_fragment(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else { return false };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !s.contains('#')
        && s.bytes().all(|b| b.is_ascii_graphic())
}
