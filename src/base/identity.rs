//! Embeddings, and which embedder made them: two embedders' vectors are never compared.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Every embedder whoisit has gives this many numbers per face.
pub const DIM: usize = 128;

/// Which embedder turns an aligned face into a 128-d vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum EmbedderKind {
    /// dlib's ResNet: 5-landmark alignment, 150x150 chip.
    #[value(name = "dlib")]
    Dlib,
    /// OpenFace nn4.small2.v1 through OpenCV dnn: 68-landmark alignment, 96x96 chip.
    #[value(name = "openface")]
    OpenFace,
}

impl EmbedderKind {
    pub const ALL: [EmbedderKind; 2] = [EmbedderKind::Dlib, EmbedderKind::OpenFace];

    /// The id its embeddings are stored under. A new model version gets a new id, so old
    /// vectors are re-embedded instead of compared with new ones.
    pub fn id(self) -> EmbedderId {
        EmbedderId(
            match self {
                EmbedderKind::Dlib => "dlib-resnet-v1",
                EmbedderKind::OpenFace => "openface-nn4.small2.v1",
            }
            .to_owned(),
        )
    }
}

/// The id of the embedder (and model version) that made an embedding, e.g. "dlib-resnet-v1".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EmbedderId(String);

impl EmbedderId {
    /// An id read from a gallery or an export file.
    pub fn new(id: impl Into<String>) -> EmbedderId {
        EmbedderId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an embedder of this whoisit makes embeddings with this id.
    pub fn is_known(&self) -> bool {
        EmbedderKind::ALL.iter().any(|kind| kind.id() == *self)
    }
}

impl fmt::Display for EmbedderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A face as 128 numbers; faces of one person are near each other (L2 distance).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Embedding(pub Vec<f32>);

impl Embedding {
    /// Euclidean distance: what the threshold is compared with.
    pub fn distance(&self, other: &Embedding) -> f32 {
        self.0
            .iter()
            .zip(&other.0)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    }

    /// The element-wise mean of some embeddings of one embedder (`None` for none): noise,
    /// passing expressions and the side a face is seen from average out, while what makes a
    /// face that person's stays. dlib averages a face's jittered copies the same way.
    pub fn mean<'a>(embeddings: impl IntoIterator<Item = &'a Embedding>) -> Option<Embedding> {
        let mut embeddings = embeddings.into_iter().peekable();
        let mut sum = vec![0.0f32; embeddings.peek()?.0.len()];
        let mut n = 0usize;
        for e in embeddings {
            for (s, v) in sum.iter_mut().zip(&e.0) {
                *s += v;
            }
            n += 1;
        }
        let n = n as f32;
        Some(Embedding(sum.into_iter().map(|s| s / n).collect()))
    }
}

/// A person's id in the gallery: it stays the same when they are renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PersonId(pub i64);

/// One enrolled face's embedding and whose face it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Enrolled {
    /// Their name, as a label.
    pub person: String,
    /// Their id in the gallery; `None` for people who are in none (labelled photos that
    /// `eval` enrolls in memory).
    pub id: Option<PersonId>,
    pub embedding: Embedding,
}

/// People known only by name (labelled photos, tests), in no gallery.
impl From<(String, Embedding)> for Enrolled {
    fn from((person, embedding): (String, Embedding)) -> Enrolled {
        Enrolled {
            person,
            id: None,
            embedding,
        }
    }
}
