//! The capture thread: reads frames with OpenCV `VideoCapture` and hands them to the worker.
//!
//! A live source (camera, stream, or a file played in real time) uses latest-frame delivery: the
//! worker always gets the newest frame, and a frame it had no time for is dropped and counted,
//! never queued, so latency cannot grow. A file played as fast as possible delivers every frame,
//! which makes results reproducible.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use opencv::core::Mat;
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};

use crate::base::error::{Error, Result};
use crate::base::image::{self, RgbaImage};
use crate::vision::photo::{self, PhotoLimits};

/// The most pixels a video frame may have: twice 8K UHD (7680x4320). A frame is decoded by
/// OpenCV's FFmpeg, which has no such limit: an AVI whose MJPEG frames are 16000x16000 JPEGs
/// of 1 MB each took 2.7 GB to play. The size a source announces is checked as it opens,
/// before the first frame is read, and every frame's size as it is read, so that a source
/// whose frames grow is stopped at the first one too big.
pub const MAX_FRAME_PIXELS: u64 = 2 * 7680 * 4320;

/// Where frames come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Camera(i32),
    File(PathBuf),
    /// A printf-style image-sequence pattern such as `frames/%04d.png`.
    Sequence(String),
    Url(String),
}

impl FromStr for Source {
    type Err = Error;

    fn from_str(s: &str) -> Result<Source> {
        let s = s.trim();
        if s.is_empty() {
            return Err(Error::InvalidInput(
                "empty source: give a camera index, a video file, an image pattern or a URL".into(),
            ));
        }
        if let Ok(index) = s.parse::<i32>() {
            return Ok(Source::Camera(index));
        }
        if s.contains("://") {
            return Ok(Source::Url(s.to_owned()));
        }
        if s.contains('%') {
            return Ok(Source::Sequence(s.to_owned()));
        }
        Ok(Source::File(PathBuf::from(s)))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Camera(i) => write!(f, "camera {i}"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Sequence(p) | Source::Url(p) => write!(f, "{p}"),
        }
    }
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

impl Source {
    /// Cameras and streams run at their own pace and cannot be replayed.
    pub(crate) fn is_live(&self) -> bool {
        matches!(self, Source::Camera(_) | Source::Url(_))
    }

    /// Opens the source, or says why not. Never falls back to another camera: a wrong camera
    /// opened silently is worse than an error.
    pub fn open(&self) -> Result<Video> {
        let fail = |reason: String| Error::SourceOpen {
            source_desc: self.to_string(),
            reason,
        };
        let capture = match self {
            Source::Camera(index) => VideoCapture::new(*index, videoio::CAP_ANY)?,
            Source::File(path) => {
                if let Some(problem) = not_a_video_file(path) {
                    return Err(fail(problem));
                }
                VideoCapture::from_file(path, videoio::CAP_ANY)?
            }
            Source::Sequence(pattern) => VideoCapture::from_file(pattern, videoio::CAP_ANY)?,
            Source::Url(url) => VideoCapture::from_file(url, videoio::CAP_ANY)?,
        };
        // Some backends "open" a file they cannot decode (a text file, say) and then give no
        // frame at all; a frame size of 0 tells it first.
        let decodable = capture.is_opened()?
            && (matches!(self, Source::Camera(_) | Source::Url(_))
                || capture.get(videoio::CAP_PROP_FRAME_WIDTH).unwrap_or(0.0) > 0.0);
        if !decodable {
            return Err(fail(match self {
                Source::Camera(_) => "no camera with that index opened; list your cameras with `v4l2-ctl --list-devices`, \
                     or give a video file with --source"
                    .into(),
                Source::File(_) => "OpenCV cannot decode it as a video".into(),
                Source::Sequence(_) => "no image matches the pattern (numbering starts at 0 or 1)".into(),
                Source::Url(_) => "the stream did not open".into(),
            }));
        }
        let side = |property| capture.get(property).unwrap_or(0.0).max(0.0) as u64;
        if let Some(problem) = too_big(
            side(videoio::CAP_PROP_FRAME_WIDTH),
            side(videoio::CAP_PROP_FRAME_HEIGHT),
        ) {
            return Err(fail(problem));
        }
        let packets = if self.is_live() || !gives_jpeg(&capture)? {
            None
        } else {
            Some(self.jpeg_packets()?)
        };
        Ok(Video { capture, packets })
    }

