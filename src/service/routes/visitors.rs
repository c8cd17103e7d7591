//! Unknown visitors (`/v1/visitors`): the unknown faces grouped by who they are; a group's
//! crops (admin: they are faces nobody consented to enroll), enrolling a group as somebody,
//! and dismissing one (forgetting it to the last byte).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::base::error::Error;
use crate::enroll::Taken;
use crate::enroll::visitor::{Becomes, candidates};
use crate::gallery::visitors::no_visitor;
use crate::gallery::{PersonId, Visitor, VisitorId};
use crate::service::auth::{Allowed, ToAdmin, ToRead};
use crate::service::error::{ApiError, ErrorBody};
use crate::service::pool::{Answer, Task};
use crate::service::routes::recognize::Photo;
use crate::service::routes::{JsonOf, PathOf};
use crate::service::state::AppState;

/// Sample crops listed per group, and the most crops enrolled from one.
pub(crate) const SAMPLES: usize = 5;

/// A group of unknown sightings: one stranger, seen again and again.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VisitorBody {
    id: i64,
    /// How many sightings (track appearances) the group has.
    sightings: usize,
    /// When it was first seen and last seen, in seconds since the Unix epoch.
    first: i64,
    last: i64,
    /// The sources it was seen at.
    cameras: Vec<String>,
    /// The sightings whose crops show it, best first; the n-th (from 0) is
    /// /v1/visitors/{id}/faces/{n}/image.
    samples: Vec<i64>,
}

impl From<Visitor> for VisitorBody {
    fn from(v: Visitor) -> VisitorBody {
        VisitorBody {
            id: v.id.0,
            sightings: v.sightings,
            first: v.first,
            last: v.last,
            cameras: v.cameras,
            samples: v.samples.into_iter().map(|s| s.0).collect(),
        }
    }
}

/// Who a visitor is: `{"name": ...}` (a new person, or the one with that name) or
/// `{"person_id": ...}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EnrollVisitor {
    name: Option<String>,
    person_id: Option<i64>,
}

/// Written out: exactly one of the two, the name under the rules names are checked by.
impl utoipa::PartialSchema for EnrollVisitor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        let by_name = ObjectBuilder::new()
            .property("name", crate::service::routes::people::name_schema())
            .required("name")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let by_id = ObjectBuilder::new()
            .property(
                "person_id",
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(
                        utoipa::openapi::schema::KnownFormat::Int64,
                    )))
                    .description(Some("An enrolled person's id")),
            )
            .required("person_id")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new().item(by_name).item(by_id).into()
    }
}

impl ToSchema for EnrollVisitor {}

/// What enrolling a visitor did.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VisitorEnrolledBody {
    person_id: i64,
    /// The faces added from the group's crops.
    faces: Vec<i64>,
    /// Each crop not taken, and why.
    not_taken: Vec<String>,
    /// Worth a look: e.g. a crop nearer to somebody else than to this person.
    warnings: Vec<String>,
    /// The group's sightings, now that person's.
    sightings_named: usize,
}

/// What dismissing a visitor forgot.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DismissedBody {
    sightings: usize,
}

