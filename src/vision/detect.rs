//! Face detection with OpenCV's res10 300x300 SSD (Caffe), through OpenCV's dnn module.
//!
//! The net is convolutional: it takes any input size, and its smallest anchor boxes are 30 px
//! of its input whatever that size. Squeezed to 300x300, a 640 px wide frame loses faces under
//! ~50 px; the same frame given at 640 px wide keeps faces down to ~20 px, for the cost of a
//! second, larger pass ([`Search::Far`]).

use std::path::Path;

use opencv::core::{Mat, Scalar, Size};
use opencv::dnn;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::geometry::FaceBox;

/// The SSD was trained on 300x300 inputs with these BGR channel means subtracted.
const INPUT: i32 = 300;
const MEAN_BGR: (f64, f64, f64) = (104.0, 177.0, 123.0);

/// The input widths [`Search::Far`] accepts: narrower loses what `Standard` finds; wider than
/// a 1080p frame costs seconds.
pub const FAR_WIDTHS: std::ops::RangeInclusive<u32> = 320..=1920;

/// How the detector sees a whole frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Search {
    /// Squeezed to 300x300, the size the SSD was trained on: one pass, the same cost whatever
    /// the frame.
    Standard,
    /// The standard pass, then a second one on the frame scaled to `width` pixels wide, its
    /// aspect kept, which adds the faces narrower than [`FAR_KEEP_PX`] of that width: faces
    /// down to ~20 px of it are found.
    Far { width: u32 },
}

/// The far pass keeps only faces narrower than this, in pixels of its input. The net's anchors
/// for large faces sit 100 and 300 px apart, which lines up with its feature maps only on a
/// 300 px input: on a larger one they give near faces a second, displaced box. Its anchors up
/// to 111 px line up at any size; faces this wide are the standard pass's.
pub const FAR_KEEP_PX: i32 = 100;

impl Search {
    /// What is wrong with this search as configured, if anything.
    pub fn problem(self) -> Option<String> {
        match self {
            Search::Far { width } if !FAR_WIDTHS.contains(&width) => Some(format!(
                "detector.search: Far(width: {width}) must be between {} and {} px",
                FAR_WIDTHS.start(),
                FAR_WIDTHS.end()
            )),
            Search::Standard | Search::Far { .. } => None,
        }
    }
}

impl std::str::FromStr for Search {
    type Err = String;

    /// `standard`, or `far:WIDTH`, as `Display` writes them.
    fn from_str(s: &str) -> std::result::Result<Search, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("standard") {
            return Ok(Search::Standard);
        }
        let bad = || format!("{s:?} is neither `standard` nor `far:WIDTH` (e.g. far:640)");
        let width = s
            .strip_prefix("far:")
            .ok_or_else(bad)?
            .parse()
            .map_err(|_| bad())?;
        let search = Search::Far { width };
        search.problem().map_or(Ok(search), Err)
    }
}

impl std::fmt::Display for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Search::Standard => write!(f, "standard"),
            Search::Far { width } => write!(f, "far:{width}"),
        }
    }
}

/// How sure the detector must be, how small a face it reports, how it sees a frame, and on
/// which frames of a live source it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    pub confidence: f32,
    pub min_face_px: u32,
    pub search: Search,
    pub live: GateConfig,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            confidence: 0.5,
            min_face_px: 20,
            search: Search::Standard,
            live: GateConfig::default(),
        }
    }
}

/// How live frames are gated ([`crate::vision::gate`]): part of the detector's settings, as
/// on which frames it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    pub enabled: bool,
    pub idle_detect_ms: u32,
    pub motion_threshold: f32,
    pub full_frame_every: u32,
}

impl Default for GateConfig {
    fn default() -> Self {
        GateConfig {
            enabled: true,
            idle_detect_ms: 1000,
            motion_threshold: 6.0,
            full_frame_every: 10,
        }
    }
}

/// A face found in a frame: its box in frame pixels (clipped to the frame) and the detector's
/// confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    #[serde(rename = "box")]
    pub bbox: FaceBox,
    pub confidence: f32,
}

impl Detection {
    /// The biggest of `faces`: the subject of a portrait.
    pub fn largest(faces: &[Detection]) -> Option<Detection> {
        faces.iter().max_by_key(|f| f.bbox.area()).copied()
    }
}

/// The SSD face detector.
pub struct Detector {
    net: dnn::Net,
    confidence: f32,
    min_face_px: i32,
    search: Search,
}

impl Detector {
    pub fn load(prototxt: &Path, weights: &Path, config: &DetectorConfig) -> Result<Detector> {
        let net = dnn::read_net_from_caffe(&prototxt.to_string_lossy(), &weights.to_string_lossy())
            .map_err(|e| Error::ModelLoad {
                path: weights.to_path_buf(),
                message: e.message,
            })?;
        Ok(Detector {
            net,
            confidence: config.confidence,
            min_face_px: config.min_face_px as i32,
            search: config.search,
        })
    }

