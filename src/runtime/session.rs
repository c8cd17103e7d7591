//! A live session, as a window runs it: the capture thread feeds every frame to the display
//! and the newest frame to the detector/encoder thread, and when the source drops it says so
//! and opens it again until it comes back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::base::error::{Error, Result};
use crate::base::image::RgbaImage;
use crate::runtime::capture::{self, Capture, Frame, Source, SourceState, keep_open};
use crate::runtime::worker::{Command, FrameResult, Recognizer};

/// Wakes the window when something arrived for it (e.g. `egui::Context::request_repaint`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A frame ready to draw.
pub struct DisplayFrame {
    pub index: u64,
    pub captured_at: Instant,
    pub image: Arc<RgbaImage>,
}

/// Frames read from the source, and frames the detector/encoder thread had no time for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CaptureCounts {
    pub read: u64,
    pub skipped: u64,
}

/// The threads of one source with one pipeline.
pub struct Session {
    pub source: Source,
    /// What recognises the faces (the embedder, or a camera agent), for the status bar.
    pub about: String,
    /// Enrolled faces without an embedding from this embedder when the session started.
    pub lacking: usize,
    /// Every frame the source delivers, for the display (the newest if the display lags). The
    /// frames recognition takes come again with their results.
    pub frames: Receiver<DisplayFrame>,
    /// One result per frame the detector/encoder thread processed.
    pub results: Receiver<FrameResult>,
    commands: Sender<Command>,
    state: Arc<Mutex<SourceState>>,
    /// Frames the display had no time for.
    pub display_dropped: Arc<AtomicU64>,
    capture: Option<Capture>,
    worker: Option<JoinHandle<Result<()>>>,
}

impl Session {
    /// Starts the capture and detector/encoder threads. A source that does not open is not an
    /// error here: the session shows it as retrying, which is what a kiosk needs.
    pub fn start(
        worker: impl Recognizer,
        source: Source,
        retry: Duration,
        wake: Waker,
    ) -> Result<Session> {
        let state = Arc::new(Mutex::new(SourceState::Opening));
        let (display_tx, frames) = crossbeam_channel::bounded::<DisplayFrame>(1);
        let display_dropped = Arc::new(AtomicU64::new(0));
        let (capture, worker_frames) = Capture::spawn_with({
            let source = source.clone();
            let state = state.clone();
            let dropped = display_dropped.clone();
            let drain = frames.clone();
            let wake = wake.clone();
            move |outlet| {
                let mut show = |frame: &Frame| match RgbaImage::from_bgr(&frame.image) {
                    Ok(image) => {
                        let image = Arc::new(image);
                        let shown = DisplayFrame {
                            index: frame.index,
                            captured_at: frame.captured_at,
                            image: image.clone(),
                        };
                        capture::send_latest(&display_tx, &drain, shown, &dropped);
                        wake();
                        Some(image)
                    }
                    Err(e) => {
                        tracing::warn!(
                            "a frame could not be converted for display: {}",
                            e.report()
                        );
                        None
                    }
                };
                keep_open(outlet, &source, retry, &mut show, &|s| {
                    set(&state, s);
                    wake();
                })
            }
        })?;
        // Small: results are drained every display frame; a stalled window stalls the worker,
        // and the capture thread then drops frames instead of queueing them.
        let (results_tx, results) = crossbeam_channel::bounded::<FrameResult>(4);
        let about = worker.about();
        let lacking = worker.lacking();
        let running = worker.spawn(worker_frames, results_tx, Box::new(move || wake()))?;
        Ok(Session {
            source,
            about,
            lacking,
            frames,
            results,
            commands: running.commands,
            state,
            display_dropped,
            capture: Some(capture),
            worker: Some(running.thread),
        })
    }

    pub fn state(&self) -> SourceState {
        self.state
            .lock()
            .map_or(SourceState::Opening, |s| s.clone())
    }

    /// What the capture thread did so far.
    pub fn capture_counts(&self) -> CaptureCounts {
        self.capture
            .as_ref()
            .map_or(CaptureCounts::default(), |c| CaptureCounts {
                read: c.stats.read.load(Ordering::Relaxed),
                skipped: c.stats.dropped.load(Ordering::Relaxed),
            })
    }

    /// Sends `command` to the detector/encoder thread; false if that thread has ended.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok()
    }

    /// What ended the detector/encoder thread, once it has ended (it never should while
    /// the session lives).
    pub fn failure(&mut self) -> Option<Error> {
        if !self.worker.as_ref().is_some_and(JoinHandle::is_finished) {
            return None;
        }
        let worker = self.worker.take()?;
        Some(match Error::joined("detect-embed", worker.join()) {
            Err(e) => e,
            Ok(()) => Error::Internal("the detector/encoder thread stopped by itself"),
        })
    }
}

impl Drop for Session {
    /// OpenCV must not be called after `main` returns: both threads are joined here.
    fn drop(&mut self) {
        if let Some(capture) = self.capture.take()
            && let Err(e) = capture.stop()
        {
            tracing::warn!("capture: {}", e.report());
        }
        // The capture thread held the only frame sender, so the worker's input has ended; and
        // with the results receiver gone, a worker blocked on a full channel wakes up too.
        drop(std::mem::replace(
            &mut self.results,
            crossbeam_channel::never(),
        ));
        if let Some(worker) = self.worker.take()
            && let Err(e) = Error::joined("detect-embed", worker.join())
        {
            tracing::warn!("detector/encoder: {}", e.report());
        }
    }
}

fn set(state: &Mutex<SourceState>, value: SourceState) {
    if let Ok(mut s) = state.lock() {
        *s = value;
    }
}
