//! The detector/encoder thread: takes frames from the capture thread, recognises them with the
//! pipeline against the roster's newest snapshot and sends the results on; between frames it
//! carries out typed [`Command`]s. It decides what each command means for the tracked faces
//! and the roster, so no caller has to remember it.
//!
//! Only a failing frame stops it. A gallery that cannot be read for a moment (the roster's
//! reload after a change) is reported and tried again; recognition goes on with what it has.
//! Who was seen is handed to the sightings writer's thread ([`crate::runtime::sightings`]),
//! never stored here.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};
use opencv::core::Mat;
use opencv::prelude::*;
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::image::RgbaImage;
use crate::base::stats::ms_since;
use crate::enroll::quality::Rejection;
use crate::enroll::{self, Enrollment, Expect, PersonReport, ReembedReport, Taken};
use crate::gallery::{Actor, Gallery, NewFace};
use crate::roster::Roster;
use crate::runtime::capture::Frame;
use crate::runtime::sightings::Follower;
use crate::vision::detect::Detection;
use crate::vision::gate::Gate;
use crate::vision::pipeline::Searched;
use crate::vision::pipeline::{EnrollViews, FaceResult, Pipeline, StageTimes};
use crate::vision::pose::{HeadPose, Pose};
use crate::vision::track::Tracker;

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
    /// Where the detector looked: skipped (nothing tracked, nothing changed), followed (only
    /// where the faces were) or whole.
    pub searched: Searched,
    /// The frame is a cut (most of the picture changed at once): faces shown before it are gone.
    pub cut: bool,
    /// From the capture thread reading the frame to this result.
    pub latency_ms: f64,
    /// When the capture thread read the frame, so a display can measure its own latency.
    #[serde(skip)]
    pub captured_at: Instant,
    /// The frame as a window draws it, when a window shows the source: the faces are drawn
    /// over this frame and no other.
    #[serde(skip)]
    pub picture: Option<Arc<RgbaImage>>,
}

/// An enrollment capture as the worker judged it, with a thumbnail to show: the face if one
/// was accepted, the whole frame otherwise (so the user sees what went wrong).
pub struct Captured {
    pub verdict: std::result::Result<NewFace, Rejection>,
    pub thumbnail: RgbaImage,
}

/// The faces of the newest frame as an enrollment hint sees them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Looked {
    /// Faces found in the newest frame.
    pub faces: usize,
    /// The head pose of the face, when there is exactly one and its landmarks place it.
    pub pose: Option<HeadPose>,
}

impl Looked {
    /// What the live hint tells a person asked for the pose `asked`, and whether they show
    /// it: the window's panel and the console's camera say the same.
    pub fn hint(self, asked: Pose) -> (bool, String) {
        match self {
            Looked { faces: 0, .. } => (false, "No face in view".into()),
            Looked { faces: 2.., .. } => {
                (false, "Several faces in view: one person at a time".into())
            }
            Looked { pose: None, .. } => (false, "Face the camera".into()),
            Looked {
                pose: Some(pose), ..
            } => {
                let hint = pose.hint(asked);
                (hint.reached, hint.text)
            }
        }
    }
}

/// What the worker can be asked to do between frames. Each answer goes to its `reply`.
pub enum Command {
    /// Match with this threshold from now on; faces in view are labelled afresh.
    SetThreshold(f32),
    /// Judge the newest frame as an enrollment capture of `name` in the pose `asked`; it must
    /// not repeat `taken` (this session's captures) or the person's faces in the gallery.
    Capture {
        enrollment: Enrollment,
        name: String,
        asked: Option<Pose>,
        taken: Vec<Taken>,
        /// The thumbnail's longer side, in pixels.
        thumbnail_px: i32,
        reply: Sender<Result<Captured>>,
    },
    /// The head pose in the newest frame, for the enrollment panel's live hint.
    Look { reply: Sender<Result<Looked>> },
    /// Save accepted captures as `name`, who is recognised from the next frame on.
    SavePerson {
        enrollment: Enrollment,
        name: String,
        faces: Vec<NewFace>,
        reply: Sender<Result<PersonReport>>,
    },
    /// Embed the stored crops that lack an embedding from this pipeline's embedder; `progress`
    /// hears (done, total) as it goes; each from `views`, as enrollment embeds.
    Reembed {
        views: EnrollViews,
        progress: Box<dyn Fn(usize, usize) + Send>,
        reply: Sender<Result<ReembedReport>>,
    },
    /// Stop after the current frame.
    Shutdown,
}

