//! The console in a real browser: Debian's Chromium, driven over WebDriver, against a real
//! `whoisit serve` on loopback with a real gallery. Screenshots of the pages land in
//! `target/console-screenshots/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::time::Duration;

use fantoccini::actions::{InputSource as _, KeyAction, KeyActions};
use serde_json::json;
use whoisit::demo::synth::{Actor, ClipSpec};

use common::browser::Browser;
use common::cli::whoisit;
use common::server::{Server, agent, make_key};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A GET with only a cookie, as a stolen or stale cookie would come: status and body.
fn get_with_cookie(url: &str, cookie: &str) -> (u16, String) {
    let mut answer = agent(Duration::from_secs(30))
        .get(url)
        .header("Cookie", cookie)
        .call()
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.body_mut().read_to_string().unwrap())
}

/// A server on a gallery (`global` names it; the data dir's SQLite file without), with an
/// admin, a read and a recognize key.
struct Site {
    home: tempfile::TempDir,
    admin: String,
    hr: String,
    door: String,
    server: Server,
}

fn site(global: &[&str]) -> Site {
    let home = tempfile::tempdir().unwrap();
    let admin = make_key(home.path(), global, "admin", "admin");
    let hr = make_key(home.path(), global, "hr", "read");
    let door = make_key(home.path(), global, "door", "recognize");
    let server = Server::start(home.path(), global, &["--workers", "1"]);
    Site {
        home,
        admin,
        hr,
        door,
        server,
    }
}

/// A server whose own camera plays `clip`, with one recognition worker.
fn serving(home: &std::path::Path, clip: &std::path::Path) -> Server {
    Server::start(
        home,
        &[],
        &["--workers", "1", "--source", clip.to_str().unwrap()],
    )
}

/// The pages' headers: no inline script, no framing, nothing cached but the style sheet and
/// the script.
fn pages_are_strict(base: &str) {
    let mut login = agent(Duration::from_secs(30))
        .get(format!("{base}/login"))
        .call()
        .unwrap();
    let header = |name: &str| {
        login
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("content-security-policy");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header("cache-control"), "no-store");
    let page = login.body_mut().read_to_string().unwrap();
    let handler = page.split(" on").skip(1).any(|rest| {
        let name = rest.trim_start_matches(|c: char| c.is_ascii_lowercase());
        name.len() < rest.len() && name.starts_with('=')
    });
    assert!(
        !page.contains("<script>") && !handler,
        "inline script: {page}"
    );
    // The style sheet and the script hold nobody's data: kept by the browser, under an
    // address that changes with them.
    for asset in ["/console/style.css?v=", "/console/console.js?v="] {
        let at = page
            .find(asset)
            .unwrap_or_else(|| panic!("{asset} in {page}"));
        let address = &page[at..at + page[at..].find('"').unwrap()];
        let answer = agent(Duration::from_secs(30))
            .get(format!("{base}{address}"))
            .call()
            .unwrap();
        let cached = answer.headers().get("cache-control").unwrap();
        assert_eq!(cached, "public, max-age=31536000, immutable", "{address}");
    }
}

/// Without a session every page leads to the login; a recognize key and a key never made are
/// refused there, with what is needed.
async fn refused_keys(browser: &Browser, base: &str, door_key: &str) {
    browser.open(&format!("{base}/")).await;
    assert_eq!(browser.path().await, "/login");
    browser.screenshot("login").await;
    browser.log_in(base, door_key).await;
    assert_eq!(browser.path().await, "/login");
    let refusal = browser.text("#problem").await;
    assert!(
        refusal.contains("\"door\" may only recognize photos"),
        "{refusal}"
    );
    assert!(
        refusal.contains("scope read") && refusal.contains("admin"),
        "{refusal}"
    );
    browser.screenshot("login-refused").await;
    browser.log_in(base, "wik_not-a-key").await;
    assert!(browser.text("#problem").await.contains("not valid"));
}

/// A POST of a new person from the page, with `headers`: status and body.
async fn post_person(browser: &Browser, headers: serde_json::Value) -> (u16, String) {
    let person = r#"{"name":"Ada Lovelace"}"#;
    browser
        .fetch("POST", "/v1/people", headers, Some(person))
        .await
}

/// The session cookie's pair, as a request carries it.
async fn session_cookie(browser: &Browser) -> String {
    let cookie = browser
        .client
        .get_named_cookie("whoisit_session")
        .await
        .unwrap();
    format!("whoisit_session={}", cookie.value())
}

/// A read key sees, the server refuses its changes even with the right token, its cookie is
/// out of the page's reach, and revoking the key ends its session at once.
async fn a_read_key(browser: &Browser, base: &str, hr_key: &str, home: &std::path::Path) {
    browser.log_in(base, hr_key).await;
    assert_eq!(browser.path().await, "/");
    assert_eq!(browser.text("h1").await, "Overview");
    assert!(browser.text(".who").await.contains("read only"));
    let token = browser.csrf().await;
    let json = "application/json";
    let (status, body) = post_person(
        browser,
        json!({"Content-Type": json, "X-CSRF-Token": token}),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("needs the scope admin"), "{body}");
    let (status, _) = browser.fetch("GET", "/v1/people", json!({}), None).await;
    assert_eq!(status, 200);

    let cookie = browser
        .client
        .get_named_cookie("whoisit_session")
        .await
        .unwrap();
    assert_eq!(cookie.http_only(), Some(true));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");
    let seen = browser
        .client
        .execute("return document.cookie", vec![])
        .await
        .unwrap();
    assert!(
        !seen.as_str().unwrap().contains("whoisit_session"),
        "{seen}"
    );
    let hr_cookie = session_cookie(browser).await;

    whoisit(home)
        .args(["keys", "revoke", "hr"])
        .assert()
        .success();
    browser.open(&format!("{base}/")).await;
    assert_eq!(browser.path().await, "/login");
    let people = format!("{base}/v1/people");
    assert_eq!(get_with_cookie(&people, &hr_cookie).0, 401);
}

/// An admin key changes, only with the session's token; logout ends the session.
async fn an_admin_key_and_logout(
    browser: &Browser,
    base: &str,
    admin_key: &str,
    home: &std::path::Path,
) {
    browser.log_in(base, admin_key).await;
    assert_eq!(browser.path().await, "/");
    assert!(browser.text(".who").await.contains("admin"));
    browser.screenshot("overview").await;
    let json = "application/json";
    let (status, body) = post_person(browser, json!({"Content-Type": json})).await;
    assert_eq!(status, 403, "a change without the token: {body}");
    assert!(body.contains("CSRF"), "{body}");
    let forged = json!({"Content-Type": json, "X-CSRF-Token": "forged"});
    let (status, body) = post_person(browser, forged).await;
    assert_eq!(status, 403, "a change with a forged token: {body}");
    let token = browser.csrf().await;
    let (status, body) = post_person(
        browser,
        json!({"Content-Type": json, "X-CSRF-Token": token}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let audit = whoisit(home).args(["audit"]).output().unwrap();
    let audit = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit.contains("api:admin"),
        "the change is the key's: {audit}"
    );

    let admin_cookie = session_cookie(browser).await;
    let people = format!("{base}/v1/people");
    assert_eq!(get_with_cookie(&people, &admin_cookie).0, 200);
    browser.click_to_next_page(".who button").await;
    assert_eq!(browser.path().await, "/login");
    let (status, body) = get_with_cookie(&people, &admin_cookie);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("session has ended"), "{body}");
    browser.open(&format!("{base}/")).await;
    assert_eq!(browser.path().await, "/login");
}

#[test]
fn keys_open_the_console_by_scope_changes_need_the_csrf_token_and_logout_ends_it() {
    let Site {
        home,
        admin: admin_key,
        hr: hr_key,
        door: door_key,
        server,
    } = site(&[]);
    let base = server.url.clone();
    pages_are_strict(&base);
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        refused_keys(&browser, &base, &door_key).await;
        a_read_key(&browser, &base, &hr_key, home.path()).await;
        an_admin_key_and_logout(&browser, &base, &admin_key, home.path()).await;
        browser.close().await;
    });
}

