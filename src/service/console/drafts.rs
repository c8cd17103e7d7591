//! The drafts of the console's camera (see [`crate::service::console::camera`]): the faces
//! each console session has captured of the person it enrolls, until it saves them. Bounded
//! (`MAX_DRAFTS`, `MAX_CAPTURES`, `FRAMES_PER_SECOND`) and tied to the session: a draft whose
//! session ended (logout, expiry, its key revoked) goes.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde::Serialize;

use crate::enroll::Taken;
use crate::enroll::quality::Rejection;
use crate::gallery::NewFace;
use crate::service::console::session::Sessions;
use crate::service::error::ApiError;
use crate::vision::pose::Pose;

/// Drafts at once, at most: one per console user enrolling somebody now.
const MAX_DRAFTS: usize = 64;
/// Faces a draft holds, at most: the four poses asked, twice over.
pub(crate) const MAX_CAPTURES: usize = 8;
/// Frames a draft may send in a second: the page sends 4 for the hint, and a capture.
const FRAMES_PER_SECOND: u32 = 8;

/// What one console user has captured of the person being enrolled.
pub(crate) struct Draft {
    /// Whom the faces show, as typed at the first capture.
    pub(crate) name: Option<String>,
    pub(crate) faces: Vec<NewFace>,
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
    pub(crate) fn taken_before(&mut self, name: &str) -> Result<Vec<Taken>, ApiError> {
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
        Ok(Taken::captures(&self.faces))
    }

    /// Keeps an accepted capture of `name`; says what became of it.
    pub(crate) fn record(&mut self, name: String, verdict: Result<NewFace, Rejection>) -> Verdict {
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
    pub(crate) fn count_frame(&mut self) -> Result<(), ApiError> {
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
    pub(crate) fn with<T>(
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

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};
    use axum::response::IntoResponse as _;

    // By its full path: tests/layers.rs reads a file's `super` as its parent module's.
    use crate::service::console::drafts::*;

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
