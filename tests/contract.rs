//! One contract, four stores: every operation of the `Gallery` interface, its errors, its
//! audit entry, forgetting to the last byte and the roster's version, written once and run on
//! SQLite plain, SQLite encrypted, PostgreSQL plain and PostgreSQL sealed
//! (`cargo test --test contract postgres_sealed` runs one store's).
//!
//! PostgreSQL is `WHOISIT_TEST_POSTGRES` (see tests/common/postgres.rs); each test makes its own
//! database and drops it at the end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::path::Path;

use common::postgres::Database;
use common::secret::{EVERYTHING, Secret};
use common::{cli, face};
use whoisit::Error;
use whoisit::base::identity::{DIM, EmbedderKind, Embedding, Enrolled};
use whoisit::gallery::{
    Actor, AuditAction, AuditEntry, Corrected, FaceId, Gallery, GalleryKey, GroupSettings, Merged,
    NewFace, OwnThreshold, PersonId, PostgresGallery, Removed, Scope, SightingId, SightingQuery,
    SightingRecord, SqliteGallery, ThresholdChange, UnknownFace, VisitorId, Who, now, regroup,
};
use whoisit::vision::pose::Pose;

/// Where a store under test keeps its data, to look beneath the interface.
enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(Database),
}

/// A store under test: the gallery, where it keeps its data and its key.
struct Store {
    gallery: Box<dyn Gallery>,
    place: Place,
    key: Option<GalleryKey>,
}

impl Store {
    fn sqlite(encrypted: bool) -> Store {
        let dir = tempfile::tempdir().unwrap();
        let key = encrypted.then(|| GalleryKey::write_new(&dir.path().join("key")).unwrap());
        Store {
            gallery: Box::new(SqliteGallery::open(dir.path(), key.as_ref()).unwrap()),
            place: Place::Sqlite(dir),
            key,
        }
    }

    fn postgres(sealed: bool) -> Store {
        let db = Database::new();
        let key = sealed.then(|| GalleryKey::generate().unwrap());
        Store {
            gallery: Box::new(PostgresGallery::open(&db.url, key.as_ref()).unwrap()),
            place: Place::Postgres(db),
            key,
        }
    }

    /// Another store of the same kind, empty.
    fn fresh(&self) -> Store {
        match self.place {
            Place::Sqlite(_) => Store::sqlite(self.key.is_some()),
            Place::Postgres(_) => Store::postgres(self.key.is_some()),
        }
    }

    /// Runs `sql` beneath the interface, as another program with the gallery's key could.
    fn raw(&self, sql: &str) -> Result<(), String> {
        match &self.place {
            Place::Sqlite(dir) => {
                let conn = rusqlite::Connection::open(SqliteGallery::file(dir.path())).unwrap();
                if self.key.is_some() {
                    conn.pragma_update(None, "key", sqlcipher_key(dir.path()))
                        .unwrap();
                }
                conn.execute_batch(sql).map_err(|e| e.to_string())
            }
            Place::Postgres(db) => postgres::Client::connect(&db.url, postgres::NoTls)
                .unwrap()
                .batch_execute(sql)
                .map_err(|e| format!("{e:?}")),
        }
    }

    /// Which parts of `secret` are anywhere the store keeps data: an SQLite gallery's files,
    /// or every page of a database's tables.
    fn found(&self, secret: &Secret) -> Vec<&'static str> {
        match &self.place {
            Place::Sqlite(dir) => secret.found_in_files(dir.path()),
            Place::Postgres(db) => secret
                .found_in_pages(&db.url)
                .expect("the contract searches the database's pages: it needs pageinspect"),
        }
    }
}

/// The value of SQLCipher's `PRAGMA key` for the key in the key file in `dir`.
fn sqlcipher_key(dir: &Path) -> String {
    let hex = std::fs::read_to_string(dir.join("key")).unwrap();
    format!("x'{}'", hex.trim())
}

impl std::ops::Deref for Store {
    type Target = dyn Gallery;

    fn deref(&self) -> &(dyn Gallery + 'static) {
        self.gallery.as_ref()
    }
}