/// Enrolls `name` from `photos` on the Enroll page; the results list once every photo is
/// answered.
async fn enroll_by_upload(
    browser: &Browser,
    base: &str,
    name: &str,
    photos: &[&std::path::Path],
) -> String {
    browser.open(&format!("{base}/enroll")).await;
    browser.type_into("#name", name).await;
    browser.choose_files("#photos", photos).await;
    browser.click("form.upload button[type=submit]").await;
    browser.wait_for_text("#status", name).await;
    browser.text(".results").await
}

/// A recognize key's answer for `photo`: the names of its faces.
fn names_in(base: &str, key: &str, photo: &str) -> Vec<Option<String>> {
    common::server::Api::new(base, Some(key)).names(photo)
}

/// The photos' paths.
struct Photos {
    obama: std::path::PathBuf,
    obama2: std::path::PathBuf,
    group: std::path::PathBuf,
}

/// Two photos at once: Obama alone is enrolled, with his pose; the group photo is not, and
/// says why. Then the grid: his card, its thumbnail loaded; search by name.
async fn enroll_two_photos(browser: &Browser, base: &str, door: &str, photos: &Photos) {
    let (obama, group) = (&photos.obama, &photos.group);
    let results = enroll_by_upload(
        browser,
        base,
        "Barack Obama",
        &[obama.as_path(), group.as_path()],
    )
    .await;
    assert!(results.contains("obama.jpg: enrolled (front)"), "{results}");
    assert!(
        results.contains("t1.jpg: not enrolled:") && results.contains("faces found"),
        "{results}"
    );
    // The upload's results, below the camera panel.
    browser.scroll_to("form.upload").await;
    browser.screenshot("enroll").await;
    assert_eq!(
        names_in(base, door, "obama2.jpg"),
        [Some("Barack Obama".to_owned())]
    );

    // The grid: his card, thumbnail loaded; search by name.
    browser.open(&format!("{base}/people")).await;
    assert!(browser.text(".people").await.contains("Barack Obama"));
    assert!(browser.text(".person").await.contains("front (1/"));
    let loaded = browser
        .client
        .execute("const i = document.querySelector('.person img'); return i.complete && i.naturalWidth > 0;", vec![])
        .await
        .unwrap();
    assert_eq!(loaded, json!(true), "the thumbnail did not load");
    browser.screenshot("people").await;
    // Figures for the closing note, not checked: load moves them.
    let (bytes, first_paint) = browser.page_figures().await;
    eprintln!(
        "people page with 1 person: {bytes} bytes, first contentful paint {first_paint:.0} ms"
    );
    browser.type_into("#q", "OBAMA").await;
    browser.click_to_next_page("form.search button").await;
    assert_eq!(browser.text("#count").await, "1 of 1 match.");
    browser.type_into("#q", "biden").await;
    browser.click_to_next_page("form.search button").await;
    assert_eq!(browser.text("#count").await, "0 of 1 match.");
}

/// His page: one face with its pose; the same photo again is refused as a duplicate; rename.
/// Returns the page's path.
async fn his_page(browser: &Browser, base: &str, door: &str, photos: &Photos) -> String {
    let obama = &photos.obama;
    browser.open(&format!("{base}/people")).await;
    browser.click(".person a.name").await;
    let person_path = browser.path().await;
    assert_eq!(browser.text("h1").await, "Barack Obama");
    assert_eq!(
        browser
            .client
            .find_all(fantoccini::Locator::Css(".face"))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(browser.text(".face .pose").await, "front");
    browser.choose_files("#photos", &[obama.as_path()]).await;
    browser.click("form.upload button[type=submit]").await;
    browser.wait_for_text("#status", "No photo was added").await;
    let results = browser.text(".results").await;
    assert!(
        results.contains("already") || results.contains("duplicate"),
        "{results}"
    );
    browser.open(&format!("{base}{person_path}")).await;
    browser.screenshot("person").await;

    // Rename.
    browser
        .type_into("form[data-action=rename] #name", "Obama")
        .await;
    browser.click("form[data-action=rename] button").await;
    // "Barack Obama" holds "Obama" too: wait for the reloaded page's heading itself.
    let started = std::time::Instant::now();
    while browser.text("h1").await != "Obama" {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the page never showed the new name"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        names_in(base, door, "obama2.jpg"),
        [Some("Obama".to_owned())]
    );

    person_path
}

/// A read key sees him, with no button that changes anything, and no admin pages.
async fn read_only(browser: &Browser, base: &str, hr: &str, person_path: &str) {
    browser.click_to_next_page(".who button").await;
    browser.log_in(base, hr).await;
    assert_eq!(
        browser.names_in_nav().await,
        [
            "Overview",
            "Live",
            "People",
            "Visitors",
            "Sightings",
            "Settings"
        ]
    );
    browser.open(&format!("{base}{person_path}")).await;
    assert_eq!(browser.text("h1").await, "Obama");
    assert!(browser.has(".face img").await);
    assert!(!browser.has("button[data-click]").await && !browser.has("form[data-action]").await);
    browser.screenshot("person-read-only").await;
    for page in ["enroll", "keys", "audit"] {
        browser.open(&format!("{base}/{page}")).await;
        assert!(
            browser.text(".problem").await.contains("for admin keys"),
            "{page}"
        );
    }
}

/// Keys: one made (shown once, and it works), then revoked (and it does not); the audit
/// trail names the console's key for each change.
async fn keys_and_audit(browser: &Browser, base: &str, admin: &str, photos: &Photos) {
    let obama2 = &photos.obama2;
    browser.click_to_next_page(".who button").await;
    browser.log_in(base, admin).await;
    browser.open(&format!("{base}/keys")).await;
    browser.type_into("#key-name", "kiosk").await;
    browser.click("form[data-action=createKey] button").await;
    browser.wait_for_text("#status", "shown only once").await;
    let secret = browser
        .client
        .find(fantoccini::Locator::Css("#secret"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert!(secret.starts_with("wik_"), "{secret}");
    let kiosk = common::server::Api::new(base, Some(&secret));
    kiosk
        .post(
            "/v1/recognize",
            "image/jpeg",
            &std::fs::read(obama2).unwrap(),
        )
        .expect(200);
    browser.open(&format!("{base}/keys")).await;
    assert!(browser.text("table").await.contains("kiosk"));
    browser.screenshot("keys").await;
    browser.click("button[data-key=kiosk]").await;
    browser.client.accept_alert().await.unwrap();
    let started = std::time::Instant::now();
    while browser.text("table").await.contains("kiosk") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the key stays listed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    kiosk
        .post(
            "/v1/recognize",
            "image/jpeg",
            &std::fs::read(obama2).unwrap(),
        )
        .expect(401);

    // The audit trail names the console's key for each change, newest first.
    browser.open(&format!("{base}/audit")).await;
    let audit = browser.text("table").await;
    for action in ["enroll", "rename", "key_created", "key_revoked"] {
        assert!(audit.contains(action), "{action} not in {audit}");
    }
    assert!(audit.contains("api:admin"), "{audit}");
    browser.screenshot("audit").await;
}

/// Forget asks first, saying what goes; then he is on no page and named by nobody; at a
/// phone's width the grid and the navigation still fit.
async fn forget(browser: &Browser, base: &str, door: &str, person_path: &str) {
    browser.open(&format!("{base}{person_path}")).await;
    let confirm = browser
        .attr("button[data-click=forget]", "data-confirm")
        .await;
    assert!(
        confirm.contains("Forget Obama?") && confirm.contains("1 face(s)"),
        "{confirm}"
    );
    browser.click("button[data-click=forget]").await;
    browser.client.accept_alert().await.unwrap();
    let started = std::time::Instant::now();
    while browser.path().await != "/people" {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "forgetting did not lead to the grid"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(browser.text("#count").await, "0 people enrolled.");
    browser.open(&format!("{base}{person_path}")).await;
    assert!(
        browser.text(".problem").await.contains("nobody has the id"),
        "{}",
        browser.text("main").await
    );
    browser.open(&format!("{base}/")).await;
    assert!(browser.text(".cards").await.starts_with('0'));
    assert_eq!(names_in(base, door, "obama2.jpg"), [None]);

    // At a phone's width the grid and the navigation still fit.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.open(&format!("{base}/people")).await;
    assert_eq!(
        browser.overflow().await,
        0,
        "the page is wider than a phone"
    );
    browser.screenshot("people-phone").await;
}

#[test]
fn obama_enrolled_by_upload_is_named_a_group_photo_says_why_and_forgetting_him_clears_every_page() {
    let Site {
        home: _home,
        admin,
        hr,
        door,
        server,
    } = site(&[]);
    let base = server.url.clone();
    let photos = Photos {
        obama: common::photo("obama.jpg"),
        obama2: common::photo("obama2.jpg"),
        group: common::photo("t1.jpg"),
    };
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        browser.log_in(&base, &admin).await;
        let everything = [
            "Overview",
            "Live",
            "People",
            "Visitors",
            "Sightings",
            "Enroll",
            "Keys",
            "Audit",
            "Settings",
        ];
        assert_eq!(browser.names_in_nav().await, everything);
        enroll_two_photos(&browser, &base, &door, &photos).await;
        let person_path = his_page(&browser, &base, &door, &photos).await;
        read_only(&browser, &base, &hr, &person_path).await;
        keys_and_audit(&browser, &base, &admin, &photos).await;
        forget(&browser, &base, &door, &person_path).await;
        browser.close().await;
    });
}

#[test]
fn the_console_enrolls_by_upload_on_a_postgres_gallery() {
    let db = common::postgres::Database::new();
    let Site {
        admin: admin_key,
        door: door_key,
        server,
        ..
    } = site(&["--gallery", db.url.as_str()]);
    let base = server.url.clone();
    let obama = common::photo("obama.jpg");
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        browser.log_in(&base, &admin_key).await;
        let results = enroll_by_upload(&browser, &base, "Barack Obama", &[&obama]).await;
        assert!(results.contains("obama.jpg: enrolled (front)"), "{results}");
        browser.open(&format!("{base}/people")).await;
        assert_eq!(browser.text("#count").await, "1 person enrolled.");
        assert!(browser.text(".person").await.contains("Barack Obama"));
        browser.close().await;
    });
    assert_eq!(
        names_in(&base, &door_key, "obama2.jpg"),
        [Some("Barack Obama".to_owned())]
    );
}

