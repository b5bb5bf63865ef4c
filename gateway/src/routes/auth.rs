//! `/api/v1/auth/…`: register, login, refresh (rotating), logout, me, API keys.

use crate::access::Authenticated;
use crate::auth::apikeys::KeyInfo;
use crate::auth::jwt::{Claims, ACCESS_TTL_SECS};
use crate::auth::refresh::{self};
use crate::auth::users::{self, User, UserDoc};
use crate::auth::{apikeys, password, Role};
use crate::error::responses::{BodyErrors, Conflict, Guarded, NotFound, Unauthorized};
use crate::error::{ApiResult, AppError};
use crate::extract::{JsonBody, Path};
use crate::params::IdPath;
use crate::state::AppState;
use crate::views::Page;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /api/v1/auth/register` and `login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// E-mail address (`name@domain.tld`; stored lower-case).
    #[schema(example = "ana@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// Password, 8 to 1024 characters.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 1024)]
    pub password: String,
}

/// `POST /api/v1/auth/refresh` and `logout`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// A refresh token from `login` or `refresh`.
    #[schema(min_length = 1, max_length = 256)]
    pub refresh_token: String,
}

/// Longest refresh token accepted (the ones issued are 43 characters).
const MAX_REFRESH_TOKEN: usize = 256;

impl RefreshRequest {
    /// The token, checked against the schema's length rule.
    ///
    /// # Errors
    /// 400 when it is empty or too long.
    fn token(&self) -> ApiResult<&str> {
        let n = self.refresh_token.chars().count();
        if n == 0 || n > MAX_REFRESH_TOKEN {
            return Err(AppError::BadRequest(format!(
                "refresh_token must have 1 to {MAX_REFRESH_TOKEN} characters"
            )));
        }
        Ok(&self.refresh_token)
    }
}

/// An issued access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// JWT access token (HS256), for `Authorization: Bearer`.
    pub token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until `token` expires.
    pub expires_in: i64,
    /// Single-use refresh token (login and refresh only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The user.
    pub user: User,
}

/// `POST /api/v1/auth/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// Human name, e.g. the program using it: 1 to 100 printable characters,
    /// not only spaces.
    #[schema(
        example = "backtester",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Role of the key, at most the owner's (default: the owner's).
    pub role: Option<Role>,
}

/// A new API key: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    /// The secret, for `X-Api-Key`.
    pub key: String,
    /// Its description.
    #[serde(flatten)]
    pub info: KeyInfo,
}

fn access_token(state: &AppState, user_id: &str, role: Role) -> ApiResult<String> {
    state
        .auth
        .keys
        .sign(&Claims::new(user_id, role))
        .map_err(|e| AppError::Internal(e.into()))
}

/// Registers `email` as a viewer and returns an access token.
///
/// # Errors
/// 400 for a bad e-mail or password, 409 when taken.
pub async fn register_user(
    state: &AppState,
    c: Credentials,
) -> ApiResult<(StatusCode, Json<TokenResponse>)> {
    let user = users::add_user(&state.db, &c.email, &c.password, Role::Viewer).await?;
    let token = access_token(state, &user.id, user.role)?;
    tracing::info!(user_id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        Json(TokenResponse {
            token,
            token_type: "Bearer".into(),
            expires_in: ACCESS_TTL_SECS,
            refresh_token: None,
            user,
        }),
    ))
}

/// Create an account (role `viewer`).
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = Credentials,
    responses(
        (status = 201, description = "Registered; an access token", body = TokenResponse),
        (status = 409, response = Conflict), Guarded, BodyErrors,
    ))]
pub async fn register(
    State(state): State<AppState>,
    JsonBody(c): JsonBody<Credentials>,
) -> ApiResult<(StatusCode, Json<TokenResponse>)> {
    register_user(&state, c).await
}

async fn session(state: &AppState, user: &UserDoc) -> ApiResult<TokenResponse> {
    Ok(TokenResponse {
        token: access_token(state, &user.id, user.role)?,
        token_type: "Bearer".into(),
        expires_in: ACCESS_TTL_SECS,
        refresh_token: Some(refresh::issue(&state.db, &user.id).await?),
        user: User::from(user),
    })
}