/// Runs each contract on each of the four stores, as a test named after both
/// (`sqlite_encrypted::a_person_is_enrolled_found_and_listed`).
macro_rules! on_every_store {
    ($($contract:ident),* $(,)?) => {
        mod sqlite_plain {
            $(#[test] fn $contract() { super::$contract(&super::Store::sqlite(false)); })*
        }
        mod sqlite_encrypted {
            $(#[test] fn $contract() { super::$contract(&super::Store::sqlite(true)); })*
        }
        mod postgres_plain {
            $(#[test] fn $contract() { super::$contract(&super::Store::postgres(false)); })*
        }
        mod postgres_sealed {
            $(#[test] fn $contract() { super::$contract(&super::Store::postgres(true)); })*
        }
    };
}

on_every_store!(
    a_person_is_enrolled_found_and_listed,
    names_are_refused_taken_or_ambiguous_as_said,
    faces_are_added_to_a_person_by_id_and_removed_one_by_one,
    a_person_is_renamed_and_removed_with_everything_they_had,
    embeddings_are_kept_per_embedder_and_added_later,
    sightings_are_stored_named_paged_purged_and_forgotten,
    keys_are_stored_by_hash_listed_and_revoked,
    own_thresholds_are_stored_and_cleared,
    an_export_goes_into_an_empty_store_whole_and_once,
    check_counts_and_finds_nothing_wrong_with_a_healthy_gallery,
    a_forgotten_person_leaves_no_byte_of_their_face,
    visitors_are_grouped_named_and_dismissed_to_the_last_byte,
    the_roster_version_counts_only_who_can_be_named,
    the_audit_trail_cannot_be_rewritten,
    not_this_person_is_kept_as_a_negative_example_and_forgotten_with_them,
    two_people_who_are_one_are_merged_and_a_face_is_moved_to_whom_it_shows,
    the_site_threshold_is_stored_per_embedder_bounded_and_audited,
    kept_faces_are_read_newest_first_and_a_purge_is_counted_before_it_is_made,
);

/// A face of `source` with a crop and a pose.
fn posed(v: f32, source: &str, pose: Pose) -> NewFace {
    NewFace {
        pose: Some(pose),
        image_png: Some(png(v)),
        ..face(v, source)
    }
}

/// A small real PNG, different for each `v`.
fn png(v: f32) -> Vec<u8> {
    use opencv::core::{CV_8UC3, Mat, Scalar};
    let shade = f64::from(v) * 255.0;
    let image = Mat::new_rows_cols_with_default(8, 8, CV_8UC3, Scalar::all(shade)).unwrap();
    whoisit::base::image::encode_png(&image).unwrap()
}

/// The trail's entries after entry `after`, as (actor, action, detail).
fn trail_since(g: &Store, after: usize) -> Vec<(String, String, String)> {
    g.audit(0).unwrap()[after..]
        .iter()
        .map(|e: &AuditEntry| (e.actor.clone(), e.action.clone(), e.detail.clone()))
        .collect()
}

fn entry(actor: &Actor, action: &str, detail: String) -> (String, String, String) {
    (actor.as_str().to_owned(), action.to_owned(), detail)
}

fn a_person_is_enrolled_found_and_listed(g: &Store) {
    let desk = Actor::api_key("frontdesk");
    let (ann, faces) = g
        .create_person("Ann", &[posed(0.1, "a", Pose::Left)], &desk)
        .unwrap();
    assert_eq!(faces.len(), 1);
    let (cafe, none) = g.create_person("Caf\u{e9}", &[], &desk).unwrap();
    assert!(none.is_empty());

    let people = g.people().unwrap();
    assert_eq!(
        people
            .iter()
            .map(|p| (p.id, p.name.as_str(), p.faces))
            .collect::<Vec<_>>(),
        [(ann, "Ann", 1), (cafe, "Caf\u{e9}", 0)]
    );
    let summary = g.person(ann).unwrap();
    assert_eq!(summary, people[0]);
    assert_eq!(
        (
            summary.poses.as_slice(),
            summary.last_seen,
            &summary.own_threshold
        ),
        ([Pose::Left].as_slice(), None, &None)
    );
    assert!(summary.created <= now() && summary.created > now() - 60);

    // Found by name once, typed either way (composed or not, spaces around).
    assert_eq!(g.find("Ann").unwrap(), ann);
    assert_eq!(g.find(" Ann\t").unwrap(), ann);
    assert_eq!(g.find("Cafe\u{301}").unwrap(), cafe);
    assert!(matches!(g.find("Nobody"), Err(Error::UnknownPerson(n)) if n == "Nobody"));

    let stored = g.faces(ann).unwrap();
    assert_eq!(stored.len(), 1);
    let f = &stored[0];
    assert_eq!(
        (f.id, f.source.as_str(), f.pose, f.has_image, f.face_px),
        (faces[0], "a", Some(Pose::Left), true, 100)
    );
    assert_eq!(g.face_image(ann, faces[0]).unwrap(), Some(png(0.1)));
    assert_eq!(g.images(ann).unwrap(), [png(0.1)]);
    assert!(g.images(cafe).unwrap().is_empty());
    assert_eq!(
        g.source_hashes(ann)
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        [format!("{:0>64}", hex::encode("a"))]
    );

    // Whoever is not there is said to be missing, by every read.
    let gone = PersonId(ann.0 + cafe.0 + 1000);
    assert!(matches!(g.person(gone), Err(Error::NotFound(_))));
    assert!(matches!(g.faces(gone), Err(Error::NotFound(_))));
    assert!(matches!(g.images(gone), Err(Error::NotFound(_))));
    assert!(matches!(
        g.face_image(cafe, faces[0]),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        g.face_image(ann, FaceId(faces[0].0 + 1000)),
        Err(Error::NotFound(_))
    ));

    assert_eq!(
        trail_since(g, 0),
        [
            entry(
                &desk,
                "enroll",
                format!("person {}: 1 face(s) added", ann.0)
            ),
            entry(
                &desk,
                "enroll",
                format!("person {}: created with no faces", cafe.0)
            ),
        ]
    );
}

fn names_are_refused_taken_or_ambiguous_as_said(g: &Store) {
    let (ann, _) = g.create_person("Ann", &[face(0.1, "a")], &cli()).unwrap();
    let trail = g.audit(0).unwrap().len();
    for bad in [
        "",
        "   ",
        &"x".repeat(10_000),
        "a\nb",
        "An\u{200B}n",
        "\u{202E}nnA",
    ] {
        let refused = g.create_person(bad, &[face(0.2, "b")], &cli());
        assert!(
            matches!(refused, Err(Error::InvalidInput(_))),
            "{bad:?}: {refused:?}"
        );
        let refused = g.rename(ann, bad, &cli());
        assert!(
            matches!(refused, Err(Error::InvalidInput(_))),
            "{bad:?}: {refused:?}"
        );
    }
    assert!(matches!(
        g.create_person(" Ann ", &[face(0.3, "c")], &cli()),
        Err(Error::NameTaken(n)) if n == "Ann"
    ));
    // An embedding of the wrong length stores nothing, not even the person.
    let short = NewFace {
        embedding: Embedding(vec![0.5; 5]),
        ..face(0.4, "d")
    };
    assert!(
        g.create_person("Bob", &[face(0.5, "e"), short.clone()], &cli())
            .is_err()
    );
    assert!(
        g.add_faces_to(ann, &[face(0.6, "f"), short], &cli())
            .is_err()
    );
    assert_eq!(
        g.people()
            .unwrap()
            .iter()
            .map(|p| (p.name.as_str(), p.faces))
            .collect::<Vec<_>>(),
        [("Ann", 1)]
    );
    assert_eq!(
        g.audit(0).unwrap().len(),
        trail,
        "nothing refused is in the trail"
    );

    // A gallery written before names were composed may hold one name in two forms: a name
    // is then said to be ambiguous, with both ids, never taken for one of them.
    let (cafe, _) = g.create_person("Caf\u{e9}", &[], &cli()).unwrap();
    g.raw("INSERT INTO person (name, created) VALUES ('Cafe\u{301}', 0)")
        .unwrap();
    let decomposed = g
        .people()
        .unwrap()
        .into_iter()
        .find(|p| p.name == "Cafe\u{301}")
        .unwrap()
        .id;
    match g.find("Caf\u{e9}") {
        Err(Error::AmbiguousName { name, ids }) => {
            assert_eq!(name, "Caf\u{e9}");
            assert_eq!(ids, [cafe.0, decomposed.0]);
        }
        other => panic!("{other:?}"),
    }
    // By id, either one is still reached and can be renamed apart.
    g.rename(decomposed, "Cafe Two", &cli()).unwrap();
    assert_eq!(g.find("Caf\u{e9}").unwrap(), cafe);
}

fn faces_are_added_to_a_person_by_id_and_removed_one_by_one(g: &Store) {
    let desk = Actor::api_key("frontdesk");
    let (ann, first) = g.create_person("Ann", &[face(0.1, "a")], &cli()).unwrap();
    let (bob, _) = g.create_person("Bob", &[face(0.9, "z")], &cli()).unwrap();
    let trail = g.audit(0).unwrap().len();

    let added = g
        .add_faces_to(ann, &[face(0.2, "b"), posed(0.3, "c", Pose::Up)], &desk)
        .unwrap();
    assert_eq!(added.len(), 2);
    // The same photos again add nothing, and say nothing in the trail.
    assert!(
        g.add_faces_to(ann, &[face(0.2, "b"), face(0.1, "a")], &desk)
            .unwrap()
            .is_empty()
    );
    // The same photo is another person's own.
    assert_eq!(
        g.add_faces_to(bob, &[face(0.2, "b")], &desk).unwrap().len(),
        1
    );
    assert_eq!(
        g.faces(ann)
            .unwrap()
            .iter()
            .map(|f| f.id)
            .collect::<Vec<_>>(),
        [first[0], added[0], added[1]],
        "oldest first"
    );

    // A person removed meanwhile is not brought back.
    let (gone, _) = g.create_person("Gone", &[], &cli()).unwrap();
    g.remove(gone, &cli()).unwrap();
    assert!(matches!(
        g.add_faces_to(gone, &[face(0.4, "d")], &desk),
        Err(Error::NotFound(_))
    ));
    assert!(g.find("Gone").is_err());

    g.remove_face(ann, added[0], &desk).unwrap();
    assert_eq!(g.faces(ann).unwrap().len(), 2);
    assert!(matches!(
        g.remove_face(ann, added[0], &desk),
        Err(Error::NotFound(_))
    ));
    // A face is removed only through its own person.
    assert!(matches!(
        g.remove_face(bob, added[1], &desk),
        Err(Error::NotFound(_))
    ));
    assert_eq!(g.faces(ann).unwrap().len(), 2);

    let trail: Vec<_> = trail_since(g, trail)
        .into_iter()
        .filter(|(actor, ..)| actor == desk.as_str())
        .collect();
    assert_eq!(
        trail,
        [
            entry(
                &desk,
                "enroll",
                format!("person {}: 2 face(s) added", ann.0)
            ),
            entry(
                &desk,
                "enroll",
                format!("person {}: 1 face(s) added", bob.0)
            ),
            entry(
                &desk,
                "remove_face",
                format!("person {}: face {} removed", ann.0, added[0].0)
            ),
        ]
    );
}

fn a_person_is_renamed_and_removed_with_everything_they_had(g: &Store) {
    let dlib = EmbedderKind::Dlib.id();
    let (ann, faces) = g
        .create_person(
            "Ann",
            &[posed(0.1, "a", Pose::Front), face(0.2, "b")],
            &cli(),
        )
        .unwrap();
    let (bob, _) = g.create_person("Bob", &[face(0.3, "c")], &cli()).unwrap();
    let other = EmbedderKind::OpenFace.id();
    g.add_embedding(faces[0], &other, &Embedding(vec![0.7; DIM]))
        .unwrap();
    let trail = g.audit(0).unwrap().len();

    g.rename(ann, "Anna", &cli()).unwrap();
    assert_eq!(g.find("Anna").unwrap(), ann);
    assert!(matches!(g.find("Ann"), Err(Error::UnknownPerson(_))));
    assert!(matches!(g.rename(ann, "Bob", &cli()), Err(Error::NameTaken(n)) if n == "Bob"));
    g.rename(ann, " Anna ", &cli()).unwrap();
    let gone = PersonId(ann.0 + bob.0 + 1000);
    assert!(matches!(
        g.rename(gone, "Zed", &cli()),
        Err(Error::NotFound(_))
    ));

    assert_eq!(
        g.remove(ann, &cli()).unwrap(),
        Removed {
            faces: 2,
            embeddings: 3,
            images: 1
        }
    );
    assert!(matches!(g.remove(ann, &cli()), Err(Error::NotFound(_))));
    assert!(matches!(g.person(ann), Err(Error::NotFound(_))));
    assert_eq!(
        g.embeddings(&dlib)
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>(),
        [Some(bob)]
    );
    assert!(g.embeddings(&other).unwrap().is_empty());
    assert_eq!(
        g.count_without(&other).unwrap(),
        1,
        "only Bob's face is left"
    );

    assert_eq!(
        trail_since(g, trail),
        [
            entry(&cli(), "rename", format!("person {}: renamed", ann.0)),
            entry(
                &cli(),
                "remove",
                format!(
                    "person {}: removed with 2 face(s), 3 embedding(s), 1 crop(s)",
                    ann.0
                )
            ),
        ],
        "a rename to the same name is no change"
    );
    assert!(
        g.audit(0)
            .unwrap()
            .iter()
            .all(|e| !e.detail.contains("Ann")),
        "names stay out of the trail"
    );
}

fn embeddings_are_kept_per_embedder_and_added_later(g: &Store) {
    let (dlib, other) = (EmbedderKind::Dlib.id(), EmbedderKind::OpenFace.id());
    let (ann, faces) = g
        .create_person(
            "Ann",
            &[posed(0.1, "a", Pose::Front), face(0.2, "b")],
            &cli(),
        )
        .unwrap();
    let enrolled = g.embeddings(&dlib).unwrap();
    assert_eq!(
        enrolled
            .iter()
            .map(|e| (e.person.as_str(), e.id, e.embedding.0[0]))
            .collect::<Vec<_>>(),
        [("Ann", Some(ann), 0.1), ("Ann", Some(ann), 0.2)]
    );
    assert!(g.embeddings(&other).unwrap().is_empty());
    assert_eq!(g.count_without(&dlib).unwrap(), 0);
    assert_eq!(g.count_without(&other).unwrap(), 2);
    let todo = g.faces_without(&other).unwrap();
    assert_eq!(
        todo.iter()
            .map(|f| (f.id, f.person.as_str(), f.image_png.clone()))
            .collect::<Vec<_>>(),
        [(faces[0], "Ann", Some(png(0.1))), (faces[1], "Ann", None)]
    );

    g.add_embedding(faces[0], &other, &Embedding(vec![0.7; DIM]))
        .unwrap();
    // Computed again, it replaces the first.
    g.add_embedding(faces[0], &other, &Embedding(vec![0.8; DIM]))
        .unwrap();
    assert_eq!(
        g.embeddings(&other)
            .unwrap()
            .iter()
            .map(|e| e.embedding.0[0])
            .collect::<Vec<_>>(),
        [0.8]
    );
    assert_eq!(g.count_without(&other).unwrap(), 1);
    assert_eq!(
        g.embeddings(&dlib).unwrap().len(),
        2,
        "the first embedder's are kept"
    );
    // A face removed meanwhile gets no embedding.
    g.remove_face(ann, faces[1], &cli()).unwrap();
    assert!(matches!(
        g.add_embedding(faces[1], &other, &Embedding(vec![0.9; DIM])),
        Err(Error::NotFound(_))
    ));
    assert_eq!(g.count_without(&other).unwrap(), 0);
}

fn sightings_are_stored_named_paged_purged_and_forgotten(g: &Store) {
    common::sightings::sightings_are_stored_named_paged_purged_and_forgotten(&**g);
}

fn keys_are_stored_by_hash_listed_and_revoked(g: &Store) {
    let (hash, other) = ("1".repeat(64), "2".repeat(64));
    let made = g
        .add_key(" door ", &[Scope::Recognize, Scope::Read], &hash, &cli())
        .unwrap();
    assert_eq!(made.name, "door");
    assert!(made.allows(Scope::Read) && !made.allows(Scope::Admin));
    let taken = g
        .add_key("door", &[Scope::Admin], &other, &cli())
        .unwrap_err();
    assert!(taken.to_string().contains("exists already"), "{taken}");
    assert!(matches!(taken, Error::KeyNameTaken(_)), "{taken:?}");
    for bad in ["", "a\nb"] {
        assert!(matches!(
            g.add_key(bad, &[Scope::Admin], &other, &cli()),
            Err(Error::InvalidInput(_))
        ));
    }
    g.add_key("admin", &[Scope::Admin], &other, &cli()).unwrap();
    assert_eq!(
        g.keys()
            .unwrap()
            .iter()
            .map(|k| k.name.as_str())
            .collect::<Vec<_>>(),
        ["admin", "door"]
    );
    assert_eq!(g.key_by_hash(&hash).unwrap(), Some(made));
    assert_eq!(g.key_by_hash(&"3".repeat(64)).unwrap(), None);

    g.revoke_key("door", &cli()).unwrap();
    assert_eq!(g.key_by_hash(&hash).unwrap(), None);
    assert!(matches!(
        g.revoke_key("door", &cli()),
        Err(Error::NotFound(_))
    ));
    assert_eq!(g.keys().unwrap().len(), 1);
    assert_eq!(
        trail_since(g, 0),
        [
            entry(
                &cli(),
                "key_created",
                "key door (recognize,read)".to_owned()
            ),
            entry(&cli(), "key_created", "key admin (admin)".to_owned()),
            entry(&cli(), "key_revoked", "key door".to_owned()),
        ]
    );
}

fn own_thresholds_are_stored_and_cleared(g: &Store) {
    common::own_thresholds_are_stored_and_cleared(&**g, &*g.fresh());
}

fn an_export_goes_into_an_empty_store_whole_and_once(g: &Store) {
    let (_, faces) = g
        .create_person(
            "Ann",
            &[posed(0.1, "a", Pose::Right), face(0.2, "b")],
            &cli(),
        )
        .unwrap();
    g.add_embedding(
        faces[1],
        &EmbedderKind::OpenFace.id(),
        &Embedding(vec![0.3; DIM]),
    )
    .unwrap();
    let (bob, _) = g.create_person("Bob", &[face(0.4, "c")], &cli()).unwrap();
    common::sightings::seen(&**g, bob);
    let file = g.export().unwrap();
    assert_eq!(
        file.people
            .iter()
            .map(|p| (p.name.as_str(), p.faces.len()))
            .collect::<Vec<_>>(),
        [("Ann", 2), ("Bob", 1)]
    );

    let copy = g.fresh();
    assert_eq!(copy.import(&file, &cli()).unwrap(), 3);
    assert_eq!(
        copy.import(&file, &cli()).unwrap(),
        0,
        "an import run again adds nothing"
    );
    let json = |g: &dyn Gallery| serde_json::to_value(g.export().unwrap()).unwrap();
    assert_eq!(
        json(&*copy),
        json(&**g),
        "people, faces, poses, crops, embeddings, times"
    );
    let trail = copy.audit(0).unwrap();
    assert_eq!(
        trail.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(),
        [
            "3 face(s) of 2 people imported",
            "0 face(s) of 2 people imported"
        ]
    );

    // A file that fails half-way changes nothing.
    let mut bad = file.clone();
    bad.people.push(bad.people[0].clone());
    bad.people[2].name = "Cy".into();
    bad.people[2].faces[0].embeddings[0].vector.truncate(5);
    let fresh = g.fresh();
    assert!(matches!(
        fresh.import(&bad, &cli()),
        Err(Error::InvalidInput(_))
    ));
    assert!(fresh.people().unwrap().is_empty());
    assert!(fresh.audit(0).unwrap().is_empty());
}

fn check_counts_and_finds_nothing_wrong_with_a_healthy_gallery(g: &Store) {
    g.create_person(
        "Ann",
        &[posed(0.1, "a", Pose::Left), face(0.2, "b")],
        &cli(),
    )
    .unwrap();
    g.create_person("Nobody yet", &[], &cli()).unwrap();
    let report = g.check().unwrap();
    assert_eq!(
        (
            report.people,
            report.faces,
            report.embeddings,
            report.without_faces
        ),
        (2, 2, 2, 1)
    );
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

fn a_forgotten_person_leaves_no_byte_of_their_face(g: &Store) {
    let expected: &[&str] = if g.key.is_some() { &[] } else { &EVERYTHING };
    // Rows stored before and after theirs: a page compacted around a removed row can leave
    // its bytes in the free room between the rows.
    let (bob, _) = g
        .create_person("Bob", &[posed(0.4, "b", Pose::Front)], &cli())
        .unwrap();
    let secret = Secret::new();
    let (ann, _) = g
        .create_person("Ann", std::slice::from_ref(&secret.face), &cli())
        .unwrap();
    g.create_person("Cy", &[posed(0.5, "c", Pose::Up)], &cli())
        .unwrap();
    assert_eq!(
        g.found(&secret),
        expected,
        "the test must see a plain store's face first, and nothing of an encrypted one's"
    );
    g.remove(ann, &cli()).unwrap();
    assert_eq!(g.found(&secret), Vec::<&str>::new());
    assert_eq!(g.people().unwrap().len(), 2);

    // One face forgotten, the person kept.
    let other = Secret::new();
    let added = g
        .add_faces_to(bob, std::slice::from_ref(&other.face), &cli())
        .unwrap();
    g.add_faces_to(bob, &[face(0.6, "d")], &cli()).unwrap();
    assert_eq!(g.found(&other), expected);
    g.remove_face(bob, added[0], &cli()).unwrap();
    assert_eq!(g.found(&other), Vec::<&str>::new());
    assert_eq!(g.faces(bob).unwrap().len(), 2);
    assert!(g.check().unwrap().problems.is_empty());
}

/// An unknown sighting at `camera`, seen at `last`, whose mean embedding is the secret's moved
/// by `shift` (a stranger's sightings lie near each other), with the secret's crop or a small
/// one of its own.
fn stranger(
    secret: &Secret,
    camera: &str,
    last: i64,
    shift: f32,
    crop: Option<Vec<u8>>,
) -> SightingRecord {
    let mut record = common::sightings::record(None, camera, None, last, None);
    record.unknown = Some(UnknownFace {
        crop: Some(crop.unwrap_or_else(|| secret.crop.clone())),
        embedder: EmbedderKind::Dlib.id(),
        embedding: Embedding(secret.face.embedding.0.iter().map(|v| v + shift).collect()),
    });
    record
}

/// The second stranger enrolled as Bob: their sightings are Bob's, their faces gone.
fn second_named_bob(g: &Store, second: VisitorId) {
    let (bob, _) = g.create_person("Bob", &[face(0.9, "b")], &cli()).unwrap();
    assert_eq!(g.name_visitor(second, bob).unwrap(), 4);
    let bobs = SightingQuery {
        who: Some(Who::Person(bob)),
        ..SightingQuery::all()
    };
    assert!(g.sightings(&bobs).unwrap().iter().all(|s| !s.has_crop));
    assert_eq!(g.sightings(&bobs).unwrap().len(), 4);
    assert_eq!(g.visitors(5).unwrap().len(), 1);
}

fn visitors_are_grouped_named_and_dismissed_to_the_last_byte(g: &Store) {
    let expected: &[&str] = if g.key.is_some() { &[] } else { &EVERYTHING };
    let settings = GroupSettings::default();
    let (ann, _) = g.create_person("Ann", &[face(0.1, "a")], &cli()).unwrap();
    let t = now();
    // Two strangers, three sightings each across two cameras, and one passer-by seen once;
    // the secret's crop is one of the first stranger's.
    let secret = Secret::new();
    let other = Secret::new();
    let mut records = vec![
        stranger(&secret, "door", t - 50, 0.0, None),
        stranger(&other, "back", t - 40, 0.5, Some(png(0.2))),
        stranger(&secret, "back", t - 30, 0.01, Some(png(0.3))),
        stranger(&other, "door", t - 20, 0.51, Some(png(0.4))),
        stranger(&secret, "door", t - 10, 0.02, Some(png(0.5))),
        stranger(&other, "door", t - 5, 0.52, Some(png(0.6))),
        common::sightings::record(None, "door", Some(ann), t, None),
    ];
    let mut passer_by = stranger(&other, "hall", t - 1, 0.0, Some(png(0.7)));
    passer_by.unknown.as_mut().unwrap().embedding = Embedding(vec![-0.3; DIM]);
    records.push(passer_by);
    let ids: Vec<SightingId> = g
        .write_sightings(&records)
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    assert_eq!(g.unknown_embeddings().unwrap().len(), 7);
    assert_eq!(
        regroup(&**g, &settings).unwrap(),
        6,
        "the passer-by stays ungrouped"
    );
    assert_eq!(
        regroup(&**g, &settings).unwrap(),
        0,
        "grouping again changes nothing"
    );
    let visitors = g.visitors(2).unwrap();
    assert_eq!(visitors.len(), 2, "{visitors:?}");
    // The most recently seen first; a group is named after its first sighting.
    let (second, first) = (&visitors[0], &visitors[1]);
    assert_eq!(
        (first.id, second.id),
        (VisitorId(ids[0].0), VisitorId(ids[1].0))
    );
    assert_eq!(
        (first.sightings, first.first, first.last),
        (3, t - 60, t - 10)
    );
    assert_eq!(first.cameras, ["back", "door"]);
    assert_eq!(first.samples.len(), 2);
    assert!(
        first
            .samples
            .iter()
            .all(|s| [ids[0], ids[2], ids[4]].contains(s))
    );
    assert_eq!(g.found(&secret), expected);

    // A fourth sighting of the second stranger joins their group, which keeps its id.
    g.write_sightings(&[stranger(&other, "hall", t, 0.505, Some(png(0.8)))])
        .unwrap();
    assert_eq!(regroup(&**g, &settings).unwrap(), 1);
    let grown = g.visitors(5).unwrap();
    assert_eq!((grown[0].id, grown[0].sightings), (second.id, 4));

    second_named_bob(g, second.id);

    // The first dismissed: no byte of its crops or embeddings is left, and it is audited.
    let dismissed = g.dismiss_visitor(first.id, &cli()).unwrap();
    assert_eq!(dismissed.sightings, 3);
    assert_eq!(g.found(&secret), Vec::<&str>::new());
    assert!(g.visitors(5).unwrap().is_empty());
    let again = g.dismiss_visitor(first.id, &cli());
    assert!(matches!(again, Err(Error::NotFound(_))));
    let trail = g.audit(0).unwrap();
    let last = trail.last().unwrap();
    assert_eq!(last.action, AuditAction::DismissVisitor.as_str());
    assert!(
        last.detail.contains(&format!("visitor {}", first.id.0)),
        "{last:?}"
    );
    assert_eq!(
        g.sightings(&SightingQuery::all()).unwrap().len(),
        records.len() + 1 - 3,
        "only the dismissed group's sightings are gone"
    );
}

fn the_roster_version_counts_only_who_can_be_named(g: &Store) {
    common::the_roster_version_counts_only_who_can_be_named(&**g);
}

fn the_audit_trail_cannot_be_rewritten(g: &Store) {
    g.record(
        AuditAction::Export,
        "1 people, 1 face(s) to out.json",
        &Actor::window(),
    )
    .unwrap();
    let trail = g.audit(0).unwrap();
    assert_eq!(trail.len(), 1);
    assert!(trail[0].actor.starts_with("window:"), "{:?}", trail[0]);
    for sql in ["UPDATE audit SET detail = 'nothing'", "DELETE FROM audit"] {
        let refused = g.raw(sql).unwrap_err();
        assert!(refused.contains("append-only"), "{sql}: {refused}");
    }
    assert_eq!(g.audit(0).unwrap(), trail);
    assert!(g.audit(now() + 60).unwrap().is_empty());
}

fn not_this_person_is_kept_as_a_negative_example_and_forgotten_with_them(g: &Store) {
    let desk = Actor::api_key("frontdesk");
    let dlib = EmbedderKind::Dlib.id();
    let (ann, _) = g.create_person("Ann", &[face(0.1, "a")], &cli()).unwrap();
    let (bob, _) = g.create_person("Bob", &[face(0.9, "b")], &cli()).unwrap();
    // A stranger named Ann: the sighting keeps the track's mean embedding, never the crop.
    let secret = Secret::new();
    let mut named = common::sightings::record(None, "door", Some(ann), now(), None);
    named.unknown = Some(UnknownFace {
        crop: Some(secret.crop.clone()),
        embedder: dlib.clone(),
        embedding: secret.face.embedding.clone(),
    });
    let without = common::sightings::record(None, "door", Some(ann), now(), None);
    let ids = g.write_sightings(&[named, without]).unwrap();
    let (wrong, bare) = (ids[0].unwrap(), ids[1].unwrap());
    let embedding_only: &[&str] = if g.key.is_some() {
        &[]
    } else {
        &EVERYTHING[3..]
    };
    assert_eq!(g.found(&secret), embedding_only);

    let version = g.roster_version().unwrap();
    let trail = g.audit(0).unwrap().len();
    assert_eq!(
        g.not_in_sighting(wrong, &desk).unwrap(),
        Corrected {
            person: ann,
            examples: 1
        }
    );
    assert!(
        g.roster_version().unwrap() > version,
        "every recognizer reloads"
    );
    assert_eq!(
        g.negatives(&dlib).unwrap(),
        [Enrolled {
            person: "Ann".into(),
            id: Some(ann),
            embedding: secret.face.embedding.clone(),
        }]
    );
    assert!(
        g.negatives(&EmbedderKind::OpenFace.id())
            .unwrap()
            .is_empty()
    );
    let sighting = |id: SightingId| {
        g.sightings(&SightingQuery::all())
            .unwrap()
            .into_iter()
            .find(|s| s.id == id)
            .unwrap()
    };
    assert_eq!(sighting(wrong).person, None, "the sighting is unknown now");
    a_correction_outlives_its_track(g, ann, wrong, &secret);
    assert_eq!(
        trail_since(g, trail),
        [entry(
            &desk,
            "not_this_person",
            format!(
                "sighting {} is not person {}: kept as a negative example, the sighting is unknown",
                wrong.0, ann.0
            )
        )]
    );
    nothing_is_corrected_that_cannot_be(g, ann, wrong, bare);

    a_face_enrolled_wrongly_is_removed_and_kept(g, ann, bob);

    negatives_are_exported_and_imported_once(g);

    // Ann forgotten: her example goes with her; the sighting's embedding with retention.
    g.purge_sightings(&common::sightings::EVERYTHING, &cli())
        .unwrap();
    g.remove(ann, &cli()).unwrap();
    assert_eq!(g.negatives(&dlib).unwrap().len(), 1);
    assert_eq!(g.found(&secret), Vec::<&str>::new());
}

fn two_people_who_are_one_are_merged_and_a_face_is_moved_to_whom_it_shows(g: &Store) {
    let desk = Actor::api_key("frontdesk");
    let dlib = EmbedderKind::Dlib.id();
    let (ann, _) = g
        .create_person("Ann", &[face(0.1, "a"), face(0.2, "both")], &cli())
        .unwrap();
    let (twin, twin_faces) = g
        .create_person("Ann B", &[face(0.3, "c"), face(0.2, "both")], &cli())
        .unwrap();
    let (cy, _) = g.create_person("Cy", &[face(0.8, "y")], &cli()).unwrap();
    let t = the_twin_has_a_threshold_and_was_seen_twice(g, twin);

    a_face_is_moved_to_whom_it_shows(g, ann, twin, cy, &twin_faces);

    // Merged: faces but the shared photo, the sighting still named, the example (from the
    // sighting corrected, unknown since), the own threshold.
    assert!(matches!(
        g.merge_people(ann, ann, &desk),
        Err(Error::InvalidInput(_))
    ));
    assert!(matches!(
        g.merge_people(ann, PersonId(ann.0 + 100), &desk),
        Err(Error::NotFound(_))
    ));
    let version = g.roster_version().unwrap();
    let merged = g.merge_people(ann, twin, &desk).unwrap();
    assert_eq!(
        merged,
        Merged {
            faces: 1,
            duplicates: 1,
            sightings: 1,
            negatives: 1,
            own_threshold: true,
        }
    );
    assert!(g.roster_version().unwrap() > version);
    assert!(matches!(g.person(twin), Err(Error::NotFound(_))));
    let person = g.person(ann).unwrap();
    assert_eq!(person.faces, 3);
    assert_eq!(person.own_threshold.map(|o| o.threshold), Some(0.5));
    assert_eq!(person.last_seen, Some(t));
    let anns = SightingQuery {
        who: Some(Who::Person(ann)),
        ..SightingQuery::all()
    };
    assert_eq!(
        g.sightings(&anns).unwrap().len(),
        1,
        "the corrected one is unknown"
    );
    let negatives = g.negatives(&dlib).unwrap();
    assert_eq!(
        (
            negatives.len(),
            negatives[0].id,
            negatives[0].person.as_str()
        ),
        (1, Some(ann), "Ann")
    );
    let last = g.audit(0).unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.detail),
        (
            "merge",
            format!(
                "person {} merged into person {}: 1 face(s) moved (1 duplicate(s) dropped), 1 \
                 sighting(s), 1 negative example(s), own threshold taken",
                twin.0, ann.0
            )
        )
    );
    assert!(g.check().unwrap().problems.is_empty());
}
/// Sighting `wrong`'s track, still in view, named Ann again by a recognizer that has not
/// reloaded yet after she was ruled out of it: the sighting stays unknown, and Ann is not
/// seen by it.
fn a_correction_outlives_its_track(g: &Store, ann: PersonId, wrong: SightingId, secret: &Secret) {
    let last_seen = |who: PersonId| {
        let people = g.people().unwrap();
        people.iter().find(|p| p.id == who).unwrap().last_seen
    };
    let before = last_seen(ann);
    let mut again = common::sightings::record(Some(wrong), "door", Some(ann), now() + 60, None);
    again.unknown = Some(UnknownFace {
        crop: None,
        embedder: EmbedderKind::Dlib.id(),
        embedding: secret.face.embedding.clone(),
    });
    assert_eq!(g.write_sightings(&[again]).unwrap(), [Some(wrong)]);
    let sightings = g.sightings(&SightingQuery::all()).unwrap();
    let stored = sightings.iter().find(|s| s.id == wrong).unwrap();
    assert_eq!(stored.person, None, "a correction outlives the track");
    assert_eq!(last_seen(ann), before);
}

/// What cannot be corrected changes nothing: a sighting unknown already, one that keeps no
/// embedding, one that is not there.
fn nothing_is_corrected_that_cannot_be(
    g: &Store,
    ann: PersonId,
    wrong: SightingId,
    bare: SightingId,
) {
    let desk = Actor::api_key("frontdesk");
    let dlib = EmbedderKind::Dlib.id();
    let refused = |result: Result<Corrected, Error>| match result {
        Err(Error::InvalidInput(message)) => message,
        other => panic!("{other:?}"),
    };
    assert!(refused(g.not_in_sighting(wrong, &desk)).contains("unknown already"));
    assert!(refused(g.not_in_sighting(bare, &desk)).contains("keeps no embedding"));
    assert!(matches!(
        g.not_in_sighting(SightingId(wrong.0 + 100), &desk),
        Err(Error::NotFound(_))
    ));
    let bare_person = g
        .sightings(&SightingQuery::all())
        .unwrap()
        .into_iter()
        .find(|s| s.id == bare)
        .map(|s| s.person);
    assert_eq!(bare_person, Some(Some(ann)));
    assert_eq!(g.negatives(&dlib).unwrap().len(), 1);
}

/// A face enrolled for Bob that is not him: removed, its embedding kept as his example.
fn a_face_enrolled_wrongly_is_removed_and_kept(g: &Store, ann: PersonId, bob: PersonId) {
    let desk = Actor::api_key("frontdesk");
    let dlib = EmbedderKind::Dlib.id();

    let added = g.add_faces_to(bob, &[face(0.7, "x")], &cli()).unwrap();
    assert!(matches!(
        g.not_in_face(ann, added[0], &desk),
        Err(Error::NotFound(_))
    ));
    assert_eq!(
        g.not_in_face(bob, added[0], &desk).unwrap(),
        Corrected {
            person: bob,
            examples: 1
        }
    );
    assert_eq!(g.faces(bob).unwrap().len(), 1);
    let negatives = g.negatives(&dlib).unwrap();
    assert_eq!(negatives.len(), 2);
    assert_eq!(
        (negatives[1].id, &negatives[1].embedding),
        (Some(bob), &face(0.7, "x").embedding)
    );
    let last = g.audit(0).unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.detail),
        (
            "not_this_person",
            format!(
                "face {} is not person {}: removed, 1 embedding(s) kept as negative examples",
                added[0].0, bob.0
            )
        )
    );
    assert!(g.check().unwrap().problems.is_empty());
}

/// Negative examples are exported and imported with their people, once however often
/// imported.
fn negatives_are_exported_and_imported_once(g: &Store) {
    let dlib = EmbedderKind::Dlib.id();
    let file = g.export().unwrap();
    let copy = g.fresh();
    copy.import(&file, &cli()).unwrap();
    copy.import(&file, &cli()).unwrap();
    let names = |g: &Store| -> Vec<(String, Vec<f32>)> {
        g.negatives(&dlib)
            .unwrap()
            .into_iter()
            .map(|n| (n.person, n.embedding.0))
            .collect()
    };
    assert_eq!(names(&copy), names(g));
}

/// A face moved: to whom it shows, not to somebody who has its photo, not from nobody.
fn a_face_is_moved_to_whom_it_shows(
    g: &Store,
    ann: PersonId,
    twin: PersonId,
    cy: PersonId,
    twin_faces: &[FaceId],
) {
    let desk = Actor::api_key("frontdesk");
    assert!(matches!(
        g.move_face(twin, twin_faces[1], ann, &desk),
        Err(Error::InvalidInput(m)) if m.contains("has the photo")
    ));
    assert!(matches!(
        g.move_face(ann, twin_faces[0], cy, &desk),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        g.move_face(twin, twin_faces[0], PersonId(ann.0 + 100), &desk),
        Err(Error::NotFound(_))
    ));
    let version = g.roster_version().unwrap();
    g.move_face(twin, twin_faces[0], cy, &desk).unwrap();
    assert!(
        g.roster_version().unwrap() > version,
        "every recognizer reloads"
    );
    assert_eq!(g.faces(cy).unwrap().len(), 2);
    assert_eq!(g.faces(twin).unwrap().len(), 1);
    let last = g.audit(0).unwrap().pop().unwrap();
    assert_eq!(
        (last.action.as_str(), last.detail),
        (
            "move_face",
            format!(
                "face {} moved from person {} to person {}",
                twin_faces[0].0, twin.0, cy.0
            )
        )
    );
    g.move_face(cy, twin_faces[0], twin, &desk).unwrap();
}

/// The second Ann's own threshold, a sighting of her corrected (a negative example) and one
/// still named; when she was seen.
fn the_twin_has_a_threshold_and_was_seen_twice(g: &Store, twin: PersonId) -> i64 {
    let dlib = EmbedderKind::Dlib.id();
    g.set_own_thresholds(
        &[ThresholdChange {
            person: twin,
            own: Some(OwnThreshold {
                threshold: 0.5,
                embedder: dlib.clone(),
            }),
        }],
        &cli(),
    )
    .unwrap();
    let t = now();
    let mut seen = common::sightings::record(None, "door", Some(twin), t, None);
    seen.unknown = Some(UnknownFace {
        crop: None,
        embedder: dlib.clone(),
        embedding: Embedding(vec![0.6; DIM]),
    });
    let seen = g.write_sightings(&[seen]).unwrap()[0].unwrap();
    g.not_in_sighting(seen, &cli()).unwrap();
    g.write_sightings(&[common::sightings::record(None, "back", Some(twin), t, None)])
        .unwrap();
    t
}

fn the_site_threshold_is_stored_per_embedder_bounded_and_audited(g: &Store) {
    let dlib = EmbedderKind::Dlib.id();
    let openface = EmbedderKind::OpenFace.id();
    let admin = Actor::api_key("admin");
    assert_eq!(g.site_threshold(&dlib).unwrap(), None);
    let before = g.roster_version().unwrap();
    g.set_site_threshold(&dlib, Some(0.48), &admin).unwrap();
    assert_eq!(g.site_threshold(&dlib).unwrap(), Some(0.48));
    assert_eq!(g.site_threshold(&openface).unwrap(), None, "per embedder");
    let set = g.roster_version().unwrap();
    assert!(
        set > before,
        "every roster reloads with it: {before} -> {set}"
    );
    g.set_site_threshold(&dlib, Some(0.6), &cli()).unwrap();
    assert_eq!(g.site_threshold(&dlib).unwrap(), Some(0.6));
    // Bounded as the config's is: nothing changes, nothing is audited.
    let trail = g.audit(0).unwrap().len();
    for bad in [0.0, -0.1, 2.01, f32::NAN, f32::INFINITY] {
        let refused = g
            .set_site_threshold(&dlib, Some(bad), &admin)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("must be a positive number")
                && refused.contains("nothing was changed"),
            "{bad}: {refused}"
        );
    }
    assert_eq!(g.site_threshold(&dlib).unwrap(), Some(0.6));
    assert_eq!(g.audit(0).unwrap().len(), trail);
    let changed = g.roster_version().unwrap();
    g.set_site_threshold(&dlib, None, &admin).unwrap();
    assert_eq!(g.site_threshold(&dlib).unwrap(), None);
    assert!(g.roster_version().unwrap() > changed);
    assert_eq!(
        trail_since(g, 0),
        [
            entry(
                &admin,
                "site_threshold",
                format!("site threshold for {dlib}: 0.480 (was the config's)")
            ),
            entry(
                &cli(),
                "site_threshold",
                format!("site threshold for {dlib}: 0.600 (was 0.480)")
            ),
            entry(
                &admin,
                "site_threshold",
                format!("site threshold for {dlib}: the config's (was 0.600)")
            ),
        ]
    );
}

