//! Who is calling: the `Authorization: Bearer <jwt>` or `X-Api-Key` header
//! resolved to a [`Principal`] (users and keys are re-read every few seconds, so
//! a deleted user's tokens and a revoked key stop working), the per-client rate
//! limit, and the extractors handlers use to demand a role.

use super::jwt::JwtKeys;
use super::{apikeys, secret_hash, users, Role};
use crate::api::Ctx;
use crate::error::AppError;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
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

    /// Resolves the credentials in `headers`.
    ///
    /// # Errors
    /// 503 when MongoDB cannot be asked.
    pub async fn identify(
        &self,
        db: &mongodb::Database,
        headers: &HeaderMap,
    ) -> Result<Identity, AppError> {
        if let Some(v) = headers.get(header::AUTHORIZATION) {
            let Some(token) = v
                .to_str()
                .ok()
                .and_then(|s| {
                    s.strip_prefix("Bearer ")
                        .or_else(|| s.strip_prefix("bearer "))
                })
                .map(str::trim)
            else {
                return Ok(Identity::Invalid(
                    "Authorization header must be `Bearer <token>`".into(),
                ));
            };
            return self.identify_token(db, token).await;
        }
        if let Some(v) = headers.get("x-api-key") {
            let Some(key) = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| k.starts_with(apikeys::PREFIX) && k.len() <= 128)
            else {
                return Ok(Identity::Invalid("X-Api-Key is not a valid API key".into()));
            };
            return self.identify_key(db, key).await;
        }
        Ok(Identity::Anonymous)
    }

    /// Resolves a bearer token.
    ///
    /// # Errors
    /// 503 when MongoDB cannot be asked.
    pub async fn identify_token(
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

/// Middleware on every API route: resolves the caller, applies the rate limit
/// (per user or key when authenticated, else per IP), and leaves the
/// [`Identity`] in the request extensions for the extractors.
pub async fn identify_and_limit(State(ctx): State<Ctx>, mut req: Request, next: Next) -> Response {
    let identity = match ctx.auth.identify(&ctx.app.db, req.headers()).await {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    let key = match &identity {
        Identity::Authenticated(p) => p.rate_key(),
        _ => match req.extensions().get::<ConnectInfo<SocketAddr>>() {
            Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
            None => "ip:unknown".to_owned(),
        },
    };
    if let Err(wait) = ctx.limiter.check(&key) {
        let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
        return AppError::TooManyRequests(secs).into_response();
    }
    req.extensions_mut().insert(identity);
    next.run(req).await
}

fn identity(parts: &Parts) -> Identity {
    parts
        .extensions
        .get::<Identity>()
        .cloned()
        .unwrap_or(Identity::Anonymous)
}

fn missing() -> AppError {
    AppError::Unauthorized(
        "authentication required: send `Authorization: Bearer <token>` (POST /api/v1/auth/login) or `X-Api-Key: <key>`".into(),
    )
}

/// A caller allowed to read data: any authenticated caller, or anyone in
/// development mode.
#[derive(Debug, Clone)]
pub struct Reader(pub Option<Principal>);

impl FromRequestParts<Ctx> for Reader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        match identity(parts) {
            Identity::Authenticated(p) => Ok(Reader(Some(p))),
            // Development mode reads anonymously, also with a stale token (a
            // restarted dev gateway has a new random secret).
            _ if ctx.app.cfg.dev => Ok(Reader(None)),
            Identity::Invalid(reason) => Err(AppError::Unauthorized(reason)),
            Identity::Anonymous => Err(missing()),
        }
    }
}

/// An authenticated caller (any role).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl FromRequestParts<Ctx> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _ctx: &Ctx) -> Result<Self, Self::Rejection> {
        match identity(parts) {
            Identity::Authenticated(p) => Ok(Authenticated(p)),
            Identity::Invalid(reason) => Err(AppError::Unauthorized(reason)),
            Identity::Anonymous => Err(missing()),
        }
    }
}

/// An authenticated caller with role `admin` (403 for other roles).
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl FromRequestParts<Ctx> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, ctx: &Ctx) -> Result<Self, Self::Rejection> {
        let Authenticated(p) = Authenticated::from_request_parts(parts, ctx).await?;
        if p.role == Role::Admin {
            Ok(Admin(p))
        } else {
            Err(AppError::Forbidden(format!(
                "this endpoint needs role admin; the caller has role {}",
                p.role.as_str()
            )))
        }
    }
}
