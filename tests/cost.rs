//! The cost per camera: a live source is searched only where it is worth the detector, and that
//! hides no face. (How much it saves is measured by `whoisit bench`, not asserted here.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::path::Path;

use common::cli::{actor, enroll_obama, labels, recognize, two_people_clip};
use opencv::core::Mat;
use serde_json::Value;
use whoisit::demo::synth::ClipSpec;
use whoisit::vision::detect::GateConfig;
use whoisit::vision::gate::{Gate, Plan};

fn searched(frames: &[Value], how: &str) -> usize {
    frames.iter().filter(|f| f["searched"] == how).count()
}

fn first_labelled(frames: &[Value], label: &str) -> Option<usize> {
    frames
        .iter()
        .position(|f| labels(f).iter().any(|l| l == label))
}

/// Obama, still, in `frames` of a 30 fps clip, over an empty room, with the light going from
/// `light.0` to `light.1`.
fn still_obama(dir: &Path, frames: std::ops::Range<u32>, light: (f64, f64)) -> String {
    let clip = dir.join("still.avi");
    ClipSpec {
        width: 640,
        height: 480,
        fps: 30.0,
        light,
        frames: 90,
        actors: vec![actor("obama2.jpg", (0.5, 0.5), (0.5, 0.5), 0.8, frames)],
    }
    .write_video(&clip)
    .unwrap();
    clip.to_string_lossy().into_owned()
}

#[test]
fn a_face_appearing_in_a_still_empty_room_is_named_at_once_and_the_empty_frames_are_skipped() {
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    let clip = still_obama(home.path(), 45..90, (1.0, 1.0));
    let (frames, _) = recognize(home.path(), &clip, &[]);
    let empty = &frames[..45];
    assert!(empty.iter().all(|f| labels(f).is_empty()));
    // The first frame, then one every idle_detect_ms (1 s: 31 frames); the rest skipped.
    assert_eq!(searched(empty, "whole"), 2, "{empty:?}");
    assert_eq!(searched(empty, "skipped"), 43);
    assert_eq!(
        first_labelled(&frames, "Obama"),
        Some(45),
        "named on its first frame"
    );
    assert!(frames[45..].iter().all(|f| labels(f) == ["Obama"]));
}

#[test]
fn light_that_changes_slowly_neither_hides_a_face_nor_wakes_the_detector_on_every_frame() {
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    // Dusk: a face in view all along, in light that fades to a third.
    let clip = still_obama(home.path(), 0..90, (1.0, 0.35));
    let (frames, _) = recognize(home.path(), &clip, &[]);
    let unnamed: Vec<usize> = (0..frames.len())
        .filter(|&i| labels(&frames[i]) != ["Obama"])
        .collect();
    assert!(unnamed.is_empty(), "frames without Obama: {unnamed:?}");
    assert!(
        searched(&frames, "whole") <= 90 / 10 + 1,
        "{} whole-frame searches",
        searched(&frames, "whole")
    );
}

#[test]
fn a_stranger_walking_in_while_a_face_is_followed_is_found_as_whole_frame_search_finds_him() {
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    let clip = two_people_clip(home.path(), 60, 15.0);
    let clip = clip.to_str().unwrap();
    let (gated, _) = recognize(home.path(), clip, &[]);
    let config = home.path().join("whole.ron");
    std::fs::write(&config, "(detector: (live: (enabled: false)))").unwrap();
    let (whole, _) = recognize(home.path(), clip, &["--config", config.to_str().unwrap()]);
    assert_eq!(searched(&whole, "whole"), 60);
    let plan: Vec<&str> = gated
        .iter()
        .map(|f| f["searched"].as_str().unwrap())
        .collect();
    assert!(
        searched(&gated, "followed") >= 30,
        "following is used: {plan:?}"
    );

    // Biden comes in at frame 10: found by the whole-frame search that his motion asks for.
    let entered = |frames: &[Value]| frames.iter().position(|f| labels(f).len() == 2);
    assert_eq!(entered(&gated), entered(&whole));
    assert!(
        entered(&gated).is_some_and(|frame| frame <= 12),
        "{:?}",
        entered(&gated)
    );
    let faces = |frames: &[Value]| -> usize { frames.iter().map(|f| labels(f).len()).sum() };
    assert!(
        faces(&gated) >= faces(&whole),
        "gated {} faces, whole {}",
        faces(&gated),
        faces(&whole)
    );
    for frame in &gated[entered(&gated).unwrap()..] {
        assert_eq!(labels(frame), ["Obama", "unknown"], "{frame}");
    }
}

/// The built-in demo's scene, from the same real photos: Obama moving right, Biden coming in
/// at frame 45 and moving left, 15 fps.
fn demo_scene() -> ClipSpec {
    common::photo("biden.jpg");
    let photos = common::photo("obama2.jpg");
    whoisit::demo::clip_spec(photos.parent().unwrap()).unwrap()
}

/// Whether the gate calls each of `frames` (a picture and its source time in ms, in order)
/// a cut.
fn cuts(frames: &[(Mat, f64)]) -> Vec<bool> {
    let mut gate = Gate::new(GateConfig::default());
    frames
        .iter()
        .map(|(image, at)| {
            if gate.plan(image, *at, &[]).unwrap() == Plan::Whole {
                gate.found(image, *at, &[]).unwrap();
            }
            gate.cut()
        })
        .collect()
}

/// Under load recognition sees a frame every second or more; the faces moved in between and
/// changed most of the picture's cells (36-42 of 48 on this scene), which the gate took for
/// cuts, ending every track. A real cut is still one, whether the frames are one camera frame
/// or seconds apart.
#[test]
fn frames_seconds_apart_of_moving_faces_are_no_cut_and_a_real_cut_is_one() {
    let demo = demo_scene();
    let frame = |n: u32| demo.render(n).unwrap();
    let ms = |n: u32| f64::from(n) * 1000.0 / 15.0;
    for gap in [1, 20, 45] {
        let seen: Vec<(Mat, f64)> = (46..150).step_by(gap).map(|n| (frame(n), ms(n))).collect();
        let cut = cuts(&seen);
        assert!(cut.iter().all(|c| !c), "one frame in {gap}: {cut:?}");
    }
    let scene = |photo: &str, at: (f32, f32), height: f32| {
        ClipSpec {
            actors: vec![actor(photo, at, at, height, 0..1)],
            ..demo_scene()
        }
        .render(0)
        .unwrap()
    };
    for (what, after) in [
        ("the clip looping", frame(0)),
        ("a group elsewhere", scene("t1.jpg", (0.5, 0.5), 0.8)),
        ("Biden where Obama was", scene("biden.jpg", (0.3, 0.5), 0.9)),
    ] {
        for gap in [66.0, 1300.0] {
            let cut = cuts(&[(frame(140), ms(140)), (after.clone(), ms(140) + gap)]);
            assert_eq!(cut, [false, true], "{what}, {gap} ms after");
        }
    }
}
