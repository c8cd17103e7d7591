//! The OpenFace backend. Its real weights cannot be downloaded on the project's machines, so the
//! loading and preprocessing path is checked with a small Torch7 network the test writes itself
//! (same 96x96x3 -> 128 contract) against an independent Rust forward pass. The real model runs
//! too whenever its file is present.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use common::torch7::TinyNet;
use opencv::core::{Mat, Vec3b};
use opencv::prelude::*;
use whoisit::base::geometry::FaceBox;
use whoisit::base::identity::EmbedderKind;
use whoisit::base::identity::Embedding;
use whoisit::models::fetch::{Quiet, Status};
use whoisit::models::{self, ModelPaths};
use whoisit::vision::align::OPENFACE_CHIP;
use whoisit::vision::embed::{self, Aligned, FrameImage};
use whoisit::vision::pipeline::{FrameFaces, Pipeline};

/// What OpenFace's Lua code feeds the network: planar RGB, scaled to 0..1.
fn reference_input(chip_bgr: &Mat) -> Vec<f32> {
    let size = OPENFACE_CHIP as usize;
    let mut planes = vec![0.0f32; 3 * size * size];
    for y in 0..size {
        for x in 0..size {
            let [b, g, r] = chip_bgr.at_2d::<Vec3b>(y as i32, x as i32).unwrap().0;
            for (c, v) in [r, g, b].into_iter().enumerate() {
                planes[c * size * size + y * size + x] = f32::from(v) / 255.0;
            }
        }
    }
    planes
}

fn assert_close(a: &Embedding, b: &[f32]) {
    assert_eq!(a.0.len(), 128);
    let worst =
        a.0.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
    assert!(worst < 1e-4, "largest difference {worst}");
}

/// A pipeline whose OpenFace model is the tiny network; the rest are the real models.
fn tiny_pipeline(dir: &std::path::Path, net: &TinyNet) -> Pipeline {
    let t7 = dir.join("tiny.t7");
    net.write_t7(&t7).unwrap();
    let real = models::ensure_for(EmbedderKind::Dlib, &common::model_dir(), &Quiet).unwrap();
    let landmarks68 = models::by_id("dlib-landmarks-68").unwrap().artifact;
    models::fetch(
        &[models::by_id("dlib-landmarks-68").unwrap()],
        &common::model_dir(),
        &Quiet,
    )
    .unwrap();
    let paths = ModelPaths {
        landmarks: landmarks68.verified_path(&common::model_dir()).unwrap(),
        embedder: t7,
        ..real
    };
    common::config(dir, EmbedderKind::OpenFace)
        .pipeline_with_models(&paths)
        .unwrap()
}

fn obama_chip(pipeline: &mut Pipeline) -> (Mat, Embedding) {
    let image = whoisit::vision::photo::load(&common::photo("obama.jpg")).unwrap();
    let FrameFaces {
        faces, embeddings, ..
    } = pipeline.embed_faces(&image).unwrap();
    assert_eq!(faces.len(), 1);
    let mut frame = FrameImage::new(&image);
    let Aligned::OpenFace(mut chips) = pipeline.embedder().align(&mut frame, &faces).unwrap()
    else {
        panic!("an OpenFace pipeline aligns OpenFace chips");
    };
    let chip = chips.remove(0);
    (chip, embeddings[0].clone())
}

#[test]
fn torch_network_gets_96x96_rgb_scaled_input_and_gives_unit_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = TinyNet::new(7);
    let mut pipeline = tiny_pipeline(dir.path(), &tiny);
    let (chip, embedding) = obama_chip(&mut pipeline);
    assert_eq!((chip.cols(), chip.rows()), (OPENFACE_CHIP, OPENFACE_CHIP));
    assert_close(&embedding, &tiny.forward(&reference_input(&chip)));
    let norm: f32 = embedding.0.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");

    // Directly, with several chips in one batch: each row is its own chip's output.
    let mut net = embed::load_torch(&dir.path().join("tiny.t7")).unwrap();
    let mut flipped = Mat::default();
    opencv::core::flip(&chip, &mut flipped, 1).unwrap();
    let out = embed::embed_openface(&mut net, &[chip.clone(), flipped.clone()]).unwrap();
    assert_close(&out[0], &tiny.forward(&reference_input(&chip)));
    assert_close(&out[1], &tiny.forward(&reference_input(&flipped)));
    assert!(out[0].distance(&out[1]) > 1e-3);
}

