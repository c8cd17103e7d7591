//! One frame's way through the stages: detect, align, embed, match, and on a live source follow
//! faces between frames so that a face in view is embedded only now and then.

use std::time::Instant;

use opencv::core::Mat;
use opencv::prelude::MatTraitConst as _;
use serde::{Deserialize, Serialize};

use crate::base::error::Result;
use crate::base::geometry::FaceBox;
use crate::base::identity::{EmbedderId, EmbedderKind, Embedding};
use crate::base::stats::ms_since;
use crate::models::ModelPaths;
use crate::vision::detect::{Detection, Detector, DetectorConfig, GateConfig};
use crate::vision::embed::{Embedder, FrameImage};
use crate::vision::gate::{Gate, Plan};
use crate::vision::matcher::{Identity, Matcher};
use crate::vision::photo;
use crate::vision::pose::HeadPose;
use crate::vision::track::{Assignment, Tracker, TrackingConfig};

/// What a pipeline is built from, besides its model files.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    pub embedder: EmbedderKind,
    pub detector: DetectorConfig,
    pub tracking: TrackingConfig,
}

/// What an enrolled photo or capture is embedded from.
///
/// A person enrolled from one photo is otherwise known by that one look: the face seen from
/// the other side, or lit from it, is farther from it than from the person's own average. The
/// mean of a face's embedding and its mirror image's sits nearer that average: on the sample
/// clips, people enrolled from one photo are named on more frames and sooner, and strangers
/// are rejected as before (README, "Enrolling from one photo").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum EnrollViews {
    /// The face as it is.
    One,
    /// The mean of the face's embedding and its mirror image's.
    #[default]
    Mirrored,
}

/// Milliseconds spent in each stage on one frame (all faces together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageTimes {
    /// Reading the frame from the source, in the capture thread.
    pub decode: f64,
    pub detect: f64,
    pub align: f64,
    pub embed: f64,
    #[serde(rename = "match")]
    pub matching: f64,
}

impl StageTimes {
    /// Each stage with the name reports use for it.
    pub fn stages(&self) -> [(&'static str, f64); 5] {
        [
            ("decode", self.decode),
            ("detect", self.detect),
            ("align", self.align),
            ("embed", self.embed),
            ("match", self.matching),
        ]
    }
}

/// One recognised face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceResult {
    #[serde(flatten)]
    pub detection: Detection,
    /// The track this face belongs to across frames (live runs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track: Option<u64>,
    /// The person's name, or "unknown".
    pub label: String,
    #[serde(flatten)]
    pub identity: Identity,
    /// Frames since the newest embedding behind the label was taken (live runs only): 0 on
    /// the frame it was embedded; a camera agent's labels are at least a round trip old.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_age_frames: Option<u32>,
}

impl FaceResult {
    pub fn new(detection: Detection, track: Option<u64>, identity: Identity) -> FaceResult {
        FaceResult {
            detection,
            track,
            label: identity.label().to_owned(),
            identity,
            evidence_age_frames: None,
        }
    }

    /// A face of a live run that `tracker` follows as `track`, with the label decided for the
    /// track (unknown before any).
    pub fn tracked(detection: Detection, track: u64, tracker: &Tracker) -> FaceResult {
        let identity = tracker.identity(track).unwrap_or_else(Identity::unknown);
        FaceResult {
            evidence_age_frames: tracker.evidence_age(track),
            ..FaceResult::new(detection, Some(track), identity)
        }
    }
}

/// Embeddings of some faces of a frame, and what aligning and embedding them cost.
#[derive(Debug, Clone, Default)]
pub struct Embedded {
    pub embeddings: Vec<Embedding>,
    pub align_ms: f64,
    pub embed_ms: f64,
}

/// Every face of a frame with its embedding, in the same order.
#[derive(Debug, Clone)]
pub struct FrameFaces {
    pub faces: Vec<Detection>,
    pub embeddings: Vec<Embedding>,
    pub times: StageTimes,
}

/// The faces of a still photo and the image they were found in (the photo, or the photo with
/// a margin around it).
pub struct PhotoFaces {
    pub image: Mat,
    pub faces: Vec<Detection>,
    /// The margin added on the left and at the top (0 when none was): subtract it from a
    /// face's box to place it on the photo.
    pub margin: (i32, i32),
}

