//! Still photos: loading with clear errors, and padding so tight face crops are detectable.

use std::path::Path;

use opencv::core::{Mat, Scalar, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;
use sha2::Digest as _;

use crate::base::error::{Error, Result};
use crate::vision::detect::Detection;

/// A photo as read from its file.
pub struct Photo {
    /// BGR.
    pub image: Mat,
    /// The sha256 of the file's bytes, which identifies it for idempotent imports.
    pub sha256: String,
}

/// Loads a photo as BGR. A missing file and a file that is not an image are told apart.
pub fn load(path: &Path) -> Result<Mat> {
    read(path).map(|photo| photo.image)
}

/// Loads a photo as BGR, with the sha256 of its bytes.
pub fn read(path: &Path) -> Result<Photo> {
    let bytes = std::fs::read(path).map_err(|e| Error::read(path, e))?;
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    // imdecode gives an empty Mat for anything it cannot decode; it does not say why.
    let image = imgcodecs::imdecode(&Vector::<u8>::from_slice(&bytes), imgcodecs::IMREAD_COLOR)
        .map_err(|_| Error::NotAnImage {
            path: path.to_path_buf(),
        })?;
    if image.empty() {
        return Err(Error::NotAnImage {
            path: path.to_path_buf(),
        });
    }
    Ok(Photo { image, sha256 })
}

/// Whether a photo is a tight face crop (LFW style): no face found, or a face box that fills
/// the photo. The SSD's boxes on such photos are poor; with `pad_for_detection` they are good.
pub(crate) fn is_tight_crop(image: &Mat, faces: &[Detection]) -> bool {
    let fills = |f: &Detection| {
        f.bbox.width as f32 >= 0.85 * image.cols() as f32
            || f.bbox.height as f32 >= 0.85 * image.rows() as f32
    };
    faces.is_empty() || faces.iter().any(fills)
}

/// Adds a black border of a quarter of the photo's size on every side. The SSD misses faces
/// that fill the whole picture (LFW-style crops); with a margin it sees them as in a frame.
/// Only for photos with no face found otherwise: the margin shrinks every face in the SSD's
/// 300x300 input, so small faces of a group photo would be lost.
pub fn pad_for_detection(image: &Mat) -> Result<Mat> {
    let (dx, dy) = (image.cols() / 4, image.rows() / 4);
    let mut padded = Mat::default();
    opencv::core::copy_make_border(
        image,
        &mut padded,
        dy,
        dy,
        dx,
        dx,
        opencv::core::BORDER_CONSTANT,
        Scalar::default(),
    )?;
    Ok(padded)
}
