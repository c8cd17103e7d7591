//! The live picture with a labelled box on every face.
//!
//! A result arrives a little after the frame it was computed for, and recognition skips frames
//! it has no time for. Drawn over a later frame, a result puts boxes where the faces were, not
//! where they are: beside a face that moved, and after a cut over empty background or someone
//! else. So a result comes with its own frame, and the window shows that frame with exactly
//! that result's boxes; frames recognition skipped are not shown. The picture is then as
//! current as recognition, at its rate, however slow a loaded machine makes it. Only when
//! recognition falls silent (a long command, a stalled worker) is the newest frame shown,
//! without boxes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, FontId, Pos2, Rect, Stroke, TextureHandle, Vec2};

use crate::base::image::RgbaImage;
use crate::runtime::session::DisplayFrame;
use crate::runtime::worker::FrameResult;
use crate::vision::matcher::KNOWN_RGB;
use crate::vision::pipeline::FaceResult;

/// When no result has come for this long while frames do, the newest is shown without boxes.
/// On a loaded machine recognition can take a second or more for a frame (2.9 s p95 measured
/// with both cores of two busy, debug build): that is shown slow, not without boxes.
const STALL: Duration = Duration::from_secs(2);

pub const KNOWN: Color32 = rgb(KNOWN_RGB);

const fn rgb([r, g, b]: [u8; 3]) -> Color32 {
    Color32::from_rgb(r, g, b)
}

/// Results taken and not shown yet, at most. Recognition often answers twice within a few
/// milliseconds (a quick follow right after a slow whole search): each gets a pass of its own
/// instead of the first never being seen.
const QUEUED: usize = 2;

/// The frame on screen and the faces drawn over it.
struct Shown {
    /// When the frame was captured.
    captured_at: Instant,
    /// Its own result's faces; none when it is shown without its result.
    faces: Vec<FaceResult>,
}

/// A result with its frame, waiting for the next pass.
struct Queued {
    captured_at: Instant,
    picture: Arc<RgbaImage>,
    faces: Vec<FaceResult>,
}

/// The picture and its boxes.
#[derive(Default)]
pub(crate) struct LiveView {
    texture: Option<TextureHandle>,
    size: [usize; 2],
    shown: Option<Shown>,
    queued: VecDeque<Queued>,
    /// The newest frame received after the one shown: shown should recognition fall silent.
    newest: Option<DisplayFrame>,
    /// Since when frames came and no result did.
    silent_since: Option<Instant>,
}

impl LiveView {
    /// Keeps `frame` in case recognition falls silent; its result brings it again.
    pub(crate) fn take_frame(&mut self, frame: DisplayFrame) {
        if self
            .shown
            .as_ref()
            .is_some_and(|s| frame.captured_at <= s.captured_at)
        {
            return;
        }
        self.silent_since.get_or_insert(frame.captured_at);
        self.newest = Some(frame);
    }

    /// Queues `result`, with its frame, for the next pass (a result without its frame is
    /// never drawn).
    pub(crate) fn take_result(&mut self, result: &FrameResult, now: Instant) {
        self.silent_since = self.newest.as_ref().map(|_| now);
        let Some(picture) = &result.picture else {
            return;
        };
        if self.queued.len() == QUEUED {
            self.queued.pop_front();
        }
        self.queued.push_back(Queued {
            captured_at: result.captured_at,
            picture: picture.clone(),
            faces: result.faces.clone(),
        });
    }

    /// Shows the oldest result queued over its own frame; or, when frames came and no result
    /// did for `STALL`, the newest frame without boxes. Says whether it showed a frame.
    pub(crate) fn present(&mut self, ctx: &egui::Context, now: Instant) -> bool {
        while let Some(result) = self.queued.pop_front() {
            if self
                .shown
                .as_ref()
                .is_some_and(|s| result.captured_at <= s.captured_at)
            {
                continue;
            }
            self.show_frame(ctx, &result.picture, result.captured_at, result.faces);
            if self
                .newest
                .as_ref()
                .is_some_and(|f| f.captured_at <= result.captured_at)
            {
                self.newest = None;
                self.silent_since = None;
            }
            return true;
        }
        if self
            .silent_since
            .is_none_or(|t| now.saturating_duration_since(t) < STALL)
        {
            return false;
        }
        self.silent_since = None;
        let Some(frame) = self.newest.take() else {
            return false;
        };
        self.show_frame(ctx, &frame.image, frame.captured_at, Vec::new());
        true
    }

    fn show_frame(
        &mut self,
        ctx: &egui::Context,
        picture: &Arc<RgbaImage>,
        captured_at: Instant,
        faces: Vec<FaceResult>,
    ) {
        let image = color_image(picture);
        self.size = image.size;
        match &mut self.texture {
            Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
            None => {
                self.texture = Some(ctx.load_texture("live", image, egui::TextureOptions::LINEAR));
            }
        }
        self.shown = Some(Shown { captured_at, faces });
    }

