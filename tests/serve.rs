//! `whoisit serve` as a real process over loopback: every endpoint on real photos, keys and
//! scopes, bad bodies, many clients at once, a kill in the middle of an enrollment, TLS, live
//! events, and a PostgreSQL gallery shared with a recognizer in another process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::collections::BTreeSet;
use std::io::BufRead as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use opencv::core::{Mat, Vector};
use opencv::prelude::*;
use serde_json::{Value, json};

use common::cli::{biden_named_after_enrollment, enroll_obama, two_people_clip, whoisit};
use common::postgres::Database;
use common::server::{Answer, Api, Server, make_key};
use whoisit::base::identity::{EmbedderKind, Embedding, PersonId};
use whoisit::gallery::{PostgresGallery, SightingRecord, Sightings as _, UnknownFace, now};

fn photo(name: &str) -> Vec<u8> {
    std::fs::read(common::photo(name)).unwrap()
}

fn encode(image: &Mat, ext: &str, params: &[i32]) -> Vec<u8> {
    let mut bytes = Vector::<u8>::new();
    opencv::imgcodecs::imencode(ext, image, &mut bytes, &Vector::from_slice(params)).unwrap();
    bytes.to_vec()
}

/// Obama and Biden side by side in one JPEG.
fn two_faces() -> Vec<u8> {
    let load = |name: &str| whoisit::vision::photo::load(&common::photo(name)).unwrap();
    let (left, right) = (load("obama.jpg"), load("biden.jpg"));
    let height = left.rows().min(right.rows());
    let fit = |image: &Mat| {
        let mut out = Mat::default();
        let width = image.cols() * height / image.rows();
        opencv::imgproc::resize(
            image,
            &mut out,
            opencv::core::Size::new(width, height),
            0.0,
            0.0,
            opencv::imgproc::INTER_AREA,
        )
        .unwrap();
        out
    };
    let mut both = Mat::default();
    let pair: Vector<Mat> = Vector::from_iter([fit(&left), fit(&right)]);
    opencv::core::hconcat(&pair, &mut both).unwrap();
    encode(&both, ".jpg", &[])
}

