//! The API keys, for admin keys: listed (never the keys themselves, which are not stored) and
//! revoked. A key revoked here opens nothing from the very next request on this server, and
//! within a second on every other server of a shared gallery. Keys are made with
//! `whoisit keys create`, which shows the new key once.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::gallery::ApiKey;
use crate::service::auth::{Allowed, ToAdmin};
use crate::service::error::{ApiError, ErrorBody};
use crate::service::routes::PathOf;
use crate::service::state::AppState;

/// An API key by name, with what it may do.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct KeyRecord {
    name: String,
    /// recognize, read and/or admin.
    scopes: Vec<String>,
    /// Seconds since the Unix epoch.
    created: i64,
}

impl From<ApiKey> for KeyRecord {
    fn from(key: ApiKey) -> KeyRecord {
        KeyRecord {
            scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            name: key.name,
            created: key.created,
        }
    }
}

/// Every API key, by name.
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, body = [KeyRecord]), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn list_keys(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToAdmin>,
) -> Result<Json<Vec<KeyRecord>>, ApiError> {
    let keys = state.gallery(|g| g.keys()).await?;
    Ok(Json(keys.into_iter().map(KeyRecord::from).collect()))
}

/// Revokes the key called `name`: it opens nothing from the next request on.
#[utoipa::path(delete, path = "/v1/keys/{name}", tag = "keys",
    params(("name" = String, Path, description = "The key's name")),
    responses((status = 204), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn revoke_key(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf(name): PathOf<String>,
) -> Result<axum::http::StatusCode, ApiError> {
    let actor = allowed.actor();
    let revoked = name.clone();
    state
        .gallery(move |g| g.revoke_key(&revoked, &actor))
        .await?;
    // Before answering: the next request, whichever thread takes it, finds the key gone.
    state.keys.forget();
    tracing::info!(key = ?allowed.key, revoked = %name, "API key revoked");
    Ok(axum::http::StatusCode::NO_CONTENT)
}
