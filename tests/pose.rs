//! Head poses from real landmarks: the johns set's photos and their mirror images.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use opencv::core::Mat;
use opencv::prelude::*;
use whoisit::enroll;
use whoisit::vision::photo;
use whoisit::vision::pipeline::Pipeline;
use whoisit::vision::pose::{HeadPose, Pose};

fn mirror(image: &Mat) -> Mat {
    let mut flipped = Mat::default();
    opencv::core::flip(image, &mut flipped, 1).unwrap();
    flipped
}

/// The pose of the one face of `image`.
fn pose_of(pipeline: &mut Pipeline, image: Mat) -> HeadPose {
    let found = pipeline.detect_photo(image).unwrap();
    assert_eq!(found.faces.len(), 1);
    pipeline
        .head_pose(&found.image, &found.faces[0])
        .unwrap()
        .unwrap()
}

/// Every photo's pose and its mirror's (run with `--nocapture` for the table the thresholds
/// in src/vision/pose.rs were chosen from): a mirror turns the other way and keeps the chin
/// where it was, and the set shows frontal faces and turns both ways.
#[test]
fn johns_poses_turn_the_other_way_in_a_mirror() {
    let (mut pipeline, _dir) = common::pipeline();
    let mut seen = std::collections::BTreeMap::<Pose, usize>::new();
    for person in enroll::dataset_people(&common::johns()).unwrap() {
        for path in person.photos {
            let image = photo::load(&path).unwrap();
            let pose = pose_of(&mut pipeline, image.clone());
            let flipped = pose_of(&mut pipeline, mirror(&image));
            println!(
                "{:<40} yaw {:+.3} pitch {:.3} {:<5} | mirrored yaw {:+.3} pitch {:.3} {}",
                path.strip_prefix(common::johns()).unwrap().display(),
                pose.yaw,
                pose.pitch,
                pose.pose(),
                flipped.yaw,
                flipped.pitch,
                flipped.pose()
            );
            assert!((pose.yaw + flipped.yaw).abs() < 0.1, "{}", path.display());
            assert!(
                (pose.pitch - flipped.pitch).abs() < 0.1,
                "{}",
                path.display()
            );
            if matches!(pose.pose(), Pose::Left | Pose::Right) {
                assert_ne!(pose.pose(), flipped.pose(), "{}", path.display());
            }
            *seen.entry(pose.pose()).or_default() += 1;
        }
    }
    println!("{seen:?}");
    // The window tests' Obama, drifting across a clip, must read as frontal.
    for name in ["obama.jpg", "obama2.jpg"] {
        let pose = pose_of(&mut pipeline, photo::load(&common::photo(name)).unwrap());
        println!("{name}: yaw {:+.3} pitch {:.3}", pose.yaw, pose.pitch);
        assert_eq!(pose.pose(), Pose::Front, "{name}");
    }
    let count = |pose| seen.get(&pose).copied().unwrap_or(0);
    assert!(count(Pose::Front) >= 45, "{seen:?}");
    assert!(
        count(Pose::Left) >= 1 && count(Pose::Right) >= 1,
        "{seen:?}"
    );
}

/// The window tests' clip of Obama drifting: every frame's face reads as frontal, so the
/// landmarks' noise between frames stays inside the thresholds.
#[test]
fn a_drifting_frontal_face_stays_frontal_frame_after_frame() {
    let (mut pipeline, dir) = common::pipeline();
    let clip = common::cli::obama_clip(dir.path(), 30.0, 60);
    let mut capture =
        opencv::videoio::VideoCapture::from_file(clip.to_str().unwrap(), opencv::videoio::CAP_ANY)
            .unwrap();
    let mut frame = Mat::default();
    let mut yaws = Vec::new();
    while capture.read(&mut frame).unwrap() && !frame.empty() {
        let faces = pipeline.detect(&frame).unwrap();
        assert_eq!(faces.len(), 1);
        let pose = pipeline.head_pose(&frame, &faces[0]).unwrap().unwrap();
        yaws.push(pose.yaw);
        assert_eq!(pose.pose(), Pose::Front, "{pose:?}");
    }
    println!(
        "{} frames, yaw {:+.3} to {:+.3}",
        yaws.len(),
        yaws.iter().copied().fold(f32::MAX, f32::min),
        yaws.iter().copied().fold(f32::MIN, f32::max)
    );
}
