//! Images as bytes: the PNG face crops the gallery keeps, and RGBA pixels for a display.

use opencv::core::{Mat, Size, Vector};
use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;

use std::path::Path;

use ::image::DynamicImage;

use crate::base::error::{Error, Result};

/// The longest side of a face crop the gallery keeps: a face with its margin, never a whole
/// photo.
pub const MAX_CROP_SIDE: u32 = 4096;

/// Decodes a stored face crop (PNG) into a BGR image, through the same door as photos.
pub fn decode_png(bytes: &[u8]) -> Result<Mat> {
    if Encoding::sniff(bytes) != Some(Encoding::Png) {
        return Err(Error::InvalidInput(
            "a stored face image is not a PNG".into(),
        ));
    }
    let side = u64::from(MAX_CROP_SIDE);
    decode(bytes, side * side, Path::new("a stored face crop"))
}

/// A PNG's width and height, from its header (the decoder's own reading, no pixel decoded);
/// `None` when it has none.
pub fn png_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    use ::image::ImageDecoder as _;
    ::image::codecs::png::PngDecoder::new(std::io::Cursor::new(bytes))
        .ok()
        .map(|decoder| decoder.dimensions())
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
    /// The format's name, for people.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Jpeg => "JPEG",
            Encoding::Png => "PNG",
        }
    }

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

/// Why a photo's bytes were not decoded. Each refusal names the limit it met.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("it is {0}, not JPEG or PNG (the formats whoisit reads photos in)")]
    Format(&'static str),
    #[error(
        "it is {width}x{height}: too many pixels to decode safely, more than the {max_pixels} \
         allowed (config: limits.max_photo_megapixels)"
    )]
    TooManyPixels {
        width: u64,
        height: u64,
        max_pixels: u64,
    },
    #[error(
        "it is a progressive JPEG of more than {MAX_JPEG_SCANS} scans (real encoders write \
         about 10): refused, as each scan is another pass over every pixel"
    )]
    TooManyScans,
    #[error("it does not decode as {}: {reason}", encoding.name())]
    Damaged { encoding: Encoding, reason: String },
}

/// The most scans a progressive JPEG may have. Each scan is a pass over the whole image, so
/// with the pixel limit this bounds the work of a decode: libjpeg's progressive script writes
/// 10, mozjpeg's at most 17 or so; a 300 KB file of 600 scans kept OpenCV busy for 48 s.
pub const MAX_JPEG_SCANS: usize = 32;

/// The one door every photo comes in by (files, uploads, stream work, stored crops): JPEG or
/// PNG only, decoded first by Rust decoders with limits (zune-jpeg, png), which read the
/// dimensions from the header and refuse more than `max_pixels` before a pixel is allocated,
/// and cap a progressive JPEG's scans, so that no file costs more than the limits allow. Only
/// a file they decoded whole is then decoded by OpenCV, for the pixels whoisit has always
/// worked on: the decoders round differently (0.3 of 255 on average), which is enough to move
/// a borderline head pose, and every threshold and figure was measured on OpenCV's. OpenCV's
/// size must be theirs (OpenCV applies EXIF orientation, as cameras expect). Gives BGR; `name` says in errors which photo it was (a path, or "the uploaded image").
pub fn decode(bytes: &[u8], max_pixels: u64, name: &Path) -> Result<Mat> {
    let (encoding, size) = check(bytes, max_pixels, name)?;
    let image = imgcodecs::imdecode(&Vector::<u8>::from_slice(bytes), imgcodecs::IMREAD_COLOR)?;
    same_size(image, encoding, size).map_err(|reason| Error::Photo {
        path: name.to_path_buf(),
        reason: Box::new(reason),
    })
}