/// Waits until the server has recorded a sighting of somebody enrolled.
fn somebody_named(base: &str, key: &str) {
    let api = common::server::Api::new(base, Some(key));
    let started = std::time::Instant::now();
    while !api.get("/v1/sightings").expect(200).json()["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| !s["person_id"].is_null())
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nobody was named"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The changes the Live page opened with and those its stream brought after: none twice.
async fn none_twice(browser: &Browser) {
    let changes = browser.texts(".sightings li").await;
    let mut once = changes.clone();
    once.sort();
    once.dedup();
    assert_eq!(
        once.len(),
        changes.len(),
        "a change shown twice: {changes:?}"
    );
}

/// The Live page's video plays: frames of the clip's size arrive in the plain img.
async fn video_plays(browser: &Browser) {
    let started = std::time::Instant::now();
    loop {
        let width = browser
            .client
            .execute(
                "return document.querySelector('img.video').naturalWidth;",
                vec![],
            )
            .await
            .unwrap();
        if width == json!(640) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the live video never showed a frame ({width})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The Live page: the server's own camera as video with boxes and names; opened after Obama
/// was seen, him named at once, then the sightings as they happen (Obama named, Biden
/// unknown), none twice; one viewer more than serve.live_viewers refused with the reason;
/// readable at a phone's width.
#[test]
fn the_live_page_shows_the_labelled_video_and_the_sightings_as_they_happen() {
    let home = tempfile::tempdir().unwrap();
    common::cli::enroll_obama(home.path());
    let config = home.path().join("config/whoisit");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.ron"), "(serve: (live_viewers: 1))").unwrap();
    let admin = make_key(home.path(), &[], "admin", "admin");
    // A minute of Obama walking, Biden joining: long enough to outlast the browser's start.
    let clip = common::cli::two_people_clip(home.path(), 900, 15.0);
    let server = serving(home.path(), &clip);
    let base = server.url.clone();
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        browser.log_in(&base, &admin).await;
        assert!(browser.names_in_nav().await.contains(&"Live".to_owned()));
        // The page is opened only once he has been seen: it tells who is in view from the
        // first moment, not only the changes after it opened.
        somebody_named(&base, &admin);
        browser.open(&format!("{base}/live")).await;
        let at_once = browser.text(".seen").await;
        eprintln!("the live page as it opens: {at_once}");
        // In view, unless his track left in the moment before the page opened; then his
        // appearance is among the last changes shown.
        assert!(at_once.contains("Obama ("), "{at_once}");
        // Named as his track appears, or named a moment later when its first look was not
        // near enough (a loaded machine skips frames).
        let seen = browser.wait_for_text(".sightings", "Obama ").await;
        assert!(
            seen.contains("Obama appeared") || seen.contains("Obama named"),
            "{seen}"
        );
        let seen = if seen.contains("unknown appeared") {
            seen
        } else {
            browser
                .wait_for_text(".sightings", "unknown appeared")
                .await
        };
        assert!(seen.contains("distance 0."), "{seen}");
        video_plays(&browser).await;
        // Let a few frames with boxes arrive before the picture is taken.
        tokio::time::sleep(Duration::from_secs(2)).await;
        browser.screenshot("live").await;
        none_twice(&browser).await;
        let (bytes, first_paint) = browser.page_figures().await;
        eprintln!(
            "live page: {bytes} bytes before the video, first contentful paint {first_paint:.0} ms"
        );

        // The one seat is taken by the page: a second viewer is refused, saying why.
        let cookie = session_cookie(&browser).await;
        let (status, reason) = get_with_cookie(&format!("{base}/live/0/video"), &cookie);
        assert_eq!(status, 503, "{reason}");
        assert!(reason.contains("serve.live_viewers"), "{reason}");
        // No camera 7; and no video without a session.
        assert_eq!(
            get_with_cookie(&format!("{base}/live/7/video"), &cookie).0,
            404
        );
        let (status, page) =
            get_with_cookie(&format!("{base}/live/0/video"), "whoisit_session=forged");
        assert_eq!(status, 200, "{page}");
        assert!(
            page.contains("API key"),
            "the login page, not video: {page}"
        );

        browser.client.set_window_size(390, 844).await.unwrap();
        browser.open(&format!("{base}/live")).await;
        browser.wait_for_text(".sightings", "appeared").await;
        assert_eq!(
            browser.overflow().await,
            0,
            "the live page is wider than a phone"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        browser.screenshot("live-phone").await;
        browser.close().await;
    });
}

/// A browser's live video, read on a thread of its own: it says when the first frame came,
/// and when (and how) the stream ended.
struct Watching {
    said: std::sync::mpsc::Receiver<Result<&'static str, String>>,
}

impl Watching {
    fn start(url: &str, cookie: &str) -> Watching {
        let (tell, said) = std::sync::mpsc::channel();
        let (url, cookie) = (url.to_owned(), cookie.to_owned());
        std::thread::spawn(move || {
            let answer = agent(Duration::from_secs(600))
                .get(&url)
                .header("Cookie", &cookie)
                .call();
            let mut answer = match answer {
                Ok(answer) => answer,
                Err(e) => return tell.send(Err(e.to_string())),
            };
            let kind = answer.headers().get("content-type").cloned();
            if !kind.is_some_and(|k| k.to_str().unwrap().starts_with("multipart/x-mixed-replace")) {
                let body = answer.body_mut().read_to_string().unwrap_or_default();
                return tell.send(Err(format!("no video: {} {body}", answer.status())));
            }
            let mut body = answer.into_body().into_reader();
            let mut chunk = vec![0; 1 << 16];
            let mut first = true;
            loop {
                match std::io::Read::read(&mut body, &mut chunk) {
                    Ok(0) => return tell.send(Ok("ended")),
                    Ok(_) if first => {
                        first = false;
                        tell.send(Ok("playing"))?;
                    }
                    Ok(_) => {}
                    Err(e) => return tell.send(Err(e.to_string())),
                }
            }
        });
        Watching { said }
    }

    /// The next thing the stream did, within a bound far above what it needs.
    fn next(&self) -> Result<&'static str, String> {
        self.said
            .recv_timeout(Duration::from_secs(60))
            .expect("the live video neither played nor ended")
    }
}

/// Biometric video stops at once: a browser's live video ends when its console session is
/// logged out, and when the key it logged in with is revoked.
#[test]
fn the_live_video_ends_on_logout_and_when_its_key_is_revoked() {
    let home = tempfile::tempdir().unwrap();
    let admin = make_key(home.path(), &[], "admin", "admin");
    let watcher = make_key(home.path(), &[], "watcher", "read");
    let clip = common::cli::two_people_clip(home.path(), 900, 15.0);
    let server = serving(home.path(), &clip);
    let base = server.url.clone();
    let video = format!("{base}/live/0/video");
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        browser.log_in(&base, &admin).await;
        let watching = Watching::start(&video, &session_cookie(&browser).await);
        assert_eq!(watching.next(), Ok("playing"));
        let asked = std::time::Instant::now();
        browser.click_to_next_page(".who button").await;
        assert_eq!(browser.path().await, "/login");
        assert_eq!(watching.next(), Ok("ended"), "logged out");
        eprintln!("the video ended {:?} after the logout", asked.elapsed());

        browser.log_in(&base, &watcher).await;
        let watching = Watching::start(&video, &session_cookie(&browser).await);
        assert_eq!(watching.next(), Ok("playing"));
        let asked = std::time::Instant::now();
        common::server::Api::new(&base, Some(&admin))
            .delete("/v1/keys/watcher")
            .expect(204);
        assert_eq!(watching.next(), Ok("ended"), "its key revoked");
        eprintln!("the video ended {:?} after the revocation", asked.elapsed());
        browser.close().await;
    });
    assert!(
        server.log().contains("a live video stream ends"),
        "{}",
        server.log()
    );
}

