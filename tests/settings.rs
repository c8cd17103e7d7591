//! The site threshold and its preview, on real servers with real photos: Obama enrolled from
//! obama.jpg; sightings stored with the faces of his other photos (named) and of Biden and the
//! Johns (unknown, with their crops), as a server that keeps faces stores them. A preview at a
//! tighter threshold says which named would become unknown, at a looser one which unknown
//! would be named; applied, it changes what `POST /v1/recognize` answers, on this server at
//! once and on a second server of the same gallery from its next reload. A read key previews
//! and cannot apply. The console's Settings page does the same in a real browser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::browser::Browser;
use common::server::{Api, Server, make_key};
use whoisit::base::identity::{EmbedderKind, Embedding};
use whoisit::gallery::{Gallery, Sightings, SqliteGallery, UnknownFace, now};

/// A stored sighting, and its face's distance to Obama's enrolled face.
#[derive(Debug, Clone, Copy)]
struct Seen {
    id: i64,
    distance: f32,
}

/// The gallery `home` holds: Obama, his sightings and the strangers'.
#[derive(Debug)]
struct Stored {
    named: Vec<Seen>,
    biden: Seen,
    johns: Vec<Seen>,
}

fn distance(a: &Embedding, b: &Embedding) -> f32 {
    a.0.iter()
        .zip(&b.0)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        .sqrt()
}

/// Enrolls Obama and stores the sightings, each with its face as the pipeline embeds it.
fn stored_sightings(home: &Path) -> Stored {
    common::cli::enroll_obama(home);
    let gallery = SqliteGallery::open(&home.join("data"), None).unwrap();
    let obama = gallery.people().unwrap()[0].id;
    let dlib = EmbedderKind::Dlib.id();
    let enrolled = gallery.embeddings(&dlib).unwrap()[0].embedding.clone();
    let (mut pipeline, _dir) = common::pipeline();
    let enrollment = common::enrollment();
    let mut face = |path: &Path| {
        enrollment
            .photo(&mut pipeline, path)
            .unwrap()
            .unwrap_or_else(|r| panic!("{}: {r}", path.display()))
    };
    let johns: Vec<_> = whoisit::enroll::dataset_people(&common::johns())
        .unwrap()
        .into_iter()
        .map(|person| person.photos[0].clone())
        .collect();
    let mut photos = vec![
        (Some(obama), common::photo("obama2.jpg")),
        (Some(obama), common::photo("obama3.jpg")),
        (None, common::photo("biden.jpg")),
    ];
    photos.extend(johns.into_iter().map(|p| (None, p)));
    let t = now();
    let mut records = Vec::new();
    let mut distances = Vec::new();
    for (i, (person, path)) in photos.iter().enumerate() {
        let face = face(path);
        distances.push(distance(&face.embedding, &enrolled));
        let mut record = common::sightings::record(
            None,
            "door",
            *person,
            t - 600 + i64::try_from(i).unwrap() * 10,
            None,
        );
        record.distance = distances.last().copied();
        record.unknown = Some(UnknownFace {
            // A named sighting keeps no crop.
            crop: person.is_none().then(|| face.image_png.clone().unwrap()),
            embedder: dlib.clone(),
            embedding: face.embedding,
        });
        records.push(record);
    }
    let ids = gallery.write_sightings(&records).unwrap();
    let seen: Vec<Seen> = ids
        .into_iter()
        .zip(distances)
        .map(|(id, distance)| Seen {
            id: id.unwrap().0,
            distance,
        })
        .collect();
    let stored = Stored {
        named: seen[..2].to_vec(),
        biden: seen[2],
        johns: seen[3..].to_vec(),
    };
    eprintln!("{stored:?}");
    // The premises: his other photos are named at the default 0.55, the strangers are not.
    assert!(stored.named.iter().all(|s| s.distance < 0.5), "{stored:?}");
    assert!(stored.biden.distance > 0.6, "{stored:?}");
    assert!(stored.johns.iter().all(|s| s.distance > 0.6), "{stored:?}");
    stored
}

/// A data dir with the stored sightings and an admin, a read and a recognize key.
struct Site {
    home: tempfile::TempDir,
    stored: Stored,
    admin: String,
    hr: String,
    door: String,
}

impl Site {
    /// A server on the data dir.
    fn serve(&self) -> Server {
        Server::start(self.home.path(), &[], &["--workers", "1"])
    }
}

