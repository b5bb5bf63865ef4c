//! Who may open a WebSocket: the same tokens and API keys as REST, checked by a
//! [`TokenVerifier`] the gateway installs on the hub; anonymous read-only
//! sockets only in development mode.

use futures::future::BoxFuture;

/// The outcome of checking a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Valid; may read live data (with the caller's role, for logs and the
    /// `authenticated` event).
    Allowed {
        /// `viewer`, `admin`, …
        role: String,
    },
    /// Valid, but not allowed to read (close 4403).
    Forbidden(String),
    /// Invalid, expired or revoked (close 4401).
    Invalid(String),
    /// Could not be checked now (close 1011; the client retries).
    Unavailable(String),
}

/// Checks a token (a JWT or an API key) for the WebSocket.
pub trait TokenVerifier: Send + Sync + 'static {
    /// The verdict on `token`.
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Verdict>;
}

/// Checks tokens like the REST API does: JWTs (`Authorization: Bearer`) and API
/// keys (`X-Api-Key`, recognised by their prefix), against the same users and
/// keys in MongoDB.
pub struct RestVerifier {
    auth: std::sync::Arc<crate::auth::identity::Auth>,
    db: mongodb::Database,
}

impl RestVerifier {
    /// A verifier sharing `auth` (its keys and caches) with the REST API.
    pub fn new(auth: std::sync::Arc<crate::auth::identity::Auth>, db: mongodb::Database) -> Self {
        Self { auth, db }
    }

    /// A verifier with its own keys from `cfg` (the same secret as the REST API
    /// whenever `DS_JWT_SECRET` is set; a random one in development mode without it).
    ///
    /// # Errors
    /// Outside development mode, when the secret is missing or weak.
    pub fn from_config(
        cfg: &ds_runtime::config::Config,
        db: mongodb::Database,
    ) -> anyhow::Result<Self> {
        let keys =
            crate::auth::jwt::JwtKeys::from_config(cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(Self::new(
            std::sync::Arc::new(crate::auth::identity::Auth::new(keys)),
            db,
        ))
    }
}

impl TokenVerifier for RestVerifier {
    fn verify<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Verdict> {
        Box::pin(async move {
            use crate::auth::identity::Identity;
            use axum::http::{header, HeaderMap, HeaderValue};
            let mut headers = HeaderMap::new();
            let value = if token.starts_with(crate::auth::apikeys::PREFIX) {
                HeaderValue::from_str(token)
                    .map(|v| (header::HeaderName::from_static("x-api-key"), v))
            } else {
                HeaderValue::from_str(&format!("Bearer {token}"))
                    .map(|v| (header::AUTHORIZATION, v))
            };
            let Ok((name, value)) = value else {
                return Verdict::Invalid("token is not a valid header value".into());
            };
            headers.insert(name, value);
            match self.auth.identify(&self.db, &headers).await {
                Ok(Identity::Authenticated(p)) => Verdict::Allowed {
                    role: p.role.as_str().to_owned(),
                },
                Ok(Identity::Invalid(reason)) => Verdict::Invalid(reason),
                Ok(Identity::Anonymous) => Verdict::Invalid("no token".into()),
                Err(e) => Verdict::Unavailable(e.to_string()),
            }
        })
    }
}
