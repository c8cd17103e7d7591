//! Connections that die under a running front end: every backend of the test's PostgreSQL
//! database is terminated (as a server restart, a failover or an admin's kill would), and
//! `serve`, a stream worker and a headless recognizer each recover within seconds, without a
//! restart, and see changes made after the kill. And a gallery that cannot be read when a
//! change is announced: the change is loaded once it can be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cli::{add_biden, biden_named_after_enrollment, whoisit};
use common::postgres::Database;
use common::server::Server;
use common::streams::{Proc, Site, wait_for};
use serde_json::Value;

/// How long a front end may take to recover: the pool's and the roster's retries, with room
/// for a loaded machine.
const RECOVERY: Duration = Duration::from_secs(10);

/// Terminates every other connection to `db`'s database; returns how many there were.
fn kill_backends(db: &Database) -> i64 {
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let killed: i64 = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap()
        .get(0);
    killed
}

fn add(home: &Path, global: &[&str], name: &str, photo: &Path) {
    whoisit(home)
        .args(global)
        .args(["people", "add", name])
        .arg(photo)
        .assert()
        .success();
}

#[test]
fn serve_answers_again_after_its_connections_are_killed_and_names_a_person_enrolled_since() {
    let db = Database::new();
    let home = tempfile::tempdir().unwrap();
    let global = ["--gallery", db.url.as_str()];
    add(home.path(), &global, "Obama", &common::photo("obama.jpg"));
    let server = Server::start(home.path(), &global, &["--workers", "1", "--no-auth"]);
    let api = server.client();
    assert_eq!(api.get("/healthz").status, 200, "{}", server.log());
    assert_eq!(api.get("/v1/people").status, 200);

    assert!(kill_backends(&db) > 0, "serve holds no connection to kill");
    let start = Instant::now();
    wait_for("GET /v1/people to answer 200 again", RECOVERY, || {
        api.get("/v1/people").status == 200
    });
    wait_for("/healthz to be healthy again", RECOVERY, || {
        api.get("/healthz").status == 200
    });
    println!("serve answered again {:?} after the kill", start.elapsed());

    add_biden(home.path(), &global);
    let biden = std::fs::read(common::photo("biden.jpg")).unwrap();
    wait_for(
        "Biden, enrolled after the kill, to be named",
        RECOVERY,
        || {
            let answer = api.post("/v1/recognize", "image/jpeg", &biden);
            answer.status == 200 && answer.json()["faces"][0]["name"] == "Biden"
        },
    );
    assert!(
        server.terminate(),
        "the server did not stop cleanly on SIGTERM"
    );
}

/// A stream worker on `db` with John_Simm enrolled, and another photo of him to send it as a
/// camera agent would.
struct Door {
    home: tempfile::TempDir,
    site: Site,
    worker: Proc,
    image: Vec<u8>,
    face: [i32; 4],
    track: u64,
}

