//! `whoisit camera`: a camera agent. Next to its camera it captures, detects and tracks as the
//! window does, but embeds nothing: whenever a track wants an embedding (as often as the local
//! pipeline embeds: every `undecided_every` frames until its label is clear, then every
//! `reembed_every`, or when its face grew) it sends a JPEG crop of the face to the work stream,
//! with the track's recent embeddings from earlier answers. A worker answers with the new
//! embedding judged alone and pooled with those, and the agent's tracker decides the label on
//! that exactly as the local pipeline's does
//! ([`Tracker::record`](crate::vision::track::Tracker::record)).
//!
//! A track has at most one crop waiting for its answer: the next one is sent once it came (or
//! could no longer come), so that every answer was judged on the embeddings the track still
//! has, and a slow worker costs the camera embeddings, not a growing queue.
//!
//! The agent follows its tracks' sightings from those decisions, as the window does
//! ([`Agent::record_sightings`]); they go to the sightings stream for a worker to store.
//!
//! Redis being down costs labels, never memory: a crop that cannot be sent is dropped and
//! counted, and the track asks again at its next re-embedding.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use opencv::core::{Mat, Rect, Vector};
use opencv::imgcodecs;
use opencv::prelude::*;
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::geometry::FaceBox;
use crate::base::identity::Embedding;
use crate::base::stats::ms_since;
use crate::config::streams::StreamsConfig;
use crate::runtime::capture::Frame;
use crate::runtime::sightings::Follower;
use crate::runtime::worker::{Command, FrameResult, Recognizer, Running};
use crate::stream::link::{self, BLOCK_MS, Failure, Link, Reader};
use crate::stream::wire::{Answer, Origin, Work, WorkMeta};
use crate::stream::{Keys, unix_ms};
use crate::vision::detect::Detection;
use crate::vision::pipeline::{FaceResult, Located, Locator, StageTimes};
use crate::vision::track::Judged;

/// Answers read from the results stream at a time.
const READ_BATCH: usize = 200;

/// What an agent did so far; readable from any thread.
#[derive(Debug, Default)]
pub struct AgentStats {
    /// Face crops added to the work stream.
    pub sent: AtomicU64,
    /// Their bytes (image and metadata).
    pub bytes: AtomicU64,
    /// Crops dropped because Redis could not be reached.
    pub unsent: AtomicU64,
    /// Answers for this camera read back.
    pub answers: AtomicU64,
    /// Answers from workers older than this agent, without the judged embedding a track is
    /// decided on: not used (upgrade the workers).
    pub outdated: AtomicU64,
}

/// A snapshot of [`AgentStats`], for a summary.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AgentCounts {
    pub sent: u64,
    pub bytes: u64,
    pub unsent: u64,
    pub answers: u64,
    pub outdated: u64,
}

impl AgentStats {
    pub fn counts(&self) -> AgentCounts {
        AgentCounts {
            sent: self.sent.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            unsent: self.unsent.load(Ordering::Relaxed),
            answers: self.answers.load(Ordering::Relaxed),
            outdated: self.outdated.load(Ordering::Relaxed),
        }
    }
}

/// A camera agent, detector loaded, ready to be given frames.
pub struct Agent {
    locator: Locator,
    camera: String,
    config: StreamsConfig,
    keys: Keys,
    link: Link,
    /// The crop each track waits for an answer to.
    asked: HashMap<u64, Asked>,
    /// Waits for the answers to a frame's crops before taking the next frame.
    lockstep: bool,
    /// Turns the tracker's decisions into sightings, when they are recorded.
    sightings: Option<Follower>,
    pub stats: Arc<AgentStats>,
}

/// A crop sent for a track, waiting for its answer.
struct Asked {
    /// The frame it was cut from, which its answer names.
    frame: u64,
    sent: Instant,
}

/// A worker's answer to a crop of one track.
struct Label {
    track: u64,
    frame: u64,
    /// `None` when the worker found no face to embed in the crop, or is too old to judge.
    judged: Option<Judged>,
}

impl Agent {
    /// An agent for the camera called `camera` (unique on the site; it names the events).
    pub fn new(locator: Locator, camera: &str, config: &StreamsConfig) -> Result<Agent> {
        if camera.is_empty() || camera.contains(['/', '+', '#']) {
            return Err(Error::InvalidInput(format!(
                "camera id {camera:?} cannot be used: give a non-empty name without '/', '+' or '#' (it becomes part of MQTT topics)"
            )));
        }
        Ok(Agent {
            locator,
            camera: camera.to_owned(),
            config: config.clone(),
            keys: Keys::new(&config.prefix),
            link: Link::new(&config.redis, "camera agent")?,
            asked: HashMap::new(),
            lockstep: false,
            sightings: None,
            stats: Arc::new(AgentStats::default()),
        })
    }