/// Reloads the Visitors page until the clip has ended and every unknown sighting is in one
/// of `groups` groups of at least three: the clip plays in real time, the server groups at
/// most every 10 s, and under load it skips frames, so a face may be seen more often than it
/// came into view. Returns each group's size, as the page lists them.
async fn visitors_settled(
    browser: &Browser,
    base: &str,
    groups: usize,
    key: &str,
    server: &Server,
) -> Vec<usize> {
    let started = std::time::Instant::now();
    let api = common::server::Api::new(base, Some(key));
    loop {
        browser.open(&format!("{base}/visitors")).await;
        let sizes: Vec<usize> = browser
            .texts(".visitor .count")
            .await
            .iter()
            .map(|c| c.trim_end_matches(" time(s)").parse().unwrap())
            .collect();
        let unknown = api
            .get("/v1/sightings?person=unknown&limit=1000")
            .expect(200)
            .json()["sightings"]
            .as_array()
            .unwrap()
            .len();
        let ended = server.log().contains("the source ended");
        if ended
            && sizes.len() == groups
            && sizes.iter().all(|&n| n >= 3)
            && sizes.iter().sum::<usize>() == unknown
        {
            return sizes;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "groups so far: {sizes:?} of {unknown} unknown sightings; the server's log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// The visitors' ids as the page lists them, the most recently seen first.
async fn visitor_ids(browser: &Browser) -> Vec<String> {
    let mut ids = Vec::new();
    for card in browser
        .client
        .find_all(fantoccini::Locator::Css(".visitor"))
        .await
        .unwrap()
    {
        ids.push(card.attr("data-visitor").await.unwrap().unwrap());
    }
    ids
}

/// A read key sees the groups, when and where, but neither their faces nor any button.
/// Returns the groups' sizes.
async fn visitors_read_only(
    browser: &Browser,
    base: &str,
    hr: &str,
    server: &Server,
) -> Vec<usize> {
    browser.log_in(base, hr).await;
    let sizes = visitors_settled(browser, base, 3, hr, server).await;
    let page = browser.text("main").await;
    assert!(page.contains("three-strangers.avi"), "{page}");
    assert!(page.contains("shown to admin keys only"), "{page}");
    assert!(!browser.has(".crops img").await);
    assert!(!browser.has("form[data-action]").await && !browser.has("button[data-click]").await);
    browser.screenshot("visitors-read-only").await;
    browser.click_to_next_page(".who button").await;
    sizes
}

/// Enrolls "Barack Obama" through the API from a photo the clip does not show.
fn enroll_obama_elsewhere(base: &str, admin: &str) {
    let api = common::server::Api::new(base, Some(admin));
    let person = api
        .post_json("/v1/people", &json!({"name": "Barack Obama"}))
        .expect(201)
        .json();
    let photo = std::fs::read(common::photo("obama3.jpg")).unwrap();
    api.post(
        &format!("/v1/people/{}/faces", person["id"]),
        "image/jpeg",
        &photo,
    )
    .expect(201);
}

/// The visitors page at 1280x800 and at a phone's width, every crop loaded, every control
/// labelled: its figures.
async fn visitors_look(browser: &Browser, base: &str) {
    browser.open(&format!("{base}/visitors")).await;
    let crops = browser.images_loaded(".crops img").await;
    assert_eq!(crops, 9, "three crops a group");
    assert_eq!(browser.unlabelled_controls().await, Vec::<String>::new());
    browser.screenshot("visitors").await;
    let (bytes, first_paint) = browser.page_figures().await;
    eprintln!(
        "visitors page with 3 groups: {bytes} bytes with their {crops} crops ({} without), \
         first contentful paint {first_paint:.0} ms",
        browser.weight_without_images().await
    );
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.open(&format!("{base}/visitors")).await;
    browser.images_loaded(".crops img").await;
    assert_eq!(
        browser.overflow().await,
        0,
        "the visitors page is wider than a phone"
    );
    browser.screenshot("visitors-phone").await;
    browser.client.set_window_size(1280, 800).await.unwrap();
}

/// Enrolls visitor `id` through its card's form `action` with `name` typed in its `field`:
/// what the page said once it says `needle`.
async fn enroll_visitor(
    browser: &Browser,
    id: &str,
    (action, field): (&str, &str),
    name: &str,
    needle: &str,
) -> String {
    let card = format!("li.visitor[data-visitor=\"{id}\"]");
    browser
        .type_into(&format!("{card} input[name={field}]"), name)
        .await;
    browser
        .click(&format!("{card} form[data-action={action}] button"))
        .await;
    browser.wait_for_text("#status", needle).await
}

/// Dismisses visitor `id` of `size` sightings, after the browser asks and says what goes.
async fn dismiss(browser: &Browser, id: &str, size: usize) {
    let button = format!("button[data-click=dismissVisitor][data-visitor=\"{id}\"]");
    let confirm = browser.attr(&button, "data-confirm").await;
    assert!(
        confirm.contains(&format!("Dismiss visitor {id}?"))
            && confirm.contains(&format!("{size} sighting(s), with their crops")),
        "{confirm}"
    );
    browser.click(&button).await;
    browser.client.accept_alert().await.unwrap();
    browser.wait_for_text("#status", "is dismissed").await;
}

/// Three strangers, each seen three times across cuts, are three groups on the Visitors page.
/// One is named as a new person in one click, and the next photo of her is named; one is
/// added to somebody enrolled since, picked by name; one is dismissed, after the browser asks
/// and says what goes. Read keys see the groups without faces or buttons.
#[test]
fn strangers_seen_three_times_are_named_added_and_dismissed_from_the_visitors_page() {
    let home = tempfile::tempdir().unwrap();
    let clip = common::cli::cuts_clip(
        &home.path().join("three-strangers.avi"),
        &[
            ("obama.jpg", 0.4, 0.85),
            ("biden.jpg", 0.5, 0.9),
            ("astronaut.png", 0.45, 0.95),
            ("obama2.jpg", 0.55, 0.9),
            ("biden.jpg", 0.45, 0.8),
            ("astronaut.png", 0.55, 1.0),
            ("obama.jpg", 0.6, 0.95),
            ("biden.jpg", 0.55, 0.95),
            ("astronaut.png", 0.5, 0.9),
        ],
    );
    let admin = make_key(home.path(), &[], "admin", "admin");
    let hr = make_key(home.path(), &[], "hr", "read");
    let server = serving(home.path(), &clip);
    let base = server.url.clone();
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        let sizes = visitors_read_only(&browser, &base, &hr, &server).await;
        enroll_obama_elsewhere(&base, &admin);
        browser.log_in(&base, &admin).await;
        visitors_look(&browser, &base).await;
        browser
            .open(&format!("{base}/sightings?person=unknown&within=all"))
            .await;
        assert!(browser.images_loaded(".log img").await >= 9);
        browser.screenshot("sightings-unknown").await;
        browser.open(&format!("{base}/visitors")).await;
        // The most recently seen first: the astronaut, Biden, Obama.
        let ids = visitor_ids(&browser).await;
        let [astronaut, biden, obama] = [&ids[0], &ids[1], &ids[2]];
        let named = |n: usize| format!("{n} sighting(s) named");

        // The astronaut named as a new person in one click; the next photo of her is named.
        let new_person = ("nameVisitor", "name");
        let said =
            enroll_visitor(&browser, astronaut, new_person, "Eileen Collins", "is now").await;
        assert!(
            said.contains("is now Eileen Collins") && said.contains(&named(sizes[0])),
            "{said}"
        );
        assert_eq!(browser.text("#count").await, "2 visitors left.");
        browser.screenshot("visitor-named").await;
        let photo = std::fs::read(common::photo("astronaut.png")).unwrap();
        let answer = common::server::Api::new(&base, Some(&admin))
            .post("/v1/recognize", "image/png", &photo)
            .expect(200)
            .json();
        assert_eq!(answer["faces"][0]["name"], "Eileen Collins", "{answer}");

        // Obama added to Barack Obama, picked by name; a name nobody has is refused.
        let add_to = ("addVisitor", "person");
        let said = enroll_visitor(&browser, obama, add_to, "Nobody", "not enrolled").await;
        assert!(
            said.contains("nobody enrolled is called \"Nobody\""),
            "{said}"
        );
        let said = enroll_visitor(&browser, obama, add_to, "Barack Obama", "is now").await;
        assert!(
            said.contains("is now Barack Obama") && said.contains(&named(sizes[2])),
            "{said}"
        );
        assert!(!said.contains(": 0 face(s) added"), "{said}");

        dismiss(&browser, biden, sizes[1]).await;
        assert_eq!(browser.text("#count").await, "0 visitors left.");
        browser.open(&format!("{base}/visitors")).await;
        assert!(browser.text("#count").await.starts_with("No visitor"));

        // Their sightings are theirs; Biden's are forgotten.
        browser.open(&format!("{base}/sightings?within=all")).await;
        let mut theirs = browser.texts(".log td a").await;
        theirs.sort();
        let expected = [
            vec!["Barack Obama"; sizes[2]],
            vec!["Eileen Collins"; sizes[0]],
        ];
        assert_eq!(theirs, expected.concat());
        assert!(!browser.text(".log").await.contains("unknown"));
        browser.close().await;
    });
}

/// A gallery with Obama enrolled and sightings written beneath the server, at three cameras
/// over three days: returns Obama's id.
fn seen_over_three_days(home: &std::path::Path) -> i64 {
    use common::sightings::record;
    use whoisit::gallery::{Gallery, PersonId, SqliteGallery};

    common::cli::enroll_obama(home);
    let gallery: Box<dyn Gallery> =
        Box::new(SqliteGallery::open(&home.join("data"), None).unwrap());
    let obama = gallery.people().unwrap()[0].id;
    let t = whoisit::gallery::now();
    // A face's crop as small as the pipeline's.
    let photo = whoisit::vision::photo::load(&common::photo("biden.jpg")).unwrap();
    let mut small = opencv::core::Mat::default();
    opencv::imgproc::resize(
        &photo,
        &mut small,
        opencv::core::Size::new(112, 112),
        0.0,
        0.0,
        opencv::imgproc::INTER_AREA,
    )
    .unwrap();
    let crop = whoisit::base::image::encode_png(&small).unwrap();
    // In the order they came into view, as a server writes them: the log's order.
    let mut records = vec![
        record(None, "back", None, t - 3 * 86_400, None),
        record(None, "back", Some(obama), t - 5 * 3600, None),
    ];
    records.extend((0..55).map(|i| record(None, "hall", Some(obama), t - 3 * 3600 + i, None)));
    records.push(record(None, "door", Some(obama), t - 1800, None));
    records.push(record(None, "door", None, t - 1200, Some(crop)));
    gallery.write_sightings(&records).unwrap();
    let PersonId(id) = obama;
    id
}

/// Chooses `value` in the select `css`.
async fn choose(browser: &Browser, css: &str, value: &str) {
    browser
        .client
        .find(fantoccini::Locator::Css(css))
        .await
        .unwrap()
        .select_by_value(value)
        .await
        .unwrap();
}

/// Sets the filters and shows their first page: the count line.
async fn filter(browser: &Browser, camera: &str, person: &str, within: &str) -> String {
    browser.type_into("#camera", camera).await;
    choose(browser, "#person", person).await;
    choose(browser, "#within", within).await;
    browser.click_to_next_page("form.filters button").await;
    browser.text("#count").await
}

/// The first page of the last day, 50 a page, then the next: every control labelled.
async fn paged(browser: &Browser, base: &str) {
    browser.open(&format!("{base}/sightings")).await;
    // The last day: back, 55 at the hall, 2 at the door.
    assert_eq!(
        browser.text("#count").await,
        "50 sighting(s), newest first; more follow."
    );
    assert_eq!(browser.texts(".log tbody tr").await.len(), 50);
    // Newest first: the door's unknown face, twenty minutes ago.
    assert!(browser.text(".log tbody tr").await.contains("door"));
    assert_eq!(browser.unlabelled_controls().await, Vec::<String>::new());
    browser.click_to_next_page(".pager button").await;
    assert_eq!(browser.text("#count").await, "8 more sighting(s).");
    assert!(browser.text(".pages").await.contains("First page"));
}

/// Each filter, alone and together: the door's unknown face shows its crop, Obama's
/// sighting links to him.
async fn filtered(browser: &Browser, obama: i64) {
    let count = filter(browser, "door", "", "24").await;
    assert_eq!(count, "2 sighting(s), newest first.");
    assert_eq!(browser.images_loaded(".log img").await, 1);
    let link = browser.attr(".log td a", "href").await;
    assert_eq!(link, format!("/people/{obama}"));
    browser.screenshot("sightings").await;
    let (bytes, first_paint) = browser.page_figures().await;
    eprintln!(
        "sightings page with 2 rows: {bytes} bytes with 1 crop ({} without), first \
         contentful paint {first_paint:.0} ms",
        browser.weight_without_images().await
    );

    let count = filter(browser, "", "unknown", "all").await;
    assert_eq!(count, "2 sighting(s), newest first.");
    assert_eq!(
        browser.texts(".log img").await.len(),
        1,
        "the door's crop, not the back's"
    );
    let count = filter(browser, "", &obama.to_string(), "1").await;
    assert_eq!(count, "1 sighting(s), newest first.");
    assert!(browser.text(".log tbody").await.contains("door"));
    let count = filter(browser, "back", "", "168").await;
    assert_eq!(count, "2 sighting(s), newest first.");
    let count = filter(browser, "nowhere", "", "all").await;
    assert_eq!(count, "No sighting matches.");
}

/// The Sightings page: the last day by default, 50 a page; filtered by camera (an unknown
/// face's crop shown to admins), person and time; a person's page links to theirs; reading
/// is audited; a read key sees no crop.
#[test]
fn the_sightings_log_filters_by_camera_person_and_time_a_page_at_a_time() {
    let home = tempfile::tempdir().unwrap();
    let obama = seen_over_three_days(home.path());
    let admin = make_key(home.path(), &[], "admin", "admin");
    let hr = make_key(home.path(), &[], "hr", "read");
    let server = Server::start(home.path(), &[], &["--workers", "1"]);
    let base = server.url.clone();
    let unknown = format!("{base}/sightings?person=unknown&within=all");
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        browser.log_in(&base, &admin).await;
        paged(&browser, &base).await;
        filtered(&browser, obama).await;

        // His page links to his last 30 days.
        browser.open(&format!("{base}/people/{obama}")).await;
        browser.click(".seen-link").await;
        assert_eq!(browser.path().await, "/sightings");
        assert_eq!(
            browser.text("#count").await,
            "50 sighting(s), newest first; more follow."
        );
        assert_eq!(browser.texts(".log td a").await, vec!["Obama"; 50]);

        browser.client.set_window_size(390, 844).await.unwrap();
        browser.open(&unknown).await;
        assert_eq!(
            browser.overflow().await,
            0,
            "the sightings page is wider than a phone"
        );
        browser.screenshot("sightings-phone").await;
        browser.client.set_window_size(1280, 800).await.unwrap();

        browser.open(&format!("{base}/audit")).await;
        assert!(browser.text("table").await.contains("read_sightings"));

        // A read key: the rows, not the crop.
        browser.click_to_next_page(".who button").await;
        browser.log_in(&base, &hr).await;
        browser.open(&unknown).await;
        assert_eq!(browser.text("#count").await, "2 sighting(s), newest first.");
        assert!(!browser.has(".log img").await);
        let (status, body) = browser
            .fetch("GET", "/sightings/1/crop", json!({}), None)
            .await;
        assert_eq!(status, 403, "{body}");
        browser.close().await;
    });
}

