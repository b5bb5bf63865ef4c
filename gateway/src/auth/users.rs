//! Users in the `users` collection: e-mail (unique, lower-case), argon2id hash, role.

use super::{password, AuthError, Role};
use ds_runtime::collections::{API_KEYS, REFRESH_TOKENS, USERS};
use futures::TryStreamExt as _;
use mongodb::bson::{doc, DateTime};
use serde::{Deserialize, Serialize};

/// A user as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UserDoc {
    /// Id (24 hex digits), the JWT `sub`.
    #[serde(rename = "_id")]
    pub id: String,
    /// Lower-case e-mail, the login.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: DateTime,
}

/// A user as the API shows it (never the hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    /// Id (24 hex digits).
    pub id: String,
    /// E-mail (lower-case).
    pub email: String,
    /// Role.
    pub role: Role,
    /// Creation time, RFC 3339.
    pub created_at: String,
}

impl From<&UserDoc> for User {
    fn from(d: &UserDoc) -> Self {
        Self {
            id: d.id.clone(),
            email: d.email.clone(),
            role: d.role,
            created_at: d.created_at.try_to_rfc3339_string().unwrap_or_default(),
        }
    }
}

/// Normalizes and checks an e-mail address (trimmed, lower-case, `local@domain.tld`).
///
/// # Errors
/// [`AuthError::Invalid`] when it does not look like an address.
pub fn normalize_email(raw: &str) -> Result<String, AuthError> {
    let e = raw.trim().to_lowercase();
    let bad = || {
        AuthError::Invalid(format!(
            "email must be an address like name@example.com, got {raw:?}"
        ))
    };
    if e.len() < 3 || e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(e)
}

fn users(db: &mongodb::Database) -> mongodb::Collection<UserDoc> {
    db.collection::<UserDoc>(USERS)
}

/// Creates a user. This is what `deltastream user add` calls to bootstrap the
/// first admin; registration over HTTP calls it with [`Role::Viewer`].
///
/// # Errors
/// [`AuthError::Invalid`] for a bad e-mail or password, [`AuthError::EmailTaken`],
/// or MongoDB's error.
pub async fn add_user(
    db: &mongodb::Database,
    email: &str,
    pw: &str,
    role: Role,
) -> Result<User, AuthError> {
    let email = normalize_email(email)?;
    password::check(pw)?;
    let d = UserDoc {
        id: super::random_id()?,
        email: email.clone(),
        password_hash: password::hash(pw.to_owned()).await?,
        role,
        created_at: DateTime::now(),
    };
    match users(db).insert_one(&d).await {
        Ok(_) => Ok(User::from(&d)),
        Err(e) if is_duplicate_key(&e) => Err(AuthError::EmailTaken(email)),
        Err(e) => Err(e.into()),
    }
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == 11000,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .as_ref()
            .is_some_and(|w| w.iter().any(|x| x.code == 11000)),
        _ => e.to_string().contains("E11000"),
    }
}

/// The user with `email` (normalized first), if any.
///
/// # Errors
/// MongoDB's error.
pub async fn find_by_email(
    db: &mongodb::Database,
    email: &str,
) -> Result<Option<UserDoc>, AuthError> {
    let Ok(email) = normalize_email(email) else {
        return Ok(None);
    };
    Ok(users(db).find_one(doc! {"email": email}).await?)
}

/// The user with `id`, if any.
///
/// # Errors
/// MongoDB's error.
pub async fn find_by_id(db: &mongodb::Database, id: &str) -> Result<Option<UserDoc>, AuthError> {
    if !super::is_id(id) {
        return Ok(None);
    }
    Ok(users(db).find_one(doc! {"_id": id}).await?)
}

/// Every user, by e-mail.
///
/// # Errors
/// MongoDB's error.
pub async fn list(db: &mongodb::Database) -> Result<Vec<User>, AuthError> {
    let docs: Vec<UserDoc> = users(db)
        .find(doc! {})
        .sort(doc! {"email": 1})
        .limit(10_000)
        .await?
        .try_collect()
        .await?;
    Ok(docs.iter().map(User::from).collect())
}

/// Deletes the user `id` with its API keys and refresh tokens; whether it existed.
///
/// # Errors
/// MongoDB's error.
pub async fn delete(db: &mongodb::Database, id: &str) -> Result<bool, AuthError> {
    if !super::is_id(id) {
        return Ok(false);
    }
    let r = users(db).delete_one(doc! {"_id": id}).await?;
    db.collection::<mongodb::bson::Document>(API_KEYS)
        .delete_many(doc! {"owner": id})
        .await?;
    db.collection::<mongodb::bson::Document>(REFRESH_TOKENS)
        .delete_many(doc! {"user_id": id})
        .await?;
    Ok(r.deleted_count > 0)
}
