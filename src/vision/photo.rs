//! Still photos: loading with clear errors, and padding so tight face crops are detectable.

use std::path::Path;

use opencv::core::{Mat, Scalar};
use opencv::prelude::*;
use sha2::Digest as _;

use crate::base::error::Result;
use crate::base::files::read_limited;
use crate::vision::detect::Detection;

/// A photo as read from its file.
pub struct Photo {
    /// BGR.
    pub image: Mat,
    /// The sha256 of the file's bytes, which identifies it for idempotent imports.
    pub sha256: String,
}

/// How big a photo may be, so that no file can exhaust the machine: a 900-megapixel PNG of
/// under 1 MB decodes to gigabytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhotoLimits {
    pub max_bytes: u64,
    /// Checked by the decoder on the header, before a pixel is allocated.
    pub max_pixels: u64,
}

impl Default for PhotoLimits {
    fn default() -> Self {
        PhotoLimits {
            max_bytes: 64 << 20,
            max_pixels: 64_000_000,
        }
    }
}

/// Loads a photo as BGR. A missing file and a file that is not an image are told apart.
pub fn load(path: &Path) -> Result<Mat> {
    read(path, &PhotoLimits::default()).map(|photo| photo.image)
}

/// Loads a photo as BGR, with the sha256 of its bytes; only a regular file within `limits`.
pub fn read(path: &Path, limits: &PhotoLimits) -> Result<Photo> {
    decode(&read_file(path, limits)?, limits, path)
}

/// A photo file's bytes, not decoded: only a regular file within `limits`.
pub fn read_file(path: &Path, limits: &PhotoLimits) -> Result<Vec<u8>> {
    read_limited(path, limits.max_bytes, "config: limits.max_photo_mb")
}

/// The sha256 of a photo's bytes, which identifies it for idempotent imports.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Decodes a photo's bytes as BGR, with their sha256; `name` says in errors which photo it
/// was (a path, or "the uploaded image"). Through the one decoding door
/// ([`crate::base::image::decode`]): JPEG or PNG, within `limits.max_pixels`.
pub fn decode(bytes: &[u8], limits: &PhotoLimits, name: &Path) -> Result<Photo> {
    decode_hashed(bytes, sha256(bytes), limits, name)
}

/// [`decode`], for bytes whose sha256 is known already.
pub fn decode_hashed(
    bytes: &[u8],
    sha256: String,
    limits: &PhotoLimits,
    name: &Path,
) -> Result<Photo> {
    let image = crate::base::image::decode(bytes, limits.max_pixels, name)?;
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
