//! How recognition holds up on video (`whoisit eval --video`): every frame of a clip through the
//! live pipeline (gate, tracker, detector/encoder), or through a camera agent and a recognition
//! worker on Redis, scored against a truth file that says who is in view frame by frame; and a
//! sample clip with its truth file made from the johns set.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use opencv::core::{Mat, Scalar};
use opencv::prelude::*;
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::files::read_text_limited;
use crate::config::Config;
use crate::demo::synth::{Actor, ClipSpec};
use crate::enroll::{self, DatasetReport};
use crate::gallery;
use crate::measure::eval;
#[cfg(feature = "streams")]
use crate::measure::streams::{Crew, private_streams};
use crate::models::fetch::Progress;
use crate::runtime::capture::Source;
use crate::runtime::headless::{self, RunOptions};
use crate::runtime::worker::{FrameResult, Worker};
#[cfg(feature = "streams")]
use crate::stream::agent::Agent;
#[cfg(feature = "streams")]
use crate::stream::link::Link;
#[cfg(feature = "streams")]
use crate::stream::worker::StreamWorker;
use crate::vision::photo;
use crate::vision::pipeline::Pipeline;

/// The word a truth file uses for a stretch in which nobody enrolled is in view.
pub const NOBODY: &str = "nobody";

/// Who should be named in a stretch of frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expected {
    Person(String),
    /// Only strangers (or no face at all): any name shown is a false accept.
    Nobody,
}

/// A stretch of frames, first and last included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub first: u64,
    pub last: u64,
    pub expected: Expected,
}

/// A truth file is a line per segment of a clip: megabytes would be absurd.
const MAX_TRUTH_BYTES: u64 = 16 << 20;

/// A truth file: per line `FIRST-LAST NAME` or `FIRST-LAST nobody` (frames counted from 0,
/// both ends included), `#` starts a comment. Frames no line covers are not scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    pub segments: Vec<Segment>,
}

impl Truth {
    pub fn read(path: &Path) -> Result<Truth> {
        let text = read_text_limited(path, MAX_TRUTH_BYTES, "a truth file is at most 16 MiB")?;
        Truth::parse(&text, path)
    }

    pub fn parse(text: &str, origin: &Path) -> Result<Truth> {
        let mut segments: Vec<Segment> = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let bad = |why: &str| {
                Error::InvalidInput(format!(
                    "{} line {}: {why}; expected `FIRST-LAST NAME` or `FIRST-LAST {NOBODY}`, \
                     e.g. `0-89 Ada King`",
                    origin.display(),
                    n + 1
                ))
            };
            let (range, who) = line
                .split_once(char::is_whitespace)
                .ok_or_else(|| bad("no name after the frames"))?;
            let (first, last) = range
                .split_once('-')
                .ok_or_else(|| bad("the frames are not a range"))?;
            let number = |s: &str| {
                s.trim()
                    .parse::<u64>()
                    .map_err(|_| bad(&format!("{s:?} is not a frame number")))
            };
            let (first, last) = (number(first)?, number(last)?);
            if last < first {
                return Err(bad("the range ends before it starts"));
            }
            if let Some(before) = segments.iter().find(|s| s.first <= last && first <= s.last) {
                return Err(bad(&format!(
                    "frames {first}-{last} overlap {}-{}",
                    before.first, before.last
                )));
            }
            let who = who.trim();
            segments.push(Segment {
                first,
                last,
                expected: if who == NOBODY {
                    Expected::Nobody
                } else {
                    Expected::Person(who.to_owned())
                },
            });
        }
        if segments.is_empty() {
            return Err(Error::InvalidInput(format!(
                "{} has no segments; expected lines like `0-89 Ada King` or `90-119 {NOBODY}`",
                origin.display()
            )));
        }
        segments.sort_by_key(|s| s.first);
        Ok(Truth { segments })
    }

    /// The lines of a truth file for these segments.
    pub fn to_text(&self) -> String {
        self.segments
            .iter()
            .map(|s| {
                let who = match &s.expected {
                    Expected::Person(name) => name.as_str(),
                    Expected::Nobody => NOBODY,
                };
                format!("{}-{} {who}\n", s.first, s.last)
            })
            .collect()
    }
}