    /// Records the sightings of the faces it tracks with `follower` (one that sends them to the
    /// sightings stream), from the next frame on.
    pub fn record_sightings(&mut self, follower: Follower) {
        self.sightings = Some(follower);
    }

    /// An agent that, after each frame, waits for the answers to the crops it sent before it
    /// takes the next frame: a file is then labelled the same on every run, each answer one
    /// frame after its crop, as with a worker that answers within a frame's time (`eval
    /// --video --distributed`). A camera does not wait.
    pub fn in_lockstep(mut self) -> Agent {
        self.lockstep = true;
        self
    }

    /// How long an answer can still come: a worker drops work older than `max_age_ms`, and an
    /// answer that would come later than twice that.
    fn answer_within(&self) -> Duration {
        Duration::from_millis(2 * self.config.max_age_ms)
    }

    /// Decides a track's label on its answer, if it answers the crop the track waits for.
    fn take(&mut self, label: Label) {
        if self
            .asked
            .get(&label.track)
            .is_none_or(|asked| asked.frame != label.frame)
        {
            tracing::debug!(
                track = label.track,
                frame = label.frame,
                "an answer came after its track ended or asked again; not used"
            );
            return;
        }
        self.asked.remove(&label.track);
        if let Some(judged) = label.judged {
            self.locator.tracker.record(label.track, judged);
        }
    }

    /// Forgets crops whose answers can no longer come, so their tracks ask again.
    fn give_up_late(&mut self) {
        let within = self.answer_within();
        self.asked.retain(|_, asked| asked.sent.elapsed() < within);
    }

    /// Waits until every crop sent has its answer or can no longer get one.
    fn await_answers(&mut self, labels: &Receiver<Label>) {
        while let Some(due) = self
            .asked
            .values()
            .map(|a| a.sent + self.answer_within())
            .max()
        {
            match labels.recv_deadline(due) {
                Ok(label) => self.take(label),
                Err(_) => {
                    self.give_up_late();
                    return;
                }
            }
        }
    }

    fn run(
        mut self,
        frames: &Receiver<Frame>,
        mut commands: Receiver<Command>,
        results: &Sender<FrameResult>,
        notify: &dyn Fn(),
    ) -> Result<()> {
        let stop = Arc::new(AtomicBool::new(false));
        let (label_tx, labels) = crossbeam_channel::bounded::<Label>(READ_BATCH);
        let reader = spawn_reader(
            Link::new(&self.config.redis, "camera agent (answers)")?,
            self.keys.results.clone(),
            self.camera.clone(),
            label_tx,
            stop.clone(),
            self.stats.clone(),
        )?;
        let outcome = loop {
            crossbeam_channel::select! {
                recv(frames) -> frame => {
                    let Ok(frame) = frame else { break Ok(()) };
                    for label in labels.try_iter() {
                        self.take(label);
                    }
                    let result = match self.frame(&frame) {
                        Ok(result) => result,
                        Err(e) => break Err(e),
                    };
                    if results.send(result).is_err() {
                        break Ok(());
                    }
                    notify();
                    if self.lockstep {
                        self.await_answers(&labels);
                    }
                }
                recv(commands) -> command => match command {
                    Ok(Command::Shutdown) => break Ok(()),
                    Ok(command) => refuse(command),
                    Err(_) => commands = crossbeam_channel::never(),
                },
            }
        };
        stop.store(true, Ordering::Relaxed);
        Error::joined("answers", reader.join())?;
        outcome
    }

