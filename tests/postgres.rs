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
use common::secret::Secret;
use whoisit::base::identity::{DIM, EmbedderKind, Embedding};
use whoisit::gallery::{
    Changed, Corrections as _, Gallery, GalleryKey, NewFace, PostgresGallery, Sightings as _,
    SqliteGallery,
};
use whoisit::vision::pose::Pose;

fn face(v: f32, source: &str, embedder: EmbedderKind) -> NewFace {
    NewFace {
        embedder: embedder.id(),
        embedding: Embedding(vec![v; DIM]),
        source: source.into(),
        source_sha256: Some(format!("{:0>64}", hex::encode(source))),
        confidence: 0.9,
        face_px: 100,
        sharpness: 200.0,
        pose: None,
        image_png: None,
    }
}

#[test]
fn the_postgres_gallery_stores_each_face_s_pose_and_reports_a_person_s_poses() {
    let db = Database::new();
    let g = PostgresGallery::open(&db.url, None).unwrap();
    let posed = |v, source, pose| NewFace {
        pose,
        ..face(v, source, EmbedderKind::Dlib)
    };
    common::add(
        &g,
        "Ann",
        &[
            posed(0.1, "a", Some(Pose::Right)),
            posed(0.2, "b", Some(Pose::Up)),
            posed(0.3, "c", None),
        ],
    )
    .unwrap();
    let people = g.people().unwrap();
    assert_eq!(people[0].poses, [Pose::Right, Pose::Up]);
    assert_eq!(people[0].pose_report(), "right,up (2/4)");
    let faces = g.faces(people[0].id).unwrap();
    assert_eq!(
        faces.iter().map(|f| f.pose).collect::<Vec<_>>(),
        [Some(Pose::Right), Some(Pose::Up), None]
    );
    let export = g.export().unwrap();
    assert_eq!(export.people[0].faces[0].pose, Some(Pose::Right));
}

