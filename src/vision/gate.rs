//! Where a live frame is worth the detector: a whole search costs ~25 ms (~110 ms with the far
//! pass at 640x480, see `detect::Search`), the same for an empty lobby as for a crowd. An empty scene that has hardly changed since the last detection
//! is skipped (though still looked at every `idle_detect_ms`, for a face that appears without
//! moving much, or under changing light). While faces are tracked, most frames only follow
//! them: each face the detector found is looked for again in a small region around where it
//! was (template matching on a small grey copy, a fraction of a millisecond), and the whole
//! frame is searched every `full_frame_every` frames, or as soon as something changes away
//! from the faces. (The SSD itself cannot search small regions cheaply: below ~260 px its
//! feature maps vanish, and it costs the same on any crop scaled to 300 x 300.)

use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;

use crate::base::error::Result;
use crate::base::geometry::FaceBox;
use crate::base::image::shrink;
use crate::vision::detect::{Detection, GateConfig};

/// The small grey copy on which change is measured, in cells of `CELL` pixels.
const SMALL: (i32, i32) = (64, 48);
const CELL: i32 = 8;
/// A frame in which at least this share of the cells changed since the frame before is a cut
/// (another camera, another scene): what was followed is gone...
const CUT_SHARE: f32 = 0.6;
/// ...when it comes within this long of the frame before (a camera's next frame, even at
/// 5 fps): in that time nobody moves enough to change most of the picture. Between frames
/// further apart (recognition on a loaded machine takes one every second or two) a face close
/// to the camera that moves changes most cells too; that is still the same scene, with the
/// same grey levels in other places, so only a frame whose levels changed too
/// (`CUT_TONES`) is a cut then.
const CONSECUTIVE_MS: f64 = 250.0;
/// The share of pixels of the small grey copy that must change brightness band (one of
/// `TONE_BANDS`) for far-apart frames to be a cut. Measured on the demo's scene
/// (tests/cost.rs): its faces moving for 1.3 s or 3 s change 36-42 of the 48 cells but only
/// 0.02-0.05 of the tones; its loop, another photo, or Biden where Obama was change 0.31-0.38.
const CUT_TONES: f32 = 0.15;
const TONE_BANDS: usize = 16;

/// What to do with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Nothing tracked and nothing changed: no detection; the frame has no faces.
    Skip,
    /// Follow the faces of the last search ([`Gate::follow`]).
    Follow,
    /// Search the whole frame, then tell the gate what was found ([`Gate::found`]).
    Whole,
}

/// A face of the last whole-frame search, as it is followed.
struct Followed {
    /// The face, grey, scaled by `scale`.
    template: Mat,
    scale: f64,
    /// Where it was last found, in frame pixels, and the detector's confidence then.
    last: Detection,
}

/// Faces followed are matched at about this width: enough to tell a face from the wall
/// behind it, small enough to cost nothing.
const TEMPLATE_PX: f64 = 24.0;
/// A face is still there when its template matches this well (normalised correlation).
const MIN_MATCH: f64 = 0.8;
/// The region a face is looked for in, in face widths around where it was.
const FOLLOW_REACH: f64 = 1.0;

/// Decides, frame by frame, where to detect.
pub struct Gate {
    config: GateConfig,
    /// The small grey copy of the frame last searched whole, to measure change against.
    reference: Option<Mat>,
    /// The small grey copy of the frame last planned: the next reference if it is searched.
    planned: Option<Mat>,
    /// Whether the frame last planned is a cut.
    cut: bool,
    /// Source time of the frame last planned.
    planned_at_ms: f64,
    /// Source time of the last whole-frame search, and frames since.
    searched_at_ms: f64,
    frames_since_search: u32,
    followed: Vec<Followed>,
}

impl Gate {
    pub fn new(config: GateConfig) -> Gate {
        Gate {
            config,
            reference: None,
            planned: None,
            cut: false,
            planned_at_ms: 0.0,
            searched_at_ms: 0.0,
            frames_since_search: 0,
            followed: Vec::new(),
        }
    }