/// How one segment went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentScore {
    #[serde(flatten)]
    pub segment: Segment,
    /// Frames of the segment the clip had (a clip shorter than its truth file has fewer).
    pub frames: u64,
    /// Frames on which at least one face was shown.
    pub with_face: u64,
    /// Frames on which a face was labelled with the expected name.
    pub named_right: u64,
    /// Frames on which a face was labelled with another enrolled person's name (for a
    /// segment of strangers: with any name).
    pub false_accepts: u64,
    /// Frames from the segment's first frame to the first one named right; `None` when it
    /// never was (or nobody was to be named).
    pub frames_to_name: Option<u64>,
    /// Faces followed in the segment (tracks): each starts unnamed until its first answer
    /// through a camera agent, one more frame per track than in one process.
    pub tracks: usize,
    #[serde(skip)]
    track_ids: BTreeSet<u64>,
}

impl SegmentScore {
    fn new(segment: Segment) -> SegmentScore {
        SegmentScore {
            segment,
            frames: 0,
            with_face: 0,
            named_right: 0,
            false_accepts: 0,
            frames_to_name: None,
            tracks: 0,
            track_ids: BTreeSet::new(),
        }
    }

    fn observe(&mut self, frame: &FrameResult) {
        self.frames += 1;
        if frame.faces.is_empty() {
            return;
        }
        self.with_face += 1;
        self.track_ids
            .extend(frame.faces.iter().filter_map(|f| f.track));
        self.tracks = self.track_ids.len();
        let names = frame
            .faces
            .iter()
            .filter_map(|f| f.identity.name.as_deref());
        let expected = match &self.segment.expected {
            Expected::Person(name) => Some(name.as_str()),
            Expected::Nobody => None,
        };
        let (mut right, mut wrong) = (false, false);
        for name in names {
            if Some(name) == expected {
                right = true;
            } else {
                wrong = true;
            }
        }
        if right {
            self.named_right += 1;
            if self.frames_to_name.is_none() {
                self.frames_to_name = Some(frame.frame - self.segment.first);
            }
        }
        if wrong {
            self.false_accepts += 1;
        }
    }
}

/// The segments of one kind added up.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub segments: usize,
    pub frames: u64,
    pub with_face: u64,
    pub named_right: u64,
    pub false_accepts: u64,
    /// Segments of an enrolled person that were never named right.
    pub never_named: usize,
    /// Mean over the segments named at all.
    pub mean_frames_to_name: Option<f64>,
    /// Median over the segments of enrolled people, one never named counting as longer than
    /// any (so `None` when half of them or more never were); the mean of the middle two for an
    /// even count.
    pub median_frames_to_name: Option<f64>,
}

impl Totals {
    fn of<'a>(scores: impl Iterator<Item = &'a SegmentScore>) -> Totals {
        let mut totals = Totals::default();
        let mut to_name = Vec::new();
        for s in scores {
            totals.segments += 1;
            totals.frames += s.frames;
            totals.with_face += s.with_face;
            totals.named_right += s.named_right;
            totals.false_accepts += s.false_accepts;
            match (s.frames_to_name, &s.segment.expected) {
                (Some(n), _) => to_name.push(n as f64),
                (None, Expected::Person(_)) => totals.never_named += 1,
                (None, Expected::Nobody) => {}
            }
        }
        totals.mean_frames_to_name =
            (!to_name.is_empty()).then(|| to_name.iter().sum::<f64>() / to_name.len() as f64);
        to_name.sort_by(f64::total_cmp);
        to_name.extend(std::iter::repeat_n(f64::INFINITY, totals.never_named));
        let middle = to_name.len() / 2;
        let median = match (to_name.get(middle), to_name.len() % 2) {
            (Some(&m), 1) => Some(m),
            (Some(&m), _) => to_name
                .get(middle - 1)
                .map(|&below| f64::midpoint(below, m)),
            (None, _) => None,
        };
        totals.median_frames_to_name = median.filter(|m| m.is_finite());
        totals
    }
}

/// Which way the faces of a clip are recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Route {
    /// Detected, embedded and decided in this process, as `recognize` and the window do.
    Local,
    /// Detected and tracked by a camera agent, embedded and judged by a recognition worker on
    /// the Redis of `streams.redis`, as `camera` and `worker` do. The agent waits for each
    /// frame's answers before the next frame, so every answer comes one frame after its crop.
    Streams,
}

