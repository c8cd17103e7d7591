//! `POST /v1/recognize`: who is in a photo.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::base::error::Error;
use crate::config::threshold_problem;
use crate::service::auth::{Allowed, ToRecognize};
use crate::service::error::{ApiError, ErrorBody};
use crate::service::pool::{Answer, Task};
use crate::service::routes::QueryOf;
use crate::service::routes::upload::Upload;
use crate::service::state::AppState;
use crate::vision::pipeline::StageTimes;

#[derive(Debug, Deserialize)]
pub(crate) struct RecognizeQuery {
    threshold: Option<f32>,
}

/// A photo's bytes, in the document: it names the type of a body.
pub(crate) struct Photo;

impl utoipa::PartialSchema for Photo {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .into()
    }
}

impl ToSchema for Photo {}

/// Every face in the photo.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Recognized {
    pub(crate) faces: Vec<RecognizedFace>,
    /// The threshold the faces were matched with: the one asked for, for everyone, or the
    /// server's global one, which a person with their own threshold (see GET /v1/people) is
    /// matched with instead.
    pub(crate) threshold: f32,
    /// The embedder that made the embeddings (`dlib` or `openface`, and its model).
    pub(crate) embedder: String,
    pub(crate) timings_ms: Timings,
}

/// One face.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RecognizedFace {
    /// x, y, width, height in pixels of the photo as sent.
    #[serde(rename = "box")]
    pub(crate) bbox: [i32; 4],
    /// The detector's confidence that this is a face (0-1).
    pub(crate) confidence: f32,
    /// The enrolled person, or null when nobody enrolled is within the threshold.
    pub(crate) name: Option<String>,
    pub(crate) person_id: Option<i64>,
    /// L2 distance to the nearest enrolled person (null when nobody is within 0.15 beyond the
    /// threshold: the matcher does not search farther).
    pub(crate) distance: Option<f32>,
    /// How much farther the runner-up is (null unless two people are within 0.15 beyond the
    /// threshold): small means the two are hard to tell apart.
    pub(crate) margin: Option<f32>,
}

/// Milliseconds in each stage, all faces together.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Timings {
    decode: f64,
    detect: f64,
    align: f64,
    embed: f64,
    #[serde(rename = "match")]
    matching: f64,
}

impl From<StageTimes> for Timings {
    fn from(t: StageTimes) -> Timings {
        Timings {
            decode: t.decode,
            detect: t.detect,
            align: t.align,
            embed: t.embed,
            matching: t.matching,
        }
    }
}

/// Who is in a photo.
///
/// Runs the same detect, align, embed and match stages as the desktop app on every face.
#[utoipa::path(
    post,
    path = "/v1/recognize",
    tag = "recognize",
    params(("threshold" = Option<f32>, Query, exclusive_minimum = 0.0, maximum = 2.0,
        description = "Largest embedding distance still taken as the same person, for this photo only and for everyone (0 < threshold <= 2; when left out, the server's own, 0.55 by default, or a person's own threshold where one is set). Looser than the server's own, or than a person's own stricter threshold, only with an admin key.")),
    request_body(content = Photo, content_type = "image/jpeg",
        description = "A JPEG or PNG photo as the body (Content-Type image/jpeg or image/png), or multipart/form-data with the photo in the field `image`."),
    responses(
        (status = 200, description = "Every face found, named or not", body = Recognized),
        (status = 400, description = "A bad threshold or form", body = ErrorBody),
        (status = 401, description = "No valid API key", body = ErrorBody),
        (status = 403, description = "The key lacks the scope recognize, or asks for a threshold looser than the server's or than a person's own stricter one without the scope admin", body = ErrorBody),
        (status = 413, description = "The body is over serve.max_body_mb", body = ErrorBody),
        (status = 415, description = "Not sent as a JPEG, a PNG or a form", body = ErrorBody),
        (status = 422, description = "Not a whole JPEG or PNG, or too many pixels", body = ErrorBody),
        (status = 503, description = "Every pipeline busy (Retry-After)", body = ErrorBody),
    ),
    security(("api_key" = ["recognize"]))
)]
pub(crate) async fn recognize(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToRecognize>,
    QueryOf(query): QueryOf<RecognizeQuery>,
    Upload(image): Upload,
) -> Result<Json<Recognized>, ApiError> {
    if let Some(problem) = query.threshold.and_then(threshold_problem) {
        return Err(ApiError::bad_request(format!("threshold {problem}")));
    }
    // A looser threshold names strangers as enrolled people: a key that may only recognize
    // may ask for stricter matching, never for looser than anyone's: the server's, or a
    // person's own stricter one (which a threshold for everyone would replace).
    if let Some(asked) = query.threshold
        && !allowed.admin
    {
        let server = state.roster.threshold();
        let strictest = state.roster.snapshot().matcher().strictest_threshold();
        if asked > strictest {
            let whose = if asked > server {
                format!("the server's {server}")
            } else {
                format!("{strictest}, the own threshold someone enrolled is matched with")
            };
            return Err(ApiError::forbidden(&format!(
                "threshold {asked} is looser than {whose}: a key without the admin scope may \
                 only ask for one that loosens nobody's (at most {strictest})"
            )));
        }
    }
    let task = Task::Recognize {
        threshold: query.threshold,
        roster: state.roster.clone(),
    };
    let Answer::Recognized(recognition) = state.ask_pool(image, task).await? else {
        return Err(Error::Internal("the pool answered a recognition with an enrollment").into());
    };
    let faces: Vec<RecognizedFace> = recognition
        .faces
        .into_iter()
        .map(|found| {
            let b = found.detection.bbox;
            RecognizedFace {
                bbox: [b.x, b.y, b.width, b.height],
                confidence: found.detection.confidence,
                name: found.identity.name,
                person_id: found.identity.person_id.map(|p| p.0),
                distance: found.identity.distance,
                margin: found.identity.margin,
            }
        })
        .collect();
    let known = faces.iter().filter(|f| f.name.is_some()).count();
    state.metrics.faces(known, faces.len() - known);
    tracing::debug!(key = ?allowed.key, faces = faces.len(), known, "recognized");
    Ok(Json(Recognized {
        faces,
        threshold: query.threshold.unwrap_or(state.roster.threshold()),
        embedder: state.embedder.to_string(),
        timings_ms: recognition.times.into(),
    }))
}