    /// When to draw again without being woken: at once for a result queued, after `STALL`
    /// for a frame that waits in case no result comes.
    pub(crate) fn next_pass(&self) -> Option<Duration> {
        if self.queued.is_empty() {
            self.newest.as_ref().map(|_| STALL)
        } else {
            Some(Duration::ZERO)
        }
    }

    pub(crate) fn has_frame(&self) -> bool {
        self.texture.is_some()
    }

    /// When the frame shown was captured, and when the frame of each box's result was (the
    /// same: only a frame's own result is drawn over it).
    pub(crate) fn drawn(&self) -> Option<(Instant, Vec<Instant>)> {
        let shown = self.shown.as_ref()?;
        Some((
            shown.captured_at,
            vec![shown.captured_at; shown.faces.len()],
        ))
    }

    /// The faces in view now, left to right.
    pub(crate) fn faces(&self) -> Vec<&FaceResult> {
        let mut faces: Vec<&FaceResult> = self.shown.iter().flat_map(|s| &s.faces).collect();
        faces.sort_by_key(|f| f.detection.bbox.x);
        faces
    }

    /// Draws the picture, fitted to the space, with the boxes. `scale` enlarges labels.
    pub(crate) fn show(&self, ui: &mut egui::Ui, mirror: bool, scale: f32) {
        let Some(texture) = &self.texture else {
            return;
        };
        let available = ui.available_size();
        let (w, h) = (self.size[0] as f32, self.size[1] as f32);
        let fit = (available.x / w).min(available.y / h).max(0.01);
        let (response, painter) = ui.allocate_painter(available, egui::Sense::hover());
        let picture = Rect::from_center_size(response.rect.center(), Vec2::new(w, h) * fit);
        let uv = if mirror {
            Rect::from_min_max(Pos2::new(1.0, 0.0), Pos2::new(0.0, 1.0))
        } else {
            Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0))
        };
        painter.image(texture.id(), picture, uv, Color32::WHITE);
        let font = FontId::proportional(15.0 * scale);
        for face in self.shown.iter().flat_map(|s| &s.faces) {
            let [x, y, bw, bh] = <[i32; 4]>::from(face.detection.bbox).map(|v| v as f32);
            let x = if mirror { w - x - bw } else { x };
            let rect =
                Rect::from_min_size(picture.min + Vec2::new(x, y) * fit, Vec2::new(bw, bh) * fit);
            let (colour, text) = describe(face);
            painter.rect_stroke(
                rect,
                2.0,
                Stroke::new(3.0, colour),
                egui::StrokeKind::Outside,
            );
            let galley = painter.layout_no_wrap(text, font.clone(), Color32::BLACK);
            let pad = Vec2::new(4.0, 2.0) * scale;
            let mut tag = Rect::from_min_size(
                rect.left_top() - Vec2::new(0.0, galley.size().y + 2.0 * pad.y + 3.0),
                galley.size() + 2.0 * pad,
            );
            if tag.min.y < picture.min.y {
                tag = tag.translate(Vec2::new(0.0, rect.height() + tag.height() + 6.0));
            }
            painter.rect_filled(tag, 2.0, colour);
            painter.galley(tag.min + pad, galley, Color32::BLACK);
        }
    }
}

/// The box colour and label of a face: known and unknown differ in text, not colour alone.
pub fn describe(face: &FaceResult) -> (Color32, String) {
    (rgb(face.identity.colour()), face.identity.tag())
}