impl PhotoFaces {
    /// A face found in `image`, placed on the photo as given.
    pub fn on_photo(&self, face: &Detection) -> Detection {
        let (dx, dy) = self.margin;
        Detection {
            bbox: FaceBox::new(
                face.bbox.x - dx,
                face.bbox.y - dy,
                face.bbox.width,
                face.bbox.height,
            ),
            confidence: face.confidence,
        }
    }
}

/// A frame's recognised faces.
#[derive(Debug, Clone)]
pub struct Recognized {
    pub faces: Vec<FaceResult>,
    pub times: StageTimes,
    /// How many faces were embedded; the others kept their track's label.
    pub embedded: usize,
    /// Where the detector looked.
    pub searched: Searched,
    /// The frame is a cut (live runs only): faces seen before it are gone.
    pub cut: bool,
}

/// Where the detector looked in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Searched {
    /// Nowhere: nothing tracked, and the picture had not changed.
    Skipped,
    /// Only where the faces found last were (they were followed).
    Followed,
    Whole,
}

impl Searched {
    pub fn as_str(self) -> &'static str {
        match self {
            Searched::Skipped => "skipped",
            Searched::Followed => "followed",
            Searched::Whole => "whole",
        }
    }
}

/// Detector and embedder, loaded once and used frame after frame. Faces are matched against
/// a matcher the caller gives (a roster's snapshot), so that one roster serves every pipeline.
pub struct Pipeline {
    detector: Detector,
    embedder: Embedder,
    tracking: TrackingConfig,
    gate: GateConfig,
}

impl Pipeline {
    /// Builds a pipeline from model files already checked (or, in tests, made on purpose).
    pub fn load(config: &PipelineConfig, paths: &ModelPaths) -> Result<Pipeline> {
        Ok(Pipeline {
            detector: Detector::load(&paths.ssd_prototxt, &paths.ssd_weights, &config.detector)?,
            embedder: Embedder::load(config.embedder, paths)?,
            tracking: config.tracking.clone(),
            gate: config.detector.live.clone(),
        })
    }

    pub fn embedder_id(&self) -> EmbedderId {
        self.embedder.id()
    }

    /// The aligner and embedder, for callers that look inside a stage.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// A tracker configured for this pipeline, for a live source.
    pub fn tracker(&self) -> Tracker {
        Tracker::new(self.tracking.clone())
    }

    /// A gate configured for this pipeline, for a live source.
    pub fn gate(&self) -> Gate {
        Gate::new(self.gate.clone())
    }

    /// Faces of a BGR image, most confident first.
    pub fn detect(&mut self, bgr: &Mat) -> Result<Vec<Detection>> {
        self.detector.detect(bgr)
    }

    /// The faces of a still photo. A tight face crop (LFW style) is looked at again with a
    /// margin around it, which the SSD needs to see the face.
    pub fn detect_photo(&mut self, image: Mat) -> Result<PhotoFaces> {
        let faces = self.detect(&image)?;
        if !photo::is_tight_crop(&image, &faces) {
            return Ok(PhotoFaces {
                image,
                faces,
                margin: (0, 0),
            });
        }
        let padded = photo::pad_for_detection(&image)?;
        let faces = self.detect(&padded)?;
        Ok(PhotoFaces {
            margin: (
                (padded.cols() - image.cols()) / 2,
                (padded.rows() - image.rows()) / 2,
            ),
            image: padded,
            faces,
        })
    }

    /// Aligns and embeds the given faces of a BGR image.
    pub fn embed(&mut self, bgr: &Mat, faces: &[Detection]) -> Result<Embedded> {
        if faces.is_empty() {
            return Ok(Embedded::default());
        }
        let mut frame = FrameImage::new(bgr);
        let start = Instant::now();
        let aligned = self.embedder.align(&mut frame, faces)?;
        let align_ms = ms_since(start);
        let start = Instant::now();
        let embeddings = self.embedder.embed(&mut frame, &aligned)?;
        Ok(Embedded {
            embeddings,
            align_ms,
            embed_ms: ms_since(start),
        })
    }

    /// The embedding of one face of a BGR image.
    pub fn embed_one(&mut self, bgr: &Mat, face: &Detection) -> Result<Option<Embedding>> {
        Ok(self
            .embed(bgr, std::slice::from_ref(face))?
            .embeddings
            .pop())
    }