    /// The plan for a BGR frame at source time `at_ms`, given the boxes of the faces tracked.
    pub fn plan(&mut self, bgr: &Mat, at_ms: f64, tracked: &[FaceBox]) -> Result<Plan> {
        if !self.config.enabled {
            return Ok(Plan::Whole);
        }
        let small = small_grey(bgr)?;
        // The frame before is the one last planned, or, if it was searched whole, the
        // reference it became.
        self.cut = match self.planned.as_ref().or(self.reference.as_ref()) {
            Some(before) => {
                let changed = changed_cells(before, &small, self.config.motion_threshold)?;
                let cells = (SMALL.0 / CELL) * (SMALL.1 / CELL);
                // A source that went back in time (a clip that loops) counts as consecutive.
                let consecutive = at_ms - self.planned_at_ms <= CONSECUTIVE_MS;
                changed.len() as f32 >= CUT_SHARE * cells as f32
                    && (consecutive || other_tones(before, &small)? >= CUT_TONES)
            }
            None => false,
        };
        self.planned_at_ms = at_ms;
        let Some(reference) = &self.reference else {
            self.planned = Some(small);
            return Ok(Plan::Whole);
        };
        if self.cut {
            self.planned = Some(small);
            self.followed.clear();
            return Ok(Plan::Whole);
        }
        let changed = changed_cells(reference, &small, self.config.motion_threshold)?;
        self.planned = Some(small);
        self.frames_since_search += 1;
        let scale = (
            f64::from(SMALL.0) / f64::from(bgr.cols().max(1)),
            f64::from(SMALL.1) / f64::from(bgr.rows().max(1)),
        );
        let outside = changed
            .iter()
            .any(|cell| !tracked.iter().any(|face| near(face, *cell, scale)));
        // Frames with no usable timestamp (some cameras) still get their periodic search.
        let idle_frames = self.config.idle_detect_ms.div_ceil(33).max(1);
        let due = at_ms - self.searched_at_ms >= f64::from(self.config.idle_detect_ms)
            || self.frames_since_search >= idle_frames;
        Ok(if tracked.is_empty() {
            if outside || due {
                Plan::Whole
            } else {
                Plan::Skip
            }
        } else if outside
            || self.followed.is_empty()
            || self.frames_since_search >= self.config.full_frame_every
        {
            Plan::Whole
        } else {
            Plan::Follow
        })
    }

    /// Whether the frame last planned is a cut: most of the picture changed since the frame
    /// before, so the faces in it are not the ones followed (never, with the gate disabled).
    pub fn cut(&self) -> bool {
        self.cut
    }

    /// Takes note of a whole-frame search of `bgr` (the frame last planned) at `at_ms` and of
    /// the faces it found, to measure change against and to follow them.
    pub fn found(&mut self, bgr: &Mat, at_ms: f64, faces: &[Detection]) -> Result<()> {
        if self.config.enabled {
            self.reference = match self.planned.take() {
                Some(small) => Some(small),
                None => Some(small_grey(bgr)?),
            };
        }
        self.searched_at_ms = at_ms;
        self.frames_since_search = 0;
        self.followed.clear();
        for face in faces {
            let scale = (TEMPLATE_PX / f64::from(face.bbox.width.max(1))).min(1.0);
            let template = grey_scaled(&Mat::roi(bgr, face.bbox.to_rect())?, scale)?;
            self.followed.push(Followed {
                template,
                scale,
                last: *face,
            });
        }
        Ok(())
    }

    /// The followed faces where they are in this frame, or `None` when one of them is not
    /// found near where it was (it moved fast, turned, or left): then the whole frame must be
    /// searched, so that following never loses a face a search would have found.
    pub fn follow(&mut self, bgr: &Mat) -> Result<Option<Vec<Detection>>> {
        let mut faces = Vec::new();
        for followed in &mut self.followed {
            match locate(bgr, followed)? {
                Some(moved) => {
                    followed.last = moved;
                    faces.push(moved);
                }
                None => return Ok(None),
            }
        }
        Ok(Some(faces))
    }
}

/// Where `followed` is in `bgr` now, near where it was; `None` when it no longer matches.
fn locate(bgr: &Mat, followed: &Followed) -> Result<Option<Detection>> {
    let face = followed.last.bbox;
    let reach = (f64::from(face.width) * FOLLOW_REACH).round() as i32;
    let Some(region) = FaceBox::new(
        face.x - reach,
        face.y - reach,
        face.width + 2 * reach,
        face.height + 2 * reach,
    )
    .within(bgr.cols(), bgr.rows()) else {
        return Ok(None);
    };
    let area = grey_scaled(&Mat::roi(bgr, region.to_rect())?, followed.scale)?;
    let template = &followed.template;
    if area.cols() < template.cols() || area.rows() < template.rows() {
        return Ok(None);
    }
    let mut scores = Mat::default();
    imgproc::match_template_def(&area, template, &mut scores, imgproc::TM_CCOEFF_NORMED)?;
    let (mut best, mut at) = (0.0, opencv::core::Point::default());
    opencv::core::min_max_loc(
        &scores,
        None,
        Some(&mut best),
        None,
        Some(&mut at),
        &opencv::core::no_array(),
    )?;
    // A flat area (a wall) correlates as NaN, which is no match either.
    if best.is_nan() || best < MIN_MATCH {
        return Ok(None);
    }
    let unscale = |v: i32| (f64::from(v) / followed.scale).round() as i32;
    Ok(FaceBox::new(
        region.x + unscale(at.x),
        region.y + unscale(at.y),
        face.width,
        face.height,
    )
    .within(bgr.cols(), bgr.rows())
    .map(|bbox| Detection {
        bbox,
        confidence: followed.last.confidence,
    }))
}

