//! JWT access tokens: HS256 only (any other `alg`, `none` included, is refused),
//! `iss`/`aud` checked, 15-minute expiry, `sub` = user id, `role` claim.

use super::Role;
use ds_runtime::config::Config;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// `iss` of every token.
pub const ISSUER: &str = "deltastream";
/// `aud` of every token.
pub const AUDIENCE: &str = "deltastream-api";
/// Lifetime of an access token, seconds.
pub const ACCESS_TTL_SECS: i64 = 15 * 60;
/// Shortest acceptable secret, bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Role at issue time (the current role is read from the user record).
    pub role: Role,
    /// Issuer, [`ISSUER`].
    pub iss: String,
    /// Audience, [`AUDIENCE`].
    pub aud: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
}

impl Claims {
    /// Claims for `user_id` with `role`, valid for [`ACCESS_TTL_SECS`] from now.
    pub fn new(user_id: &str, role: Role) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            sub: user_id.to_owned(),
            role,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp: now + ACCESS_TTL_SECS,
        }
    }
}

/// Why the gateway refuses its JWT secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No secret outside development mode.
    #[error("DS_JWT_SECRET is not set; set it to at least 32 random bytes (e.g. `openssl rand -hex 32`), or use development mode (--dev / DS_DEV=1)")]
    Missing,
    /// Too short or trivially guessable.
    #[error("DS_JWT_SECRET is too weak ({0}); use at least 32 random bytes (e.g. `openssl rand -hex 32`)")]
    Weak(String),
}

/// Checks a secret: at least 32 bytes, not a repetition of a few characters.
///
/// # Errors
/// [`SecretError::Weak`] saying why.
pub fn check_secret(secret: &[u8]) -> Result<(), SecretError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(SecretError::Weak(format!("{} bytes", secret.len())));
    }
    let mut distinct: Vec<u8> = secret.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 8 {
        return Err(SecretError::Weak("too few distinct characters".into()));
    }
    Ok(())
}

/// Signing and verification keys.
#[derive(Clone)]
pub struct JwtKeys {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(***)")
    }
}

impl JwtKeys {
    /// Keys from a secret (not checked; see [`check_secret`]).
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Self {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// The keys of `cfg`: its secret, which must pass [`check_secret`] outside
    /// development mode; in development mode without a secret, a random one
    /// (tokens then do not survive a restart).
    ///
    /// # Errors
    /// [`SecretError`] outside development mode when the secret is missing or weak.
    pub fn from_config(cfg: &Config) -> Result<Self, SecretError> {
        match (&cfg.jwt_secret, cfg.dev) {
            (Some(s), false) => {
                check_secret(s.expose().as_bytes())?;
                Ok(Self::from_secret(s.expose().as_bytes()))
            }
            (None, false) => Err(SecretError::Missing),
            (Some(s), true) => {
                if let Err(e) = check_secret(s.expose().as_bytes()) {
                    tracing::warn!("{e} (accepted in development mode only)");
                }
                Ok(Self::from_secret(s.expose().as_bytes()))
            }
            (None, true) => {
                tracing::warn!(
                    "development mode: no DS_JWT_SECRET, using a random one; tokens will not survive a restart"
                );
                Ok(Self::random())
            }
        }
    }

    /// Keys from 32 fresh random bytes (falls back to the clock only if the OS
    /// has no randomness, which no supported platform lacks).
    pub fn random() -> Self {
        let bytes = super::random_bytes::<32>().unwrap_or_else(|_| {
            let mut b = [0u8; 32];
            let t = chrono::Utc::now()
                .timestamp_nanos_opt()
                .unwrap_or_default()
                .to_le_bytes();
            for (i, x) in b.iter_mut().enumerate() {
                *x = t[i % 8] ^ (i as u8).wrapping_mul(151);
            }
            b
        });
        Self::from_secret(&bytes)
    }

    /// Signs `claims` (HS256).
    ///
    /// # Errors
    /// When the claims cannot be serialized (not expected).
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.enc)
    }

    /// Verifies `token`: signature (HS256 only), expiry, issuer, audience.
    ///
    /// # Errors
    /// A short reason fit for a 401 `detail`.
    pub fn verify(&self, token: &str) -> Result<Claims, String> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.dec, &self.validation)
            .map(|d| d.claims)
            .map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => "token expired",
                    ErrorKind::InvalidSignature => "token signature is invalid",
                    ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                        "token algorithm is not allowed (HS256 only)"
                    }
                    ErrorKind::InvalidIssuer => "token issuer is not accepted",
                    ErrorKind::InvalidAudience => "token audience is not accepted",
                    ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
                    _ => "token is malformed",
                }
                .to_owned()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let k = JwtKeys::from_secret(b"0123456789abcdef0123456789abcdef");
        let t = k.sign(&Claims::new("u1", Role::Viewer)).expect("sign");
        assert_eq!(k.verify(&t).map(|c| c.sub), Ok("u1".to_owned()));
        let other = JwtKeys::from_secret(b"fedcba9876543210fedcba9876543210");
        assert_eq!(other.verify(&t), Err("token signature is invalid".into()));
        let mut c = Claims::new("u1", Role::Viewer);
        c.exp = chrono::Utc::now().timestamp() - 3600;
        assert_eq!(
            k.verify(&k.sign(&c).expect("sign")),
            Err("token expired".into())
        );
        let mut c = Claims::new("u1", Role::Viewer);
        c.aud = "someone-else".into();
        assert!(k.verify(&k.sign(&c).expect("sign")).is_err());
        // alg none: header {"alg":"none","typ":"JWT"}, no signature.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ1MSJ9.";
        assert!(k.verify(none).is_err());
        assert!(check_secret(b"short").is_err());
        assert!(check_secret(&[b'a'; 40]).is_err());
    }
}
