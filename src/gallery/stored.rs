//! How every store keeps values: vectors as little-endian f32 bytes, a face as one record
//! whichever way it arrived, and the content checks of `gallery check`. Shared so that the
//! stores differ only in their SQL dialect.

use crate::base::error::{Error, Result};
use crate::base::identity::{DIM, EmbedderId, Embedding, Enrolled, PersonId};
use crate::base::image::decode_png;
use crate::gallery::export::{ExportEmbedding, ExportFace};
use crate::gallery::model::{NewFace, now};
use crate::vision::pose::Pose;

pub(crate) fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The embedding in `bytes`, or `None` if it is not `DIM` numbers.
pub(crate) fn vector_from_bytes(bytes: &[u8]) -> Option<Embedding> {
    (bytes.len() == DIM * 4).then(|| {
        Embedding(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    })
}

/// A stored embedding row as the matcher wants it; a damaged one is reported and left out.
pub(crate) fn enrolled(id: PersonId, person: String, bytes: &[u8]) -> Option<Enrolled> {
    let embedding = vector_from_bytes(bytes);
    if embedding.is_none() {
        tracing::warn!(
            bytes = bytes.len(),
            "skipping a damaged embedding; run `whoisit gallery check`"
        );
        tracing::debug!(%person, "the damaged embedding's person");
    }
    embedding.map(|embedding| Enrolled {
        person,
        id: Some(id),
        embedding,
    })
}

/// A stored embedding row as the export format has it; a damaged one is left out.
pub(crate) fn exported(embedder: String, bytes: &[u8]) -> Option<ExportEmbedding> {
    vector_from_bytes(bytes).map(|v| ExportEmbedding {
        embedder: EmbedderId::new(embedder),
        vector: v.0,
    })
}

/// Refuses faces whose embedding is not `DIM` numbers, before anything is written.
pub(crate) fn check_lengths(location: &str, faces: &[NewFace]) -> Result<()> {
    match faces.iter().find(|f| f.embedding.0.len() != DIM) {
        Some(face) => Err(Error::Gallery {
            location: location.to_owned(),
            message: format!(
                "an embedding of {} has {} values, not {DIM}",
                face.source,
                face.embedding.0.len()
            ),
            source: None,
        }),
        None => Ok(()),
    }
}

/// What identifies a face's source when it came from no file (a capture from a camera): the
/// sha256 of its crop, or of its first embedding where no crop is kept (of its source's words
/// when it has neither). Adding or importing the same face again then adds nothing, like a
/// photo enrolled twice.
fn identity(
    source_sha256: Option<&str>,
    image: Option<&[u8]>,
    vector: Option<&[u8]>,
    source: &str,
) -> String {
    use sha2::Digest as _;
    match source_sha256 {
        Some(sha) => sha.to_owned(),
        None => hex::encode(sha2::Sha256::digest(
            image.or(vector).unwrap_or(source.as_bytes()),
        )),
    }
}

/// A face as stored, whichever way it arrives (enrollment or import).
pub(crate) struct StoredFace<'a> {
    pub(crate) captured: i64,
    pub(crate) source: &'a str,
    /// The source photo's sha256, or the face's own identity when it came from no file.
    pub(crate) source_sha256: String,
    pub(crate) confidence: f32,
    pub(crate) face_px: i32,
    pub(crate) sharpness: f32,
    /// The head's pose as stored (`Pose::as_str`).
    pub(crate) pose: Option<&'static str>,
    pub(crate) image: Option<&'a [u8]>,
    /// Each embedder's vector, as bytes.
    pub(crate) embeddings: Vec<(&'a EmbedderId, Vec<u8>)>,
}

impl<'a> StoredFace<'a> {
    /// A face enrolled now.
    pub(crate) fn enrolled(face: &'a NewFace) -> StoredFace<'a> {
        let vector = vector_bytes(&face.embedding.0);
        StoredFace {
            captured: now(),
            source: &face.source,
            source_sha256: identity(
                face.source_sha256.as_deref(),
                face.image_png.as_deref(),
                Some(&vector),
                &face.source,
            ),
            confidence: face.confidence,
            face_px: face.face_px,
            sharpness: face.sharpness,
            pose: face.pose.map(Pose::as_str),
            image: face.image_png.as_deref(),
            embeddings: vec![(&face.embedder, vector)],
        }
    }

    /// A face of an export file, with its crop already decoded from base64.
    pub(crate) fn imported(face: &'a ExportFace, image: Option<&'a [u8]>) -> StoredFace<'a> {
        let embeddings: Vec<(&EmbedderId, Vec<u8>)> = face
            .embeddings
            .iter()
            .map(|e| (&e.embedder, vector_bytes(&e.vector)))
            .collect();
        StoredFace {
            captured: face.captured,
            source: &face.source,
            source_sha256: identity(
                face.source_sha256.as_deref(),
                image,
                embeddings.first().map(|(_, v)| v.as_slice()),
                &face.source,
            ),
            confidence: face.confidence,
            face_px: face.face_px,
            sharpness: face.sharpness,
            pose: face.pose.map(Pose::as_str),
            image,
            embeddings,
        }
    }
}

/// The content checks of `gallery check`, as a count query and what a non-zero count means;
/// the SQL is the same in every store's dialect.
pub(crate) fn content_checks() -> [(String, String); 2] {
    [
        (
            format!(
                "SELECT count(*) FROM embedding WHERE length(vector) != {}",
                DIM * 4
            ),
            format!("embedding(s) are not {DIM} numbers"),
        ),
        (
            "SELECT count(*) FROM face f WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id)".into(),
            "face(s) have no embedding".into(),
        ),
    ]
}

/// People without a face, counted by `gallery check` but not a problem: `POST /v1/people`
/// creates a person before their photos come, and an enrollment killed in between leaves one.
pub(crate) const PEOPLE_WITHOUT_FACES: &str = "SELECT count(*) FROM person p WHERE NOT EXISTS (SELECT 1 FROM face f WHERE f.person_id = p.id)";

/// The problem with a stored crop that does not decode, if it does not.
pub(crate) fn crop_problem(face_id: i64, person: &str, png: &[u8]) -> Option<String> {
    decode_png(png)
        .is_err()
        .then(|| format!("the image of face {face_id} of {person} does not decode"))
}
