//! The recognition pipeline: detect, align, embed, match. `Pipeline` does it for one frame;
//! `spawn_worker` runs it in the detector/encoder thread, fed by the capture thread.

use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use opencv::core::Mat;
use serde::Serialize;

use crate::capture::Frame;
use crate::config::Config;
use crate::detect::{Detection, Detector};
use crate::embed::{Embedder, Embedding, FrameImage};
use crate::error::{Error, Result};
use crate::fetch::Progress;
use crate::gallery::Gallery;
use crate::matcher::{Identity, Matcher};
use crate::models::{self, ModelPaths};

/// Milliseconds spent in each stage on one frame (all faces together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct StageTimes {
    pub detect: f64,
    pub align: f64,
    pub embed: f64,
    #[serde(rename = "match")]
    pub matching: f64,
}

/// One recognised face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceResult {
    #[serde(flatten)]
    pub detection: Detection,
    /// The person's name, or "unknown".
    pub label: String,
    #[serde(flatten)]
    pub identity: Identity,
}

/// The result of one frame.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrameResult {
    /// The source's own frame number.
    pub frame: u64,
    pub timestamp_ms: f64,
    pub faces: Vec<FaceResult>,
    pub timings_ms: StageTimes,
    /// From the capture thread reading the frame to this result.
    pub latency_ms: f64,
}

/// Detector, embedder and matcher, loaded once and used frame after frame.
pub struct Pipeline {
    detector: Detector,
    embedder: Embedder,
    matcher: Matcher,
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

impl Pipeline {
    /// Loads the models `config` needs (fetching missing ones) and the gallery's faces for the
    /// configured embedder.
    pub fn load(config: &Config, progress: &dyn Progress) -> Result<Pipeline> {
        if config.opencv_threads > 0 {
            opencv::core::set_num_threads(config.opencv_threads)?;
        }
        let paths = models::ensure_for(config.embedder, &config.model_dir()?, progress)?;
        Self::with_models(config, &paths)
    }

    /// Builds a pipeline from model files already checked (or, in tests, made on purpose).
    pub fn with_models(config: &Config, paths: &ModelPaths) -> Result<Pipeline> {
        let detector = Detector::load(&paths.ssd_prototxt, &paths.ssd_weights, &config.detector)?;
        let embedder = Embedder::load(config.embedder, paths)?;
        let mut pipeline = Pipeline {
            detector,
            embedder,
            matcher: Matcher::new(config.threshold, []),
        };
        pipeline.use_gallery(&Gallery::open(&config.data_dir()?)?, config.threshold);
        Ok(pipeline)
    }

    /// Matches against `gallery`'s faces from this pipeline's embedder from now on.
    pub fn use_gallery(&mut self, gallery: &Gallery, threshold: f32) {
        let id = self.embedder.id();
        let other = gallery.faces_without(id);
        if other > 0 {
            tracing::warn!(
                faces = other,
                embedder = id,
                "some enrolled faces were made by another embedder and are not used; enroll those people again"
            );
        }
        self.matcher = Matcher::new(threshold, gallery.embeddings(id));
        tracing::info!(faces = self.matcher.len(), embedder = id, "gallery loaded");
    }

    pub fn embedder_id(&self) -> &'static str {
        self.embedder.id()
    }

    /// The aligner and embedder, for callers that look inside a stage.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Detects and embeds every face of a BGR image.
    pub fn embed_faces(
        &mut self,
        bgr: &Mat,
    ) -> Result<(Vec<Detection>, Vec<Embedding>, StageTimes)> {
        let mut times = StageTimes::default();
        let start = Instant::now();
        let faces = self.detector.detect(bgr)?;
        times.detect = ms_since(start);
        if faces.is_empty() {
            return Ok((faces, Vec::new(), times));
        }
        let mut frame = FrameImage::new(bgr);
        let start = Instant::now();
        let aligned = self.embedder.align(&mut frame, &faces)?;
        times.align = ms_since(start);
        let start = Instant::now();
        let embeddings = self.embedder.embed(&mut frame, &aligned)?;
        times.embed = ms_since(start);
        Ok((faces, embeddings, times))
    }

    /// Recognises every face of a BGR frame.
    pub fn process(&mut self, bgr: &Mat) -> Result<(Vec<FaceResult>, StageTimes)> {
        let (faces, embeddings, mut times) = self.embed_faces(bgr)?;
        let start = Instant::now();
        let results = faces
            .into_iter()
            .zip(&embeddings)
            .map(|(detection, embedding)| {
                let identity = self.matcher.identify(embedding);
                FaceResult {
                    detection,
                    label: identity.label().to_owned(),
                    identity,
                }
            })
            .collect();
        times.matching = ms_since(start);
        Ok((results, times))
    }

    /// Runs the pipeline in the detector/encoder thread until the frames stop coming or the
    /// receiver of results goes away.
    pub fn spawn_worker(
        mut self,
        frames: Receiver<Frame>,
        results: Sender<FrameResult>,
    ) -> Result<JoinHandle<Result<()>>> {
        std::thread::Builder::new()
            .name("detect-embed".into())
            .spawn(move || {
                for frame in frames {
                    let (faces, timings_ms) = self.process(&frame.image)?;
                    let result = FrameResult {
                        frame: frame.index,
                        timestamp_ms: frame.timestamp_ms,
                        faces,
                        timings_ms,
                        latency_ms: ms_since(frame.captured_at),
                    };
                    if results.send(result).is_err() {
                        break;
                    }
                }
                Ok(())
            })
            .map_err(|e| Error::io("detect-embed thread", e))
    }
}