/// The names of the faces of a recognize answer, left to right (`None` for unknown).
fn names(answer: &Value) -> Vec<Option<String>> {
    let mut faces: Vec<&Value> = answer["faces"].as_array().unwrap().iter().collect();
    faces.sort_by_key(|f| f["box"][0].as_i64());
    faces
        .iter()
        .map(|f| f["name"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_endpoint_works_on_real_photos_with_keys_and_scopes_on_a_postgres_gallery() {
    let db = Database::new();
    let home = tempfile::tempdir().unwrap();
    let global = ["--gallery", db.url.as_str()];
    let admin_key = make_key(home.path(), &global, "admin", "admin");
    let door_key = make_key(home.path(), &global, "frontdesk", "recognize");
    let hr_key = make_key(home.path(), &global, "hr", "read");
    let server = Server::start(home.path(), &global, &["--workers", "1"]);
    let anyone = server.client();
    let admin = anyone.with_key(&admin_key);
    let door = anyone.with_key(&door_key);
    let hr = anyone.with_key(&hr_key);

    keys_and_scopes_are_enforced(&anyone, &door, &hr);

    let (id, face) = enroll_obama_through_the_api(&admin);
    read_back(&hr, id, face);
    obama_is_named_and_biden_is_not(&door, id);

    // Rename, then the new name comes back from a photo.
    let renamed = admin.patch_json(&format!("/v1/people/{id}"), &json!({"name": "Obama"}));
    assert_eq!(renamed.json()["name"], "Obama");
    let answer = door
        .post("/v1/recognize", "image/png", &png_of("obama3.jpg"))
        .json();
    assert_eq!(names(&answer), [Some("Obama".to_owned())]);

    // An own threshold is listed with the person while it is set.
    assert!(
        hr.get("/v1/people").json()[0]
            .get("own_threshold")
            .is_none()
    );
    let own_threshold = |step: &[&str]| {
        whoisit(home.path())
            .args(global)
            .args(["people", "threshold"])
            .args(step)
            .assert()
            .success();
    };
    for step in [&["Obama", "0.5"][..], &["Obama", "--clear"]] {
        own_threshold(step);
        let person = &hr.get("/v1/people").json()[0];
        if step[1] == "0.5" {
            assert_eq!(person["own_threshold"], 0.5);
            assert_eq!(person["own_threshold_embedder"], "dlib-resnet-v1");
        } else {
            assert!(person.get("own_threshold").is_none(), "{person}");
        }
    }

    metrics_count_what_happened(&hr);
    own_threshold(&["Obama", "0.5"]);
    a_recognize_key_loosens_no_own_threshold(&door);
    own_threshold(&["Obama", "--clear"]);
    // An admin key may loosen it, for a question of its own.
    let loose = admin.post(
        "/v1/recognize?threshold=2",
        "image/jpeg",
        &photo("biden.jpg"),
    );
    assert_eq!(names(&loose.expect(200).json()), [Some("Obama".to_owned())]);

    forget(&admin, &door, &hr, id, face);
    the_audit_trail_says_which_key_did_what(&admin, &hr);

    // A revoked key opens nothing from then on: the server, which keeps the keys in memory,
    // learns of a revocation by another process within a second (tests/keys.rs).
    whoisit(home.path())
        .args(global)
        .args(["keys", "revoke", "frontdesk"])
        .assert()
        .success();
    let revoked = Instant::now();
    while door
        .post("/v1/recognize", "image/jpeg", &photo("obama.jpg"))
        .status
        != 401
    {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "the revoked key still opened after a second"
        );
    }
    assert!(
        server.terminate(),
        "the server did not stop cleanly on SIGTERM"
    );
}

#[test]
fn a_gallery_password_shows_nowhere_the_url_is_shown() {
    const SECRET: &str = "pg-s3cret-42";
    let db = Database::new();
    let home = tempfile::tempdir().unwrap();
    // Trust authentication ignores the password; what matters is where it would be shown.
    let url = format!("{}?password={SECRET}", db.url);
    let global = ["--gallery", url.as_str()];
    let server = Server::start(home.path(), &global, &["--no-auth", "--workers", "1"]);
    let anyone = server.client();
    anyone.get("/healthz").expect(200);
    // The database goes away under the server: /healthz says so, and the logs too.
    drop(db);
    let start = Instant::now();
    let health = loop {
        let health = anyone.get("/healthz");
        if health.status == 503 || start.elapsed() > Duration::from_secs(60) {
            break health;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(health.status, 503);
    let body = String::from_utf8_lossy(&health.body).into_owned();
    // A 5xx answer names no internals, the URL included; the log has the cause, its password
    // hidden.
    assert!(!body.contains("postgres"), "{body}");
    assert!(server.log().contains("password=***"), "{}", server.log());
    let unreachable = format!("postgres://whoisit:{SECRET}@127.0.0.1:1/roster");
    let cli = whoisit(home.path())
        .env("RUST_LOG", "whoisit=debug")
        .args(["--gallery", &unreachable, "people", "list"])
        .output()
        .unwrap();
    assert!(!cli.status.success());
    let said = String::from_utf8_lossy(&cli.stderr).into_owned();
    assert!(said.contains("whoisit:***@127.0.0.1:1"), "{said}");
    for shown in [body, server.log(), said] {
        assert!(!shown.contains(SECRET), "{shown}");
    }
}

/// Enrolls Obama: a person, then a face through the quality gate. Returns their ids.
fn enroll_obama_through_the_api(admin: &Api) -> (i64, i64) {
    let created = admin
        .post_json("/v1/people", &json!({"name": "Barack Obama"}))
        .expect(201);
    let id = created.json()["id"].as_i64().unwrap();
    let taken = admin.post_json("/v1/people", &json!({"name": "Barack Obama"}));
    assert_eq!(taken.error(), (409, "name_taken".into()));
    let faces = format!("/v1/people/{id}/faces");
    let group = admin.post(&faces, "image/jpeg", &two_faces());
    assert_eq!(group.error(), (422, "rejected".into()));
    assert!(
        group.message().contains("2 faces found"),
        "{}",
        group.message()
    );
    let added = admin
        .post(&faces, "image/jpeg", &photo("obama.jpg"))
        .expect(201);
    assert_eq!(added.json()["person"]["faces"], 1);
    let again = admin.post(&faces, "image/jpeg", &photo("obama.jpg"));
    assert_eq!(again.error(), (409, "duplicate".into()));
    let nobody = admin.post("/v1/people/999999/faces", "image/jpeg", &photo("obama.jpg"));
    assert_eq!(nobody.error(), (404, "not_found".into()));
    (id, added.json()["face"]["id"].as_i64().unwrap())
}

fn read_back(hr: &Api, id: i64, face: i64) {
    let people = hr.get("/v1/people").json();
    assert_eq!(people[0]["name"], "Barack Obama");
    assert_eq!(people[0]["faces"], 1);
    assert_eq!(hr.get(&format!("/v1/people/{id}")).json()["id"], id);
    let faces = hr.get(&format!("/v1/people/{id}/faces")).json();
    assert_eq!(faces[0]["id"], face);
    assert_eq!(faces[0]["has_image"], true);
    let crop = hr
        .get(&format!("/v1/people/{id}/faces/{face}/image"))
        .expect(200);
    assert_eq!(crop.content_type, "image/png");
    assert!(crop.body.starts_with(b"\x89PNG"));
}

fn metrics_count_what_happened(hr: &Api) {
    let text = String::from_utf8(hr.get("/metrics").expect(200).body).unwrap();
    for expected in [
        "whoisit_http_requests_total{route=\"/v1/recognize\",status=\"200\"}",
        "whoisit_http_requests_total{route=\"/v1/recognize\",status=\"401\"} 1",
        "whoisit_http_request_duration_seconds_bucket{route=\"/v1/recognize\",le=\"+Inf\"}",
        "whoisit_faces_total{result=\"known\"} 3",
        "whoisit_gallery_people 1",
    ] {
        assert!(text.contains(expected), "{expected} missing from\n{text}");
    }
}

/// Forgets one face, then the person.
fn forget(admin: &Api, door: &Api, hr: &Api, id: i64, face: i64) {
    let path = format!("/v1/people/{id}/faces/{face}");
    admin.delete(&path).expect(204);
    assert_eq!(admin.delete(&path).error(), (404, "not_found".into()));
    let answer = door.post("/v1/recognize", "image/jpeg", &photo("obama2.jpg"));
    assert_eq!(names(&answer.json()), [None]);
    admin.delete(&format!("/v1/people/{id}")).expect(200);
    let gone = hr.get(&format!("/v1/people/{id}"));
    assert_eq!(gone.error(), (404, "not_found".into()));
}

/// Admin keys read the trail; every change names who made it: through the API its key, from
/// the command line its user.
fn the_audit_trail_says_which_key_did_what(admin: &Api, hr: &Api) {
    assert_eq!(hr.get("/v1/audit").status, 403);
    let trail = admin.get("/v1/audit").expect(200).json();
    let entries: Vec<(String, String)> = trail
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert!(!e.to_string().contains("Obama"), "a name in the trail: {e}");
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let by_admin = |action: &str| ("api:admin".to_owned(), action.to_owned());
    let by_cli = |action: &str| (entries[6].0.clone(), action.to_owned());
    assert!(entries[6].0.starts_with("cli:"), "{entries:?}");
    assert_eq!(
        entries[3..],
        [
            by_admin("enroll"),
            by_admin("enroll"),
            by_admin("rename"),
            by_cli("threshold"),
            by_cli("threshold"),
            by_cli("threshold"),
            by_cli("threshold"),
            by_admin("remove_face"),
            by_admin("remove"),
        ]
    );
    assert!(
        entries[..3]
            .iter()
            .all(|(actor, action)| actor.starts_with("cli:") && action == "key_created")
    );
    let future = now() + 3600;
    let none = admin.get(&format!("/v1/audit?since={future}")).json();
    assert_eq!(none.as_array().unwrap().len(), 0);
    assert_eq!(admin.get("/v1/audit?since=yesterday").status, 400);
}

/// Health and the document need no key; everything else does, with the right scope.
fn keys_and_scopes_are_enforced(anyone: &Api, door: &Api, hr: &Api) {
    let health = anyone.get("/healthz");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
    let denied = anyone.post("/v1/recognize", "image/jpeg", &photo("obama.jpg"));
    assert_eq!(
        (denied.status, denied.code().as_str()),
        (401, "unauthorized")
    );
    let forged = anyone.with_key("wik_forged").get("/v1/people");
    assert_eq!(forged.status, 401);
    // The wrong scope: a door controller cannot read the roster, a reader cannot enroll.
    assert_eq!(door.get("/v1/people").status, 403);
    let refused = hr.post_json("/v1/people", &json!({"name": "Barack Obama"}));
    assert_eq!(refused.status, 403);
    assert!(
        refused.message().contains("needs the scope admin"),
        "{}",
        refused.message()
    );
}

/// Another photo of Obama is named, Biden is not; both ways of sending a photo.
fn obama_is_named_and_biden_is_not(door: &Api, id: i64) {
    let answer = door.post("/v1/recognize", "image/jpeg", &photo("obama2.jpg"));
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let answer = answer.json();
    assert_eq!(names(&answer), [Some("Barack Obama".to_owned())]);
    let first = &answer["faces"][0];
    assert_eq!(first["person_id"], id);
    assert!(first["distance"].as_f64().unwrap() < 0.55);
    assert!(first["confidence"].as_f64().unwrap() > 0.5);
    assert_eq!(first["box"].as_array().unwrap().len(), 4);
    assert!(answer["timings_ms"]["embed"].as_f64().unwrap() > 0.0);
    let biden = door
        .post_form("/v1/recognize", "image", &photo("biden.jpg"))
        .json();
    assert_eq!(names(&biden), [None]);
    assert!(biden["faces"][0]["person_id"].is_null());
    let both = door
        .post("/v1/recognize", "image/jpeg", &two_faces())
        .json();
    assert_eq!(names(&both), [Some("Barack Obama".to_owned()), None]);
    // A stricter threshold for one question.
    let strict = door.post(
        "/v1/recognize?threshold=0.05",
        "image/jpeg",
        &photo("obama2.jpg"),
    );
    assert_eq!(names(&strict.json()), [None]);
    // Never a looser one: at 2, Biden would be "Barack Obama".
    let loose = door.post(
        "/v1/recognize?threshold=2",
        "image/jpeg",
        &photo("biden.jpg"),
    );
    loose.expect_error(403, "forbidden", "looser than the server's 0.55");
}

/// With Obama's own threshold at 0.5, a recognize key may not ask for 0.54 for everyone (below
/// the server's 0.55, yet looser than his), once the server has read his threshold.
fn a_recognize_key_loosens_no_own_threshold(door: &Api) {
    let ask = |threshold: f32| {
        door.post(
            &format!("/v1/recognize?threshold={threshold}"),
            "image/jpeg",
            &photo("obama2.jpg"),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    let refused = loop {
        let answer = ask(0.54);
        if answer.status != 200 || Instant::now() > deadline {
            break answer;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    refused.expect_error(403, "forbidden", "looser than 0.5, the own threshold");
    assert!(
        refused.message().contains("at most 0.5"),
        "{}",
        refused.message()
    );
    let answer = ask(0.5).expect(200).json();
    assert_eq!(answer["threshold"], 0.5);
}

/// A photo re-encoded as PNG.
fn png_of(name: &str) -> Vec<u8> {
    let image = whoisit::vision::photo::load(&common::photo(name)).unwrap();
    encode(&image, ".png", &[])
}

/// Announces a body of `length` bytes and sends none: a server that reads the header refuses
/// it at once.
fn announce(url: &str, path: &str, content_type: &str, length: usize) -> Answer {
    read_answer(open_request(url, path, content_type, None, length))
}

/// Starts a POST to `path` that announces a body of `length` bytes, with `key` if given, and
/// sends none of the body yet.
fn open_request(
    url: &str,
    path: &str,
    content_type: &str,
    key: Option<&str>,
    length: usize,
) -> std::net::TcpStream {
    use std::io::Write as _;
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let auth = key.map_or_else(String::new, |key| {
        format!("Authorization: Bearer {key}\r\n")
    });
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: {content_type}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
}

/// Reads the answer to the request written on `stream`, to the connection's close.
fn read_answer(mut stream: std::net::TcpStream) -> Answer {
    use std::io::Read as _;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix(&format!("{name}: "))
                .map(str::to_owned)
        })
    };
    Answer {
        status: head.split(' ').nth(1).unwrap().parse().unwrap(),
        content_type: header("content-type").unwrap_or_default(),
        retry_after: header("retry-after"),
        request_id: header("x-request-id"),
        body: body.as_bytes().to_vec(),
    }
}

/// The head of the answer to `GET /v1/events` with `Last-Event-ID: last`.
fn last_event_id(url: &str, last: &str) -> String {
    use std::io::{Read as _, Write as _};
    let address = url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET /v1/events HTTP/1.1\r\nHost: {address}\r\nLast-Event-ID: {last}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).unwrap();
    String::from_utf8_lossy(&head[..n]).into_owned()
}

/// A server that takes bodies of at most 1 MiB.
fn small_server(home: &Path) -> Server {
    let config = home.join("small.ron");
    std::fs::write(&config, "(serve: (max_body_mb: 1))").unwrap();
    let config = config.to_str().unwrap().to_owned();
    Server::start(
        home,
        &["--config", &config],
        &["--no-auth", "--workers", "1"],
    )
}

#[test]
fn bad_photos_get_a_clear_4xx_and_the_server_keeps_serving() {
    let home = tempfile::tempdir().unwrap();
    let server = small_server(home.path());
    let api = server.client();
    let obama = photo("obama.jpg");
    let recognize = |content_type: &str, body: &[u8]| api.post("/v1/recognize", content_type, body);
    recognize("image/jpeg", b"").expect_error(422, "bad_image", "empty");
    let cut = &obama[..obama.len() / 2];
    recognize("image/jpeg", cut).expect_error(422, "bad_image", "truncated");
    let text = b"hello, this is not a photo";
    recognize("image/jpeg", text).expect_error(422, "bad_image", "not a JPEG or PNG");
    let bomb = common::bombs::png_claiming(20_000, 20_000);
    recognize("image/png", &bomb).expect_error(422, "bad_image", "too many pixels");
    // Decoding bombs are refused by the decoder before it allocates their pixels.
    let started = server.peak_rss_mib();
    for (path, words) in common::bombs::all(home.path()) {
        let answer = recognize("image/jpeg", &std::fs::read(&path).unwrap());
        let words = if words == "TIFF" {
            "not a JPEG or PNG"
        } else {
            words
        };
        answer.expect_error(422, "bad_image", words);
    }
    let peak = server.peak_rss_mib();
    // Decoded, the smallest of them would take 768 MiB.
    assert!(
        peak < started + 200,
        "the server grew from {started} to {peak} MiB"
    );
    let wrong = recognize("text/plain", &obama);
    wrong.expect_error(415, "unsupported_media_type", "image/jpeg or image/png");
    let form = api.post_form("/v1/recognize", "photo", &obama);
    form.expect_error(400, "bad_request", "no field `image`");
    let big = announce(&server.url, "/v1/recognize", "image/jpeg", 3 << 20);
    big.expect_error(413, "too_large", "serve.max_body_mb");
    // Still serving, and still right.
    let answer = recognize("image/jpeg", &obama).expect(200);
    assert_eq!(answer.json()["faces"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_requests_get_a_clear_4xx_and_the_server_keeps_serving() {
    let home = tempfile::tempdir().unwrap();
    let server = small_server(home.path());
    let api = server.client();
    let obama = photo("obama.jpg");
    let big = announce(&server.url, "/v1/people", "application/json", 2 << 20);
    big.expect_error(413, "too_large", "serve.max_body_mb");
    let schema = api.post_json("/v1/people", &json!({"nom": "Ada"}));
    schema.expect_error(422, "bad_request", "name");
    let control = api.post_json("/v1/people", &json!({"name": "Ada\tL"}));
    control.expect_error(400, "bad_request", "control characters");
    for hidden in ["\u{202E}amabO", "Ada\u{200B}"] {
        let answer = api.post_json("/v1/people", &json!({ "name": hidden }));
        answer.expect_error(400, "bad_request", "invisible or text-direction");
    }
    for (last, status) in [("null", 400), ("9223372036854775808", 400), ("-1", 400)] {
        let answer = last_event_id(&server.url, last);
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{last}: {answer}"
        );
    }
    // The same id as a query, for a first connection.
    api.get("/v1/events?after=-1")
        .expect_error(400, "bad_request", "not an event id");
    assert_eq!(api.get("/v1/events?after=null").status, 400);
    let seven = api.post("/v1/recognize?threshold=7", "image/jpeg", &obama);
    seven.expect_error(400, "bad_request", "at most 2");
    let high = api.post("/v1/recognize?threshold=high", "image/jpeg", &obama);
    high.expect_error(400, "bad_request", "threshold");
    api.get("/v1/people/ada")
        .expect_error(400, "bad_request", "");
    api.get("/v1/nothing")
        .expect_error(404, "no_route", "openapi.json");
    api.delete("/v1/recognize")
        .expect_error(405, "method_not_allowed", "");
    let created = api
        .post_json("/v1/people", &json!({"name": "Ada"}))
        .expect(201);
    assert_eq!(created.json()["name"], "Ada");
    // A person without faces yet is a state the API creates: `gallery check` says so, and
    // passes.
    whoisit(home.path())
        .args(["gallery", "check"])
        .assert()
        .success()
        .stdout(predicates::str::contains("1 person(s) have no face yet"));
}

#[test]
fn clients_that_trickle_their_headers_are_cut_off_and_healthz_still_answers() {
    use std::io::{Read as _, Write as _};
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("slow.ron");
    std::fs::write(&config, "(serve: (header_timeout_secs: 1.0))").unwrap();
    let server = Server::start(
        home.path(),
        &["--config", config.to_str().unwrap()],
        &["--no-auth", "--workers", "1"],
    );
    let address = server.url.trim_start_matches("http://").to_owned();
    // Fifty connections that start a request and never finish its headers.
    let mut slow: Vec<std::net::TcpStream> = (0..50)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            write!(stream, "GET /healthz HTTP/1.1\r\nHost: {address}\r\n").unwrap();
            stream
        })
        .collect();
    server.client().get("/healthz").expect(200);
    for stream in &mut slow {
        // Cut off by the server: the read ends (an answer, then the close) instead of
        // waiting out this socket's own 30 s.
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        if let Err(e) = stream.read_to_end(&mut Vec::new()) {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset,
                "a trickling client was held: {e}"
            );
        }
    }
    server.client().get("/healthz").expect(200);
}

#[test]
fn a_request_without_a_valid_key_is_refused_before_its_body_and_bodies_in_flight_are_bounded() {
    let home = tempfile::tempdir().unwrap();
    let key = make_key(home.path(), &[], "door", "recognize");
    let config = home.path().join("budget.ron");
    std::fs::write(&config, "(serve: (max_body_mb: 10, body_budget_mb: 12))").unwrap();
    let server = Server::start(
        home.path(),
        &["--config", config.to_str().unwrap()],
        &["--workers", "1"],
    );
    let almost_ten = (10 << 20) - 1;
    // Refused from the headers: not a byte of the announced body is sent.
    for bad in [None, Some("wik_guess")] {
        let stream = open_request(&server.url, "/v1/recognize", "image/jpeg", bad, almost_ten);
        read_answer(stream).expect_error(401, "unauthorized", "API key");
    }
    // A client that sends its body anyway reads its 401, not a broken pipe.
    let guess = Api::new(&server.url, Some("wik_guess"));
    guess
        .post("/v1/recognize", "image/jpeg", &vec![0xFF; 5 << 20])
        .expect_error(401, "unauthorized", "not valid");
    // Fifty clients without a key, each sending 10 MiB at once: the server holds none of it.
    let before = server.peak_rss_mib();
    let body = vec![0xFF; almost_ten];
    std::thread::scope(|scope| {
        for _ in 0..50 {
            scope.spawn(|| {
                let answer = server.client().post("/v1/recognize", "image/jpeg", &body);
                answer.expect_error(401, "unauthorized", "API key");
            });
        }
    });
    let after = server.peak_rss_mib();
    assert!(
        after < before + 100,
        "500 MiB of keyless bodies grew the server from {before} to {after} MiB"
    );
    with_a_key_bodies_are_held_within_the_budget(&server, &key);
}

/// A client with a key that trickles a 9 MiB body holds 9 of the 12 MiB of the budget: a
/// second such body is answered 503 at once; once the first is gone, photos are answered.
fn with_a_key_bodies_are_held_within_the_budget(server: &Server, key: &str) {
    use std::io::Write as _;
    let nine = 9 << 20;
    // The holder's reservation is made once the server has checked its key: a second request
    // that comes first takes the budget itself (and the holder is refused), so both are let
    // go and tried again.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (holder, refused) = loop {
        let mut holder = open_request(&server.url, "/v1/recognize", "image/jpeg", Some(key), nine);
        holder.write_all(&[0xFF; 1024]).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let second = open_request(&server.url, "/v1/recognize", "image/jpeg", Some(key), nine);
        second
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        if second.peek(&mut [0u8; 1]).is_ok() {
            second
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            break (holder, read_answer(second));
        }
        assert!(Instant::now() < deadline, "no second body was refused");
    };
    refused.expect_error(503, "busy", "serve.body_budget_mb");
    assert_eq!(refused.retry_after.as_deref(), Some("1"));
    drop(holder);
    let door = Api::new(&server.url, Some(key));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let answer = door.post("/v1/recognize", "image/jpeg", &photo("obama.jpg"));
        if answer.status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "the budget never came back");
        answer.expect_error(503, "busy", "serve.body_budget_mb");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn connections_are_capped_per_address_and_healthz_answers_under_a_low_ulimit() {
    use std::io::{Read as _, Write as _};
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("caps.ron");
    std::fs::write(
        &config,
        "(serve: (header_timeout_secs: 120.0, max_connections_per_address: 20))",
    )
    .unwrap();
    let server = Server::start_limited(
        home.path(),
        256,
        &["--config", config.to_str().unwrap()],
        &["--no-auth", "--workers", "1"],
    );
    // 256 open files, less 64 for the rest: 192 connections in all.
    assert!(
        server.log().contains("per_address=20 total=192"),
        "{}",
        server.log()
    );
    let address = server.url.trim_start_matches("http://").to_owned();
    // 300 connections from 127.0.0.1 that never finish their headers.
    let mut slow: Vec<std::net::TcpStream> = (0..300)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            write!(stream, "GET /healthz HTTP/1.1\r\nHost: {address}\r\n").ok();
            stream
        })
        .collect();
    // A refused one is answered 503 and closed; a held one says nothing. Passes over those
    // not refused yet until twenty are left, the cap (or the server has had a minute).
    let deadline = Instant::now() + Duration::from_secs(60);
    while slow.len() > 20 && Instant::now() < deadline {
        slow.retain_mut(|stream| {
            stream
                .set_read_timeout(Some(Duration::from_millis(20)))
                .unwrap();
            let mut answer = Vec::new();
            match stream.read_to_end(&mut answer) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && answer.is_empty() => true,
                _ => {
                    let text = String::from_utf8_lossy(&answer);
                    assert!(
                        text.is_empty() || text.starts_with("HTTP/1.1 503"),
                        "{text}"
                    );
                    false
                }
            }
        });
    }
    assert_eq!(slow.len(), 20, "connections held from one address");
    // Another address still gets in.
    let healthz = get_from("127.0.0.2", &address, "/healthz");
    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
    let full = get_from("127.0.0.1", &address, "/healthz");
    assert!(
        full.is_empty() || full.starts_with("HTTP/1.1 503"),
        "{full}"
    );
    drop(slow);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get_from("127.0.0.1", &address, "/healthz").starts_with("HTTP/1.1 200") {
        assert!(Instant::now() < deadline, "the places never came back");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `GET path` from the local address `source` (another loopback address is another client),
/// the whole answer as text; empty when the server closed the connection unanswered.
fn get_from(source: &str, address: &str, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let source: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&source.into()).unwrap();
    let target: std::net::SocketAddr = address.parse().unwrap();
    socket.connect(&target.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).ok();
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn fifty_concurrent_recognitions_are_all_answered_correctly() {
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    let config = home.path().join("queue.ron");
    std::fs::write(&config, "(serve: (workers: 2, queue: 64))").unwrap();
    let server = Server::start(
        home.path(),
        &["--config", config.to_str().unwrap()],
        &["--no-auth"],
    );
    let api = server.client();
    let photos = [photo("obama2.jpg"), photo("biden.jpg")];
    let answers: Vec<(usize, u16, Value)> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..50)
            .map(|i| {
                let (api, photo) = (api.clone(), &photos[i % 2]);
                scope.spawn(move || {
                    let answer = api.post("/v1/recognize", "image/jpeg", photo);
                    (i, answer.status, answer.json())
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(answers.len(), 50);
    for (i, status, body) in &answers {
        assert_eq!(*status, 200, "request {i}: {body}");
        let expected = if i % 2 == 0 {
            Some("Obama".to_owned())
        } else {
            None
        };
        assert_eq!(names(body), [expected], "request {i}");
    }
}

#[test]
fn no_auth_is_refused_off_loopback_and_tls_flags_go_together() {
    let home = tempfile::tempdir().unwrap();
    whoisit(home.path())
        .args(["serve", "--no-auth", "--listen", "0.0.0.0:0"])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "only accepted on a loopback address",
        ));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    whoisit(home.path())
        .args(["serve", "--no-auth", "--listen", &address])
        .assert()
        .failure()
        .stderr(predicates::str::contains(
            "choose another address with --listen",
        ));
    whoisit(home.path())
        .args(["serve", "--tls-cert", "cert.pem"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--tls-key"));
    // A certificate that never ends, or that nobody writes, is not read.
    let fifo = home.path().join("cert.pem");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    for cert in [Path::new("/dev/zero"), &fifo] {
        whoisit(home.path())
            .args([
                "serve",
                "--no-auth",
                "--listen",
                "127.0.0.1:0",
                "--tls-cert",
            ])
            .arg(cert)
            .args(["--tls-key", "/dev/zero"])
            .timeout(Duration::from_secs(120))
            .assert()
            .failure()
            .stderr(predicates::str::contains("not a regular file"));
    }
    whoisit(home.path())
        .args(["keys", "create", "--name", "x", "--scope", "root"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("recognize, read or admin"));
    whoisit(home.path())
        .args(["keys", "revoke", "nobody"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("no API key is called"));
}

#[test]
fn https_with_a_certificate_and_key() {
    let home = tempfile::tempdir().unwrap();
    let (cert, key) = (home.path().join("cert.pem"), home.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl (Debian package openssl) makes the test certificate");
    assert!(made.success());
    let server = Server::start(
        home.path(),
        &[],
        &[
            "--no-auth",
            "--workers",
            "1",
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(server.url.starts_with("https://"), "{}", server.url);
    let pem = std::fs::read(&cert).unwrap();
    let root = ureq::tls::Certificate::from_pem(&pem).unwrap().to_owned();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[root]))
                .build(),
        )
        .build()
        .into();
    let mut answer = agent.get(format!("{}/healthz", server.url)).call().unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    assert!(
        answer
            .body_mut()
            .read_to_string()
            .unwrap()
            .contains("\"ok\"")
    );
}

#[test]
fn a_kill_in_the_middle_of_enrollments_leaves_the_gallery_intact() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(home.path(), &[], &["--no-auth", "--workers", "1"]);
    let api = server.client();
    let id = api
        .post_json("/v1/people", &json!({"name": "Obama"}))
        .json()["id"]
        .as_i64()
        .unwrap();
    // The same photo at different JPEG qualities: a different file each time, so every upload
    // is a new face and writes to the gallery.
    let image = whoisit::vision::photo::load(&common::photo("obama.jpg")).unwrap();
    let uploads: Vec<Vec<u8>> = (40..100)
        .map(|q| {
            encode(
                &image,
                ".jpg",
                &[opencv::imgcodecs::IMWRITE_JPEG_QUALITY, q],
            )
        })
        .collect();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let added = std::thread::scope(|scope| {
        let sender = scope.spawn(|| {
            let mut added = 0;
            for upload in &uploads {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let answer = api.try_post(&format!("/v1/people/{id}/faces"), "image/jpeg", upload);
                match answer.map(|a| a.status) {
                    Ok(201) => added += 1,
                    Ok(other) => panic!("an enrollment answered {other}"),
                    Err(_) => break,
                }
            }
            added
        });
        // Let a few land, then cut the power in the middle of the next ones.
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            let faces = Api::new(&server.url, None)
                .get(&format!("/v1/people/{id}"))
                .json()["faces"]
                .as_i64()
                .unwrap_or(0);
            if faces >= 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(37));
        server.kill();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        sender.join().unwrap()
    });
    assert!(
        added >= 3,
        "only {added} faces were enrolled before the kill"
    );
    whoisit(home.path())
        .args(["gallery", "check"])
        .assert()
        .success();
    // Every face answered 201 is there; at most the one in flight was added besides.
    let server = Server::start(home.path(), &[], &["--no-auth", "--workers", "1"]);
    let faces = server
        .client()
        .get(&format!("/v1/people/{id}/faces"))
        .json();
    let stored = faces.as_array().unwrap().len();
    assert!(
        stored == added || stored == added + 1,
        "{added} answered 201, {stored} stored"
    );
    let answer = server
        .client()
        .post("/v1/recognize", "image/jpeg", &photo("obama2.jpg"))
        .json();
    assert_eq!(names(&answer), [Some("Obama".to_owned())]);
}

/// `serve --source demo` plays the built-in clip against the server's own gallery: the person
/// enrolled there is named on it, the other face is unknown.
#[test]
fn the_built_in_demo_is_a_source_recognised_against_the_servers_gallery() {
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    let key = make_key(home.path(), &[], "display", "read");
    let server = Server::start(home.path(), &[], &["--workers", "1", "--source", "demo"]);
    let response = common::server::agent(Duration::from_secs(120))
        .get(format!("{}/v1/events", server.url))
        .header("Authorization", format!("Bearer {key}"))
        .header("Last-Event-ID", "0")
        .call()
        .unwrap();
    let mut seen = BTreeSet::new();
    let lines = std::io::BufReader::new(response.into_body().into_reader()).lines();
    for line in lines {
        let line = line.unwrap();
        if let Some(data) = line.strip_prefix("data: ") {
            let event: Value = serde_json::from_str(data).unwrap();
            assert!(
                event["camera"]
                    .as_str()
                    .unwrap()
                    .ends_with("demo-640x480.avi"),
                "{event}"
            );
            seen.insert(event["name"].as_str().unwrap_or("unknown").to_owned());
            if seen.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(
        seen,
        BTreeSet::from(["Obama".to_owned(), "unknown".to_owned()])
    );
}

#[test]
fn live_sightings_stream_as_events_and_a_reconnect_gets_what_it_missed() {
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    let key = make_key(home.path(), &[], "display", "read");
    let clip = two_people_clip(home.path(), 60, 15.0);
    let server = Server::start(
        home.path(),
        &[],
        &["--workers", "1", "--source", clip.to_str().unwrap()],
    );
    let read = |last: u64, want: usize| -> Vec<(String, Value)> {
        let response = common::server::agent(Duration::from_secs(60))
            .get(format!("{}/v1/events", server.url))
            .header("Authorization", format!("Bearer {key}"))
            .header("Last-Event-ID", last.to_string())
            .call()
            .unwrap();
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut events = Vec::new();
        let mut kind = String::new();
        let lines = std::io::BufReader::new(response.into_body().into_reader()).lines();
        for line in lines {
            let line = line.unwrap();
            if let Some(k) = line.strip_prefix("event: ") {
                kind = k.to_owned();
            } else if let Some(data) = line.strip_prefix("data: ") {
                events.push((kind.clone(), serde_json::from_str(data).unwrap()));
                if events.len() == want {
                    break;
                }
            }
        }
        events
    };
    // From the start of the buffer: Obama named, Biden unknown, one event per track change.
    let events = read(0, 2);
    let people = Api::new(&server.url, Some(&key)).get("/v1/people").json();
    let obama_id = people[0]["id"].as_i64().unwrap();
    let kinds: BTreeSet<&str> = events.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["person_seen", "unknown_seen"]),
        "{events:?}"
    );
    for (kind, event) in &events {
        assert_eq!(event["kind"], kind.as_str());
        // Each track's first change, once; not one event per frame.
        assert_eq!(event["change"], "appeared", "{event}");
        assert!(event["camera"].as_str().unwrap().ends_with(".avi"));
        assert!(event["track"].is_u64() && event["time_ms"].is_u64());
        let expected = if kind == "person_seen" {
            json!("Obama")
        } else {
            Value::Null
        };
        assert_eq!(event["name"], expected, "{event}");
        // The person by id too, as GET /v1/people lists them.
        let expected = if kind == "person_seen" {
            json!(obama_id)
        } else {
            Value::Null
        };
        assert_eq!(event["person_id"], expected, "{event}");
    }
    // Reconnecting after the first event gets the second again, from the buffer.
    let first_id = events[0].1["id"].as_u64().unwrap();
    let missed = read(first_id, 1);
    assert_eq!(missed[0].1["id"], events[1].1["id"]);
    assert_eq!(
        Api::new(&server.url, None).get("/v1/events").status,
        401,
        "events name people: they need a key"
    );
    a_revoked_key_s_open_stream_ends(&server, home.path(), &key);
}

/// A stream left open ends as soon as its key (named "display") is revoked.
fn a_revoked_key_s_open_stream_ends(server: &Server, home: &Path, key: &str) {
    let response = common::server::agent(Duration::from_secs(60))
        .get(format!("{}/v1/events", server.url))
        .header("Authorization", format!("Bearer {key}"))
        .header("Last-Event-ID", "0")
        .call()
        .unwrap();
    let mut lines = std::io::BufReader::new(response.into_body().into_reader()).lines();
    let first = lines.find(|l| l.as_ref().unwrap().starts_with("data: "));
    assert!(
        first.is_some(),
        "the stream delivers while the key is valid"
    );
    whoisit(home)
        .args(["keys", "revoke", "display"])
        .assert()
        .success();
    // What was sent before the revocation may still be read; then the stream ends (an open
    // one would run into the client's 60 s timeout, and fail here).
    let after: Vec<String> = lines.map(Result::unwrap).collect();
    let server_log = server.log();
    assert!(
        server_log.contains("its key was revoked"),
        "{after:?}\n{server_log}"
    );
}

#[test]
fn a_person_enrolled_through_the_api_is_named_by_a_recognizer_in_another_process() {
    let db = Database::new();
    let service_box = tempfile::tempdir().unwrap();
    let camera_box = tempfile::tempdir().unwrap();
    let global = ["--gallery", db.url.as_str()];
    whoisit(service_box.path())
        .args(global)
        .args(["people", "add", "Obama"])
        .arg(common::photo("obama.jpg"))
        .assert()
        .success();
    let key = make_key(service_box.path(), &global, "hr", "admin");
    let server = Server::start(service_box.path(), &global, &["--workers", "1"]);
    let api = server.client().with_key(&key);
    let (named_after, _) = biden_named_after_enrollment(camera_box.path(), &global, || {
        let id = api
            .post_json("/v1/people", &json!({"name": "Biden"}))
            .json()["id"]
            .as_i64()
            .unwrap();
        let faces = format!("/v1/people/{id}/faces");
        api.post(&faces, "image/jpeg", &photo("biden.jpg"))
            .expect(201);
    });
    println!("propagation: Biden named {named_after:?} after the API enrolled him");
    drop(server);
}

/// Biden's face embedded as the server embeds it.
fn biden_embedding() -> Embedding {
    let (mut pipeline, _dir) = common::pipeline();
    common::enrollment()
        .photo(&mut pipeline, &common::photo("biden.jpg"))
        .unwrap()
        .unwrap()
        .embedding
}

#[test]
fn not_this_person_corrects_a_forced_confusion_on_every_server_sharing_the_gallery() {
    let db = Database::new();
    let home = tempfile::tempdir().unwrap();
    let global = ["--gallery", db.url.as_str()];
    let admin_key = make_key(home.path(), &global, "admin", "admin");
    let hr_key = make_key(home.path(), &global, "hr", "read");
    let server = Server::start(home.path(), &global, &["--workers", "1"]);
    let admin = server.client().with_key(&admin_key);
    let hr = server.client().with_key(&hr_key);
    let id = admin
        .post_json("/v1/people", &json!({"name": "Obama"}))
        .expect(201)
        .json()["id"]
        .as_i64()
        .unwrap();
    let faces = format!("/v1/people/{id}/faces");
    admin
        .post(&faces, "image/jpeg", &photo("obama.jpg"))
        .expect(201);
    // At a threshold of 2 everybody is the nearest person: Biden is named Obama, as a
    // stranger near an enrolled person is at a threshold set too loose.
    let named = |name: &str| {
        let answer = admin.post("/v1/recognize?threshold=2", "image/jpeg", &photo(name));
        names(&answer.expect(200).json())
    };
    assert_eq!(named("biden.jpg"), [Some("Obama".to_owned())]);

    let (first, second) = biden_seen_as(&db.url, PersonId(id));

    // Corrected from the command line, another process: the server learns of it at once.
    whoisit(home.path())
        .args(global)
        .args(["people", "not", "--sighting", &first.to_string()])
        .assert()
        .success()
        .stdout(predicates::str::contains(format!(
            "not Obama: sighting {first} is unknown now"
        )));
    let corrected = Instant::now();
    while named("biden.jpg") != [None] {
        assert!(
            corrected.elapsed() < Duration::from_secs(2),
            "the server still names Biden Obama"
        );
    }
    println!(
        "not this person: effective on the server after {:?}",
        corrected.elapsed()
    );
    assert_eq!(named("obama2.jpg"), [Some("Obama".to_owned())]);

    // Through the API: an admin's, refused to a read key, once.
    let path = format!("/v1/sightings/{second}/not");
    assert_eq!(hr.post(&path, "application/json", b"").status, 403);
    let answer = admin
        .post(&path, "application/json", b"")
        .expect(200)
        .json();
    assert_eq!(answer, json!({"person_id": id, "examples": 1}));
    admin
        .post(&path, "application/json", b"")
        .expect_error(400, "bad_request", "unknown already");
    admin
        .post("/v1/sightings/999999/not", "application/json", b"")
        .expect_error(404, "not_found", "no sighting 999999");

    a_face_enrolled_wrongly_is_corrected(&admin, &hr, id);
    drop(server);
}

#[test]
fn two_people_who_are_one_are_merged_and_a_face_is_moved_through_the_api_and_the_cli() {
    let home = tempfile::tempdir().unwrap();
    let admin_key = make_key(home.path(), &[], "admin", "admin");
    let server = Server::start(home.path(), &[], &["--workers", "1"]);
    let admin = server.client().with_key(&admin_key);
    let person = |name: &str| {
        admin
            .post_json("/v1/people", &json!({ "name": name }))
            .expect(201)
            .json()["id"]
            .as_i64()
            .unwrap()
    };
    let add = |id: i64, name: &str| {
        admin
            .post(
                &format!("/v1/people/{id}/faces"),
                "image/jpeg",
                &photo(name),
            )
            .expect(201)
            .json()["face"]["id"]
            .as_i64()
            .unwrap()
    };
    let (obama, barack, biden) = (person("Obama"), person("Barack"), person("Biden"));
    add(obama, "obama.jpg");
    add(barack, "obama2.jpg");
    let wrong = add(barack, "biden.jpg");

    // Biden's face, enrolled for Barack, moved to Biden.
    let moving = format!("/v1/people/{barack}/faces/{wrong}/move");
    admin
        .post_json(&moving, &json!({ "to": barack }))
        .expect_error(400, "bad_request", "name two people");
    admin
        .post_json(&moving, &json!({ "to": biden }))
        .expect(204);
    admin
        .post_json(&moving, &json!({ "to": biden }))
        .expect_error(404, "not_found", "has no face");
    assert_eq!(
        admin.post_json(&moving, &json!({ "too": biden })).status,
        422
    );

    // Barack is Obama.
    let merging = format!("/v1/people/{obama}/merge");
    admin
        .post_json(&merging, &json!({ "from": obama }))
        .expect_error(400, "bad_request", "name two people");
    admin
        .post_json(&merging, &json!({ "from": 999_999 }))
        .expect_error(404, "not_found", "999999");
    let merged = admin
        .post_json(&merging, &json!({ "from": barack }))
        .expect(200)
        .json();
    assert_eq!(
        (
            &merged["faces"],
            &merged["person"]["faces"],
            &merged["duplicates"]
        ),
        (&json!(1), &json!(2), &json!(0))
    );
    admin
        .get(&format!("/v1/people/{barack}"))
        .expect_error(404, "not_found", "nobody");
    let named = |name: &str| {
        let answer = admin.post("/v1/recognize", "image/jpeg", &photo(name));
        names(&answer.expect(200).json())
    };
    assert_eq!(named("obama3.jpg"), [Some("Obama".to_owned())]);
    assert_eq!(named("biden.jpg"), [Some("Biden".to_owned())]);

    the_command_line_merges_and_moves(home.path(), wrong, &admin);
    drop(server);
}

/// Two sightings of Biden named as person `id`, as a camera would store them.
fn biden_seen_as(url: &str, id: PersonId) -> (i64, i64) {
    let gallery = PostgresGallery::open(url, None).unwrap();
    let sighting = || SightingRecord {
        id: None,
        camera: "door".into(),
        track: 1,
        person: Some(id),
        first: now() - 5,
        last: now(),
        distance: Some(0.6),
        evidence: 3,
        unknown: Some(UnknownFace {
            crop: None,
            embedder: EmbedderKind::Dlib.id(),
            embedding: biden_embedding(),
        }),
    };
    let ids = gallery.write_sightings(&[sighting(), sighting()]).unwrap();
    (ids[0].unwrap().0, ids[1].unwrap().0)
}

/// A face of Biden enrolled for Obama (`id`) by mistake: removed, kept as a negative example;
/// every correction of the test in the audit trail.
fn a_face_enrolled_wrongly_is_corrected(admin: &Api, hr: &Api, id: i64) {
    let faces = format!("/v1/people/{id}/faces");
    let named = |name: &str| {
        let answer = admin.post("/v1/recognize?threshold=2", "image/jpeg", &photo(name));
        names(&answer.expect(200).json())
    };
    let wrong = admin
        .post(&faces, "image/jpeg", &photo("biden.jpg"))
        .expect(201)
        .json()["face"]["id"]
        .as_i64()
        .unwrap();
    let path = format!("/v1/people/{id}/faces/{wrong}/not");
    let answer = admin
        .post(&path, "application/json", b"")
        .expect(200)
        .json();
    assert_eq!(answer, json!({"person_id": id, "examples": 1}));
    assert_eq!(hr.get(&faces).json().as_array().unwrap().len(), 1);
    admin
        .post(&path, "application/json", b"")
        .expect_error(404, "not_found", "has no face");
    assert_eq!(named("biden.jpg"), [None]);
    assert_eq!(named("obama2.jpg"), [Some("Obama".to_owned())]);
    let trail = admin.get("/v1/audit").json();
    let corrections = trail
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "not_this_person")
        .map(|e| {
            e["actor"]
                .as_str()
                .unwrap()
                .split(':')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect::<Vec<_>>();
    assert_eq!(corrections, ["cli", "api", "api"]);
}

/// The command line's twins of merge and move, in the audit trail with the API's.
fn the_command_line_merges_and_moves(home: &Path, wrong: i64, admin: &Api) {
    whoisit(home)
        .args([
            "people",
            "move-face",
            &wrong.to_string(),
            "--from",
            "Biden",
            "--to",
            "Obama",
        ])
        .assert()
        .success()
        .stdout(predicates::str::contains(format!(
            "face {wrong} moved from Biden to Obama"
        )));
    whoisit(home)
        .args(["people", "merge", "Obama", "Biden"])
        .assert()
        .success()
        .stdout(predicates::str::contains(
            "merged Biden into Obama: 0 face(s) moved",
        ));
    let trail = admin.get("/v1/audit").json();
    let actions: Vec<&str> = trail
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| ["merge", "move_face"].contains(a))
        .collect();
    assert_eq!(actions, ["move_face", "merge", "move_face", "merge"]);
}

#[test]
fn the_openapi_document_lists_every_route_the_router_has() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(home.path(), &[], &["--no-auth", "--workers", "1"]);
    let api = server.client();
    let doc = api.get("/v1/openapi.json").json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/v1/recognize"),
        ("GET", "/v1/people"),
        ("POST", "/v1/people"),
        ("GET", "/v1/people/{id}"),
        ("PATCH", "/v1/people/{id}"),
        ("DELETE", "/v1/people/{id}"),
        ("GET", "/v1/people/{id}/faces"),
        ("POST", "/v1/people/{id}/faces"),
        ("DELETE", "/v1/people/{id}/faces/{face}"),
        ("GET", "/v1/people/{id}/faces/{face}/image"),
        ("POST", "/v1/people/{id}/faces/{face}/not"),
        ("POST", "/v1/people/{id}/faces/{face}/move"),
        ("POST", "/v1/people/{id}/merge"),
        ("GET", "/v1/audit"),
        ("GET", "/v1/sightings"),
        ("POST", "/v1/sightings/{id}/not"),
        ("GET", "/v1/visitors"),
        ("GET", "/v1/visitors/{id}/faces/{n}/image"),
        ("POST", "/v1/visitors/{id}/enroll"),
        ("DELETE", "/v1/visitors/{id}"),
        ("GET", "/v1/settings"),
        ("GET", "/v1/settings/threshold/preview"),
        ("PUT", "/v1/settings/threshold"),
        ("GET", "/v1/keys"),
        ("POST", "/v1/keys"),
        ("DELETE", "/v1/keys/{name}"),
        ("GET", "/v1/events"),
        ("GET", "/healthz"),
        ("GET", "/metrics"),
        ("GET", "/v1/openapi.json"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(documented, expected);
    // Every documented route is routed: whatever it answers, it is not "no such route".
    let agent = common::server::agent(Duration::from_secs(5));
    for (method, path) in &documented {
        if path == "/v1/events" {
            continue; // a stream that does not end; its route is tested with the events
        }
        let url = format!(
            "{}{}",
            server.url,
            path.replace("{id}", "1")
                .replace("{face}", "1")
                .replace("{n}", "0")
        );
        let request = ureq::http::Request::builder()
            .method(method.as_str())
            .uri(&url)
            .body(())
            .unwrap();
        let mut response = agent.run(request).unwrap();
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        assert!(
            status != 405 && !body.contains("\"code\":\"no_route\""),
            "{method} {path}: {status} {body}"
        );
    }
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
}

/// schemathesis (PyPI; `scripts/test.sh` installs it into .cache/schemathesis) against a real
/// server: every check (`tests/data/schemathesis.toml` says the one exception and why) on
/// every route but the endless `/v1/events`, whose header is tried in `bad_requests_...`, and
/// `DELETE /v1/keys/{name}`, which would revoke the key schemathesis runs with (its stateful
/// phase lists the keys and revokes one by name).
#[test]
fn the_openapi_document_says_what_the_server_does() {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/schemathesis/bin/schemathesis");
    assert!(
        tool.exists(),
        "schemathesis is not installed: scripts/test.sh installs it (python3 -m venv \
         .cache/schemathesis && .cache/schemathesis/bin/pip install schemathesis==4.32.5)"
    );
    let home = tempfile::tempdir().unwrap();
    let key = make_key(home.path(), &[], "admin", "admin");
    let server = Server::start(home.path(), &[], &["--workers", "1"]);
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/schemathesis.toml");
    let output = std::process::Command::new(&tool)
        // It keeps a cache of what it found in the folder it runs in.
        .current_dir(home.path())
        .arg("--config-file")
        .arg(&config)
        .args([
            "--no-color",
            "run",
            &format!("{}/v1/openapi.json", server.url),
        ])
        .args(["--checks", "all", "--max-examples", "15", "--workers", "1"])
        .args(["--seed", "29", "--exclude-path", "/v1/events"])
        .args(["--exclude-path", "/v1/keys/{name}"])
        .args(["-H", &format!("Authorization: Bearer {key}")])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_server_failure_answers_generically_with_a_request_id_and_logs_the_cause_under_it() {
    let db = Database::new();
    let home = tempfile::tempdir().unwrap();
    let global = ["--gallery", db.url.as_str()];
    let server = Server::start(home.path(), &global, &["--no-auth", "--workers", "1"]);
    let api = server.client();
    api.get("/v1/people").expect(200);
    // A client's mistake stays specific, with nothing to look up in the log.
    let missing = api.get("/v1/people/999999");
    missing.expect_error(404, "not_found", "999999");
    assert!(missing.json()["error"].get("request_id").is_none());
    let database = db.url.rsplit('/').next().unwrap().to_owned();
    drop(db); // the database is gone, its connections cut: every gallery access fails
    for path in ["/v1/people", "/v1/audit"] {
        let failed = api.get(path);
        let body = String::from_utf8_lossy(&failed.body).into_owned();
        failed.expect_error(503, "unavailable", "request id");
        let id = failed.request_id.clone().expect("an x-request-id header");
        assert_eq!(failed.json()["error"]["request_id"], id.as_str(), "{body}");
        for internal in [
            &database,
            "127.0.0.1",
            "postgres",
            "/",
            "connection",
            "database",
        ] {
            assert!(!body.contains(internal), "{internal:?} in {body}");
        }
        // The log has the cause, once, on the line with the id.
        let log = server.log();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
        assert_eq!(lines.len(), 1, "{log}");
        assert!(lines[0].contains(&database), "{}", lines[0]);
    }
    let health = api.get("/healthz");
    assert_eq!(health.status, 503);
    let body = String::from_utf8_lossy(&health.body);
    assert!(!body.contains(&database), "{body}");
    let id = health.request_id.unwrap();
    assert!(
        server
            .log()
            .lines()
            .any(|l| l.contains(&id) && l.contains(&database))
    );
}

/// A camera of the server's own that does not open is tried again every 2 s, said once in the
/// log, and the server still stops cleanly on SIGTERM while it waits for it (no result comes
/// to look at the stop by).
#[test]
fn a_camera_that_does_not_open_is_tried_again_and_the_server_still_stops() {
    let home = tempfile::tempdir().unwrap();
    let server = Server::start(
        home.path(),
        &[],
        &["--no-auth", "--workers", "1", "--source", "7"],
    );
    let started = Instant::now();
    while !server.log().contains("opening it again") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Three more tries.
    std::thread::sleep(Duration::from_secs(6));
    let log = server.log();
    assert_eq!(log.matches("opening it again").count(), 1, "{log}");
    assert!(
        server.terminate(),
        "the server did not stop cleanly on SIGTERM"
    );
}
