//! Refresh tokens: 256-bit random, stored only as SHA-256 in `refresh_tokens`,
//! single use (rotated on every refresh), revocable. Presenting a revoked token
//! again revokes every refresh token of its user (a stolen token was replayed).

use super::{secret_hash, AuthError};
use ds_runtime::collections::REFRESH_TOKENS;
use mongodb::bson::{doc, DateTime, Document};

/// Lifetime of a refresh token, days.
pub const REFRESH_TTL_DAYS: i64 = 30;

fn coll(db: &mongodb::Database) -> mongodb::Collection<Document> {
    db.collection::<Document>(REFRESH_TOKENS)
}

/// Why a refresh token is refused (the detail of a 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a token this gateway issued.
    #[error("refresh token is not valid")]
    Unknown,
    /// Revoked (used already, logged out, or its user was deleted).
    #[error("refresh token has been revoked")]
    Revoked,
    /// Past its expiry.
    #[error("refresh token has expired")]
    Expired,
}

/// Issues a refresh token for `user_id`; returns the token (shown once).
///
/// # Errors
/// MongoDB's error.
pub async fn issue(db: &mongodb::Database, user_id: &str) -> Result<String, AuthError> {
    let token = super::random_token()?;
    let now = DateTime::now();
    let expires = DateTime::from_millis(now.timestamp_millis() + REFRESH_TTL_DAYS * 86_400_000);
    coll(db)
        .insert_one(doc! {
            "_id": super::random_id()?,
            "token_hash": secret_hash(&token),
            "user_id": user_id,
            "created_at": now,
            "expires_at": expires,
            "revoked_at": mongodb::bson::Bson::Null,
        })
        .await?;
    Ok(token)
}

/// Consumes `token` (atomically revokes it) and returns its user id; the caller
/// then issues a new one.
///
/// # Errors
/// `Ok(Err(Refused))` when the token is not acceptable; `Err` for MongoDB.
pub async fn consume(
    db: &mongodb::Database,
    token: &str,
) -> Result<Result<String, Refused>, AuthError> {
    if token.is_empty() || token.len() > 256 {
        return Ok(Err(Refused::Unknown));
    }
    let hash = secret_hash(token);
    let now = DateTime::now();
    let taken = coll(db)
        .find_one_and_update(
            doc! {"token_hash": &hash, "revoked_at": mongodb::bson::Bson::Null},
            doc! {"$set": {"revoked_at": now}},
        )
        .await?;
    let Some(d) = taken else {
        // Unknown, or revoked already: a replay of a rotated token revokes the family.
        if let Some(old) = coll(db).find_one(doc! {"token_hash": &hash}).await? {
            if let Ok(user) = old.get_str("user_id") {
                tracing::warn!(user_id = user, "revoked refresh token presented again; revoking all of the user's refresh tokens");
                revoke_all(db, user).await?;
            }
            return Ok(Err(Refused::Revoked));
        }
        return Ok(Err(Refused::Unknown));
    };
    if d.get_datetime("expires_at").is_ok_and(|e| *e <= now) {
        return Ok(Err(Refused::Expired));
    }
    Ok(d.get_str("user_id")
        .map(str::to_owned)
        .map_err(|_| Refused::Unknown))
}

/// Revokes `token` (logout); whether it was live.
///
/// # Errors
/// MongoDB's error.
pub async fn revoke(db: &mongodb::Database, token: &str) -> Result<bool, AuthError> {
    let r = coll(db)
        .update_one(
            doc! {"token_hash": secret_hash(token), "revoked_at": mongodb::bson::Bson::Null},
            doc! {"$set": {"revoked_at": DateTime::now()}},
        )
        .await?;
    Ok(r.modified_count > 0)
}

/// Revokes every live refresh token of `user_id`.
///
/// # Errors
/// MongoDB's error.
pub async fn revoke_all(db: &mongodb::Database, user_id: &str) -> Result<u64, AuthError> {
    let r = coll(db)
        .update_many(
            doc! {"user_id": user_id, "revoked_at": mongodb::bson::Bson::Null},
            doc! {"$set": {"revoked_at": DateTime::now()}},
        )
        .await?;
    Ok(r.modified_count)
}