/// The unknown faces grouped into visitors, the most recently seen first.
#[utoipa::path(get, path = "/v1/visitors", tag = "visitors",
    responses((status = 200, body = [VisitorBody]), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn list_visitors(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToRead>,
) -> Result<Json<Vec<VisitorBody>>, ApiError> {
    let visitors = state.gallery(|g| g.visitors(SAMPLES)).await?;
    Ok(Json(visitors.into_iter().map(VisitorBody::from).collect()))
}

/// A visitor's n-th sample crop (from 0), as PNG.
#[utoipa::path(get, path = "/v1/visitors/{id}/faces/{n}/image", tag = "visitors",
    params(("id" = i64, Path, description = "The visitor's id"),
        ("n" = usize, Path, maximum = 4294967295.0,
            description = "The sample's place in `samples`, from 0")),
    responses((status = 200, description = "The crop", content_type = "image/png", body = Photo),
        (status = 400, description = "An id or place that is not a whole number", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn visitor_face_image(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToAdmin>,
    PathOf((id, n)): PathOf<(i64, usize)>,
) -> Result<impl IntoResponse, ApiError> {
    let png = state
        .gallery(move |g| {
            let visitor = g
                .visitors(SAMPLES)?
                .into_iter()
                .find(|v| v.id == VisitorId(id))
                .ok_or_else(|| no_visitor(VisitorId(id)))?;
            let sighting = visitor.samples.get(n).copied().ok_or_else(|| {
                Error::NotFound(format!("visitor {id} has no sample {n} with a crop"))
            })?;
            g.sighting_crop(sighting)?.ok_or_else(|| {
                Error::NotFound(format!(
                    "the crop of visitor {id}'s sample {n} was forgotten"
                ))
            })
        })
        .await?;
    // An unknown face is biometric data: no cache keeps a copy.
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    ))
}

/// Enrolls a visitor as a new person (`name`) or as somebody enrolled (`person_id`): its best
/// crops pass the quality gate and the duplicate check, as photos do, and its sightings
/// become that person's. The next appearance is named.
#[utoipa::path(post, path = "/v1/visitors/{id}/enroll", tag = "visitors",
    request_body = EnrollVisitor,
    params(("id" = i64, Path, description = "The visitor's id")),
    responses((status = 200, body = VisitorEnrolledBody),
        (status = 400, description = "Neither or both of name and person_id, an id that is not a whole number, or no crop passed (with each crop's reason)", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, description = "Not sent as application/json", body = ErrorBody),
        (status = 422, description = "Not an object with `name` or `person_id`", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 503, description = "Every pipeline busy (Retry-After)", body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn enroll_visitor(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf(id): PathOf<i64>,
    JsonOf(body): JsonOf<EnrollVisitor>,
) -> Result<Json<VisitorEnrolledBody>, ApiError> {
    let becomes = match (body.name, body.person_id) {
        (Some(name), None) => Becomes::Name(name),
        (None, Some(person)) => Becomes::PersonId(PersonId(person)),
        _ => {
            return Err(Error::InvalidInput("give either `name` or `person_id`".into()).into());
        }
    };
    let embedder = state.embedder.clone();
    let mut candidates = state
        .gallery(move |g| candidates(g, &embedder, VisitorId(id), &becomes, SAMPLES))
        .await?;
    let mut faces = Vec::new();
    let mut not_taken = Vec::new();
    // One crop after another: each is checked against the crops taken before it.
    for (what, crop) in std::mem::take(&mut candidates.crops) {
        let crop = match crop {
            Ok(crop) => crop,
            Err(e) => {
                not_taken.push(format!("{what}: {}", e.report()));
                continue;
            }
        };
        let task = Task::Enroll {
            enrollment: state.enrollment.clone(),
            source: what.clone(),
            expect: candidates.expect.clone(),
        };
        match state.ask_pool(crop, task).await? {
            Answer::Enrolled(Ok(face)) => {
                candidates.expect.taken.push(Taken {
                    what,
                    embedding: face.embedding.clone(),
                });
                faces.push(face);
            }
            Answer::Enrolled(Err(rejection)) => not_taken.push(format!("{what}: {rejection}")),
            Answer::Recognized(_) | Answer::Looked(_) => {
                return Err(
                    Error::Internal("the pool answered an enrollment with another answer").into(),
                );
            }
        }
    }
    let enrollment = state.enrollment.clone();
    let embedder = state.embedder.clone();
    let enrolled = state
        .change_gallery(allowed.actor(), move |g, actor| {
            candidates.save(g, &enrollment, &embedder, &faces, not_taken, actor)
        })
        .await?;
    tracing::info!(key = ?allowed.key, visitor = id, person = enrolled.person_id.0,
        faces = enrolled.added.len(), "visitor enrolled");
    Ok(Json(VisitorEnrolledBody {
        person_id: enrolled.person_id.0,
        faces: enrolled.added.iter().map(|f| f.0).collect(),
        not_taken: enrolled.not_taken,
        warnings: enrolled.warnings,
        sightings_named: enrolled.sightings_named,
    }))
}

/// Dismisses a visitor: its sightings, crops and embeddings are forgotten, to the last byte
/// of the gallery's files. In the audit trail.
#[utoipa::path(delete, path = "/v1/visitors/{id}", tag = "visitors",
    params(("id" = i64, Path, description = "The visitor's id")),
    responses((status = 200, body = DismissedBody),
        (status = 400, description = "An id that is not a whole number", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn dismiss_visitor(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf(id): PathOf<i64>,
) -> Result<Json<DismissedBody>, ApiError> {
    let dismissed = state
        .change_gallery(allowed.actor(), move |g, actor| {
            g.dismiss_visitor(VisitorId(id), actor)
        })
        .await?;
    tracing::info!(key = ?allowed.key, visitor = id, sightings = dismissed.sightings, "visitor dismissed");
    Ok(Json(DismissedBody {
        sightings: dismissed.sightings,
    }))
}