/// What `eval --video` measured.
#[derive(Debug, Clone, Serialize)]
pub struct VideoReport {
    pub clip: String,
    pub route: Route,
    pub embedder: String,
    pub threshold: f32,
    /// Frames read from the clip.
    pub frames: u64,
    /// Faces embedded over the clip: what deciding cost.
    pub embedded: u64,
    pub segments: Vec<SegmentScore>,
    /// Segments of enrolled people.
    pub people: Totals,
    /// Segments of strangers.
    pub strangers: Totals,
}

/// Whose faces the clip is scored against: the configured gallery, or people enrolled afresh
/// from a folder `DIR/<person>/<photo>` into a throwaway gallery.
pub enum Roster<'a> {
    Gallery,
    Enroll(&'a Path),
}

/// Runs `clip` through a camera agent and a recognition worker (with `pipeline` and
/// `gallery`) on streams of its own, the agent in lockstep with the answers.
#[cfg(feature = "streams")]
fn through_streams(
    config: &Config,
    clip: &Source,
    (pipeline, gallery): (Pipeline, std::sync::Arc<dyn gallery::Gallery>),
    options: &RunOptions,
    progress: &dyn Progress,
    score: impl FnMut(&FrameResult) -> Result<()>,
) -> Result<headless::Summary> {
    let streams = private_streams(&config.streams, "eval");
    let mut link = Link::new(&streams.redis, "eval")?;
    link.check()?;
    let roster = crate::roster::Roster::open(gallery, pipeline.embedder_id(), config.matching())?;
    let worker = StreamWorker::new(pipeline, roster, &streams, config.limits.photos(), "eval")?;
    let crew = Crew::start(&streams, vec![("eval".to_owned(), worker)])?;
    let agent = Agent::new(config.load_locator(progress)?, "eval", &streams)?;
    let summary = headless::run(clip, agent.in_lockstep(), options, score);
    crew.stop(&mut link)?;
    summary
}

/// Without the `streams` feature there is no distributed pipeline to run a clip through.
#[cfg(not(feature = "streams"))]
fn through_streams(
    _: &Config,
    _: &Source,
    _: (Pipeline, std::sync::Arc<dyn gallery::Gallery>),
    _: &RunOptions,
    _: &dyn Progress,
    _: impl FnMut(&FrameResult) -> Result<()>,
) -> Result<headless::Summary> {
    Err(Error::NotBuilt {
        feature: "streams",
        needed_by: "`whoisit eval --distributed`",
    })
}

/// Runs every frame of `clip` through the live pipeline, or the distributed one, and scores
/// it against `truth`.
pub fn evaluate(
    config: &Config,
    clip: &Source,
    truth: &Truth,
    roster: &Roster<'_>,
    route: Route,
    progress: &dyn Progress,
) -> Result<(VideoReport, Option<DatasetReport>)> {
    let scratch = tempfile::tempdir().map_err(|e| Error::write(std::env::temp_dir(), e))?;
    let mut pipeline = config.load_pipeline(progress)?;
    let (gallery, enrolled) = match roster {
        Roster::Gallery => (config.open_gallery()?, None),
        Roster::Enroll(dir) => {
            let own = config.with_own_gallery(scratch.path().to_path_buf());
            let gallery = own.open_gallery()?;
            let report = enroll::dataset(
                &mut pipeline,
                gallery.as_ref(),
                &own.enrollment(),
                dir,
                &gallery::Actor::cli(),
            )?;
            (gallery, Some(report))
        }
    };
    let embedder = pipeline.embedder_id().to_string();
    let mut scores: Vec<SegmentScore> = truth
        .segments
        .iter()
        .cloned()
        .map(SegmentScore::new)
        .collect();
    let options = RunOptions {
        realtime: false,
        max_frames: None,
        stop: None,
        tap: None,
        reopen: None,
    };
    let score = |result: &FrameResult| {
        if let Some(score) = scores
            .iter_mut()
            .find(|s| (s.segment.first..=s.segment.last).contains(&result.frame))
        {
            score.observe(result);
        }
        Ok(())
    };
    let summary = match route {
        Route::Local => {
            let roster =
                crate::roster::Roster::open(gallery, pipeline.embedder_id(), config.matching())?;
            let worker = Worker::new(pipeline, roster, gallery::Actor::cli())?;
            headless::run(clip, worker, &options, score)?
        }
        Route::Streams => {
            through_streams(config, clip, (pipeline, gallery), &options, progress, score)?
        }
    };
    let of = |person: bool| {
        Totals::of(
            scores
                .iter()
                .filter(move |s| matches!(s.segment.expected, Expected::Person(_)) == person),
        )
    };
    Ok((
        VideoReport {
            clip: clip.to_string(),
            route,
            embedder,
            threshold: config.threshold,
            frames: summary.processed,
            embedded: summary.embedded,
            people: of(true),
            strangers: of(false),
            segments: scores,
        },
        enrolled,
    ))
}

