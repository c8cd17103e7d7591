//! Enrolling with the browser's own camera: the Enroll page's panel sends a small JPEG of the
//! camera's picture a few times a second and hears the same live hint as the window's panel
//! (the server computes it: faces in view, the head's pose against the pose asked); a capture
//! passes the same quality gate, pose check and duplicate check as the window's; the accepted
//! faces are saved as a new person, or added to the one enrolled under the name.
//!
//! The accepted faces wait on the server until the save, in a draft tied to the console
//! session: the page never holds an embedding it could forge, a capture is judged once (not
//! again at the save, which would embed every face twice on a shared machine), and the draft
//! dies with the session (logout, expiry, revocation of its key). Drafts are bounded: at most
//! `MAX_DRAFTS` at once and `MAX_CAPTURES` faces each. Frames are bounded too (`MAX_FRAME_BYTES`,
//! `MAX_FRAME_PIXELS`, `FRAMES_PER_SECOND`) and never kept: a frame is decoded, judged and
//! dropped, and only an accepted face's crop stays, as the gallery keeps it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};

use crate::base::error::Error;
use crate::enroll::quality::Rejection;
use crate::enroll::{Expect, Taken};
use crate::gallery::{Actor, NewFace, validate_name};
use crate::service::console::Viewer;
use crate::service::console::session::{self, CSRF_HEADER, Sessions};
use crate::service::error::ApiError;
use crate::service::pool::{Answer, Task};
use crate::service::routes::upload::Upload;
use crate::service::state::AppState;
use crate::vision::photo::PhotoLimits;
use crate::vision::pose::{HeadPose, Pose};

/// Drafts at once, at most: one per console user enrolling somebody now.
const MAX_DRAFTS: usize = 64;
/// Faces a draft holds, at most: the four poses asked, twice over.
pub(crate) const MAX_CAPTURES: usize = 8;
/// A frame's JPEG, at most: the page sends 640 px wide at most, some 30-80 kB.
const MAX_FRAME_BYTES: usize = 512 << 10;
/// A frame's pixels, at most: a 1280x960 picture.
const MAX_FRAME_PIXELS: u64 = 1280 * 960;
/// Frames a draft may send in a second: the page sends 4 for the hint, and a capture.
const FRAMES_PER_SECOND: u32 = 8;

/// What one console user has captured of the person being enrolled.
struct Draft {
    /// Whom the faces show, as typed at the first capture.
    name: Option<String>,
    faces: Vec<NewFace>,
    /// The frames sent in the second that started at `second`.
    second: Instant,
    frames: u32,
}

impl Draft {
    fn new() -> Draft {
        Draft {
            name: None,
            faces: Vec::new(),
            second: Instant::now(),
            frames: 0,
        }
    }

    /// The faces a capture of `name` must not repeat, counting its frame; refused when the
    /// draft holds somebody else's faces, or all it may.
    fn taken_before(&mut self, name: &str) -> Result<Vec<Taken>, ApiError> {
        if let Some(before) = self.name.as_ref().filter(|b| *b != name) {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "another_person",
                format!(
                    "the captures so far are of {before}: save them, or start over to enroll \
                     somebody else"
                ),
            ));
        }
        if self.faces.len() >= MAX_CAPTURES {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "enough",
                format!("{MAX_CAPTURES} captures are taken, the most one save holds: save them"),
            ));
        }
        self.count_frame()?;
        Ok(self
            .faces
            .iter()
            .enumerate()
            .map(|(i, face)| Taken {
                what: format!("capture {}", i + 1),
                embedding: face.embedding.clone(),
            })
            .collect())
    }

    /// Keeps an accepted capture of `name`; says what became of it.
    fn record(&mut self, name: String, verdict: Result<NewFace, Rejection>) -> Verdict {
        match verdict {
            Ok(face) => {
                let caption = face.pose.map_or("ok", Pose::as_str).to_owned();
                // A draft started over or saved meanwhile takes the face as its first.
                self.name = Some(name);
                self.faces.push(face);
                Verdict {
                    accepted: true,
                    caption,
                    reason: None,
                    taken: self.faces.len(),
                }
            }
            Err(rejection) => Verdict {
                accepted: false,
                caption: rejection.short(),
                reason: Some(rejection.to_string()),
                taken: self.faces.len(),
            },
        }
    }

    /// Counts a frame, or refuses it when the draft sent its second's share.
    fn count_frame(&mut self) -> Result<(), ApiError> {
        if self.second.elapsed() >= Duration::from_secs(1) {
            self.second = Instant::now();
            self.frames = 0;
        }
        if self.frames >= FRAMES_PER_SECOND {
            return Err(ApiError::too_many(format!(
                "the camera panel sends at most {FRAMES_PER_SECOND} frames a second; wait a \
                 moment"
            )));
        }
        self.frames += 1;
        Ok(())
    }
}

