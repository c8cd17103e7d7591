//! The gallery on a real PostgreSQL server: the same interface as the SQLite store, changes
//! announced to every listener, and one roster shared by processes with different data dirs.
//!
//! The server is `WHOISIT_TEST_POSTGRES` (an admin URL; `scripts/test.sh` sets it, starting a
//! server when none runs), by default `postgres://root@127.0.0.1:5432/postgres`. Each test makes
//! its own database and drops it at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use predicates::prelude::*;
use std::time::Duration;

use common::cli::{add_biden, biden_named_after_enrollment, whoisit};
use common::postgres::Database;
use whoisit::base::identity::{DIM, EmbedderKind, Embedding};
use whoisit::gallery::{Changed, Gallery as _, NewFace, PostgresGallery, SqliteGallery};

fn face(v: f32, source: &str, embedder: EmbedderKind) -> NewFace {
    NewFace {
        embedder: embedder.id(),
        embedding: Embedding(vec![v; DIM]),
        source: source.into(),
        source_sha256: Some(format!("{:0>64}", hex::encode(source))),
        confidence: 0.9,
        face_px: 100,
        sharpness: 200.0,
        image_png: None,
    }
}

#[test]
fn the_postgres_gallery_keeps_people_faces_and_embedders_apart() {
    let db = Database::new();
    let dlib = EmbedderKind::Dlib.id();
    let mut g = PostgresGallery::open(&db.url, None).unwrap();
    assert_eq!(
        g.add_faces(
            "Ann",
            &[
                face(0.1, "a", EmbedderKind::Dlib),
                face(0.2, "b", EmbedderKind::Dlib)
            ]
        )
        .unwrap()
        .len(),
        2
    );
    // The same photo again adds nothing; another embedder's face is kept apart.
    assert_eq!(
        g.add_faces(" Ann ", &[face(0.1, "a", EmbedderKind::Dlib)])
            .unwrap()
            .len(),
        0
    );
    g.add_faces("Ann", &[face(0.3, "c", EmbedderKind::OpenFace)])
        .unwrap();
    g.add_faces("Bob", &[face(0.4, "d", EmbedderKind::Dlib)])
        .unwrap();
    assert!(
        g.add_faces("", &[face(0.5, "e", EmbedderKind::Dlib)])
            .is_err()
    );
    drop(g);

    // Opening again migrates nothing and finds everything.
    let mut g = PostgresGallery::open(&db.url, None).unwrap();
    let people: Vec<(String, usize)> = g
        .people()
        .unwrap()
        .into_iter()
        .map(|p| (p.name, p.faces))
        .collect();
    assert_eq!(people, [("Ann".to_owned(), 3), ("Bob".to_owned(), 1)]);
    assert_eq!(g.embeddings(&dlib).unwrap().len(), 3);
    assert_eq!(g.count_without(&dlib).unwrap(), 1);
    assert_eq!(g.faces_without(&dlib).unwrap()[0].person, "Ann");
    assert!(g.check().unwrap().problems.is_empty());

    g.mark_seen(&["Bob".to_owned()]).unwrap();
    let bob = g.people().unwrap().pop().unwrap();
    assert!(bob.last_seen.is_some());

    assert!(
        g.rename("Ann", "Bob")
            .unwrap_err()
            .to_string()
            .contains("already enrolled")
    );
    g.rename("Ann", "Anna").unwrap();
    let removed = g.remove("Anna").unwrap();
    assert_eq!((removed.faces, removed.embeddings), (3, 3));
    assert!(g.remove("Anna").unwrap_err().to_string().contains("Anna"));

    // The portable format moves a roster between the two stores, idempotently.
    let sqlite_dir = tempfile::tempdir().unwrap();
    let mut local = SqliteGallery::open(sqlite_dir.path(), None).unwrap();
    let export = g.export().unwrap();
    assert_eq!(local.import(&export).unwrap(), 1);
    local
        .add_faces("Cy", &[face(0.6, "f", EmbedderKind::Dlib)])
        .unwrap();
    let back = local.export().unwrap();
    assert_eq!(g.import(&back).unwrap(), 1, "only Cy is new");
    assert_eq!(g.import(&back).unwrap(), 0);
    assert_eq!(
        g.embeddings(&dlib).unwrap(),
        local.embeddings(&dlib).unwrap()
    );
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let db = Database::new();
    drop(PostgresGallery::open(&db.url, None).unwrap());
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client
        .batch_execute("UPDATE whoisit_schema SET version = 99")
        .unwrap();
    let err = PostgresGallery::open(&db.url, None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("newer whoisit"), "{err}");
    let err = PostgresGallery::open("postgres://nobody@127.0.0.1:1/none", None)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("cannot reach the database"), "{err}");
}

