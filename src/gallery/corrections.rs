//! Corrections: two people who are one merged, a face moved to the person it shows, and "not
//! this person". A sighting or a face named X that is not X becomes a
//! negative example of X: the matcher never names X a face nearer to that example than to X's
//! own faces ([`crate::vision::matcher`] decides it, as it decides every name). An example is
//! an embedding kept with its person, sealed like their faces' embeddings, a change to the
//! roster (every recognizer reloads), in the audit trail, and forgotten with the person.
//!
//! A sighting corrected keeps its place in the log, as unknown. A face corrected is removed
//! from the person (it was never theirs: kept, it would keep naming the stranger) and its
//! embeddings are kept as the examples.

use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Enrolled, PersonId};
use crate::gallery::audit::Actor;
use crate::gallery::model::FaceId;
use crate::gallery::sightings::SightingId;

/// What a correction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Corrected {
    /// Whom the face is not.
    pub person: PersonId,
    /// Negative examples kept (one per embedder the face was embedded by).
    pub examples: usize,
}

/// What a merge moved from the person merged in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Merged {
    /// Faces moved.
    pub faces: usize,
    /// Faces of the same source photo as one the person kept has, dropped.
    pub duplicates: usize,
    pub sightings: usize,
    pub negatives: usize,
    /// Whether their own threshold was taken (only by a person who had none).
    pub own_threshold: bool,
}

/// Where corrections are kept; every gallery is one.
pub trait Corrections {
    /// Person `from` is person `into`: their faces (but those of a source photo `into` has
    /// already), sightings, negative examples, last-seen time and own threshold (when `into`
    /// has none) become `into`'s, and `from` is removed; in one transaction, in the audit
    /// trail. [`Error::NotFound`] when either is not there, [`Error::InvalidInput`] when they
    /// are the same person.
    fn merge_people(&self, into: PersonId, from: PersonId, actor: &Actor) -> Result<Merged>;

    /// Face `face` of `from` shows person `to`: it becomes theirs, with its embeddings, crop
    /// and pose; in the audit trail. [`Error::NotFound`] when `from` has no such face or `to`
    /// is not there, [`Error::InvalidInput`] when `to` is `from` or has that photo already.
    fn move_face(&self, from: PersonId, face: FaceId, to: PersonId, actor: &Actor) -> Result<()>;

    /// Sighting `id`, named as somebody, was not them: the track's mean embedding becomes a
    /// negative example of that person and the sighting becomes unknown, in one transaction,
    /// in the audit trail. [`Error::NotFound`] when there is no such sighting,
    /// [`Error::InvalidInput`] when it is unknown already or keeps no embedding.
    fn not_in_sighting(&self, id: SightingId, actor: &Actor) -> Result<Corrected>;

    /// Face `face` of `person` is not them: it is removed (with its crop) and its embeddings
    /// become negative examples of `person`, in one transaction, in the audit trail.
    /// [`Error::NotFound`] when `person` has no such face.
    fn not_in_face(&self, person: PersonId, face: FaceId, actor: &Actor) -> Result<Corrected>;

    /// Every negative example from `embedder`, with its person (name and id), as the matcher
    /// takes them.
    fn negatives(&self, embedder: &EmbedderId) -> Result<Vec<Enrolled>>;
}

/// Why sighting `id` cannot be corrected: nobody was named.
pub(crate) fn sighting_unknown(id: SightingId) -> Error {
    Error::InvalidInput(format!(
        "sighting {} is unknown already: nobody was named, there is nothing to correct",
        id.0
    ))
}

/// Why sighting `id` cannot be corrected: it keeps no embedding to learn from.
pub(crate) fn sighting_without_embedding(id: SightingId) -> Error {
    Error::InvalidInput(format!(
        "sighting {} keeps no embedding to learn from (it is older than \
         sightings.unknown_face_days, the site keeps none (sightings.keep_unknown_faces), or it \
         was stored before named sightings kept one); remove the wrong face from the person \
         instead, if one was enrolled",
        id.0
    ))
}

/// The audit trail's words for sighting `id` corrected: people by id, never by name.
pub(crate) fn sighting_detail(id: SightingId, person: PersonId) -> String {
    format!(
        "sighting {} is not person {}: kept as a negative example, the sighting is unknown",
        id.0, person.0
    )
}

/// The audit trail's words for face `face` corrected.
pub(crate) fn face_detail(person: PersonId, face: FaceId, examples: usize) -> String {
    format!(
        "face {} is not person {}: removed, {examples} embedding(s) kept as negative examples",
        face.0, person.0
    )
}

/// Where a negative example came from, as stored with it.
pub(crate) fn sighting_source(id: SightingId) -> String {
    format!("sighting {}", id.0)
}

/// Where a negative example came from, as stored with it.
pub(crate) fn face_source(face: FaceId) -> String {
    format!("face {}", face.0)
}

/// Why `into` and `from` cannot be merged: they are one person.
pub(crate) fn same_person(id: PersonId) -> Error {
    Error::InvalidInput(format!(
        "person {} cannot be merged into or given their own face: name two people",
        id.0
    ))
}

/// Why face `face` cannot move to `to`: its photo is theirs already.
pub(crate) fn photo_taken(face: FaceId, to: PersonId) -> Error {
    Error::InvalidInput(format!(
        "person {} has the photo of face {} already; remove the face instead",
        to.0, face.0
    ))
}

/// The audit trail's words for a merge.
pub(crate) fn merged_detail(into: PersonId, from: PersonId, merged: &Merged) -> String {
    format!(
        "person {} merged into person {}: {} face(s) moved ({} duplicate(s) dropped), {} \
         sighting(s), {} negative example(s){}",
        from.0,
        into.0,
        merged.faces,
        merged.duplicates,
        merged.sightings,
        merged.negatives,
        if merged.own_threshold {
            ", own threshold taken"
        } else {
            ""
        }
    )
}

/// The audit trail's words for a face moved.
pub(crate) fn moved_detail(from: PersonId, face: FaceId, to: PersonId) -> String {
    format!(
        "face {} moved from person {} to person {}",
        face.0, from.0, to.0
    )
}