/// The decoding door without OpenCV's decode: the Rust decoders' checks and decode within the
/// limits, for a still image OpenCV is about to read by another way (a photo given as a video
/// source). Gives the encoding and the width and height.
pub fn check(bytes: &[u8], max_pixels: u64, name: &Path) -> Result<(Encoding, (u32, u32))> {
    let refused = |reason: DecodeError| Error::Photo {
        path: name.to_path_buf(),
        reason: Box::new(reason),
    };
    match Encoding::sniff(bytes) {
        Some(Encoding::Jpeg) => Ok((
            Encoding::Jpeg,
            verify_jpeg(bytes, max_pixels).map_err(refused)?,
        )),
        Some(Encoding::Png) => Ok((
            Encoding::Png,
            verify_png(bytes, max_pixels).map_err(refused)?,
        )),
        None => Err(refused(DecodeError::Format(format_name(bytes)))),
    }
}

/// Whether `head`, a file's first bytes, begins a still image of a format OpenCV reads (JPEG,
/// PNG, TIFF, BMP, GIF, PGM, PPM), rather than a video container.
pub fn is_still_image(head: &[u8]) -> bool {
    Encoding::sniff(head).is_some()
        || STILL_FORMATS
            .iter()
            .any(|(magic, _)| head.starts_with(magic))
}

/// The still image formats whoisit does not read photos in, by their first bytes.
const STILL_FORMATS: [(&[u8], &str); 6] = [
    (b"II*\0", "a TIFF image"),
    (b"MM\0*", "a TIFF image"),
    (b"BM", "a BMP image"),
    (b"GIF8", "a GIF image"),
    (b"P5", "a PGM image"),
    (b"P6", "a PPM image"),
];

/// What a file that is not JPEG or PNG is, for the refusal.
fn format_name(bytes: &[u8]) -> &'static str {
    const CONTAINERS: [(&[u8], &str); 2] = [
        (b"RIFF", "a RIFF file (WebP or AVI)"),
        (b"\0\0\0", "an ISO media file (HEIF, AVIF or MP4)"),
    ];
    if bytes.is_empty() {
        return "empty";
    }
    STILL_FORMATS
        .iter()
        .chain(&CONTAINERS)
        .find(|(magic, _)| bytes.starts_with(magic))
        .map_or("not an image", |(_, name)| name)
}

fn check_pixels(width: u64, height: u64, max_pixels: u64) -> std::result::Result<(), DecodeError> {
    if width.saturating_mul(height) > max_pixels {
        return Err(DecodeError::TooManyPixels {
            width,
            height,
            max_pixels,
        });
    }
    Ok(())
}

/// Decodes a JPEG within the limits, for its width and height.
fn verify_jpeg(bytes: &[u8], max_pixels: u64) -> std::result::Result<(u32, u32), DecodeError> {
    use zune_core::colorspace::ColorSpace;
    let CheckedJpeg {
        mut decoder,
        options,
        size,
    } = check_jpeg(bytes, max_pixels)?;
    // Grey stays grey: a third of the memory.
    if matches!(
        decoder.input_colorspace(),
        Some(ColorSpace::Luma | ColorSpace::LumaA)
    ) {
        decoder.set_options(options.jpeg_set_out_colorspace(ColorSpace::Luma));
    }
    decoder.decode().map_err(|e| jpeg_damaged(&e))?;
    Ok(size)
}

/// A JPEG video frame's bytes (an MJPEG packet, or a JPEG of an image sequence) checked
/// within the limits before FFmpeg decodes them: the photo door's JPEG decoder reads the
/// header and refuses more than `max_pixels`, and the scans are counted and capped, which
/// bounds the work of the decode. Gives the width and height the decoded frame must have.
pub fn check_jpeg_frame(bytes: &[u8], max_pixels: u64, name: &Path) -> Result<(u32, u32)> {
    let refused = |reason: DecodeError| Error::Photo {
        path: name.to_path_buf(),
        reason: Box::new(reason),
    };
    if Encoding::sniff(bytes) != Some(Encoding::Jpeg) {
        return Err(refused(DecodeError::Damaged {
            encoding: Encoding::Jpeg,
            reason: "the frame does not begin as a JPEG".into(),
        }));
    }
    Ok(check_jpeg(bytes, max_pixels).map_err(refused)?.size)
}