/// The sample clip's files.
pub struct SampleClip {
    pub clip: PathBuf,
    pub truth: PathBuf,
    /// The photos enrolled: `DIR/<person>/<photo>`.
    pub enroll: PathBuf,
}

/// People of the johns set enrolled in the sample (from their first photo only, as someone
/// enrolled from one snapshot); the other two are the strangers.
const SAMPLE_ENROLLED: [&str; 3] = ["John_Salley", "John_Schneider", "John_Simm"];
/// Shots per person in the sample.
const ROUNDS: usize = 5;
/// A shot is a slideshow of one person's photos, each on screen for a few frames, as a face in
/// video changes its expression and pose from moment to moment.
const PHOTOS_PER_SHOT: usize = 6;
const PHOTO_FRAMES: u32 = 3;
const SHOT_FRAMES: u32 = PHOTOS_PER_SHOT as u32 * PHOTO_FRAMES;

/// Writes the sample clip, its truth file and its enrollment folder into `dir`: shots of 1.2 s
/// at 15 fps, each a moving slideshow of one person of the johns set (a new photo every 3
/// frames), on a background that changes from shot to shot as a cut between cameras does;
/// some shots far, out of focus, dim or bright. Enrolled people (from their first photo only,
/// which no shot shows) and strangers take turns.
pub fn make_sample(config: &Config, dir: &Path, progress: &dyn Progress) -> Result<SampleClip> {
    let johns = eval::sample_dataset(config, progress)?;
    let enroll_dir = dir.join("enroll");
    let queues = sample_people(&johns, &enroll_dir)?;
    let (width, height) = SAMPLE_SIZE;
    let mut actors = Vec::new();
    let mut segments = Vec::new();
    for round in 0..ROUNDS {
        // Every cut goes to somebody else: enrolled people and strangers take turns.
        for (person, (expected, photos)) in queues.iter().enumerate() {
            let shot = round * queues.len() + person;
            let first = shot as u32 * SHOT_FRAMES;
            actors.push(Actor {
                photo: backdrop(width, height, shot)?,
                from: (0.5, 0.5),
                to: (0.5, 0.5),
                height: 1.0,
                frames: first..first + SHOT_FRAMES,
            });
            let look = &LOOKS[(round + person) % LOOKS.len()];
            let side = if shot.is_multiple_of(2) { 0.3 } else { 0.7 };
            let at = |t: f32| (side + (0.5 - side) * 0.7 * t, 0.55 - 0.05 * t);
            for k in 0..PHOTOS_PER_SHOT {
                let path = &photos[(round * PHOTOS_PER_SHOT + k) % photos.len()];
                let start = first + k as u32 * PHOTO_FRAMES;
                actors.push(Actor {
                    photo: look.apply(&photo::load(path)?)?,
                    from: at(k as f32 / PHOTOS_PER_SHOT as f32),
                    to: at((k + 1) as f32 / PHOTOS_PER_SHOT as f32),
                    height: look.height,
                    frames: start..start + PHOTO_FRAMES,
                });
            }
            segments.push(Segment {
                first: u64::from(first),
                last: u64::from(first + SHOT_FRAMES - 1),
                expected: expected.clone(),
            });
        }
    }
    write_sample(dir, "johns", actors, segments, enroll_dir)
}

