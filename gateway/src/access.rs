//! Who may call a route: the middleware on every API route that resolves the
//! caller's [`Presented`] credential and applies the rate limit, and the
//! extractors handlers use to demand a caller ([`Reader`], [`ProductRead`],
//! [`Authenticated`], [`Admin`]).

use crate::auth::credential::Presented;
use crate::auth::identity::{Identity, Principal};
use crate::auth::Role;
use crate::error::AppError;
use crate::extract::Path;
use crate::params::ProductPath;
use crate::state::AppState;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

/// Middleware on every API route: resolves the caller, applies the rate limit
/// (per user or key when authenticated, else per IP), and leaves the
/// [`Identity`] in the request extensions for the extractors.
pub async fn identify_and_limit(
    State(s): State<AppState>,
    presented: Presented,
    mut req: Request,
    next: Next,
) -> Response {
    let identity = match s.auth.identify(&s.db, &presented).await {
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
    if let Err(wait) = s.limiter.check(&key) {
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

impl FromRequestParts<AppState> for Reader {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        match Authenticated::from_request_parts(parts, s).await {
            Ok(Authenticated(p)) => Ok(Reader(Some(p))),
            // Development mode reads anonymously, also with a stale token (a
            // restarted dev gateway has a new random secret).
            Err(_) if s.cfg.dev => Ok(Reader(None)),
            Err(e) => Err(e),
        }
    }
}

/// An authenticated caller (any role).
#[derive(Debug, Clone)]
pub struct Authenticated(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Authenticated {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _s: &S) -> Result<Self, Self::Rejection> {
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

impl<S: Send + Sync> FromRequestParts<S> for Admin {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, s: &S) -> Result<Self, Self::Rejection> {
        let Authenticated(p) = Authenticated::from_request_parts(parts, s).await?;
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

/// A [`Reader`] asking about one product: the state and the `{product}` path
/// parameter, extracted after the caller is checked (401 before 400). Whether
/// the product is configured is the handler's to check.
#[derive(Clone)]
pub struct ProductRead {
    /// The application state.
    pub state: AppState,
    /// The product the path names.
    pub product: String,
}

impl FromRequestParts<AppState> for ProductRead {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        Reader::from_request_parts(parts, s).await?;
        let Path(ProductPath { product }) = Path::from_request_parts(parts, s).await?;
        Ok(Self {
            state: s.clone(),
            product,
        })
    }
}
