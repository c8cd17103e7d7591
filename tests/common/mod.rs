//! Shared test support: real photos fetched from package registries, models, generated clips.
#![allow(dead_code)] // each test binary uses a part of this

pub(crate) mod cli;
pub(crate) mod postgres;
pub(crate) mod server;
pub(crate) mod streams;
pub(crate) mod torch7;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use whoisit::base::identity::EmbedderKind;
use whoisit::config::Config;
use whoisit::models::fetch::{self, Fetcher, Quiet};
use whoisit::vision::pipeline::Pipeline;

pub(crate) const JOHNS: [&str; 5] = [
    "John_Salley",
    "John_Savage",
    "John_Schneider",
    "John_Shimkus",
    "John_Simm",
];

/// Tests of one binary run in parallel; downloads are done one at a time.
static FETCH_LOCK: Mutex<()> = Mutex::new(());

/// The ignored cache of test data, `.cache/testdata` in the repo.
pub(crate) fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/testdata")
}

/// A photo of `tests/data.ron`, fetched and checked on first use.
pub(crate) fn photo(name: &str) -> PathBuf {
    let manifest = fetch::parse_manifest(include_str!("../data.ron"), Path::new("tests/data.ron"))
        .expect("tests/data.ron");
    let artifact = manifest
        .iter()
        .find(|a| a.file == name)
        .unwrap_or_else(|| panic!("{name} is not in tests/data.ron"));
    let dir = data_dir().join("photos");
    let _guard = FETCH_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Fetcher::new(&Quiet)
        .unwrap()
        .ensure(artifact, &dir)
        .unwrap_or_else(|e| panic!("{e}"));
    dir.join(name)
}

/// The `johns` dataset folder (`<person>/*.jpg`), extracted once from the checked dlib source
/// tarball (the same one `whoisit eval --sample` uses).
pub(crate) fn johns() -> PathBuf {
    let dir = data_dir().join("johns");
    let _guard = FETCH_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !JOHNS.iter().all(|p| dir.join(p).is_dir()) {
        std::fs::create_dir_all(data_dir()).unwrap();
        let count = Fetcher::new(&Quiet)
            .unwrap()
            .extract_tree(
                &whoisit::measure::eval::sample_release(),
                whoisit::measure::eval::SAMPLE_PREFIX,
                &dir,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count, 55, "the johns set has 5 people x 11 photos");
    }
    dir
}

/// dlib's labelled faces folder (`training.xml`, `testing.xml` and their photos), extracted
/// once from the same tarball as the `johns` set.
pub(crate) fn faces() -> PathBuf {
    let dir = data_dir().join("faces");
    let _guard = FETCH_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !dir.join("testing.xml").is_file() {
        std::fs::create_dir_all(data_dir()).unwrap();
        Fetcher::new(&Quiet)
            .unwrap()
            .extract_tree(
                &whoisit::measure::eval::sample_release(),
                whoisit::measure::detection::FACES_PREFIX,
                &dir,
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

/// The config tests run with: the user's model dir (filled by `whoisit models fetch`, or here
/// on first use) and a gallery in `data_dir`.
pub(crate) fn config(data_dir: &Path, embedder: EmbedderKind) -> Config {
    Config {
        data_dir: Some(data_dir.to_path_buf()),
        embedder,
        ..Config::default()
    }
}

/// A real pipeline with an empty gallery in a fresh temp dir (kept alive by the returned guard).
pub(crate) fn pipeline() -> (Pipeline, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let _guard = FETCH_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pipeline = config(dir.path(), EmbedderKind::Dlib)
        .load_pipeline(&Quiet)
        .unwrap_or_else(|e| panic!("{e}"));
    (pipeline, dir)
}

/// Enrollment as configured by default.
pub(crate) fn enrollment() -> whoisit::enroll::Enrollment {
    Config::default().enrollment()
}

/// Enrolls `name` from one test photo and makes the pipeline match against the gallery.
pub(crate) fn enroll(
    pipeline: &mut Pipeline,
    gallery: &mut dyn whoisit::gallery::Gallery,
    name: &str,
    photo: &str,
) {
    whoisit::enroll::person(
        pipeline,
        gallery,
        &enrollment(),
        name,
        &[self::photo(photo)],
    )
    .unwrap();
    pipeline.set_enrolled(gallery.embeddings(&pipeline.embedder_id()).unwrap());
}

/// The model dir tests share with the app.
pub(crate) fn model_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| Config::default().model_dir().unwrap())
        .clone()
}
