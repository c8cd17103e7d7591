//! The window, driven through egui_kittest: the real app with real models, on clips generated
//! from real photos, played through the same VideoCapture path as a camera.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use eframe::egui::{self, Key, Modifiers, accesskit::Role};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use whoisit::config::Config;
use whoisit::gallery::{Gallery as _, SqliteGallery};
use whoisit::runtime::capture::SourceState;
use whoisit::ui::{App, Launch};
use whoisit::vision::pose::Pose;

use common::cli::enroll_obama;

/// Obama alone, looping: 2 s at 30 fps.
fn obama_clip(home: &Path) -> PathBuf {
    common::cli::obama_clip(home, 30.0, 60)
}

fn launch(home: &Path, source: &Path, kiosk: bool) -> Launch {
    let mut config = Config {
        source: source.display().to_string(),
        model_dir: Some(common::model_dir()),
        data_dir: Some(home.join("data")),
        ..Config::default()
    };
    config.window.enroll_captures = 3;
    config.window.retry_secs = 0.2;
    config.window.kiosk.exit_pin = Some("4321".into());
    Launch {
        settings_dir: home.join("data"),
        config,
        demo_if_no_camera: false,
        kiosk,
        camera: None,
        run_for: None,
        report: None,
    }
}

fn window(launch: Launch) -> Harness<'static, App> {
    Harness::builder()
        .with_size(egui::Vec2::new(1200.0, 800.0))
        .build_eframe(move |cc| App::new(&cc.egui_ctx, launch))
}

/// Steps the window until `done` holds, as a display would (a frame every 20 ms).
fn wait_until(harness: &mut Harness<'static, App>, what: &str, done: impl Fn(&App) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(harness.state()) {
        let app = harness.state();
        assert!(app.failure().is_none(), "{what}: {:?}", app.failure());
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}; labels {:?}, state {:?}",
            app.labels(),
            app.source_state()
        );
        std::thread::sleep(Duration::from_millis(20));
        harness.step();
    }
}

/// The window on the looping Obama clip, once it shows the picture; with the test's home (kept
/// alive by the caller) and the clip's path.
fn showing_obama(kiosk: bool) -> (tempfile::TempDir, PathBuf, Harness<'static, App>) {
    let home = tempfile::tempdir().unwrap();
    let clip = obama_clip(home.path());
    let mut harness = window(launch(home.path(), &clip, kiosk));
    wait_until(&mut harness, "the picture shows", App::has_picture);
    (home, clip, harness)
}

/// The key as a keyboard sends it: the key press, and for printable keys the text.
fn type_key(harness: &Harness<'static, App>, key: Key, text: Option<&str>) {
    harness.key_press(key);
    if let Some(text) = text {
        harness.event(egui::Event::Text(text.into()));
    }
}

#[test]
fn opening_enroll_gives_the_name_field_the_keyboard() {
    let (_home, _clip, mut harness) = showing_obama(false);
    harness.get_by_label("Enroll").click();
    harness.step();
    harness.step();
    // Typed at once, without clicking the field first.
    harness.event(egui::Event::Text("Grace".into()));
    harness.step();
    assert_eq!(harness.state().enroll_panel().name, "Grace");
    type_key(&harness, Key::Space, Some(" "));
    harness.step();
    assert_eq!(
        harness.state().enroll_panel().name,
        "Grace ",
        "the space went to the name, not to a capture"
    );
    assert_eq!(harness.state().enroll_panel().accepted(), 0);
}

