//! How well the detector finds faces, for each way of searching a frame ([`Search`]): recall
//! and false detections on labelled boxes (dlib's imglab XML, e.g. dlib's own
//! `examples/faces`), recall by face size on a clip of far faces made from real photos, and the
//! time a whole-frame search takes at common frame sizes.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use opencv::core::Mat;
use opencv::prelude::*;
use quick_xml::events::{BytesStart, Event};
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::files::read_text_limited;
use crate::base::geometry::FaceBox;
use crate::base::stats::{Spread, cpu_seconds, ms_since};
use crate::demo::synth::{Actor, ClipSpec};
use crate::models::ModelPaths;
use crate::vision::detect::{Detection, Detector, DetectorConfig, Search};
use crate::vision::photo;

/// dlib's labelled faces, in the same source tarball as the `johns` set.
pub const FACES_PREFIX: &str = "dlib-19.24+dfsg/examples/faces";
/// Its two box lists, in that folder.
pub const FACES_XML: [&str; 2] = ["training.xml", "testing.xml"];

/// When a detection finds a labelled face. dlib's boxes are tight around eyes, nose and mouth;
/// the SSD's take in forehead and chin, so IoU alone would turn good detections into misses.
pub const CRITERION: &str = "a labelled face is found when an unused detection contains its \
centre and is between half and twice its width; a detection that finds no face (nor a face \
labelled ignore) is a false detection";

/// One photo of a box list and its labelled faces.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledPhoto {
    pub path: PathBuf,
    pub faces: Vec<FaceBox>,
    /// Faces labelled `ignore`: finding them is no hit, and no false detection either.
    pub ignored: Vec<FaceBox>,
}

