//! A threshold's preview: what the roster in use would answer at another global threshold for
//! the sightings the gallery keeps, before anyone applies it. Each sighting's face (its
//! track's mean embedding) is decided again by the roster's own matcher, at the threshold in
//! force and at the one asked about, with everything else as it is (people's own thresholds
//! within their bounds, negative examples), so the preview is what the matcher would do.

use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::identity::PersonId;
use crate::gallery::sightings::{KeptEmbedding, MAX_PAGE, SightingId};
use crate::roster::Roster;
use crate::vision::matcher::threshold_problem;

/// The most sightings a preview decides again: the newest that keep their face.
pub const PREVIEW_SIGHTINGS: usize = MAX_PAGE;

/// A sighting the threshold asked about would decide otherwise.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub sighting: SightingId,
    /// The person named at one threshold and not at the other.
    pub person: String,
    pub person_id: Option<PersonId>,
    /// The face's distance to that person.
    pub distance: Option<f32>,
    /// Whether the sighting keeps a crop to look at.
    pub has_crop: bool,
}

/// What a global threshold would change, against the threshold in force.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    /// The threshold asked about.
    pub threshold: f32,
    /// The global threshold in force.
    pub current: f32,
    /// The sightings decided again: the newest that keep their face, at most
    /// [`PREVIEW_SIGHTINGS`].
    pub sightings: usize,
    /// Of those, the ones the roster names someone at the threshold in force...
    pub named: usize,
    /// ... and the ones it calls unknown.
    pub unknown: usize,
    /// Named now, unknown at `threshold`, newest first.
    pub become_unknown: Vec<Change>,
    /// Unknown now, named at `threshold`, newest first.
    pub become_named: Vec<Change>,
}

impl Roster {
    /// What `threshold` would change on the newest sightings that keep their face. Refused
    /// when `threshold` cannot be a threshold.
    pub fn preview(&self, threshold: f32) -> Result<Preview> {
        if let Some(problem) = threshold_problem(threshold) {
            return Err(Error::InvalidInput(format!("the threshold {problem}")));
        }
        let faces = self
            .gallery()
            .kept_embeddings(self.embedder(), PREVIEW_SIGHTINGS)?;
        Ok(decide_again(&self.snapshot(), &faces, threshold))
    }
}

fn decide_again(snapshot: &super::Snapshot, faces: &[KeptEmbedding], threshold: f32) -> Preview {
    let matcher = snapshot.matcher();
    let mut preview = Preview {
        threshold,
        current: matcher.threshold(),
        sightings: faces.len(),
        named: 0,
        unknown: 0,
        become_unknown: Vec::new(),
        become_named: Vec::new(),
    };
    for face in faces {
        let now = matcher.identify(&face.embedding);
        let then = matcher.identify_at(&face.embedding, threshold);
        let change = |who: &crate::vision::matcher::Identity| {
            who.name.clone().map(|person| Change {
                sighting: face.sighting,
                person,
                person_id: who.person_id,
                distance: who.distance,
                has_crop: face.has_crop,
            })
        };
        // The threshold only decides whether the nearest person not ruled out is named, so a
        // face never changes from one person to another.
        if now.name.is_some() {
            preview.named += 1;
            if then.name.is_none() {
                preview.become_unknown.extend(change(&now));
            }
        } else {
            preview.unknown += 1;
            preview.become_named.extend(change(&then));
        }
    }
    preview
}