/// Pixels from another thread as an image egui can draw.
pub(crate) fn color_image(image: &RgbaImage) -> egui::ColorImage {
    egui::ColorImage::from_rgba_unmultiplied([image.width, image.height], &image.pixels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::geometry::FaceBox;
    use crate::vision::detect::Detection;
    use crate::vision::matcher::Identity;
    use crate::vision::pipeline::{Searched, StageTimes};

    fn face(track: u64, x: i32) -> FaceResult {
        let detection = Detection {
            bbox: FaceBox::new(x, 100, 80, 80),
            confidence: 0.9,
        };
        FaceResult::new(detection, Some(track), Identity::unknown())
    }

    fn at(start: Instant, n: u64) -> Instant {
        start + Duration::from_millis(33 * n)
    }

    fn picture(n: u64) -> Arc<RgbaImage> {
        Arc::new(RgbaImage {
            width: 4,
            height: 3,
            pixels: vec![n as u8; 4 * 3 * 4],
        })
    }

    /// The `n`th frame of a camera delivering 30 frames a second from `start`.
    fn frame(start: Instant, n: u64) -> DisplayFrame {
        DisplayFrame {
            index: n,
            captured_at: at(start, n),
            image: picture(n),
        }
    }

    /// The result of frame `n`, with the frame.
    fn result(start: Instant, n: u64, faces: Vec<FaceResult>, cut: bool) -> FrameResult {
        FrameResult {
            frame: n,
            timestamp_ms: 0.0,
            faces,
            timings_ms: StageTimes::default(),
            embedded: 0,
            searched: Searched::Whole,
            cut,
            latency_ms: 0.0,
            captured_at: at(start, n),
            picture: Some(picture(n)),
        }
    }

    /// The frame shown (by its number) and the tracks boxed over it.
    fn on_screen(view: &LiveView, start: Instant) -> Option<(u64, Vec<u64>)> {
        let shown = view.shown.as_ref()?;
        let n = shown.captured_at.duration_since(start).as_millis() as u64 / 33;
        let tracks = view.faces().iter().filter_map(|f| f.track).collect();
        Some((n, tracks))
    }

    /// A pass of the window at `now` that takes `result`: whether it showed a frame.
    fn pass(view: &mut LiveView, ctx: &egui::Context, result: &FrameResult, now: Instant) -> bool {
        view.take_result(result, now);
        view.present(ctx, now)
    }

    #[test]
    fn a_frame_is_shown_with_its_own_result_and_never_with_an_older_one() {
        let ctx = egui::Context::default();
        let start = Instant::now();
        let mut view = LiveView::default();
        view.take_frame(frame(start, 0));
        view.take_frame(frame(start, 1));
        assert!(!view.present(&ctx, at(start, 1)));
        assert_eq!(on_screen(&view, start), None, "no frame before its result");
        let first = result(start, 0, vec![face(1, 100)], false);
        assert!(pass(&mut view, &ctx, &first, at(start, 1)));
        assert_eq!(on_screen(&view, start), Some((0, vec![1])));
        // Frame 1 is a cut to someone else; until its result comes, frame 0 stays with its
        // own box (the old view drew track 1's box over frame 1 here).
        view.take_frame(frame(start, 2));
        assert!(!view.present(&ctx, at(start, 2)));
        assert_eq!(on_screen(&view, start), Some((0, vec![1])));
        let cut = result(start, 1, vec![face(7, 400)], true);
        assert!(pass(&mut view, &ctx, &cut, at(start, 2)));
        assert_eq!(
            on_screen(&view, start),
            Some((1, vec![7])),
            "the new face is boxed on the first frame whose result has it, the old box is gone"
        );
        let one = at(start, 1);
        assert_eq!(view.drawn(), Some((one, vec![one])));
    }

    #[test]
    fn results_that_come_together_are_shown_one_pass_each_and_skipped_frames_never() {
        let ctx = egui::Context::default();
        let start = Instant::now();
        let mut view = LiveView::default();
        for n in 0..6 {
            view.take_frame(frame(start, n));
        }
        // Recognition skipped frames 0-2 and answered for 3 and 4 at once.
        view.take_result(
            &result(start, 3, vec![face(1, 100), face(2, 300)], false),
            at(start, 6),
        );
        view.take_result(&result(start, 4, vec![face(1, 104)], false), at(start, 6));
        assert_eq!(view.next_pass(), Some(Duration::ZERO));
        assert!(view.present(&ctx, at(start, 6)));
        assert_eq!(on_screen(&view, start), Some((3, vec![1, 2])));
        assert!(view.present(&ctx, at(start, 6)));
        assert_eq!(on_screen(&view, start), Some((4, vec![1])));
        assert_eq!(
            view.next_pass(),
            Some(STALL),
            "frame 5 waits for its result"
        );
        // A frame older than the one shown, or a result without its frame, is not drawn.
        let mut blind = result(start, 5, vec![face(1, 120)], false);
        blind.picture = None;
        assert!(!pass(&mut view, &ctx, &blind, at(start, 7)));
        view.take_frame(frame(start, 2));
        assert_eq!(on_screen(&view, start), Some((4, vec![1])));
    }

    #[test]
    fn when_recognition_falls_silent_the_newest_frame_is_shown_without_boxes() {
        let ctx = egui::Context::default();
        let start = Instant::now();
        let mut view = LiveView::default();
        view.take_frame(frame(start, 0));
        assert!(pass(
            &mut view,
            &ctx,
            &result(start, 0, vec![face(1, 100)], false),
            at(start, 1)
        ));
        view.take_frame(frame(start, 1));
        view.take_frame(frame(start, 2));
        assert!(!view.present(&ctx, at(start, 1) + STALL / 2));
        assert_eq!(on_screen(&view, start), Some((0, vec![1])));
        assert!(view.present(&ctx, at(start, 1) + STALL));
        assert_eq!(on_screen(&view, start), Some((2, vec![])));
        assert_eq!(view.next_pass(), None);
        // A late result for a frame before the one shown does not take the picture back.
        let late = result(start, 1, vec![face(1, 110)], false);
        assert!(!pass(&mut view, &ctx, &late, at(start, 1) + STALL));
        assert_eq!(on_screen(&view, start), Some((2, vec![])));
    }
}
