//! The portable gallery format of `gallery export` and `gallery import`: JSON, documented field
//! by field so that other tools can read and write it, and the same for every store.

use crate::vision::pose::Pose;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use std::collections::HashSet;

use crate::base::error::{Error, Result};
use crate::base::identity::{DIM, EmbedderId, EmbedderKind};
use crate::base::image::{Encoding, MAX_CROP_SIDE, png_dimensions};
use crate::gallery::model::{OwnThreshold, validate_name};

/// Longer than any path a face came from.
const MAX_SOURCE_CHARS: usize = 4096;
/// A face crop (the face with a margin, PNG) is tens of kilobytes; this is generous.
const MAX_CROP_BYTES: usize = 4 << 20;
/// An embedding's length (L2 norm): dlib's are about 1.4 long, OpenFace's 1. All zeros,
/// or 1e30s, came from no face model.
const EMBEDDING_NORM: std::ops::RangeInclusive<f32> = 0.05..=20.0;

/// The `format` field of an export file.
pub(crate) const EXPORT_FORMAT: &str = "whoisit-gallery";
/// The export format's version.
pub(crate) const EXPORT_VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportFile {
    /// Always "whoisit-gallery".
    pub format: String,
    /// 1.
    pub version: u32,
    pub people: Vec<ExportPerson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportPerson {
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created: i64,
    pub last_seen: Option<i64>,
    /// Their own threshold and the embedder it was calibrated on (absent: the global one).
    /// Import sets it only on a person who has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_threshold: Option<OwnThreshold>,
    pub faces: Vec<ExportFace>,
    /// Negative examples ("not this person"): embeddings of faces named as them that were not
    /// them. Import adds those the person does not have yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub negatives: Vec<ExportEmbedding>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportFace {
    pub captured: i64,
    pub source: String,
    pub source_sha256: Option<String>,
    pub confidence: f32,
    pub face_px: i32,
    pub sharpness: f32,
    /// The head's pose; absent for faces enrolled before poses were recorded (and in older
    /// exports, which import as they are).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pose: Option<Pose>,
    /// One vector per embedder id (e.g. "dlib-resnet-v1"), 128 numbers each.
    pub embeddings: Vec<ExportEmbedding>,
    /// The stored face crop, PNG, base64 (absent where images are not kept).
    pub image_png_base64: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportEmbedding {
    pub embedder: EmbedderId,
    pub vector: Vec<f32>,
}

impl ExportFile {
    /// An export of these people, in the current format.
    pub fn new(people: Vec<ExportPerson>) -> ExportFile {
        ExportFile {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            people,
        }
    }

    /// Refuses a file this version cannot import, before anything is written: another format,
    /// a newer version, a bad name, a vector of the wrong length.
    pub fn validate(&self) -> Result<()> {
        if self.format != EXPORT_FORMAT || self.version > EXPORT_VERSION {
            return Err(Error::InvalidInput(format!(
                "not a whoisit gallery export this version reads (format {:?} version {}, expected {EXPORT_FORMAT:?} version {EXPORT_VERSION})",
                self.format, self.version
            )));
        }
        let mut names = HashSet::new();
        for person in &self.people {
            let name = validate_name(&person.name)?;
            if !names.insert(name.clone()) {
                return Err(Error::InvalidInput(format!(
                    "the file has {name:?} twice; make them one entry, or rename one; nothing was imported"
                )));
            }
            if let Some(problem) = person
                .own_threshold
                .as_ref()
                .and_then(OwnThreshold::problem)
            {
                return Err(Error::InvalidInput(format!(
                    "{name}: {problem}; nothing was imported"
                )));
            }
            if let Some(problem) = person.negatives.iter().find_map(embedding_problem) {
                return Err(Error::InvalidInput(format!(
                    "{name}, a negative example: {problem}; nothing was imported"
                )));
            }
            for (index, face) in person.faces.iter().enumerate() {
                if let Some(problem) = face.problem() {
                    return Err(Error::InvalidInput(format!(
                        "{name}, face {}: {problem}; nothing was imported",
                        index + 1
                    )));
                }
            }
        }
        Ok(())
    }
}

fn embedding_problem(e: &ExportEmbedding) -> Option<String> {
    if !e.embedder.is_known() {
        let known: Vec<String> = EmbedderKind::ALL
            .iter()
            .map(|k| k.id().to_string())
            .collect();
        return Some(format!(
            "an embedding from {:?}, an embedder this whoisit does not know (it knows {})",
            e.embedder.as_str(),
            known.join(", ")
        ));
    }
    if e.vector.len() != DIM {
        return Some(format!(
            "an embedding from {} has {} values, not {DIM}",
            e.embedder,
            e.vector.len()
        ));
    }
    let norm = e.vector.iter().map(|v| v * v).sum::<f32>().sqrt();
    if !(norm.is_finite() && EMBEDDING_NORM.contains(&norm)) {
        return Some(format!(
            "an embedding from {} is {norm} long; a face model's are about 1 (all zeros, or numbers out of range)",
            e.embedder
        ));
    }
    None
}

/// What is wrong with a crop as the file stores it (base64 PNG), if anything.
fn crop_problem(base64_png: &str) -> Option<String> {
    if base64_png.len() > MAX_CROP_BYTES / 3 * 4 + 4 {
        return Some(format!(
            "its image is {} MB of base64, a face crop is at most {} MB",
            base64_png.len() >> 20,
            MAX_CROP_BYTES >> 20
        ));
    }
    let png = match base64::engine::general_purpose::STANDARD.decode(base64_png) {
        Ok(png) => png,
        Err(e) => return Some(format!("its image is not valid base64: {e}")),
    };
    if Encoding::sniff(&png) != Some(Encoding::Png) || !Encoding::Png.is_complete(&png) {
        return Some("its image is not a whole PNG".into());
    }
    match png_dimensions(&png) {
        Some((w, h)) if w <= MAX_CROP_SIDE && h <= MAX_CROP_SIDE && w > 0 && h > 0 => None,
        Some((w, h)) => Some(format!("its image is {w}x{h}, not a face crop")),
        None => Some("its image has no PNG header".into()),
    }
}

/// Gathers the faces of an export under their people, from face rows ordered by person.
#[derive(Default)]
pub(crate) struct ExportBuilder {
    people: Vec<ExportPerson>,
}

impl ExportBuilder {
    /// Adds `face` to `person`, who is new when the previous row was somebody else's
    /// (`person.faces` is not read).
    pub(crate) fn face(&mut self, person: ExportPerson, face: ExportFace) {
        match self.people.last_mut() {
            Some(last) if last.name == person.name => last.faces.push(face),
            _ => self.people.push(ExportPerson {
                faces: vec![face],
                ..person
            }),
        }
    }

    /// Adds a negative example to the person called `name`; the examples of somebody with no
    /// face are not exported, as such a person is not.
    pub(crate) fn negative(&mut self, name: &str, example: Option<ExportEmbedding>) {
        if let Some(person) = self.people.iter_mut().find(|p| p.name == name) {
            person.negatives.extend(example);
        }
    }

    pub(crate) fn finish(self) -> ExportFile {
        ExportFile::new(self.people)
    }
}

impl ExportPerson {
    /// The person's negative examples that `stored` (theirs in the gallery) lacks, so that an
    /// import run again adds none twice.
    pub(crate) fn new_negatives<'a>(
        &'a self,
        stored: &'a [ExportEmbedding],
    ) -> impl Iterator<Item = &'a ExportEmbedding> {
        self.negatives.iter().filter(move |n| {
            !stored
                .iter()
                .any(|s| s.embedder == n.embedder && s.vector == n.vector)
        })
    }
}

