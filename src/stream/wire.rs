//! What travels on the streams: work (a face crop or a photo, with where it came from),
//! answers, and the camera agents' sightings. Each entry has `meta`, JSON any language can
//! read, and for work (and an unknown face's sighting with a new crop) `image`, the encoded
//! picture.
//!
//! The format grows by optional fields only, so agents and workers of different versions work
//! together during a rolling upgrade: a reader ignores fields it does not know, and a field a
//! writer does not send reads as absent. A camera's track is decided on `recent` (work) and
//! `judged` (answer): an older worker ignores `recent` and answers without `judged`, which a
//! newer agent cannot decide on, so upgrade the workers first; an older agent ignores
//! `judged` and labels from the answer's face as before.

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, PersonId};
use crate::gallery::{SightingRecord, UnknownFace};
use crate::runtime::sightings::{Change, Told};
use crate::vision::detect::Detection;
use crate::vision::pipeline::FaceResult;
use crate::vision::track::Judged;

/// Where a piece of work came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// One face a camera agent saw; the image is a crop around it.
    Camera {
        camera: String,
        track: u64,
        frame: u64,
        /// The face in the crop, as the agent's detector found it.
        face: Detection,
        /// Where the crop's top-left corner is in the frame.
        crop_at: [i32; 2],
    },
    /// A photo of a `whoisit scan`; every face in it is wanted.
    Photo { file: String, sha256: String },
}

/// What a piece of work says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkMeta {
    #[serde(flatten)]
    pub origin: Origin,
    /// When the frame was read (Unix ms); photos: when they were sent.
    pub captured_ms: u64,
    /// The stream the answer goes to.
    pub reply: String,
    /// A camera's face: its track's recent embeddings (from earlier answers, oldest first),
    /// which the worker judges the new one with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<Embedding>,
}

/// A piece of work as read from the stream.
#[derive(Debug, Clone)]
pub struct Work {
    /// The entry's id, which is also its answer's event id.
    pub id: String,
    pub meta: WorkMeta,
    /// JPEG (or any format OpenCV reads, for photos).
    pub image: Vec<u8>,
}

/// An entry's fields, as added to a stream.
pub type Fields<const N: usize> = [(&'static str, Vec<u8>); N];

/// One face of an answer.
pub type AnsweredFace = FaceResult;

/// A worker's answer to a piece of work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    /// The work entry's id: unique, so a consumer can tell a repeat.
    pub event_id: String,
    #[serde(flatten)]
    pub origin: Origin,
    /// A camera's face: one (none if it could not be embedded); a photo: each face in it.
    pub faces: Vec<AnsweredFace>,
    pub captured_ms: u64,
    pub answered_ms: u64,
    /// From capture to this answer, across machines (wall clocks).
    pub latency_ms: u64,
    /// The worker that answered.
    pub worker: String,
    /// Why the work could not be done, when it went to the dead letters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A camera's face: its embedding, judged alone and with the track's recent embeddings,
    /// for the agent to decide the track's label on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judged: Option<Judged>,
}

/// A change to a sighting on a camera, as its agent decided it (`PREFIX:sightings`): what the
/// worker that owns the store stores and the MQTT publisher publishes. Its crop (PNG), when a
/// better one came, is the entry's `image`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SightingNote {
    /// The sighting, unique on its camera.
    pub key: u64,
    pub change: Change,
    pub camera: String,
    pub track: u64,
    /// The person's id in the gallery, or null when unknown.
    pub person_id: Option<PersonId>,
    pub name: Option<String>,
    /// First and last seen, Unix seconds.
    pub first: i64,
    pub last: i64,
    pub distance: Option<f32>,
    /// How many embeddings agreed on the label.
    pub evidence: u32,
    /// The track left: nothing more comes for this key.
    pub left: bool,
    /// When the agent told it (Unix ms).
    pub told_ms: u64,
    /// An unknown face's mean embedding, when the site keeps unknown faces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Embedding>,
}

impl SightingNote {
    /// The note of `told`, and its new crop if any.
    pub fn of(told: Told, told_ms: u64) -> (SightingNote, Option<Vec<u8>>) {
        let record = told.record;
        let (embedding, crop) = match record.unknown {
            Some(unknown) => (Some(unknown.embedding), unknown.crop),
            None => (None, None),
        };
        let note = SightingNote {
            key: told.key,
            change: told.change,
            camera: record.camera,
            track: record.track,
            person_id: record.person,
            name: told.name,
            first: record.first,
            last: record.last,
            distance: record.distance,
            evidence: record.evidence,
            left: told.left,
            told_ms,
            embedding,
        };
        (note, crop)
    }

    /// The note as a writer is told it, under `key`; its unknown face's embedding was made by
    /// the workers' `embedder`.
    pub fn told(self, key: u64, crop: Option<Vec<u8>>, embedder: &EmbedderId) -> Told {
        let unknown = self.embedding.map(|embedding| UnknownFace {
            crop,
            embedder: embedder.clone(),
            embedding,
        });
        Told {
            key,
            change: self.change,
            name: self.name,
            left: self.left,
            record: SightingRecord {
                id: None,
                camera: self.camera,
                track: self.track,
                person: self.person_id,
                first: self.first,
                last: self.last,
                distance: self.distance,
                evidence: self.evidence,
                unknown,
            },
        }
    }

    /// The entry's fields: `meta`, and `image` with a crop.
    pub fn fields(&self, crop: Option<&[u8]>) -> Result<Vec<(&'static str, Vec<u8>)>> {
        let mut fields = vec![("meta", serde_json::to_vec(self).map_err(json_error)?)];
        if let Some(crop) = crop {
            fields.push(("image", crop.to_vec()));
        }
        Ok(fields)
    }