/// `image`, decoded by OpenCV, if it has the size the Rust decoders checked (or that size
/// turned a quarter, as EXIF orientation turns it).
fn same_size(
    image: Mat,
    encoding: Encoding,
    (width, height): (u32, u32),
) -> std::result::Result<Mat, DecodeError> {
    let size = (
        u32::try_from(image.cols()).unwrap_or(0),
        u32::try_from(image.rows()).unwrap_or(0),
    );
    if size != (width, height) && size != (height, width) {
        return Err(DecodeError::Damaged {
            encoding,
            reason: format!(
                "OpenCV reads it as {}x{}, not the {width}x{height} it was checked as",
                size.0, size.1
            ),
        });
    }
    Ok(image)
}

/// A JPEG whose header was read and checked against the limits (the pixels, and the scans
/// counted before any is decoded), ready to decode.
struct CheckedJpeg<'a> {
    decoder: zune_jpeg::JpegDecoder<zune_core::bytestream::ZCursor<&'a [u8]>>,
    options: zune_core::options::DecoderOptions,
    size: (u32, u32),
}

fn check_jpeg(bytes: &[u8], max_pixels: u64) -> std::result::Result<CheckedJpeg<'_>, DecodeError> {
    // Not strict, as OpenCV's libjpeg is not: phones write files with small defects.
    let options = zune_core::options::DecoderOptions::default()
        .set_strict_mode(false)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX))
        .jpeg_set_max_scans(MAX_JPEG_SCANS);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(
        zune_core::bytestream::ZCursor::new(bytes),
        options,
    );
    decoder.decode_headers().map_err(|e| jpeg_damaged(&e))?;
    let (width, height) = decoder.dimensions().unwrap_or_default();
    check_pixels(width as u64, height as u64, max_pixels)?;
    // zune-jpeg counts scans as it decodes them, after it has allocated the coefficients of
    // every pixel: counted here first, a bomb of scans costs a walk over its markers instead.
    if jpeg_scans(bytes) > MAX_JPEG_SCANS {
        return Err(DecodeError::TooManyScans);
    }
    let side = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Ok(CheckedJpeg {
        decoder,
        options,
        size: (side(width), side(height)),
    })
}

fn jpeg_damaged(e: &zune_jpeg::errors::DecodeErrors) -> DecodeError {
    let reason = e.to_string();
    // zune-jpeg says "Too many scans" when the cap is met.
    if reason.contains("Too many scans") {
        DecodeError::TooManyScans
    } else {
        DecodeError::Damaged {
            encoding: Encoding::Jpeg,
            reason,
        }
    }
}

/// How many scans (SOS segments) a JPEG has, found by walking its segments and skipping the
/// entropy-coded data after each scan header (where 0xFF is always followed by 0x00 or a
/// restart marker), so that no byte inside a segment or the data is taken for a marker.
fn jpeg_scans(bytes: &[u8]) -> usize {
    let is_data = |at: usize| bytes[at] != 0xFF || matches!(bytes[at + 1], 0x00 | 0xD0..=0xD7);
    let mut scans = 0;
    let mut at = 2;
    while at + 1 < bytes.len() {
        // Stray bytes and 0xFF fill between segments: decoders skip them, so does this.
        if bytes[at] != 0xFF || bytes[at + 1] == 0xFF {
            at += 1;
            continue;
        }
        let marker = bytes[at + 1];
        at += 2;
        match marker {
            0xD9 => break,
            // Markers without a length.
            0x00 | 0x01 | 0xD0..=0xD8 => {}
            _ => {
                let length = bytes
                    .get(at..at + 2)
                    .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
                at += length;
                if marker == 0xDA {
                    scans += 1;
                    while at + 1 < bytes.len() && is_data(at) {
                        at += 1;
                    }
                }
            }
        }
    }
    scans
}

