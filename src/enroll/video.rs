//! Enrollment from a short clip of a head turning: every frame passes the quality gate, and a
//! few sharp frames of different poses are taken, none repeating another.

use std::collections::BTreeMap;

use opencv::core::Mat;
use opencv::prelude::*;

use crate::base::error::{Error, Result};
use crate::base::geometry::FaceBox;
use crate::enroll::{Enrollment, Expect, PersonReport, Taken, quality};
use crate::gallery::{Actor, Gallery, NewFace, validate_name};
use crate::vision::detect::Detection;
use crate::vision::pipeline::Pipeline;
use crate::vision::pose::{HeadPose, Pose};

/// A clip is read this far (20 s at 30 fps): enough for a head turning, and what is kept of
/// each frame (its face with a margin) stays within a few hundred MB.
pub const MAX_FRAMES: usize = 600;
/// The context kept around a candidate's face, as a fraction of its width on each side: the
/// landmarks and the embedder's alignment need some.
const CROP_MARGIN: f32 = 0.5;

/// A frame's face that passed the quality gate, waiting to be chosen: the face with a margin,
/// and where the face is in it.
struct Candidate {
    frame: usize,
    image: Mat,
    face: Detection,
    sharpness: f32,
}

impl Candidate {
    fn new(frame: usize, image: &Mat, face: Detection, sharpness: f32) -> Result<Candidate> {
        let (b, area) = (face.bbox, quality::around(image, &face, CROP_MARGIN));
        Ok(Candidate {
            frame,
            image: image.roi(area)?.try_clone()?,
            face: Detection {
                bbox: FaceBox::new(b.x - area.x, b.y - area.y, b.width, b.height),
                confidence: face.confidence,
            },
            sharpness,
        })
    }
}

/// A frame taken.
#[derive(Debug, Clone, PartialEq)]
pub struct TakenFrame {
    /// Its number in the clip, from 0.
    pub frame: usize,
    pub pose: Option<Pose>,
    pub sharpness: f32,
}

/// What enrolling from a clip did.
#[derive(Debug, Default)]
pub struct VideoReport {
    /// Frames read from the clip.
    pub frames: usize,
    /// The frames enrolled, in the order chosen.
    pub taken: Vec<TakenFrame>,
    /// Frames not taken, counted by reason ("blurred", "duplicate", "not needed"...).
    pub skipped: BTreeMap<String, usize>,
    pub person: PersonReport,
}

/// A clip to enroll from: its frames, and what it is called in messages (its path).
pub struct Clip<I> {
    pub source: String,
    pub frames: I,
}

/// Enrolls `name` from the frames of a clip, as `actor`: up to `max_faces` frames,
/// the sharpest of each pose first, then the next sharpest of each, and so on; a frame
/// repeating a face taken (or one of the person's in the gallery) is skipped as a duplicate.
pub fn enroll_video(
    pipeline: &mut Pipeline,
    gallery: &dyn Gallery,
    enrollment: &Enrollment,
    name: &str,
    clip: Clip<impl Iterator<Item = Result<Mat>>>,
    max_faces: usize,
    actor: &Actor,
) -> Result<VideoReport> {
    let name = validate_name(name)?;
    let Clip { source, frames } = clip;
    let mut report = VideoReport::default();
    let mut by_pose = candidates(pipeline, enrollment, frames, &mut report)?;
    let mut expect = Expect::enrolled(
        gallery,
        &pipeline.embedder_id(),
        super::known(gallery, &name)?,
    )?;
    let mut faces: Vec<NewFace> = Vec::new();
    // Round after round, the sharpest frame left of each pose, until enough are taken.
    while faces.len() < max_faces && by_pose.values().any(|c| !c.is_empty()) {
        for queue in by_pose.values_mut() {
            while faces.len() < max_faces
                && let Some(candidate) = queue.pop()
            {
                let verdict = enrollment.judge(
                    pipeline,
                    &candidate.image,
                    std::slice::from_ref(&candidate.face),
                    format!("{source} frame {}", candidate.frame),
                    None,
                    &expect,
                )?;
                match verdict {
                    Ok(face) => {
                        report.taken.push(TakenFrame {
                            frame: candidate.frame,
                            pose: face.pose,
                            sharpness: candidate.sharpness,
                        });
                        expect.taken.push(Taken {
                            what: format!("frame {}", candidate.frame),
                            embedding: face.embedding.clone(),
                        });
                        faces.push(face);
                        break;
                    }
                    Err(rejection) => *report.skipped.entry(rejection.short()).or_default() += 1,
                }
            }
        }
    }
    let left: usize = by_pose.values().map(Vec::len).sum();
    if left > 0 {
        *report.skipped.entry("not needed".into()).or_default() += left;
    }
    if faces.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no frame of {source} could be enrolled ({} frames: {})",
            report.frames,
            summary(&report.skipped)
        )));
    }
    report.person = enrollment.add(gallery, &pipeline.embedder_id(), &name, &faces, actor)?;
    Ok(report)
}

/// Counts as "reason: n, reason: n".
pub fn summary(counts: &BTreeMap<String, usize>) -> String {
    counts
        .iter()
        .map(|(reason, n)| format!("{reason}: {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The faces of the frames that pass the quality gate, by pose, each pose's sharpest last
/// (taken first); the first `MAX_FRAMES` frames are read.
fn candidates(
    pipeline: &mut Pipeline,
    enrollment: &Enrollment,
    frames: impl Iterator<Item = Result<Mat>>,
    report: &mut VideoReport,
) -> Result<BTreeMap<Option<Pose>, Vec<Candidate>>> {
    let mut by_pose: BTreeMap<Option<Pose>, Vec<Candidate>> = BTreeMap::new();
    for (frame, image) in frames.take(MAX_FRAMES).enumerate() {
        let image = image?;
        report.frames += 1;
        let faces = pipeline.detect(&image)?;
        let accepted = match enrollment.gate.check(&image, &faces)? {
            Ok(accepted) => accepted,
            Err(rejection) => {
                *report.skipped.entry(rejection.short()).or_default() += 1;
                continue;
            }
        };
        let pose = pipeline
            .head_pose(&image, &accepted.face)?
            .map(HeadPose::pose);
        let queue = by_pose.entry(pose).or_default();
        let at = queue.partition_point(|c| c.sharpness < accepted.sharpness);
        queue.insert(
            at,
            Candidate::new(frame, &image, accepted.face, accepted.sharpness)?,
        );
    }
    Ok(by_pose)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_frames_are_summarised_by_reason() {
        let counts = BTreeMap::from([("blurred".to_owned(), 3), ("duplicate".to_owned(), 1)]);
        assert_eq!(summary(&counts), "blurred: 3, duplicate: 1");
    }
}