    /// The embedding a face of a BGR image is enrolled with: of the face alone, or with
    /// `EnrollViews::Mirrored` the mean of the face's embedding and its mirror image's (one
    /// vector either way, so a gallery stores one per photo whatever the setting).
    pub fn embed_enrolled(
        &mut self,
        bgr: &Mat,
        face: &Detection,
        views: EnrollViews,
    ) -> Result<Option<Embedding>> {
        match self.embed_one(bgr, face)? {
            Some(seen) => self.enrolled_from(bgr, face, seen, views).map(Some),
            None => Ok(None),
        }
    }

    /// The embedding a face is enrolled with, given its own embedding `seen` (for a caller
    /// that needs both).
    pub fn enrolled_from(
        &mut self,
        bgr: &Mat,
        face: &Detection,
        seen: Embedding,
        views: EnrollViews,
    ) -> Result<Embedding> {
        match views {
            EnrollViews::One => Ok(seen),
            EnrollViews::Mirrored => {
                let mut mirrored = Mat::default();
                opencv::core::flip(bgr, &mut mirrored, 1)?;
                let b = face.bbox;
                let across = Detection {
                    bbox: FaceBox::new(mirrored.cols() - b.x - b.width, b.y, b.width, b.height),
                    confidence: face.confidence,
                };
                let other = self.embed_one(&mirrored, &across)?;
                // Without the mirror image's (the embedder gave none), the face's own.
                Ok(other
                    .and_then(|other| Embedding::mean([&seen, &other]))
                    .unwrap_or(seen))
            }
        }
    }

    /// The head pose of one face of a BGR image, from the embedder's landmarks; `None` when
    /// the landmarks do not place two eyes apart.
    pub fn head_pose(&self, bgr: &Mat, face: &Detection) -> Result<Option<HeadPose>> {
        let mut frame = FrameImage::new(bgr);
        let landmarks = self
            .embedder
            .landmarks(&mut frame, std::slice::from_ref(face))?;
        Ok(landmarks.first().and_then(|points| {
            let points: Vec<(f32, f32)> =
                points.iter().map(|&(x, y)| (x as f32, y as f32)).collect();
            HeadPose::from_landmarks(&points)
        }))
    }

    /// Recognises every face of a still photo against `matcher`; boxes are on the photo as
    /// given.
    pub fn recognize_photo(&mut self, image: Mat, matcher: &Matcher) -> Result<Vec<FaceResult>> {
        let found = self.detect_photo(image)?;
        let embedded = self.embed(&found.image, &found.faces)?;
        Ok(found
            .faces
            .iter()
            .zip(&embedded.embeddings)
            .map(|(face, embedding)| {
                FaceResult::new(found.on_photo(face), None, matcher.identify(embedding))
            })
            .collect())
    }

    /// Detects and embeds every face of a BGR image.
    pub fn embed_faces(&mut self, bgr: &Mat) -> Result<FrameFaces> {
        let start = Instant::now();
        let faces = self.detect(bgr)?;
        let detect = ms_since(start);
        let embedded = self.embed(bgr, &faces)?;
        Ok(FrameFaces {
            faces,
            embeddings: embedded.embeddings,
            times: StageTimes {
                detect,
                align: embedded.align_ms,
                embed: embedded.embed_ms,
                ..StageTimes::default()
            },
        })
    }

    /// Recognises every face of a BGR frame against `matcher`.
    pub fn process(&mut self, bgr: &Mat, matcher: &Matcher) -> Result<Recognized> {
        let FrameFaces {
            faces,
            embeddings,
            mut times,
        } = self.embed_faces(bgr)?;
        let start = Instant::now();
        let faces: Vec<FaceResult> = faces
            .into_iter()
            .zip(&embeddings)
            .map(|(detection, embedding)| {
                FaceResult::new(detection, None, matcher.identify(embedding))
            })
            .collect();
        times.matching = ms_since(start);
        Ok(Recognized {
            embedded: faces.len(),
            faces,
            times,
            searched: Searched::Whole,
            cut: false,
        })
    }

