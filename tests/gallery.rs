//! The gallery as people use it: enroll, administer, survive crashes, share with a running app,
//! and refuse bad files without losing anything.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::cli::{
    add_biden, biden_named_after_enrollment, enroll_obama, labels, obama_biden_dataset, recognize,
    spawnable, two_people_clip, whoisit,
};
use opencv::core::{Mat, Scalar, Size};
use opencv::prelude::*;
use predicates::prelude::*;
use whoisit::base::identity::EmbedderKind;
use whoisit::enroll::quality::Rejection;
use whoisit::gallery::{Gallery as _, SqliteGallery};

fn sha256(path: &Path) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

fn write_png(path: &Path, image: &Mat) {
    opencv::imgcodecs::imwrite(path, image, &opencv::core::Vector::new()).unwrap();
}

#[test]
fn the_quality_gate_takes_one_sharp_big_face_and_says_why_not_otherwise() {
    let (mut pipeline, dir) = common::pipeline();
    let enrollment = common::enrollment();
    let judge = |pipeline: &mut whoisit::vision::pipeline::Pipeline, path: &Path| {
        enrollment.photo(pipeline, path).unwrap()
    };

    let face = judge(&mut pipeline, &common::photo("obama.jpg")).expect("a good photo is accepted");
    assert!(
        face.sharpness >= 80.0 && face.face_px >= 60,
        "{} {}",
        face.sharpness,
        face.face_px
    );
    let crop = whoisit::base::image::decode_png(face.image_png.as_ref().unwrap()).unwrap();
    assert!(
        crop.cols() > 100 && crop.cols() <= 256,
        "a margin crop is kept: {}",
        crop.cols()
    );

    let obama = whoisit::vision::photo::load(&common::photo("obama.jpg")).unwrap();
    let mut blurred = Mat::default();
    opencv::imgproc::gaussian_blur(
        &obama,
        &mut blurred,
        Size::new(41, 41),
        0.0,
        0.0,
        opencv::core::BORDER_DEFAULT,
    )
    .unwrap();
    write_png(&dir.path().join("blurred.png"), &blurred);
    assert!(matches!(
        judge(&mut pipeline, &dir.path().join("blurred.png")),
        Err(Rejection::Blurred { .. })
    ));

    assert_eq!(
        judge(&mut pipeline, &common::photo("t1.jpg")).err(),
        Some(Rejection::SeveralFaces(6))
    );
    assert!(matches!(
        judge(&mut pipeline, &common::photo("messi5.jpg")),
        Err(Rejection::TooSmall { px: 30, min: 60 })
    ));
    let blank =
        Mat::new_rows_cols_with_default(200, 200, opencv::core::CV_8UC3, Scalar::all(128.0))
            .unwrap();
    write_png(&dir.path().join("blank.png"), &blank);
    assert_eq!(
        judge(&mut pipeline, &dir.path().join("blank.png")).err(),
        Some(Rejection::NoFace)
    );

    let private = whoisit::enroll::Enrollment {
        keep_images: false,
        ..common::enrollment()
    };
    assert!(
        private
            .photo(&mut pipeline, &common::photo("obama.jpg"))
            .unwrap()
            .unwrap()
            .image_png
            .is_none()
    );
}

/// `people list` as (name, faces).
fn people(home: &Path) -> Vec<(String, usize)> {
    SqliteGallery::open(&home.join("data"), None)
        .unwrap()
        .people()
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.faces))
        .collect()
}