fn site() -> Site {
    let home = tempfile::tempdir().unwrap();
    let stored = stored_sightings(home.path());
    let key = |name: &str, scope: &str| make_key(home.path(), &[], name, scope);
    let (admin, hr, door) = (
        key("admin", "admin"),
        key("hr", "read"),
        key("door", "recognize"),
    );
    Site {
        home,
        stored,
        admin,
        hr,
        door,
    }
}

/// Of `seen`, the ids within `threshold` of Obama, newest first (as the preview lists them).
fn within(seen: &[Seen], threshold: f32) -> Vec<i64> {
    let mut ids: Vec<i64> = seen
        .iter()
        .filter(|s| s.distance <= threshold)
        .map(|s| s.id)
        .collect();
    ids.reverse();
    ids
}

impl Stored {
    /// Below every named face: both of his sightings would become unknown.
    fn tight(&self) -> f32 {
        let nearest = self.named.iter().map(|s| s.distance).fold(2.0, f32::min);
        round_down(nearest - 0.02)
    }

    /// Past Biden: he, and any John as near, would be named Obama.
    fn loose(&self) -> f32 {
        round_down(self.biden.distance + 0.02)
    }

    fn unknown(&self) -> Vec<Seen> {
        let mut all = vec![self.biden];
        all.extend(&self.johns);
        all
    }
}

/// `t` to two decimals (as a person types it), rounded down.
fn round_down(t: f32) -> f32 {
    (t * 100.0).floor() / 100.0
}

/// A threshold as the server wrote it (the shortest decimal of an f32).
fn as_f32(value: &Value) -> f32 {
    value.as_f64().unwrap() as f32
}

fn ids(changes: &Value) -> Vec<i64> {
    changes
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sighting_id"].as_i64().unwrap())
        .collect()
}