/// A worker ready to run: models loaded, roster read.
pub struct Worker {
    pipeline: Pipeline,
    roster: Arc<Roster>,
    /// The roster's snapshot the tracked faces were labelled with: a newer one labels them
    /// afresh.
    generation: u64,
    /// Who enrollments through this worker are made by, for the audit trail.
    actor: Actor,
    tracker: Tracker,
    gate: Gate,
    /// The newest frame processed (BGR) and the faces found in it, for enrollment captures.
    newest: Option<Mat>,
    newest_faces: Vec<Detection>,
    /// Turns the tracker's decisions into sightings, when they are recorded.
    sightings: Option<Follower>,
}

/// A running worker thread.
pub struct Running {
    pub thread: JoinHandle<Result<()>>,
    pub commands: Sender<Command>,
}

impl Running {
    /// Runs `body` in a thread called `name`, with the receiving end of a new command channel.
    pub(crate) fn start(
        name: &'static str,
        body: impl FnOnce(Receiver<Command>) -> Result<()> + Send + 'static,
    ) -> Result<Running> {
        let (commands, command_rx) = crossbeam_channel::unbounded();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || body(command_rx))
            .map_err(|source| Error::Spawn {
                thread: name,
                source,
            })?;
        Ok(Running { thread, commands })
    }
}

/// What turns frames into results on its own thread: the detector/encoder [`Worker`] here, or
/// a camera agent whose faces are embedded by workers elsewhere.
pub trait Recognizer: Send + 'static {
    /// What recognises the faces, for a status bar: the embedder, or the camera agent.
    fn about(&self) -> String;

    /// Enrolled faces it cannot match (none that it knows of, for a camera agent).
    fn lacking(&self) -> usize;

    /// Runs until the frames stop coming, the receiver of results goes away or it is told to
    /// shut down, calling `notify` after each result or answer sent.
    fn spawn(
        self,
        frames: Receiver<Frame>,
        results: Sender<FrameResult>,
        notify: Box<dyn Fn() + Send>,
    ) -> Result<Running>;
}

impl Recognizer for Worker {
    fn about(&self) -> String {
        format!("embedder {}", self.pipeline.embedder_id())
    }

    fn lacking(&self) -> usize {
        Worker::lacking(self)
    }

    fn spawn(
        self,
        frames: Receiver<Frame>,
        results: Sender<FrameResult>,
        notify: Box<dyn Fn() + Send>,
    ) -> Result<Running> {
        Worker::spawn(self, frames, results, notify)
    }
}

impl Worker {
    /// Recognises with `pipeline` against `roster` (of the pipeline's embedder); enrollments
    /// through it are made by `actor`.
    pub fn new(pipeline: Pipeline, roster: Arc<Roster>, actor: Actor) -> Result<Worker> {
        if *roster.embedder() != pipeline.embedder_id() {
            return Err(Error::Internal(
                "a worker's roster holds another embedder's embeddings than its pipeline makes",
            ));
        }
        Ok(Worker {
            tracker: pipeline.tracker(),
            gate: pipeline.gate(),
            pipeline,
            generation: roster.snapshot().generation(),
            roster,
            actor,
            newest: None,
            newest_faces: Vec::new(),
            sightings: None,
        })
    }

    /// Records the sightings of the faces it tracks with `follower`, from the next frame on.
    pub fn record_sightings(&mut self, follower: Follower) {
        self.sightings = Some(follower);
    }

    /// Enrolled faces the pipeline cannot match, for want of an embedding from its embedder.
    pub fn lacking(&self) -> usize {
        self.roster.snapshot().lacking()
    }

