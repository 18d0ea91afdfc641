//! Scope syntax (RFC 6749 §3.3) and the space-delimited list on the wire.

/// `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`: printable ASCII without space,
/// `"` and `\`.
pub fn is_scope_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
}

#[derive(Debug, PartialEq, Eq)]
pub enum ScopeParseError {
    /// A character outside the scope-token grammar, or an empty token from
    /// doubled, leading or trailing spaces.
    Malformed,
}

/// Splits a `scope` parameter. RFC 6749 §3.3 separates tokens by single spaces;
/// anything else is malformed rather than silently normalised. Duplicates collapse:
/// order of first appearance is kept.
pub fn parse_scope_param(s: &str) -> Result<Vec<&str>, ScopeParseError> {
    let mut out: Vec<&str> = Vec::new();
    for token in s.split(' ') {
        if !is_scope_token(token) {
            return Err(ScopeParseError::Malformed);
        }
        if !out.contains(&token) {
            out.push(token);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_tokens_follow_rfc6749_grammar() {
        assert!(is_scope_token("orders:read"));
        assert!(is_scope_token("a!#[]~"));
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("quote\"d"));
        assert!(!is_scope_token("back\\slash"));
        assert!(!is_scope_token("tab\t"));
        assert!(!is_scope_token("é"));
    }

    #[test]
    fn scope_param_splits_on_single_spaces_and_dedups() {
        assert_eq!(parse_scope_param("a b a"), Ok(vec!["a", "b"]));
        assert_eq!(parse_scope_param("a"), Ok(vec!["a"]));
    }

    #[test]
    fn scope_param_with_empty_tokens_is_malformed() {
        assert_eq!(parse_scope_param(""), Err(ScopeParseError::Malformed));
        assert_eq!(parse_scope_param("a  b"), Err(ScopeParseError::Malformed));
        assert_eq!(parse_scope_param(" a"), Err(ScopeParseError::Malformed));
        assert_eq!(parse_scope_param("a "), Err(ScopeParseError::Malformed));
    }
}
