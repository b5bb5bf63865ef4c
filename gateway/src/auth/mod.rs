//! Authentication and authorization: users with argon2id password hashes, JWT
//! access tokens (HS256 pinned, issuer/audience checked), revocable refresh
//! tokens and API keys (stored as SHA-256 hashes), roles `viewer` and `admin`.

pub mod apikeys;
pub mod credential;
pub mod identity;
pub mod jwt;
pub mod password;
pub mod refresh;
pub mod users;

use crate::error::AppError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What a user or key may do. `viewer` reads; `admin` also manages users, keys
/// and the DLQ. Ordered: `Viewer < Admin`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read-only access to the data endpoints.
    Viewer,
    /// Everything, including `/api/v1/admin/*`.
    Admin,
}

impl Role {
    /// `viewer` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "admin" => Ok(Role::Admin),
            other => Err(format!("role must be `viewer` or `admin`, got {other:?}")),
        }
    }
}

/// Errors of the auth functions outside HTTP (e.g. `deltastream user add`).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The input is not acceptable (bad e-mail, short password, unknown role).
    #[error("{0}")]
    Invalid(String),
    /// A user with this e-mail exists.
    #[error("a user with e-mail {0} already exists")]
    EmailTaken(String),
    /// MongoDB failed.
    #[error("MongoDB: {0}")]
    Mongo(#[from] mongodb::error::Error),
    /// Hashing failed (a bug or resource exhaustion).
    #[error("{0}")]
    Internal(String),
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Invalid(m) => AppError::BadRequest(m),
            AuthError::EmailTaken(_) => AppError::Conflict(e.to_string()),
            AuthError::Mongo(m) => m.into(),
            AuthError::Internal(m) => AppError::Internal(anyhow::anyhow!(m)),
        }
    }
}

/// `n` random bytes from the operating system.
///
/// # Errors
/// When the OS has no randomness to give (practically never).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| AuthError::Internal(format!("no randomness: {e}")))?;
    Ok(b)
}

/// A random URL-safe token of 32 bytes (256 bits).
///
/// # Errors
/// See [`random_bytes`].
pub fn random_token() -> Result<String, AuthError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<32>()?))
}

/// A random id: 12 bytes as 24 lower-case hex digits.
///
/// # Errors
/// See [`random_bytes`].
pub fn random_id() -> Result<String, AuthError> {
    Ok(hex(&random_bytes::<12>()?))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 of a secret as hex: how refresh tokens and API keys are stored (they
/// are 256-bit random, so a fast hash is enough; only the hash is ever persisted).
pub fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether `id` looks like an id this module issued (24 hex digits), so that
/// anything else is refused before it reaches MongoDB.
pub fn is_id(id: &str) -> bool {
    id.len() == 24
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
