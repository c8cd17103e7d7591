//! Builds video clips from still photos, for the built-in demo and for tests: no webcam is
//! needed to drive the real `VideoCapture` path.

use std::ops::Range;
use std::path::Path;

use opencv::core::{Mat, Rect, Scalar, Size};
use opencv::imgproc;
use opencv::prelude::*;
use opencv::videoio::VideoWriter;

use crate::base::error::{Error, Result};

/// A photo that moves across the clip.
pub struct Actor {
    pub photo: Mat,
    /// Centre of the photo in the first and last frame, as fractions of the frame size.
    pub from: (f32, f32),
    pub to: (f32, f32),
    /// Height of the photo as a fraction of the frame height.
    pub height: f32,
    /// The frames in which the actor is on screen.
    pub frames: Range<u32>,
}

/// A clip: size, rate, length and the photos in it.
pub struct ClipSpec {
    pub width: i32,
    pub height: i32,
    pub fps: f64,
    /// Brightness of the first and the last frame (1.0: as the photos are), changing evenly
    /// in between: light that fades or comes up.
    pub light: (f64, f64),
    pub frames: u32,
    pub actors: Vec<Actor>,
}

impl ClipSpec {
    /// Frame `index` of the clip, BGR.
    pub fn render(&self, index: u32) -> Result<Mat> {
        let mut frame = Mat::new_rows_cols_with_default(
            self.height,
            self.width,
            opencv::core::CV_8UC3,
            Scalar::new(70.0, 62.0, 56.0, 0.0),
        )?;
        for actor in &self.actors {
            let Some(at) = self.placement(actor, index) else {
                continue;
            };
            let mut scaled = Mat::default();
            imgproc::resize(
                &actor.photo,
                &mut scaled,
                Size::new(at.width, at.height),
                0.0,
                0.0,
                imgproc::INTER_AREA,
            )?;
            paste(&mut frame, &scaled, at.x, at.y)?;
        }
        let t = f64::from(index) / f64::from(self.frames.saturating_sub(1).max(1));
        let gain = self.light.0 + (self.light.1 - self.light.0) * t;
        if (gain - 1.0).abs() > f64::EPSILON {
            let mut lit = Mat::default();
            frame.convert_to(&mut lit, -1, gain, 0.0)?;
            frame = lit;
        }
        Ok(frame)
    }

    /// Where `actor`'s photo is in frame `index`, in frame pixels (it may reach past the
    /// frame's edges, which cut it); `None` when the actor is off screen then.
    pub fn placement(&self, actor: &Actor, index: u32) -> Option<Rect> {
        if !actor.frames.contains(&index) {
            return None;
        }
        let span = (actor.frames.end - actor.frames.start)
            .saturating_sub(1)
            .max(1) as f32;
        let t = (index - actor.frames.start) as f32 / span;
        let cx = (actor.from.0 + (actor.to.0 - actor.from.0) * t) * self.width as f32;
        let cy = (actor.from.1 + (actor.to.1 - actor.from.1) * t) * self.height as f32;
        let h = (actor.height * self.height as f32).round().max(1.0) as i32;
        let w = ((h as f32) * actor.photo.cols() as f32 / actor.photo.rows() as f32)
            .round()
            .max(1.0) as i32;
        Some(Rect::new(
            cx.round() as i32 - w / 2,
            cy.round() as i32 - h / 2,
            w,
            h,
        ))
    }

    /// Writes the clip as a MJPG `.avi` (or mp4v `.mp4`, by extension) that `VideoCapture` reads.
    pub fn write_video(&self, path: &Path) -> Result<()> {
        self.write_video_with(path, |_, _| Ok(()))
    }

    /// Writes the clip as [`ClipSpec::write_video`] does, after `touch` changed each frame (by
    /// index) as a real camera would: noise, shake.
    pub fn write_video_with(
        &self,
        path: &Path,
        mut touch: impl FnMut(u32, &mut Mat) -> Result<()>,
    ) -> Result<()> {
        let fourcc = if path.extension().is_some_and(|e| e == "mp4") {
            VideoWriter::fourcc('m', 'p', '4', 'v')?
        } else {
            VideoWriter::fourcc('M', 'J', 'P', 'G')?
        };
        let mut writer = VideoWriter::new(
            path,
            fourcc,
            self.fps,
            Size::new(self.width, self.height),
            true,
        )?;
        if !writer.is_opened()? {
            return Err(Error::write(
                path,
                std::io::Error::other("OpenCV cannot open a video writer for it"),
            ));
        }
        for i in 0..self.frames {
            let mut frame = self.render(i)?;
            touch(i, &mut frame)?;
            writer.write(&frame)?;
        }
        writer.release()?;
        Ok(())
    }

    /// Writes the clip as `dir/%04d.png` frames numbered from 0; returns the pattern.
    pub fn write_sequence(&self, dir: &Path) -> Result<String> {
        std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
        for i in 0..self.frames {
            let path = dir.join(format!("{i:04}.png"));
            opencv::imgcodecs::imwrite(&path, &self.render(i)?, &opencv::core::Vector::new())?;
        }
        Ok(dir.join("%04d.png").to_string_lossy().into_owned())
    }
}

/// Copies `image` onto `frame` with its top-left at (x, y), cutting what falls outside.
fn paste(frame: &mut Mat, image: &Mat, x: i32, y: i32) -> Result<()> {
    let target =
        Rect::new(x, y, image.cols(), image.rows()) & Rect::new(0, 0, frame.cols(), frame.rows());
    if target.width <= 0 || target.height <= 0 {
        return Ok(());
    }
    let source = Rect::new(target.x - x, target.y - y, target.width, target.height);
    let part = image.roi(source)?;
    let mut dest = frame.roi_mut(target)?;
    part.copy_to(&mut dest)?;
    Ok(())
}