#[test]
fn a_killed_import_leaves_every_completed_person_whole_and_resumes() {
    let johns = common::johns();
    let reference = tempfile::tempdir().unwrap();
    whoisit(reference.path())
        .args(["people", "import"])
        .arg(&johns)
        .assert()
        .success();
    let complete = people(reference.path());
    assert_eq!(complete.len(), 5, "{complete:?}");

    let home = tempfile::tempdir().unwrap();
    let mut child = spawnable(home.path())
        .args(["people", "import"])
        .arg(&johns)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let enrolled = || {
        let file = home.path().join("data/gallery.sqlite3");
        if file.exists() {
            people(home.path()).len()
        } else {
            0
        }
    };
    while enrolled() < 2 {
        assert!(Instant::now() < deadline, "the import never got going");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    let partial = people(home.path());
    assert!(
        partial.len() < 5,
        "the import must be killed half-way to prove anything: {partial:?}"
    );
    for person in &partial {
        assert!(
            complete.contains(person),
            "{person:?} is not whole (complete: {complete:?})"
        );
    }
    whoisit(home.path())
        .args(["gallery", "check"])
        .assert()
        .success()
        .stdout(predicate::str::contains("ok"));

    whoisit(home.path())
        .args(["people", "import"])
        .arg(&johns)
        .assert()
        .success();
    assert_eq!(people(home.path()), complete);
    whoisit(home.path())
        .args(["people", "import"])
        .arg(&johns)
        .assert()
        .success()
        .stdout(predicate::str::contains("0 people enrolled"));
    assert_eq!(
        people(home.path()),
        complete,
        "importing again adds nothing twice"
    );
}

#[test]
fn a_person_enrolled_from_the_cli_is_recognised_by_a_running_recognizer() {
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    let (_, stderr) = biden_named_after_enrollment(home.path(), &[], || {
        add_biden(home.path(), &[]);
    });
    assert!(
        !stderr.contains("locked") && !stderr.contains("busy"),
        "{stderr}"
    );
}

#[test]
fn people_can_be_listed_renamed_removed_exported_and_imported() {
    let home = tempfile::tempdir().unwrap();
    let dataset = obama_biden_dataset(home.path());
    whoisit(home.path())
        .args(["people", "import"])
        .arg(&dataset)
        .assert()
        .success();
    whoisit(home.path())
        .args(["people", "list"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"Biden +1 +never").unwrap())
        .stdout(predicate::str::is_match(r"Obama +2 +never").unwrap());
    whoisit(home.path())
        .args(["people", "rename", "Biden", "Joe Biden"])
        .assert()
        .success();
    whoisit(home.path())
        .args(["people", "rename", "Joe Biden", "Obama"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already enrolled"));

    let export = home.path().join("backup.json");
    whoisit(home.path())
        .args(["gallery", "export"])
        .arg(&export)
        .assert()
        .success()
        .stdout(predicate::str::contains("exported 2 people, 3 face(s)"));
    whoisit(home.path())
        .args(["people", "remove", "Obama"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "removed Obama: 2 face(s), 2 embedding(s), 2 image(s)",
        ));
    assert_eq!(people(home.path()), [("Joe Biden".to_owned(), 1)]);

    let clip = two_people_clip(home.path(), 12, 15.0);
    let (frames, _) = recognize(home.path(), clip.to_str().unwrap(), &[]);
    assert_eq!(labels(&frames[11]), ["unknown", "Joe Biden"]);
    whoisit(home.path())
        .args(["people", "list"])
        .assert()
        .success()
        .stdout(predicate::str::is_match(r"Joe Biden +1 +20\d\d-").unwrap());

    whoisit(home.path())
        .args(["gallery", "import"])
        .arg(&export)
        .assert()
        .success()
        .stdout(predicate::str::contains("imported 2 face(s)"));
    let (frames, _) = recognize(home.path(), clip.to_str().unwrap(), &[]);
    assert_eq!(labels(&frames[11]), ["Obama", "Joe Biden"]);
    whoisit(home.path())
        .args(["gallery", "check"])
        .assert()
        .success();
}

#[test]
fn bad_names_and_bad_datasets_are_refused_and_nothing_is_lost() {
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    let long = "x".repeat(10_000);
    for name in ["", "   ", long.as_str()] {
        whoisit(home.path())
            .args(["people", "add", name])
            .arg(common::photo("biden.jpg"))
            .assert()
            .failure()
            .stderr(predicate::str::contains("invalid name"));
        whoisit(home.path())
            .args(["people", "rename", "Obama", name])
            .assert()
            .failure();
    }
    let dataset = home.path().join("people/Biden");
    std::fs::create_dir_all(&dataset).unwrap();
    std::fs::copy(common::photo("biden.jpg"), dataset.join("biden.jpg")).unwrap();
    std::fs::write(dataset.join("notes.txt"), "not a photo").unwrap();
    std::os::unix::fs::symlink("/nonexistent/photo.jpg", dataset.join("gone.jpg")).unwrap();
    whoisit(home.path())
        .args(["people", "import"])
        .arg(home.path().join("people"))
        .assert()
        .success()
        .stdout(predicate::str::contains("enrolled Biden: 1 face(s)"))
        .stderr(predicate::str::contains("notes.txt").and(predicate::str::contains("not an image")))
        .stderr(predicate::str::contains("gone.jpg"));
    assert_eq!(
        people(home.path()),
        [("Biden".to_owned(), 1), ("Obama".to_owned(), 1)]
    );
}

#[test]
fn damaged_foreign_and_newer_gallery_files_are_reported_and_left_alone() {
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("data/gallery.sqlite3");
    let list = || whoisit(home.path()).args(["people", "list"]).assert();

    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "name,photo\nAda,ada.jpg\n").unwrap();
    list()
        .failure()
        .stderr(predicate::str::contains("not an SQLite database"));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "name,photo\nAda,ada.jpg\n"
    );
    std::fs::remove_file(&file).unwrap();

    enroll_obama(home.path());
    let connection = rusqlite::Connection::open(&file).unwrap();
    let current: i64 = connection
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    connection.pragma_update(None, "user_version", 99).unwrap();
    drop(connection);
    let before = sha256(&file);
    list()
        .failure()
        .stderr(predicate::str::contains("newer whoisit"));
    assert_eq!(sha256(&file), before);
    let connection = rusqlite::Connection::open(&file).unwrap();
    connection
        .pragma_update(None, "user_version", current)
        .unwrap();
    drop(connection);

    // Damage every page after the schema: the data is gone, and the check must say so.
    let mut bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 8192, "{}", bytes.len());
    for b in &mut bytes[4096..] {
        *b = 0xA5;
    }
    std::fs::write(&file, &bytes).unwrap();
    let before = sha256(&file);
    whoisit(home.path())
        .args(["gallery", "check"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("damaged").or(predicate::str::contains("problem")));
    assert_eq!(
        sha256(&file),
        before,
        "a damaged gallery is never written to"
    );
}

#[test]
fn reembed_computes_the_configured_embedders_vectors_from_stored_crops() {
    // A gallery made with another embedder: Obama with his crop kept, Biden without one.
    let source = tempfile::tempdir().unwrap();
    enroll_obama(source.path());
    let private = source.path().join("private.ron");
    std::fs::write(&private, "(keep_images: false)").unwrap();
    whoisit(source.path())
        .arg("--config")
        .arg(&private)
        .args(["people", "add", "Biden"])
        .arg(common::photo("biden.jpg"))
        .assert()
        .success();
    let export = source.path().join("export.json");
    whoisit(source.path())
        .args(["gallery", "export"])
        .arg(&export)
        .assert()
        .success();
    let text = std::fs::read_to_string(&export)
        .unwrap()
        .replace("dlib-resnet-v1", "openface-nn4.small2.v1");
    std::fs::write(&export, text).unwrap();

    let home = tempfile::tempdir().unwrap();
    whoisit(home.path())
        .args(["gallery", "import"])
        .arg(&export)
        .assert()
        .success();
    let clip = two_people_clip(home.path(), 12, 15.0);
    let output = whoisit(home.path())
        .args(["recognize", "--headless", "--source"])
        .arg(&clip)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("2 enrolled face(s) have no embedding from dlib-resnet-v1")
    );
    whoisit(home.path())
        .args(["gallery", "reembed"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "1 face(s) embedded with dlib-resnet-v1",
        ))
        .stderr(predicate::str::contains("1 face(s) have no stored image"));
    let (frames, _) = recognize(home.path(), clip.to_str().unwrap(), &[]);
    assert_eq!(
        labels(&frames[11]),
        ["Obama", "unknown"],
        "Obama is back; Biden needs enrolling again"
    );
    let gallery = SqliteGallery::open(&home.path().join("data"), None).unwrap();
    assert_eq!(
        gallery
            .embeddings(&EmbedderKind::OpenFace.id())
            .unwrap()
            .len(),
        2,
        "the other embedder's vectors are kept"
    );
}

