//! The SSD detector on real photos, and on images that are degenerate on purpose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use opencv::core::{Mat, Rect, Scalar, Size};
use opencv::prelude::*;
use whoisit::models;
use whoisit::models::fetch::Quiet;
use whoisit::vision::detect::{Detection, Detector, DetectorConfig, Search};
use whoisit::vision::photo;

fn detector() -> Detector {
    detector_with(&DetectorConfig::default())
}

fn detector_with(config: &DetectorConfig) -> Detector {
    let paths = models::ensure_for(
        whoisit::base::identity::EmbedderKind::Dlib,
        &common::model_dir(),
        &Quiet,
    )
    .unwrap();
    Detector::load(&paths.ssd_prototxt, &paths.ssd_weights, config).unwrap()
}

fn detect(name: &str) -> (Mat, Vec<Detection>) {
    let image = photo::load(&common::photo(name)).unwrap();
    let faces = detector().detect(&image).unwrap();
    (image, faces)
}

fn assert_inside(faces: &[Detection], image: &Mat) {
    for f in faces {
        let [x, y, w, h]: [i32; 4] = f.bbox.into();
        assert!(x >= 0 && y >= 0 && w > 0 && h > 0, "{f:?}");
        assert!(
            x + w <= image.cols() && y + h <= image.rows(),
            "{f:?} outside {}x{}",
            image.cols(),
            image.rows()
        );
    }
}

#[test]
fn astronaut_has_one_face_where_her_face_is() {
    let (image, faces) = detect("astronaut.png");
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!(faces[0].confidence > 0.9);
    // Eileen Collins' face sits in the upper middle of the 512x512 photo.
    let [x, y, w, h]: [i32; 4] = faces[0].bbox.into();
    let (cx, cy) = (x + w / 2, y + h / 2);
    assert!(
        (180..320).contains(&cx) && (60..200).contains(&cy),
        "{faces:?}"
    );
    assert_inside(&faces, &image);
}

#[test]
fn messi5_small_face_is_found() {
    let (image, faces) = detect("messi5.jpg");
    println!("messi5 {}x{}: {faces:?}", image.cols(), image.rows());
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!(faces[0].bbox.width < 60, "the face is small: {faces:?}");
}

#[test]
fn obama_has_one_face() {
    let (image, faces) = detect("obama.jpg");
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert_inside(&faces, &image);
}

#[test]
fn group_photo_has_every_face() {
    // Six people sit around the table in t1.jpg (1280x886).
    let (image, faces) = detect("t1.jpg");
    println!(
        "t1.jpg: {} faces {:?}",
        faces.len(),
        faces.iter().map(|f| f.confidence).collect::<Vec<_>>()
    );
    assert_inside(&faces, &image);
    let config = DetectorConfig {
        search: Search::Standard,
        ..DetectorConfig::default()
    };
    let people = detector_with(&config).detect(&image).unwrap();
    assert_eq!(people.len(), 6, "{people:?}");
    for person in &people {
        assert!(
            faces.iter().any(|f| f.bbox.iou(&person.bbox) > 0.5),
            "{person:?} not in {faces:?}"
        );
    }
    // The default far search also takes the ashtray on the table (65 px) for a face, unsure:
    // the one false detection it adds on the photos measured (docs/decisions/0004).
    let extra: Vec<_> = faces
        .iter()
        .filter(|f| !people.iter().any(|p| p.bbox.iou(&f.bbox) > 0.5))
        .collect();
    assert!(
        extra.len() <= 1 && extra.iter().all(|f| f.confidence < 0.7),
        "{extra:?}"
    );
}

#[test]
fn a_frame_without_a_face_has_no_detection() {
    let blank = Mat::new_rows_cols_with_default(
        480,
        640,
        opencv::core::CV_8UC3,
        Scalar::new(90.0, 120.0, 150.0, 0.0),
    )
    .unwrap();
    assert!(detector().detect(&blank).unwrap().is_empty());
}

#[test]
fn a_1x1_and_an_empty_image_give_no_face_and_no_error() {
    let one =
        Mat::new_rows_cols_with_default(1, 1, opencv::core::CV_8UC3, Scalar::all(128.0)).unwrap();
    assert!(detector().detect(&one).unwrap().is_empty());
    assert!(detector().detect(&Mat::default()).unwrap().is_empty());
}

#[test]
fn a_face_cut_by_the_frame_edge_is_clipped_to_the_frame() {
    let image = photo::load(&common::photo("obama.jpg")).unwrap();
    let face = detector().detect(&image).unwrap()[0];
    let [x, y, w, h]: [i32; 4] = face.bbox.into();
    // Cut the photo through the middle of the face, so a third of it is outside the left edge.
    let cut = Rect::new(x + w / 3, 0, image.cols() - x - w / 3, image.rows());
    let cropped = image.roi(cut).unwrap().try_clone().unwrap();
    let faces = detector().detect(&cropped).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert_eq!(faces[0].bbox.x, 0, "the box starts at the edge: {faces:?}");
    assert!((faces[0].bbox.y - y).abs() < h / 3);
    assert_inside(&faces, &cropped);
}

#[test]
fn a_10000x10000_image_is_processed() {
    let face = photo::load(&common::photo("obama.jpg")).unwrap();
    let mut big =
        Mat::new_rows_cols_with_default(10_000, 10_000, opencv::core::CV_8UC3, Scalar::all(40.0))
            .unwrap();
    let mut scaled = Mat::default();
    opencv::imgproc::resize(
        &face,
        &mut scaled,
        Size::new(7_000, 8_750),
        0.0,
        0.0,
        opencv::imgproc::INTER_LINEAR,
    )
    .unwrap();
    let mut target = big.roi_mut(Rect::new(1_500, 600, 7_000, 8_750)).unwrap();
    scaled.copy_to(&mut target).unwrap();
    let faces = detector().detect(&big).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert_inside(&faces, &big);
}

#[test]
fn faces_under_the_minimum_size_are_skipped() {
    // messi5's face is 30x39 px: found with the default 20 px minimum, skipped with 40.
    let image = photo::load(&common::photo("messi5.jpg")).unwrap();
    let strict = DetectorConfig {
        min_face_px: 40,
        ..DetectorConfig::default()
    };
    assert!(detector_with(&strict).detect(&image).unwrap().is_empty());
    // The far search adds small faces, and the minimum applies to them as well.
    for search in [Search::Standard, Search::Far { width: 1280 }] {
        let config = DetectorConfig {
            search,
            ..strict.clone()
        };
        assert!(
            detector_with(&config).detect(&image).unwrap().is_empty(),
            "{search}"
        );
    }
    assert_eq!(detector().detect(&image).unwrap().len(), 1);
}
