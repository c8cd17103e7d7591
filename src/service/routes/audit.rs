//! The audit trail, for admin keys.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::gallery::AuditEntry;
use crate::service::auth::{Allowed, ToAdmin};
use crate::service::error::{ApiError, ErrorBody};
use crate::service::routes::QueryOf;
use crate::service::state::AppState;

#[derive(Debug, Deserialize)]
pub(crate) struct AuditQuery {
    since: Option<i64>,
}

/// One change to the gallery, or one time its data was taken out.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditRecord {
    id: i64,
    /// Seconds since the Unix epoch.
    at: i64,
    /// `cli:<user>`, `window:<user>` or `api:<key name>`.
    actor: String,
    /// enroll, rename, remove, remove_face, import, export, key_created, key_revoked,
    /// threshold, purge, encrypt or decrypt.
    action: String,
    /// What changed, by ids and counts; never a person's name.
    detail: String,
}

impl From<AuditEntry> for AuditRecord {
    fn from(e: AuditEntry) -> AuditRecord {
        AuditRecord {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            detail: e.detail,
        }
    }
}

/// Who changed what, oldest first: enrollments, renames, removals, imports, exports, keys
/// created and revoked, threshold changes, purges.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(("since" = Option<i64>, Query,
        description = "Only entries at or after this time, in seconds since the Unix epoch")),
    responses((status = 200, body = [AuditRecord]), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn audit(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToAdmin>,
    QueryOf(query): QueryOf<AuditQuery>,
) -> Result<Json<Vec<AuditRecord>>, ApiError> {
    let since = query.since.unwrap_or(0);
    let entries = state.gallery(move |g| g.audit(since)).await?;
    Ok(Json(entries.into_iter().map(AuditRecord::from).collect()))
}