impl ExportFace {
    /// What makes this face unfit for a gallery, if anything.
    fn problem(&self) -> Option<String> {
        let chars = self.source.chars().count();
        if chars > MAX_SOURCE_CHARS {
            return Some(format!(
                "its source is {chars} characters long, at most {MAX_SOURCE_CHARS} are allowed"
            ));
        }
        if let Some(sha) = &self.source_sha256
            && !(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            return Some("its source_sha256 is not 64 hexadecimal digits".into());
        }
        if !(self.confidence.is_finite() && (0.0..=1.0).contains(&self.confidence)) {
            return Some(format!(
                "its confidence {} is not between 0 and 1",
                self.confidence
            ));
        }
        if !(self.sharpness.is_finite() && self.sharpness >= 0.0) || self.face_px < 0 {
            return Some("its sharpness or face_px is negative or not a number".into());
        }
        let mut embedders = HashSet::new();
        for e in &self.embeddings {
            if let Some(problem) = embedding_problem(e) {
                return Some(problem);
            }
            if !embedders.insert(&e.embedder) {
                return Some(format!("it has two embeddings from {}", e.embedder));
            }
        }
        self.image_png_base64.as_deref().and_then(crop_problem)
    }

    /// The face crop's PNG bytes, if the file has them.
    pub fn image(&self, person: &str) -> Result<Option<Vec<u8>>> {
        self.image_png_base64
            .as_deref()
            .map(|b64| {
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| {
                        Error::InvalidInput(format!("{person}: an image is not valid base64: {e}"))
                    })
            })
            .transpose()
    }

    /// `png` as the file stores it.
    pub(crate) fn encode_image(png: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(png)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> ExportFace {
        let png = crate::base::image::grey_png(30, 40);
        ExportFace {
            captured: 1,
            source: "ada.jpg".into(),
            source_sha256: Some("ab".repeat(32)),
            confidence: 0.9,
            face_px: 120,
            sharpness: 150.0,
            pose: Some(Pose::Left),
            embeddings: vec![ExportEmbedding {
                embedder: EmbedderKind::Dlib.id(),
                vector: vec![(1.0 / DIM as f32).sqrt(); DIM],
            }],
            image_png_base64: Some(ExportFace::encode_image(&png)),
        }
    }

    type Change = fn(&mut ExportFace);

    fn file(faces: Vec<ExportFace>) -> ExportFile {
        ExportFile::new(vec![ExportPerson {
            name: "Ada".into(),
            created: 1,
            last_seen: None,
            own_threshold: None,
            faces,
            negatives: Vec::new(),
        }])
    }

    #[test]
    fn an_import_that_would_hurt_the_gallery_is_refused_whole_with_the_reason() {
        assert!(file(vec![face(), face()]).validate().is_ok());
        let with = |change: fn(&mut ExportFace)| {
            let mut bad = face();
            change(&mut bad);
            file(vec![face(), bad]).validate().unwrap_err().to_string()
        };
        let cases: [(Change, &str); 9] = [
            (
                |f| f.image_png_base64 = Some("aGVsbG8=".into()),
                "not a whole PNG",
            ),
            (
                |f| f.image_png_base64 = Some("%%%".into()),
                "not valid base64",
            ),
            (
                |f| f.image_png_base64 = Some("A".repeat(6 << 20)),
                "at most 4 MB",
            ),
            (|f| f.source = "x".repeat(5000), "5000 characters"),
            (|f| f.source_sha256 = Some("zz".into()), "64 hexadecimal"),
            (|f| f.embeddings[0].vector = vec![0.0; DIM], "is 0 long"),
            (|f| f.embeddings[0].vector = vec![1e30; DIM], "is inf long"),
            (
                |f| f.embeddings[0].embedder = EmbedderId::new("evil"),
                "does not know",
            ),
            (|f| f.confidence = f32::NAN, "between 0 and 1"),
        ];
        for (change, expected) in cases {
            let message = with(change);
            assert!(message.contains(expected), "{expected:?} not in {message}");
            assert!(message.contains("Ada, face 2"), "{message}");
        }
        let mut twice = file(vec![face()]);
        twice.people.push(twice.people[0].clone());
        twice.people[1].name = " Ada ".into();
        let message = twice.validate().unwrap_err().to_string();
        assert!(message.contains("\"Ada\" twice"), "{message}");
        let mut loose = file(vec![face()]);
        loose.people[0].own_threshold = Some(OwnThreshold {
            threshold: 3.0,
            embedder: EmbedderKind::Dlib.id(),
        });
        let message = loose.validate().unwrap_err().to_string();
        assert!(message.contains("Ada: a threshold must be"), "{message}");
    }
}
