//! Galleries of made-up people (random embeddings), to measure how loading and matching scale
//! with the number of enrolled faces without enrolling that many real ones.

use crate::base::identity::{DIM, EmbedderId};
use crate::gallery::export::{ExportEmbedding, ExportFace, ExportFile, ExportPerson};

/// Faces per made-up person, as a staff gallery enrolled a few times over would have.
pub const FACES_PER_PERSON: usize = 10;

/// Deterministic random unit vectors (xorshift64*), so that runs compare.
pub struct Vectors(u64);

impl Default for Vectors {
    fn default() -> Self {
        Vectors(0x9E37_79B9_7F4A_7C15)
    }
}

impl Vectors {
    pub fn next_vector(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM)
            .map(|_| {
                self.0 ^= self.0 >> 12;
                self.0 ^= self.0 << 25;
                self.0 ^= self.0 >> 27;
                (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
                    - 0.5
            })
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        v
    }
}

/// An export file of `faces` made-up faces ([`FACES_PER_PERSON`] per person) embedded by
/// `embedder`, ready for [`crate::gallery::Gallery::import`].
pub fn export(faces: usize, embedder: &EmbedderId, vectors: &mut Vectors) -> ExportFile {
    let people = faces.div_ceil(FACES_PER_PERSON);
    ExportFile::new(
        (0..people)
            .map(|p| ExportPerson {
                name: format!("synthetic person {p:06}"),
                created: 0,
                last_seen: None,
                own_threshold: None,
                faces: (0..FACES_PER_PERSON.min(faces - p * FACES_PER_PERSON))
                    .map(|f| ExportFace {
                        captured: 0,
                        source: format!("synthetic {p}/{f}"),
                        source_sha256: Some(format!("{p:032x}{f:032x}")),
                        confidence: 1.0,
                        face_px: 100,
                        sharpness: 100.0,
                        pose: None,
                        embeddings: vec![ExportEmbedding {
                            embedder: embedder.clone(),
                            vector: vectors.next_vector(),
                        }],
                        image_png_base64: None,
                    })
                    .collect(),
                negatives: Vec::new(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn exports_exactly_the_faces_asked_for() {
        let file = super::export(
            25,
            &super::EmbedderId::new("dlib-resnet-v1"),
            &mut super::Vectors::default(),
        );
        assert_eq!(file.people.len(), 3);
        let faces: usize = file.people.iter().map(|p| p.faces.len()).sum();
        assert_eq!(faces, 25);
    }
}