/// A gallery with Obama enrolled (from obama.jpg) and one sighting of him that keeps its
/// face's embedding (as a named sighting does where the site keeps faces): returns his id.
fn obama_seen_once(home: &std::path::Path) -> i64 {
    use whoisit::base::identity::{DIM, EmbedderKind, Embedding};
    use whoisit::gallery::{Gallery, PersonId, SqliteGallery, UnknownFace};

    common::cli::enroll_obama(home);
    let gallery: Box<dyn Gallery> =
        Box::new(SqliteGallery::open(&home.join("data"), None).unwrap());
    let obama = gallery.people().unwrap()[0].id;
    let mut seen =
        common::sightings::record(None, "door", Some(obama), whoisit::gallery::now(), None);
    seen.unknown = Some(UnknownFace {
        crop: None,
        embedder: EmbedderKind::Dlib.id(),
        embedding: Embedding(vec![0.05; DIM]),
    });
    gallery.write_sightings(&[seen]).unwrap();
    let PersonId(id) = obama;
    id
}

/// Clicks the "not this person" button `css`, after the browser asks and says what it does
/// (`says`): what the page said once it says `done`.
async fn not_this_person(browser: &Browser, css: &str, says: &str, done: &str) -> String {
    let confirm = browser.attr(css, "data-confirm").await;
    assert!(
        confirm.contains(says) && confirm.contains("negative example"),
        "{confirm}"
    );
    browser.click(css).await;
    browser.client.accept_alert().await.unwrap();
    browser.wait_for_text("#status", done).await
}