    fn frame(&mut self, frame: &Frame) -> Result<FrameResult> {
        let Located {
            faces,
            assignments,
            searched,
            cut,
            detect_ms,
        } = self.locator.locate(&frame.image, frame.timestamp_ms)?;
        if cut {
            // Every track ended: answers to their crops have nobody to label.
            self.asked.clear();
        }
        self.give_up_late();
        let mut sent = 0;
        for (face, assignment) in faces.iter().zip(&assignments) {
            // A track waiting for an answer asks again once it came.
            if assignment.embed && !self.asked.contains_key(&assignment.track) {
                let tracker = &mut self.locator.tracker;
                let recent = tracker.recent(assignment.track);
                tracker.embedded(assignment.track, &face.bbox);
                if self.send(frame, face, assignment.track, recent)? {
                    let asked = Asked {
                        frame: frame.index,
                        sent: Instant::now(),
                    };
                    self.asked.insert(assignment.track, asked);
                }
                sent += 1;
            }
        }
        let tracker = &self.locator.tracker;
        let faces: Vec<FaceResult> = faces
            .into_iter()
            .zip(&assignments)
            .map(|(face, a)| FaceResult::tracked(face, a.track, tracker))
            .collect();
        if let Some(sightings) = &mut self.sightings {
            sightings.observe(&frame.image, &faces, tracker);
        }
        Ok(FrameResult {
            frame: frame.index,
            timestamp_ms: frame.timestamp_ms,
            faces,
            timings_ms: StageTimes {
                decode: frame.decode_ms,
                detect: detect_ms,
                ..StageTimes::default()
            },
            embedded: sent,
            searched,
            cut,
            latency_ms: ms_since(frame.captured_at),
            captured_at: frame.captured_at,
            picture: frame.picture.clone(),
        })
    }

    /// Adds a crop of `face` with its track's `recent` embeddings to the work stream; drops it
    /// (counted) if Redis is down. Whether it was added.
    fn send(
        &mut self,
        frame: &Frame,
        face: &Detection,
        track: u64,
        recent: Vec<Embedding>,
    ) -> Result<bool> {
        // The capture time as a wall clock: workers on other machines compare it with theirs.
        let captured_ms = unix_ms().saturating_sub(frame.captured_at.elapsed().as_millis() as u64);
        let seen = Seen {
            camera: &self.camera,
            track,
            frame: frame.index,
            captured_ms,
        };
        let (mut meta, jpeg) = face_work(&frame.image, face, &seen, &self.config, &self.keys)?;
        meta.recent = recent;
        let fields = Work::fields(&meta, &jpeg)?;
        let bytes: usize = fields.iter().map(|(k, v)| k.len() + v.len()).sum();
        let added = link::add(
            &mut self.link,
            &self.keys.faces,
            self.config.max_pending_faces,
            &fields,
        );
        match added {
            Ok(_) => {
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                self.stats.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
                Ok(true)
            }
            Err(failure) => {
                self.stats.unsent.fetch_add(1, Ordering::Relaxed);
                if let Failure::Refused(e) = failure {
                    tracing::warn!("Redis refused a face crop: {e}");
                }
                Ok(false)
            }
        }
    }
}

impl Recognizer for Agent {
    fn about(&self) -> String {
        format!(
            "camera {}: named by the workers at {}",
            self.camera, self.link.address
        )
    }

    fn lacking(&self) -> usize {
        0
    }

    fn spawn(
        self,
        frames: Receiver<Frame>,
        results: Sender<FrameResult>,
        notify: Box<dyn Fn() + Send>,
    ) -> Result<Running> {
        Running::start("camera-agent", move |commands| {
            self.run(&frames, commands, &results, &*notify)
        })
    }
}

/// Answers what only a machine with the gallery can do.
fn refuse(command: Command) {
    const WHY: &str = "this is a camera agent: enroll people with `whoisit enroll` or the window on a machine with the gallery, and the workers pick them up";
    let refusal = || Error::InvalidInput(WHY.into());
    let answered = match command {
        Command::Capture { reply, .. } => reply.send(Err(refusal())).is_ok(),
        Command::Look { reply } => reply.send(Err(refusal())).is_ok(),
        Command::SavePerson { reply, .. } => reply.send(Err(refusal())).is_ok(),
        Command::Reembed { reply, .. } => reply.send(Err(refusal())).is_ok(),
        Command::SetThreshold(_) => {
            tracing::warn!("the threshold is the workers' setting (their config), not a camera's");
            true
        }
        Command::Shutdown => true,
    };
    if !answered {
        tracing::debug!("a refused command found nobody waiting for the answer");
    }
}

/// Where and when a face was seen.
pub(crate) struct Seen<'a> {
    pub(crate) camera: &'a str,
    pub(crate) track: u64,
    pub(crate) frame: u64,
    pub(crate) captured_ms: u64,
}

