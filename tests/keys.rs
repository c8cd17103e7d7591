//! API keys as a running `whoisit serve` checks them: from memory, not the store, on every
//! request. A key made by the CLI meanwhile opens at once; a key revoked through the server's
//! own API opens nothing from the very next request; one revoked by another process (the CLI,
//! another machine) opens nothing within a second. On SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::time::{Duration, Instant};

use common::cli::whoisit;
use common::postgres::Database;
use common::server::make_key;
use common::server::{Api, Server};

/// Rounds of "made by the CLI, used, revoked through the API, refused": each a chance for the
/// memory and the store to disagree.
const ROUNDS: usize = 4;

fn keys_are_checked_in_memory_and_revocations_hold(global: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let admin_key = make_key(home, global, "admin", "admin");
    let server = Server::start(home, global, &[]);
    let admin = server.client().with_key(&admin_key);
    admin.get("/v1/people").expect(200);

    for round in 0..ROUNDS {
        let name = format!("desk-{round}");
        // Made by another process while the server knows the keys: it opens at once.
        let desk = server
            .client()
            .with_key(&make_key(home, global, &name, "read"));
        desk.get("/v1/people").expect(200);
        assert_eq!(desk.get("/v1/keys").status, 403, "a read key lists no keys");
        admin.delete(&format!("/v1/keys/{name}")).expect(204);
        desk.get("/v1/people")
            .expect_error(401, "unauthorized", "not valid");
    }
    admin
        .delete("/v1/keys/nobody")
        .expect_error(404, "not_found", "nobody");

    // Revoked by another process: refused within a second of the revocation's end.
    let late = server
        .client()
        .with_key(&make_key(home, global, "late", "read"));
    late.get("/v1/people").expect(200);
    whoisit(home)
        .args(global)
        .args(["keys", "revoke", "late"])
        .assert()
        .success();
    let revoked = Instant::now();
    let refused = refused_within(&late, Duration::from_secs(1));
    assert!(
        refused,
        "the key revoked by the CLI still opened after a second"
    );
    println!("revoked by the CLI: refused after {:?}", revoked.elapsed());

    let listed = admin.get("/v1/keys").expect(200).json();
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["admin"]);
    assert_eq!(listed[0]["scopes"], serde_json::json!(["admin"]));
    let trail = admin.get("/v1/audit").expect(200).json();
    let revoked_by_api = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "key_revoked" && e["actor"] == "api:admin")
        .count();
    assert_eq!(revoked_by_api, ROUNDS);
}

/// Whether `api`'s key is refused (401) within `deadline`, asked again and again.
fn refused_within(api: &Api, deadline: Duration) -> bool {
    let start = Instant::now();
    loop {
        let status = api.get("/v1/people").status;
        if status == 401 {
            return true;
        }
        assert_eq!(status, 200);
        if start.elapsed() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn keys_are_checked_in_memory_and_revocations_hold_on_sqlite() {
    keys_are_checked_in_memory_and_revocations_hold(&[]);
}

#[test]
fn keys_are_checked_in_memory_and_revocations_hold_on_postgres() {
    let db = Database::new();
    keys_are_checked_in_memory_and_revocations_hold(&["--gallery", &db.url]);
}