/// A forced confusion: Biden's photo enrolled as a face of Obama, so Biden is named Obama.
/// One click of "not this person" on that face fixes it, and Obama is still named on another
/// photo of him. On the Sightings log, a sighting named Obama is corrected in one click and
/// becomes unknown. A read key sees neither button, and the API refuses it anyway.
#[test]
fn not_this_person_on_a_face_or_a_sighting_fixes_a_forced_confusion_in_one_click() {
    let home = tempfile::tempdir().unwrap();
    let obama = obama_seen_once(home.path());
    let admin = make_key(home.path(), &[], "admin", "admin");
    let hr = make_key(home.path(), &[], "hr", "read");
    let server = Server::start(home.path(), &[], &["--workers", "1"]);
    let base = server.url.clone();
    let api = common::server::Api::new(&base, Some(&admin));
    let wrong = api
        .post(
            &format!("/v1/people/{obama}/faces"),
            "image/jpeg",
            &std::fs::read(common::photo("biden.jpg")).unwrap(),
        )
        .expect(201)
        .json()["face"]["id"]
        .as_i64()
        .unwrap();
    let obama_name = [Some("Obama".to_owned())];
    assert_eq!(
        names_in(&base, &admin, "biden.jpg"),
        obama_name,
        "the confusion"
    );
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        browser.log_in(&base, &admin).await;
        browser.open(&format!("{base}/people/{obama}")).await;
        assert_eq!(browser.texts(".face").await.len(), 2);
        browser.screenshot("person-two-faces").await;
        let button = format!("button[data-click=notFace][data-face=\"{wrong}\"]");
        not_this_person(
            &browser,
            &button,
            &format!("Face {wrong} is not Obama?"),
            "negative example",
        )
        .await;
        assert_eq!(browser.texts(".face").await.len(), 1);
        browser.screenshot("person-not-this-person").await;
        assert_ne!(
            names_in(&base, &admin, "biden.jpg"),
            obama_name,
            "still confused"
        );
        assert_eq!(names_in(&base, &admin, "obama2.jpg"), obama_name);

        browser.open(&format!("{base}/sightings")).await;
        let button = "button[data-click=notSighting]";
        browser.screenshot("sightings-named").await;
        not_this_person(&browser, button, "is not Obama?", "is now unknown").await;
        assert!(!browser.has(button).await);
        browser.screenshot("sightings-not-this-person").await;
        let unknown = api.get("/v1/sightings?person=unknown").expect(200).json();
        assert_eq!(unknown["sightings"].as_array().unwrap().len(), 1);

        // A read key: no button; the API refuses the correction anyway.
        browser.click_to_next_page(".who button").await;
        browser.log_in(&base, &hr).await;
        browser.open(&format!("{base}/people/{obama}")).await;
        assert!(!browser.has("button[data-click]").await);
        let face = browser.attr(".face img", "alt").await;
        let face: i64 = face.split(' ').nth(1).unwrap().parse().unwrap();
        let token = json!({"X-CSRF-Token": browser.csrf().await});
        let (status, body) = browser
            .fetch(
                "POST",
                &format!("/v1/people/{obama}/faces/{face}/not"),
                token,
                None,
            )
            .await;
        assert_eq!(status, 403, "{body}");
        browser.close().await;
    });
}

/// A person made through the API with `photo` (none for `None`): their id.
fn person_from(api: &common::server::Api, name: &str, photo: Option<&str>) -> i64 {
    let id = api
        .post_json("/v1/people", &json!({ "name": name }))
        .expect(201)
        .json()["id"]
        .as_i64()
        .unwrap();
    if let Some(photo) = photo {
        api.post(
            &format!("/v1/people/{id}/faces"),
            "image/jpeg",
            &std::fs::read(common::photo(photo)).unwrap(),
        )
        .expect(201);
    }
    id
}

