//! Who is calling: a presented credential ([`Presented`], from REST headers or
//! a WebSocket token) resolved to a [`Principal`]. Users and keys are re-read
//! every few seconds, so a deleted user's tokens and a revoked key stop working.

use super::credential::{Credential, Presented};
use super::jwt::JwtKeys;
use super::{apikeys, secret_hash, users, Role};
use crate::error::AppError;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a looked-up user or key is trusted before it is read again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// How often at most a key's `last_used_at` is written.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);
const CACHE_MAX: usize = 50_000;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User id (the key's owner for API keys).
    pub user_id: String,
    /// The user's e-mail.
    pub email: String,
    /// Effective role (a key's role is capped by its owner's current role).
    pub role: Role,
    /// The API key used, if any.
    pub key_id: Option<String>,
}

impl Principal {
    /// The rate-limit bucket: per key for keys, per user for tokens.
    pub fn rate_key(&self) -> String {
        match &self.key_id {
            Some(k) => format!("k:{k}"),
            None => format!("u:{}", self.user_id),
        }
    }
}

/// The outcome of looking at a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No credentials.
    Anonymous,
    /// Valid credentials.
    Authenticated(Principal),
    /// Credentials that do not check out, and why.
    Invalid(String),
}

#[derive(Debug, Clone)]
struct CachedUser {
    email: String,
    role: Role,
}

#[derive(Debug, Clone)]
struct CachedKey {
    id: String,
    owner: String,
    role: Role,
}

type Cache<T> = Mutex<HashMap<String, (Instant, Option<T>)>>;

fn cache_get<T: Clone>(c: &Cache<T>, k: &str) -> Option<Option<T>> {
    let m = c.lock().unwrap_or_else(|p| p.into_inner());
    m.get(k)
        .filter(|(at, _)| at.elapsed() < CACHE_TTL)
        .map(|(_, v)| v.clone())
}

fn cache_put<T>(c: &Cache<T>, k: &str, v: Option<T>) {
    let mut m = c.lock().unwrap_or_else(|p| p.into_inner());
    if m.len() >= CACHE_MAX {
        m.clear();
    }
    m.insert(k.to_owned(), (Instant::now(), v));
}

/// Token keys and the short-lived caches of users and API keys.
#[derive(Debug)]
pub struct Auth {
    /// JWT keys.
    pub keys: JwtKeys,
    users: Cache<CachedUser>,
    keys_by_hash: Cache<CachedKey>,
    touched: Mutex<HashMap<String, Instant>>,
}

impl Auth {
    /// Auth with `keys` and empty caches.
    pub fn new(keys: JwtKeys) -> Self {
        Self {
            keys,
            users: Mutex::default(),
            keys_by_hash: Mutex::default(),
            touched: Mutex::default(),
        }
    }

    /// Forgets what is cached about user `id` (after deleting or changing it).
    pub fn forget_user(&self, id: &str) {
        self.users
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Forgets what is cached about the key with hash `key_hash` (after deleting it).
    pub fn forget_key(&self, key_hash: &str) {
        self.keys_by_hash
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key_hash);
    }

    async fn user(&self, db: &mongodb::Database, id: &str) -> Result<Option<CachedUser>, AppError> {
        if let Some(u) = cache_get(&self.users, id) {
            return Ok(u);
        }
        let u = users::find_by_id(db, id).await?.map(|d| CachedUser {
            email: d.email,
            role: d.role,
        });
        cache_put(&self.users, id, u.clone());
        Ok(u)
    }

    async fn key(
        &self,
        db: &mongodb::Database,
        key_hash: &str,
    ) -> Result<Option<CachedKey>, AppError> {
        if let Some(k) = cache_get(&self.keys_by_hash, key_hash) {
            return Ok(k);
        }
        let k = apikeys::lookup_hash(db, key_hash)
            .await?
            .map(|d| CachedKey {
                id: d.id,
                owner: d.owner,
                role: d.role,
            });
        cache_put(&self.keys_by_hash, key_hash, k.clone());
        Ok(k)
    }

    /// Resolves what a caller presents.
    ///
    /// # Errors
    /// 503 when MongoDB cannot be asked.
    pub async fn identify(
        &self,
        db: &mongodb::Database,
        presented: &Presented,
    ) -> Result<Identity, AppError> {
        match presented {
            Presented::Nothing => Ok(Identity::Anonymous),
            Presented::Malformed(reason) => Ok(Identity::Invalid(reason.clone())),
            Presented::Credential(Credential::Bearer(token)) => {
                self.identify_token(db, token).await
            }
            Presented::Credential(Credential::ApiKey(key)) => self.identify_key(db, key).await,
        }
    }

    async fn identify_token(
        &self,
        db: &mongodb::Database,
        token: &str,
    ) -> Result<Identity, AppError> {
        let claims = match self.keys.verify(token) {
            Ok(c) => c,
            Err(reason) => return Ok(Identity::Invalid(reason)),
        };
        Ok(match self.user(db, &claims.sub).await? {
            Some(u) => Identity::Authenticated(Principal {
                user_id: claims.sub,
                email: u.email,
                role: u.role,
                key_id: None,
            }),
            None => Identity::Invalid("the user of this token no longer exists".into()),
        })
    }

    async fn identify_key(&self, db: &mongodb::Database, key: &str) -> Result<Identity, AppError> {
        let hash = secret_hash(key);
        let Some(k) = self.key(db, &hash).await? else {
            return Ok(Identity::Invalid(
                "API key is not valid (unknown or revoked)".into(),
            ));
        };
        let Some(owner) = self.user(db, &k.owner).await? else {
            return Ok(Identity::Invalid(
                "the owner of this API key no longer exists".into(),
            ));
        };
        self.touch(db, &k.id);
        Ok(Identity::Authenticated(Principal {
            user_id: k.owner,
            email: owner.email,
            role: k.role.min(owner.role),
            key_id: Some(k.id),
        }))
    }

    /// Writes `last_used_at` of key `id` in the background, at most once a minute.
    fn touch(&self, db: &mongodb::Database, id: &str) {
        {
            let mut m = self.touched.lock().unwrap_or_else(|p| p.into_inner());
            if m.get(id).is_some_and(|t| t.elapsed() < TOUCH_EVERY) {
                return;
            }
            if m.len() >= CACHE_MAX {
                m.clear();
            }
            m.insert(id.to_owned(), Instant::now());
        }
        let (db, id) = (db.clone(), id.to_owned());
        tokio::spawn(async move {
            if let Err(e) = apikeys::touch(&db, &id).await {
                tracing::debug!(error = %e, key_id = %id, "could not record API key use");
            }
        });
    }
}
