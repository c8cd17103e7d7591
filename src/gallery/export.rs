//! The portable gallery format of `gallery export` and `gallery import`: JSON, documented field
//! by field so that other tools can read and write it, and the same for every store.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::identity::{DIM, EmbedderId};
use crate::gallery::model::validate_name;

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
    pub faces: Vec<ExportFace>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportFace {
    pub captured: i64,
    pub source: String,
    pub source_sha256: Option<String>,
    pub confidence: f32,
    pub face_px: i32,
    pub sharpness: f32,
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
        for person in &self.people {
            validate_name(&person.name)?;
            for face in &person.faces {
                if let Some(e) = face.embeddings.iter().find(|e| e.vector.len() != DIM) {
                    return Err(Error::InvalidInput(format!(
                        "{}: an embedding from {} has {} values, not {DIM}",
                        person.name,
                        e.embedder,
                        e.vector.len()
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Gathers the faces of an export under their people, from face rows ordered by person.
#[derive(Default)]
pub(crate) struct ExportBuilder {
    people: Vec<ExportPerson>,
}

impl ExportBuilder {
    /// Adds `face` to `name`, who is new when the previous row was somebody else's.
    pub(crate) fn face(
        &mut self,
        name: String,
        created: i64,
        last_seen: Option<i64>,
        face: ExportFace,
    ) {
        match self.people.last_mut() {
            Some(person) if person.name == name => person.faces.push(face),
            _ => self.people.push(ExportPerson {
                name,
                created,
                last_seen,
                faces: vec![face],
            }),
        }
    }

    pub(crate) fn finish(self) -> ExportFile {
        ExportFile::new(self.people)
    }
}

impl ExportFace {
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