    /// Reads an entry of the sightings stream: the note and its crop.
    pub fn from_entry(entry: &redis::streams::StreamId) -> Result<(SightingNote, Option<Vec<u8>>)> {
        let meta: Vec<u8> = field(entry, "meta")?;
        let note = serde_json::from_slice(&meta).map_err(|e| {
            Error::BadEntry(format!(
                "sighting {}: not a whoisit sighting: {e}",
                entry.id
            ))
        })?;
        Ok((note, entry.get::<Vec<u8>>("image")))
    }
}

impl Work {
    /// The fields to add to the stream.
    pub fn fields(meta: &WorkMeta, image: &[u8]) -> Result<Fields<2>> {
        Ok([
            ("meta", serde_json::to_vec(meta).map_err(json_error)?),
            ("image", image.to_vec()),
        ])
    }

    /// Reads an entry of the work stream.
    pub fn from_entry(entry: &redis::streams::StreamId) -> Result<Work> {
        let meta: Vec<u8> = field(entry, "meta")?;
        let meta = serde_json::from_slice(&meta).map_err(|e| {
            Error::BadEntry(format!("work entry {}: meta is not valid: {e}", entry.id))
        })?;
        Ok(Work {
            id: entry.id.clone(),
            meta,
            image: field(entry, "image")?,
        })
    }
}

impl Answer {
    pub fn fields(&self) -> Result<Fields<1>> {
        Ok([("meta", serde_json::to_vec(self).map_err(json_error)?)])
    }

    /// Reads an entry of a results stream.
    pub fn from_entry(entry: &redis::streams::StreamId) -> Result<Answer> {
        let meta: Vec<u8> = field(entry, "meta")?;
        serde_json::from_slice(&meta)
            .map_err(|e| Error::BadEntry(format!("answer {}: not a whoisit answer: {e}", entry.id)))
    }
}

fn field(entry: &redis::streams::StreamId, name: &str) -> Result<Vec<u8>> {
    entry
        .get::<Vec<u8>>(name)
        .ok_or_else(|| Error::BadEntry(format!("entry {} has no {name} field", entry.id)))
}

fn json_error(source: serde_json::Error) -> Error {
    Error::Encode {
        what: "a stream entry",
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::geometry::FaceBox;

    #[test]
    fn work_meta_is_plain_json_with_its_kind() {
        let meta = WorkMeta {
            origin: Origin::Camera {
                camera: "front-door".into(),
                track: 7,
                frame: 120,
                face: Detection {
                    bbox: FaceBox::new(10, 12, 80, 80),
                    confidence: 0.9,
                },
                crop_at: [300, 40],
            },
            captured_ms: 1_700_000_000_000,
            reply: "site:results".into(),
            recent: vec![Embedding(vec![0.25, -0.5])],
        };
        let json = serde_json::to_value(&meta).unwrap();
        assert_eq!(json["kind"], "camera");
        assert_eq!(json["camera"], "front-door");
        assert_eq!(json["face"]["box"], serde_json::json!([10, 12, 80, 80]));
        assert_eq!(json["recent"], serde_json::json!([[0.25, -0.5]]));
        assert_eq!(serde_json::from_value::<WorkMeta>(json).unwrap(), meta);
    }

    #[test]
    fn a_sighting_note_is_plain_json_and_keeps_the_unknown_face() {
        let record = SightingRecord {
            id: None,
            camera: "door".into(),
            track: 4,
            person: None,
            first: 100,
            last: 103,
            distance: Some(0.7),
            evidence: 3,
            unknown: Some(UnknownFace {
                crop: Some(vec![1, 2, 3]),
                embedder: EmbedderId::new("agent's"),
                embedding: Embedding(vec![0.5, -0.25]),
            }),
        };
        let told = Told {
            key: 9,
            change: Change::Appeared,
            name: None,
            record,
            left: false,
        };
        let (note, crop) = SightingNote::of(told, 5);
        let json = serde_json::to_value(&note).unwrap();
        assert_eq!(json["change"], "appeared");
        assert_eq!(json["person_id"], serde_json::Value::Null);
        assert_eq!(json["embedding"], serde_json::json!([0.5, -0.25]));
        assert_eq!(crop.as_deref(), Some(&[1u8, 2, 3][..]));
        // The worker that stores it names its own embedder, and its own key.
        let workers = EmbedderId::new("dlib-resnet-v1");
        let back: SightingNote = serde_json::from_value(json).unwrap();
        let told = back.told(77, crop, &workers);
        assert_eq!(
            (told.key, told.change, told.record.track),
            (77, Change::Appeared, 4)
        );
        let unknown = told.record.unknown.unwrap();
        assert_eq!(unknown.embedder, workers);
        assert_eq!(unknown.crop, Some(vec![1, 2, 3]));
    }

    #[test]
    fn work_and_answers_of_an_older_version_still_read() {
        // Before `recent` and `judged`: a camera's work and a worker's answer.
        let work = serde_json::json!({
            "kind": "camera", "camera": "door", "track": 3, "frame": 9,
            "face": {"box": [1, 2, 30, 30], "confidence": 0.9}, "crop_at": [0, 0],
            "captured_ms": 5, "reply": "site:results",
        });
        let meta: WorkMeta = serde_json::from_value(work).unwrap();
        assert!(meta.recent.is_empty());
        let answer = serde_json::json!({
            "event_id": "1-0", "kind": "camera", "camera": "door", "track": 3, "frame": 9,
            "face": {"box": [1, 2, 30, 30], "confidence": 0.9}, "crop_at": [0, 0],
            "faces": [], "captured_ms": 5, "answered_ms": 6, "latency_ms": 1, "worker": "w",
        });
        let answer: Answer = serde_json::from_value(answer).unwrap();
        assert_eq!(answer.judged, None);
    }
}
