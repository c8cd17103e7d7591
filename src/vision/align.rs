//! Face alignment: dlib landmarks, and the OpenFace chip warped from them.
//!
//! The dlib embedder aligns its own 150x150 chip from 5 landmarks (inside dlib), so for it this
//! module only predicts landmarks. OpenFace expects the outer eyes and nose tip at fixed places
//! of a 96x96 chip, which this module warps with OpenCV.

use std::path::Path;

use dlib_face_recognition::{
    FaceLandmarks, ImageMatrix, LandmarkPredictor, LandmarkPredictorTrait as _, Rectangle,
};
use opencv::core::{Mat, Point2f, Scalar, Size, Vector};
use opencv::imgproc;
use opencv::prelude::*;

use crate::base::error::{Error, Result};
use crate::vision::detect::Detection;

/// The edge of OpenFace's input chip.
pub const OPENFACE_CHIP: i32 = 96;

/// dlib 68-landmark indices of the outer eye corners and the nose tip.
const OUTER_EYES_AND_NOSE: [usize; 3] = [36, 45, 33];

/// Where OpenFace's training put those three points, as fractions of the chip edge: its mean
/// landmark template (`align_dlib.py`), min-max normalised.
const OPENFACE_TEMPLATE: [(f32, f32); 3] = [
    (0.194_157, 0.169_267),
    (0.788_859, 0.158_171),
    (0.494_951, 0.514_441),
];

/// A dlib landmark predictor (5 or 68 points).
pub struct Landmarker {
    predictor: LandmarkPredictor,
}

impl Landmarker {
    pub fn load(path: &Path) -> Result<Landmarker> {
        let predictor = LandmarkPredictor::open(path).map_err(|message| Error::ModelLoad {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(Landmarker { predictor })
    }

    /// Landmarks of each detected face.
    pub fn landmarks(&self, image: &ImageMatrix, faces: &[Detection]) -> Vec<FaceLandmarks> {
        faces
            .iter()
            .map(|face| {
                let b = face.bbox;
                let rect = Rectangle {
                    left: b.x.into(),
                    top: b.y.into(),
                    right: (b.right() - 1).into(),
                    bottom: (b.bottom() - 1).into(),
                };
                self.predictor.face_landmarks(image, &rect)
            })
            .collect()
    }
}

/// Copies a BGR frame into dlib's RGB image type.
pub(crate) fn dlib_image(bgr: &Mat) -> Result<ImageMatrix> {
    let mut rgb = Mat::default();
    imgproc::cvt_color(bgr, &mut rgb, imgproc::COLOR_BGR2RGB, 0)?;
    let rgb = if rgb.is_continuous() {
        rgb
    } else {
        rgb.try_clone()?
    };
    let bytes = rgb.data_bytes()?;
    let (width, height) = (rgb.cols() as usize, rgb.rows() as usize);
    debug_assert_eq!(bytes.len(), width * height * 3);
    // SAFETY: `rgb` is a continuous 8-bit 3-channel Mat of width x height, so `bytes` holds
    // exactly width * height * 3 values, which is what ImageMatrix::new reads.
    #[allow(unsafe_code)]
    Ok(unsafe { ImageMatrix::new(width, height, bytes.as_ptr()) })
}

/// Warps the face with 68 `landmarks` into OpenFace's 96x96 BGR chip.
pub(crate) fn openface_chip(bgr: &Mat, landmarks: &FaceLandmarks) -> Result<Mat> {
    if landmarks.len() != 68 {
        return Err(Error::ModelOutput(format!(
            "the OpenFace embedder needs dlib's 68-point landmark model, got {} points",
            landmarks.len()
        )));
    }
    let src: Vector<Point2f> = OUTER_EYES_AND_NOSE
        .iter()
        .map(|&i| Point2f::new(landmarks[i].x() as f32, landmarks[i].y() as f32))
        .collect();
    let edge = OPENFACE_CHIP as f32;
    let dst: Vector<Point2f> = OPENFACE_TEMPLATE
        .iter()
        .map(|&(x, y)| Point2f::new(x * edge, y * edge))
        .collect();
    let transform = imgproc::get_affine_transform(&src, &dst)?;
    let mut chip = Mat::default();
    imgproc::warp_affine(
        bgr,
        &mut chip,
        &transform,
        Size::new(OPENFACE_CHIP, OPENFACE_CHIP),
        imgproc::INTER_LINEAR,
        opencv::core::BORDER_CONSTANT,
        Scalar::default(),
    )?;
    Ok(chip)
}