#[test]
fn space_in_the_name_types_and_elsewhere_captures_the_asked_pose_saying_why_beside_rejections() {
    let (home, _clip, mut harness) = showing_obama(false);

    harness.get_by_label("Enroll").click();
    harness.step();
    harness.get_by_label("Name").click();
    harness.step();
    harness.get_by_label("Name").type_text("Ada");
    type_key(&harness, Key::Space, Some(" "));
    harness.get_by_label("Name").type_text("Lovelace");
    harness.step();
    let panel = harness.state().enroll_panel();
    assert_eq!(
        panel.name, "Ada Lovelace",
        "space typed a space in the name"
    );
    assert_eq!(
        panel.accepted(),
        0,
        "space in the name field captured nothing"
    );
    assert!(!panel.busy());

    // Enter leaves the field; from then on space captures, in the pose the panel asks for.
    type_key(&harness, Key::Enter, None);
    harness.step();
    assert_eq!(harness.state().enroll_panel().asked(), Pose::Front);
    harness.get_by_label("Pose 1 of 4: Look straight at the camera");
    capture(&mut harness);
    let panel = harness.state().enroll_panel();
    assert_eq!(
        panel.name, "Ada Lovelace",
        "space outside the field typed nothing"
    );
    assert_eq!(panel.accepted(), 1, "{:?}", panel.message());
    assert_eq!(panel.captions(), ["front"]);

    // Next it asks for a turn; the live hint from the landmarks says it is not reached.
    assert_eq!(harness.state().enroll_panel().asked(), Pose::Left);
    wait_until(&mut harness, "the hint asks for the turn", |app| {
        app.enroll_panel().hint() == (false, "Turn a bit more to your left".to_owned())
    });
    harness.get_by_label("Turn a bit more to your left");
    // A frontal capture is not taken for a turn: rejected, and why is said beside it.
    capture(&mut harness);
    assert_eq!(harness.state().enroll_panel().accepted(), 1);
    harness.get_by_label("wrong pose (front)");
    // Skipping the other poses asks for the front again; the same face again is a duplicate.
    for _ in 0..3 {
        harness.get_by_label("Skip pose").click();
        harness.step();
    }
    assert_eq!(harness.state().enroll_panel().asked(), Pose::Front);
    capture(&mut harness);
    assert_eq!(
        harness.state().enroll_panel().captions(),
        ["duplicate", "wrong pose (front)", "front"]
    );
    harness.get_by_label("duplicate");

    // Done saves the one capture taken.
    harness.get_by_label("Done").click();
    harness.step();
    wait_until(&mut harness, "the person is saved", |app| {
        app.enroll_panel()
            .message()
            .is_some_and(|m| m.starts_with("Saved Ada Lovelace: 1 face(s)"))
    });
    let people = SqliteGallery::open(&home.path().join("data"), None)
        .unwrap()
        .people()
        .unwrap();
    assert_eq!(people.len(), 1);
    assert_eq!(
        (
            people[0].name.as_str(),
            people[0].faces,
            people[0].poses.as_slice()
        ),
        ("Ada Lovelace", 1, [Pose::Front].as_slice())
    );
    wait_until(&mut harness, "the new person is recognised live", |app| {
        app.labels() == ["Ada Lovelace"]
    });
}

/// Presses space and waits until the capture is judged.
fn capture(harness: &mut Harness<'static, App>) {
    type_key(harness, Key::Space, Some(" "));
    harness.step();
    wait_until(harness, "the capture is judged", |app| {
        !app.enroll_panel().busy()
    });
}

#[test]
fn the_threshold_slider_turns_a_known_face_into_unknown_and_is_kept() {
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    let clip = obama_clip(home.path());
    let mut harness = window(launch(home.path(), &clip, false));
    wait_until(&mut harness, "Obama is recognised", |app| {
        app.labels() == ["Obama"]
    });

    harness.get_by_label("Settings").click();
    harness.step();
    harness
        .get_by_role_and_label(Role::Slider, "Threshold")
        .set_value_accesskit(0.2);
    harness.step();
    assert_eq!(harness.state().config().threshold, 0.2);
    wait_until(&mut harness, "the same face is unknown at 0.2", |app| {
        app.labels() == ["unknown"]
    });
    let saved = whoisit::config::settings::Settings::load(&home.path().join("data")).unwrap();
    assert_eq!(
        saved.threshold,
        Some(0.2),
        "the threshold survives a restart"
    );
}