/// Obama enrolled twice, as "Obama" and "B. Obama", and Biden's photo enrolled as Obama's:
/// on his page, "B. Obama" is merged in, picked by name (the browser asks first and says what
/// moves), and Biden's face is moved to Joe Biden, who is then named on his photo.
#[test]
fn a_person_merged_in_and_a_face_moved_from_the_persons_page() {
    let home = tempfile::tempdir().unwrap();
    let admin = make_key(home.path(), &[], "admin", "admin");
    let server = Server::start(home.path(), &[], &["--workers", "1"]);
    let base = server.url.clone();
    let api = common::server::Api::new(&base, Some(&admin));
    let obama = person_from(&api, "Obama", Some("obama.jpg"));
    api.post(
        &format!("/v1/people/{obama}/faces"),
        "image/jpeg",
        &std::fs::read(common::photo("biden.jpg")).unwrap(),
    )
    .expect(201);
    person_from(&api, "B. Obama", Some("obama2.jpg"));
    person_from(&api, "Joe Biden", None);
    runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        browser.log_in(&base, &admin).await;
        browser.open(&format!("{base}/people/{obama}")).await;
        assert_eq!(browser.unlabelled_controls().await, Vec::<String>::new());
        browser.type_into("#merge-from", "B. Obama").await;
        browser.screenshot("person-merge").await;
        browser.click("form[data-action=merge] button").await;
        let asked = browser.client.get_alert_text().await.unwrap();
        assert!(
            asked.starts_with("Merge B. Obama into Obama? B. Obama's 1 face(s), sightings"),
            "{asked}"
        );
        browser.client.accept_alert().await.unwrap();
        let said = browser.wait_for_text("#status", "is merged in").await;
        assert!(said.contains("1 face(s) moved"), "{said}");
        assert_eq!(browser.texts(".face").await.len(), 3);
        let people = api.get("/v1/people").expect(200).json();
        assert_eq!(people.as_array().unwrap().len(), 2, "{people}");
        // The status line at the top, where the reloaded page says what moved.
        browser
            .client
            .execute("window.scrollTo(0, 0)", vec![])
            .await
            .unwrap();
        browser.screenshot("person-merged").await;

        // Biden's face, the last enrolled of Obama's first two, moved to Joe Biden.
        let faces = api
            .get(&format!("/v1/people/{obama}/faces"))
            .expect(200)
            .json();
        let biden_face = faces.as_array().unwrap()[1]["id"].as_i64().unwrap();
        choose(&browser, "#face", &biden_face.to_string()).await;
        browser.type_into("#move-to", "Joe Biden").await;
        browser.click("form[data-action=moveFace] button").await;
        let asked = browser.client.get_alert_text().await.unwrap();
        assert!(
            asked.contains(&format!("Move face {biden_face} to Joe Biden?")),
            "{asked}"
        );
        browser.client.accept_alert().await.unwrap();
        browser.wait_for_text("#status", "Joe Biden's").await;
        assert_eq!(browser.texts(".face").await.len(), 2);
        browser.close().await;
    });
    assert_eq!(
        names_in(&base, &admin, "biden.jpg"),
        [Some("Joe Biden".to_owned())]
    );
    assert_eq!(
        names_in(&base, &admin, "obama3.jpg"),
        [Some("Obama".to_owned())]
    );
}

/// The built-in demo plays on past its end, as in the window: whoever opens the Live page a
/// while after `serve --source demo` still sees it (a file given as a source plays once).
#[test]
fn the_demo_plays_on_past_its_end() {
    let home = tempfile::tempdir().unwrap();
    let admin = make_key(home.path(), &[], "admin", "admin");
    let server = Server::start(home.path(), &[], &["--workers", "1", "--source", "demo"]);
    let base = server.url.clone();
    let cookie = runtime().block_on(async {
        let browser = Browser::start(&[]).await;
        browser.log_in(&base, &admin).await;
        let cookie = session_cookie(&browser).await;
        browser.close().await;
        cookie
    });
    // The clip: 131 frames at 15 fps, under 9 s. Watched for twice that, frames keep coming.
    let clip = Duration::from_secs(9);
    let mut video = agent(Duration::from_secs(60))
        .get(format!("{base}/live/0/video"))
        .header("Cookie", &cookie)
        .call()
        .unwrap()
        .into_body()
        .into_reader();
    let started = std::time::Instant::now();
    let mut chunk = vec![0; 1 << 16];
    while started.elapsed() < 2 * clip {
        let read = std::io::Read::read(&mut video, &mut chunk);
        assert!(
            read.as_ref().is_ok_and(|n| *n > 0),
            "the video stopped after {:?}: {read:?}; the server's log:\n{}",
            started.elapsed(),
            server.log()
        );
    }
    assert!(
        !server.log().contains("the source ended"),
        "{}",
        server.log()
    );
}

/// Clips for the browser's fake camera, from John Salley's photos in the johns set: which
/// photos they are, so that another one can name him afterwards.
const SALLEY_FRONT: &str = "000179_02159509.jpg";
/// Turned to one side (the pose test measures it); its mirror image is turned to the other.
const SALLEY_TURNED: &str = "000194_02159572.jpg";

fn salley(file: &str) -> opencv::core::Mat {
    whoisit::vision::photo::load(&common::johns().join("John_Salley").join(file)).unwrap()
}

/// A held pose of the clip: `photo` in frames `frames`, drifting a little as a head does.
fn held(photo: opencv::core::Mat, x: f32, frames: std::ops::Range<u32>) -> Actor {
    Actor {
        photo,
        from: (x - 0.01, 0.5),
        to: (x + 0.01, 0.49),
        height: 0.62,
        frames,
    }
}

/// The fake camera's clip: 9 s at 15 fps of John Salley alone, 3 s in each pose (front, turned
/// one way, the other way), played in a loop; or, with `two`, him beside John Savage.
fn camera_clip(dir: &std::path::Path, two: bool) -> std::path::PathBuf {
    const HOLD: u32 = 45;
    let actors = if two {
        let savage = common::johns().join("John_Savage");
        let savage = std::fs::read_dir(&savage)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        vec![
            held(salley(SALLEY_FRONT), 0.27, 0..HOLD),
            held(
                whoisit::vision::photo::load(&savage).unwrap(),
                0.73,
                0..HOLD,
            ),
        ]
    } else {
        let turned = salley(SALLEY_TURNED);
        let mut mirror = opencv::core::Mat::default();
        opencv::core::flip(&turned, &mut mirror, 1).unwrap();
        let photos = [salley(SALLEY_FRONT), turned, mirror];
        photos
            .into_iter()
            .zip(0_u32..)
            .map(|(photo, i)| held(photo, 0.5, i * HOLD..(i + 1) * HOLD))
            .collect()
    };
    let clip = ClipSpec {
        width: if two { 640 } else { 480 },
        height: 360,
        fps: 15.0,
        light: (1.0, 1.0),
        frames: if two { HOLD } else { 3 * HOLD },
        actors,
    };
    let path = dir.join(if two { "two.y4m" } else { "salley.y4m" });
    common::camera::write_y4m(&clip, &path);
    path
}

/// A browser whose camera plays `clip`.
async fn browser_with_camera(clip: &std::path::Path) -> Browser {
    let switches = common::camera::switches(clip);
    let switches: Vec<&str> = switches.iter().map(String::as_str).collect();
    Browser::start(&switches).await
}

/// Opens the Enroll page's camera for `name`: the panel asks for the first pose.
async fn start_camera(browser: &Browser, base: &str, name: &str) {
    browser.open(&format!("{base}/enroll")).await;
    browser.type_into("#camera-name", name).await;
    browser.click("#camera-start").await;
    browser
        .wait_for_text("#camera-asked", "Pose 1 of 4: Look straight at the camera")
        .await;
}