/// Checks credentials and opens a session.
///
/// # Errors
/// 401 for a wrong e-mail or password (the same answer for both).
pub async fn login_user(state: &AppState, c: Credentials) -> ApiResult<Json<TokenResponse>> {
    let user = users::find_by_email(&state.db, &c.email).await?;
    let ok = password::verify(c.password, user.as_ref().map(|u| u.password_hash.clone())).await;
    match user {
        Some(u) if ok => Ok(Json(session(state, &u).await?)),
        _ => Err(AppError::Unauthorized("invalid e-mail or password".into())),
    }
}

/// Log in: an access token (15 min) and a single-use refresh token (30 days).
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses(
        (status = 200, description = "Logged in", body = TokenResponse),
        (status = 401, response = Unauthorized), Guarded, BodyErrors,
    ))]
pub async fn login(
    State(state): State<AppState>,
    JsonBody(c): JsonBody<Credentials>,
) -> ApiResult<Json<TokenResponse>> {
    login_user(&state, c).await
}

/// Exchange a refresh token for a new access token and a new refresh token;
/// the one presented is revoked (presenting it again revokes all of the user's).
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new session", body = TokenResponse),
        (status = 401, response = Unauthorized), Guarded, BodyErrors,
    ))]
pub async fn refresh_session(
    State(state): State<AppState>,
    JsonBody(r): JsonBody<RefreshRequest>,
) -> ApiResult<Json<TokenResponse>> {
    let user_id = refresh::consume(&state.db, r.token()?)
        .await?
        .map_err(|e| AppError::Unauthorized(e.to_string()))?;
    let user = users::find_by_id(&state.db, &user_id)
        .await?
        .ok_or_else(|| {
            AppError::Unauthorized("the user of this refresh token no longer exists".into())
        })?;
    Ok(Json(session(&state, &user).await?))
}

/// Revoke a refresh token (log out). Access tokens expire on their own.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses(
        (status = 204, description = "Revoked (or already invalid)"),
        Guarded, BodyErrors,
    ))]
pub async fn logout(
    State(state): State<AppState>,
    JsonBody(r): JsonBody<RefreshRequest>,
) -> ApiResult<StatusCode> {
    refresh::revoke(&state.db, r.token()?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth",
    responses(
        (status = 200, description = "The authenticated user", body = User),
        (status = 401, response = Unauthorized), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn me(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<User>> {
    let u = users::find_by_id(&state.db, &p.user_id)
        .await?
        .ok_or_else(|| AppError::Unauthorized("the user no longer exists".into()))?;
    Ok(Json(User::from(&u)))
}

/// Create an API key for the caller; the key is shown in this response only.
#[utoipa::path(post, path = "/api/v1/auth/api-keys", tag = "auth", request_body = CreateKey,
    responses(
        (status = 201, description = "Created; `key` is not shown again", body = CreatedKey),
        (status = 401, response = Unauthorized), Guarded, BodyErrors,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn create_key(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    JsonBody(b): JsonBody<CreateKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let role = b.role.unwrap_or(p.role);
    let (info, key) = apikeys::create(&state.db, &p.user_id, p.role, &b.name, role).await?;
    tracing::info!(user_id = %p.user_id, key_id = %info.id, "API key created");
    Ok((StatusCode::CREATED, Json(CreatedKey { key, info })))
}

/// The caller's API keys (without secrets).
#[utoipa::path(get, path = "/api/v1/auth/api-keys", tag = "auth",
    responses(
        (status = 200, description = "Keys, newest first", body = Page<KeyInfo>),
        (status = 401, response = Unauthorized), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_keys(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
) -> ApiResult<Json<Page<KeyInfo>>> {
    Ok(Json(Page::all(apikeys::list(&state.db, &p.user_id).await?)))
}

/// Revoke one of the caller's API keys (admins: any key).
#[utoipa::path(delete, path = "/api/v1/auth/api-keys/{id}", tag = "auth",
    params(IdPath),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, response = Unauthorized), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn delete_key(
    State(state): State<AppState>,
    Authenticated(p): Authenticated,
    Path(IdPath { id }): Path<IdPath>,
) -> ApiResult<StatusCode> {
    let owner = (p.role != Role::Admin).then_some(p.user_id.as_str());
    match apikeys::delete(&state.db, &id, owner).await? {
        Some(hash) => {
            state.auth.forget_key(&hash);
            tracing::info!(user_id = %p.user_id, key_id = %id, "API key revoked");
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(AppError::NotFound("no such API key".into())),
    }
}