#[test]
fn openface_alignment_puts_outer_eyes_and_nose_on_the_template() {
    let dir = tempfile::tempdir().unwrap();
    let mut pipeline = tiny_pipeline(dir.path(), &TinyNet::new(1));
    let (chip, _) = obama_chip(&mut pipeline);
    // Find the landmarks again, in the chip: they must sit where OpenFace's template puts them.
    let whole = whoisit::vision::detect::Detection {
        bbox: FaceBox::new(0, 0, OPENFACE_CHIP, OPENFACE_CHIP),
        confidence: 1.0,
    };
    let points = pipeline
        .embedder()
        .landmarks(&mut FrameImage::new(&chip), &[whole])
        .unwrap()
        .remove(0);
    let edge = OPENFACE_CHIP as f32;
    for (index, (tx, ty)) in [
        (36, (0.194, 0.169)),
        (45, (0.789, 0.158)),
        (33, (0.495, 0.514)),
    ] {
        let (x, y) = (points[index].0 as f32, points[index].1 as f32);
        let off = ((x - tx * edge).powi(2) + (y - ty * edge).powi(2)).sqrt();
        println!(
            "landmark {index}: ({x}, {y}) vs template ({:.1}, {:.1}): {off:.1} px",
            tx * edge,
            ty * edge
        );
        assert!(
            off < 5.0,
            "landmark {index} is {off} px from OpenFace's template"
        );
    }
}

#[test]
fn a_file_that_is_not_a_torch_network_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("nn4.small2.v1.t7");
    std::fs::write(&bogus, b"<html>404 not found</html>").unwrap();
    let err = embed::load_torch(&bogus).err().unwrap().to_string();
    assert!(
        err.contains("failed to load model") && err.contains("nn4.small2.v1.t7"),
        "{err}"
    );
}

/// Needs OpenFace's real weights, which no package registry ships: run it with
/// `cargo test --test openface -- --ignored` where `whoisit --embedder openface models fetch`
/// could download them from upstream.
#[test]
#[ignore = "needs the real OpenFace weights (nn4.small2.v1.t7), which no package registry ships"]
fn real_openface_model_recognises_obama() {
    let model = models::by_id("openface-nn4").unwrap();
    assert_eq!(
        model.artifact.status(&common::model_dir()).unwrap(),
        Status::Present,
        "{} is not in {}: fetch it with `whoisit --embedder openface models fetch`",
        model.artifact.file,
        common::model_dir().display()
    );
    let dir = tempfile::tempdir().unwrap();
    let config = common::config(dir.path(), EmbedderKind::OpenFace);
    let mut pipeline = config.load_pipeline(&Quiet).unwrap();
    let gallery =
        std::sync::Arc::new(whoisit::gallery::SqliteGallery::open(dir.path(), None).unwrap());
    common::enroll(&mut pipeline, gallery.as_ref(), "Obama", "obama.jpg");
    let roster = common::roster(gallery, &pipeline).snapshot();
    for (name, expected) in [("obama2.jpg", "Obama"), ("biden.jpg", "unknown")] {
        let image = whoisit::vision::photo::pad_for_detection(
            &whoisit::vision::photo::load(&common::photo(name)).unwrap(),
        )
        .unwrap();
        let faces = pipeline.process(&image, roster.matcher()).unwrap().faces;
        assert_eq!(faces[0].label, expected, "{name}: {:?}", faces[0].identity);
    }
}