/// Decodes a PNG within the limits, for its width and height.
fn verify_png(bytes: &[u8], max_pixels: u64) -> std::result::Result<(u32, u32), DecodeError> {
    use ::image::ImageDecoder as _;
    let damaged = |e: ::image::ImageError| DecodeError::Damaged {
        encoding: Encoding::Png,
        reason: e.to_string(),
    };
    // The decoder's own allocation cap, beside the pixel count: 16-bit RGBA is 8 bytes a pixel.
    let mut limits = ::image::Limits::default();
    limits.max_alloc = Some(max_pixels.saturating_mul(8));
    let decoder =
        ::image::codecs::png::PngDecoder::with_limits(std::io::Cursor::new(bytes), limits)
            .map_err(damaged)?;
    let (width, height) = decoder.dimensions();
    check_pixels(u64::from(width), u64::from(height), max_pixels)?;
    DynamicImage::from_decoder(decoder).map_err(damaged)?;
    Ok((width, height))
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

    fn encoded(ext: &str, width: i32, height: i32) -> Vec<u8> {
        let image = Mat::new_rows_cols_with_default(
            height,
            width,
            opencv::core::CV_8UC3,
            opencv::core::Scalar::new(200.0, 100.0, 30.0, 0.0),
        )
        .unwrap();
        let mut bytes = Vector::<u8>::new();
        imgcodecs::imencode(ext, &image, &mut bytes, &Vector::new()).unwrap();
        bytes.to_vec()
    }

    #[test]
    fn jpeg_and_png_decode_as_bgr_within_the_limit_and_nothing_else_does() {
        let name = Path::new("test");
        for ext in [".png", ".jpg"] {
            let image = decode(&encoded(ext, 70, 30), 70 * 30, name).unwrap();
            assert_eq!((image.cols(), image.rows(), image.channels()), (70, 30, 3));
            // Blue stays blue: BGR, as OpenCV's imdecode gave.
            let pixel = *image.at_2d::<opencv::core::Vec3b>(15, 35).unwrap();
            assert!(pixel[0] > 150 && pixel[2] < 80, "{ext}: {pixel:?}");
            let err = decode(&encoded(ext, 70, 30), 70 * 30 - 1, name).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains("70x30") && text.contains("too many pixels"),
                "{text}"
            );
        }
        for (ext, what) in [(".bmp", "BMP"), (".tiff", "TIFF")] {
            let text = decode(&encoded(ext, 70, 30), 1 << 20, name)
                .unwrap_err()
                .to_string();
            assert!(
                text.contains(what) && text.contains("not JPEG or PNG"),
                "{text}"
            );
        }
        let text = decode(b"", 1, name).unwrap_err().to_string();
        assert!(text.contains("empty"), "{text}");
    }

    #[test]
    fn still_images_are_told_from_video_containers_and_checked_without_opencv() {
        for ext in [".jpg", ".png", ".tiff", ".bmp"] {
            assert!(is_still_image(&encoded(ext, 8, 8)), "{ext}");
        }
        for container in [&b"RIFF\0\0\0\0AVI LIST"[..], b"\0\0\0\x20ftypisom", b""] {
            assert!(!is_still_image(container), "{container:?}");
        }
        let name = Path::new("test");
        let (encoding, size) = check(&encoded(".jpg", 70, 30), 70 * 30, name).unwrap();
        assert_eq!((encoding, size), (Encoding::Jpeg, (70, 30)));
        let text = check(&encoded(".png", 70, 30), 70 * 30 - 1, name)
            .unwrap_err()
            .to_string();
        assert!(text.contains("70x30"), "{text}");
    }

    #[test]
    fn scans_are_counted_by_markers_not_by_bytes_that_look_like_them() {
        let baseline = encoded(".jpg", 64, 64);
        assert_eq!(jpeg_scans(&baseline), 1);
        let mut progressive = Vector::<u8>::new();
        let image =
            Mat::new_rows_cols_with_default(64, 64, opencv::core::CV_8UC3, 90.into()).unwrap();
        let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_PROGRESSIVE, 1]);
        imgcodecs::imencode(".jpg", &image, &mut progressive, &params).unwrap();
        // libjpeg's progressive script for a colour image.
        assert_eq!(jpeg_scans(&progressive.to_vec()), 10);
        // A comment holding an SOS marker's bytes is a comment.
        let mut commented = baseline[..2].to_vec();
        commented.extend([0xFF, 0xFE, 0, 6, 0xFF, 0xDA, 0xFF, 0xDA]);
        commented.extend(&baseline[2..]);
        assert_eq!(jpeg_scans(&commented), 1);
    }
}
