//! Embedders: an aligned face in, 128 numbers out. Two real backends, chosen in config.

use std::path::Path;

use crate::base::error::{Error, Result};
use crate::base::identity::{DIM, EmbedderId, EmbedderKind, Embedding};
use crate::models::ModelPaths;
use crate::vision::align::{self, Landmarker, OPENFACE_CHIP};
use crate::vision::detect::Detection;
use dlib_face_recognition::{
    FaceEncoderNetwork, FaceEncoderTrait as _, FaceLandmarks, ImageMatrix,
};
use opencv::core::{Mat, Scalar, Size, Vector};
use opencv::dnn;
use opencv::prelude::*;

/// The faces of one frame, aligned the way the configured embedder wants them.
pub enum Aligned {
    /// dlib extracts its own chips from the frame and 5 landmarks per face.
    Dlib(Vec<FaceLandmarks>),
    /// 96x96 BGR chips.
    OpenFace(Vec<Mat>),
}

/// A frame in the forms the stages need; the dlib copy is made once per frame.
pub struct FrameImage<'a> {
    pub bgr: &'a Mat,
    dlib: Option<ImageMatrix>,
}

impl<'a> FrameImage<'a> {
    pub fn new(bgr: &'a Mat) -> Self {
        FrameImage { bgr, dlib: None }
    }

    fn dlib(&mut self) -> Result<&ImageMatrix> {
        let image = match self.dlib.take() {
            Some(image) => image,
            None => align::dlib_image(self.bgr)?,
        };
        Ok(self.dlib.insert(image))
    }
}

/// An aligner and an embedder that belong together.
pub enum Embedder {
    Dlib {
        landmarks: Landmarker,
        net: Box<FaceEncoderNetwork>,
    },
    OpenFace {
        landmarks: Landmarker,
        net: dnn::Net,
    },
}

impl Embedder {
    pub fn load(kind: EmbedderKind, paths: &ModelPaths) -> Result<Embedder> {
        let landmarks = Landmarker::load(&paths.landmarks)?;
        Ok(match kind {
            EmbedderKind::Dlib => Embedder::Dlib {
                landmarks,
                net: FaceEncoderNetwork::open(&paths.embedder)
                    .map(Box::new)
                    .map_err(|message| Error::ModelLoad {
                        path: paths.embedder.clone(),
                        message,
                    })?,
            },
            EmbedderKind::OpenFace => Embedder::OpenFace {
                landmarks,
                net: load_torch(&paths.embedder)?,
            },
        })
    }

    /// Identifies the embedding space: embeddings with different ids are never compared.
    pub fn id(&self) -> EmbedderId {
        self.kind().id()
    }

    pub fn kind(&self) -> EmbedderKind {
        match self {
            Embedder::Dlib { .. } => EmbedderKind::Dlib,
            Embedder::OpenFace { .. } => EmbedderKind::OpenFace,
        }
    }

    /// The landmark points of each face, in frame pixels (5 for dlib, 68 for OpenFace).
    pub fn landmarks(
        &self,
        frame: &mut FrameImage<'_>,
        faces: &[Detection],
    ) -> Result<Vec<Vec<(i64, i64)>>> {
        let (Embedder::Dlib { landmarks, .. } | Embedder::OpenFace { landmarks, .. }) = self;
        Ok(landmarks
            .landmarks(frame.dlib()?, faces)
            .iter()
            .map(|points| points.iter().map(|p| (p.x(), p.y())).collect())
            .collect())
    }

    pub fn align(&self, frame: &mut FrameImage<'_>, faces: &[Detection]) -> Result<Aligned> {
        match self {
            Embedder::Dlib { landmarks, .. } => {
                Ok(Aligned::Dlib(landmarks.landmarks(frame.dlib()?, faces)))
            }
            Embedder::OpenFace { landmarks, .. } => {
                let points = landmarks.landmarks(frame.dlib()?, faces);
                let chips = points
                    .iter()
                    .map(|p| align::openface_chip(frame.bgr, p))
                    .collect::<Result<_>>()?;
                Ok(Aligned::OpenFace(chips))
            }
        }
    }

    pub fn embed(
        &mut self,
        frame: &mut FrameImage<'_>,
        aligned: &Aligned,
    ) -> Result<Vec<Embedding>> {
        match (self, aligned) {
            (Embedder::Dlib { net, .. }, Aligned::Dlib(landmarks)) => {
                if landmarks.is_empty() {
                    return Ok(Vec::new());
                }
                let encodings = net.get_face_encodings(frame.dlib()?, landmarks, 0);
                Ok(encodings
                    .iter()
                    .map(|e| Embedding(e.as_ref().iter().map(|&v| v as f32).collect()))
                    .collect())
            }
            (Embedder::OpenFace { net, .. }, Aligned::OpenFace(chips)) => {
                embed_openface(net, chips)
            }
            _ => Err(Error::Internal(
                "faces aligned for one embedder were given to the other",
            )),
        }
    }
}

/// Loads a Torch7 network; used for OpenFace's nn4.small2.v1 and anything with its contract.
pub fn load_torch(path: &Path) -> Result<dnn::Net> {
    dnn::read_net_from_torch(&path.to_string_lossy(), true, true).map_err(|e| Error::ModelLoad {
        path: path.to_path_buf(),
        message: e.message,
    })
}

/// OpenFace's preprocessing: 96x96 RGB, scaled to 0..1, no mean; output L2-normalised.
pub fn embed_openface(net: &mut dnn::Net, chips: &[Mat]) -> Result<Vec<Embedding>> {
    if chips.is_empty() {
        return Ok(Vec::new());
    }
    let images: Vector<Mat> = chips.iter().cloned().collect();
    let blob = dnn::blob_from_images(
        &images,
        1.0 / 255.0,
        Size::new(OPENFACE_CHIP, OPENFACE_CHIP),
        Scalar::default(),
        true,
        false,
        opencv::core::CV_32F,
    )?;
    net.set_input(&blob, "", 1.0, Scalar::default())?;
    let output = net.forward_single("")?;
    let values = output.data_typed::<f32>()?;
    if values.len() != chips.len() * DIM {
        return Err(Error::ModelOutput(format!(
            "the Torch embedder gave {} values for {} faces; a {DIM}-d embedder is needed",
            values.len(),
            chips.len()
        )));
    }
    // The network ends in nn.Normalize already; normalising again keeps the contract (unit
    // vectors, so 0.55 means the same thing) for any network given in its place.
    Ok(values
        .chunks_exact(DIM)
        .map(|v| {
            let norm = v
                .iter()
                .map(|x| x * x)
                .sum::<f32>()
                .sqrt()
                .max(f32::EPSILON);
            Embedding(v.iter().map(|x| x / norm).collect())
        })
        .collect())
}
