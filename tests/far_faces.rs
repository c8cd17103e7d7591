//! Far faces: the detector's far search on a small face pasted into a frame and on a near one,
//! recall on dlib's labelled boxes, and `eval --detection` on good and bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use opencv::core::{Mat, Rect, Scalar, Size};
use opencv::prelude::*;
use predicates::prelude::*;
use whoisit::base::geometry::FaceBox;
use whoisit::measure::detection::{self, Recall};
use whoisit::models;
use whoisit::models::fetch::Quiet;
use whoisit::vision::detect::{Detection, Detector, DetectorConfig, Search};
use whoisit::vision::photo;

fn detector(search: Search) -> Detector {
    let paths = models::ensure_for(
        whoisit::base::identity::EmbedderKind::Dlib,
        &common::model_dir(),
        &Quiet,
    )
    .unwrap();
    let config = DetectorConfig {
        search,
        ..DetectorConfig::default()
    };
    Detector::load(&paths.ssd_prototxt, &paths.ssd_weights, &config).unwrap()
}

const FAR: Search = Search::Far { width: 640 };

/// `image` scaled so that its face is `face_px` wide, pasted into a grey 640x360 frame with
/// the face's top-left at `at`; returns the frame and where the face is.
fn pasted(image: &Mat, face_px: i32, at: (i32, i32)) -> (Mat, FaceBox) {
    let face = Detection::largest(&detector(Search::Standard).detect(image).unwrap())
        .unwrap()
        .bbox;
    let scale = f64::from(face_px) / f64::from(face.width);
    let mut small = Mat::default();
    let size = Size::new(
        (f64::from(image.cols()) * scale).round() as i32,
        (f64::from(image.rows()) * scale).round() as i32,
    );
    opencv::imgproc::resize(
        image,
        &mut small,
        size,
        0.0,
        0.0,
        opencv::imgproc::INTER_AREA,
    )
    .unwrap();
    let scaled = |v: i32| (f64::from(v) * scale).round() as i32;
    let (x, y) = (at.0 - scaled(face.x), at.1 - scaled(face.y));
    let mut frame =
        Mat::new_rows_cols_with_default(360, 640, opencv::core::CV_8UC3, Scalar::all(90.0))
            .unwrap();
    let target = Rect::new(x, y, small.cols(), small.rows()) & Rect::new(0, 0, 640, 360);
    let source = Rect::new(target.x - x, target.y - y, target.width, target.height);
    small
        .roi(source)
        .unwrap()
        .copy_to(&mut frame.roi_mut(target).unwrap())
        .unwrap();
    let face = FaceBox::new(at.0, at.1, face_px, scaled(face.height));
    (frame, face)
}

fn found(detections: &[Detection], face: &FaceBox) -> bool {
    detections.iter().any(|d| detection::finds(&d.bbox, face))
}

#[test]
fn a_28_px_face_in_a_640x360_frame_is_found_by_the_far_search() {
    // John Savage, from a 150x150 crop with a margin so that the SSD sees his face; and Obama,
    // from a sharp press photo.
    let john = photo::load(&common::johns().join("John_Savage/000264_01099001.jpg")).unwrap();
    let john = photo::pad_for_detection(&john).unwrap();
    let obama = photo::load(&common::photo("obama.jpg")).unwrap();
    let mut standard_found = Vec::new();
    for image in [&john, &obama] {
        let (frame, face) = pasted(image, 28, (420, 160));
        let far = detector(FAR).detect(&frame).unwrap();
        assert!(found(&far, &face), "far: {far:?}, face at {face:?}");
        assert_eq!(far.len(), 1, "{far:?}");
        let standard = detector(Search::Standard).detect(&frame).unwrap();
        standard_found.push(found(&standard, &face));
    }
    // Squeezed to 300x300 the face is 13 px wide, under the net's smallest anchors (30 px):
    // the standard search misses the small crop; the sharp photo it still finds, less sure.
    assert_eq!(standard_found, [false, true]);
}

