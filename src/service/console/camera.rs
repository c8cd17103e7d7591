//! Enrolling with the browser's own camera: the Enroll page's panel sends a small JPEG of the
//! camera's picture a few times a second and hears the same live hint as the window's panel
//! (the server computes it: faces in view, the head's pose against the pose asked); a capture
//! passes the same quality gate, pose check and duplicate check as the window's; the accepted
//! faces are saved as a new person, or added to the one enrolled under the name.
//!
//! The accepted faces wait on the server until the save, in a draft tied to the console
//! session: the page never holds an embedding it could forge, a capture is judged once (not
//! again at the save, which would embed every face twice on a shared machine), and the draft
//! dies with the session (logout, expiry, revocation of its key); `drafts` keeps them, bounded. Frames are bounded too (`MAX_FRAME_BYTES`,
//! `MAX_FRAME_PIXELS`, `FRAMES_PER_SECOND`) and never kept: a frame is decoded, judged and
//! dropped, and only an accepted face's crop stays, as the gallery keeps it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::base::error::Error;
use crate::enroll::Expect;
use crate::gallery::{Actor, validate_name};
use crate::service::console::Viewer;
use crate::service::console::drafts::{Draft, Verdict};
use crate::service::console::session::{self, CSRF_HEADER};
use crate::service::error::ApiError;
use crate::service::pool::{Answer, Task};
use crate::service::routes::upload::Upload;
use crate::service::state::AppState;
use crate::vision::photo::PhotoLimits;
use crate::vision::pose::{HeadPose, Pose};

/// A frame's JPEG, at most: the page sends 640 px wide at most, some 30-80 kB.
const MAX_FRAME_BYTES: usize = 512 << 10;
/// A frame's pixels, at most: a 1280x960 picture.
const MAX_FRAME_PIXELS: u64 = 1280 * 960;

/// Who sends a request of the camera panel: an admin, with the session's CSRF token. Known
/// before the body is read, so a read key's frame is refused unread.
pub(crate) struct Enroller {
    /// Whose draft it works on: the session's id ("" without keys).
    owner: String,
    actor: Actor,
}

impl FromRequestParts<Arc<AppState>> for Enroller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Enroller, ApiError> {
        let viewer = Viewer::from_request_parts(parts, state)
            .await
            .map_err(|_| {
                ApiError::unauthorized(
                    "the console session has ended (it expired, the server restarted, or you \
                     logged out); log in again with your key",
                )
            })?;
        if !viewer.admin {
            return Err(ApiError::forbidden(
                "a read key may look, not enroll: log in with a key of the scope admin",
            ));
        }
        let actor = viewer.actor();
        let Some(session) = &viewer.session else {
            return Ok(Enroller {
                owner: String::new(),
                actor,
            });
        };
        let sent = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !session::csrf_matches(session, sent) {
            return Err(ApiError::forbidden(
                "this request carries no valid CSRF token for the console session: reload the \
                 Enroll page and try again",
            ));
        }
        Ok(Enroller {
            owner: session.id().to_owned(),
            actor,
        })
    }
}

/// A frame within its size bound, its pixels checked when it is decoded.
fn frame(upload: Upload) -> Result<Vec<u8>, ApiError> {
    let Upload(bytes) = upload;
    if bytes.len() > MAX_FRAME_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!(
                "a camera frame is {} kB, at most {} kB are taken: send a smaller picture",
                bytes.len() >> 10,
                MAX_FRAME_BYTES >> 10
            ),
        ));
    }
    Ok(bytes)
}

fn frame_limits(state: &AppState) -> PhotoLimits {
    PhotoLimits {
        max_bytes: MAX_FRAME_BYTES as u64,
        max_pixels: MAX_FRAME_PIXELS.min(state.photo_limits.max_pixels),
    }
}

#[derive(Deserialize)]
pub(crate) struct Asked {
    /// The pose the panel asks for.
    pose: String,
    /// Whom the captures show (a capture's, not a look's).
    #[serde(default)]
    name: String,
}

