//! A live session, as the window runs it: the capture thread feeds every frame to the display
//! and the newest frame to the detector/encoder thread, and when the source drops it says so
//! and opens it again until it comes back.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use eframe::egui::ColorImage;
use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;
use opencv::videoio;

use crate::capture::{self, Capture, Delivery, Frame, Outlet, Source};
use crate::error::Result;
use crate::pipeline::{FrameResult, Job, Pipeline};

/// Wakes the window when something arrived for it (`egui::Context::request_repaint`).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A frame ready to draw.
pub struct DisplayFrame {
    pub index: u64,
    pub captured_at: Instant,
    pub image: ColorImage,
}

/// What the source is doing, as the window shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceState {
    Opening,
    Live {
        width: i32,
        height: i32,
        fps: f64,
    },
    /// The source did not open or stopped delivering; it is opened again every so often.
    Retrying {
        reason: String,
    },
}

/// The threads of one source with one pipeline.
pub struct Session {
    pub source: Source,
    pub embedder_id: &'static str,
    /// Every frame the source delivers, for the display (the newest if the display lags).
    pub frames: Receiver<DisplayFrame>,
    /// One result per frame the detector/encoder thread processed.
    pub results: Receiver<FrameResult>,
    jobs: Sender<Job>,
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
        pipeline: Pipeline,
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
                let mut show = |frame: &Frame| match to_color_image(&frame.image) {
                    Ok(image) => {
                        let frame = DisplayFrame {
                            index: frame.index,
                            captured_at: frame.captured_at,
                            image,
                        };
                        capture::send_latest(&display_tx, &drain, frame, &dropped);
                        wake();
                    }
                    Err(e) => tracing::warn!("a frame could not be converted for display: {e}"),
                };
                keep_open(outlet, &source, retry, &mut show, &|s| {
                    set(&state, s);
                    wake();
                })
            }
        })?;
        let (jobs, job_rx) = crossbeam_channel::unbounded::<Job>();
        // Small: results are drained every display frame; a stalled window stalls the worker,
        // and the capture thread then drops frames instead of queueing them.
        let (results_tx, results) = crossbeam_channel::bounded::<FrameResult>(4);
        let embedder_id = pipeline.embedder_id();
        let worker = pipeline.spawn_worker(worker_frames, job_rx, results_tx, move || wake())?;
        Ok(Session {
            source,
            embedder_id,
            frames,
            results,
            jobs,
            state,
            display_dropped,
            capture: Some(capture),
            worker: Some(worker),
        })
    }

    pub fn state(&self) -> SourceState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or(SourceState::Opening)
    }

    /// Frames read from the source, and frames the detector/encoder thread had no time for.
    pub fn capture_counts(&self) -> (u64, u64) {
        self.capture.as_ref().map_or((0, 0), |c| {
            (
                c.stats.read.load(Ordering::Relaxed),
                c.stats.dropped.load(Ordering::Relaxed),
            )
        })
    }

    /// Queues `job` for the detector/encoder thread; false if that thread has ended.
    pub fn run(&self, job: Job) -> bool {
        self.jobs.send(job).is_ok()
    }

    /// The error that ended the detector/encoder thread, once it has ended.
    pub fn failure(&mut self) -> Option<String> {
        if !self.worker.as_ref().is_some_and(JoinHandle::is_finished) {
            return None;
        }
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => Some(e.to_string()),
            Some(Err(_)) => Some("the detector/encoder thread panicked".into()),
            _ => Some("the detector/encoder thread stopped".into()),
        }
    }
}

impl Drop for Session {
    /// OpenCV must not be called after `main` returns: both threads are joined here.
    fn drop(&mut self) {
        if let Some(capture) = self.capture.take()
            && let Err(e) = capture.stop()
        {
            tracing::warn!("capture: {e}");
        }
        // The capture thread held the only frame sender, so the worker's input has ended; and
        // with the results receiver gone, a worker blocked on a full channel wakes up too.
        drop(std::mem::replace(
            &mut self.results,
            crossbeam_channel::never(),
        ));
        if let Some(Ok(Err(e))) = self.worker.take().map(JoinHandle::join) {
            tracing::warn!("detector/encoder: {e}");
        }
    }
}

fn set(state: &Mutex<SourceState>, value: SourceState) {
    if let Ok(mut s) = state.lock() {
        *s = value;
    }
}

/// Reads `source` until the thread is asked to stop, opening it again whenever it fails or
/// ends. A file that ends opens again at once, so it loops; only a failure shows as retrying.
fn keep_open(
    outlet: &Outlet,
    source: &Source,
    retry: Duration,
    show: &mut dyn FnMut(&Frame),
    state: &dyn Fn(SourceState),
) -> Result<()> {
    let delivery = if source.is_live() {
        Delivery::Latest
    } else {
        Delivery::Paced
    };
    while !outlet.stopped() {
        let mut capture = match source.open() {
            Ok(capture) => capture,
            Err(e) => {
                state(SourceState::Retrying {
                    reason: e.to_string(),
                });
                outlet.sleep(retry);
                continue;
            }
        };
        let read_before = outlet.stats.read.load(Ordering::Relaxed);
        state(SourceState::Live {
            width: capture.get(videoio::CAP_PROP_FRAME_WIDTH).unwrap_or(0.0) as i32,
            height: capture.get(videoio::CAP_PROP_FRAME_HEIGHT).unwrap_or(0.0) as i32,
            fps: capture.get(videoio::CAP_PROP_FPS).unwrap_or(0.0),
        });
        let outcome = outlet.read(&mut capture, delivery, show);
        if outlet.stopped() {
            break;
        }
        let delivered = outlet.stats.read.load(Ordering::Relaxed) > read_before;
        let reason = match outcome {
            Err(e) => format!("{source} failed: {e}"),
            Ok(()) if source.is_live() || !delivered => {
                format!("{source} stopped delivering frames")
            }
            Ok(()) => continue,
        };
        tracing::warn!("{reason}; retrying");
        state(SourceState::Retrying { reason });
        outlet.sleep(retry);
    }
    Ok(())
}

/// A BGR frame as an image the window can draw.
pub fn to_color_image(bgr: &Mat) -> Result<ColorImage> {
    let mut rgba = Mat::default();
    imgproc::cvt_color_def(bgr, &mut rgba, imgproc::COLOR_BGR2RGBA)?;
    let size = [rgba.cols() as usize, rgba.rows() as usize];
    Ok(ColorImage::from_rgba_unmultiplied(size, rgba.data_bytes()?))
}

/// `bgr` shrunk to fit in `side` x `side` pixels, for thumbnails.
pub fn thumbnail(bgr: &Mat, side: i32) -> Result<ColorImage> {
    let scale = f64::from(side) / f64::from(bgr.cols().max(bgr.rows()).max(1));
    if scale >= 1.0 {
        return to_color_image(bgr);
    }
    let mut small = Mat::default();
    imgproc::resize(
        bgr,
        &mut small,
        Size::default(),
        scale,
        scale,
        imgproc::INTER_AREA,
    )?;
    to_color_image(&small)
}

/// Camera indexes 0..`up_to` that open, tried one after another (each try can take a while,
/// so call this away from the window's thread).
pub fn cameras(up_to: i32) -> Vec<i32> {
    (0..up_to)
        .filter(|&i| Source::Camera(i).open().is_ok())
        .collect()
}
