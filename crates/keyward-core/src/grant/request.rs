//! A token request, read once: the edge hands over the parameters of the
//! body (RFC 6749 §3.2), this names the grant and reads exactly the
//! parameters that grant uses into one typed value. Handlers never read a
//! parameter themselves, so what a grant accepts is written in one place.
//!
//! Client authentication parameters (`client_id`, `client_secret`,
//! `client_assertion*`) are not part of it: they go with the `Authorization`
//! header, which only the edge sees.

use crate::error::{ErrorCode, OAuthError, echo};
use crate::grant::authorization_code::AuthorizationCodeRequest;
use crate::grant::client_credentials::ClientCredentialsRequest;
use crate::grant::jwt_bearer::JwtBearerRequest;
use crate::grant::refresh::RefreshRequest;
use crate::grant::token_exchange::ExchangeRequest;
use crate::model::GrantType;

/// The parameters of a request, as the edge decoded them: a parameter sent
/// twice (`resource` and `audience` excepted) is the edge's `invalid_request`.
pub trait Params {
    /// The single value of `name`; `None` when absent or empty.
    fn one(&self, name: &str) -> Result<Option<&str>, OAuthError>;
    /// Every non-empty value of `name`.
    fn all(&self, name: &str) -> Vec<&str>;
}

/// One request per grant the token endpoint serves.
#[derive(Debug)]
pub enum TokenRequest<'r> {
    AuthorizationCode(AuthorizationCodeRequest<'r>),
    RefreshToken(RefreshRequest<'r>),
    ClientCredentials(ClientCredentialsRequest<'r>),
    JwtBearer(JwtBearerRequest<'r>),
    TokenExchange(ExchangeRequest<'r>),
}

/// `grant_type`, for any grant this hub knows, served or not (so a refusal
/// can be counted under it).
pub fn grant_type(p: &impl Params) -> Result<GrantType, OAuthError> {
    let wire = p.one("grant_type")?.ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    GrantType::from_wire(wire).ok_or_else(|| {
        OAuthError::new(ErrorCode::UnsupportedGrantType, format!("grant_type '{}' is not supported", echo(wire)))
    })
}

impl<'r> TokenRequest<'r> {
    /// Reads the parameters `grant` uses.
    pub fn parse(grant: GrantType, p: &'r impl Params) -> Result<TokenRequest<'r>, OAuthError> {
        Ok(match grant {
            GrantType::ClientCredentials => TokenRequest::ClientCredentials(ClientCredentialsRequest::parse(p)?),
            GrantType::JwtBearer => TokenRequest::JwtBearer(JwtBearerRequest::parse(p)?),
            GrantType::TokenExchange => TokenRequest::TokenExchange(ExchangeRequest::parse(p)?),
            GrantType::AuthorizationCode => TokenRequest::AuthorizationCode(AuthorizationCodeRequest::parse(p)?),
            GrantType::RefreshToken => TokenRequest::RefreshToken(RefreshRequest::parse(p)?),
            GrantType::Ciba => {
                return Err(OAuthError::new(
                    ErrorCode::UnsupportedGrantType,
                    format!("grant_type '{}' is not supported by this hub yet", grant.as_str()),
                ));
            }
        })
    }

    pub fn grant(&self) -> GrantType {
        match self {
            TokenRequest::AuthorizationCode(_) => GrantType::AuthorizationCode,
            TokenRequest::RefreshToken(_) => GrantType::RefreshToken,
            TokenRequest::ClientCredentials(_) => GrantType::ClientCredentials,
            TokenRequest::JwtBearer(_) => GrantType::JwtBearer,
            TokenRequest::TokenExchange(_) => GrantType::TokenExchange,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    /// Parameters as a list of pairs, with the edge's repetition rule.
    pub(crate) struct Pairs<'a>(pub &'a [(&'a str, &'a str)]);

    impl Params for Pairs<'_> {
        fn one(&self, name: &str) -> Result<Option<&str>, OAuthError> {
            let mut found = self.0.iter().filter(|(k, v)| *k == name && !v.is_empty()).map(|(_, v)| *v);
            let first = found.next();
            match found.next() {
                Some(_) => Err(OAuthError::invalid_request(format!("parameter '{name}' is repeated"))),
                None => Ok(first),
            }
        }
        fn all(&self, name: &str) -> Vec<&str> {
            self.0.iter().filter(|(k, v)| *k == name && !v.is_empty()).map(|(_, v)| *v).collect()
        }
    }

    fn parse<'a>(p: &'a Pairs<'a>) -> Result<TokenRequest<'a>, OAuthError> {
        TokenRequest::parse(grant_type(p)?, p)
    }

    #[test]
    fn the_grant_is_named_by_its_wire_name() {
        let missing = parse(&Pairs(&[("scope", "a")])).unwrap_err();
        assert_eq!((missing.code, &*missing.description), (ErrorCode::InvalidRequest, "grant_type is required"));
        let unknown = parse(&Pairs(&[("grant_type", "password")])).unwrap_err();
        assert_eq!(unknown.code, ErrorCode::UnsupportedGrantType);
        assert_eq!(unknown.description, "grant_type 'password' is not supported");
        let later = parse(&Pairs(&[("grant_type", "urn:openid:params:grant-type:ciba")])).unwrap_err();
        assert_eq!(
            later.description,
            "grant_type 'urn:openid:params:grant-type:ciba' is not supported by this hub yet"
        );
        assert_eq!(grant_type(&Pairs(&[("grant_type", "refresh_token")])).unwrap(), GrantType::RefreshToken);
    }

    #[test]
    fn each_grant_reads_its_own_parameters() {
        let cc = Pairs(&[
            ("grant_type", "client_credentials"),
            ("scope", "a b"),
            ("resource", "https://x"),
            ("resource", "https://y"),
            ("tenant", "acme"),
        ]);
        let TokenRequest::ClientCredentials(r) = parse(&cc).unwrap() else { panic!("not client_credentials") };
        assert_eq!(
            (r.scope, r.resources.as_slice(), r.tenant),
            (Some("a b"), &["https://x", "https://y"][..], Some("acme"))
        );

        let jb = Pairs(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", "e.y.z")]);
        let TokenRequest::JwtBearer(r) = parse(&jb).unwrap() else { panic!("not jwt-bearer") };
        assert_eq!(r.assertion, "e.y.z");

        let te = Pairs(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
            ("subject_token", "s"),
            ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
            ("audience", "https://x"),
        ]);
        let req = parse(&te).unwrap();
        assert_eq!(req.grant(), GrantType::TokenExchange);
        let TokenRequest::TokenExchange(r) = req else { panic!("not token exchange") };
        assert_eq!((r.subject_token, r.actor_token, r.audiences.as_slice()), ("s", None, &["https://x"][..]));
    }

    #[test]
    fn a_repeated_parameter_is_refused_before_any_rule() {
        let e = parse(&Pairs(&[("grant_type", "client_credentials"), ("scope", "a"), ("scope", "b")])).unwrap_err();
        assert_eq!(e.description, "parameter 'scope' is repeated");
    }
}