/// The photos and boxes of an imglab XML file; photo paths are relative to the file's folder.
pub fn read_labelled(xml: &Path) -> Result<Vec<LabelledPhoto>> {
    let text = read_text_limited(xml, 256 << 20, "a labels file is at most 256 MiB")?;
    let bad = |message: String| Error::LabelledFaces {
        path: xml.to_path_buf(),
        message,
    };
    let folder = xml.parent().unwrap_or(Path::new("."));
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut photos: Vec<LabelledPhoto> = Vec::new();
    loop {
        let event = reader.read_event().map_err(|e| {
            bad(format!(
                "XML error at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        let tag = match &event {
            Event::Start(tag) | Event::Empty(tag) => tag,
            Event::Eof => break,
            _ => continue,
        };
        match tag.name().as_ref() {
            b"image" => {
                let file = attribute(tag, "file")
                    .map_err(&bad)?
                    .ok_or_else(|| bad("an <image> has no file attribute".into()))?;
                photos.push(LabelledPhoto {
                    path: folder.join(&*file),
                    faces: Vec::new(),
                    ignored: Vec::new(),
                });
            }
            b"box" => {
                let photo = photos
                    .last_mut()
                    .ok_or_else(|| bad("a <box> outside any <image>".into()))?;
                let (face, ignore) = labelled_box(tag).map_err(&bad)?;
                if ignore {
                    photo.ignored.push(face);
                } else {
                    photo.faces.push(face);
                }
            }
            _ => {}
        }
    }
    if photos.is_empty() {
        return Err(bad("it has no <image> element".into()));
    }
    Ok(photos)
}

fn attribute<'a>(tag: &'a BytesStart<'_>, name: &str) -> Result<Option<Cow<'a, str>>, String> {
    for attribute in tag.attributes() {
        let attribute = attribute.map_err(|e| e.to_string())?;
        if attribute.key.as_ref() == name.as_bytes() {
            return attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map(Some)
                .map_err(|e| e.to_string());
        }
    }
    Ok(None)
}

/// A `<box top left width height [ignore]/>`.
fn labelled_box(tag: &BytesStart<'_>) -> Result<(FaceBox, bool), String> {
    let number = |name: &str| -> Result<i32, String> {
        let value =
            attribute(tag, name)?.ok_or_else(|| format!("a <box> has no {name} attribute"))?;
        value
            .trim()
            .parse()
            .map_err(|_| format!("a <box> has {name}={value:?}, not a whole number of pixels"))
    };
    let face = FaceBox::new(
        number("left")?,
        number("top")?,
        number("width")?,
        number("height")?,
    );
    if face.width <= 0 || face.height <= 0 {
        return Err(format!("a <box> has no area: {face:?}"));
    }
    let ignore = attribute(tag, "ignore")?.is_some_and(|v| v.trim() == "1");
    Ok((face, ignore))
}

/// Faces found of faces labelled, and detections that were no labelled face.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Recall {
    pub found: usize,
    pub faces: usize,
    pub false_detections: usize,
}

impl Recall {
    fn add(&mut self, other: Recall) {
        self.found += other.found;
        self.faces += other.faces;
        self.false_detections += other.false_detections;
    }
}

/// Whether `detection` finds the face labelled `truth` ([`CRITERION`]).
pub fn finds(detection: &FaceBox, truth: &FaceBox) -> bool {
    let (cx, cy) = (truth.x * 2 + truth.width, truth.y * 2 + truth.height);
    let inside = (detection.x * 2..=detection.right() * 2).contains(&cx)
        && (detection.y * 2..=detection.bottom() * 2).contains(&cy);
    inside && detection.width * 2 >= truth.width && detection.width <= truth.width * 2
}

/// The detections of one image matched to its labelled faces, nearest centres first.
struct Matched {
    /// Per labelled face, whether a detection found it.
    found: Vec<bool>,
    false_detections: usize,
}

fn match_faces(faces: &[FaceBox], ignored: &[FaceBox], detections: &[Detection]) -> Matched {
    let mut used = vec![false; detections.len()];
    let found = faces
        .iter()
        .map(|face| {
            let nearest = detections
                .iter()
                .enumerate()
                .filter(|(i, d)| !used[*i] && finds(&d.bbox, face))
                .min_by_key(|(_, d)| centre_distance(&d.bbox, face))
                .map(|(i, _)| i);
            if let Some(i) = nearest {
                used[i] = true;
            }
            nearest.is_some()
        })
        .collect();
    let false_detections = detections
        .iter()
        .zip(&used)
        .filter(|(d, used)| !**used && !ignored.iter().any(|face| finds(&d.bbox, face)))
        .count();
    Matched {
        found,
        false_detections,
    }
}

fn centre_distance(a: &FaceBox, b: &FaceBox) -> i64 {
    let dx = i64::from(a.x * 2 + a.width - b.x * 2 - b.width);
    let dy = i64::from(a.y * 2 + a.height - b.y * 2 - b.height);
    dx * dx + dy * dy
}

/// Recall and false detections of `detector` on labelled photos.
pub fn labelled_recall(detector: &mut Detector, photos: &[LabelledPhoto]) -> Result<Recall> {
    let mut total = Recall::default();
    for labelled in photos {
        let image = photo::load(&labelled.path)?;
        let detections = detector.detect(&image)?;
        let matched = match_faces(&labelled.faces, &labelled.ignored, &detections);
        total.add(Recall {
            found: matched.found.iter().filter(|f| **f).count(),
            faces: labelled.faces.len(),
            false_detections: matched.false_detections,
        });
    }
    Ok(total)
}

/// Face widths of the far-face clip, in pixels of a 360 px tall frame (they scale with the
/// frame's height), and how many people are on screen at each: 8 segments of far faces, then
/// nearer ones, to see that a mode for far faces still finds a face close to the camera.
const SEGMENTS: [(f32, usize); 12] = [
    (21.0, 4),
    (24.0, 4),
    (26.0, 4),
    (28.5, 4),
    (31.0, 4),
    (34.0, 4),
    (37.0, 4),
    (45.0, 4),
    (60.0, 3),
    (90.0, 2),
    (140.0, 1),
    (200.0, 1),
];
const FRAMES_PER_SEGMENT: u32 = 6;

/// Face-width bands recall is reported in, in pixels of the frame (`min..max`).
pub const BANDS: [(i32, i32); 5] = [(20, 25), (25, 30), (30, 40), (40, 80), (80, i32::MAX)];

/// A clip of real photos whose faces are known: each actor's face box as fractions of its
/// photo, placed where [`ClipSpec::placement`] puts the photo.
pub struct FaceClip {
    pub spec: ClipSpec,
    /// Per actor: left, top, width, height of its face, as fractions of its photo.
    faces: Vec<[f32; 4]>,
}

impl FaceClip {
    /// People from `photos` at the widths of [`SEGMENTS`], a few at a time, drifting slowly,
    /// in a `width` x `height` frame. Each photo's face is found once, on the photo itself, by
    /// `detector` (a tight crop is looked at with a margin, as enrollment does).
    pub fn far_faces(
        photos: &[PathBuf],
        detector: &mut Detector,
        width: i32,
        height: i32,
    ) -> Result<FaceClip> {
        let mut people = Vec::new();
        for path in photos {
            let image = photo::load(path)?;
            if let Some(face) = face_on_photo(detector, &image)? {
                people.push((image, face));
            }
        }
        if people.is_empty() {
            return Err(Error::InvalidInput(
                "no face found on any photo to build the far-face clip from".into(),
            ));
        }
        let (mut actors, mut faces) = (Vec::new(), Vec::new());
        for (segment, &(face_px, count)) in SEGMENTS.iter().enumerate() {
            let start = segment as u32 * FRAMES_PER_SEGMENT;
            for slot in 0..count {
                let (image, face) = &people[(segment * 4 + slot) % people.len()];
                let aspect = image.cols() as f32 / image.rows() as f32;
                let x = (slot as f32 + 0.5) / count as f32;
                let y = 0.5 + 0.12 * ((segment + slot) % 3) as f32 - 0.12;
                actors.push(Actor {
                    photo: image.clone(),
                    from: (x - 0.015, y),
                    to: (x + 0.015, y),
                    height: face_px / (face[2] * aspect) / 360.0,
                    frames: start..start + FRAMES_PER_SEGMENT,
                });
                faces.push(*face);
            }
        }
        Ok(FaceClip {
            spec: ClipSpec {
                width,
                height,
                fps: 25.0,
                light: (1.0, 1.0),
                frames: SEGMENTS.len() as u32 * FRAMES_PER_SEGMENT,
                actors,
            },
            faces,
        })
    }

    /// The faces on screen in frame `index`, in frame pixels.
    pub fn faces_in(&self, index: u32) -> Vec<FaceBox> {
        self.spec
            .actors
            .iter()
            .zip(&self.faces)
            .filter_map(|(actor, [x, y, w, h])| {
                let at = self.spec.placement(actor, index)?;
                let scale = |v: f32, size: i32| (v * size as f32).round() as i32;
                Some(FaceBox::new(
                    at.x + scale(*x, at.width),
                    at.y + scale(*y, at.height),
                    scale(*w, at.width),
                    scale(*h, at.height),
                ))
            })
            .collect()
    }
}

/// The largest face of a photo as fractions of it, looked for again with a margin on a tight
/// crop.
fn face_on_photo(detector: &mut Detector, image: &Mat) -> Result<Option<[f32; 4]>> {
    let faces = detector.detect(image)?;
    let (image, faces, margin) = if photo::is_tight_crop(image, &faces) {
        let padded = photo::pad_for_detection(image)?;
        let faces = detector.detect(&padded)?;
        let margin = (
            (padded.cols() - image.cols()) / 2,
            (padded.rows() - image.rows()) / 2,
        );
        (image, faces, margin)
    } else {
        (image, faces, (0, 0))
    };
    Ok(Detection::largest(&faces).map(|face| {
        let (cols, rows) = (image.cols() as f32, image.rows() as f32);
        [
            (face.bbox.x - margin.0) as f32 / cols,
            (face.bbox.y - margin.1) as f32 / rows,
            face.bbox.width as f32 / cols,
            face.bbox.height as f32 / rows,
        ]
    }))
}

/// What one way of searching did on a clip of known faces.
#[derive(Debug, Clone, Serialize)]
pub struct ClipRecall {
    pub width: i32,
    pub height: i32,
    /// Per band of [`BANDS`].
    pub bands: Vec<Recall>,
    /// Detections that were no face of the clip.
    pub false_detections: usize,
    /// Median time of a whole-frame search: the median, because on a shared machine a few
    /// searches wait for the cores.
    pub ms_per_frame: f64,
    /// CPU time of a whole-frame search, all threads, on average (10 ms ticks over the clip;
    /// `None` where the OS does not say): what it costs whether or not the cores were busy.
    pub cpu_ms_per_frame: Option<f64>,
}

/// Recall by face width, false detections and time per frame of `detector` on `clip`.
pub fn clip_recall(detector: &mut Detector, clip: &FaceClip) -> Result<ClipRecall> {
    // Rendered first, so that the CPU time counted is the detector's alone.
    let frames = (0..clip.spec.frames)
        .map(|index| clip.spec.render(index))
        .collect::<Result<Vec<_>>>()?;
    let (mut detections, mut wall) = (Vec::new(), Vec::new());
    let cpu_before = cpu_seconds();
    for frame in &frames {
        let start = Instant::now();
        detections.push(detector.detect(frame)?);
        wall.push(ms_since(start));
    }
    let cpu_ms = cpu_before
        .zip(cpu_seconds())
        .map(|(before, after)| (after - before) * 1000.0 / frames.len().max(1) as f64);
    let mut bands = vec![Recall::default(); BANDS.len()];
    let mut false_detections = 0;
    for (index, detections) in (0..).zip(&detections) {
        let faces = clip.faces_in(index);
        let matched = match_faces(&faces, &[], detections);
        false_detections += matched.false_detections;
        for (face, found) in faces.iter().zip(matched.found) {
            if let Some(band) = BANDS
                .iter()
                .position(|(min, max)| (*min..*max).contains(&face.width))
            {
                bands[band].add(Recall {
                    found: usize::from(found),
                    faces: 1,
                    false_detections: 0,
                });
            }
        }
    }
    Ok(ClipRecall {
        width: clip.spec.width,
        height: clip.spec.height,
        bands,
        false_detections,
        ms_per_frame: Spread::of(&mut wall).median,
        cpu_ms_per_frame: cpu_ms,
    })
}

/// Frame sizes the far-face clip is rendered at: the concert recording, the usual
/// webcam, and HD.
pub const CLIP_SIZES: [(i32, i32); 3] = [(640, 360), (640, 480), (1280, 720)];

/// Everything measured for one way of searching.
#[derive(Debug, Clone, Serialize)]
pub struct SearchFigures {
    pub search: Search,
    /// Per box list, in the order given.
    pub labelled: Vec<Recall>,
    /// Per size of [`CLIP_SIZES`].
    pub clips: Vec<ClipRecall>,
}

/// Measures each of `searches` on the box lists `labelled` and on the far-face clip made from
/// `clip_photos` at every size of [`CLIP_SIZES`].
pub fn measure(
    config: &DetectorConfig,
    paths: &ModelPaths,
    searches: &[Search],
    labelled: &[Vec<LabelledPhoto>],
    clip_photos: &[PathBuf],
) -> Result<Vec<SearchFigures>> {
    let load = |search: Search| {
        let config = DetectorConfig {
            search,
            ..config.clone()
        };
        Detector::load(&paths.ssd_prototxt, &paths.ssd_weights, &config)
    };
    // The truth is the standard search's box on each whole photo, where the face is large.
    let mut truth = load(Search::Standard)?;
    let clips = CLIP_SIZES
        .iter()
        .map(|&(width, height)| FaceClip::far_faces(clip_photos, &mut truth, width, height))
        .collect::<Result<Vec<_>>>()?;
    searches
        .iter()
        .map(|&search| {
            let mut detector = load(search)?;
            // The first inference sets up the network's buffers: not part of the figures.
            detector.detect(&clips[0].spec.render(0)?)?;
            Ok(SearchFigures {
                search,
                labelled: labelled
                    .iter()
                    .map(|photos| labelled_recall(&mut detector, photos))
                    .collect::<Result<_>>()?,
                clips: clips
                    .iter()
                    .map(|clip| clip_recall(&mut detector, clip))
                    .collect::<Result<_>>()?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(x: i32, y: i32, size: i32) -> Detection {
        Detection {
            bbox: FaceBox::new(x, y, size, size),
            confidence: 0.9,
        }
    }

    #[test]
    fn a_detection_finds_one_face_and_one_on_an_ignored_face_is_no_false_detection() {
        // The SSD's box is looser than dlib's: it still finds the face it surrounds.
        let faces = [
            FaceBox::new(110, 110, 30, 30),
            FaceBox::new(120, 115, 30, 30),
        ];
        let ignored = [FaceBox::new(400, 100, 40, 40)];
        let detections = [
            detection(100, 95, 55),
            detection(395, 90, 55),
            detection(600, 300, 50),
            // Over four times the face's width: no finding it.
            detection(50, 50, 150),
        ];
        let matched = match_faces(&faces, &ignored, &detections);
        assert_eq!(matched.found, [true, false]);
        assert_eq!(matched.false_detections, 2);
    }
}