/// Writes the `actors` of a sample, 640x360 at 15 fps with sensor noise, as `dir/STEM.avi`,
/// and its truth file `dir/STEM.truth`; it lasts until the last segment ends.
fn write_sample(
    dir: &Path,
    stem: &str,
    actors: Vec<Actor>,
    segments: Vec<Segment>,
    enroll: PathBuf,
) -> Result<SampleClip> {
    let (width, height) = SAMPLE_SIZE;
    let spec = ClipSpec {
        width,
        height,
        fps: 15.0,
        light: (1.0, 1.0),
        frames: segments
            .last()
            .map_or(0, |s| u32::try_from(s.last + 1).unwrap_or(u32::MAX)),
        actors,
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::write(dir, e))?;
    let clip = dir.join(format!("{stem}.avi"));
    // A sensor's noise, new on every frame, so that no two embeddings of a shot are the same;
    // seeded, so that every run makes the same clip.
    opencv::core::set_rng_seed(7)?;
    spec.write_video_with(&clip, |_, frame| add_noise(frame, NOISE_SIGMA))?;
    let truth = dir.join(format!("{stem}.truth"));
    let text = format!(
        "# The sample clip {}: frames FIRST-LAST and who is in view ({NOBODY}: a stranger).\n{}",
        clip.display(),
        Truth { segments }.to_text()
    );
    std::fs::write(&truth, text).map_err(|e| Error::write(&truth, e))?;
    Ok(SampleClip {
        clip,
        truth,
        enroll,
    })
}

/// The samples' frame size.
const SAMPLE_SIZE: (i32, i32) = (640, 360);

/// Frames of a shot of the first-looks sample: half a second at 15 fps, enough to see whether
/// the first look already names.
const FIRST_LOOK_FRAMES: u32 = 8;

/// Writes the first-looks sample, `first_looks.avi`, its truth file and its enrollment folder
/// into `dir`: three people of the johns set enrolled from their first photo each and each of
/// their 10 other photos in a shot of its own, as a new camera's first look at them, with a
/// stranger's photo between every two (the other two Johns); 8 frames a shot at 640x360, 15
/// fps, each on a new background and drifting a little, with sensor noise. How many frames a
/// shot waits for its first correct name is what it measures.
pub fn make_first_looks(
    config: &Config,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<SampleClip> {
    let johns = eval::sample_dataset(config, progress)?;
    let enroll_dir = dir.join("enroll");
    let queues = sample_people(&johns, &enroll_dir)?;
    let (known, strangers): (Vec<_>, Vec<_>) = queues
        .iter()
        .partition(|(expected, _)| matches!(expected, Expected::Person(_)));
    // The enrolled people's photos in turn, each followed by a stranger's while they last.
    let mut strangers = in_turn(&strangers).into_iter();
    let mut order = Vec::new();
    for shot in in_turn(&known) {
        order.push(shot);
        order.extend(strangers.next());
    }
    let (width, height) = SAMPLE_SIZE;
    let mut actors = Vec::new();
    let mut segments = Vec::new();
    for (shot, (expected, photo)) in order.into_iter().enumerate() {
        let first = shot as u32 * FIRST_LOOK_FRAMES;
        let frames = first..first + FIRST_LOOK_FRAMES;
        actors.push(Actor {
            photo: backdrop(width, height, shot)?,
            from: (0.5, 0.5),
            to: (0.5, 0.5),
            height: 1.0,
            frames: frames.clone(),
        });
        let look = &LOOKS[shot % LOOKS.len()];
        let x = if shot.is_multiple_of(2) { 0.35 } else { 0.65 };
        actors.push(Actor {
            photo: look.apply(&photo::load(photo)?)?,
            from: (x, 0.5),
            to: (x + 0.03, 0.48),
            height: look.height,
            frames,
        });
        segments.push(Segment {
            first: u64::from(first),
            last: u64::from(first + FIRST_LOOK_FRAMES - 1),
            expected,
        });
    }
    write_sample(dir, "first_looks", actors, segments, enroll_dir)
}

/// Each person's first photo, then each one's second, and so on: every next photo is somebody
/// else's while two people have photos left.
fn in_turn<'a>(people: &[&'a (Expected, Vec<PathBuf>)]) -> Vec<(Expected, &'a Path)> {
    let most = people.iter().map(|(_, photos)| photos.len()).max();
    (0..most.unwrap_or(0))
        .flat_map(|k| {
            people.iter().filter_map(move |(expected, photos)| {
                photos
                    .get(k)
                    .map(|photo| (expected.clone(), photo.as_path()))
            })
        })
        .collect()
}

