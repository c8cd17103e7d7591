//! The site's settings over the API (`/v1/settings`): the global threshold, with a preview of
//! what another one would change on the stored sightings before an admin applies it, and the
//! retention of sightings. The console's Settings page shows and changes the same.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::gallery::sightings::Purged;
use crate::gallery::{Actor, AuditAction};
use crate::roster::preview::{Change, Preview};
use crate::service::auth::{Allowed, ToAdmin, ToRead};
use crate::service::error::{ApiError, ErrorBody};
use crate::service::routes::{JsonOf, QueryOf};
use crate::service::state::AppState;
use crate::vision::matcher::threshold_from;

/// Where the global threshold comes from, and what it is.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ThresholdBody {
    /// The global threshold this server matches with now (L2 distance).
    pub(crate) threshold: f32,
    /// The embedder the threshold is for: each embedder has its own.
    pub(crate) embedder: String,
    /// The site threshold the gallery stores for the embedder (set here or from the console),
    /// which every server and worker of the gallery follows; null when none is stored.
    pub(crate) site_threshold: Option<f32>,
    /// The config's `threshold`, in force while no site threshold is stored.
    pub(crate) config_threshold: f32,
    /// A threshold this server was started with (`--threshold`), which overrules the site
    /// threshold on this server alone; null when it was given none.
    pub(crate) pinned_threshold: Option<f32>,
}

/// How long sightings are kept (config `retention_days` and `sightings.unknown_face_days`),
/// and what the next purge (hourly) would forget now.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RetentionBody {
    /// Days a sighting is kept.
    pub(crate) retention_days: u32,
    /// Days an unknown face's crop and a sighting's embedding are kept.
    pub(crate) unknown_face_days: u32,
    /// Sightings the next purge deletes.
    pub(crate) purge_sightings: usize,
    /// Crops and embeddings of kept sightings the next purge deletes.
    pub(crate) purge_unknown_faces: usize,
    /// People whose last-seen time the next purge clears.
    pub(crate) purge_last_seen: usize,
}

/// The site's settings.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SettingsBody {
    pub(crate) threshold: ThresholdBody,
    pub(crate) retention: RetentionBody,
}