/// The drafts of the open console sessions, by session id; without keys (`--no-auth`) there
/// are no sessions, and the server keeps one draft under "".
pub(crate) struct Drafts {
    table: Mutex<HashMap<String, Draft>>,
}

impl Drafts {
    pub(crate) fn new() -> Drafts {
        Drafts {
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, Draft>> {
        // Every change is one call: the table stays whole whatever panicked holding it.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Works on the draft of `owner`, made if needed; the drafts of sessions that ended
    /// (expired, or their key revoked) go first.
    fn with<T>(
        &self,
        sessions: &Sessions,
        owner: &str,
        work: impl FnOnce(&mut Draft) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut table = self.table();
        table.retain(|id, _| id.is_empty() || sessions.is_open(id));
        if !table.contains_key(owner) && table.len() >= MAX_DRAFTS {
            return Err(ApiError::busy_with(&format!(
                "{MAX_DRAFTS} people are enrolling with a camera at once; try again when one \
                 has saved"
            )));
        }
        work(table.entry(owner.to_owned()).or_insert_with(Draft::new))
    }

    /// Drops the draft of a session that ends (logout).
    pub(crate) fn forget(&self, owner: &str) {
        self.table().remove(owner);
    }
}

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

/// A capture as judged.
#[derive(Serialize)]
pub(crate) struct Verdict {
    accepted: bool,
    /// A few words for the thumbnail: the pose taken, or why it was refused.
    caption: String,
    /// The whole reason it was refused, in words.
    reason: Option<String>,
    /// Faces accepted so far, waiting for the save.
    taken: usize,
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

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};
    use axum::response::IntoResponse as _;

    // By its full path: tests/layers.rs reads a file's `super` as its parent module's.
    use crate::service::console::camera::*;

    fn session_of(sessions: &Sessions) -> (HeaderMap, String) {
        let set = sessions.open("hash-of-key".into()).unwrap();
        let pair = set.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
        let id = sessions.find(&headers).unwrap().id().to_owned();
        (headers, id)
    }

    #[test]
    fn a_draft_takes_a_few_frames_a_second_and_dies_with_its_session() {
        let sessions = Sessions::new(Duration::from_secs(60), false);
        let drafts = Drafts::new();
        let (headers, id) = session_of(&sessions);
        for _ in 0..FRAMES_PER_SECOND {
            drafts.with(&sessions, &id, Draft::count_frame).unwrap();
        }
        let refused = drafts.with(&sessions, &id, Draft::count_frame).unwrap_err();
        assert_eq!(
            refused.into_response().status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        drafts
            .with(&sessions, &id, |d| {
                d.name = Some("Ada".into());
                Ok(())
            })
            .unwrap();
        let (_, other) = session_of(&sessions);
        sessions.close(&headers);
        drafts.with(&sessions, &other, |_| Ok(())).unwrap();
        assert!(
            !drafts.table().contains_key(&id),
            "the draft ended with its session"
        );
        assert!(drafts.table().contains_key(&other));
        drafts.forget(&other);
        assert!(drafts.table().is_empty());
    }

    #[test]
    fn drafts_are_bounded() {
        let sessions = Sessions::new(Duration::from_secs(60), false);
        let drafts = Drafts::new();
        // Without keys there are no sessions: the one draft "" lasts.
        for i in 0..MAX_DRAFTS {
            let (_, id) = session_of(&sessions);
            let owner = if i == 0 { String::new() } else { id };
            drafts.with(&sessions, &owner, |_| Ok(())).unwrap();
        }
        let (_, late) = session_of(&sessions);
        let refused = drafts.with(&sessions, &late, |_| Ok(())).unwrap_err();
        assert_eq!(
            refused.into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert!(drafts.with(&sessions, "", |_| Ok(())).is_ok());
    }
}
