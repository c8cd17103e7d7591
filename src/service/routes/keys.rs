//! API keys over the API (`/v1/keys`), for admin keys: what `whoisit keys` does on the server's
//! machine, from the console or another program.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::gallery::{ApiKey, Scope};
use crate::service::auth::{Allowed, ToAdmin, create_key};
use crate::service::error::{ApiError, ErrorBody};
use crate::service::routes::{JsonOf, PathOf};
use crate::service::state::AppState;

/// A key, without its secret (only its hash is stored).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Key {
    name: String,
    /// recognize, read or admin.
    scopes: Vec<String>,
    /// When made, in seconds since the Unix epoch.
    created: i64,
}

impl From<ApiKey> for Key {
    fn from(k: ApiKey) -> Key {
        Key {
            name: k.name,
            scopes: k.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created: k.created,
        }
    }
}

/// A key to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewKeyBody {
    /// 1 to 64 letters, digits, - _ . (spaces around are trimmed); unique.
    #[schema(pattern = r"^[ \t\n\r]*[A-Za-z0-9._-]{1,64}[ \t\n\r]*$")]
    name: String,
    /// recognize, read and/or admin (in any case), at least one.
    #[schema(schema_with = scope_names)]
    scopes: Vec<String>,
}

/// What `Scope`'s parser takes, for the document: each scope's name in any case, spaces
/// around it trimmed; at least one.
fn scope_names() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let any_case = |name: &str| {
        name.chars()
            .map(|c| format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase()))
            .collect::<String>()
    };
    let names: Vec<String> = Scope::ALL.iter().map(|s| any_case(s.as_str())).collect();
    let pattern = format!("^[ \t\n\r]*({})[ \t\n\r]*$", names.join("|"));
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern)),
        )
        .min_items(Some(1))
        .build()
}

/// A key just made: the secret is in this answer and nowhere else, ever.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MadeKey {
    #[serde(flatten)]
    key: Key,
    /// The key itself, to send as `Authorization: Bearer KEY`. Shown only now.
    secret: String,
}

/// Every key: name, scopes, when made.
#[utoipa::path(get, path = "/v1/keys", tag = "keys",
    responses((status = 200, body = [Key]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn list_keys(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToAdmin>,
) -> Result<Json<Vec<Key>>, ApiError> {
    let keys = state.gallery(|g| g.keys()).await?;
    Ok(Json(keys.into_iter().map(Key::from).collect()))
}

/// Makes a key; its secret is in the answer, once.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", request_body = NewKeyBody,
    responses((status = 201, body = MadeKey),
        (status = 400, description = "A bad name or scope, or not JSON", body = ErrorBody),
        (status = 409, description = "A key has that name", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, description = "Not sent as application/json", body = ErrorBody),
        (status = 422, description = "Not an object with `name` and `scopes` alone", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn make_key(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    JsonOf(body): JsonOf<NewKeyBody>,
) -> Result<(StatusCode, Json<MadeKey>), ApiError> {
    let scopes = body
        .scopes
        .iter()
        .map(|s| s.parse::<Scope>())
        .collect::<crate::Result<Vec<_>>>()?;
    let actor = allowed.actor();
    let made = state
        .gallery(move |g| create_key(g, &body.name, &scopes, &actor))
        .await?;
    tracing::info!(made = %made.key.name, "API key made");
    Ok((
        StatusCode::CREATED,
        Json(MadeKey {
            key: made.key.into(),
            secret: made.secret,
        }),
    ))
}

/// Revokes a key: from the next request on it opens nothing, on every server of the gallery,
/// and its console sessions end.
#[utoipa::path(delete, path = "/v1/keys/{name}", tag = "keys",
    params(("name" = String, Path, description = "The key's name")),
    responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn revoke_key(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf(name): PathOf<String>,
) -> Result<StatusCode, ApiError> {
    let actor = allowed.actor();
    let revoked = name.clone();
    state
        .gallery(move |g| g.revoke_key(&revoked, &actor))
        .await?;
    // Before answering: the next request, whichever thread takes it, finds the key gone.
    state.keys.forget();
    tracing::info!(revoked = %name, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}