#[test]
fn the_postgres_gallery_keeps_people_faces_and_embedders_apart() {
    let db = Database::new();
    let dlib = EmbedderKind::Dlib.id();
    let g = PostgresGallery::open(&db.url, None).unwrap();
    assert_eq!(
        common::add(
            &g,
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
        common::add(&g, " Ann ", &[face(0.1, "a", EmbedderKind::Dlib)])
            .unwrap()
            .len(),
        0
    );
    common::add(&g, "Ann", &[face(0.3, "c", EmbedderKind::OpenFace)]).unwrap();
    common::add(&g, "Bob", &[face(0.4, "d", EmbedderKind::Dlib)]).unwrap();
    assert!(common::add(&g, "", &[face(0.5, "e", EmbedderKind::Dlib)]).is_err());
    drop(g);

    // Opening again migrates nothing and finds everything.
    let g = PostgresGallery::open(&db.url, None).unwrap();
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

    let bob = g.find("Bob").unwrap();
    let seen = common::sightings::record(None, "door", Some(bob), whoisit::gallery::now(), None);
    g.write_sightings(&[seen]).unwrap();
    assert!(g.person(bob).unwrap().last_seen.is_some());

    assert!(
        common::rename(&g, "Ann", "Bob")
            .unwrap_err()
            .to_string()
            .contains("already enrolled")
    );
    common::rename(&g, "Ann", "Anna").unwrap();
    let removed = common::remove(&g, "Anna").unwrap();
    assert_eq!((removed.faces, removed.embeddings), (3, 3));
    assert!(
        common::remove(&g, "Anna")
            .unwrap_err()
            .to_string()
            .contains("Anna")
    );

    // The portable format moves a roster between the two stores, idempotently.
    let sqlite_dir = tempfile::tempdir().unwrap();
    let local = SqliteGallery::open(sqlite_dir.path(), None).unwrap();
    let export = g.export().unwrap();
    assert_eq!(local.import(&export, &common::cli()).unwrap(), 1);
    common::add(&local, "Cy", &[face(0.6, "f", EmbedderKind::Dlib)]).unwrap();
    let back = local.export().unwrap();
    assert_eq!(
        g.import(&back, &common::cli()).unwrap(),
        1,
        "only Cy is new"
    );
    assert_eq!(g.import(&back, &common::cli()).unwrap(), 0);
    // Ids are each store's own; names and vectors are what moved.
    let moved = |g: &dyn Gallery| {
        g.embeddings(&dlib)
            .unwrap()
            .into_iter()
            .map(|e| (e.person, e.embedding))
            .collect::<Vec<_>>()
    };
    assert_eq!(moved(&g), moved(&local));
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
    let writer = PostgresGallery::open(&db.url, None).unwrap();
    assert!(
        feed.changes()
            .recv_timeout(Duration::from_millis(500))
            .is_err(),
        "nothing changed yet"
    );
    common::add(&writer, "Ann", &[face(0.1, "a", EmbedderKind::Dlib)]).unwrap();
    assert_eq!(
        feed.changes().recv_timeout(Duration::from_secs(5)),
        Ok(Changed)
    );
    // Recording who was seen is no change to the roster.
    let ann = writer.find("Ann").unwrap();
    let seen = common::sightings::record(None, "door", Some(ann), whoisit::gallery::now(), None);
    writer.write_sightings(&[seen]).unwrap();
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

fn open_error(url: &str, key: Option<&GalleryKey>) -> String {
    PostgresGallery::open(url, key).err().unwrap().to_string()
}

#[test]
fn a_sealed_gallery_keeps_crops_and_embeddings_unreadable_in_the_database() {
    let db = Database::new();
    let key = GalleryKey::generate().unwrap();
    let secret = Secret::new();
    let dlib = EmbedderKind::Dlib.id();
    let openface = EmbedderKind::OpenFace.id();
    let g = PostgresGallery::open(&db.url, Some(&key)).unwrap();
    let ids = common::add(
        &g,
        "Ann",
        &[secret.face.clone(), face(0.2, "b", EmbedderKind::Dlib)],
    )
    .unwrap();
    let without = g.faces_without(&openface).unwrap();
    assert_eq!(without[0].image_png.as_ref(), Some(&secret.crop));
    assert_eq!(without[1].image_png, None);
    let openface_vector = Embedding(vec![0.654_321; DIM]);
    g.add_embedding(ids[0], &openface, &openface_vector)
        .unwrap();
    assert_eq!(g.count_without(&openface).unwrap(), 1);
    assert_eq!(secret.found_in(&db.url, true), Vec::<&str>::new());

    // Through the gallery, everything reads as it was given.
    let ann = g.people().unwrap()[0].id;
    assert_eq!(
        g.face_image(ann, ids[0]).unwrap().as_ref(),
        Some(&secret.crop)
    );
    assert_eq!(g.face_image(ann, ids[1]).unwrap(), None);
    assert_eq!(
        common::images(&g, "Ann").unwrap(),
        std::slice::from_ref(&secret.crop)
    );
    let enrolled = g.embeddings(&dlib).unwrap();
    assert_eq!(enrolled.len(), 2);
    assert_eq!(enrolled[0].embedding, secret.face.embedding);
    assert_eq!(
        g.embeddings(&openface).unwrap()[0].embedding,
        openface_vector
    );
    let problems = g.check().unwrap().problems;
    assert!(problems.is_empty(), "{problems:?}");
    let export = g.export().unwrap();
    let exported = &export.people[0].faces[0];
    assert_eq!(exported.embeddings[0].vector, secret.face.embedding.0);
    assert_eq!(exported.image("Ann").unwrap().as_ref(), Some(&secret.crop));

    // An import is sealed too, and the same face again adds nothing.
    let copy = Database::new();
    let other = PostgresGallery::open(&copy.url, Some(&key)).unwrap();
    assert_eq!(other.import(&export, &common::cli()).unwrap(), 2);
    assert_eq!(other.import(&export, &common::cli()).unwrap(), 0);
    assert_eq!(secret.found_in(&copy.url, true), Vec::<&str>::new());
    assert_eq!(
        common::images(&other, "Ann").unwrap(),
        std::slice::from_ref(&secret.crop)
    );

    // A value that does not open is said, never skipped.
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client
        .execute(
            "UPDATE embedding SET vector = (SELECT image FROM face WHERE id = $1)
             WHERE face_id = $1 AND embedder = $2",
            &[&ids[0].0, &dlib.as_str()],
        )
        .unwrap();
    let error = g.embeddings(&dlib).unwrap_err().to_string();
    assert!(error.contains("sealed with another key"), "{error}");
    let problems = g.check().unwrap().problems;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("cannot be opened"), "{problems:?}");
}

#[test]
fn a_sealed_gallery_opens_only_with_its_key_file() {
    let db = Database::new();
    let key = GalleryKey::generate().unwrap();
    let g = PostgresGallery::open(&db.url, Some(&key)).unwrap();
    common::add(&g, "Ann", &[face(0.1, "a", EmbedderKind::Dlib)]).unwrap();
    drop(g);

    let none = open_error(&db.url, None);
    assert!(
        none.contains("are sealed: give its key with --key-file"),
        "{none}"
    );
    let other = open_error(&db.url, Some(&GalleryKey::generate().unwrap()));
    assert!(other.contains("cannot be read with this key"), "{other}");
    assert!(other.contains("Nothing was changed"), "{other}");
    let phrase = GalleryKey::parse("a passphrase of some length", "test").unwrap();
    let refused = open_error(&db.url, Some(&phrase));
    assert!(refused.contains("gallery new-key FILE"), "{refused}");
    // And so is a passphrase for a new gallery.
    let new = Database::new();
    let refused = open_error(&new.url, Some(&phrase));
    assert!(refused.contains("gallery new-key FILE"), "{refused}");

    let g = PostgresGallery::open(&db.url, Some(&key)).unwrap();
    assert_eq!(g.people().unwrap()[0].faces, 1);
}

#[test]
fn a_plain_gallery_is_sealed_and_unsealed_in_place() {
    let db = Database::new();
    let key = GalleryKey::generate().unwrap();
    let secret = Secret::new();
    let g = PostgresGallery::open(&db.url, None).unwrap();
    common::add(
        &g,
        "Ann",
        &[secret.face.clone(), face(0.2, "b", EmbedderKind::Dlib)],
    )
    .unwrap();
    common::add(&g, "Bob", &[face(0.3, "c", EmbedderKind::OpenFace)]).unwrap();
    // A face that was not Ann's, kept as her negative example: sealed and unsealed too (the
    // export, compared below, opens it).
    let ann = g.find("Ann").unwrap();
    let wrong = g
        .add_faces_to(ann, &[face(0.4, "x", EmbedderKind::Dlib)], &common::cli())
        .unwrap();
    g.not_in_face(ann, wrong[0], &common::cli()).unwrap();
    let before = serde_json::to_value(g.export().unwrap()).unwrap();
    assert_eq!(
        before["people"][0]["negatives"].as_array().unwrap().len(),
        1
    );
    let everything = common::secret::EVERYTHING;
    assert_eq!(secret.found_in(&db.url, false), everything);
    let paged = secret.found_in_pages(&db.url);
    assert!(paged.as_ref().is_none_or(|p| *p == everything), "{paged:?}");
    let asks = open_error(&db.url, Some(&key));
    assert!(
        asks.contains("`whoisit gallery encrypt --key-file FILE`"),
        "{asks}"
    );
    let nothing = PostgresGallery::unseal_all(&db.url, &key).unwrap_err();
    assert!(
        nothing.to_string().contains("nothing to decrypt"),
        "{nothing}"
    );

    PostgresGallery::seal_all(&db.url, &key).unwrap();
    assert_eq!(secret.found_in(&db.url, true), Vec::<&str>::new());
    // Nor do the rows the sealed values replaced linger in the tables' files.
    let left = secret.found_in_pages(&db.url);
    assert!(left.as_ref().is_none_or(Vec::is_empty), "{left:?}");
    // A connection made before the change learns of it, instead of reading ciphertext.
    let stale = g
        .embeddings(&EmbedderKind::Dlib.id())
        .unwrap_err()
        .to_string();
    assert!(stale.contains("since this whoisit connected"), "{stale}");
    drop(g);
    assert!(open_error(&db.url, None).contains("are sealed"));
    let sealed = PostgresGallery::open(&db.url, Some(&key)).unwrap();
    assert_eq!(
        serde_json::to_value(sealed.export().unwrap()).unwrap(),
        before
    );
    assert!(sealed.check().unwrap().problems.is_empty());
    let again = PostgresGallery::seal_all(&db.url, &key).unwrap_err();
    assert!(again.to_string().contains("sealed already"), "{again}");
    let wrong = PostgresGallery::unseal_all(&db.url, &GalleryKey::generate().unwrap());
    assert!(
        wrong
            .unwrap_err()
            .to_string()
            .contains("cannot be read with this key"),
        "the wrong key unsealed"
    );
    drop(sealed);

    PostgresGallery::unseal_all(&db.url, &key).unwrap();
    assert_eq!(secret.found_in(&db.url, false).len(), 5);
    let g = PostgresGallery::open(&db.url, None).unwrap();
    assert_eq!(serde_json::to_value(g.export().unwrap()).unwrap(), before);
    common::add(&g, "Cy", &[face(0.4, "d", EmbedderKind::Dlib)]).unwrap();
    assert!(g.check().unwrap().problems.is_empty());
}

#[test]
fn own_thresholds_are_stored_audited_exported_and_cleared_in_postgres() {
    let (a, b) = (Database::new(), Database::new());
    let gallery = PostgresGallery::open(&a.url, None).unwrap();
    let other = PostgresGallery::open(&b.url, None).unwrap();
    common::own_thresholds_are_stored_and_cleared(&gallery, &other);
}

#[test]
fn the_roster_version_counts_only_who_can_be_named_in_postgres_plain_and_sealed() {
    let plain = Database::new();
    common::the_roster_version_counts_only_who_can_be_named(
        &PostgresGallery::open(&plain.url, None).unwrap(),
    );
    let sealed = Database::new();
    let key = GalleryKey::generate().unwrap();
    common::the_roster_version_counts_only_who_can_be_named(
        &PostgresGallery::open(&sealed.url, Some(&key)).unwrap(),
    );
}

#[test]
fn connections_the_server_drops_are_replaced_and_the_next_call_succeeds() {
    let db = Database::new();
    let g = PostgresGallery::open(&db.url, None).unwrap();
    let feed = g.watch().unwrap();
    let (ann, _) = g
        .create_person("Ann", &[face(0.1, "a", EmbedderKind::Dlib)], &common::cli())
        .unwrap();
    assert!(feed.changes().recv_timeout(Duration::from_secs(5)).is_ok());
    for round in 0..3 {
        // Several connections in the pool, each dropped by the server.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| g.people().unwrap());
            }
        });
        let ended = db.terminate_connections();
        assert!(ended >= 2, "round {round}: {ended} connections ended");
        // The very next calls, reads and changes, are answered on new connections.
        assert_eq!(g.people().unwrap().len(), 1, "round {round}");
        let source = format!("after-{round}");
        g.add_faces_to(
            ann,
            &[face(0.2, &source, EmbedderKind::Dlib)],
            &common::cli(),
        )
        .unwrap();
        assert_eq!(g.faces(ann).unwrap().len(), round + 2);
        // The change feed's own connection is made again, and the change is heard.
        assert!(
            feed.changes().recv_timeout(Duration::from_secs(10)).is_ok(),
            "round {round}: the change after the cut was not announced"
        );
    }
}