/// Waits until the live hint says `needle` (the hint follows the looping clip).
async fn hint_says(browser: &Browser, needle: &str) -> String {
    browser.wait_for_text("#camera-hint", needle).await
}

/// Captures with the button (or, with `space`, the space bar on the page) once the hint
/// says `when`: what the panel then says of the capture.
async fn capture_when(browser: &Browser, when: &str, space: bool) -> String {
    let before = browser.texts(".shots li").await.len();
    hint_says(browser, when).await;
    if space {
        browser
            .client
            .execute("document.activeElement.blur();", vec![])
            .await
            .unwrap();
        let keys = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: ' ' })
            .then(KeyAction::Up { value: ' ' });
        browser.client.perform_actions(keys).await.unwrap();
    } else {
        browser.click("#camera-capture").await;
    }
    let started = std::time::Instant::now();
    while browser.texts(".shots li").await.len() == before {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the capture was never answered: {}",
            browser.text("#camera-said").await
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    browser.text("#camera-said").await
}

/// Captures the pose asked once the hint says it is shown; the clip moves on meanwhile, so a
/// capture refused for showing the next pose is taken again.
async fn capture_pose(browser: &Browser, space: bool) -> String {
    for _ in 0..8 {
        let said = capture_when(browser, "Good, hold still", space).await;
        if said.starts_with("Capture") {
            return said;
        }
        assert!(said.contains("the pose asked for is"), "{said}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    panic!("the pose asked was never captured");
}

/// The guided capture enrolls John Salley from the fake camera, refusing a wrong pose and a
/// duplicate with their reasons: front, his left, then his right, the mirror image of his
/// left, refused as a duplicate (the gallery embeds a face with its mirror image; the johns
/// set has one turned photo of him). Saved, his poses are in the API, and `POST /v1/recognize`
/// names him on a photo the clip never showed.
async fn enroll_with_camera(browser: &Browser, base: &str, admin: &str, door: &str) {
    start_camera(browser, base, "John Salley").await;
    let first = capture_pose(browser, true).await;
    assert!(first.contains("Capture 1 accepted (front)"), "{first}");
    browser
        .wait_for_text(
            "#camera-asked",
            "Pose 2 of 4: Turn your head a little to your left",
        )
        .await;
    // A frontal face when a turn is asked: refused with the pose asked and the pose seen.
    let wrong = capture_when(browser, "Turn a bit more to your left", false).await;
    assert!(
        wrong.contains("Refused: the pose asked for is left, the face shows front"),
        "{wrong}"
    );
    assert!(
        browser.text(".shots li.refused").await.contains("refused:"),
        "the reason is beside its thumbnail"
    );
    let left = capture_pose(browser, false).await;
    assert!(left.contains("Capture 2 accepted (left)"), "{left}");
    let mut mirror = String::new();
    for _ in 0..8 {
        mirror = capture_when(browser, "Good, hold still", false).await;
        if !mirror.contains("the pose asked for is") {
            break;
        }
    }
    assert!(
        mirror.contains("Refused: a duplicate of capture 2"),
        "{mirror}"
    );
    assert!(browser.images_loaded(".shots img").await >= 4);
    assert!(browser.unlabelled_controls().await.is_empty());
    // The panel from its heading, with the captures beside the picture.
    browser.scroll_to(".camera").await;
    browser.screenshot("enroll-camera").await;
    browser.click("#camera-save").await;
    let saved = browser
        .wait_for_text("#status", "John Salley is enrolled")
        .await;
    assert!(saved.contains("with 2 face(s) from the camera"), "{saved}");
    salley_is_enrolled(base, admin, door);
}

/// John Salley's poses as saved, through the API; and his name on a photo the clip never showed.
fn salley_is_enrolled(base: &str, admin: &str, door: &str) {
    let api = common::server::Api::new(base, Some(admin));
    let people = api.get("/v1/people").expect(200).json();
    let id = people.as_array().unwrap()[0]["id"].as_i64().unwrap();
    let faces = api
        .get(&format!("/v1/people/{id}/faces"))
        .expect(200)
        .json();
    let mut poses: Vec<&str> = faces
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["pose"].as_str().unwrap())
        .collect();
    poses.sort_unstable();
    assert_eq!(poses, ["front", "left"], "{faces}");
    // Recognised at once, on a photo the clip never showed.
    let other = std::fs::read_dir(common::johns().join("John_Salley"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let file = p.file_name().unwrap().to_str().unwrap();
            file != SALLEY_FRONT && file != SALLEY_TURNED
        })
        .unwrap();
    let answer = common::server::Api::new(base, Some(door))
        .post(
            "/v1/recognize",
            "image/jpeg",
            &std::fs::read(&other).unwrap(),
        )
        .expect(200)
        .json();
    assert_eq!(answer["faces"][0]["name"], "John Salley", "{answer}");
}

/// A read key sees no camera panel, and the server refuses its frames even with its token.
async fn no_camera_for_a_read_key(browser: &Browser, base: &str, hr: &str) {
    browser.click_to_next_page(".who button").await;
    browser.log_in(base, hr).await;
    browser.open(&format!("{base}/enroll")).await;
    assert!(!browser.has("[data-camera]").await);
    let token = browser.csrf().await;
    let (status, text) = browser
        .fetch(
            "POST",
            "/enroll/camera/look?pose=front",
            json!({ "X-CSRF-Token": token, "Content-Type": "image/jpeg" }),
            Some("a frame"),
        )
        .await;
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("a read key may look, not enroll"), "{text}");
}

#[test]
fn the_browsers_camera_enrolls_john_salley_pose_by_pose_and_refuses_two_people() {
    let served = site(&[]);
    let (base, admin, hr, door) = (&served.server.url, &served.admin, &served.hr, &served.door);
    let one = camera_clip(served.home.path(), false);
    let two = camera_clip(served.home.path(), true);
    runtime().block_on(async {
        let browser = browser_with_camera(&one).await;
        browser.log_in(base, admin).await;
        enroll_with_camera(&browser, base, admin, door).await;
        // At a phone's width the panel fits.
        browser.client.set_window_size(390, 844).await.unwrap();
        assert_eq!(
            browser.overflow().await,
            0,
            "the camera panel is wider than a phone"
        );
        browser.screenshot("enroll-camera-phone").await;
        browser.close().await;

        let browser = browser_with_camera(&two).await;
        browser.log_in(base, admin).await;
        start_camera(&browser, base, "Two People").await;
        let refused = capture_when(
            &browser,
            "Several faces in view: one person at a time",
            false,
        )
        .await;
        assert!(
            refused.contains("Refused: 2 faces found; enroll one person at a time"),
            "{refused}"
        );
        browser.screenshot("enroll-camera-two").await;
        // A frame without the session's token is refused, whoever sends it.
        let (status, text) = browser
            .fetch(
                "POST",
                "/enroll/camera/look?pose=front",
                json!({ "Content-Type": "image/jpeg" }),
                Some("a frame"),
            )
            .await;
        assert_eq!(status, 403, "{text}");
        assert!(text.contains("no valid CSRF token"), "{text}");
        no_camera_for_a_read_key(&browser, base, hr).await;
        browser.close().await;
    });
}

#[test]
fn the_browsers_camera_enrolls_on_a_postgres_gallery() {
    let db = common::postgres::Database::new();
    let Site {
        home,
        admin,
        door,
        server,
        ..
    } = site(&["--gallery", db.url.as_str()]);
    let base = server.url.clone();
    let clip = camera_clip(home.path(), false);
    runtime().block_on(async {
        let browser = browser_with_camera(&clip).await;
        browser.log_in(&base, &admin).await;
        enroll_with_camera(&browser, &base, &admin, &door).await;
        browser.close().await;
    });
}
