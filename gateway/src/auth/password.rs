//! Password hashing with argon2id (the `argon2` crate's defaults: m = 19 MiB,
//! t = 2, p = 1), off the async threads.

use super::AuthError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::sync::OnceLock;

/// Shortest password accepted.
pub const MIN_LEN: usize = 8;
/// Longest password accepted, in characters (hashing cost must stay bounded:
/// at most 4 KiB of UTF-8).
pub const MAX_LEN: usize = 1024;

/// Checks the length rules.
///
/// # Errors
/// [`AuthError::Invalid`] saying which rule.
pub fn check(password: &str) -> Result<(), AuthError> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(AuthError::Invalid(format!(
            "password must have at least {MIN_LEN} characters"
        )));
    }
    if n > MAX_LEN {
        return Err(AuthError::Invalid(format!(
            "password must have at most {MAX_LEN} characters"
        )));
    }
    Ok(())
}

fn hash_blocking(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::encode_b64(&super::random_bytes::<16>()?)
        .map_err(|e| AuthError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("hashing: {e}")))
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// The argon2id PHC string of `password`.
///
/// # Errors
/// [`AuthError::Internal`] when hashing fails.
pub async fn hash(password: String) -> Result<String, AuthError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| AuthError::Internal(format!("hashing task: {e}")))?
}

/// Whether `password` matches `hash`. With `None` (no such user) it still spends
/// the time of a verification, so response times do not reveal which e-mails exist.
pub async fn verify(password: String, hash: Option<String>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    tokio::task::spawn_blocking(move || match hash {
        Some(h) => verify_blocking(&password, &h),
        None => {
            let dummy =
                DUMMY.get_or_init(|| hash_blocking("not a real password").unwrap_or_default());
            let _ = verify_blocking(&password, dummy);
            false
        }
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify() {
        let h = hash("correct horse".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse".into(), Some(h.clone())).await);
        assert!(!verify("wrong horse".into(), Some(h)).await);
        assert!(!verify("x".into(), None).await);
        assert!(check("short").is_err());
    }
}
