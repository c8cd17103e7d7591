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

/// The two encodings a photo sent over the network may have, told by their first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Jpeg,
    Png,
}

impl Encoding {
    /// What `bytes` begin as, if JPEG or PNG.
    pub fn sniff(bytes: &[u8]) -> Option<Encoding> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(Encoding::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Encoding::Png)
        } else {
            None
        }
    }

    /// Whether `bytes` end as a whole file of this encoding does. A truncated JPEG decodes
    /// without an error, its missing part grey; this tells it apart.
    pub fn is_complete(self, bytes: &[u8]) -> bool {
        // Some writers put a few bytes of padding after the end marker.
        let tail = &bytes[bytes.len().saturating_sub(64)..];
        match self {
            Encoding::Jpeg => tail.windows(2).any(|w| w == [0xFF, 0xD9]),
            Encoding::Png => tail.windows(4).any(|w| w == b"IEND"),
        }
    }
}

/// A grey PNG of `width` x `height`, for tests of code that keeps crops without looking at
/// them (the gallery).
/// `image` made smaller, averaging the pixels each new one covers (what keeps a shrunk image
/// free of aliasing): to `size`, or by `scale` when `size` is zero.
pub fn shrink(image: &impl opencv::core::ToInputArray, size: Size, scale: f64) -> Result<Mat> {
    let mut small = Mat::default();
    imgproc::resize(image, &mut small, size, scale, scale, imgproc::INTER_AREA)?;
    Ok(small)
}

#[cfg(test)]
pub(crate) fn grey_png(width: i32, height: i32) -> Vec<u8> {
    let image = Mat::new_rows_cols_with_default(height, width, opencv::core::CV_8UC3, 90.into())
        .unwrap_or_default();
    encode_png(&image).unwrap_or_default()
}

/// Width and height from a PNG, JPEG or BMP header, read without decoding a pixel; `None` for
/// other formats, or a header that cannot be read (the decoder then says what is wrong).
pub fn header_dimensions(bytes: &[u8]) -> Option<(u64, u64)> {
    let be32 = |at: usize| -> Option<u64> {
        Some(u64::from(u32::from_be_bytes(
            bytes.get(at..at + 4)?.try_into().ok()?,
        )))
    };
    let be16 = |at: usize| -> Option<u64> {
        Some(u64::from(u16::from_be_bytes(
            bytes.get(at..at + 2)?.try_into().ok()?,
        )))
    };
    let le32 = |at: usize| -> Option<u64> {
        let v = i32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?);
        Some(u64::from(v.unsigned_abs()))
    };
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.get(12..16) == Some(b"IHDR") {
        return Some((be32(16)?, be32(20)?));
    }
    if bytes.starts_with(b"BM") {
        return Some((le32(18)?, le32(22)?));
    }
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    // JPEG: walk the segments to the frame header (SOFn), which holds height then width.
    let mut at = 2;
    while at + 4 <= bytes.len() {
        if bytes[at] != 0xFF {
            return None;
        }
        let marker = bytes[at + 1];
        match marker {
            0xFF => at += 1,
            0x01 | 0xD0..=0xD8 => at += 2,
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                return Some((be16(at + 7)?, be16(at + 5)?));
            }
            _ => at += 2 + usize::try_from(be16(at + 2)?).ok()?,
        }
    }
    None
}

/// Pixels ready to draw: 8-bit RGBA, row by row.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbaImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

/// The size only: a frame's pixels would fill a log with megabytes.
impl std::fmt::Debug for RgbaImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RgbaImage({}x{})", self.width, self.height)
    }
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
        Self::from_bgr(&shrink(bgr, Size::default(), scale)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_and_png_are_told_apart_and_a_cut_file_is_noticed() {
        let image =
            Mat::new_rows_cols_with_default(30, 70, opencv::core::CV_8UC3, 90.into()).unwrap();
        for (ext, encoding) in [(".jpg", Encoding::Jpeg), (".png", Encoding::Png)] {
            let mut bytes = Vector::<u8>::new();
            imgcodecs::imencode(ext, &image, &mut bytes, &Vector::new()).unwrap();
            let bytes = bytes.to_vec();
            assert_eq!(Encoding::sniff(&bytes), Some(encoding), "{ext}");
            assert!(encoding.is_complete(&bytes), "{ext}");
            assert!(
                !encoding.is_complete(&bytes[..bytes.len() * 2 / 3]),
                "{ext}"
            );
        }
        assert_eq!(Encoding::sniff(b"GIF89a"), None);
        assert_eq!(Encoding::sniff(b""), None);
    }

    #[test]
    fn dimensions_come_from_the_header_alone() {
        let image = Mat::new_rows_cols_with_default(
            30,
            70,
            opencv::core::CV_8UC3,
            opencv::core::Scalar::all(90.0),
        )
        .unwrap();
        for ext in [".png", ".jpg", ".bmp"] {
            let mut bytes = Vector::<u8>::new();
            imgcodecs::imencode(ext, &image, &mut bytes, &Vector::new()).unwrap();
            let bytes = bytes.to_vec();
            assert_eq!(header_dimensions(&bytes), Some((70, 30)), "{ext}");
            // The header is enough: the pixels after it are never looked at.
            assert_eq!(
                header_dimensions(&bytes[..bytes.len().min(700)]),
                Some((70, 30)),
                "{ext}"
            );
        }
        assert_eq!(header_dimensions(b"GIF89a..."), None);
        assert_eq!(header_dimensions(&[0xFF, 0xD8, 0xFF]), None);
    }
}
