//! Who was seen where (`/v1/sightings`), a page at a time; every page read is in the audit
//! trail.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::gallery::{Actor, AuditAction, Corrected, Sighting, SightingId, SightingQuery, Who};
use crate::service::auth::{Allowed, ToAdmin, ToRead};
use crate::service::error::{ApiError, ErrorBody};
use crate::service::routes::{PathOf, QueryOf};
use crate::service::state::AppState;

/// A page's size when the client names none.
const PAGE: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SightingsQuery {
    since: Option<i64>,
    camera: Option<String>,
    person: Option<String>,
    after: Option<i64>,
    limit: Option<usize>,
}

/// One track's appearance at one camera.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SightingBody {
    id: i64,
    /// The source as given to `--source` (credentials left out).
    camera: String,
    /// The face's track on that camera: one track is one person staying in view.
    track: u64,
    /// The person it was named as (see /v1/people/{id}); null for a face nobody enrolled.
    person_id: Option<i64>,
    /// When the face came into view, in seconds since the Unix epoch.
    first: i64,
    /// When it was last seen.
    last: i64,
    /// The smallest distance to the person named (to the nearest person, for an unknown
    /// face).
    distance: Option<f32>,
    /// How many embeddings agreed with the decision.
    evidence: u32,
    /// Whether an unknown face's crop is kept (config sightings.keep_unknown_faces).
    has_crop: bool,
}

impl From<Sighting> for SightingBody {
    fn from(s: Sighting) -> SightingBody {
        SightingBody {
            id: s.id.0,
            camera: s.camera,
            track: s.track,
            person_id: s.person.map(|p| p.0),
            first: s.first,
            last: s.last,
            distance: s.distance,
            evidence: s.evidence,
            has_crop: s.has_crop,
        }
    }
}

/// A page of sightings.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SightingsPage {
    sightings: Vec<SightingBody>,
    /// Give it as `after` for the next page (older sightings); null on the last page.
    next: Option<i64>,
}

/// A page of the sightings `query` asks for, its read in the audit trail as `actor`'s (when
/// it holds any), and the `after` of the next page (`None` on the last): for the API and the
/// console's log alike.
pub(crate) async fn read_page(
    state: &AppState,
    query: SightingQuery,
    actor: Actor,
) -> Result<(Vec<Sighting>, Option<i64>), ApiError> {
    query.checked_limit()?;
    let (page, limit) = state
        .gallery(move |g| {
            let page = g.sightings(&query)?;
            if !page.is_empty() {
                g.record(
                    AuditAction::ReadSightings,
                    &query.detail(page.len()),
                    &actor,
                )?;
            }
            Ok((page, query.limit))
        })
        .await?;
    let next = (page.len() == limit)
        .then(|| page.last().map(|s| s.id.0))
        .flatten();
    Ok((page, next))
}

/// Who was seen, at which camera, from when to when: one sighting per track's appearance,
/// newest first (the last to come into view first), a page at a time, each next page older.
/// Every page read is recorded in the audit trail.
#[utoipa::path(get, path = "/v1/sightings", tag = "sightings",
    params(
        ("since" = Option<i64>, Query,
            description = "Only faces still in view at or after this time, in seconds since the Unix epoch"),
        ("camera" = Option<String>, Query, description = "Only this source"),
        ("person" = Option<String>, Query, pattern = r"^([1-9][0-9]{0,17}|unknown)$",
            description = "Only this person's (their id), or `unknown` for faces nobody enrolled"),
        ("after" = Option<i64>, Query, description = "The `next` of the page before: only sightings older than it (pages run newest first)"),
        ("limit" = Option<usize>, Query, minimum = 1, maximum = 1000, description = "At most this many, 1 to 1000 (100)")),
    responses((status = 200, body = SightingsPage), (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn list_sightings(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToRead>,
    QueryOf(params): QueryOf<SightingsQuery>,
) -> Result<Json<SightingsPage>, ApiError> {
    let who = params
        .person
        .as_deref()
        .map(str::parse::<Who>)
        .transpose()?;
    let query = SightingQuery {
        since: params.since,
        camera: params.camera,
        who,
        after: params.after.map(SightingId),
        limit: params.limit.unwrap_or(PAGE),
    };
    let (page, next) = read_page(&state, query, allowed.actor()).await?;
    Ok(Json(SightingsPage {
        sightings: page.into_iter().map(SightingBody::from).collect(),
        next,
    }))
}

/// What "not this person" did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CorrectedBody {
    /// Whom the face is not: from now on a face nearer to the example than to their own faces
    /// is never named them.
    person_id: i64,
    /// Negative examples kept.
    examples: usize,
}

impl From<Corrected> for CorrectedBody {
    fn from(c: Corrected) -> CorrectedBody {
        CorrectedBody {
            person_id: c.person.0,
            examples: c.examples,
        }
    }
}

/// Not this person: the sighting was named as somebody it is not. The track's mean embedding
/// becomes a negative example of that person (a face nearer to it than to their own faces is
/// never named them again, on every server sharing the gallery) and the sighting becomes
/// unknown. In the audit trail.
#[utoipa::path(post, path = "/v1/sightings/{id}/not", tag = "sightings",
    params(("id" = i64, Path, description = "The sighting's id")),
    responses((status = 200, body = CorrectedBody),
        (status = 400, description = "An id that is not a whole number, a sighting that is unknown already, or one that keeps no embedding", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn not_this_person(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf(id): PathOf<i64>,
) -> Result<Json<CorrectedBody>, ApiError> {
    let corrected = state
        .change_gallery(allowed.actor(), move |g, actor| {
            g.not_in_sighting(SightingId(id), actor)
        })
        .await?;
    tracing::info!(key = ?allowed.key, sighting = id, person = corrected.person.0, "not this person");
    Ok(Json(corrected.into()))
}
