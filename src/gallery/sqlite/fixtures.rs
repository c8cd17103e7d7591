//! Faces for the store's tests, and a look into its files for bytes that must not be there.

use std::path::Path;

use crate::base::error::{Error, Result};
use crate::base::identity::{DIM, EmbedderKind, Embedding};
use crate::gallery::model::{FaceId, NewFace, Removed};
use crate::gallery::stored::vector_bytes;
use crate::gallery::{Actor, Gallery};

pub(super) fn face(v: f32, source: &str) -> NewFace {
    NewFace {
        embedder: EmbedderKind::Dlib.id(),
        embedding: Embedding(vec![v; DIM]),
        source: source.into(),
        source_sha256: Some(format!("{:0>64}", hex::encode(source))),
        confidence: 0.9,
        face_px: 100,
        sharpness: 200.0,
        pose: None,
        image_png: None,
    }
}

/// A face whose crop (spread over several pages) and embedding nothing else resembles.
pub(super) struct Secret {
    pub(super) face: NewFace,
    pub(super) crop: Vec<u8>,
    pub(super) vector: Vec<u8>,
}

impl Secret {
    pub(super) fn new() -> Secret {
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        let crop: Vec<u8> = (0..20_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let embedding: Vec<f32> = (0..DIM).map(|i| 0.123_456 + i as f32 * 1e-3).collect();
        Secret {
            vector: vector_bytes(&embedding),
            face: NewFace {
                embedding: Embedding(embedding),
                image_png: Some(crop.clone()),
                ..face(0.0, "secret")
            },
            crop,
        }
    }

    /// Which parts of the secret face are in the gallery's files (database and log) in `dir`.
    pub(super) fn found_in(&self, dir: &Path) -> Vec<&'static str> {
        let bytes: Vec<u8> = ["gallery.sqlite3", "gallery.sqlite3-wal"]
            .iter()
            .flat_map(|f| std::fs::read(dir.join(f)).unwrap_or_default())
            .collect();
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        [
            ("the crop's start", &self.crop[..64]),
            ("the crop's middle", &self.crop[10_000..10_064]),
            ("the crop's end", &self.crop[self.crop.len() - 64..]),
            ("the embedding", &self.vector[..]),
        ]
        .into_iter()
        .filter(|(_, needle)| contains(needle))
        .map(|(what, _)| what)
        .collect()
    }
}

/// Who the tests' changes are made by.
pub(super) fn cli() -> Actor {
    Actor::cli()
}

/// Adds faces to the person called `name`, enrolled with them if new: what the CLI does with a
/// name, resolved once.
pub(super) fn add(g: &dyn Gallery, name: &str, faces: &[NewFace]) -> Result<Vec<FaceId>> {
    match g.find(name) {
        Ok(person) => g.add_faces_to(person, faces, &cli()),
        Err(Error::UnknownPerson(_)) => Ok(g.create_person(name, faces, &cli())?.1),
        Err(e) => Err(e),
    }
}

pub(super) fn rename(g: &dyn Gallery, old: &str, new: &str) -> Result<()> {
    g.rename(g.find(old)?, new, &cli())
}

pub(super) fn remove(g: &dyn Gallery, name: &str) -> Result<Removed> {
    g.remove(g.find(name)?, &cli())
}

pub(super) fn images(g: &dyn Gallery, name: &str) -> Result<Vec<Vec<u8>>> {
    g.images(g.find(name)?)
}