/// The people of the johns set in `johns`, each with who they are to the sample and the photos
/// shots may show; the enrolled people's first photo is copied into `enroll_dir` instead.
fn sample_people(johns: &Path, enroll_dir: &Path) -> Result<Vec<(Expected, Vec<PathBuf>)>> {
    let mut queues = Vec::new();
    for person in enroll::dataset_people(johns)? {
        let mut photos = person.photos.into_iter();
        let expected = if SAMPLE_ENROLLED.contains(&person.name.as_str()) {
            let first = photos.next().ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{} has no photos",
                    johns.join(&person.name).display()
                ))
            })?;
            let target = enroll_dir.join(&person.name);
            std::fs::create_dir_all(&target).map_err(|e| Error::write(&target, e))?;
            let copy = target.join(first.file_name().unwrap_or_default());
            std::fs::copy(&first, &copy).map_err(|e| Error::write(&copy, e))?;
            Expected::Person(person.name)
        } else {
            Expected::Nobody
        };
        queues.push((expected, photos.collect()));
    }
    Ok(queues)
}

/// How a shot of the sample shows its photo: real video is rarely a sharp, well-lit close-up.
struct Look {
    /// The photo's height as a fraction of the frame's (the face is about 2/3 of it).
    height: f32,
    /// Gaussian blur, in pixels of the photo (out of focus, or moving).
    blur: f64,
    /// Brightness gain.
    gain: f64,
}

#[rustfmt::skip]
const LOOKS: [Look; 6] = [
    Look { height: 0.42, blur: 0.0, gain: 1.0 },
    Look { height: 0.35, blur: 3.0, gain: 0.7 },
    Look { height: 0.14, blur: 0.0, gain: 1.0 },
    Look { height: 0.3, blur: 3.5, gain: 1.3 },
    Look { height: 0.38, blur: 2.5, gain: 0.55 },
    Look { height: 0.4, blur: 4.0, gain: 1.0 },
];

impl Look {
    fn apply(&self, photo: &Mat) -> Result<Mat> {
        let mut soft = Mat::default();
        if self.blur > 0.0 {
            opencv::imgproc::gaussian_blur_def(
                photo,
                &mut soft,
                opencv::core::Size::new(0, 0),
                self.blur,
            )?;
        } else {
            soft = photo.clone();
        }
        let mut lit = Mat::default();
        soft.convert_to(&mut lit, -1, self.gain, 0.0)?;
        Ok(lit)
    }
}

/// The sample's sensor noise: standard deviation in grey levels.
const NOISE_SIGMA: f64 = 6.0;

fn add_noise(frame: &mut Mat, sigma: f64) -> Result<()> {
    let mut noise = Mat::new_rows_cols_with_default(
        frame.rows(),
        frame.cols(),
        opencv::core::CV_16SC3,
        Scalar::all(0.0),
    )?;
    opencv::core::randn(&mut noise, &Scalar::all(0.0), &Scalar::all(sigma))?;
    let mut noisy = Mat::default();
    opencv::core::add(
        &*frame,
        &noise,
        &mut noisy,
        &opencv::core::no_array(),
        opencv::core::CV_8UC3,
    )?;
    *frame = noisy;
    Ok(())
}

