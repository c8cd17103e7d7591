//! Connections that die under a running front end: every backend of the test's PostgreSQL
//! database is terminated (as a server restart, a failover or an admin's kill would), and
//! `serve`, a stream worker and a headless recognizer each recover within seconds, without a
//! restart, and see changes made after the kill.
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

#[test]
fn a_stream_worker_forgets_a_person_forgotten_after_its_connections_are_killed() {
    let db = Database::new();
    let home = tempfile::tempdir().unwrap();
    let global = ["--gallery", db.url.as_str()];
    let mut photos: Vec<_> = std::fs::read_dir(common::johns().join("John_Simm"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    photos.sort();
    add(home.path(), &global, "John_Simm", &photos[0]);
    let site = Site::new();
    let mut words: Vec<String> = global.iter().map(|w| (*w).to_owned()).collect();
    words.extend(["worker".into(), "--name".into(), "w1".into()]);
    words.extend(site.args());
    let worker = Proc::start(home.path(), "w1", &words);

    // Another photo of him, as a camera agent would send it, until the worker answers.
    let (image, face) = {
        let (mut pipeline, _dir) = common::pipeline();
        let image = whoisit::vision::photo::load(&photos[1]).unwrap();
        let face = pipeline.detect(&image).unwrap()[0].bbox;
        (
            std::fs::read(&photos[1]).unwrap(),
            [face.x, face.y, face.width, face.height],
        )
    };
    let mut track = 0;
    let mut ask = || -> Value {
        track += 1;
        let sent = site.len("results");
        site.add_work(&site.camera_work("door", track, face), &image, None);
        wait_for("the worker's answer", Duration::from_secs(120), || {
            site.len("results") > sent
        });
        site.answers("results").pop().unwrap()["faces"][0].clone()
    };
    let named = ask();
    assert_eq!(named["label"], "John_Simm", "{named}\n{}", worker.log());
    assert!(named["person_id"].is_i64(), "{named}");

    assert!(
        kill_backends(&db) > 0,
        "the worker holds no connection to kill"
    );
    whoisit(home.path())
        .args(global)
        .args(["people", "forget", "John_Simm"])
        .assert()
        .success();
    let forgotten = Instant::now();
    let mut last = ask();
    while last["label"] != "unknown" && forgotten.elapsed() < RECOVERY {
        std::thread::sleep(Duration::from_millis(200));
        last = ask();
    }
    assert_eq!(
        last["label"],
        "unknown",
        "still named {:?} after he was forgotten:\n{}",
        forgotten.elapsed(),
        worker.log()
    );
    println!(
        "forgotten by the worker {:?} after `people forget`",
        forgotten.elapsed()
    );
    worker.stop();
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