    /// Faces in a BGR frame, most confident first.
    pub fn detect(&mut self, bgr: &Mat) -> Result<Vec<Detection>> {
        let (width, height) = (bgr.cols(), bgr.rows());
        if width == 0 || height == 0 {
            return Ok(Vec::new());
        }
        let mut faces = self.pass(bgr, Size::new(INPUT, INPUT))?;
        if let Search::Far { width: input } = self.search {
            let input = input as i32;
            let scaled = f64::from(input) * f64::from(height) / f64::from(width);
            let size = Size::new(input, (scaled.round() as i32).max(1));
            let limit = FAR_KEEP_PX * width / input;
            let far = self.pass(bgr, size)?;
            faces.extend(far.into_iter().filter(|f| f.bbox.width < limit));
            faces = suppress_overlaps(faces);
        }
        faces.retain(|face| face.bbox.shorter_side() >= self.min_face_px);
        faces.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Ok(faces)
    }

    /// The faces the net finds in `bgr` scaled to `size`, over the confidence, any size.
    fn pass(&mut self, bgr: &Mat, size: Size) -> Result<Vec<Detection>> {
        let (b, g, r) = MEAN_BGR;
        let blob = dnn::blob_from_image(
            bgr,
            1.0,
            size,
            Scalar::new(b, g, r, 0.0),
            false,
            false,
            opencv::core::CV_32F,
        )?;
        self.net.set_input(&blob, "", 1.0, Scalar::default())?;
        let output = self.net.forward_single("")?;
        // Output is 1x1xNx7: [image_id, label, confidence, x0, y0, x1, y1] with coordinates
        // relative to the frame.
        let values = output.data_typed::<f32>()?;
        let (width, height) = (bgr.cols(), bgr.rows());
        Ok(values
            .chunks_exact(7)
            .filter(|d| d[2] >= self.confidence)
            .filter_map(|d| {
                clip_box(d[3], d[4], d[5], d[6], width, height).map(|bbox| Detection {
                    bbox,
                    confidence: d[2],
                })
            })
            .collect())
    }
}

/// The faces of two passes, each face once: of boxes that overlap (IoU over 0.3, the same face
/// seen at two scales), the most confident.
fn suppress_overlaps(mut faces: Vec<Detection>) -> Vec<Detection> {
    faces.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let mut kept: Vec<Detection> = Vec::with_capacity(faces.len());
    for face in faces {
        if kept.iter().all(|k| k.bbox.iou(&face.bbox) <= 0.3) {
            kept.push(face);
        }
    }
    kept
}

/// Turns relative corners into a pixel box inside the frame; `None` if nothing is left of it.
fn clip_box(x0: f32, y0: f32, x1: f32, y1: f32, width: i32, height: i32) -> Option<FaceBox> {
    let px = |v: f32, size: i32| (v * size as f32).round() as i32;
    let (left, top) = (px(x0, width), px(y0, height));
    FaceBox::new(left, top, px(x1, width) - left, px(y1, height) - top).within(width, height)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_are_clipped_to_the_frame() {
        assert_eq!(
            clip_box(-0.1, -0.2, 0.5, 0.5, 100, 200),
            Some(FaceBox::new(0, 0, 50, 100))
        );
        assert_eq!(
            clip_box(0.9, 0.9, 1.3, 1.1, 100, 100),
            Some(FaceBox::new(90, 90, 10, 10))
        );
        assert_eq!(clip_box(1.1, 0.0, 1.5, 0.5, 100, 100), None);
        assert_eq!(clip_box(0.5, 0.5, 0.4, 0.6, 100, 100), None);
    }

    #[test]
    fn searches_are_read_as_written_and_odd_widths_refused() {
        for search in [Search::Standard, Search::Far { width: 640 }] {
            assert_eq!(search.to_string().parse::<Search>(), Ok(search));
        }
        for bad in ["far", "far:", "far:abc", "wide:640", "far:100", "far:5000"] {
            assert!(bad.parse::<Search>().is_err(), "{bad}");
        }
        assert!(Search::Far { width: 4000 }.problem().is_some());
        assert_eq!(Search::Far { width: 320 }.problem(), None);
    }

    #[test]
    fn one_face_seen_by_both_passes_is_kept_once_most_confident() {
        let face = |x, confidence| Detection {
            bbox: FaceBox::new(x, 10, 40, 40),
            confidence,
        };
        let kept = suppress_overlaps(vec![face(10, 0.6), face(200, 0.7), face(12, 0.9)]);
        assert_eq!(kept, [face(12, 0.9), face(200, 0.7)]);
    }
}