/// The background of shot `index`: a plain wall whose shade differs from the shot before, so
/// that every change of photo is a cut as between two cameras.
fn backdrop(width: i32, height: i32, index: usize) -> Result<Mat> {
    const SHADES: [(f64, f64, f64); 3] = [
        (70.0, 62.0, 56.0),
        (150.0, 160.0, 170.0),
        (40.0, 90.0, 60.0),
    ];
    let (b, g, r) = SHADES[index % SHADES.len()];
    Ok(Mat::new_rows_cols_with_default(
        height,
        width,
        opencv::core::CV_8UC3,
        Scalar::new(b, g, r, 0.0),
    )?)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::base::geometry::FaceBox;
    use crate::vision::detect::Detection;
    use crate::vision::matcher::Identity;
    use crate::vision::pipeline::{FaceResult, Searched, StageTimes};

    fn parse(text: &str) -> Result<Truth> {
        Truth::parse(text, Path::new("clip.truth"))
    }

    #[test]
    fn a_truth_file_is_ranges_of_names_or_nobody() {
        let truth = parse("# a clip\n10-19 Ada King  # she walks in\n0-9 nobody\n\n").unwrap();
        assert_eq!(
            truth.segments,
            [
                Segment {
                    first: 0,
                    last: 9,
                    expected: Expected::Nobody
                },
                Segment {
                    first: 10,
                    last: 19,
                    expected: Expected::Person("Ada King".into())
                },
            ]
        );
        assert_eq!(parse(&truth.to_text()).unwrap(), truth);
    }

    #[test]
    fn a_bad_truth_file_says_which_line_and_why() {
        for (text, why) in [
            ("0-9", "line 1: no name"),
            ("nobody 0-9", "line 1: the frames are not a range"),
            ("0-x Ada", "\"x\" is not a frame number"),
            ("9-0 Ada", "ends before it starts"),
            ("0-9 Ada\n5-12 Bob", "line 2: frames 5-12 overlap 0-9"),
            ("# nothing\n", "has no segments"),
        ] {
            let message = parse(text).unwrap_err().to_string();
            assert!(message.contains(why), "{text:?}: {message}");
        }
    }

    fn frame(index: u64, names: &[Option<&str>]) -> FrameResult {
        let faces = names
            .iter()
            .map(|name| {
                let detection = Detection {
                    bbox: FaceBox::new(0, 0, 50, 50),
                    confidence: 0.9,
                };
                let identity = Identity {
                    name: name.map(str::to_owned),
                    ..Identity::unknown()
                };
                FaceResult::new(detection, Some(1), identity)
            })
            .collect();
        FrameResult {
            frame: index,
            timestamp_ms: 0.0,
            faces,
            timings_ms: StageTimes::default(),
            embedded: 0,
            searched: Searched::Whole,
            cut: false,
            latency_ms: 0.0,
            captured_at: Instant::now(),
            picture: None,
        }
    }

    #[test]
    fn a_segment_counts_faces_right_names_false_accepts_and_the_wait() {
        let segment = |expected| Segment {
            first: 10,
            last: 14,
            expected,
        };
        let mut ada = SegmentScore::new(segment(Expected::Person("Ada".into())));
        let mut nobody = SegmentScore::new(segment(Expected::Nobody));
        let frames = [
            frame(10, &[]),
            frame(11, &[None]),
            frame(12, &[Some("Bob")]),
            frame(13, &[Some("Ada"), Some("Bob")]),
            frame(14, &[Some("Ada")]),
        ];
        for f in &frames {
            ada.observe(f);
            nobody.observe(f);
        }
        assert_eq!(
            (
                ada.frames,
                ada.with_face,
                ada.named_right,
                ada.false_accepts
            ),
            (5, 4, 2, 2)
        );
        assert_eq!(ada.frames_to_name, Some(3));
        assert_eq!(ada.tracks, 1);
        assert_eq!((nobody.named_right, nobody.false_accepts), (0, 3));
        assert_eq!(nobody.frames_to_name, None);
        let totals = Totals::of([&ada, &nobody].into_iter());
        assert_eq!(totals.mean_frames_to_name, Some(3.0));
        assert_eq!(totals.median_frames_to_name, Some(3.0));
        assert_eq!(totals.never_named, 0);
    }

    #[test]
    fn the_wait_for_a_name_is_summed_up_by_its_median_and_mean() {
        let waited = |first: u64, named: Option<u64>| {
            let mut score = SegmentScore::new(Segment {
                first,
                last: first + 9,
                expected: Expected::Person("Ada".into()),
            });
            for index in first..=first + 9 {
                let named = named.is_some_and(|n| index >= first + n);
                score.observe(&frame(index, &[named.then_some("Ada")]));
            }
            score
        };
        let scores = [
            waited(0, Some(0)),
            waited(10, Some(7)),
            waited(20, Some(1)),
            waited(30, None),
        ];
        // Waits of 0, 7, 1 and never: the one never named counts as the longest wait.
        let all = Totals::of(scores.iter());
        assert_eq!(all.median_frames_to_name, Some(4.0));
        assert_eq!(all.mean_frames_to_name, Some(8.0 / 3.0));
        assert_eq!(all.never_named, 1);
        let odd = Totals::of(scores[1..].iter());
        assert_eq!(odd.median_frames_to_name, Some(7.0));
        let named = Totals::of(scores[..3].iter());
        assert_eq!(named.median_frames_to_name, Some(1.0));
        let mostly_never = Totals::of(scores[2..].iter());
        assert_eq!(mostly_never.median_frames_to_name, None);
    }
}