/// The global threshold and the retention of sightings.
#[utoipa::path(get, path = "/v1/settings", tag = "settings",
    responses((status = 200, body = SettingsBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn get_settings(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToRead>,
) -> Result<Json<SettingsBody>, ApiError> {
    Ok(Json(settings(&state).await?))
}

/// The settings as this server has them now.
pub(crate) async fn settings(state: &AppState) -> Result<SettingsBody, ApiError> {
    let (retention_days, sightings) = state.retention();
    let cutoffs = sightings.cutoffs(retention_days);
    let purge: Purged = state.gallery(move |g| g.to_purge(&cutoffs)).await?;
    let snapshot = state.roster.snapshot();
    Ok(SettingsBody {
        threshold: ThresholdBody {
            threshold: snapshot.matcher().threshold(),
            embedder: state.embedder.to_string(),
            site_threshold: snapshot.site_threshold(),
            config_threshold: state.roster.config_threshold(),
            pinned_threshold: state.roster.pinned_threshold(),
        },
        retention: RetentionBody {
            retention_days,
            unknown_face_days: sightings.unknown_face_days.min(retention_days),
            purge_sightings: purge.sightings,
            purge_unknown_faces: purge.unknown_faces,
            purge_last_seen: purge.last_seen,
        },
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PreviewQuery {
    threshold: f64,
}

/// A sighting the threshold asked about would decide otherwise.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ChangeBody {
    /// The sighting (see /v1/sightings).
    sighting_id: i64,
    /// The person named at one threshold and not at the other.
    person: String,
    /// Their id (see /v1/people/{id}).
    person_id: Option<i64>,
    /// The face's distance to them.
    distance: Option<f32>,
    /// Whether the sighting keeps a crop (an unknown face's).
    has_crop: bool,
}

impl From<Change> for ChangeBody {
    fn from(c: Change) -> ChangeBody {
        ChangeBody {
            sighting_id: c.sighting.0,
            person: c.person,
            person_id: c.person_id.map(|p| p.0),
            distance: c.distance,
            has_crop: c.has_crop,
        }
    }
}

/// What a global threshold would change on the newest stored sightings, against the one in
/// force.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PreviewBody {
    /// The threshold asked about.
    threshold: f32,
    /// The global threshold in force.
    current: f32,
    /// The sightings decided again: the newest that keep their face's embedding (config
    /// `sightings.keep_unknown_faces`, within `sightings.unknown_face_days`), at most 1000.
    sightings: usize,
    /// Of those, named at the threshold in force.
    named: usize,
    /// Of those, unknown at the threshold in force.
    unknown: usize,
    /// Named now, unknown at `threshold`, newest first.
    become_unknown: Vec<ChangeBody>,
    /// Unknown now, named at `threshold`, newest first.
    become_named: Vec<ChangeBody>,
}

impl From<Preview> for PreviewBody {
    fn from(p: Preview) -> PreviewBody {
        PreviewBody {
            threshold: p.threshold,
            current: p.current,
            sightings: p.sightings,
            named: p.named,
            unknown: p.unknown,
            become_unknown: p.become_unknown.into_iter().map(Into::into).collect(),
            become_named: p.become_named.into_iter().map(Into::into).collect(),
        }
    }
}

/// What `threshold` would change, decided by the roster in use (people's own thresholds and
/// negative examples as they are), in the audit trail as a read of sightings.
pub(crate) async fn preview(
    state: &AppState,
    threshold: f32,
    actor: Actor,
) -> Result<Preview, ApiError> {
    let roster = state.roster.clone();
    state
        .gallery(move |g| {
            let preview = roster.preview(threshold)?;
            if preview.sightings > 0 {
                let detail = format!(
                    "{} sighting(s) decided again for a threshold preview at {threshold:.3}",
                    preview.sightings
                );
                g.record(AuditAction::ReadSightings, &detail, &actor)?;
            }
            Ok(preview)
        })
        .await
}

/// What another global threshold would change, before it is applied: the newest stored
/// sightings that keep their face (at most 1000) decided again by the roster in use, at the
/// threshold in force and at this one. Recorded in the audit trail as a read of sightings.
#[utoipa::path(get, path = "/v1/settings/threshold/preview", tag = "settings",
    params(("threshold" = f64, Query, exclusive_minimum = 0.0, maximum = 2.0,
        description = "The global threshold to try (L2 distance), above 0 and at most 2")),
    responses((status = 200, body = PreviewBody), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn preview_threshold(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToRead>,
    QueryOf(query): QueryOf<PreviewQuery>,
) -> Result<Json<PreviewBody>, ApiError> {
    let threshold = threshold_from(query.threshold)
        .map_err(|problem| ApiError::bad_request(format!("the threshold {problem}")))?;
    let preview = preview(&state, threshold, allowed.actor()).await?;
    Ok(Json(preview.into()))
}

/// The site threshold to store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ThresholdChangeBody {
    /// The global threshold (L2 distance), above 0 and at most 2; null goes back to the
    /// config's.
    #[schema(exclusive_minimum = 0.0, maximum = 2.0)]
    threshold: Option<f64>,
}

/// Sets the site threshold for this server's embedder: stored in the gallery (in the audit
/// trail), it is in force on this server from this answer on, and on every other server,
/// worker and window of the gallery from their next reload (at once where the gallery's
/// change feed reaches them), except where a threshold was given on the command line.
#[utoipa::path(put, path = "/v1/settings/threshold", tag = "settings",
    request_body = ThresholdChangeBody,
    responses((status = 200, body = ThresholdBody),
        (status = 400, description = "A threshold out of bounds, or not JSON", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, description = "Not sent as application/json", body = ErrorBody),
        (status = 422, description = "Not an object with `threshold` alone", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn set_threshold(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    JsonOf(body): JsonOf<ThresholdChangeBody>,
) -> Result<Json<ThresholdBody>, ApiError> {
    let embedder = state.embedder.clone();
    let threshold = body
        .threshold
        .map(threshold_from)
        .transpose()
        .map_err(|problem| {
            ApiError::bad_request(format!("the site threshold {problem}; nothing was changed"))
        })?;
    state
        .change_gallery(allowed.actor(), move |g, actor| {
            g.set_site_threshold(&embedder, threshold, actor)
        })
        .await?;
    tracing::info!(key = ?allowed.key, ?threshold, "site threshold set");
    Ok(Json(settings(&state).await?.threshold))
}
