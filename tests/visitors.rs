//! Unknown visitors through the binary, on clips made from real photos: two strangers (Obama
//! and Biden, nobody enrolled) each come into view three times, with cuts between; the
//! sightings writer groups them into two visitors of three. Enrolling one names that stranger
//! on their next appearance; dismissing the other forgets its crops. On SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::cli::{again_clip, json_lines, strangers_clip, whoisit};
use common::postgres::Database;
use common::server::Server;
use whoisit::gallery::{SightingId, SightingQuery, Who};

fn recognize(home: &Path, global: &[&str], clip: &Path) {
    whoisit(home)
        .args(global)
        .args(["recognize", "--headless", "--source"])
        .arg(clip)
        .assert()
        .success();
}

fn visitors(home: &Path, global: &[&str]) -> Vec<Value> {
    json_lines(
        whoisit(home)
            .args(global)
            .args(["visitors", "list", "--json"]),
    )
}

fn sightings(home: &Path, global: &[&str]) -> Vec<Value> {
    json_lines(whoisit(home).args(global).args(["sightings", "--json"]))
}

fn grouped_enrolled_and_dismissed(global: &[&str]) {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    recognize(home, global, &strangers_clip(home));
    let all = sightings(home, global);
    assert_eq!(all.len(), 6, "one sighting per appearance: {all:?}");
    assert!(
        all.iter()
            .all(|s| s["name"].is_null() && s["has_crop"] == true)
    );

    // Two visitors of three sightings: Obama's (the 1st, 3rd and 5th) and Biden's.
    let groups = visitors(home, global);
    assert_eq!(groups.len(), 2, "{groups:?}");
    let ids_of = |n: usize| -> Vec<i64> {
        [n, n + 2, n + 4]
            .iter()
            .map(|&i| all[i]["id"].as_i64().unwrap())
            .collect()
    };
    let members = |group: &Value| -> Vec<i64> {
        let mut samples: Vec<i64> = group["samples"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_i64().unwrap())
            .collect();
        samples.sort_unstable();
        samples
    };
    let obama = groups
        .iter()
        .find(|g| members(g) == ids_of(0))
        .unwrap_or_else(|| panic!("no group of Obama's sightings {:?}: {groups:?}", ids_of(0)));
    let biden = groups
        .iter()
        .find(|g| members(g) == ids_of(1))
        .unwrap_or_else(|| panic!("no group of Biden's sightings {:?}: {groups:?}", ids_of(1)));
    assert_eq!(obama["sightings"], 3);
    assert_eq!(biden["sightings"], 3);
    let (obama, biden) = (obama["id"].as_i64().unwrap(), biden["id"].as_i64().unwrap());

    enroll_obama(home, global, obama, biden);

    // Biden's group dismissed: nothing of his crops stays (in the SQLite files: see
    // tests/contract.rs for every store's pages), and the dismissal is in the audit trail.
    let crops = biden_crops(home, global, &ids_of(1));
    whoisit(home)
        .args(global)
        .args(["visitors", "dismiss", &biden.to_string()])
        .assert()
        .success();
    assert!(visitors(home, global).is_empty());
    if global.is_empty() {
        let files: Vec<Vec<u8>> = ["gallery.sqlite3", "gallery.sqlite3-wal"]
            .iter()
            .map(|f| std::fs::read(home.join("data").join(f)).unwrap_or_default())
            .collect();
        for crop in &crops {
            let middle = &crop[crop.len() / 2..crop.len() / 2 + 32];
            assert!(
                !files.iter().any(|f| f.windows(32).any(|w| w == middle)),
                "a dismissed crop is still in the gallery's files"
            );
        }
    }
    let trail = json_lines(whoisit(home).args(global).args(["audit", "--json"]));
    assert!(
        trail.iter().any(|e| e["action"] == "dismiss_visitor"
            && e["detail"]
                .as_str()
                .unwrap()
                .contains(&format!("visitor {biden}"))),
        "{trail:?}"
    );
}

/// Enrolls Obama's group: the crops pass the gate, the sightings become his, and his next
/// appearance is named; Biden's group is left.
fn enroll_obama(home: &Path, global: &[&str], obama: i64, biden: i64) {
    let enrolled = whoisit(home)
        .args(global)
        .args(["visitors", "enroll", &obama.to_string(), "--name", "Obama"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&enrolled.stdout);
    assert!(
        enrolled.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&enrolled.stderr)
    );
    assert!(said.contains("3 sighting(s) named"), "{said}");
    recognize(home, global, &again_clip(home));
    let all = sightings(home, global);
    let names: Vec<&str> = all
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("unknown"))
        .collect();
    assert_eq!(
        names.iter().filter(|n| **n == "Obama").count(),
        4,
        "{names:?}"
    );
    assert_eq!(
        all.last().unwrap()["name"],
        "Obama",
        "the next appearance is named"
    );
    let groups = visitors(home, global);
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["id"], biden);
}

