//! Changes that race on one person, tried as a hostile client would: two requests released
//! together by a barrier against a real `whoisit serve`, on SQLite and on PostgreSQL. A face is
//! added to a person by id, so it can neither bring back a person deleted meanwhile nor land
//! on somebody new under the old name of a person renamed meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::sync::Barrier;

use serde_json::{Value, json};

use common::postgres::Database;
use common::server::{Answer, Api, Server};

/// Rounds per race: each was lost on every round before faces were added by id.
const ROUNDS: usize = 4;

/// Runs `a` and `b` at once, released together, and returns both answers.
fn together(
    a: impl FnOnce() -> Answer + Send,
    b: impl FnOnce() -> Answer + Send,
) -> (Answer, Answer) {
    let barrier = Barrier::new(2);
    std::thread::scope(|s| {
        let first = s.spawn(|| {
            barrier.wait();
            a()
        });
        let second = s.spawn(|| {
            barrier.wait();
            b()
        });
        (first.join().unwrap(), second.join().unwrap())
    })
}

fn people(api: &Api) -> Vec<Value> {
    api.get("/v1/people")
        .expect(200)
        .json()
        .as_array()
        .unwrap()
        .clone()
}

fn create(api: &Api, name: &str) -> i64 {
    api.post_json("/v1/people", &json!({ "name": name }))
        .expect(201)
        .json()["id"]
        .as_i64()
        .unwrap()
}

/// A face uploaded while its person is deleted: the upload is refused (the person is gone by
/// the time its face would be stored) and the person stays forgotten, with no face left.
fn upload_during_delete(api: &Api, photo: &[u8]) {
    for round in 0..ROUNDS {
        let name = format!("Forgotten {round}");
        let id = create(api, &name);
        let faces = format!("/v1/people/{id}/faces");
        let person = format!("/v1/people/{id}");
        let (upload, delete) = together(
            || api.post(&faces, "image/jpeg", photo),
            || api.delete(&person),
        );
        assert_eq!(delete.status, 200, "round {round}: the delete");
        assert!(
            [404, 409].contains(&upload.status),
            "round {round}: the upload answered {} {}",
            upload.status,
            String::from_utf8_lossy(&upload.body)
        );
        assert_eq!(api.get(&person).status, 404, "round {round}");
        assert!(
            people(api).iter().all(|p| p["name"] != name.as_str()),
            "round {round}: {name} came back: {:?}",
            people(api)
        );
    }
}

/// A face uploaded while its person is renamed goes to them, under their new name; nobody
/// new appears under the old one.
fn upload_during_rename(api: &Api, photo: &[u8]) {
    for round in 0..ROUNDS {
        let (old, new) = (format!("Old {round}"), format!("New {round}"));
        let id = create(api, &old);
        let faces = format!("/v1/people/{id}/faces");
        let person = format!("/v1/people/{id}");
        let (upload, rename) = together(
            || api.post(&faces, "image/jpeg", photo),
            || api.patch_json(&person, &json!({ "name": new })),
        );
        assert_eq!(rename.status, 200, "round {round}: the rename");
        assert_eq!(
            upload.status,
            201,
            "round {round}: the upload: {}",
            String::from_utf8_lossy(&upload.body)
        );
        assert_eq!(upload.json()["person"]["id"], id, "round {round}");
        let listed = people(api);
        let renamed: Vec<&Value> = listed.iter().filter(|p| p["id"] == id).collect();
        assert_eq!(renamed.len(), 1, "round {round}: {listed:?}");
        assert_eq!(renamed[0]["name"], new.as_str(), "round {round}");
        assert_eq!(renamed[0]["faces"], 1, "round {round}");
        assert!(
            listed.iter().all(|p| p["name"] != old.as_str()),
            "round {round}: somebody new under the old name: {listed:?}"
        );
    }
}

fn races(global: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(home.path(), global, &["--no-auth", "--workers", "1"]);
    let api = server.client();
    let photo = std::fs::read(common::photo("obama.jpg")).unwrap();
    upload_during_delete(&api, &photo);
    upload_during_rename(&api, &photo);
    assert!(!server.log().contains("this is a bug"), "{}", server.log());
}

#[test]
fn uploads_racing_a_delete_or_a_rename_on_sqlite_never_bring_a_person_back() {
    races(&[]);
}

#[test]
fn uploads_racing_a_delete_or_a_rename_on_postgres_never_bring_a_person_back() {
    let db = Database::new();
    races(&["--gallery", db.url.as_str()]);
}
