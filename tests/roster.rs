//! The roster in memory, on real stores: it follows the change feed, a change heard while the
//! gallery cannot be read is loaded once it can (the notice is not lost to the failed load),
//! and a new threshold is a new snapshot.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use whoisit::base::identity::{DIM, EmbedderKind, Embedding};
use whoisit::config::Config;
use whoisit::gallery::{Gallery, SqliteGallery};
use whoisit::roster::Roster;

use common::face;

fn open(gallery: &Arc<dyn Gallery>) -> Arc<Roster> {
    Roster::open(
        gallery.clone(),
        EmbedderKind::Dlib.id(),
        Config::default().matching(),
    )
    .unwrap()
}

/// Waits up to `limit` for `done`; whether it came.
fn within(limit: Duration, done: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    done()
}

#[test]
fn a_change_heard_while_the_gallery_cannot_be_read_is_loaded_once_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let gallery: Arc<dyn Gallery> = Arc::new(SqliteGallery::open(dir.path(), None).unwrap());
    common::add(gallery.as_ref(), "Ann", &[face(0.1, "a")]).unwrap();
    let roster = open(&gallery);
    assert_eq!(
        (roster.snapshot().people(), roster.snapshot().faces()),
        (1, 1)
    );

    // Another process breaks the store under the roster: loading it fails from now on.
    let other = rusqlite::Connection::open(dir.path().join("gallery.sqlite3")).unwrap();
    other
        .execute_batch("ALTER TABLE embedding RENAME TO embedding_away")
        .unwrap();
    // The one notice of this change arrives while no load can succeed.
    gallery.create_person("Bob", &[], &common::cli()).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        roster.snapshot().people(),
        1,
        "a failed load keeps the roster it had"
    );

    // Repaired, with no further change: nothing else will notify.
    other
        .execute_batch("ALTER TABLE embedding_away RENAME TO embedding")
        .unwrap();
    assert!(
        within(Duration::from_secs(10), || roster.snapshot().people() == 2),
        "the change heard during the failed load was never loaded"
    );
    assert_eq!(roster.snapshot().faces(), 1);
}

#[test]
fn a_change_through_another_handle_is_matched_and_a_forgotten_person_no_longer_is() {
    let dir = tempfile::tempdir().unwrap();
    let gallery: Arc<dyn Gallery> = Arc::new(SqliteGallery::open(dir.path(), None).unwrap());
    let roster = open(&gallery);
    let probe = Embedding(vec![0.1; DIM]);
    assert_eq!(roster.snapshot().matcher().identify(&probe).name, None);

    // Another process, another handle of the same file.
    let writer = SqliteGallery::open(dir.path(), None).unwrap();
    let (ann, _) = writer
        .create_person("Ann", &[face(0.1, "a")], &common::cli())
        .unwrap();
    assert!(
        within(Duration::from_secs(10), || {
            roster.snapshot().matcher().identify(&probe).person_id == Some(ann)
        }),
        "Ann was enrolled elsewhere and is not matched by id"
    );
    writer.remove(ann, &common::cli()).unwrap();
    assert!(
        within(Duration::from_secs(10), || {
            roster.snapshot().matcher().identify(&probe).name.is_none()
        }),
        "Ann was forgotten and is still named"
    );
}

#[test]
fn a_new_threshold_is_a_new_snapshot_without_reading_the_gallery() {
    let dir = tempfile::tempdir().unwrap();
    let gallery: Arc<dyn Gallery> = Arc::new(SqliteGallery::open(dir.path(), None).unwrap());
    common::add(gallery.as_ref(), "Ann", &[face(0.1, "a")]).unwrap();
    let roster = open(&gallery);
    let before = roster.snapshot();
    // 0.02 from Ann's face in each of 128 dimensions: 0.23 away.
    let near = Embedding(vec![0.12; DIM]);
    assert_eq!(
        before.matcher().identify(&near).name.as_deref(),
        Some("Ann")
    );

    roster.set_threshold(0.1);
    let after = roster.snapshot();
    assert!(after.generation() > before.generation());
    assert_eq!(roster.threshold(), 0.1);
    assert_eq!(after.matcher().identify(&near).name, None);
    assert_eq!(
        before.matcher().identify(&near).name.as_deref(),
        Some("Ann"),
        "a snapshot in use never changes"
    );
    // A reload keeps the threshold in force.
    roster.reload().unwrap();
    assert_eq!(roster.threshold(), 0.1);
}

/// The site threshold stored through another handle (another machine's console) reaches a
/// roster that follows the gallery; one given to this process (`--threshold`, the window's
/// slider) overrules it here; cleared, the config's holds again.
#[test]
fn the_site_threshold_stored_elsewhere_is_followed_unless_this_process_was_given_one() {
    let dir = tempfile::tempdir().unwrap();
    let gallery: Arc<dyn Gallery> = Arc::new(SqliteGallery::open(dir.path(), None).unwrap());
    common::add(gallery.as_ref(), "Ann", &[face(0.1, "a")]).unwrap();
    let following = open(&gallery);
    let pinned = Roster::open(
        gallery.clone(),
        EmbedderKind::Dlib.id(),
        whoisit::roster::Matching {
            threshold: 0.5,
            pinned: true,
            ..Config::default().matching()
        },
    )
    .unwrap();
    let slider = open(&gallery);
    slider.set_threshold(0.4);
    // 0.23 from Ann's face.
    let near = Embedding(vec![0.12; DIM]);
    assert_eq!(following.threshold(), 0.55);

    let elsewhere = SqliteGallery::open(dir.path(), None).unwrap();
    elsewhere
        .set_site_threshold(
            &EmbedderKind::Dlib.id(),
            Some(0.2),
            &whoisit::gallery::Actor::api_key("admin"),
        )
        .unwrap();
    assert!(
        within(Duration::from_secs(10), || following.threshold() == 0.2),
        "the site threshold never reached the roster: {}",
        following.threshold()
    );
    let snapshot = following.snapshot();
    assert_eq!(snapshot.site_threshold(), Some(0.2));
    assert_eq!(snapshot.matcher().identify(&near).name, None);
    assert_eq!(following.config_threshold(), 0.55);
    // The others reload too, and keep their own.
    assert!(within(Duration::from_secs(10), || {
        pinned.snapshot().site_threshold() == Some(0.2)
            && slider.snapshot().site_threshold() == Some(0.2)
    }));
    assert_eq!((pinned.threshold(), slider.threshold()), (0.5, 0.4));
    assert_eq!(pinned.pinned_threshold(), Some(0.5));

    elsewhere
        .set_site_threshold(
            &EmbedderKind::Dlib.id(),
            None,
            &whoisit::gallery::Actor::api_key("admin"),
        )
        .unwrap();
    assert!(
        within(Duration::from_secs(10), || following.threshold() == 0.55),
        "cleared, the config's threshold is not back"
    );
    assert_eq!(
        following
            .snapshot()
            .matcher()
            .identify(&near)
            .name
            .as_deref(),
        Some("Ann")
    );
}
