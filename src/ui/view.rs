//! The live picture with a labelled box on every face.
//!
//! Results arrive a frame or two after the picture they belong to and not for every frame, so
//! each tracked face's box is eased towards where its face is heading instead of jumping from
//! result to result, and stays for a moment when one detection misses it instead of blinking.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use eframe::egui::{self, Color32, FontId, Pos2, Rect, Stroke, TextureHandle, Vec2};

use crate::base::image::RgbaImage;
use crate::runtime::session::DisplayFrame;
use crate::runtime::worker::FrameResult;
use crate::vision::pipeline::FaceResult;

/// A box not confirmed by a result for this long disappears.
const HOLD: Duration = Duration::from_millis(300);
/// How quickly a box closes in on its target (time constant).
const EASE: f32 = 0.06;
/// Motion is extrapolated at most this far ahead.
const LOOKAHEAD: f32 = 0.15;

pub const KNOWN: Color32 = Color32::from_rgb(46, 204, 113);
pub const UNKNOWN: Color32 = Color32::from_rgb(230, 126, 34);

struct Overlay {
    face: FaceResult,
    shown: [f32; 4],
    target: [f32; 4],
    /// Pixels per second of the box's top-left corner.
    velocity: [f32; 2],
    updated: Instant,
    /// When the frame of the result the box comes from was captured.
    from: Instant,
}

/// The picture and its boxes.
#[derive(Default)]
pub(crate) struct LiveView {
    texture: Option<TextureHandle>,
    size: [usize; 2],
    overlays: HashMap<u64, Overlay>,
    last_advance: Option<Instant>,
    /// When the frame shown was captured.
    frame_at: Option<Instant>,
}

impl LiveView {
    /// Shows `frame` from now on.
    pub(crate) fn set_frame(&mut self, ctx: &egui::Context, frame: &DisplayFrame) {
        let image = color_image(&frame.image);
        self.size = image.size;
        self.frame_at = Some(frame.captured_at);
        match &mut self.texture {
            Some(texture) => texture.set(image, egui::TextureOptions::LINEAR),
            None => {
                self.texture = Some(ctx.load_texture("live", image, egui::TextureOptions::LINEAR));
            }
        }
    }

    pub(crate) fn has_frame(&self) -> bool {
        self.texture.is_some()
    }

    /// Takes the faces of a new result. A box held for a face this result lacks ends at once
    /// after a cut, or when a face of this result overlaps it: that place shows someone else.
    pub(crate) fn set_result(&mut self, result: &FrameResult, now: Instant) {
        let key_of = |i: usize, face: &FaceResult| face.track.unwrap_or(u64::MAX - i as u64);
        let keys: Vec<u64> = result
            .faces
            .iter()
            .enumerate()
            .map(|(i, f)| key_of(i, f))
            .collect();
        self.overlays.retain(|key, o| {
            keys.contains(key)
                || !(result.cut
                    || result
                        .faces
                        .iter()
                        .any(|f| f.detection.bbox.iou(&o.face.detection.bbox) > 0.0))
        });
        for (i, face) in result.faces.iter().enumerate() {
            // Untracked faces (not from a live run) get a key per position in the frame.
            let key = key_of(i, face);
            let rect = <[i32; 4]>::from(face.detection.bbox).map(|v| v as f32);
            match self.overlays.get_mut(&key) {
                Some(o) => {
                    let dt = now.duration_since(o.updated).as_secs_f32().max(1e-3);
                    o.velocity = [(rect[0] - o.target[0]) / dt, (rect[1] - o.target[1]) / dt];
                    o.target = rect;
                    o.face = face.clone();
                    o.updated = now;
                    o.from = result.captured_at;
                }
                None => {
                    self.overlays.insert(
                        key,
                        Overlay {
                            face: face.clone(),
                            shown: rect,
                            target: rect,
                            velocity: [0.0; 2],
                            updated: now,
                            from: result.captured_at,
                        },
                    );
                }
            }
        }
    }

