//! The recognition pipeline: detect, align, embed, match. `Pipeline` does it for one frame;
//! `spawn_worker` runs it in the detector/encoder thread, fed by the capture thread.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
use crate::track::{Tracker, TrackingConfig};

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

/// One recognised face.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceResult {
    #[serde(flatten)]
    pub detection: Detection,
    /// The track this face belongs to across frames (live runs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<u64>,
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
    /// How many of the faces were embedded on this frame; the others kept their track's label.
    pub embedded: usize,
    /// From the capture thread reading the frame to this result.
    pub latency_ms: f64,
    /// When the capture thread read the frame, so a display can measure its own latency.
    #[serde(skip)]
    pub captured_at: Instant,
}

/// Work for the detector/encoder thread between two frames, on its pipeline and its newest
/// frame: enrollment captures, a new threshold, re-embedding. The job sends its own answer.
pub type Job = Box<dyn FnOnce(&mut WorkerState<'_>) + Send>;

/// What a [`Job`] may use and change.
pub struct WorkerState<'a> {
    pub pipeline: &'a mut Pipeline,
    /// The newest frame the worker processed (BGR), if any yet.
    pub frame: Option<&'a Mat>,
    /// The worker's own gallery connection.
    pub gallery: &'a mut Gallery,
    gallery_changed: bool,
    identities_stale: bool,
}

impl WorkerState<'_> {
    /// The job changed the gallery: reload it and label tracked faces afresh.
    pub fn gallery_changed(&mut self) {
        self.gallery_changed = true;
    }

    /// Labels already decided (e.g. under another threshold) must be decided again.
    pub fn identities_stale(&mut self) {
        self.identities_stale = true;
    }
}

/// Detector, embedder and matcher, loaded once and used frame after frame.
pub struct Pipeline {
    detector: Detector,
    embedder: Embedder,
    matcher: Matcher,
    threshold: f32,
    /// Where the gallery lives; the worker watches it for changes.
    gallery_dir: PathBuf,
    tracking: TrackingConfig,
}

