//! API keys for programs (`X-Api-Key`): `dsk_` + 256 random bits, shown once,
//! stored as SHA-256 in `api_keys` with owner, role (at most the owner's), name,
//! creation and last use.

use super::{secret_hash, AuthError, Role};
use ds_runtime::collections::API_KEYS;
use futures::TryStreamExt as _;
use mongodb::bson::{doc, DateTime};
use serde::{Deserialize, Serialize};

/// Prefix of every key (lets secret scanners recognize leaked keys).
pub const PREFIX: &str = "dsk_";
/// Keys one user may hold.
pub const MAX_PER_USER: u64 = 100;

/// A key as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyDoc {
    /// Id (24 hex digits).
    #[serde(rename = "_id")]
    pub id: String,
    /// SHA-256 of the key.
    pub key_hash: String,
    /// Owner's user id.
    pub owner: String,
    /// Human name.
    pub name: String,
    /// Role of requests made with it.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime,
    /// Last use (updated at most once a minute).
    #[serde(default)]
    pub last_used_at: Option<DateTime>,
}

/// A key as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KeyInfo {
    /// Id (24 hex digits), for `DELETE /api/v1/auth/api-keys/{id}`.
    pub id: String,
    /// Human name.
    pub name: String,
    /// Role of requests made with it.
    pub role: Role,
    /// Owner's user id.
    pub owner: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Last use, RFC 3339 (within a minute), or null if never used.
    pub last_used_at: Option<String>,
}

impl From<&KeyDoc> for KeyInfo {
    fn from(d: &KeyDoc) -> Self {
        Self {
            id: d.id.clone(),
            name: d.name.clone(),
            role: d.role,
            owner: d.owner.clone(),
            created_at: d.created_at.try_to_rfc3339_string().unwrap_or_default(),
            last_used_at: d.last_used_at.and_then(|t| t.try_to_rfc3339_string().ok()),
        }
    }
}

fn coll(db: &mongodb::Database) -> mongodb::Collection<KeyDoc> {
    db.collection::<KeyDoc>(API_KEYS)
}

/// Creates a key for `owner` (whose role is `owner_role`); returns it with the
/// secret, which is not stored and cannot be shown again.
///
/// # Errors
/// [`AuthError::Invalid`] for a bad name, a role above the owner's, or too many keys.
pub async fn create(
    db: &mongodb::Database,
    owner: &str,
    owner_role: Role,
    name: &str,
    role: Role,
) -> Result<(KeyInfo, String), AuthError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AuthError::Invalid(
            "name must be 1 to 100 printable characters".into(),
        ));
    }
    if role > owner_role {
        return Err(AuthError::Invalid(format!(
            "a key's role cannot exceed its owner's ({})",
            owner_role.as_str()
        )));
    }
    if coll(db).count_documents(doc! {"owner": owner}).await? >= MAX_PER_USER {
        return Err(AuthError::Invalid(format!(
            "at most {MAX_PER_USER} keys per user; delete some first"
        )));
    }
    let secret = format!("{PREFIX}{}", super::random_token()?);
    let d = KeyDoc {
        id: super::random_id()?,
        key_hash: secret_hash(&secret),
        owner: owner.to_owned(),
        name: name.to_owned(),
        role,
        created_at: DateTime::now(),
        last_used_at: None,
    };
    coll(db).insert_one(&d).await?;
    Ok((KeyInfo::from(&d), secret))
}

/// `owner`'s keys, newest first.
///
/// # Errors
/// MongoDB's error.
pub async fn list(db: &mongodb::Database, owner: &str) -> Result<Vec<KeyInfo>, AuthError> {
    let docs: Vec<KeyDoc> = coll(db)
        .find(doc! {"owner": owner})
        .sort(doc! {"created_at": -1})
        .await?
        .try_collect()
        .await?;
    Ok(docs.iter().map(KeyInfo::from).collect())
}

/// Deletes key `id` if `owner` owns it (any key when `owner` is `None`, for
/// admins); returns its hash when it existed.
///
/// # Errors
/// MongoDB's error.
pub async fn delete(
    db: &mongodb::Database,
    id: &str,
    owner: Option<&str>,
) -> Result<Option<String>, AuthError> {
    if !super::is_id(id) {
        return Ok(None);
    }
    let mut filter = doc! {"_id": id};
    if let Some(o) = owner {
        filter.insert("owner", o);
    }
    Ok(coll(db)
        .find_one_and_delete(filter)
        .await?
        .map(|d| d.key_hash))
}

/// The key whose secret is `key`, if any.
///
/// # Errors
/// MongoDB's error.
pub async fn lookup_hash(
    db: &mongodb::Database,
    key_hash: &str,
) -> Result<Option<KeyDoc>, AuthError> {
    Ok(coll(db).find_one(doc! {"key_hash": key_hash}).await?)
}

/// Records a use of key `id` now.
///
/// # Errors
/// MongoDB's error.
pub async fn touch(db: &mongodb::Database, id: &str) -> Result<(), AuthError> {
    coll(db)
        .update_one(
            doc! {"_id": id},
            doc! {"$set": {"last_used_at": DateTime::now()}},
        )
        .await?;
    Ok(())
}
