//! Sightings through the binary, on a clip made from real photos: Obama (enrolled) comes into
//! view, leaves, a stranger (Biden) comes and leaves, Obama comes back. Each appearance is one
//! sighting, named or unknown, with the stranger's crop kept; on SQLite and PostgreSQL, through
//! `recognize --source` and `serve --source`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use predicates::prelude::*;
use serde_json::Value;

use common::cli::{json_lines, three_appearances, three_sightings_of_the_clip, whoisit};
use common::postgres::Database;
use common::server::Server;

fn enroll_obama(home: &Path, global: &[&str]) {
    whoisit(home)
        .args(global)
        .args(["people", "add", "Obama"])
        .arg(common::photo("obama.jpg"))
        .assert()
        .success();
}

/// `whoisit sightings --json [args]`, one object per sighting.
fn sightings(home: &Path, global: &[&str], args: &[&str]) -> Vec<Value> {
    json_lines(
        whoisit(home)
            .args(global)
            .args(["sightings", "--json"])
            .args(args),
    )
}

/// Who each sighting is, in order: a name, or "unknown".
fn who(sightings: &[Value]) -> Vec<String> {
    sightings
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("unknown").to_owned())
        .collect()
}

fn recorded_by_recognize(global: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    enroll_obama(home, global);
    let clip = three_appearances(home);
    whoisit(home)
        .args(global)
        .args(["recognize", "--headless", "--source"])
        .arg(&clip)
        .assert()
        .success();

    let all = sightings(home, global, &[]);
    three_sightings_of_the_clip(&all, &clip.display().to_string());
    assert!(all[0]["distance"].as_f64().unwrap() < 0.55);
    // A stranger beyond the matcher's reach has no distance at all.
    assert!(
        all[1]["distance"].as_f64().is_none_or(|d| d > 0.55),
        "{all:?}"
    );

    assert_eq!(who(&sightings(home, global, &["--unknown"])), ["unknown"]);
    assert_eq!(
        who(&sightings(
            home,
            global,
            &["--person", "Obama", "--since", "1d"]
        )),
        ["Obama", "Obama"]
    );
    assert!(sightings(home, global, &["--camera", "elsewhere"]).is_empty());
    whoisit(home)
        .args(global)
        .args(["sightings", "--person", "Nobody"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("Nobody"));
    whoisit(home)
        .args(global)
        .arg("sightings")
        .assert()
        .success()
        .stdout(predicate::str::contains("3 sighting(s)").and(predicate::str::contains("Obama")));
    whoisit(home)
        .args(global)
        .args(["people", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("never").not());
    // Reading sightings is in the audit trail, by who read them and what was asked.
    let reads: Vec<Value> = json_lines(whoisit(home).args(global).args(["audit", "--json"]))
        .into_iter()
        .filter(|e| e["action"] == "read_sightings")
        .collect();
    assert_eq!(reads.len(), 4, "{reads:?}");
    assert_eq!(reads[1]["detail"], "1 sighting(s) read, unknown faces");
    assert!(
        reads
            .iter()
            .all(|e| e["actor"].as_str().unwrap().starts_with("cli:"))
    );
    assert!(!reads.iter().any(|e| e.to_string().contains("Obama")));
}

#[test]
fn each_appearance_is_one_sighting_in_sqlite() {
    recorded_by_recognize(&[]);
}

#[test]
fn each_appearance_is_one_sighting_in_postgres() {
    let db = Database::new();
    recorded_by_recognize(&["--gallery", &db.url]);
}

#[test]
fn serve_records_its_sources_sightings_and_serves_them_a_page_at_a_time() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    enroll_obama(home, &[]);
    let clip = three_appearances(home);
    let make_key = |name: &str, scope: &str| {
        let output = whoisit(home)
            .args(["keys", "create", "--name", name, "--scope", scope])
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let reader = make_key("console", "read");
    let door = make_key("door", "recognize");
    let server = Server::start(
        home,
        &[],
        &["--workers", "1", "--source", clip.to_str().unwrap()],
    );
    let api = server.client().with_key(&reader);
    let people = api.get("/v1/people").expect(200).json();
    let obama = people[0]["id"].as_i64().unwrap();

    let page = three_sightings(&server, &reader, obama);
    assert_eq!(page["next"], Value::Null);
    let first = &page["sightings"][0];
    assert!(
        first["camera"]
            .as_str()
            .unwrap()
            .ends_with("appearances.avi")
    );
    assert_eq!(page["sightings"][1]["has_crop"], true);

    pages_filters_and_scopes(
        &server,
        &reader,
        &door,
        obama,
        first["id"].as_i64().unwrap(),
    );
    // Every page read is in the audit trail, by key; people by id.
    let admin = make_key("admin", "admin");
    let trail = server
        .client()
        .with_key(&admin)
        .get("/v1/audit")
        .expect(200)
        .json();
    let reads: Vec<&Value> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "read_sightings")
        .collect();
    assert!(reads.len() >= 5, "{reads:?}");
    assert!(reads.iter().all(|e| e["actor"] == "api:console"));
    let openapi = server.client().get("/v1/openapi.json").expect(200).json();
    assert!(openapi["paths"]["/v1/sightings"]["get"].is_object());
}

/// `GET /v1/sightings` a page at a time, filtered, refused with the reason, and only to keys
/// that may read.
fn pages_filters_and_scopes(server: &Server, reader: &str, door: &str, obama: i64, first: i64) {
    let api = server.client().with_key(reader);
    let one = api.get("/v1/sightings?limit=1").expect(200).json();
    assert_eq!(one["sightings"].as_array().unwrap().len(), 1);
    let next = one["next"].as_i64().unwrap();
    assert_eq!(next, first);
    let rest = api
        .get(&format!("/v1/sightings?after={next}&limit=5"))
        .expect(200)
        .json();
    assert_eq!(rest["sightings"].as_array().unwrap().len(), 2);
    let unknown = api.get("/v1/sightings?person=unknown").expect(200).json();
    assert_eq!(unknown["sightings"].as_array().unwrap().len(), 1);
    let obama_only = api
        .get(&format!("/v1/sightings?person={obama}&since=0"))
        .expect(200)
        .json();
    assert_eq!(obama_only["sightings"].as_array().unwrap().len(), 2);
    api.get("/v1/sightings?limit=0")
        .expect_error(400, "bad_request", "1 to 1000");
    api.get("/v1/sightings?person=Obama")
        .expect_error(400, "bad_request", "neither a person's id");
    assert_eq!(server.client().get("/v1/sightings").status, 401);
    assert_eq!(
        server.client().with_key(door).get("/v1/sightings").status,
        403,
        "who was seen is for keys that may read"
    );
}

/// The server's sightings once the clip has shown all three appearances: Obama, the stranger,
/// Obama. The clip plays in real time (9 s); the sightings are stored within a second of each
/// decision.
fn three_sightings(server: &Server, reader: &str, obama: i64) -> Value {
    let api = server.client().with_key(reader);
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let page = api.get("/v1/sightings").expect(200).json();
        let persons: Vec<Value> = page["sightings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["person_id"].clone())
            .collect();
        if persons == [obama.into(), Value::Null, obama.into()] {
            return page;
        }
        assert!(
            Instant::now() < deadline,
            "sightings so far: {page}; the server's log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
