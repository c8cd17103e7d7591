//! The roster: people (`/v1/people`) and their faces (`/v1/people/{id}/faces`).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::base::error::Error;
use crate::enroll::Expect;
use crate::gallery::{FaceId, FaceSummary, MAX_NAME_CHARS, PersonId, PersonSummary, name_pattern};
use crate::service::auth::{Allowed, ToAdmin, ToRead};
use crate::service::error::{ApiError, ErrorBody};
use crate::service::pool::{Answer, Task, UPLOAD};
use crate::service::routes::recognize::Photo;
use crate::service::routes::sightings::CorrectedBody;
use crate::service::routes::upload::Upload;
use crate::service::routes::{JsonOf, PathOf};
use crate::service::state::AppState;

/// An enrolled person.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Person {
    id: i64,
    name: String,
    /// Enrolled faces.
    faces: usize,
    /// When enrolled, in seconds since the Unix epoch.
    created: i64,
    /// When last recognised by a live source, in seconds since the Unix epoch.
    last_seen: Option<i64>,
    /// Their own threshold (`whoisit calibrate --per-person --apply`), absent when they are
    /// matched with the server's global one. The server holds it within
    /// calibration.per_person_max_tighten/loosen of the global threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    own_threshold: Option<f32>,
    /// The embedder `own_threshold` was calibrated on; it applies only to that embedder.
    #[serde(skip_serializing_if = "Option::is_none")]
    own_threshold_embedder: Option<String>,
}

impl From<PersonSummary> for Person {
    fn from(p: PersonSummary) -> Person {
        Person {
            id: p.id.0,
            name: p.name,
            faces: p.faces,
            created: p.created,
            last_seen: p.last_seen,
            own_threshold: p.own_threshold.as_ref().map(|o| o.threshold),
            own_threshold_embedder: p.own_threshold.map(|o| o.embedder.as_str().to_owned()),
        }
    }
}

/// An enrolled face.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Face {
    id: i64,
    /// When enrolled, in seconds since the Unix epoch.
    captured: i64,
    /// Where it came from: a photo's path, a window capture, an upload.
    source: String,
    /// The detector's confidence in the face (0-1).
    confidence: f32,
    /// The shorter side of the face, in pixels.
    face_px: i32,
    /// Variance of the Laplacian of the face: higher is sharper.
    sharpness: f32,
    /// The head's pose: front, left, right, up or down (absent for faces enrolled before
    /// poses were recorded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pose: Option<String>,
    /// Whether its crop is kept (GET .../image); config `keep_images`.
    has_image: bool,
}

impl From<FaceSummary> for Face {
    fn from(f: FaceSummary) -> Face {
        Face {
            id: f.id.0,
            captured: f.captured,
            source: f.source,
            confidence: f.confidence,
            face_px: f.face_px,
            sharpness: f.sharpness,
            pose: f.pose.map(|p| p.as_str().to_owned()),
            has_image: f.has_image,
        }
    }
}

/// A person's name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameBody {
    name: String,
}

/// Written out, so that the document holds the rules names are checked by.
impl utoipa::PartialSchema for NameBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder};
        ObjectBuilder::new()
            .property("name", name_schema())
            .required("name")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .into()
    }
}

impl ToSchema for NameBody {}

/// A person's name as the document states it: the rules names are checked by.
pub(crate) fn name_schema() -> utoipa::openapi::schema::ObjectBuilder {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_CHARS))
        .pattern(Some(name_pattern()))
        .description(Some(
            "1 to 100 characters, not only spaces, without control, invisible or \
             text-direction characters; compared NFC-normalised and trimmed; unique",
        ))
}

/// What deleting a person removed.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RemovedBody {
    faces: usize,
    embeddings: usize,
    images: usize,
}

/// A face just enrolled.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FaceAdded {
    face: Face,
    person: Person,
    /// Worth a look: e.g. the face is nearer to somebody else than to this person.
    warnings: Vec<String>,
}