    /// Recognises every face of a frame of a live run, at source time `at_ms`, against
    /// `matcher`: `gate` says where to detect (nowhere, where the faces were, or the whole
    /// frame); faces that `tracker` follows keep their label and are embedded again only when
    /// the tracker asks.
    pub fn process_tracked(
        &mut self,
        bgr: &Mat,
        at_ms: f64,
        tracker: &mut Tracker,
        gate: &mut Gate,
        matcher: &Matcher,
    ) -> Result<Recognized> {
        let Located {
            faces,
            assignments,
            searched,
            cut,
            detect_ms: detect,
        } = locate(&mut self.detector, bgr, at_ms, tracker, gate)?;
        let to_embed: Vec<Detection> = faces
            .iter()
            .zip(&assignments)
            .filter(|(_, a)| a.embed)
            .map(|(face, _)| *face)
            .collect();
        let embedded = self.embed(bgr, &to_embed)?;
        let start = Instant::now();
        let fresh = assignments
            .iter()
            .filter(|a| a.embed)
            .zip(&to_embed)
            .zip(&embedded.embeddings);
        for ((assignment, face), embedding) in fresh {
            tracker.embedded(assignment.track, &face.bbox);
            let judged = tracker.judge(assignment.track, embedding, matcher);
            tracker.record(assignment.track, judged);
        }
        let results = faces
            .into_iter()
            .zip(&assignments)
            // Unknown only if the embedder gave fewer vectors than faces.
            .map(|(face, a)| FaceResult::tracked(face, a.track, tracker))
            .collect();
        Ok(Recognized {
            faces: results,
            times: StageTimes {
                decode: 0.0,
                detect,
                align: embedded.align_ms,
                embed: embedded.embed_ms,
                matching: ms_since(start),
            },
            embedded: embedded.embeddings.len(),
            searched,
            cut,
        })
    }
}

/// Where the faces of a live frame are, and which of them want an embedding.
pub struct Located {
    pub faces: Vec<Detection>,
    /// Per face, its track and whether to embed it.
    pub assignments: Vec<Assignment>,
    pub searched: Searched,
    /// The frame is a cut: every face in it starts a new track.
    pub cut: bool,
    /// Deciding where to look, looking, and following.
    pub detect_ms: f64,
}

/// Finds the faces of a frame of a live run at source time `at_ms`, where `gate` says to look,
/// and assigns them to `tracker`'s tracks. A camera agent does this much without an embedder.
pub fn locate(
    detector: &mut Detector,
    bgr: &Mat,
    at_ms: f64,
    tracker: &mut Tracker,
    gate: &mut Gate,
) -> Result<Located> {
    let start = Instant::now();
    let plan = gate.plan(bgr, at_ms, &tracker.boxes())?;
    let cut = gate.cut();
    if cut {
        tracker.restart();
    }
    let followed = match plan {
        Plan::Follow => gate.follow(bgr)?,
        Plan::Skip | Plan::Whole => None,
    };
    let (faces, searched) = match (plan, followed) {
        (Plan::Skip, _) => (Vec::new(), Searched::Skipped),
        (Plan::Follow, Some(faces)) => (faces, Searched::Followed),
        // A whole search, planned or because a followed face was lost.
        _ => {
            let faces = detector.detect(bgr)?;
            gate.found(bgr, at_ms, &faces)?;
            (faces, Searched::Whole)
        }
    };
    let detect_ms = ms_since(start);
    let mut assignments = tracker.update(&faces);
    // A followed face that no longer looks as it did turned, or is somebody else who stepped
    // into its place: its label is checked at once rather than at its next turn.
    if plan == Plan::Follow && searched == Searched::Whole {
        for assignment in &mut assignments {
            assignment.embed = true;
        }
    }
    Ok(Located {
        faces,
        assignments,
        searched,
        cut,
        detect_ms,
    })
}

/// Detection and tracking without an embedder: what a camera agent runs next to its camera,
/// leaving embedding and matching to the workers.
pub struct Locator {
    detector: Detector,
    pub tracker: Tracker,
    gate: Gate,
}

impl Locator {
    pub fn load(config: &PipelineConfig, paths: &ModelPaths) -> Result<Locator> {
        Ok(Locator {
            detector: Detector::load(&paths.ssd_prototxt, &paths.ssd_weights, &config.detector)?,
            tracker: Tracker::new(config.tracking.clone()),
            gate: Gate::new(config.detector.live.clone()),
        })
    }

    /// The faces of a live frame at source time `at_ms`, and which want an embedding.
    pub fn locate(&mut self, bgr: &Mat, at_ms: f64) -> Result<Located> {
        locate(
            &mut self.detector,
            bgr,
            at_ms,
            &mut self.tracker,
            &mut self.gate,
        )
    }
}