#[test]
fn an_unknown_face_is_sealed_like_a_face() {
    let key = GalleryKey::generate().unwrap();
    let sealed = Database::new();
    let g = PostgresGallery::open(&sealed.url, Some(&key)).unwrap();
    // An unknown face's crop and embedding are sealed like a face's.
    let crop = Secret::new().crop;
    let stored = g
        .write_sightings(&[common::sightings::record(
            None,
            "door",
            None,
            whoisit::gallery::now(),
            Some(crop.clone()),
        )])
        .unwrap();
    let mut client = postgres::Client::connect(&sealed.url, postgres::NoTls).unwrap();
    let row = client
        .query_one("SELECT vector, crop FROM sighting", &[])
        .unwrap();
    for column in [0, 1] {
        let value: Vec<u8> = row.get(column);
        assert!(value.starts_with(b"wsl1"), "column {column} is not sealed");
    }
    assert_eq!(
        g.sighting_crop(stored[0].unwrap()).unwrap(),
        Some(crop.clone())
    );
    // Unsealed in place with the rest of the gallery, and read back plain.
    drop(g);
    whoisit::gallery::decrypt(
        &whoisit::gallery::GalleryConfig::Postgres(sealed.url.clone()),
        std::path::Path::new("/nonexistent"),
        &key,
    )
    .unwrap();
    let plain_crop: Vec<u8> = client
        .query_one("SELECT crop FROM sighting", &[])
        .unwrap()
        .get(0);
    assert_eq!(plain_crop, crop);
}