/// How often the worker asks whether the gallery changed: a new enrollment shows up in a
/// running app well within a second.
const GALLERY_POLL: Duration = Duration::from_millis(250);
/// How often the worker records who was seen (`people list` shows it).
const SEEN_FLUSH: Duration = Duration::from_secs(30);

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
            threshold: config.threshold,
            gallery_dir: config.data_dir()?,
            tracking: config.tracking.clone(),
        };
        pipeline.reload_gallery(&Gallery::open(&pipeline.gallery_dir)?)?;
        Ok(pipeline)
    }

    /// Matches against `gallery`'s faces from this pipeline's embedder from now on.
    pub fn reload_gallery(&mut self, gallery: &Gallery) -> Result<()> {
        let id = self.embedder.id();
        let lacking = gallery.count_without(id)?;
        if lacking > 0 {
            tracing::warn!(
                "{lacking} enrolled face(s) have no embedding from {id} and are not matched; run `whoisit gallery reembed`"
            );
        }
        self.matcher = Matcher::new(self.threshold, gallery.embeddings(id)?);
        tracing::info!(
            people = self.matcher.people(),
            faces = self.matcher.len(),
            embedder = id,
            "gallery loaded"
        );
        Ok(())
    }

    /// Matches with a new threshold from now on.
    pub fn set_threshold(&mut self, threshold: f32) {
        self.threshold = threshold;
        self.matcher.set_threshold(threshold);
    }

    pub fn embedder_id(&self) -> &'static str {
        self.embedder.id()
    }

    /// The aligner and embedder, for callers that look inside a stage.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Faces of a BGR image, most confident first, and the milliseconds it took.
    pub fn detect(&mut self, bgr: &Mat) -> Result<(Vec<Detection>, f64)> {
        let start = Instant::now();
        let faces = self.detector.detect(bgr)?;
        Ok((faces, ms_since(start)))
    }

    /// Aligns and embeds the given faces of a BGR image; also returns align and embed times.
    pub fn embed(&mut self, bgr: &Mat, faces: &[Detection]) -> Result<(Vec<Embedding>, f64, f64)> {
        if faces.is_empty() {
            return Ok((Vec::new(), 0.0, 0.0));
        }
        let mut frame = FrameImage::new(bgr);
        let start = Instant::now();
        let aligned = self.embedder.align(&mut frame, faces)?;
        let align_ms = ms_since(start);
        let start = Instant::now();
        let embeddings = self.embedder.embed(&mut frame, &aligned)?;
        Ok((embeddings, align_ms, ms_since(start)))
    }

    /// Detects and embeds every face of a BGR image.
    pub fn embed_faces(
        &mut self,
        bgr: &Mat,
    ) -> Result<(Vec<Detection>, Vec<Embedding>, StageTimes)> {
        let (faces, detect) = self.detect(bgr)?;
        let (embeddings, align, embed) = self.embed(bgr, &faces)?;
        Ok((
            faces,
            embeddings,
            StageTimes {
                decode: 0.0,
                detect,
                align,
                embed,
                matching: 0.0,
            },
        ))
    }

    /// Recognises every face of a BGR frame.
    pub fn process(&mut self, bgr: &Mat) -> Result<(Vec<FaceResult>, StageTimes)> {
        let (faces, embeddings, mut times) = self.embed_faces(bgr)?;
        let start = Instant::now();
        let results = faces
            .into_iter()
            .zip(&embeddings)
            .map(|(detection, embedding)| {
                face_result(detection, None, self.matcher.identify(embedding))
            })
            .collect();
        times.matching = ms_since(start);
        Ok((results, times))
    }

    /// Recognises every face of a frame of a live run: faces that `tracker` follows keep their
    /// label and are embedded again only when the tracker asks. Returns the faces, the stage
    /// times and how many faces were embedded.
    pub fn process_tracked(
        &mut self,
        bgr: &Mat,
        tracker: &mut Tracker,
    ) -> Result<(Vec<FaceResult>, StageTimes, usize)> {
        let (faces, detect) = self.detect(bgr)?;
        let assignments = tracker.update(&faces);
        let to_embed: Vec<Detection> = faces
            .iter()
            .zip(&assignments)
            .filter(|(_, a)| a.embed)
            .map(|(face, _)| *face)
            .collect();
        let (embeddings, align, embed) = self.embed(bgr, &to_embed)?;
        let start = Instant::now();
        let fresh = assignments
            .iter()
            .filter(|a| a.embed)
            .zip(&to_embed)
            .zip(&embeddings);
        for ((assignment, face), embedding) in fresh {
            tracker.record(
                assignment.track,
                &face.rect,
                self.matcher.identify(embedding),
            );
        }
        let results = faces
            .into_iter()
            .zip(&assignments)
            .map(|(face, a)| {
                // Only if the embedder gave fewer vectors than faces: show the face, as unknown.
                let identity = tracker.identity(a.track).unwrap_or_else(Identity::unknown);
                face_result(face, Some(a.track), identity)
            })
            .collect();
        let times = StageTimes {
            decode: 0.0,
            detect,
            align,
            embed,
            matching: ms_since(start),
        };
        Ok((results, times, embeddings.len()))
    }

    /// Runs the pipeline in the detector/encoder thread until the frames stop coming or the
    /// receiver of results goes away, running `jobs` between frames and calling `notify` after
    /// each result sent. It picks up gallery changes made by other processes.
    pub fn spawn_worker(
        mut self,
        frames: Receiver<Frame>,
        jobs: Receiver<Job>,
        results: Sender<FrameResult>,
        notify: impl Fn() + Send + 'static,
    ) -> Result<JoinHandle<Result<()>>> {
        let mut watch = GalleryWatch::open(&self.gallery_dir)?;
        std::thread::Builder::new()
            .name("detect-embed".into())
            .spawn(move || {
                let mut tracker = Tracker::new(self.tracking.clone());
                let mut jobs = jobs;
                let mut newest: Option<Mat> = None;
                loop {
                    crossbeam_channel::select! {
                        recv(frames) -> frame => {
                            let Ok(frame) = frame else { break };
                            if watch.refresh(&mut self)? {
                                tracker.invalidate();
                            }
                            let (faces, mut timings_ms, embedded) =
                                self.process_tracked(&frame.image, &mut tracker)?;
                            timings_ms.decode = frame.decode_ms;
                            watch.saw(&faces);
                            let result = FrameResult {
                                frame: frame.index,
                                timestamp_ms: frame.timestamp_ms,
                                faces,
                                timings_ms,
                                embedded,
                                latency_ms: ms_since(frame.captured_at),
                                captured_at: frame.captured_at,
                            };
                            newest = Some(frame.image);
                            if results.send(result).is_err() {
                                break;
                            }
                            notify();
                        }
                        recv(jobs) -> job => match job {
                            Ok(job) => {
                                let mut state = WorkerState {
                                    pipeline: &mut self,
                                    frame: newest.as_ref(),
                                    gallery: &mut watch.gallery,
                                    gallery_changed: false,
                                    identities_stale: false,
                                };
                                job(&mut state);
                                let (changed, stale) = (state.gallery_changed, state.identities_stale);
                                if changed {
                                    self.reload_gallery(&watch.gallery)?;
                                }
                                if changed || stale {
                                    tracker.invalidate();
                                }
                            }
                            // Nobody sends jobs any more; only frames matter now.
                            Err(_) => jobs = crossbeam_channel::never(),
                        },
                    }
                }
                watch.flush_seen()
            })
            .map_err(|e| Error::io("detect-embed thread", e))
    }
}

/// The worker's own connection to the gallery: notices commits by others, records who was seen.
struct GalleryWatch {
    gallery: Gallery,
    version: i64,
    checked: Instant,
    seen: BTreeSet<String>,
    flushed: Instant,
}

impl GalleryWatch {
    fn open(dir: &std::path::Path) -> Result<GalleryWatch> {
        let gallery = Gallery::open(dir)?;
        Ok(GalleryWatch {
            version: gallery.data_version()?,
            gallery,
            checked: Instant::now(),
            seen: BTreeSet::new(),
            flushed: Instant::now(),
        })
    }

    /// Reloads the pipeline's gallery if another process changed it; says whether it did.
    fn refresh(&mut self, pipeline: &mut Pipeline) -> Result<bool> {
        if self.checked.elapsed() < GALLERY_POLL {
            return Ok(false);
        }
        self.checked = Instant::now();
        if self.flushed.elapsed() >= SEEN_FLUSH {
            self.flush_seen()?;
        }
        let version = self.gallery.data_version()?;
        if version == self.version {
            return Ok(false);
        }
        self.version = version;
        tracing::info!("the gallery changed; reloading it");
        pipeline.reload_gallery(&self.gallery)?;
        Ok(true)
    }

    fn saw(&mut self, faces: &[FaceResult]) {
        self.seen
            .extend(faces.iter().filter_map(|f| f.identity.name.clone()));
    }

    fn flush_seen(&mut self) -> Result<()> {
        self.flushed = Instant::now();
        if self.seen.is_empty() {
            return Ok(());
        }
        let names: Vec<String> = std::mem::take(&mut self.seen).into_iter().collect();
        self.gallery.mark_seen(&names)
    }
}

fn face_result(detection: Detection, track: Option<u64>, identity: Identity) -> FaceResult {
    FaceResult {
        detection,
        track,
        label: identity.label().to_owned(),
        identity,
    }
}