    /// A second reader of this file that gives its JPEG frames undecoded (see [`Video`]).
    fn jpeg_packets(&self) -> Result<VideoCapture> {
        let mut packets = match self {
            Source::File(path) => VideoCapture::from_file(path, videoio::CAP_FFMPEG)?,
            _ => VideoCapture::from_file(self.to_string(), videoio::CAP_FFMPEG)?,
        };
        if !packets.is_opened()?
            || !packets.set(videoio::CAP_PROP_FORMAT, -1.0)?
            || packets.get(videoio::CAP_PROP_FORMAT)? != -1.0
        {
            return Err(Error::SourceOpen {
                source_desc: self.to_string(),
                reason: "FFmpeg does not give its JPEG frames undecoded, to check them first"
                    .into(),
            });
        }
        Ok(packets)
    }
}

/// Whether FFmpeg decodes `capture`'s frames as JPEGs: an MJPEG video, an image sequence of
/// JPEGs.
fn gives_jpeg(capture: &VideoCapture) -> Result<bool> {
    // The tags FFmpeg decodes with its MJPEG decoder (RIFF and QuickTime), and "mjpe", the
    // start of the codec's name, which OpenCV gives for a stream without a tag (an image
    // sequence of JPEGs).
    const MJPEG: [&[u8; 4]; 9] = [
        b"MJPG", b"MJPE", b"JPEG", b"AVRN", b"IJPG", b"AVDJ", b"DMB1", b"MJPA", b"CJPG",
    ];
    let fourcc = capture.get(videoio::CAP_PROP_FOURCC).unwrap_or(0.0) as u32;
    let codec = fourcc.to_le_bytes();
    Ok(capture.get_backend_name()? == "FFMPEG"
        && MJPEG.iter().any(|tag| codec.eq_ignore_ascii_case(*tag)))
}

/// An open source. FFmpeg's MJPEG decoder has no limit on a frame's scans (a frame of
/// 8000x8000 with 600 of them took seconds and a gigabyte), so the JPEG frames of a file are
/// read twice: undecoded by `packets`, whose bytes the photo door's JPEG decoder checks
/// (header, pixels, scans), and then decoded by `capture` as before, only once checked. A
/// second demuxer costs far less than a second decode: libjpeg's (OpenCV's imdecode) took 3
/// times FFmpeg's time for an ordinary 640x480 frame, zune-jpeg's 4 to 5 times (debug builds).
pub struct Video {
    capture: VideoCapture,
    packets: Option<VideoCapture>,
}

impl std::ops::Deref for Video {
    type Target = VideoCapture;

    fn deref(&self) -> &VideoCapture {
        &self.capture
    }
}

impl std::ops::DerefMut for Video {
    fn deref_mut(&mut self) -> &mut VideoCapture {
        &mut self.capture
    }
}

/// Why a frame of `width` x `height` is refused, if it is.
fn too_big(width: u64, height: u64) -> Option<String> {
    (width.saturating_mul(height) > MAX_FRAME_PIXELS).then(|| {
        format!(
            "its frames are {width}x{height}: too many pixels to decode safely, more than the \
             {MAX_FRAME_PIXELS} a video frame may have (twice 8K)"
        )
    })
}

/// Reads the next frame of a source opened by [`Source::open`] into `image`: false when the
/// source has no more. A frame larger than [`MAX_FRAME_PIXELS`] (a source whose frames grew
/// after it opened) ends the source with an error instead of being passed on.
pub fn read_frame(video: &mut Video, image: &mut Mat) -> Result<bool> {
    // The size its JPEG was checked as, when the frame is one.
    let mut checked = None;
    if let Some(packets) = &mut video.packets {
        let mut packet = Mat::default();
        if packets.read(&mut packet)? && !packet.empty() {
            let limits = PhotoLimits::default();
            checked = Some(image::check_jpeg_frame(
                packet.data_bytes()?,
                limits.max_pixels.min(MAX_FRAME_PIXELS),
                std::path::Path::new("a frame of the video"),
            )?);
        }
    }
    if !video.capture.read(image)? || image.empty() {
        return Ok(false);
    }
    let side = |n: i32| u32::try_from(n).unwrap_or(0);
    let size = (side(image.cols()), side(image.rows()));
    let problem = match checked {
        Some(checked) if checked != size => Some(format!(
            "a frame decoded as {}x{}, not the {}x{} its JPEG was checked as",
            size.0, size.1, checked.0, checked.1
        )),
        None if video.packets.is_some() => {
            Some("a frame was decoded that was not checked first".into())
        }
        _ => too_big(u64::from(size.0), u64::from(size.1)),
    };
    match problem {
        Some(reason) => {
            *image = Mat::default();
            Err(Error::InvalidInput(format!(
                "the video source changed: {reason}"
            )))
        }
        None => Ok(true),
    }
}

/// Why `path` cannot be a video file, if it cannot.
fn not_a_video_file(path: &std::path::Path) -> Option<String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some("no such file".into()),
        Err(e) => Some(format!("cannot read it: {e}")),
        Ok(meta) if meta.is_dir() => Some(
            "it is a folder, not a video file; for a folder of frames give a pattern such as \
             DIR/%04d.png"
                .into(),
        ),
        Ok(meta) if !meta.is_file() => Some(
            "it is not a regular file (a device or a pipe); give a video file, a camera index \
             or a URL"
                .into(),
        ),
        Ok(meta) if meta.len() == 0 => Some("the file is empty".into()),
        Ok(_) => {
            let head = head(path);
            if image::is_still_image(&head) {
                // OpenCV would decode a photo without limits: the photo door's decoders check
                // it first, within the default photo limits (a source opens without a config).
                let limits = PhotoLimits::default();
                let checked = photo::read_file(path, &limits)
                    .and_then(|bytes| image::check(&bytes, limits.max_pixels, path).map(|_| ()));
                checked.err().map(|e| e.report())
            } else {
                looks_like_text(&head).then(|| {
                    "it is a text file, not a video (FFmpeg would draw the text as frames)".into()
                })
            }
        }
    }
}