#[test]
fn kiosk_mode_hides_admin_controls_and_only_the_chord_and_pin_quit() {
    let (_home, _clip, mut harness) = showing_obama(true);
    for admin in ["Enroll", "People", "Settings"] {
        assert!(harness.query_by_label(admin).is_none(), "{admin} is hidden");
    }
    let closing = |harness: &Harness<'static, App>, command: egui::ViewportCommand| {
        harness.output().viewport_output[&egui::ViewportId::ROOT]
            .commands
            .contains(&command)
    };

    type_key(&harness, Key::Escape, None);
    harness.step();
    assert!(!harness.state().leaving(), "Escape does not quit a kiosk");
    assert!(!closing(&harness, egui::ViewportCommand::Close));

    // The window manager's close button (or Alt+F4) is refused too.
    request_close(&mut harness);
    assert!(closing(&harness, egui::ViewportCommand::CancelClose));
    assert!(!harness.state().leaving());

    // As egui-winit reports Ctrl on Linux: ctrl and command both set.
    harness.key_press_modifiers(
        Modifiers::CTRL | Modifiers::SHIFT | Modifiers::COMMAND,
        Key::Q,
    );
    harness.step();
    harness.get_by_label("Leave kiosk mode");
    harness.get_by_label("PIN").type_text("1111");
    type_key(&harness, Key::Enter, None);
    harness.step();
    harness.get_by_label("Wrong PIN");
    assert!(!harness.state().leaving());
    harness.get_by_label("PIN").type_text("4321");
    type_key(&harness, Key::Enter, None);
    harness.step();
    assert!(
        harness.state().leaving(),
        "the right PIN lets the kiosk close"
    );
    request_close(&mut harness);
    assert!(
        !closing(&harness, egui::ViewportCommand::CancelClose),
        "the close that follows is not refused"
    );
}

/// What the window manager sends when the close button is clicked.
fn request_close(harness: &mut Harness<'static, App>) {
    harness
        .input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .events
        .push(egui::ViewportEvent::Close);
    harness.step();
}

#[test]
fn a_source_that_disappears_shows_retrying_and_comes_back_by_itself() {
    let (home, clip, mut harness) = showing_obama(false);

    let away = home.path().join("away.avi");
    std::fs::rename(&clip, &away).unwrap();
    wait_until(
        &mut harness,
        "the window says the source is retrying",
        |app| matches!(app.source_state(), Some(SourceState::Retrying { .. })),
    );
    harness.step();
    harness.get_by_label("Camera unavailable, retrying…");

    std::fs::rename(&away, &clip).unwrap();
    wait_until(&mut harness, "the source is live again", |app| {
        matches!(app.source_state(), Some(SourceState::Live { .. }))
    });
    wait_until(&mut harness, "faces are labelled again", |app| {
        app.labels() == ["unknown"]
    });
}

#[test]
fn a_session_whose_results_nobody_reads_still_stops() {
    let home = tempfile::tempdir().unwrap();
    let clip = obama_clip(home.path());
    let (pipeline, dir) = common::pipeline();
    let gallery = std::sync::Arc::new(SqliteGallery::open(dir.path(), None).unwrap());
    let roster = common::roster(gallery, &pipeline);
    let session = whoisit::runtime::session::Session::start(
        whoisit::runtime::worker::Worker::new(pipeline, roster, common::cli()).unwrap(),
        whoisit::runtime::capture::Source::File(clip),
        Duration::from_millis(200),
        std::sync::Arc::new(|| {}),
    )
    .unwrap();
    // A window that stopped drawing: the results channel fills up and the worker blocks on it.
    std::thread::sleep(Duration::from_secs(3));
    let (done, stopped) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        drop(session);
        done.send(()).unwrap();
    });
    assert!(
        stopped.recv_timeout(Duration::from_secs(30)).is_ok(),
        "closing the window would hang"
    );
}

#[test]
#[cfg(feature = "streams")]
fn a_camera_agent_s_window_shows_the_names_its_workers_give_and_offers_no_enrollment() {
    use common::streams::{Proc, Site};
    let home = tempfile::tempdir().unwrap();
    enroll_obama(home.path());
    let site = Site::new();
    let mut words = vec!["worker".to_owned(), "--name".into(), "w".into()];
    words.extend(site.args());
    let worker = Proc::start(home.path(), "worker", &words);
    let clip = obama_clip(home.path());
    let mut launch = launch(home.path(), &clip, false);
    launch.config.streams.redis.clone_from(&site.redis);
    launch.config.streams.prefix.clone_from(&site.prefix);
    launch.camera = Some("desk".into());
    let mut harness = window(launch);
    wait_until(&mut harness, "a worker names Obama", |app| {
        app.labels().iter().any(|l| l == "Obama")
    });
    assert!(
        harness.query_by_label("Enroll").is_none(),
        "the gallery is where the workers are"
    );
    assert!(harness.query_by_label("People").is_none());
    let answers = site.answers("results");
    assert!(!answers.is_empty());
    assert!(answers.iter().all(|a| a["camera"] == "desk"));
    drop(harness);
    worker.stop();
}
