//! The recognition pool: a fixed number of pipelines, each on its own thread with its own
//! models, fed from a bounded queue. A photo that finds the queue full is refused at once
//! (503), so memory stays bounded however many clients call.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use opencv::core::Mat;
use tokio::sync::oneshot;

use crate::base::error::{Error, Result};
use crate::base::identity::EmbedderId;
use crate::base::stats::ms_since;
use crate::config::Config;
use crate::enroll::quality::Rejection;
use crate::enroll::{Enrollment, Expect};
use crate::gallery::NewFace;
use crate::models::fetch::Progress;
use crate::roster::Roster;
use crate::runtime::worker::Looked;
use crate::vision::detect::Detection;
use crate::vision::matcher::Identity;
use crate::vision::photo::{self, PhotoLimits};
use crate::vision::pipeline::{Pipeline, StageTimes};

/// How an uploaded photo is named in error messages.
pub(crate) const UPLOAD: &str = "the uploaded image";

/// A face found and matched in a photo, its box on the photo as sent.
pub(crate) struct Found {
    pub(crate) detection: Detection,
    pub(crate) identity: Identity,
}

/// A recognised photo.
pub(crate) struct Recognition {
    pub(crate) faces: Vec<Found>,
    pub(crate) times: StageTimes,
}

/// What a job asks of a pipeline.
pub(crate) enum Task {
    /// Every face, matched within this threshold (the configured one when `None`).
    Recognize {
        threshold: Option<f32>,
        roster: Arc<Roster>,
    },
    /// The one face of a photo (`source` says which), through the enrollment quality gate,
    /// embedded, and refused as a duplicate of a face `expect`ed. An upload expects none: only
    /// the same file twice is refused (by its sha256, when it is stored); a visitor's crop is
    /// checked against the person's faces and the crops taken before it.
    Enroll {
        enrollment: Enrollment,
        source: String,
        expect: Expect,
    },
    /// How many faces a frame shows and, when it is one, its head pose: the console camera's
    /// live hint.
    Look,
}

/// A pipeline's answer.
pub(crate) enum Answer {
    Recognized(Recognition),
    Enrolled(std::result::Result<NewFace, Rejection>),
    Looked(Looked),
}

struct Job {
    image: Vec<u8>,
    limits: PhotoLimits,
    task: Task,
    reply: oneshot::Sender<Result<Answer>>,
}

/// Why the pool took no job.
pub(crate) enum Busy {
    /// Every pipeline is busy and the queue is full.
    Full,
    /// The pipelines are gone (they failed to start, or the server is stopping).
    Stopped,
}

pub(crate) struct Pool {
    jobs: Sender<Job>,
    workers: usize,
    embedder: EmbedderId,
}

impl Pool {
    /// Loads `config.serve.workers` pipelines, each on its own thread.
    pub(crate) fn start(config: &Config, progress: &dyn Progress) -> Result<Pool> {
        let (jobs, queue) = crossbeam_channel::bounded::<Job>(config.serve.queue);
        let workers = config.serve.workers;
        let mut embedder = None;
        for index in 0..workers {
            let pipeline = config.load_pipeline(progress)?;
            embedder = Some(pipeline.embedder_id());
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("recognize-{index}"))
                .spawn(move || work(pipeline, &queue))
                .map_err(|source| Error::Spawn {
                    thread: "recognize",
                    source,
                })?;
        }
        let embedder = embedder.ok_or(Error::Internal("a pool without pipelines"))?;
        tracing::info!(workers, queue = config.serve.queue, %embedder, "recognition pool ready");
        Ok(Pool {
            jobs,
            workers,
            embedder,
        })
    }

    pub(crate) fn embedder(&self) -> &EmbedderId {
        &self.embedder
    }

    pub(crate) fn workers(&self) -> usize {
        self.workers
    }

    /// Photos waiting for a pipeline.
    pub(crate) fn queued(&self) -> usize {
        self.jobs.len()
    }

    /// Queues `task` on `image`; the answer arrives on the receiver.
    pub(crate) fn submit(
        &self,
        image: Vec<u8>,
        limits: PhotoLimits,
        task: Task,
    ) -> std::result::Result<oneshot::Receiver<Result<Answer>>, Busy> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            image,
            limits,
            task,
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(Busy::Full),
            Err(TrySendError::Disconnected(_)) => Err(Busy::Stopped),
        }
    }
}

/// A pipeline's thread: one job after another until the pool is dropped.
fn work(mut pipeline: Pipeline, queue: &Receiver<Job>) {
    for job in queue {
        let answer = run(&mut pipeline, &job.image, job.limits, job.task);
        if let Err(Err(e)) = job.reply.send(answer) {
            tracing::debug!("a client left before its answer: {}", e.report());
        }
    }
}

fn run(pipeline: &mut Pipeline, image: &[u8], limits: PhotoLimits, task: Task) -> Result<Answer> {
    let start = Instant::now();
    let photo = photo::decode(image, &limits, Path::new(UPLOAD))?;
    let decode = ms_since(start);
    match task {
        Task::Recognize { threshold, roster } => {
            recognize(pipeline, photo.image, decode, threshold, &roster).map(Answer::Recognized)
        }
        Task::Enroll {
            enrollment,
            source,
            expect,
        } => enrollment
            .judge_photo(pipeline, source, photo, &expect)
            .map(Answer::Enrolled),
        Task::Look => look(pipeline, photo.image).map(Answer::Looked),
    }
}

/// The faces of a frame and the pose of the one face, as the window's worker sees its newest
/// frame for the same hint.
fn look(pipeline: &mut Pipeline, image: Mat) -> Result<Looked> {
    let found = pipeline.detect_photo(image)?;
    let pose = match found.faces.as_slice() {
        [face] => pipeline.head_pose(&found.image, face)?,
        _ => None,
    };
    Ok(Looked {
        faces: found.faces.len(),
        pose,
    })
}

/// Detects, aligns and embeds every face of the photo, as the window does a frame, and matches
/// them against the roster.
fn recognize(
    pipeline: &mut Pipeline,
    image: Mat,
    decode: f64,
    threshold: Option<f32>,
    roster: &Roster,
) -> Result<Recognition> {
    let start = Instant::now();
    let found = pipeline.detect_photo(image)?;
    let detect = ms_since(start);
    let embedded = pipeline.embed(&found.image, &found.faces)?;
    let start = Instant::now();
    let roster = roster.snapshot();
    let matcher = roster.matcher();
    let faces = found
        .faces
        .iter()
        .zip(&embedded.embeddings)
        .map(|(face, embedding)| Found {
            detection: found.on_photo(face),
            identity: match threshold {
                Some(threshold) => matcher.identify_within(embedding, threshold),
                None => matcher.identify(embedding),
            },
        })
        .collect();
    Ok(Recognition {
        faces,
        times: StageTimes {
            decode,
            detect,
            align: embedded.align_ms,
            embed: embedded.embed_ms,
            matching: ms_since(start),
        },
    })
}
