//! Strict `application/x-www-form-urlencoded` bodies for the OAuth endpoints.
//!
//! Stricter than a general form parser on purpose: RFC 6749 §3.2 forbids
//! repeating a parameter (RFC 8707 `resource` excepted), broken percent-escapes
//! and non-UTF-8 are refused instead of being patched with U+FFFD, and a
//! parameter sent without a value counts as absent (RFC 6749 §3.1). Values are
//! borrowed from the body unless they had to be decoded.

use std::borrow::Cow;

use axum::http::{HeaderMap, header};
use keyward_core::OAuthError;
use keyward_core::error::echo;

/// The most parameters one request may carry.
const MAX_PARAMS: usize = 32;

#[derive(Debug, Default)]
pub struct Form<'a> {
    pairs: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// RFC 6749 §4.4.2 and friends: the body must be form-encoded.
pub fn require_form_content_type(headers: &HeaderMap) -> Result<(), OAuthError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if ok { Ok(()) } else { Err(OAuthError::invalid_request("content type must be application/x-www-form-urlencoded")) }
}

pub fn parse(body: &[u8]) -> Result<Form<'_>, OAuthError> {
    let mut pairs = Vec::new();
    for segment in body.split(|&b| b == b'&').filter(|s| !s.is_empty()) {
        if pairs.len() == MAX_PARAMS {
            return Err(OAuthError::invalid_request(format!("more than {MAX_PARAMS} parameters")));
        }
        let (name, value) = match segment.iter().position(|&b| b == b'=') {
            Some(i) => (&segment[..i], &segment[i + 1..]),
            None => (segment, &b""[..]),
        };
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(Form { pairs })
}

/// Form-decodes one name or value: `+` is a space, `%XX` a byte; the result must
/// be UTF-8.
pub fn decode(raw: &[u8]) -> Result<Cow<'_, str>, OAuthError> {
    let malformed = || OAuthError::invalid_request("request body is not valid form encoding");
    if !raw.iter().any(|&b| b == b'+' || b == b'%') {
        return std::str::from_utf8(raw)
            .map(Cow::Borrowed)
            .map_err(|_| OAuthError::invalid_request("request is not UTF-8"));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or_else(malformed)?;
                let s = std::str::from_utf8(hex).map_err(|_| malformed())?;
                out.push(u8::from_str_radix(s, 16).map_err(|_| malformed())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map(Cow::Owned).map_err(|_| OAuthError::invalid_request("request is not UTF-8"))
}

impl<'a> Form<'a> {
    /// The single value of `name`, `None` when absent or empty; repeated is an
    /// error.
    pub fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        let mut found: Option<&str> = None;
        for (k, v) in &self.pairs {
            if k == name {
                if found.is_some() {
                    return Err(OAuthError::invalid_request(format!("parameter '{}' is repeated", echo(name))));
                }
                found = Some(v);
            }
        }
        Ok(found.filter(|v| !v.is_empty()))
    }

    /// Every non-empty value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_ref()).collect()
    }
}

/// What the grants read (`keyward_core::grant::request`).
impl keyward_core::grant::Params for Form<'_> {
    fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        Form::one(self, name)
    }

    fn all(&self, name: &str) -> Vec<&str> {
        Form::all(self, name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn plus_and_percent_escapes_decode() {
        let f = parse(b"scope=a+b%3Ac&x=%C3%A9").unwrap();
        assert_eq!(f.one("scope").unwrap(), Some("a b:c"));
        assert_eq!(f.one("x").unwrap(), Some("é"));
    }

    #[test]
    fn repeated_parameter_is_invalid_request() {
        let e = parse(b"scope=a&scope=b").unwrap().one("scope").unwrap_err();
        assert_eq!(e.description, "parameter 'scope' is repeated");
    }

    #[test]
    fn empty_value_counts_as_absent() {
        assert_eq!(parse(b"scope=&a").unwrap().one("scope").unwrap(), None);
    }

    #[test]
    fn broken_escapes_and_non_utf8_are_refused() {
        assert_eq!(parse(b"a=%zz").unwrap_err().description, "request body is not valid form encoding");
        assert_eq!(parse(b"a=%4").unwrap_err().description, "request body is not valid form encoding");
        assert_eq!(parse(b"a=%FF").unwrap_err().description, "request is not UTF-8");
        assert_eq!(parse(b"a=\xff").unwrap_err().description, "request is not UTF-8");
    }

    #[test]
    fn too_many_parameters_are_refused() {
        let body = "a=1&".repeat(MAX_PARAMS + 1);
        assert_eq!(parse(body.as_bytes()).unwrap_err().description, "more than 32 parameters");
    }
}
