//! Images as bytes: the PNG face crops the gallery keeps, and RGBA pixels for a display.

use opencv::core::{Mat, Size, Vector};
use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;

use crate::base::error::{Error, Result};

/// Decodes a PNG (e.g. a stored face crop) into a BGR image.
pub fn decode_png(bytes: &[u8]) -> Result<Mat> {
    let image = imgcodecs::imdecode(&Vector::from_slice(bytes), imgcodecs::IMREAD_COLOR)?;
    if image.empty() {
        return Err(Error::InvalidInput(
            "a stored face image does not decode as PNG".into(),
        ));
    }
    Ok(image)
}

/// Encodes a BGR image as PNG.
pub fn encode_png(bgr: &Mat) -> Result<Vec<u8>> {
    let mut png = Vector::<u8>::new();
    imgcodecs::imencode(".png", bgr, &mut png, &Vector::new())?;
    Ok(png.to_vec())
}

/// Pixels ready to draw: 8-bit RGBA, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbaImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl RgbaImage {
    /// A BGR image (OpenCV's order) as RGBA.
    pub fn from_bgr(bgr: &Mat) -> Result<RgbaImage> {
        let mut rgba = Mat::default();
        imgproc::cvt_color_def(bgr, &mut rgba, imgproc::COLOR_BGR2RGBA)?;
        Ok(RgbaImage {
            width: rgba.cols() as usize,
            height: rgba.rows() as usize,
            pixels: rgba.data_bytes()?.to_vec(),
        })
    }

    /// `bgr` shrunk to fit in `side` x `side` pixels, for thumbnails.
    pub fn thumbnail(bgr: &Mat, side: i32) -> Result<RgbaImage> {
        let scale = f64::from(side) / f64::from(bgr.cols().max(bgr.rows()).max(1));
        if scale >= 1.0 {
            return Self::from_bgr(bgr);
        }
        let mut small = Mat::default();
        imgproc::resize(
            bgr,
            &mut small,
            Size::default(),
            scale,
            scale,
            imgproc::INTER_AREA,
        )?;
        Self::from_bgr(&small)
    }
}
