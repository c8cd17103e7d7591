//! The console's live video: each of the server's own sources as JPEG frames with the faces'
//! boxes and names drawn as the window draws them, for `multipart/x-mixed-replace` (MJPEG) to a
//! plain `img`, which needs no script.
//!
//! A frame is kept only while someone watches, and drawn and encoded at most `serve.live_fps`
//! a second per camera, once for every viewer; viewers are counted and bounded by `serve.live_viewers`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use opencv::core::{Mat, Point, Rect, Scalar, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};
use tokio::sync::watch;

use crate::base::error::Result;
use crate::base::image::RgbaImage;
use crate::runtime::capture::Frame;
use crate::runtime::headless::Tap;
use crate::vision::pipeline::FaceResult;

/// JPEG quality of the frames sent: the names stay sharp at a third of the bytes of 95.
const JPEG_QUALITY: i32 = 80;

/// Every camera's newest drawn frame, and who watches.
pub(crate) struct Video {
    cameras: Vec<Camera>,
    viewers: AtomicUsize,
    max_viewers: usize,
    interval: Duration,
    started: Instant,
}

struct Camera {
    frames: watch::Sender<Option<Bytes>>,
    /// When the last frame was drawn, in ms from `started`, to hold the frame rate.
    last_ms: AtomicU64,
}

/// A viewer's place, given back when the stream ends (the browser left).
pub(crate) struct Seat {
    video: Arc<Video>,
}

impl Drop for Seat {
    fn drop(&mut self) {
        self.video.viewers.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Video {
    pub(crate) fn new(cameras: usize, max_viewers: usize, fps: f32) -> Video {
        Video {
            cameras: (0..cameras)
                .map(|_| Camera {
                    frames: watch::channel(None).0,
                    last_ms: AtomicU64::new(0),
                })
                .collect(),
            viewers: AtomicUsize::new(0),
            max_viewers,
            interval: Duration::from_secs_f32(1.0 / fps),
            started: Instant::now(),
        }
    }

    /// A seat for one more viewer, or `None` when `serve.live_viewers` are watching.
    pub(crate) fn sit(self: &Arc<Self>) -> Option<Seat> {
        self.viewers
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max_viewers).then_some(n + 1)
            })
            .ok()
            .map(|_| Seat {
                video: self.clone(),
            })
    }

    /// The frames of camera `index` as they are drawn, or `None` for no such camera.
    pub(crate) fn watch(&self, index: usize) -> Option<watch::Receiver<Option<Bytes>>> {
        self.cameras.get(index).map(|c| c.frames.subscribe())
    }

    pub(crate) fn max_viewers(&self) -> usize {
        self.max_viewers
    }

    /// What keeps a picture of each of camera `index`'s frames while someone watches: the
    /// frame rate is held when drawing, since only the frames recognition processes come back
    /// with their faces.
    pub(crate) fn tap(self: &Arc<Self>, index: usize) -> Tap {
        let video = self.clone();
        Tap(Arc::new(move |frame: &Frame| {
            if index >= video.cameras.len() || video.viewers.load(Ordering::Relaxed) == 0 {
                return None;
            }
            match RgbaImage::from_bgr(&frame.image) {
                Ok(picture) => Some(Arc::new(picture)),
                Err(e) => {
                    tracing::warn!("a live frame could not be kept: {}", e.report());
                    None
                }
            }
        }))
    }

    /// Draws `faces` over `picture` (the frame they were found in) and sends it to camera
    /// `index`'s viewers.
    pub(crate) fn publish(&self, index: usize, picture: &RgbaImage, faces: &[FaceResult]) {
        let Some(camera) = self.cameras.get(index) else {
            return;
        };
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = camera.last_ms.load(Ordering::Relaxed);
        let interval = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
        if last != 0 && now.saturating_sub(last) < interval {
            return;
        }
        camera.last_ms.store(now.max(1), Ordering::Relaxed);
        match drawn(picture, faces) {
            Ok(jpeg) => {
                camera.frames.send_replace(Some(Bytes::from(jpeg)));
            }
            Err(e) => tracing::warn!("a live frame could not be drawn: {}", e.report()),
        }
    }
}

/// `picture` with a box and a tag on each face, as a JPEG.
fn drawn(picture: &RgbaImage, faces: &[FaceResult]) -> Result<Vec<u8>> {
    let rows = i32::try_from(picture.height).unwrap_or(i32::MAX);
    let rgba = Mat::new_rows_cols_with_data(
        rows,
        4 * i32::try_from(picture.width).unwrap_or(i32::MAX),
        &picture.pixels,
    )?;
    let rgba = rgba.reshape(4, rows)?;
    let mut bgr = Mat::default();
    imgproc::cvt_color_def(&rgba, &mut bgr, imgproc::COLOR_RGBA2BGR)?;
    let font = imgproc::FONT_HERSHEY_SIMPLEX;
    let scale = (f64::from(bgr.cols()) / 900.0).max(0.5);
    for face in faces {
        let [x, y, w, h] = <[i32; 4]>::from(face.detection.bbox);
        let [r, g, b] = face.identity.colour();
        let colour = Scalar::new(f64::from(b), f64::from(g), f64::from(r), 0.0);
        imgproc::rectangle(
            &mut bgr,
            Rect::new(x, y, w, h),
            colour,
            3,
            imgproc::LINE_8,
            0,
        )?;
        let tag = face.identity.tag();
        let mut baseline = 0;
        let size = imgproc::get_text_size(&tag, font, scale, 1, &mut baseline)?;
        let pad = 4;
        let height = size.height + baseline + 2 * pad;
        // Above the box, or below it when the box touches the top, as in the window.
        let top = if y - height - 3 >= 0 {
            y - height - 3
        } else {
            y + h + 3
        };
        // Kept inside the picture when the face is at its right edge.
        let left = (x - 3).min(bgr.cols() - size.width - 2 * pad).max(0);
        imgproc::rectangle(
            &mut bgr,
            Rect::new(left, top, size.width + 2 * pad, height),
            colour,
            imgproc::FILLED,
            imgproc::LINE_8,
            0,
        )?;
        imgproc::put_text(
            &mut bgr,
            &tag,
            Point::new(left + pad, top + pad + size.height),
            font,
            scale,
            Scalar::all(0.0),
            1,
            imgproc::LINE_AA,
            false,
        )?;
    }
    let mut jpeg = Vector::<u8>::new();
    let params = Vector::from_slice(&[imgcodecs::IMWRITE_JPEG_QUALITY, JPEG_QUALITY]);
    imgcodecs::imencode(".jpg", &bgr, &mut jpeg, &params)?;
    Ok(jpeg.to_vec())
}
