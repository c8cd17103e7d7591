//! The enrollment quality gate, and the face crops the gallery keeps.
//!
//! A gallery is only as good as its worst enrollment: one blurred or tiny face makes strangers
//! match. So a capture must show exactly one face, big enough and sharp enough, or it is
//! rejected with the reason.

use std::fmt;

use opencv::core::{Mat, Rect, Size};
use opencv::imgproc;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};

use crate::base::error::Result;
use crate::base::geometry::FaceBox;
use crate::base::image::encode_png;
use crate::vision::detect::Detection;
use crate::vision::pose::Pose;

/// Faces are compared for sharpness at one size, so that a big face is not "sharper" for being
/// big.
const SHARPNESS_SIDE: i32 = 112;
/// Stored crops: the face with this much margin on each side, at most this many pixels wide.
const CROP_MARGIN: f32 = 0.25;
const CROP_MAX_SIDE: i32 = 256;

/// What an enrollment capture must meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityGate {
    pub min_face_px: u32,
    pub min_sharpness: f32,
    /// A capture nearer than this (L2 embedding distance) to a face already taken of the
    /// person is a duplicate: it adds storage and nothing to recognise them by.
    pub duplicate_below: f32,
}

impl Default for QualityGate {
    fn default() -> Self {
        QualityGate {
            min_face_px: 60,
            min_sharpness: 80.0,
            duplicate_below: 0.15,
        }
    }
}

/// Why a capture was not enrolled.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    NoFace,
    SeveralFaces(usize),
    TooSmall {
        px: i32,
        min: u32,
    },
    Blurred {
        sharpness: f32,
        min: f32,
    },
    /// Nearly the same as a face already taken (`of` says which).
    Duplicate {
        distance: f32,
        of: String,
    },
    /// Not the pose asked for (`seen` is `None` when the landmarks gave none).
    WrongPose {
        asked: Pose,
        seen: Option<Pose>,
    },
}

impl Rejection {
    /// A few words for a thumbnail's caption.
    pub fn short(&self) -> String {
        match self {
            Rejection::NoFace => "no face".into(),
            Rejection::SeveralFaces(n) => format!("{n} faces"),
            Rejection::TooSmall { .. } => "too small".into(),
            Rejection::Blurred { .. } => "blurred".into(),
            Rejection::Duplicate { .. } => "duplicate".into(),
            Rejection::WrongPose {
                seen: Some(seen), ..
            } => format!("wrong pose ({seen})"),
            Rejection::WrongPose { seen: None, .. } => "pose unclear".into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NoFace => write!(f, "no face found"),
            Rejection::SeveralFaces(n) => write!(f, "{n} faces found; enroll one person at a time"),
            Rejection::TooSmall { px, min } => write!(
                f,
                "the face is {px} px, at least {min} px are needed; come closer"
            ),
            Rejection::Blurred { sharpness, min } => write!(
                f,
                "the face is blurred (sharpness {sharpness:.0}, at least {min:.0} is needed); hold still or add light"
            ),
            Rejection::Duplicate { distance, of } => write!(
                f,
                "a duplicate of {of} (embedding distance {distance:.3}); change the pose or the light"
            ),
            Rejection::WrongPose { asked, seen } => write!(
                f,
                "the pose asked for is {asked}, the face shows {}; {}",
                seen.map_or("no clear pose", Pose::as_str),
                asked.request().to_lowercase()
            ),
        }
    }
}

/// The face a capture was accepted for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accepted {
    pub face: Detection,
    /// Variance of the Laplacian of the face at a fixed size (higher is sharper).
    pub sharpness: f32,
}

impl QualityGate {
    /// The one acceptable face of a capture, or why there is none.
    pub fn check(
        &self,
        image: &Mat,
        faces: &[Detection],
    ) -> Result<std::result::Result<Accepted, Rejection>> {
        let face = match faces {
            [] => return Ok(Err(Rejection::NoFace)),
            [face] => *face,
            more => return Ok(Err(Rejection::SeveralFaces(more.len()))),
        };
        let px = face.bbox.shorter_side();
        if px < self.min_face_px as i32 {
            return Ok(Err(Rejection::TooSmall {
                px,
                min: self.min_face_px,
            }));
        }
        let sharpness = sharpness(image, face.bbox)?;
        if sharpness < self.min_sharpness {
            return Ok(Err(Rejection::Blurred {
                sharpness,
                min: self.min_sharpness,
            }));
        }
        Ok(Ok(Accepted { face, sharpness }))
    }
}

/// Variance of the Laplacian of the face, grey, at a fixed size: low means blurred.
pub fn sharpness(image: &Mat, face: FaceBox) -> Result<f32> {
    let Some(face) = face.within(image.cols(), image.rows()) else {
        return Ok(0.0);
    };
    let mut grey = Mat::default();
    imgproc::cvt_color(
        &image.roi(face.to_rect())?,
        &mut grey,
        imgproc::COLOR_BGR2GRAY,
        0,
    )?;
    let mut resized = Mat::default();
    imgproc::resize(
        &grey,
        &mut resized,
        Size::new(SHARPNESS_SIDE, SHARPNESS_SIDE),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )?;
    let mut laplacian = Mat::default();
    imgproc::laplacian(
        &resized,
        &mut laplacian,
        opencv::core::CV_64F,
        1,
        1.0,
        0.0,
        opencv::core::BORDER_DEFAULT,
    )?;
    let (mut mean, mut stddev) = (Mat::default(), Mat::default());
    opencv::core::mean_std_dev(
        &laplacian,
        &mut mean,
        &mut stddev,
        &opencv::core::no_array(),
    )?;
    let sd = *stddev.at::<f64>(0)?;
    Ok((sd * sd) as f32)
}

/// The face's box grown by `margin` of its size on each side, cut to the image.
pub(crate) fn around(image: &Mat, face: &Detection, margin: f32) -> Rect {
    let b = face.bbox;
    let (mx, my) = (
        (b.width as f32 * margin) as i32,
        (b.height as f32 * margin) as i32,
    );
    Rect::new(b.x - mx, b.y - my, b.width + 2 * mx, b.height + 2 * my)
        & Rect::new(0, 0, image.cols(), image.rows())
}

/// The face with a margin, as PNG: what the gallery keeps to re-embed later. Not an aligned
/// chip, because each embedder aligns in its own way from the face's landmarks.
pub(crate) fn face_crop_png(image: &Mat, face: &Detection) -> Result<Vec<u8>> {
    crop_png(&image.roi(around(image, face, CROP_MARGIN))?)
}

/// The part of `image` a crop of `face` is made of ([`crop_png`]), copied: cheap enough for a
/// frame's thread, which hands the encoding to another.
pub(crate) fn face_region(image: &Mat, face: &Detection) -> Result<Mat> {
    Ok(image.roi(around(image, face, CROP_MARGIN))?.try_clone()?)
}

/// A [`face_region`] as the gallery keeps crops: at most `CROP_MAX_SIDE` wide, PNG.
pub(crate) fn crop_png(
    region: &(impl opencv::core::ToInputArray + MatTraitConst),
) -> Result<Vec<u8>> {
    let scale = (CROP_MAX_SIDE as f64 / region.cols().max(region.rows()).max(1) as f64).min(1.0);
    let mut resized = Mat::default();
    imgproc::resize(
        region,
        &mut resized,
        Size::new(0, 0),
        scale,
        scale,
        imgproc::INTER_AREA,
    )?;
    encode_png(&resized)
}