#[test]
fn a_near_face_has_one_box_in_the_far_search() {
    // The far pass alone gives a face this close a second, displaced box.
    let obama = photo::load(&common::photo("obama.jpg")).unwrap();
    let (frame, face) = pasted(&obama, 190, (220, 60));
    let far = detector(FAR).detect(&frame).unwrap();
    assert_eq!(far.len(), 1, "{far:?}");
    assert!(found(&far, &face), "far: {far:?}, face at {face:?}");
}

#[test]
fn recall_on_dlibs_labelled_faces_is_as_measured() {
    let dir = common::faces();
    let lists: Vec<_> = detection::FACES_XML
        .iter()
        .map(|f| detection::read_labelled(&dir.join(f)).unwrap())
        .collect();
    let recall = |search: Search| -> Vec<Recall> {
        let mut detector = detector(search);
        lists
            .iter()
            .map(|photos| detection::labelled_recall(&mut detector, photos).unwrap())
            .collect()
    };
    let recall_of = |found, faces, false_detections| Recall {
        found,
        faces,
        false_detections,
    };
    // training.xml, then testing.xml: 41 of 43 faces in the standard search, as the issue says.
    assert_eq!(
        recall(Search::Standard),
        [recall_of(16, 18, 0), recall_of(25, 25, 1)]
    );
    assert_eq!(recall(FAR), [recall_of(18, 18, 0), recall_of(25, 25, 1)]);
}

#[test]
fn box_lists_that_cannot_be_read_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.xml");
    let error = detection::read_labelled(&missing).unwrap_err().to_string();
    assert!(error.contains("missing.xml"), "{error}");
    for (text, says) in [
        (
            "<dataset><images><image file='a.jpg'><box top='1' left='x' width='3' height='4'/></image></images></dataset>",
            "left=\"x\"",
        ),
        (
            "<dataset><images><image file='a.jpg'><box top='1' left='2' height='4'/></image></images></dataset>",
            "no width",
        ),
        (
            "<dataset><images><image file='a.jpg'></box></images></dataset>",
            "XML error",
        ),
        ("<dataset><images></images></dataset>", "no <image>"),
        (
            "<box top='1' left='2' width='3' height='4'/>",
            "outside any <image>",
        ),
    ] {
        let path = dir.path().join("bad.xml");
        std::fs::write(&path, text).unwrap();
        let error = detection::read_labelled(&path).unwrap_err().to_string();
        assert!(
            error.contains("is not a list of labelled faces") && error.contains(says),
            "{text}: {error}"
        );
    }
}

#[test]
fn eval_detection_prints_recall_and_refuses_bad_input() {
    let home = tempfile::tempdir().unwrap();
    let bad = home.path().join("bad.xml");
    std::fs::write(&bad, "<dataset><images><image file='a.jpg'></box>").unwrap();
    common::cli::whoisit(home.path())
        .args(["eval", "--detection", "--xml"])
        .arg(&bad)
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "bad.xml is not a list of labelled faces",
        ));
    common::cli::whoisit(home.path())
        .args(["eval", "--detection", "--xml"])
        .arg(home.path().join("nowhere.xml"))
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("cannot read").and(predicate::str::contains("nowhere.xml")),
        );
    common::cli::whoisit(home.path())
        .args(["eval", "--sample", "--search", "far:640"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("add --detection"));
    common::cli::whoisit(home.path())
        .args(["eval", "--detection", "--search", "far:100"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("between 320 and 1920"));
    let output = common::cli::whoisit(home.path())
        .args(["eval", "--detection", "--search", "standard"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&output.get_output().stdout).into_owned();
    assert!(stdout.contains(detection::CRITERION), "{stdout}");
    let line = |file: &str| {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(file))
            .unwrap_or_else(|| panic!("no {file} line in {stdout}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(line("training.xml"), "training.xml standard 16/18 (0)");
    assert_eq!(line("testing.xml"), "testing.xml standard 25/25 (1)");
    assert!(stdout.contains("clip of far faces at 640x360"), "{stdout}");
}
