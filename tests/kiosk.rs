//! `whoisit kiosk run`, what a kiosk's autostart entry starts: the real window under Xvfb, a
//! camera that is not there at boot, and a window that dies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::path::Path;

use common::cli::spawnable;

/// Camera 7 does not exist here: the kiosk must wait for it (never fall back to the demo), keep
/// its window up, come back when its window is killed, and stop when the session ends.
#[test]
fn the_kiosk_waits_for_a_missing_camera_and_comes_back_when_its_window_dies() {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("no-camera.ron");
    std::fs::write(&config, r#"(source: "7")"#).unwrap();
    let shot = home.path().join("kiosk.png");
    let mut kiosk = spawnable(home.path());
    kiosk
        .env("RUST_LOG", "whoisit=info")
        .arg("--config")
        .arg(&config)
        .args(["kiosk", "run"]);
    // One shell under xvfb-run: the supervisor in the background; after its window has been up
    // a while, a screenshot, then the window is killed as a crash would; later the session
    // ends (SIGTERM to the supervisor, as a logout sends).
    let mut xvfb = std::process::Command::new("xvfb-run");
    xvfb.args(["-a", "-s", "-screen 0 1280x800x24", "sh", "-c"])
        .arg(
            r#""$0" "$@" & supervisor=$!
               sleep 20
               first=$(pgrep -P $supervisor)
               import -window root "$SHOT"
               kill -KILL $first
               sleep 12
               second=$(pgrep -P $supervisor)
               kill -TERM $supervisor
               wait $supervisor
               echo "first=$first second=$second exit=$?"
               pgrep -P $supervisor || echo "no window left""#,
        )
        .arg(kiosk.get_program())
        .args(kiosk.get_args())
        .env("SHOT", &shot);
    for (key, value) in kiosk.get_envs() {
        xvfb.env(key, value.unwrap());
    }
    let output = xvfb
        .output()
        .expect("xvfb-run (scripts/setup.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    if shot.exists() {
        std::fs::copy(&shot, artifacts.join("kiosk-no-camera.png")).unwrap();
    }
    let pid = |name: &str| -> Option<u32> {
        stdout
            .split_whitespace()
            .find_map(|word| word.strip_prefix(&format!("{name}=")))
            .and_then(|pid| pid.parse().ok())
    };
    let (first, second) = (pid("first"), pid("second"));
    assert!(
        first.is_some(),
        "the kiosk window was up 20 s after boot without its camera\n{stdout}\n{stderr}"
    );
    assert!(
        second.is_some() && second != first,
        "a new window replaced the killed one\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("kiosk window exited") && stderr.contains("starting it again"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("built-in demo"),
        "a kiosk never shows the demo instead of its camera\n{stderr}"
    );
    assert!(
        stdout.contains("exit=0") && stdout.contains("no window left"),
        "the session's end stops the supervisor and its window\n{stdout}\n{stderr}"
    );
}