/// Everyone enrolled, by name.
#[utoipa::path(get, path = "/v1/people", tag = "people",
    responses((status = 200, body = [Person]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn list_people(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToRead>,
) -> Result<Json<Vec<Person>>, ApiError> {
    let people = state.gallery(|g| g.people()).await?;
    Ok(Json(people.into_iter().map(Person::from).collect()))
}

/// Enrolls a person, with no faces yet.
#[utoipa::path(post, path = "/v1/people", tag = "people", request_body = NameBody,
    responses(
        (status = 201, body = Person),
        (status = 400, description = "Not a valid name, or not JSON", body = ErrorBody),
        (status = 409, description = "Somebody has that name", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, description = "Not sent as application/json", body = ErrorBody),
        (status = 422, description = "Not an object with `name` alone", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn create_person(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    JsonOf(body): JsonOf<NameBody>,
) -> Result<(StatusCode, Json<Person>), ApiError> {
    let person = state
        .change_gallery(allowed.actor(), move |g, actor| {
            let (id, _) = g.create_person(&body.name, &[], actor)?;
            g.person(id)
        })
        .await?;
    tracing::info!(key = ?allowed.key, id = person.id.0, "person created");
    Ok((StatusCode::CREATED, Json(person.into())))
}

/// One person.
#[utoipa::path(get, path = "/v1/people/{id}", tag = "people",
    params(("id" = i64, Path, description = "The person's id")),
    responses((status = 200, body = Person), (status = 400, description = "An id that is not a whole number", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn get_person(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToRead>,
    PathOf(id): PathOf<i64>,
) -> Result<Json<Person>, ApiError> {
    let person = state.gallery(move |g| g.person(PersonId(id))).await?;
    Ok(Json(person.into()))
}

/// Renames a person; their faces stay.
#[utoipa::path(patch, path = "/v1/people/{id}", tag = "people", request_body = NameBody,
    params(("id" = i64, Path, description = "The person's id")),
    responses((status = 200, body = Person),
        (status = 400, description = "Not a valid name or id, or not JSON", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, description = "Not sent as application/json", body = ErrorBody),
        (status = 422, description = "Not an object with `name` alone", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn rename_person(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf(id): PathOf<i64>,
    JsonOf(body): JsonOf<NameBody>,
) -> Result<Json<Person>, ApiError> {
    let person = state
        .change_gallery(allowed.actor(), move |g, actor| {
            g.rename(PersonId(id), &body.name, actor)?;
            g.person(PersonId(id))
        })
        .await?;
    tracing::info!(key = ?allowed.key, id, "person renamed");
    Ok(Json(person.into()))
}

/// Deletes a person with all their faces, embeddings and crops, and the live events that
/// name them.
#[utoipa::path(delete, path = "/v1/people/{id}", tag = "people",
    params(("id" = i64, Path, description = "The person's id")),
    responses((status = 200, body = RemovedBody), (status = 400, description = "An id that is not a whole number", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn delete_person(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf(id): PathOf<i64>,
) -> Result<Json<RemovedBody>, ApiError> {
    let removed = state
        .change_gallery(allowed.actor(), move |g, actor| {
            g.remove(PersonId(id), actor)
        })
        .await?;
    let events = state.events.forget(PersonId(id));
    tracing::info!(key = ?allowed.key, id, faces = removed.faces, events, "person removed");
    Ok(Json(RemovedBody {
        faces: removed.faces,
        embeddings: removed.embeddings,
        images: removed.images,
    }))
}

/// A person's faces, oldest first.
#[utoipa::path(get, path = "/v1/people/{id}/faces", tag = "faces",
    params(("id" = i64, Path, description = "The person's id")),
    responses((status = 200, body = [Face]), (status = 400, description = "An id that is not a whole number", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn list_faces(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToRead>,
    PathOf(id): PathOf<i64>,
) -> Result<Json<Vec<Face>>, ApiError> {
    let faces = state.gallery(move |g| g.faces(PersonId(id))).await?;
    Ok(Json(faces.into_iter().map(Face::from).collect()))
}

/// Enrolls a face from a photo of the person alone.
///
/// The photo passes the same quality gate as in the app: one face, large and sharp enough.
/// A photo already enrolled for this person is refused (409).
#[utoipa::path(post, path = "/v1/people/{id}/faces", tag = "faces",
    params(("id" = i64, Path, description = "The person's id")),
    request_body(content = Photo, content_type = "image/jpeg",
        description = "A JPEG or PNG photo as the body, or multipart/form-data with the field `image`."),
    responses(
        (status = 201, body = FaceAdded),
        (status = 400, description = "An id that is not a whole number", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "This photo is enrolled for this person already", body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 415, body = ErrorBody),
        (status = 422, description = "Rejected, with the reason in words (\"2 faces found\"), or not a whole image", body = ErrorBody),
        (status = 503, description = "Every pipeline busy (Retry-After)", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn add_face(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf(id): PathOf<i64>,
    Upload(image): Upload,
) -> Result<(StatusCode, Json<FaceAdded>), ApiError> {
    let person = PersonId(id);
    // Unknown ids are refused before a pipeline spends time on the photo; a person removed
    // while it does is refused after (404), never brought back.
    state.gallery(move |g| g.person(person)).await?;
    let task = Task::Enroll {
        enrollment: state.enrollment.clone(),
        source: UPLOAD.to_owned(),
        expect: Expect::default(),
    };
    let Answer::Enrolled(verdict) = state.ask_pool(image, task).await? else {
        return Err(Error::Internal("the pool answered an enrollment with a recognition").into());
    };
    let face = verdict.map_err(|rejection| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "rejected",
            format!("the photo was not enrolled: {rejection}"),
        )
    })?;
    let enrollment = state.enrollment.clone();
    let embedder = state.embedder.clone();
    let (report, faces, summary) = state
        .change_gallery(allowed.actor(), move |g, actor| {
            let report =
                enrollment.add_to(g, &embedder, person, std::slice::from_ref(&face), actor)?;
            Ok((report, g.faces(person)?, g.person(person)?))
        })
        .await?;
    let Some(&added) = report.added.first() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "duplicate",
            "this photo is enrolled for this person already",
        ));
    };
    let face = faces
        .into_iter()
        .find(|f| f.id == added)
        .ok_or(Error::Internal("a face just added is not listed"))?;
    tracing::info!(key = ?allowed.key, person = id, face = added.0, "face enrolled");
    Ok((
        StatusCode::CREATED,
        Json(FaceAdded {
            face: face.into(),
            person: summary.into(),
            warnings: report.warnings,
        }),
    ))
}

/// Deletes one face, with its embeddings and crop.
#[utoipa::path(delete, path = "/v1/people/{id}/faces/{face}", tag = "faces",
    params(("id" = i64, Path, description = "The person's id"), ("face" = i64, Path, description = "The face's id")),
    responses((status = 204, description = "Deleted"), (status = 400, description = "An id that is not a whole number", body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn delete_face(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf((id, face)): PathOf<(i64, i64)>,
) -> Result<StatusCode, ApiError> {
    state
        .change_gallery(allowed.actor(), move |g, actor| {
            g.remove_face(PersonId(id), FaceId(face), actor)
        })
        .await?;
    tracing::info!(key = ?allowed.key, person = id, face, "face removed");
    Ok(StatusCode::NO_CONTENT)
}

/// Not this person: the face was enrolled for somebody it is not. It is removed (with its
/// crop), and its embeddings become negative examples of the person, so that the stranger it
/// shows is not named them again (on every server sharing the gallery). In the audit trail.
#[utoipa::path(post, path = "/v1/people/{id}/faces/{face}/not", tag = "faces",
    params(("id" = i64, Path, description = "The person's id"), ("face" = i64, Path, description = "The face's id")),
    responses((status = 200, body = CorrectedBody),
        (status = 400, description = "An id that is not a whole number", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn not_this_face(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf((id, face)): PathOf<(i64, i64)>,
) -> Result<Json<CorrectedBody>, ApiError> {
    let corrected = state
        .change_gallery(allowed.actor(), move |g, actor| {
            g.not_in_face(PersonId(id), FaceId(face), actor)
        })
        .await?;
    tracing::info!(key = ?allowed.key, person = id, face, "not this person: face removed");
    Ok(Json(corrected.into()))
}

/// Whom a person is merged from.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MergeBody {
    /// The person merged in and removed: the same person as the one in the path.
    from: i64,
}

/// What a merge moved.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MergedBody {
    /// The person who stays, as they are now.
    person: Person,
    /// Faces moved from the person merged in.
    faces: usize,
    /// Their faces of a photo the person had already, dropped.
    duplicates: usize,
    sightings: usize,
    /// Negative examples ("not this person") moved.
    negatives: usize,
    /// Whether their own threshold was taken (only by a person who had none).
    own_threshold: bool,
}

/// Merges another person in: two entries that are one person. Their faces (but those of a
/// photo this person has), sightings, negative examples, last-seen time and own threshold
/// (when this person has none) become this person's, and the other is removed. In the audit
/// trail.
#[utoipa::path(post, path = "/v1/people/{id}/merge", tag = "people", request_body = MergeBody,
    params(("id" = i64, Path, description = "The person who stays")),
    responses((status = 200, body = MergedBody),
        (status = 400, description = "An id that is not a whole number, not JSON, or the same person twice", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, description = "Not sent as application/json", body = ErrorBody),
        (status = 422, description = "Not an object with `from` alone", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn merge_person(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf(id): PathOf<i64>,
    JsonOf(body): JsonOf<MergeBody>,
) -> Result<Json<MergedBody>, ApiError> {
    let from = PersonId(body.from);
    let (merged, person) = state
        .change_gallery(allowed.actor(), move |g, actor| {
            let merged = g.merge_people(PersonId(id), from, actor)?;
            Ok((merged, g.person(PersonId(id))?))
        })
        .await?;
    let events = state.events.forget(from);
    tracing::info!(key = ?allowed.key, id, from = from.0, faces = merged.faces, events, "people merged");
    Ok(Json(MergedBody {
        person: person.into(),
        faces: merged.faces,
        duplicates: merged.duplicates,
        sightings: merged.sightings,
        negatives: merged.negatives,
        own_threshold: merged.own_threshold,
    }))
}

/// Whom a face is moved to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveBody {
    /// The person the face shows.
    to: i64,
}

/// Moves a face to the person it shows, with its embeddings, crop and pose. In the audit
/// trail.
#[utoipa::path(post, path = "/v1/people/{id}/faces/{face}/move", tag = "faces", request_body = MoveBody,
    params(("id" = i64, Path, description = "The person's id"), ("face" = i64, Path, description = "The face's id")),
    responses((status = 204, description = "Moved"),
        (status = 400, description = "An id that is not a whole number, not JSON, the same person, or a photo the other person has", body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 415, description = "Not sent as application/json", body = ErrorBody),
        (status = 422, description = "Not an object with `to` alone", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["admin"])))]
pub(crate) async fn move_face(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToAdmin>,
    PathOf((id, face)): PathOf<(i64, i64)>,
    JsonOf(body): JsonOf<MoveBody>,
) -> Result<StatusCode, ApiError> {
    let to = PersonId(body.to);
    state
        .change_gallery(allowed.actor(), move |g, actor| {
            g.move_face(PersonId(id), FaceId(face), to, actor)
        })
        .await?;
    tracing::info!(key = ?allowed.key, person = id, face, to = to.0, "face moved");
    Ok(StatusCode::NO_CONTENT)
}

/// A face's stored crop, as PNG.
#[utoipa::path(get, path = "/v1/people/{id}/faces/{face}/image", tag = "faces",
    params(("id" = i64, Path, description = "The person's id"), ("face" = i64, Path, description = "The face's id")),
    responses((status = 200, description = "The crop", content_type = "image/png", body = Photo),
        (status = 400, description = "An id that is not a whole number", body = ErrorBody),
        (status = 404, description = "No such face, or it was kept without a crop", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn face_image(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToRead>,
    PathOf((id, face)): PathOf<(i64, i64)>,
) -> Result<impl IntoResponse, ApiError> {
    let png = state
        .gallery(move |g| g.face_image(PersonId(id), FaceId(face)))
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "face {face} was kept without its crop (config keep_images was false)"
            ))
        })?;
    // A face is biometric data: no cache keeps a copy.
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    ))
}