fn kept_faces_are_read_newest_first_and_a_purge_is_counted_before_it_is_made(g: &Store) {
    use common::sightings::record;
    let (ann, _) = g.create_person("Ann", &[face(0.1, "a")], &cli()).unwrap();
    let t = now();
    let kept = |embedder: EmbedderKind, v: f32| UnknownFace {
        crop: None,
        embedder: embedder.id(),
        embedding: Embedding(vec![v; DIM]),
    };
    // Ann seen, her face kept; a stranger with a crop; one kept nothing; one of another
    // embedder; an old stranger past the unknown faces' days; an old sighting past retention.
    let mut named = record(None, "door", Some(ann), t - 50, None);
    named.unknown = Some(kept(EmbedderKind::Dlib, 0.2));
    let stranger = record(None, "door", None, t - 40, Some(png(0.5)));
    let mut bare = record(None, "door", None, t - 30, None);
    bare.unknown = None;
    let mut other = record(None, "door", None, t - 20, None);
    other.unknown = Some(kept(EmbedderKind::OpenFace, 0.3));
    let old_stranger = record(None, "back", None, t - 5 * 86_400, Some(png(0.7)));
    let older = record(None, "back", None, t - 40 * 86_400, None);
    let ids: Vec<SightingId> = g
        .write_sightings(&[older, old_stranger, named, stranger, bare, other])
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect();
    let dlib = EmbedderKind::Dlib.id();
    let read = g.kept_embeddings(&dlib, 1000).unwrap();
    let summary: Vec<(SightingId, Option<PersonId>, bool)> = read
        .iter()
        .map(|k| (k.sighting, k.person, k.has_crop))
        .collect();
    assert_eq!(
        summary,
        [
            (ids[3], None, true),
            (ids[2], Some(ann), false),
            (ids[1], None, true),
            (ids[0], None, false),
        ],
        "newest first, this embedder's, only those that keep a face"
    );
    assert_eq!(read[1].embedding, Embedding(vec![0.2; DIM]));
    assert_eq!(g.kept_embeddings(&dlib, 2).unwrap().len(), 2);
    for bad in [0, 1001] {
        assert!(matches!(
            g.kept_embeddings(&dlib, bad),
            Err(Error::InvalidInput(_))
        ));
    }
    assert_eq!(
        g.kept_embeddings(&EmbedderKind::OpenFace.id(), 1000)
            .unwrap()
            .iter()
            .map(|k| k.sighting)
            .collect::<Vec<_>>(),
        [ids[5]]
    );

    // 30 days of sightings, 3 of faces: counted first, forgotten only by the purge itself.
    let cutoffs = whoisit::gallery::Cutoffs {
        sightings: t - 30 * 86_400,
        unknown_faces: t - 3 * 86_400,
    };
    let counted = g.to_purge(&cutoffs).unwrap();
    assert_eq!(
        (counted.sightings, counted.unknown_faces, counted.last_seen),
        (1, 1, 0)
    );
    assert_eq!(
        g.to_purge(&cutoffs).unwrap(),
        counted,
        "counting forgets nothing"
    );
    assert_eq!(g.sightings(&SightingQuery::all()).unwrap().len(), 6);
    assert_eq!(
        g.purge_sightings(&cutoffs, &Actor::purge()).unwrap(),
        counted
    );
    assert_eq!(g.to_purge(&cutoffs).unwrap().sightings, 0);
}