    /// The gallery the worker recognises from, for whoever changes it in the same process.
    pub fn gallery(&self) -> &Arc<dyn Gallery> {
        self.roster.gallery()
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    /// Runs the worker in its own thread until the frames stop coming, the receiver of results
    /// goes away or it is told to shut down, calling `notify` after each result or answer sent.
    pub fn spawn(
        self,
        frames: Receiver<Frame>,
        results: Sender<FrameResult>,
        notify: impl Fn() + Send + 'static,
    ) -> Result<Running> {
        Running::start("detect-embed", move |commands| {
            self.run(&frames, commands, &results, &notify)
        })
    }

    fn run(
        mut self,
        frames: &Receiver<Frame>,
        mut commands: Receiver<Command>,
        results: &Sender<FrameResult>,
        notify: &dyn Fn(),
    ) -> Result<()> {
        loop {
            crossbeam_channel::select! {
                recv(frames) -> frame => {
                    let Ok(frame) = frame else { break };
                    let result = self.recognize(frame)?;
                    if results.send(result).is_err() {
                        break;
                    }
                    notify();
                }
                recv(commands) -> command => match command {
                    Ok(Command::Shutdown) => break,
                    Ok(command) => {
                        self.obey(command);
                        notify();
                    }
                    // Nobody sends commands any more; only frames matter now.
                    Err(_) => commands = crossbeam_channel::never(),
                },
            }
        }
        Ok(())
    }

    fn recognize(&mut self, frame: Frame) -> Result<FrameResult> {
        let roster = self.roster.snapshot();
        if roster.generation() != self.generation {
            // Labels decided on the roster before may name somebody forgotten or renamed.
            self.generation = roster.generation();
            self.tracker.invalidate();
        }
        let recognized = self.pipeline.process_tracked(
            &frame.image,
            frame.timestamp_ms,
            &mut self.tracker,
            &mut self.gate,
            roster.matcher(),
        )?;
        if let Some(sightings) = &mut self.sightings {
            sightings.observe(&frame.image, &recognized.faces, &self.tracker);
        }
        let result = FrameResult {
            frame: frame.index,
            timestamp_ms: frame.timestamp_ms,
            faces: recognized.faces,
            timings_ms: StageTimes {
                decode: frame.decode_ms,
                ..recognized.times
            },
            embedded: recognized.embedded,
            searched: recognized.searched,
            cut: recognized.cut,
            latency_ms: ms_since(frame.captured_at),
            captured_at: frame.captured_at,
            picture: frame.picture,
        };
        self.newest = Some(frame.image);
        self.newest_faces = result.faces.iter().map(|f| f.detection).collect();
        Ok(result)
    }

    /// Carries out a command and answers it.
    fn obey(&mut self, command: Command) {
        match command {
            // The snapshot with the new threshold labels the faces in view afresh.
            Command::SetThreshold(threshold) => self.roster.set_threshold(threshold),
            Command::Capture {
                enrollment,
                name,
                asked,
                taken,
                thumbnail_px,
                reply,
            } => {
                let outcome = Expect::for_capture(
                    self.roster.gallery().as_ref(),
                    &self.pipeline.embedder_id(),
                    &name,
                    asked,
                    taken,
                )
                .and_then(|expect| self.capture(&enrollment, &expect, thumbnail_px));
                answer(&reply, outcome);
            }
            Command::Look { reply } => answer(&reply, self.look()),
            Command::SavePerson {
                enrollment,
                name,
                faces,
                reply,
            } => {
                let embedder = self.pipeline.embedder_id();
                let outcome = enrollment.add(
                    self.roster.gallery().as_ref(),
                    &embedder,
                    &name,
                    &faces,
                    &self.actor,
                );
                if outcome.is_ok() {
                    self.reload();
                }
                answer(&reply, outcome);
            }
            Command::Reembed {
                views,
                progress,
                reply,
            } => {
                let outcome = enroll::reembed(
                    &mut self.pipeline,
                    self.roster.gallery().as_ref(),
                    views,
                    &*progress,
                );
                if outcome.is_ok() {
                    self.reload();
                }
                answer(&reply, outcome);
            }
            Command::Shutdown => {}
        }
    }

    /// The pose of the one face of the newest frame, from the faces recognition found in it.
    fn look(&self) -> Result<Looked> {
        let faces = self.newest_faces.len();
        let pose = match (&self.newest, self.newest_faces.as_slice()) {
            (Some(frame), [face]) => self.pipeline.head_pose(frame, face)?,
            _ => None,
        };
        Ok(Looked { faces, pose })
    }

    fn capture(
        &mut self,
        enrollment: &Enrollment,
        expect: &Expect,
        thumbnail_px: i32,
    ) -> Result<Captured> {
        let frame = self
            .newest
            .as_ref()
            .ok_or_else(|| Error::InvalidInput("no frame has arrived yet".into()))?;
        let faces = self.pipeline.detect(frame)?;
        let verdict = enrollment.judge(
            &mut self.pipeline,
            frame,
            &faces,
            "window capture".into(),
            None,
            expect,
        )?;
        // The face whenever there was one, so a blurred or wrongly posed capture shows what
        // was wrong with it; the whole frame when there was no face or several.
        let face = match faces.as_slice() {
            [face] => face.bbox.within(frame.cols(), frame.rows()),
            _ => None,
        };
        let thumbnail = match face {
            Some(face) => {
                RgbaImage::thumbnail(&Mat::roi(frame, face.to_rect())?.try_clone()?, thumbnail_px)?
            }
            None => RgbaImage::thumbnail(frame, thumbnail_px)?,
        };
        Ok(Captured { verdict, thumbnail })
    }

    /// Reads the roster again after a change made here, so that the next frame sees it. On
    /// failure the roster tries again by itself.
    fn reload(&self) {
        if let Err(e) = self.roster.reload() {
            tracing::warn!(
                "cannot reload the gallery after a change; still recognising the people loaded before: {}",
                e.report()
            );
        }
    }
}

/// Sends a command's answer. A receiver that went away (a window closed mid-capture) only
/// means nobody waits for it any more.
fn answer<T>(reply: &Sender<T>, value: T) {
    if reply.send(value).is_err() {
        tracing::debug!("a command's answer found nobody waiting for it");
    }
}