#[test]
fn enrolling_a_face_under_the_wrong_name_is_warned_about() {
    let import = || {
        let home = tempfile::tempdir().unwrap();
        let dataset = obama_biden_dataset(home.path());
        whoisit(home.path())
            .args(["people", "import"])
            .arg(&dataset)
            .assert()
            .success();
        home
    };
    // obama3.jpg filed as Biden: it is nearer to Obama's faces than to Biden's.
    let home = import();
    whoisit(home.path())
        .args(["people", "add", "Biden"])
        .arg(common::photo("obama3.jpg"))
        .assert()
        .success()
        .stderr(
            predicate::str::is_match(
                r"obama3\.jpg is nearer to Obama \(0\.\d\d\) than to Biden \(0\.\d\d\)",
            )
            .unwrap(),
        );
    // Filed under the right name, it raises nothing.
    let home = import();
    whoisit(home.path())
        .args(["people", "add", "Obama"])
        .arg(common::photo("obama3.jpg"))
        .assert()
        .success()
        .stderr(predicate::str::contains("nearer").not());
}

#[test]
fn an_import_run_again_skips_enrolled_photos_without_decoding_them() {
    let home = tempfile::tempdir().unwrap();
    let (mut pipeline, _models) = common::pipeline();
    // A file that cannot be decoded, already enrolled by its checksum: were it decoded, it
    // would be reported as no image.
    let folder = home.path().join("people/Ann");
    std::fs::create_dir_all(&folder).unwrap();
    let bytes = b"\0 not an image, but enrolled by its checksum".to_vec();
    std::fs::write(folder.join("ann.jpg"), &bytes).unwrap();
    let gallery = SqliteGallery::open(&home.path().join("data"), None).unwrap();
    let known = whoisit::gallery::NewFace {
        embedder: pipeline.embedder_id(),
        embedding: whoisit::base::identity::Embedding(vec![0.1; whoisit::base::identity::DIM]),
        source: "ann.jpg".into(),
        source_sha256: Some(whoisit::vision::photo::sha256(&bytes)),
        confidence: 0.9,
        face_px: 100,
        sharpness: 200.0,
        pose: None,
        image_png: None,
    };
    common::add(&gallery, "Ann", &[known]).unwrap();
    let report = whoisit::enroll::dataset(
        &mut pipeline,
        &gallery,
        &common::enrollment(),
        &home.path().join("people"),
        &common::cli(),
    )
    .unwrap();
    assert!(report.skipped.is_empty(), "{:?}", report.skipped);
    assert_eq!((report.unchanged, report.enrolled.len()), (1, 0));
}