#[test]
fn a_change_through_one_connection_is_announced_on_another() {
    let db = Database::new();
    let watcher = PostgresGallery::open(&db.url, None).unwrap();
    let feed = watcher.watch().unwrap();
    let mut writer = PostgresGallery::open(&db.url, None).unwrap();
    assert!(
        feed.changes()
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "nothing changed yet"
    );
    writer
        .add_faces("Ann", &[face(0.1, "a", EmbedderKind::Dlib)])
        .unwrap();
    assert_eq!(
        feed.changes().recv_timeout(Duration::from_secs(5)),
        Ok(Changed)
    );
    // Recording who was seen is no change to the roster.
    writer.mark_seen(&["Ann".to_owned()]).unwrap();
    assert!(
        feed.changes()
            .recv_timeout(Duration::from_millis(600))
            .is_err()
    );
}

#[test]
fn a_person_enrolled_on_one_machine_is_named_by_a_recognizer_on_another() {
    let db = Database::new();
    // Two machines: each its own data dir and settings, one roster.
    let front_desk = tempfile::tempdir().unwrap();
    let camera_box = tempfile::tempdir().unwrap();
    whoisit(front_desk.path())
        .args(["--gallery", &db.url, "people", "add", "Obama"])
        .arg(common::photo("obama.jpg"))
        .assert()
        .success();
    let global = ["--gallery", db.url.as_str()];
    let (named_after, _) = biden_named_after_enrollment(camera_box.path(), &global, || {
        add_biden(front_desk.path(), &global);
    });
    println!("propagation: Biden named {named_after:?} after his enrollment finished");
    assert!(
        !camera_box.path().join("data/gallery.sqlite3").exists(),
        "the recognizer used a local gallery"
    );
}

#[test]
fn gallery_copy_moves_a_roster_between_stores_and_can_be_run_again() {
    let db = Database::new();
    let laptop = tempfile::tempdir().unwrap();
    let server_room = tempfile::tempdir().unwrap();
    whoisit(laptop.path())
        .args(["people", "add", "Obama"])
        .arg(common::photo("obama.jpg"))
        .arg(common::photo("obama2.jpg"))
        .assert()
        .success();
    for expected in [
        "2 face(s) added, 0 already there",
        "0 face(s) added, 2 already there",
    ] {
        whoisit(laptop.path())
            .args(["gallery", "copy", "--to", &db.url])
            .assert()
            .success()
            .stdout(predicates::str::contains(expected));
    }
    // From the shared database into another machine's embedded gallery.
    whoisit(server_room.path())
        .args(["--gallery", &db.url, "gallery", "copy", "--to", "sqlite"])
        .assert()
        .success()
        .stdout(predicates::str::contains("2 face(s) added"));
    whoisit(server_room.path())
        .args(["people", "list"])
        .assert()
        .success()
        .stdout(predicates::str::contains("Obama").and(predicates::str::contains("1 people")));
    whoisit(laptop.path())
        .args(["gallery", "copy", "--to", "sqlite"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("name the other one"));
}
