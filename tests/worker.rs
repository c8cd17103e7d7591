//! The detector/encoder worker on a real clip, models and gallery: a gallery it cannot write to
//! does not stop recognition, and commands change what it answers from the next frame on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::time::Duration;

use whoisit::config::sightings::SightingsConfig;
use whoisit::gallery::{Gallery as _, SightingQuery, Sightings as _, SqliteGallery};
use whoisit::runtime::capture::Source;
use whoisit::runtime::headless::{self, RunOptions};
use whoisit::runtime::session::Session;
use whoisit::runtime::sightings::{Change, Listener, SightingsWriter, Told};
use whoisit::runtime::worker::{Command, Worker};

/// A worker with Obama enrolled, its gallery's folder, and 3 s of Obama at 15 fps in it.
fn obama_worker() -> (Worker, tempfile::TempDir, std::path::PathBuf) {
    let (mut pipeline, dir) = common::pipeline();
    let gallery = std::sync::Arc::new(SqliteGallery::open(dir.path(), None).unwrap());
    common::enroll(&mut pipeline, gallery.as_ref(), "Obama", "obama.jpg");
    let clip = common::cli::obama_clip(dir.path(), 15.0, 45);
    let roster = common::roster(gallery, &pipeline);
    let worker = Worker::new(pipeline, roster, common::cli()).unwrap();
    (worker, dir, clip)
}

#[test]
fn recognition_goes_on_while_another_process_holds_the_gallery_write_lock() {
    let (mut worker, dir, clip) = obama_worker();
    let writer =
        SightingsWriter::start(worker.gallery().clone(), &SightingsConfig::default(), None)
            .unwrap();
    worker.record_sightings(writer.follower("obama.avi", worker.pipeline().embedder_id()));
    drop(writer);
    // Another process writes to the gallery for the whole run, so storing who was seen
    // times out; the sightings writer must report it, and recognition go on at its pace.
    let lock = rusqlite::Connection::open(dir.path().join("gallery.sqlite3")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE").unwrap();
    let mut labelled = 0;
    let summary = headless::run(
        &Source::File(clip),
        worker,
        &RunOptions::default(),
        |result| {
            labelled += result.faces.iter().filter(|f| f.label == "Obama").count();
            Ok(())
        },
    )
    .unwrap_or_else(|e| panic!("the run failed: {}", e.report()));
    lock.execute_batch("ROLLBACK").unwrap();

    assert_eq!(summary.processed, 45, "{summary:?}");
    assert!(labelled >= 40, "Obama was named on {labelled} of 45 frames");
    let people = SqliteGallery::open(dir.path(), None)
        .unwrap()
        .people()
        .unwrap();
    assert_eq!(
        people[0].last_seen, None,
        "nothing could be written, so nothing may claim it was"
    );
    let gallery = SqliteGallery::open(dir.path(), None).unwrap();
    assert!(gallery.sightings(&SightingQuery::all()).unwrap().is_empty());
}

#[test]
fn a_worker_records_one_sighting_per_appearance_named_by_id_with_one_event_per_change() {
    let (mut worker, dir, clip) = obama_worker();
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let heard = events.clone();
    let listener: Listener = Box::new(move |told: &Told| {
        heard
            .lock()
            .unwrap()
            .push((told.change, told.name.clone(), told.record.person));
    });
    let writer = SightingsWriter::start(
        worker.gallery().clone(),
        &SightingsConfig::default(),
        Some(listener),
    )
    .unwrap();
    worker.record_sightings(writer.follower("obama.avi", worker.pipeline().embedder_id()));
    drop(writer);
    headless::run(&Source::File(clip), worker, &RunOptions::default(), |_| {
        Ok(())
    })
    .unwrap_or_else(|e| panic!("the run failed: {}", e.report()));
    // The run has ended, and with it the writer: everything is stored.
    let gallery = SqliteGallery::open(dir.path(), None).unwrap();
    let obama = gallery.find("Obama").unwrap();
    let sightings = gallery.sightings(&SightingQuery::all()).unwrap();
    assert_eq!(sightings.len(), 1, "{sightings:?}");
    assert_eq!(sightings[0].person, Some(obama));
    assert_eq!(sightings[0].camera, "obama.avi");
    assert!(!sightings[0].has_crop);
    assert!(sightings[0].evidence >= 2, "{sightings:?}");
    assert_eq!(
        gallery.person(obama).unwrap().last_seen,
        Some(sightings[0].last)
    );
    // One event per change of the track, none per frame: it came (named at once, or unknown
    // and then named) and it left, as Obama, by id.
    let events = events.lock().unwrap().clone();
    let changes: Vec<Change> = events.iter().map(|e| e.0).collect();
    assert!(
        changes == [Change::Appeared, Change::Left]
            || changes == [Change::Appeared, Change::Named, Change::Left],
        "{events:?}"
    );
    let (_, name, person) = events.last().unwrap();
    assert_eq!((name.as_deref(), *person), (Some("Obama"), Some(obama)));
}

#[test]
fn a_new_threshold_takes_effect_on_the_faces_in_view() {
    let (worker, _dir, clip) = obama_worker();
    let session = Session::start(
        worker,
        Source::File(clip),
        Duration::from_millis(200),
        std::sync::Arc::new(|| {}),
    )
    .unwrap();
    let next_label = |session: &Session| {
        let result = session
            .results
            .recv_timeout(Duration::from_secs(30))
            .expect("a result");
        result.faces.first().map(|f| f.label.clone())
    };
    let named = (0..30).any(|_| next_label(&session).as_deref() == Some("Obama"));
    assert!(named, "Obama is named at the configured threshold");
    // Tracked faces keep their label between embeddings: the command must re-decide them.
    assert!(session.send(Command::SetThreshold(0.05)));
    let mut labels: Vec<Option<String>> = (0..20).map(|_| next_label(&session)).collect();
    // Results already on their way when the command arrived may still say "Obama".
    labels.drain(..5);
    assert!(
        labels.iter().flatten().all(|l| l == "unknown"),
        "at 0.05 nobody matches: {labels:?}"
    );
    assert!(session.send(Command::Shutdown));
}