impl Asked {
    fn pose(&self) -> Result<Pose, ApiError> {
        self.pose
            .parse()
            .map_err(|e: Error| ApiError::bad_request(e.report()))
    }
}

/// The live hint on one frame.
#[derive(Serialize)]
pub(crate) struct Hint {
    faces: usize,
    /// The pose the head shows, when there is one face and its landmarks place it.
    pose: Option<Pose>,
    /// Whether it is the pose asked.
    reached: bool,
    text: String,
}

/// The live hint: how many faces the frame shows, and what the person should do to show the
/// pose asked, in the window's words.
pub(crate) async fn look(
    State(state): State<Arc<AppState>>,
    enroller: Enroller,
    Query(asked): Query<Asked>,
    upload: Upload,
) -> Result<Json<Hint>, ApiError> {
    let owner = enroller.owner;
    let pose = asked.pose()?;
    let image = frame(upload)?;
    state
        .console
        .drafts
        .with(&state.console.sessions, &owner, Draft::count_frame)?;
    let Answer::Looked(looked) = state
        .ask_pool_within(image, frame_limits(&state), Task::Look)
        .await?
    else {
        return Err(Error::Internal("the pool answered a look with another answer").into());
    };
    let (reached, text) = looked.hint(pose);
    Ok(Json(Hint {
        faces: looked.faces,
        pose: looked.pose.map(HeadPose::pose),
        reached,
        text,
    }))
}

/// Judges a frame as a capture of `name` in the pose asked: the quality gate, the pose, and
/// no repeat of a face taken before (this draft's, or the person's enrolled already).
pub(crate) async fn capture(
    State(state): State<Arc<AppState>>,
    enroller: Enroller,
    Query(asked): Query<Asked>,
    upload: Upload,
) -> Result<Json<Verdict>, ApiError> {
    let owner = enroller.owner;
    let pose = asked.pose()?;
    let name = validate_name(&asked.name).map_err(ApiError::from)?;
    let image = frame(upload)?;
    let taken = state
        .console
        .drafts
        .with(&state.console.sessions, &owner, |draft| {
            draft.taken_before(&name)
        })?;
    let embedder = state.embedder.clone();
    let judged_name = name.clone();
    let expect = state
        .gallery(move |g| Expect::for_capture(g, &embedder, &judged_name, Some(pose), taken))
        .await?;
    let task = Task::Enroll {
        enrollment: state.enrollment.clone(),
        source: "a capture of the console's camera".to_owned(),
        expect,
    };
    let Answer::Enrolled(verdict) = state
        .ask_pool_within(image, frame_limits(&state), task)
        .await?
    else {
        return Err(Error::Internal("the pool answered a capture with another answer").into());
    };
    state
        .console
        .drafts
        .with(&state.console.sessions, &owner, |draft| {
            Ok(draft.record(name, verdict))
        })
        .map(Json)
}

/// What a save did.
#[derive(Serialize)]
pub(crate) struct Saved {
    person_id: i64,
    name: String,
    added: usize,
    warnings: Vec<String>,
}

