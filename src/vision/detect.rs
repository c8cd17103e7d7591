//! Face detection with OpenCV's res10 300x300 SSD (Caffe), through OpenCV's dnn module.

use std::path::Path;

use opencv::core::{Mat, Scalar, Size};
use opencv::dnn;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::geometry::FaceBox;
use crate::vision::gate::GateConfig;

/// The SSD was trained on 300x300 inputs with these BGR channel means subtracted.
const INPUT: i32 = 300;
const MEAN_BGR: (f64, f64, f64) = (104.0, 177.0, 123.0);

/// How sure the detector must be, how small a face it reports, and on which frames of a live
/// source it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    pub confidence: f32,
    pub min_face_px: u32,
    pub live: GateConfig,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            confidence: 0.5,
            min_face_px: 20,
            live: GateConfig::default(),
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
        })
    }

    /// Faces in a BGR frame, most confident first.
    pub fn detect(&mut self, bgr: &Mat) -> Result<Vec<Detection>> {
        let (width, height) = (bgr.cols(), bgr.rows());
        if width == 0 || height == 0 {
            return Ok(Vec::new());
        }
        let (b, g, r) = MEAN_BGR;
        let blob = dnn::blob_from_image(
            bgr,
            1.0,
            Size::new(INPUT, INPUT),
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
        let mut faces: Vec<Detection> = values
            .chunks_exact(7)
            .filter(|d| d[2] >= self.confidence)
            .filter_map(|d| {
                clip_box(d[3], d[4], d[5], d[6], width, height).map(|bbox| Detection {
                    bbox,
                    confidence: d[2],
                })
            })
            .filter(|face| face.bbox.shorter_side() >= self.min_face_px)
            .collect();
        faces.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        Ok(faces)
    }
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
}