/// A file's first 4 KiB (fewer when it is shorter or cannot be read).
fn head(path: &std::path::Path) -> Vec<u8> {
    use std::io::Read as _;
    let mut head = Vec::with_capacity(4096);
    let read = crate::base::files::open_regular(path).and_then(|f| {
        f.take(4096)
            .read_to_end(&mut head)
            .map_err(|e| Error::read(path, e))
    });
    if read.is_err() {
        head.clear();
    }
    head
}

/// Whether a file's `head` is text: every video container has zero bytes in its first
/// kilobytes (box and chunk sizes), text has none.
fn looks_like_text(head: &[u8]) -> bool {
    !head.is_empty() && !head.contains(&0) && std::str::from_utf8(head).is_ok()
}

/// A frame as it left the source.
pub struct Frame {
    /// The source's own 0-based frame number.
    pub index: u64,
    /// The source's timestamp (milliseconds from its start).
    pub timestamp_ms: f64,
    /// When the capture thread read it: the start of capture-to-result latency.
    pub captured_at: Instant,
    /// How long reading (grabbing and decoding) it took.
    pub decode_ms: f64,
    pub image: Mat,
    /// The frame as a window draws it, when a window shows this source: it travels with the
    /// frame so that the window draws each result over the very frame it was computed for.
    pub picture: Option<Arc<RgbaImage>>,
}

/// How frames are handed to the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Wait for the worker: every frame is processed (files, reproducible runs).
    Every,
    /// Keep only the newest frame (a camera or stream, which paces itself).
    Latest,
    /// Play a file at its own frame rate, keeping only the newest frame, as a camera would.
    Paced,
}

impl Delivery {
    /// A live source paces itself; a file is paced like a camera when `realtime`, and otherwise
    /// read frame by frame.
    pub(crate) fn for_source(source: &Source, realtime: bool) -> Delivery {
        if source.is_live() {
            Delivery::Latest
        } else if realtime {
            Delivery::Paced
        } else {
            Delivery::Every
        }
    }
}

/// Counters the capture thread keeps; readable from any thread.
#[derive(Debug, Default)]
pub struct CaptureStats {
    pub read: AtomicU64,
    pub dropped: AtomicU64,
}

/// A running capture thread.
pub struct Capture {
    stop: Arc<AtomicBool>,
    pub stats: Arc<CaptureStats>,
    handle: Option<JoinHandle<Result<()>>>,
}

/// The capture thread's side of the channel to the worker.
pub(crate) struct Outlet {
    tx: Sender<Frame>,
    /// A receiver of the same channel, to replace a frame the worker has not taken yet.
    drain: Receiver<Frame>,
    stop: Arc<AtomicBool>,
    pub stats: Arc<CaptureStats>,
}

impl Capture {
    /// Starts reading `capture` in its own thread; frames go out on the returned receiver.
    pub fn spawn(mut capture: Video, delivery: Delivery) -> Result<(Capture, Receiver<Frame>)> {
        Self::spawn_with(move |outlet| outlet.read(&mut capture, delivery, &mut |_| None))
    }

