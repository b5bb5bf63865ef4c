//! `/api/v1/admin/…` (role admin): users and the dead-letter queue.

use crate::access::Admin;
use crate::auth::users;
use crate::auth::users::User;
use crate::error::responses::{BadRequest, Conflict, Forbidden, Guarded, NotFound, Unauthorized};
use crate::error::{ApiResult, AppError};
use crate::extract::{Path, Query};
use crate::params::IdPath;
use crate::state::AppState;
use crate::views::{rfc3339, Page};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use ds_runtime::dlq;
use ds_schemas::DeadLetter;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A dead letter in `MD_DLQ`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DlqEntry {
    /// Sequence in `MD_DLQ` (for retry).
    pub dlq_seq: u64,
    /// DLQ subject.
    pub dlq_subject: String,
    /// The dead letter (its `payload` as lower-case hex).
    #[serde(flatten)]
    pub letter: DeadLetter,
    /// `failed_at_unix_ns` as RFC 3339.
    pub failed_at: String,
}

impl From<dlq::Entry> for DlqEntry {
    fn from(e: dlq::Entry) -> Self {
        Self {
            dlq_seq: e.dlq_seq,
            dlq_subject: e.dlq_subject,
            failed_at: rfc3339(e.letter.failed_at_unix_ns),
            letter: e.letter,
        }
    }
}

/// Result of a DLQ re-drive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Retried {
    /// The DLQ entry re-driven.
    pub dlq_seq: u64,
    /// Sequence of the re-published message in its original stream.
    pub republished_seq: u64,
}

/// Every user.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin",
    responses(
        (status = 200, description = "Users by e-mail", body = Page<User>),
        (status = 401, response = Unauthorized), (status = 403, response = Forbidden), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_users(State(state): State<AppState>, _a: Admin) -> ApiResult<Json<Page<User>>> {
    Ok(Json(Page::all(users::list(&state.db).await?)))
}

/// Delete a user with their API keys and refresh tokens; their access tokens
/// stop working at once on this gateway (within seconds on others).
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}", tag = "admin",
    params(IdPath),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, response = Conflict), (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn delete_user(
    State(state): State<AppState>,
    Admin(a): Admin,
    Path(IdPath { id }): Path<IdPath>,
) -> ApiResult<StatusCode> {
    if id == a.user_id {
        // A conflict with the caller's own state, not a malformed request.
        return Err(AppError::Conflict(
            "an admin cannot delete themselves".into(),
        ));
    }
    if users::delete(&state.db, &id).await? {
        state.auth.forget_user(&id);
        tracing::info!(admin = %a.user_id, user_id = %id, "user deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound("no such user".into()))
    }
}

/// `limit` of the DLQ listing.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DlqParams {
    /// Entries at most, 1..=1000 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

fn js(state: &AppState) -> async_nats::jetstream::Context {
    ds_runtime::nats::jetstream(state.nats.clone())
}

/// Dead letters in `MD_DLQ`, oldest first.
#[utoipa::path(get, path = "/api/v1/admin/dlq", tag = "admin", params(DlqParams),
    responses(
        (status = 200, description = "Dead letters", body = Page<DlqEntry>),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 403, response = Forbidden), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn list_dlq(
    State(state): State<AppState>,
    _a: Admin,
    Query(q): Query<DlqParams>,
) -> ApiResult<Json<Page<DlqEntry>>> {
    let limit = crate::params::limit(q.limit.as_deref())?;
    let entries = dlq::list(&js(&state), limit as usize)
        .await
        .map_err(|e| AppError::Unavailable(format!("cannot read MD_DLQ: {e:#}")))?;
    Ok(Json(Page::all(
        entries.into_iter().map(DlqEntry::from).collect(),
    )))
}

/// Re-drive a dead letter: publish its original bytes again on its subject
/// (done by the re-drive responder; 503 when none runs).
#[utoipa::path(post, path = "/api/v1/admin/dlq/{seq}/retry", tag = "admin",
    params(("seq" = u64, Path, description = "Sequence of the entry in MD_DLQ")),
    responses(
        (status = 200, description = "Re-published", body = Retried),
        (status = 400, response = BadRequest), (status = 401, response = Unauthorized), (status = 403, response = Forbidden), (status = 404, response = NotFound), Guarded,
    ),
    security(("bearer" = []), ("api_key" = [])))]
pub async fn retry_dlq(
    State(state): State<AppState>,
    Admin(a): Admin,
    Path(seq): Path<u64>,
) -> ApiResult<Json<Retried>> {
    let js = js(&state);
    if dlq::show(&js, seq).await.is_err() {
        return Err(AppError::NotFound(format!(
            "no DLQ entry with sequence {seq}"
        )));
    }
    // The gateway may not write the log: the re-drive responder (identity
    // `redrive`, inside `deltastream enrich`) does it on request.
    let republished_seq = dlq::request_retry(&state.nats, seq)
        .await
        .map_err(|e| match e {
            dlq::RetryError::NotFound(_) => AppError::NotFound(e.to_string()),
            _ => AppError::Unavailable(e.to_string()),
        })?;
    tracing::info!(admin = %a.user_id, dlq_seq = seq, republished_seq, "DLQ entry re-driven");
    Ok(Json(Retried {
        dlq_seq: seq,
        republished_seq,
    }))
}