/// The work for one face of a frame: its metadata and a JPEG crop around it.
pub(crate) fn face_work(
    image: &Mat,
    face: &Detection,
    seen: &Seen<'_>,
    config: &StreamsConfig,
    keys: &Keys,
) -> Result<(WorkMeta, Vec<u8>)> {
    let (jpeg, crop) = crop(image, &face.bbox, config)?;
    let meta = WorkMeta {
        origin: Origin::Camera {
            camera: seen.camera.to_owned(),
            track: seen.track,
            frame: seen.frame,
            face: Detection {
                bbox: FaceBox::new(
                    face.bbox.x - crop.x,
                    face.bbox.y - crop.y,
                    face.bbox.width,
                    face.bbox.height,
                ),
                confidence: face.confidence,
            },
            crop_at: [crop.x, crop.y],
        },
        captured_ms: seen.captured_ms,
        reply: keys.results.clone(),
        recent: Vec::new(),
    };
    Ok((meta, jpeg))
}

/// The JPEG of `face` with `crop_margin` of context on each side, and where it was cut.
fn crop(image: &Mat, face: &FaceBox, config: &StreamsConfig) -> Result<(Vec<u8>, Rect)> {
    let margin = (face.width as f32 * config.crop_margin) as i32;
    let x = (face.x - margin).max(0);
    let y = (face.y - margin).max(0);
    let right = (face.right() + margin).min(image.cols());
    let bottom = (face.bottom() + margin).min(image.rows());
    if right <= x || bottom <= y {
        return Err(Error::Internal("a face box lies outside its frame"));
    }
    let rect = Rect::new(x, y, right - x, bottom - y);
    let mut jpeg = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, config.crop_quality]);
    imgcodecs::imencode(".jpg", &Mat::roi(image, rect)?, &mut jpeg, &params)?;
    Ok((jpeg.to_vec(), rect))
}

/// Reads the results stream from now on and hands this camera's answers to the agent.
fn spawn_reader(
    mut link: Link,
    results: String,
    camera: String,
    labels: Sender<Label>,
    stop: Arc<AtomicBool>,
    stats: Arc<AgentStats>,
) -> Result<JoinHandle<Result<()>>> {
    std::thread::Builder::new()
        .name("answers".into())
        .spawn(move || {
            let mut last: Option<String> = None;
            let mut warned = false;
            while !stop.load(Ordering::Relaxed) {
                // From the server's "now" at first, so answers to the first crops are not
                // missed, as they could be between two reads from "$".
                let from = match &last {
                    Some(id) => id.clone(),
                    None => match link.run(|c| redis::cmd("TIME").query::<(u64, u64)>(c)) {
                        Ok((secs, micros)) => format!("{}-0", secs * 1000 + micros / 1000),
                        Err(_) => {
                            std::thread::sleep(link.retry_in().clamp(PAUSE, BLOCK));
                            continue;
                        }
                    },
                };
                let entries =
                    match link::read(&mut link, &Reader::Anyone, &results, &from, READ_BATCH) {
                        Ok(entries) => entries,
                        Err(failure) => {
                            if let Failure::Refused(e) = failure {
                                tracing::warn!("cannot read the answers: {e}");
                            }
                            std::thread::sleep(link.retry_in().clamp(PAUSE, BLOCK));
                            continue;
                        }
                    };
                last = Some(from);
                for entry in entries {
                    last = Some(entry.id.clone());
                    let answer = match Answer::from_entry(&entry) {
                        Ok(answer) => answer,
                        Err(e) => {
                            tracing::warn!("{}", e.report());
                            continue;
                        }
                    };
                    let Origin::Camera {
                        camera: of,
                        track,
                        frame,
                        ..
                    } = &answer.origin
                    else {
                        continue;
                    };
                    if *of != camera {
                        continue;
                    }
                    stats.answers.fetch_add(1, Ordering::Relaxed);
                    if answer.judged.is_none() && !answer.faces.is_empty() {
                        stats.outdated.fetch_add(1, Ordering::Relaxed);
                        if !warned {
                            warned = true;
                            tracing::warn!(
                                "worker {} answers without the judged embedding this camera \
                                 decides on: it is older than this agent; upgrade the workers \
                                 (its answers are not used meanwhile)",
                                answer.worker
                            );
                        }
                    }
                    let label = Label {
                        track: *track,
                        frame: *frame,
                        judged: answer.judged,
                    };
                    // A full queue means the agent is behind; the track asks again later.
                    if let Err(crossbeam_channel::TrySendError::Disconnected(_)) =
                        labels.try_send(label)
                    {
                        return Ok(());
                    }
                }
            }
            Ok(())
        })
        .map_err(|source| Error::Spawn {
            thread: "answers",
            source,
        })
}

const BLOCK: Duration = Duration::from_millis(BLOCK_MS);
const PAUSE: Duration = Duration::from_millis(20);
