//! A run without a window: capture thread -> detector/encoder thread on a source, each result
//! handed to the caller in order, and a summary of what happened.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::RecvTimeoutError;
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::image::RgbaImage;
use crate::base::stats::{Spread, StageSamples};
use crate::runtime::capture::{Capture, Delivery, Frame, Source, keep_open};
use crate::runtime::worker::{FrameResult, Recognizer};

/// How a run treats its source.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Play a file at its own frame rate and drop frames like a camera would.
    pub realtime: bool,
    /// Stop after this many processed frames.
    pub max_frames: Option<u64>,
    /// Stop at the next frame once this is set (by a signal handler, a server shutting down),
    /// still with a summary of what was done.
    pub stop: Option<Arc<AtomicBool>>,
    /// Shown each frame as it is read, to keep a picture of it that travels with its result
    /// ([`FrameResult::picture`]): the console's live video draws each result over its own
    /// frame, as the window does.
    pub tap: Option<Tap>,
    /// Open the source again whenever it fails or ends, this long after a failure: a file
    /// loops, a camera or a stream that dropped comes back (the server's own sources). Without
    /// it a source plays once and its failure ends the run.
    pub reopen: Option<Duration>,
}

/// Makes a frame's picture, or `None` when none is wanted (nobody watching).
pub type Picture = dyn Fn(&Frame) -> Option<Arc<RgbaImage>> + Send + Sync;

/// What makes the frames' pictures, shared by the capture thread and its owner.
#[derive(Clone)]
pub struct Tap(pub Arc<Picture>);

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tap")
    }
}

/// What a run did, printed at its end.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub source: String,
    pub frames_read: u64,
    pub processed: u64,
    pub dropped: u64,
    pub faces: u64,
    /// Faces embedded; the others were tracked faces that kept their label.
    pub embedded: u64,
    pub seconds: f64,
    pub processed_fps: f64,
    /// Per-stage time per processed frame (decode, detect, align, embed, match) and latency.
    pub ms: BTreeMap<&'static str, Spread>,
}

/// How often a run waiting for a result looks whether it was asked to stop.
const STOP_POLL: Duration = Duration::from_millis(200);

/// Runs `worker` (the detector/encoder, or a camera agent) on `source`, calling `on_result` for
/// each processed frame in order.
pub fn run(
    source: &Source,
    worker: impl Recognizer,
    options: &RunOptions,
    mut on_result: impl FnMut(&FrameResult) -> Result<()>,
) -> Result<Summary> {
    let tap = options.tap.clone();
    let (capture, frames) = match options.reopen {
        None => {
            let mut capture = source.open()?;
            let delivery = Delivery::for_source(source, options.realtime);
            match tap {
                None => Capture::spawn(capture, delivery)?,
                Some(Tap(tap)) => Capture::spawn_with(move |outlet| {
                    outlet.read(&mut capture, delivery, &mut |frame| tap(frame))
                })?,
            }
        }
        Some(retry) => {
            let source = source.clone();
            Capture::spawn_with(move |outlet| {
                let mut show = |frame: &Frame| tap.as_ref().and_then(|Tap(tap)| tap(frame));
                keep_open(outlet, &source, retry, &mut show, &|_| {})
            })?
        }
    };
    let (results_tx, results) = crossbeam_channel::bounded::<FrameResult>(4);
    let worker = worker.spawn(frames, results_tx, Box::new(|| {}))?;

    let started = Instant::now();
    let mut processed = 0u64;
    let mut faces = 0u64;
    let mut embedded = 0u64;
    let mut stages = StageSamples::default();
    let mut outcome = Ok(());
    let asked_to_stop = || {
        options
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    };
    loop {
        // Not only at a result: a source being opened again may give none for long.
        let result = match results.recv_timeout(STOP_POLL) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) if asked_to_stop() => break,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        processed += 1;
        faces += result.faces.len() as u64;
        embedded += result.embedded as u64;
        for (stage, ms) in result.timings_ms.stages() {
            stages.add(stage, ms);
        }
        stages.add("latency", result.latency_ms);
        if let Err(e) = on_result(&result) {
            outcome = Err(e);
            break;
        }
        if asked_to_stop() || options.max_frames.is_some_and(|max| processed >= max) {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = capture.stats.clone();
    // Stop the source first so the worker's input ends, then collect the worker's verdict.
    drop(results);
    let capture_result = capture.stop();
    let worker_result = Error::joined("detect-embed", worker.thread.join());
    outcome?;
    worker_result?;
    capture_result?;
    Ok(Summary {
        source: source.to_string(),
        frames_read: stats.read.load(Ordering::Relaxed),
        processed,
        dropped: stats.dropped.load(Ordering::Relaxed),
        faces,
        embedded,
        seconds,
        processed_fps: if seconds > 0.0 {
            processed as f64 / seconds
        } else {
            0.0
        },
        ms: stages.spreads(),
    })
}