fn grey_scaled(bgr: &impl opencv::core::ToInputArray, scale: f64) -> Result<Mat> {
    to_grey(shrink(bgr, Size::default(), scale)?)
}

fn to_grey(image: Mat) -> Result<Mat> {
    if image.channels() == 1 {
        return Ok(image);
    }
    let mut grey = Mat::default();
    imgproc::cvt_color_def(&image, &mut grey, imgproc::COLOR_BGR2GRAY)?;
    Ok(grey)
}

fn small_grey(bgr: &Mat) -> Result<Mat> {
    to_grey(shrink(bgr, Size::new(SMALL.0, SMALL.1), 0.0)?)
}

/// The cells (column, row) whose mean grey level moved by more than `threshold`.
fn changed_cells(reference: &Mat, current: &Mat, threshold: f32) -> Result<Vec<(i32, i32)>> {
    let mut diff = Mat::default();
    opencv::core::absdiff(reference, current, &mut diff)?;
    let cells = shrink(&diff, Size::new(SMALL.0 / CELL, SMALL.1 / CELL), 0.0)?;
    let mut changed = Vec::new();
    for row in 0..cells.rows() {
        for col in 0..cells.cols() {
            if f32::from(*cells.at_2d::<u8>(row, col)?) > threshold {
                changed.push((col, row));
            }
        }
    }
    Ok(changed)
}

/// The share of pixels that would have to change brightness band for the two small grey copies
/// to have the same histogram: what a cut changes and motion within a scene hardly does.
fn other_tones(before: &Mat, now: &Mat) -> Result<f32> {
    let (a, b) = (tones(before)?, tones(now)?);
    let total: u32 = a.iter().sum();
    let moved: u32 = a.iter().zip(&b).map(|(x, y)| x.abs_diff(*y)).sum();
    let share = moved as f32 / 2.0 / total.max(1) as f32;
    Ok(share)
}

fn tones(grey: &Mat) -> Result<[u32; TONE_BANDS]> {
    let mut bands = [0u32; TONE_BANDS];
    for row in 0..grey.rows() {
        for level in grey.at_row::<u8>(row)? {
            bands[usize::from(*level) * TONE_BANDS / 256] += 1;
        }
    }
    Ok(bands)
}

/// Whether a changed cell is the tracked face's own doing: on it, or on the head, shoulders,
/// arms and body around and below it, which move with it.
fn near(face: &FaceBox, (col, row): (i32, i32), (sx, sy): (f64, f64)) -> bool {
    let x = (f64::from(face.x) * sx, f64::from(face.right()) * sx);
    let y = (f64::from(face.y) * sy, f64::from(face.bottom()) * sy);
    let (w, h) = (x.1 - x.0, y.1 - y.0);
    let cell_x = (f64::from(col * CELL), f64::from((col + 1) * CELL));
    let cell_y = (f64::from(row * CELL), f64::from((row + 1) * CELL));
    cell_x.1 > x.0 - 2.0 * w
        && cell_x.0 < x.1 + 2.0 * w
        && cell_y.1 > y.0 - 1.5 * h
        && cell_y.0 < y.1 + 4.0 * h
}

#[cfg(test)]
mod tests {
    use super::*;
    use opencv::core::{CV_8UC3, Rect, Scalar};

    fn frame(level: f64) -> Mat {
        Mat::new_rows_cols_with_default(480, 640, CV_8UC3, Scalar::all(level)).unwrap()
    }

    /// A frame with a "face": a light square with two dark eyes, so it has a pattern to follow.
    fn with_square(level: f64, x: i32, y: i32) -> Mat {
        let mut image = frame(level);
        for (rect, grey) in [
            (Rect::new(x, y, 80, 80), 250.0),
            (Rect::new(x + 15, y + 25, 15, 10), 20.0),
            (Rect::new(x + 50, y + 25, 15, 10), 20.0),
        ] {
            imgproc::rectangle(&mut image, rect, Scalar::all(grey), -1, imgproc::LINE_8, 0)
                .unwrap();
        }
        image
    }

    #[test]
    fn a_still_empty_scene_is_searched_only_now_and_then() {
        let mut gate = Gate::new(GateConfig::default());
        let plans: Vec<Plan> = (0..70)
            .map(|i| {
                let (image, at) = (frame(100.0), f64::from(i) * 33.3);
                let plan = gate.plan(&image, at, &[]).unwrap();
                if plan == Plan::Whole {
                    gate.found(&image, at, &[]).unwrap();
                }
                plan
            })
            .collect();
        let searched: Vec<usize> = (0..70).filter(|&i| plans[i] == Plan::Whole).collect();
        // The first frame, then every second.
        assert_eq!(searched, [0, 31, 62]);
    }