/// The crops of Biden's sightings, read beneath the CLI; in the SQLite files before the
/// dismissal, to be sure the search after it can find them.
fn biden_crops(home: &Path, global: &[&str], ids: &[i64]) -> Vec<Vec<u8>> {
    let gallery: Box<dyn whoisit::gallery::Gallery> = match global.last() {
        None => Box::new(whoisit::gallery::SqliteGallery::open(&home.join("data"), None).unwrap()),
        Some(url) => Box::new(whoisit::gallery::PostgresGallery::open(url, None).unwrap()),
    };
    let unknown = SightingQuery {
        who: Some(Who::Unknown),
        ..SightingQuery::all()
    };
    assert_eq!(gallery.sightings(&unknown).unwrap().len(), 3);
    let crops: Vec<Vec<u8>> = ids
        .iter()
        .map(|&id| gallery.sighting_crop(SightingId(id)).unwrap().unwrap())
        .collect();
    if global.is_empty() {
        let file = std::fs::read(home.join("data/gallery.sqlite3")).unwrap();
        let wal = std::fs::read(home.join("data/gallery.sqlite3-wal")).unwrap_or_default();
        let crop = &crops[0];
        let middle = &crop[crop.len() / 2..crop.len() / 2 + 32];
        assert!(
            file.windows(32).any(|w| w == middle) || wal.windows(32).any(|w| w == middle),
            "the crop must be found before it is dismissed"
        );
    }
    crops
}

#[test]
fn two_strangers_are_two_visitors_one_enrolled_one_dismissed_in_sqlite() {
    grouped_enrolled_and_dismissed(&[]);
}

#[test]
fn two_strangers_are_two_visitors_one_enrolled_one_dismissed_in_postgres() {
    let db = Database::new();
    grouped_enrolled_and_dismissed(&["--gallery", &db.url]);
}

/// The server's visitors once both strangers' groups have three sightings.
fn two_groups(server: &Server, read: &common::server::Api) -> Value {
    // The clip plays in real time (14 s); the writer groups at most every 10 s.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let groups = read.get("/v1/visitors").expect(200).json();
        let sizes: Vec<u64> = groups
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["sightings"].as_u64().unwrap())
            .collect();
        if sizes == [3, 3] {
            return groups;
        }
        assert!(
            Instant::now() < deadline,
            "visitors so far: {groups}; the server's log:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A new API key's secret.
fn make_key(home: &Path, name: &str, scope: &str) -> String {
    let output = whoisit(home)
        .args(["keys", "create", "--name", name, "--scope", scope])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn serve_groups_its_sources_strangers_and_the_api_enrolls_and_dismisses_them() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let clip = strangers_clip(home);
    let reader = make_key(home, "console", "read");
    let admin = make_key(home, "admin", "admin");
    let server = Server::start(
        home,
        &[],
        &["--workers", "1", "--source", clip.to_str().unwrap()],
    );
    let read = server.client().with_key(&reader);
    let admin = server.client().with_key(&admin);
    let groups = two_groups(&server, &read);
    // The most recently seen first: Biden's, then Obama's.
    let (biden, obama) = (
        groups[0]["id"].as_i64().unwrap(),
        groups[1]["id"].as_i64().unwrap(),
    );
    assert_eq!(groups[0]["samples"].as_array().unwrap().len(), 3);
    assert!(
        groups[0]["cameras"][0]
            .as_str()
            .unwrap()
            .ends_with("strangers.avi")
    );

    // An unknown face's crop is for admin keys only.
    let image = format!("/v1/visitors/{obama}/faces/0/image");
    assert_eq!(read.get(&image).status, 403);
    let png = admin.get(&image).expect(200);
    assert!(png.body.starts_with(b"\x89PNG"));
    admin
        .get(&format!("/v1/visitors/{obama}/faces/9/image"))
        .expect(404);

    assert_eq!(
        read.post_json(
            &format!("/v1/visitors/{obama}/enroll"),
            &json!({"name": "Obama"})
        )
        .status,
        403
    );
    admin
        .post_json(&format!("/v1/visitors/{obama}/enroll"), &json!({}))
        .expect_error(400, "bad_request", "either");
    let enrolled = admin
        .post_json(
            &format!("/v1/visitors/{obama}/enroll"),
            &json!({"name": "Obama"}),
        )
        .expect(200)
        .json();
    assert_eq!(enrolled["sightings_named"], 3, "{enrolled}");
    assert!(
        !enrolled["faces"].as_array().unwrap().is_empty(),
        "{enrolled}"
    );
    let people = read.get("/v1/people").expect(200).json();
    assert_eq!(people[0]["name"], "Obama");
    assert_eq!(people[0]["id"], enrolled["person_id"]);

    let dismissed = admin
        .delete(&format!("/v1/visitors/{biden}"))
        .expect(200)
        .json();
    assert_eq!(dismissed["sightings"], 3);
    assert_eq!(read.get("/v1/visitors").expect(200).json(), json!([]));
    admin.delete(&format!("/v1/visitors/{biden}")).expect(404);
    let trail = admin.get("/v1/audit").expect(200).json().to_string();
    assert!(
        trail.contains("\"dismiss_visitor\"") && trail.contains("\"enroll\""),
        "{trail}"
    );
}
