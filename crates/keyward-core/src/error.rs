//! OAuth error codes as the RFCs define them, with no HTTP in sight: the server's
//! one `IntoResponse` decides status codes and headers.

use std::borrow::Cow;

/// Error codes of RFC 6749 §5.2, RFC 8707 §2, RFC 7009 §2.2.1 and RFC 7662.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// Missing or repeated parameter, unsupported value, malformed request.
    InvalidRequest,
    /// Client authentication failed: unknown client, no or several
    /// authentication methods, wrong secret, or a method the client is not
    /// registered for.
    InvalidClient,
    /// The grant (code, refresh token, assertion) is invalid, expired or revoked.
    InvalidGrant,
    /// The authenticated client may not use this grant type.
    UnauthorizedClient,
    UnsupportedGrantType,
    /// The requested scope is invalid, unknown, malformed, or exceeds what the
    /// client may get.
    InvalidScope,
    /// RFC 8707 §2: the requested resource is invalid, unknown, or not one the
    /// client may ask for.
    InvalidTarget,
    /// RFC 7009 §2.2.1.
    UnsupportedTokenType,
    ServerError,
    TemporarilyUnavailable,
    /// RFC 6749 §4.1.2.1: the caller is known but not allowed (the admin
    /// API's tag); the one code answered with 403.
    AccessDenied,
    /// RFC 6749 §4.1.2.1: `/authorize` serves only `response_type=code`.
    UnsupportedResponseType,
    /// OpenID Connect Core §3.1.2.6: `prompt=none` and the user must log in.
    LoginRequired,
    /// `prompt=none` and the user must consent.
    ConsentRequired,
    /// RFC 9101 §6.3: request objects are not supported.
    RequestNotSupported,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
        }
    }
}

/// An error for the client: a code and a human-readable description.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
}

impl OAuthError {
    /// RFC 6749 §5.2 limits `error_description` to %x20-21 / %x23-5B / %x5D-7E, so
    /// anything else (quotes, backslashes, control characters, non-ASCII that may
    /// have come from the request) becomes `?`. Descriptions quote with `'`.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let description = description.into();
        let description = if description.bytes().all(is_description_byte) {
            description
        } else {
            Cow::Owned(
                description
                    .chars()
                    .map(|c| if c.is_ascii() && is_description_byte(c as u8) { c } else { '?' })
                    .collect(),
            )
        };
        OAuthError { code, description }
    }

    pub fn invalid_request(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }
    pub fn invalid_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }
    pub fn invalid_scope(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidScope, d)
    }
    pub fn invalid_target(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, d)
    }
    pub fn invalid_grant(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }
    pub fn unauthorized_client(d: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::UnauthorizedClient, d)
    }
}

fn is_description_byte(b: u8) -> bool {
    b == 0x20 || b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b)
}

/// Shortens text that came from a request before it is echoed in a description,
/// so an error never grows with the attacker's input.
pub fn echo(s: &str) -> String {
    const MAX: usize = 64;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_are_reduced_to_the_rfc6749_character_set() {
        let e = OAuthError::invalid_request("bad \"x\" \\ é\n");
        assert_eq!(e.description, "bad ?x? ? ??");
    }

    #[test]
    fn echoed_input_is_bounded() {
        let long = "é".repeat(100);
        let e = echo(&long);
        assert!(e.len() <= 67);
        assert!(e.ends_with("..."));
        assert_eq!(echo("short"), "short");
    }
}