    /// Plans a frame and, when the plan is a whole search, reports `found` as its result.
    fn step(gate: &mut Gate, image: &Mat, at: f64, found: &[Detection]) -> Plan {
        let tracked: Vec<FaceBox> = found.iter().map(|f| f.bbox).collect();
        let plan = gate.plan(image, at, &tracked).unwrap();
        if plan == Plan::Whole {
            gate.found(image, at, found).unwrap();
        }
        plan
    }

    #[test]
    fn a_change_is_searched_at_once_and_slow_light_on_schedule() {
        let mut gate = Gate::new(GateConfig::default());
        assert_eq!(step(&mut gate, &frame(100.0), 0.0, &[]), Plan::Whole);
        assert_eq!(step(&mut gate, &frame(101.0), 33.0, &[]), Plan::Skip);
        let entering = with_square(100.0, 300, 200);
        assert_eq!(step(&mut gate, &entering, 66.0, &[]), Plan::Whole);
        // Light that drifts a level per frame is not motion; the periodic search still comes.
        let plans: Vec<Plan> = (0..20)
            .map(|i| {
                let image = with_square(100.0 + f64::from(i), 300, 200);
                step(&mut gate, &image, 100.0 + f64::from(i) * 33.0, &[])
            })
            .collect();
        assert!(plans[..3].iter().all(|p| *p == Plan::Skip), "{plans:?}");
        assert!(plans.contains(&Plan::Whole), "{plans:?}");
    }

    #[test]
    fn tracked_faces_are_followed_until_one_is_lost_or_something_moves_elsewhere() {
        let mut gate = Gate::new(GateConfig::default());
        let face = Detection {
            bbox: FaceBox::new(300, 200, 80, 80),
            confidence: 0.9,
        };
        let image = with_square(100.0, 300, 200);
        assert_eq!(step(&mut gate, &image, 0.0, &[face]), Plan::Whole);
        // The face moves a little: following it is enough, and finds where it went.
        let moved = with_square(100.0, 310, 204);
        assert_eq!(step(&mut gate, &moved, 33.0, &[face]), Plan::Follow);
        let followed = gate.follow(&moved).unwrap().unwrap();
        assert_eq!(followed.len(), 1);
        assert!(
            followed[0].bbox.iou(&FaceBox::new(310, 204, 80, 80)) > 0.8,
            "{followed:?}"
        );
        // A face that left is not followed into the wall: the frame must be searched.
        assert_eq!(gate.follow(&frame(100.0)).unwrap(), None);
        // Something appears far from it: the whole frame again.
        let mut elsewhere = with_square(100.0, 310, 204);
        imgproc::rectangle(
            &mut elsewhere,
            Rect::new(20, 20, 60, 60),
            Scalar::all(0.0),
            -1,
            imgproc::LINE_8,
            0,
        )
        .unwrap();
        assert_eq!(step(&mut gate, &elsewhere, 66.0, &[face]), Plan::Whole);
        // And every full_frame_every frames regardless.
        let plans: Vec<Plan> = (1..=10)
            .map(|i| step(&mut gate, &elsewhere, 66.0 + f64::from(i) * 33.0, &[face]))
            .collect();
        assert_eq!(
            plans.iter().filter(|p| **p == Plan::Whole).count(),
            1,
            "{plans:?}"
        );
        assert_eq!(plans[9], Plan::Whole);
    }

    #[test]
    fn a_cut_is_most_of_the_picture_changing_at_once() {
        let mut gate = Gate::new(GateConfig::default());
        let face = Detection {
            bbox: FaceBox::new(300, 200, 80, 80),
            confidence: 0.9,
        };
        step(&mut gate, &with_square(100.0, 300, 200), 0.0, &[face]);
        assert!(!gate.cut());
        // The face moves and the light dims a little: no cut, the face is followed.
        assert_eq!(
            step(&mut gate, &with_square(98.0, 304, 200), 33.0, &[face]),
            Plan::Follow
        );
        assert!(!gate.cut());
        // Another camera: the wall behind is another shade, the face elsewhere.
        let plan = step(&mut gate, &with_square(180.0, 100, 100), 66.0, &[face]);
        assert!(gate.cut());
        assert_eq!(plan, Plan::Whole, "nothing followed survives a cut");
        assert_eq!(
            step(&mut gate, &with_square(180.0, 100, 100), 99.0, &[face]),
            Plan::Follow
        );
        assert!(!gate.cut(), "the frame after is no cut");
    }
}