/// Waits up to 15 s for `api` to answer `names` for `photo`; whether it did.
fn answers(api: &Api, photo: &str, names: &[Option<&str>]) -> bool {
    let want: Vec<Option<String>> = names.iter().map(|n| n.map(str::to_owned)).collect();
    let started = Instant::now();
    loop {
        if api.names(photo) == want {
            return true;
        }
        if started.elapsed() > Duration::from_secs(15) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Read by a read key: the settings, a preview at a tighter and at a looser threshold, and
/// bad thresholds refused in words.
fn previewed(reader: &Api, stored: &Stored) {
    let settings = reader.get("/v1/settings").expect(200).json();
    assert_eq!(settings["threshold"]["threshold"], json!(0.55));
    assert_eq!(settings["threshold"]["site_threshold"], Value::Null);
    assert_eq!(settings["threshold"]["embedder"], "dlib-resnet-v1");
    assert_eq!(settings["retention"]["retention_days"], 30);
    assert_eq!(settings["retention"]["purge_sightings"], 0);

    let all = 2 + stored.unknown().len();
    let tight = stored.tight();
    let preview = reader
        .get(&format!("/v1/settings/threshold/preview?threshold={tight}"))
        .expect(200)
        .json();
    assert_eq!(preview["current"], json!(0.55));
    assert_eq!(
        (preview["sightings"].as_u64(), preview["named"].as_u64()),
        (Some(all as u64), Some(2)),
        "{preview}"
    );
    assert_eq!(ids(&preview["become_unknown"]), within(&stored.named, 2.0));
    assert_eq!(ids(&preview["become_named"]), Vec::<i64>::new());
    assert_eq!(preview["become_unknown"][0]["person"], "Obama");
    assert_eq!(preview["become_unknown"][0]["has_crop"], false);

    let loose = stored.loose();
    let preview = reader
        .get(&format!("/v1/settings/threshold/preview?threshold={loose}"))
        .expect(200)
        .json();
    let named = within(&stored.unknown(), loose);
    assert!(named.contains(&stored.biden.id), "{preview}");
    assert_eq!(ids(&preview["become_named"]), named, "{preview}");
    assert_eq!(ids(&preview["become_unknown"]), Vec::<i64>::new());
    assert!(
        preview["become_named"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["person"] == "Obama" && c["has_crop"] == true),
        "{preview}"
    );

    for (bad, words) in [
        ("abc", "threshold"),
        ("0", "must be a positive number"),
        ("2.5", "must be a positive number"),
    ] {
        let refused = reader.get(&format!("/v1/settings/threshold/preview?threshold={bad}"));
        assert_eq!(refused.status, 400, "{bad}");
        assert!(
            refused.message().contains(words),
            "{bad}: {}",
            refused.message()
        );
    }
    let refused = reader.put_json("/v1/settings/threshold", &json!({"threshold": loose}));
    refused.expect_error(403, "forbidden", "needs the scope admin");
}

/// The API: previews by a read key, bad input refused in words, the threshold applied by an
/// admin on one server and followed by another on the same gallery, then cleared.
#[test]
fn a_previewed_threshold_applied_on_one_server_is_followed_by_another() {
    let site = site();
    let one = site.serve();
    let two = site.serve();
    previewed(&Api::new(&one.url, Some(&site.hr)), &site.stored);
    let loose = site.stored.loose();
    let (door_one, door_two) = (
        Api::new(&one.url, Some(&site.door)),
        Api::new(&two.url, Some(&site.door)),
    );
    let (admin_one, admin_two) = (
        Api::new(&one.url, Some(&site.admin)),
        Api::new(&two.url, Some(&site.admin)),
    );

    // Biden is nobody at 0.55, on both servers.
    assert_eq!(door_one.names("biden.jpg"), [None]);
    assert_eq!(door_two.names("biden.jpg"), [None]);
    let refused = admin_one.put_json("/v1/settings/threshold", &json!({"threshold": 2.5}));
    assert_eq!(refused.status, 400);
    assert!(
        refused.message().contains("nothing was changed"),
        "{}",
        refused.message()
    );

    let applied = admin_one
        .put_json("/v1/settings/threshold", &json!({"threshold": loose}))
        .expect(200)
        .json();
    assert_eq!(as_f32(&applied["threshold"]), loose, "{applied}");
    assert_eq!(as_f32(&applied["site_threshold"]), loose);
    assert_eq!(applied["config_threshold"], json!(0.55));
    // At once on the server that applied it; on the other from its next reload.
    assert_eq!(door_one.names("biden.jpg"), [Some("Obama".to_owned())]);
    assert!(
        answers(&door_two, "biden.jpg", &[Some("Obama")]),
        "the second server never followed the site threshold; its log:\n{}",
        two.log()
    );
    let settings = admin_two.get("/v1/settings").expect(200).json();
    assert_eq!(as_f32(&settings["threshold"]["threshold"]), loose);
    let audit = admin_one.get("/v1/audit").expect(200).json().to_string();
    assert!(
        audit.contains("site_threshold") && audit.contains("api:admin"),
        "{audit}"
    );

    admin_two
        .put_json("/v1/settings/threshold", &json!({"threshold": null}))
        .expect(200);
    assert!(answers(&door_two, "biden.jpg", &[None]));
    assert!(
        answers(&door_one, "biden.jpg", &[None]),
        "cleared on the second server, the first still names Biden Obama"
    );
    assert_eq!(door_one.names("obama2.jpg"), [Some("Obama".to_owned())]);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Previews `threshold` with the page's form: the counts' sentence.
async fn preview_on_page(browser: &Browser, threshold: f32) -> String {
    browser
        .type_into("#threshold", &format!("{threshold:.2}"))
        .await;
    browser
        .click_to_next_page("form[action='/settings'] button")
        .await;
    browser.text("#counts").await
}

/// An admin's page: where the threshold comes from, the previews with their faces.
async fn admin_previews(browser: &Browser, base: &str, stored: &Stored) {
    let all = 2 + stored.unknown().len();
    let (tight, loose) = (stored.tight(), stored.loose());
    let gained = within(&stored.unknown(), loose).len();
    browser.open(&format!("{base}/settings")).await;
    assert!(
        browser
            .names_in_nav()
            .await
            .contains(&"Settings".to_owned())
    );
    assert_eq!(browser.text("#in-force").await, "0.55");
    assert!(
        browser
            .text("main")
            .await
            .contains("the config's threshold")
    );
    assert!(browser.text("#retention").await.contains("30 days"));
    assert_eq!(browser.unlabelled_controls().await, Vec::<String>::new());

    assert_eq!(
        preview_on_page(browser, tight).await,
        format!(
            "Of the last {all} sightings that keep their face (2 named and {} unknown at \
             0.55): at {tight:.2}, 2 named would become unknown and 0 unknown would be named.",
            all - 2
        )
    );
    assert_eq!(browser.texts("#become-unknown li").await.len(), 2);

    let counts = preview_on_page(browser, loose).await;
    assert!(
        counts.ends_with(&format!(
            "at {loose:.2}, 0 named would become unknown and {gained} unknown would be named."
        )),
        "{counts}"
    );
    assert_eq!(browser.images_loaded("#become-named img").await, gained);
    let faces = browser.texts("#become-named li").await;
    assert!(faces.iter().all(|t| t.starts_with("Obama")), "{faces:?}");
    browser.screenshot("settings").await;
}

/// A PUT of the site threshold from the page with `headers`: status and body.
async fn put_from_page(browser: &Browser, headers: Value, threshold: f32) -> (u16, String) {
    let body = format!("{{\"threshold\":{threshold}}}");
    browser
        .fetch("PUT", "/v1/settings/threshold", headers, Some(&body))
        .await
}

/// The admin applies the looser threshold with the page's button (refused without the
/// session's token), and goes back to the config's.
async fn admin_applies(browser: &Browser, base: &str, door: &Api, stored: &Stored) {
    let (tight, loose) = (stored.tight(), stored.loose());
    let json = json!({"Content-Type": "application/json"});
    let (status, body) = put_from_page(browser, json, loose).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");

    browser.click("#apply").await;
    browser
        .wait_for_text("#status", &format!("The threshold is now {loose:.2}"))
        .await;
    assert_eq!(browser.text("#in-force").await, format!("{loose:.2}"));
    assert!(
        browser
            .text("main")
            .await
            .contains("the site threshold stored")
    );
    assert_eq!(door.names("biden.jpg"), [Some("Obama".to_owned())]);
    browser.open(&format!("{base}/audit")).await;
    assert!(browser.text("table").await.contains("site_threshold"));

    // Not a number, or out of bounds: said in words, with the form to try again.
    browser
        .open(&format!("{base}/settings?threshold=abc"))
        .await;
    let problem = browser.text("#problem").await;
    assert!(problem.contains("\"abc\" is not a number"), "{problem}");
    browser.open(&format!("{base}/settings?threshold=3")).await;
    assert!(browser.text("#problem").await.contains("at most 2"));

    browser.client.set_window_size(390, 844).await.unwrap();
    browser
        .open(&format!("{base}/settings?threshold={tight:.2}"))
        .await;
    assert_eq!(
        browser.overflow().await,
        0,
        "the settings page is wider than a phone"
    );
    browser.screenshot("settings-phone").await;
    browser.client.set_window_size(1280, 800).await.unwrap();

    browser.open(&format!("{base}/settings")).await;
    browser.click("form[data-threshold=''] button").await;
    browser
        .wait_for_text("#status", "the config's 0.55 again")
        .await;
    assert_eq!(browser.text("#in-force").await, "0.55");
    assert_eq!(door.names("biden.jpg"), [None]);
}

/// A read key sees the preview, gets no button and no crop, and the server refuses it the
/// change even with the session's token.
async fn reader_previews(browser: &Browser, base: &str, hr: &str, stored: &Stored) {
    let loose = stored.loose();
    let gained = within(&stored.unknown(), loose).len();
    browser.click_to_next_page(".who button").await;
    browser.log_in(base, hr).await;
    browser
        .open(&format!("{base}/settings?threshold={loose:.2}"))
        .await;
    let counts = browser.text("#counts").await;
    assert!(
        counts.contains(&format!("{gained} unknown would be named")),
        "{counts}"
    );
    assert!(!browser.has("#apply").await);
    assert!(
        !browser.has("#become-named img").await,
        "crops are for admins"
    );
    assert!(
        browser
            .text("#preview")
            .await
            .contains("needs an admin key")
    );
    let token = browser.csrf().await;
    let headers = json!({"Content-Type": "application/json", "X-CSRF-Token": token});
    let (status, body) = put_from_page(browser, headers, loose).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("needs the scope admin"), "{body}");
}

/// The Settings page in a real browser: the preview by a GET form with its counts and the
/// faces that would change, a clear error for what is not a number, the threshold applied by
/// an admin's button (with the session's CSRF token, refused without), and a read key that
/// sees the preview with no button and is refused the change.
#[test]
fn the_settings_page_previews_a_threshold_and_an_admin_applies_it() {
    let site = site();
    let server = site.serve();
    let base = server.url.clone();
    let door = Api::new(&base, Some(&site.door));
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        browser.log_in(&base, &site.admin).await;
        admin_previews(&browser, &base, &site.stored).await;
        admin_applies(&browser, &base, &door, &site.stored).await;
        reader_previews(&browser, &base, &site.hr, &site.stored).await;
        browser.close().await;
    });
}