    /// Starts a capture thread that runs `body`, which feeds the worker through the outlet.
    pub(crate) fn spawn_with(
        body: impl FnOnce(&Outlet) -> Result<()> + Send + 'static,
    ) -> Result<(Capture, Receiver<Frame>)> {
        let (tx, rx) = crossbeam_channel::bounded::<Frame>(1);
        let outlet = Outlet {
            tx,
            drain: rx.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(CaptureStats::default()),
        };
        let stop = outlet.stop.clone();
        let stats = outlet.stats.clone();
        let handle = std::thread::Builder::new()
            .name("capture".into())
            .spawn(move || body(&outlet))
            .map_err(|source| Error::Spawn {
                thread: "capture",
                source,
            })?;
        Ok((
            Capture {
                stop,
                stats,
                handle: Some(handle),
            },
            rx,
        ))
    }

    /// Stops the thread and waits for it, returning the error that ended it, if any.
    pub fn stop(mut self) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }

    fn join(&mut self) -> Result<()> {
        match self.handle.take() {
            Some(handle) => Error::joined("capture", handle.join()),
            None => Ok(()),
        }
    }
}

impl Drop for Capture {
    /// OpenCV must not be called after `main` returns, so the thread is always joined.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Err(e) = self.join() {
            tracing::warn!("capture: {}", e.report());
        }
    }
}