impl Door {
    fn open(db: &Database) -> Door {
        let home = tempfile::tempdir().unwrap();
        let mut photos: Vec<_> = std::fs::read_dir(common::johns().join("John_Simm"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        photos.sort();
        add(
            home.path(),
            &["--gallery", &db.url],
            "John_Simm",
            &photos[0],
        );
        let site = Site::new();
        // A loaded machine may take seconds to answer: no face is too old here.
        let config = home.path().join("streams.ron");
        std::fs::write(&config, "(streams: (max_age_ms: 600000))").unwrap();
        let mut words: Vec<String> = vec!["--gallery".into(), db.url.clone()];
        words.extend(["--config".into(), config.display().to_string()]);
        words.extend(["worker".into(), "--name".into(), "w1".into()]);
        words.extend(site.args());
        let worker = Proc::start(home.path(), "w1", &words);
        let (mut pipeline, _dir) = common::pipeline();
        let image = whoisit::vision::photo::load(&photos[1]).unwrap();
        let face = pipeline.detect(&image).unwrap()[0].bbox;
        Door {
            home,
            site,
            worker,
            image: std::fs::read(&photos[1]).unwrap(),
            face: [face.x, face.y, face.width, face.height],
            track: 0,
        }
    }

    /// Who the worker says the photo is, as a fresh camera face.
    fn ask(&mut self) -> Value {
        self.track += 1;
        let sent = self.site.len("results");
        let work = self.site.camera_work("door", self.track, self.face);
        self.site.add_work(&work, &self.image, None);
        let start = Instant::now();
        while self.site.len("results") <= sent {
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the worker did not answer:\n{}",
                self.worker.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        self.site.answers("results").pop().unwrap()["faces"][0].clone()
    }

    /// `whoisit people ARGS...` on the gallery.
    fn people(&self, db: &Database, args: &[&str]) {
        whoisit(self.home.path())
            .args(["--gallery", &db.url, "people"])
            .args(args)
            .assert()
            .success();
    }

    /// Asks until the worker answers `label`; how long that took from now.
    fn until(&mut self, label: &str) -> Duration {
        let start = Instant::now();
        let mut last = self.ask();
        while last["label"] != label && start.elapsed() < RECOVERY {
            std::thread::sleep(Duration::from_millis(200));
            last = self.ask();
        }
        assert_eq!(
            last["label"],
            label,
            "still {} after {:?}:\n{}",
            last["label"],
            start.elapsed(),
            self.worker.log()
        );
        start.elapsed()
    }
}

#[test]
fn a_stream_worker_forgets_a_person_forgotten_after_its_connections_are_killed() {
    let db = Database::new();
    let mut door = Door::open(&db);
    let named = door.ask();
    assert_eq!(
        named["label"],
        "John_Simm",
        "{named}\n{}",
        door.worker.log()
    );
    assert!(named["person_id"].is_i64(), "{named}");

    assert!(
        kill_backends(&db) > 0,
        "the worker holds no connection to kill"
    );
    door.people(&db, &["forget", "John_Simm"]);
    let took = door.until("unknown");
    println!("forgotten by the worker {took:?} after `people forget`");
}

/// The one notice of a change arrives while the gallery cannot be read: the worker must load
/// the change once it can, with no further notice to prompt it.
#[test]
fn a_stream_worker_whose_reload_fails_loads_the_change_once_the_gallery_answers() {
    let db = Database::new();
    let mut door = Door::open(&db);
    assert_eq!(door.ask()["label"], "John_Simm", "{}", door.worker.log());

    // Loading the roster fails from now on (a rename does not read embeddings).
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    admin
        .batch_execute("ALTER TABLE embedding RENAME TO embedding_away")
        .unwrap();
    door.people(&db, &["rename", "John_Simm", "Simm"]);
    // Long enough for the notice to arrive and the reload it asks for to fail.
    std::thread::sleep(Duration::from_secs(3));
    admin
        .batch_execute("ALTER TABLE embedding_away RENAME TO embedding")
        .unwrap();
    let took = door.until("Simm");
    assert!(
        door.worker.log().contains("cannot reload the gallery"),
        "the reload never failed, so nothing was tested:\n{}",
        door.worker.log()
    );
    println!("renamed {took:?} after the gallery answered again");
}

#[test]
fn a_headless_recognizer_names_a_person_enrolled_after_its_connections_are_killed() {
    let db = Database::new();
    let home = tempfile::tempdir().unwrap();
    let global = ["--gallery", db.url.as_str()];
    add(home.path(), &global, "Obama", &common::photo("obama.jpg"));
    let (named_after, stderr) = biden_named_after_enrollment(home.path(), &global, || {
        assert!(
            kill_backends(&db) > 0,
            "the recognizer holds no connection to kill"
        );
        add_biden(home.path(), &global);
    });
    println!("Biden named {named_after:?} after his enrollment following the kill");
    assert!(
        named_after < RECOVERY,
        "named only {named_after:?} later:\n{stderr}"
    );
}