/// Saves the draft's faces under its name: a new person, or added to the one enrolled under
/// it; recognised from the next frame on.
pub(crate) async fn save(
    State(state): State<Arc<AppState>>,
    enroller: Enroller,
) -> Result<Json<Saved>, ApiError> {
    let Enroller { owner, actor } = enroller;
    // The faces leave the draft while they are saved (a second click saves nothing twice),
    // and come back should the save fail: nothing is lost.
    let (name, faces) =
        state
            .console
            .drafts
            .with(&state.console.sessions, &owner, |draft| {
                match (draft.name.take(), std::mem::take(&mut draft.faces)) {
                    (Some(name), faces) if !faces.is_empty() => Ok((name, faces)),
                    _ => Err(ApiError::bad_request(
                        "no capture is accepted yet: capture the poses asked, then save",
                    )),
                }
            })?;
    let enrollment = state.enrollment.clone();
    let embedder = state.embedder.clone();
    let saved_name = name.clone();
    let saved = faces.clone();
    let outcome = state
        .change_gallery(actor, move |g, actor| {
            let report = enrollment.add(g, &embedder, &saved_name, &saved, actor)?;
            Ok((report, g.find(&saved_name)?))
        })
        .await;
    let (report, person) = match outcome {
        Ok(saved) => saved,
        Err(e) => {
            state
                .console
                .drafts
                .with(&state.console.sessions, &owner, |draft| {
                    if draft.name.as_ref().is_none_or(|n| *n == name) {
                        draft.name = Some(name);
                        draft.faces.splice(0..0, faces);
                    }
                    Ok(())
                })?;
            return Err(e);
        }
    };
    tracing::info!(
        person = person.0,
        faces = report.added.len(),
        "enrolled with the console's camera"
    );
    Ok(Json(Saved {
        person_id: person.0,
        name,
        added: report.added.len(),
        warnings: report.warnings,
    }))
}

/// Drops the draft's captures: the user starts over, or enrolls somebody else.
pub(crate) async fn start_over(
    State(state): State<Arc<AppState>>,
    enroller: Enroller,
) -> Result<StatusCode, ApiError> {
    let owner = enroller.owner;
    state.console.drafts.forget(&owner);
    Ok(StatusCode::NO_CONTENT)
}

/// The poses the panel asks for, in turn, with what it asks: the same as the window's panel.
pub(crate) fn guided_poses() -> String {
    let poses: Vec<serde_json::Value> = Pose::GUIDED
        .iter()
        .map(|p| serde_json::json!({ "pose": p.as_str(), "request": p.request() }))
        .collect();
    serde_json::Value::from(poses).to_string()
}

/// The Enroll page's camera panel: its script (console.js) starts the camera when asked, and
/// asks for the poses in turn.
pub(crate) fn panel() -> String {
    format!(
        "<section class=\"camera\" data-camera data-poses=\"{poses}\" \
         aria-labelledby=\"camera-title\">\
         <h2 id=\"camera-title\">With the camera</h2>\
         <p>The panel asks for the poses in turn and says, a few times a second, what to do to \
         show the pose asked; press space (or Capture) to take it. Each capture passes the same \
         quality gate as a photo; duplicates and wrong poses are refused with the reason. \
         Browsers give the camera only to pages on https or on localhost.</p>\
         <div class=\"inline\">\
           <label for=\"camera-name\">Name</label>\
           <input id=\"camera-name\" maxlength=\"100\" autocomplete=\"off\" \
           placeholder=\"new or existing person\">\
           <button type=\"button\" id=\"camera-start\">Start the camera</button></div>\
         <div class=\"camera-view\" hidden>\
           <video id=\"camera-video\" autoplay muted playsinline \
           aria-label=\"The camera's picture\"></video>\
           <div class=\"camera-guide\">\
             <p id=\"camera-asked\" class=\"asked\"></p>\
             <p id=\"camera-hint\" class=\"hint\" aria-live=\"polite\">Looking for a face…</p>\
             <p id=\"camera-count\">No capture accepted yet.</p>\
             <div class=\"inline\">\
               <button type=\"button\" id=\"camera-capture\" \
               aria-keyshortcuts=\"Space\">Capture (space)</button>\
               <button type=\"button\" id=\"camera-skip\" class=\"secondary\">Skip pose</button>\
               <button type=\"button\" id=\"camera-save\" disabled>Save</button>\
               <button type=\"button\" id=\"camera-over\" class=\"secondary\">Start over</button>\
             </div>\
             <p id=\"camera-said\" role=\"status\"></p>\
             <ul class=\"shots\" aria-label=\"Captures, newest first\"></ul>\
           </div></div></section>",
        poses = crate::service::console::pages::esc(&guided_poses()),
    )
}