    /// Moves every box a step towards where its face is heading.
    pub(crate) fn advance(&mut self, now: Instant) {
        let dt = self
            .last_advance
            .map_or(0.0, |t| now.duration_since(t).as_secs_f32());
        self.last_advance = Some(now);
        let k = 1.0 - (-dt / EASE).exp();
        self.overlays
            .retain(|_, o| now.duration_since(o.updated) < HOLD);
        for o in self.overlays.values_mut() {
            let ahead = now.duration_since(o.updated).as_secs_f32().min(LOOKAHEAD);
            let mut goal = o.target;
            goal[0] += o.velocity[0] * ahead;
            goal[1] += o.velocity[1] * ahead;
            for (shown, goal) in o.shown.iter_mut().zip(goal) {
                *shown += (goal - *shown) * k;
            }
        }
    }

    /// When the frame shown was captured, and when the frame of each box's result was.
    pub(crate) fn drawn(&self) -> Option<(Instant, Vec<Instant>)> {
        let frame = self.frame_at?;
        Some((frame, self.overlays.values().map(|o| o.from).collect()))
    }

    /// The faces in view now, left to right.
    pub(crate) fn faces(&self) -> Vec<&FaceResult> {
        let mut faces: Vec<&Overlay> = self.overlays.values().collect();
        faces.sort_by(|a, b| a.shown[0].total_cmp(&b.shown[0]));
        faces.into_iter().map(|o| &o.face).collect()
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
        for o in self.overlays.values() {
            let [x, y, bw, bh] = o.shown;
            let x = if mirror { w - x - bw } else { x };
            let rect =
                Rect::from_min_size(picture.min + Vec2::new(x, y) * fit, Vec2::new(bw, bh) * fit);
            let (colour, text) = describe(&o.face);
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
    let distance = face
        .identity
        .distance
        .map(|d| format!("  {d:.2}"))
        .unwrap_or_default();
    match &face.identity.name {
        Some(name) => (KNOWN, format!("{name}{distance}")),
        None => (UNKNOWN, format!("? unknown{distance}")),
    }
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

    fn result(faces: Vec<FaceResult>, cut: bool) -> FrameResult {
        FrameResult {
            frame: 0,
            timestamp_ms: 0.0,
            faces,
            timings_ms: StageTimes::default(),
            embedded: 0,
            searched: Searched::Whole,
            cut,
            latency_ms: 0.0,
            captured_at: Instant::now(),
        }
    }

    fn tracks(view: &LiveView) -> Vec<u64> {
        let mut keys: Vec<u64> = view.overlays.keys().copied().collect();
        keys.sort_unstable();
        keys
    }

    #[test]
    fn a_box_missed_once_is_held_but_not_after_a_cut() {
        let now = Instant::now();
        let mut view = LiveView::default();
        view.set_result(&result(vec![face(1, 100)], false), now);
        view.set_result(&result(vec![], false), now);
        view.advance(now + Duration::from_millis(100));
        assert_eq!(tracks(&view), [1], "a missed detection does not blink");
        view.advance(now + HOLD);
        assert!(tracks(&view).is_empty(), "then it goes");

        view.set_result(&result(vec![face(2, 100)], false), now);
        view.set_result(&result(vec![face(3, 400)], true), now);
        assert_eq!(
            tracks(&view),
            [3],
            "after a cut the old face's box goes at once"
        );
    }

    #[test]
    fn a_held_box_ends_when_another_face_takes_its_place() {
        let now = Instant::now();
        let mut view = LiveView::default();
        view.set_result(&result(vec![face(1, 100), face(2, 400)], false), now);
        // Track 1's place now shows track 5; track 2 was missed this once.
        view.set_result(&result(vec![face(5, 110)], false), now);
        assert_eq!(tracks(&view), [2, 5]);
    }
}