impl Outlet {
    /// Whether the thread was asked to stop.
    pub(crate) fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Waits `duration`, waking early when asked to stop.
    pub(crate) fn sleep(&self, duration: Duration) {
        let until = Instant::now() + duration;
        while !self.stopped() {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                return;
            };
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    /// Reads `capture` until it ends or the thread is asked to stop. Each frame is shown to
    /// `tap` (the window's display) before it goes to the worker, with the picture `tap` made
    /// of it.
    pub(crate) fn read(
        &self,
        capture: &mut Video,
        delivery: Delivery,
        tap: &mut dyn FnMut(&Frame) -> Option<Arc<RgbaImage>>,
    ) -> Result<()> {
        // A file that does not say its rate is played at a camera's usual 30 fps.
        let fps = Some(capture.get(videoio::CAP_PROP_FPS).unwrap_or(0.0))
            .filter(|fps| *fps > 0.0)
            .unwrap_or(30.0);
        let started = Instant::now();
        let mut index = 0u64;
        while !self.stopped() {
            if delivery == Delivery::Paced {
                // Read each frame when a camera would deliver it, so that latency is measured
                // from there and not from a frame that sat waiting for its turn.
                let due = started + Duration::from_secs_f64(index as f64 / fps);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            let mut image = Mat::default();
            let reading = Instant::now();
            if !read_frame(capture, &mut image)? {
                if !self.stopped() {
                    report_end(capture, delivery, index);
                }
                return Ok(());
            }
            let timestamp_ms = capture.get(videoio::CAP_PROP_POS_MSEC).unwrap_or(0.0);
            self.stats.read.fetch_add(1, Ordering::Relaxed);
            let mut frame = Frame {
                index,
                timestamp_ms,
                decode_ms: reading.elapsed().as_secs_f64() * 1000.0,
                captured_at: Instant::now(),
                image,
                picture: None,
            };
            index += 1;
            frame.picture = tap(&frame);
            match delivery {
                Delivery::Every => {
                    if !self.send_every(frame) {
                        return Ok(());
                    }
                }
                Delivery::Latest | Delivery::Paced => {
                    send_latest(&self.tx, &self.drain, frame, &self.stats.dropped);
                }
            }
        }
        Ok(())
    }

    /// Waits for the worker to take `frame`; false when stopped or the worker is gone.
    fn send_every(&self, frame: Frame) -> bool {
        // Wake up now and then to notice `stop` even if the worker is stuck.
        let mut pending = frame;
        loop {
            match self.tx.send_timeout(pending, Duration::from_millis(100)) {
                Ok(()) => return true,
                Err(crossbeam_channel::SendTimeoutError::Timeout(f)) if !self.stopped() => {
                    pending = f;
                }
                Err(_) => return false,
            }
        }
    }
}

/// Says how a source that ended on its own ended: a stream or camera that stops delivering
/// has stalled or closed, and a file that ends well before the frame count in its header is
/// probably cut short.
fn report_end(capture: &VideoCapture, delivery: Delivery, frames: u64) {
    let expected = capture.get(videoio::CAP_PROP_FRAME_COUNT).unwrap_or(0.0);
    if delivery == Delivery::Latest {
        tracing::warn!(
            frames,
            "the source stopped delivering frames: the stream stalled or was closed, or the camera was unplugged"
        );
    } else if expected > 0.0 && (frames as f64) < expected * 0.98 - 1.0 {
        tracing::warn!(
            "the video ended after {frames} of the {expected:.0} frames its header announces: the file may be truncated"
        );
    } else {
        tracing::debug!(frames, "source ended");
    }
}

/// Replaces an item the receiver has not taken yet with `item`, counting what was dropped. The
/// channel never disconnects (the sender's thread holds a receiver to drain it), so shutdown
/// goes through a stop flag.
pub(crate) fn send_latest<T>(tx: &Sender<T>, drain: &Receiver<T>, item: T, dropped: &AtomicU64) {
    if let Err(TrySendError::Full(item)) = tx.try_send(item) {
        if drain.try_recv().is_ok() {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
        // This thread is the only sender, so after the drain there is room.
        if tx.try_send(item).is_err() {
            dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Camera indexes 0..`up_to` that open, tried one after another (each try can take a while,
/// so call this away from a window's thread).
pub fn cameras(up_to: i32) -> Vec<i32> {
    (0..up_to)
        .filter(|&i| Source::Camera(i).open().is_ok())
        .collect()
}

/// Reads `source` until the thread is asked to stop, opening it again whenever it fails or
/// ends. A file that ends opens again at once, so it loops; only a failure shows as retrying,
/// and is logged once per reason until frames come again, not at every try.
/// The window's source, and the server's own cameras and demo.
pub(crate) fn keep_open(
    outlet: &Outlet,
    source: &Source,
    retry: Duration,
    show: &mut dyn FnMut(&Frame) -> Option<Arc<RgbaImage>>,
    state: &dyn Fn(SourceState),
) -> Result<()> {
    // A file loops at its own pace, as a camera would deliver it.
    let delivery = Delivery::for_source(source, true);
    // Why it is retrying, as last logged.
    let mut said: Option<String> = None;
    let retrying = |said: &mut Option<String>, reason: String| {
        if said.as_ref() != Some(&reason) {
            tracing::warn!(source = %source, "{reason}; opening it again every so often");
            *said = Some(reason.clone());
        }
        state(SourceState::Retrying { reason });
        outlet.sleep(retry);
    };
    while !outlet.stopped() {
        let mut capture = match source.open() {
            Ok(capture) => capture,
            Err(e) => {
                retrying(&mut said, e.report());
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
        if delivered {
            // It was back for a while: its next failure is news again.
            said = None;
        }
        let reason = match outcome {
            Err(e) => format!("{source} failed: {}", e.report()),
            Ok(()) if source.is_live() || !delivered => {
                format!("{source} stopped delivering frames")
            }
            Ok(()) => continue,
        };
        retrying(&mut said, reason);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_parse_by_shape() {
        assert_eq!("0".parse::<Source>().unwrap(), Source::Camera(0));
        assert_eq!(
            "clip.avi".parse::<Source>().unwrap(),
            Source::File("clip.avi".into())
        );
        assert_eq!(
            "f/%04d.png".parse::<Source>().unwrap(),
            Source::Sequence("f/%04d.png".into())
        );
        assert_eq!(
            "rtsp://h/s".parse::<Source>().unwrap(),
            Source::Url("rtsp://h/s".into())
        );
        assert!("  ".parse::<Source>().is_err());
    }

    #[test]
    fn frames_up_to_twice_8k_pass_and_larger_ones_are_refused_by_their_size() {
        assert_eq!(too_big(2 * 7680, 4320), None);
        assert_eq!(too_big(0, 0), None);
        let refused = too_big(16_000, 16_000).unwrap();
        assert!(refused.contains("16000x16000"), "{refused}");
        assert!(too_big(u64::MAX, 2).is_some());
    }

    fn frame(index: u64) -> Frame {
        Frame {
            index,
            timestamp_ms: 0.0,
            captured_at: Instant::now(),
            decode_ms: 0.0,
            image: Mat::default(),
            picture: None,
        }
    }

    #[test]
    fn latest_delivery_keeps_the_newest_frame_and_counts_the_dropped() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let stats = CaptureStats::default();
        for i in 0..5 {
            send_latest(&tx, &rx, frame(i), &stats.dropped);
        }
        assert_eq!(rx.try_recv().unwrap().index, 4);
        assert!(rx.try_recv().is_err());
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 4);
    }
}