/// A gallery in `data` of `count` faces of Ann and Bob, each with a crop of noise (noise does
/// not compress: each crop runs over several pages of the file). Returns the crops.
fn gallery_of_noise(data: &Path, count: u64) -> Vec<Vec<u8>> {
    let crop = |seed: u64| {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut pixels = vec![0u8; 80 * 80 * 3];
        for p in &mut pixels {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *p = (x >> 32) as u8;
        }
        let image = Mat::from_slice(&pixels)
            .unwrap()
            .reshape(3, 80)
            .unwrap()
            .try_clone()
            .unwrap();
        whoisit::base::image::encode_png(&image).unwrap()
    };
    let crops: Vec<Vec<u8>> = (0..count).map(crop).collect();
    {
        let gallery = SqliteGallery::open(data, None).unwrap();
        for (i, png) in crops.iter().enumerate() {
            let face = whoisit::gallery::NewFace {
                embedder: EmbedderKind::Dlib.id(),
                embedding: whoisit::base::identity::Embedding(vec![0.1; 128]),
                source: format!("photo {i}"),
                source_sha256: Some(format!("{i:064x}")),
                confidence: 0.9,
                face_px: 100,
                sharpness: 200.0,
                pose: None,
                image_png: Some(png.clone()),
            };
            let name = if i % 2 == 0 { "Ann" } else { "Bob" };
            common::add(&gallery, name, &[face]).unwrap();
        }
    }
    crops
}

#[test]
fn a_damaged_gallery_can_still_be_salvaged_face_by_face() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("data");
    let crops = gallery_of_noise(&data, 20);
    // Damage the page where the 11th crop starts.
    let file = data.join("gallery.sqlite3");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &crops[10][100..164])
        .expect("the crop is in the file");
    let page = at / 4096 * 4096;
    bytes[page..page + 4096].fill(0xA5);
    std::fs::write(&file, &bytes).unwrap();

    // Reading goes on, with a warning; changing is refused and leaves the file as it was.
    whoisit(home.path())
        .args(["people", "list"])
        .assert()
        .success()
        .stderr(predicate::str::contains("is damaged"));
    whoisit(home.path())
        .args(["people", "rename", "Ann", "Anna"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("nothing was changed"));
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    let out = home.path().join("saved.json");
    whoisit(home.path())
        .args(["gallery", "export"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(predicate::str::contains("--salvage"));
    whoisit(home.path())
        .args(["gallery", "export", "--salvage"])
        .arg(&out)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("lost: ").and(predicate::str::contains("could not be read")),
        );
    let saved: whoisit::gallery::ExportFile =
        serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let faces: usize = saved.people.iter().map(|p| p.faces.len()).sum();
    assert!((10..20).contains(&faces), "{faces} faces salvaged");
    // What was saved goes into a new gallery whole.
    let fresh = tempfile::tempdir().unwrap();
    whoisit(fresh.path())
        .args(["gallery", "import"])
        .arg(&out)
        .assert()
        .success();
    whoisit(fresh.path())
        .args(["gallery", "check"])
        .assert()
        .success();
}

#[test]
fn own_thresholds_are_stored_audited_exported_and_cleared_in_sqlite() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let gallery = SqliteGallery::open(a.path(), None).unwrap();
    let other = SqliteGallery::open(b.path(), None).unwrap();
    common::own_thresholds_are_stored_and_cleared(&gallery, &other);
}

#[test]
fn the_roster_version_counts_only_who_can_be_named_in_sqlite_plain_and_encrypted() {
    let plain = tempfile::tempdir().unwrap();
    common::the_roster_version_counts_only_who_can_be_named(
        &SqliteGallery::open(plain.path(), None).unwrap(),
    );
    let encrypted = tempfile::tempdir().unwrap();
    let key = whoisit::gallery::GalleryKey::generate().unwrap();
    common::the_roster_version_counts_only_who_can_be_named(
        &SqliteGallery::open(encrypted.path(), Some(&key)).unwrap(),
    );
}
