//! The credentials a caller presents, parsed in one place for REST and the
//! WebSocket: `Authorization: Bearer <jwt>`, `X-Api-Key: <key>`, or a bare token
//! (the WebSocket's `?token=` and `{"op":"auth","token":…}`: an API key is
//! recognised by its prefix, anything else is taken for a JWT).

use super::apikeys;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::convert::Infallible;

/// The API-key header.
pub const API_KEY_HEADER: &str = "x-api-key";
/// Longest API key accepted (keys this gateway issues are 47 bytes).
const MAX_KEY_LEN: usize = 128;

/// A well-formed credential (not yet checked against keys and users).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A JWT access token.
    Bearer(String),
    /// An API key.
    ApiKey(String),
}

/// What a request or socket presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presented {
    /// No credential.
    Nothing,
    /// A credential to check.
    Credential(Credential),
    /// Something that is not a credential, and why.
    Malformed(String),
}

impl Presented {
    /// The credential of `headers`: the `Authorization` header if present
    /// (which must then be `Bearer <token>`), else `X-Api-Key`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let token = v
                .to_str()
                .ok()
                .and_then(|s| {
                    s.strip_prefix("Bearer ")
                        .or_else(|| s.strip_prefix("bearer "))
                })
                .map(str::trim);
            return match token {
                Some(t) if !t.is_empty() => Self::Credential(Credential::Bearer(t.to_owned())),
                _ => Self::Malformed("Authorization header must be `Bearer <token>`".into()),
            };
        }
        match headers.get(API_KEY_HEADER) {
            Some(v) => match v.to_str() {
                Ok(key) => api_key(key.trim()),
                Err(_) => Self::Malformed("X-Api-Key is not a valid API key".into()),
            },
            None => Self::Nothing,
        }
    }

    /// A bare token: an API key by its prefix, else a JWT; nothing when empty.
    pub fn from_token(token: &str) -> Self {
        let token = token.trim();
        if token.is_empty() {
            Self::Nothing
        } else if token.starts_with(apikeys::PREFIX) {
            api_key(token)
        } else {
            Self::Credential(Credential::Bearer(token.to_owned()))
        }
    }
}

fn api_key(key: &str) -> Presented {
    if key.starts_with(apikeys::PREFIX) && key.len() <= MAX_KEY_LEN {
        Presented::Credential(Credential::ApiKey(key.to_owned()))
    } else {
        Presented::Malformed("X-Api-Key is not a valid API key".into())
    }
}

/// The one credential extractor of REST (the identity middleware) and the
/// WebSocket upgrade: reads the headers, never rejects.
impl<S: Send + Sync> FromRequestParts<S> for Presented {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::from_headers(&parts.headers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn parses_headers_and_bare_tokens_alike() {
        let bearer = Presented::Credential(Credential::Bearer("abc".into()));
        let key = Presented::Credential(Credential::ApiKey("dsk_x".into()));
        assert_eq!(
            Presented::from_headers(&headers("authorization", "Bearer abc")),
            bearer
        );
        assert_eq!(Presented::from_headers(&headers("x-api-key", "dsk_x")), key);
        assert_eq!(Presented::from_token(" abc "), bearer);
        assert_eq!(Presented::from_token("dsk_x"), key);
        assert_eq!(Presented::from_token(""), Presented::Nothing);
        assert_eq!(
            Presented::from_headers(&HeaderMap::new()),
            Presented::Nothing
        );
        for h in [
            headers("authorization", "Basic abc"),
            headers("authorization", "Bearer "),
            headers("x-api-key", "not-a-key"),
        ] {
            assert!(matches!(
                Presented::from_headers(&h),
                Presented::Malformed(_)
            ));
        }
        let long = format!("dsk_{}", "a".repeat(200));
        assert!(matches!(
            Presented::from_token(&long),
            Presented::Malformed(_)
        ));
    }
}
