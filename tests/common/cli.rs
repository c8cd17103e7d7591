//! Driving the `whoisit` binary from tests, on clips generated from real photos.

use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use serde_json::Value;
use whoisit::demo::synth::{Actor, ClipSpec};

/// The binary with the shared models, a private gallery and no user config.
pub(crate) fn whoisit(home: &Path) -> Command {
    whoisit_with_models(home, &super::model_dir())
}

pub(crate) fn whoisit_with_models(home: &Path, models: &Path) -> Command {
    Command::from_std(process(home, models))
}

/// The same, as a plain process for tests that run it in the background.
pub(crate) fn spawnable(home: &Path) -> std::process::Command {
    process(home, &super::model_dir())
}

/// [`spawnable`], run by `wrapper` (a program and its arguments, then whoisit's).
pub(crate) fn spawnable_under(home: &Path, wrapper: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(wrapper[0]);
    cmd.args(&wrapper[1..])
        .arg(assert_cmd::cargo::cargo_bin("whoisit"));
    configure(&mut cmd, home, &super::model_dir());
    cmd
}

fn process(home: &Path, models: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("whoisit"));
    configure(&mut cmd, home, models);
    cmd
}

/// The environment and global arguments every test's whoisit runs with.
fn configure(cmd: &mut std::process::Command, home: &Path, models: &Path) {
    cmd.env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("RUST_LOG", "whoisit=warn")
        .arg("--model-dir")
        .arg(models)
        .arg("--data-dir")
        .arg(home.join("data"));
}

pub(crate) fn actor(
    photo: &str,
    from: (f32, f32),
    to: (f32, f32),
    height: f32,
    frames: std::ops::Range<u32>,
) -> Actor {
    Actor {
        photo: whoisit::vision::photo::load(&super::photo(photo)).unwrap(),
        from,
        to,
        height,
        frames,
    }
}

/// `home/appearances.avi` at 15 fps: Obama for 2 s, nobody for 1 s, Biden for 2 s, nobody,
/// Obama again for 2 s.
pub(crate) fn three_appearances(home: &Path) -> std::path::PathBuf {
    let clip = home.join("appearances.avi");
    ClipSpec {
        width: 640,
        height: 480,
        fps: 15.0,
        light: (1.0, 1.0),
        frames: 135,
        actors: vec![
            actor("obama2.jpg", (0.4, 0.5), (0.45, 0.5), 0.9, 0..30),
            actor("biden.jpg", (0.5, 0.5), (0.55, 0.5), 0.9, 45..75),
            actor("obama2.jpg", (0.55, 0.5), (0.5, 0.5), 0.9, 90..120),
        ],
    }
    .write_video(&clip)
    .unwrap();
    clip
}

/// Checks the sightings of [`three_appearances`] at `camera`: Obama, the stranger (whose
/// crop alone is kept), Obama again, each with some evidence. Returns Obama's id.
pub(crate) fn three_sightings_of_the_clip(all: &[Value], camera: &str) -> i64 {
    let who: Vec<&str> = all
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("unknown"))
        .collect();
    assert_eq!(who, ["Obama", "unknown", "Obama"], "{all:?}");
    for s in all {
        assert_eq!(s["camera"], camera);
        assert!(s["last"].as_i64() >= s["first"].as_i64());
        assert!(s["evidence"].as_u64().unwrap() >= 1, "{s}");
    }
    let has_crop: Vec<bool> = all
        .iter()
        .map(|s| s["has_crop"].as_bool().unwrap())
        .collect();
    assert_eq!(
        has_crop,
        [false, true, false],
        "only the stranger's face is kept"
    );
    let obama = all[0]["person"].as_i64().unwrap();
    assert_eq!(all[2]["person"].as_i64(), Some(obama));
    obama
}

/// `home/again.avi`: Obama alone once more, from a photo the strangers' clip showed too.
pub(crate) fn again_clip(home: &Path) -> std::path::PathBuf {
    let clip = home.join("again.avi");
    ClipSpec {
        width: 640,
        height: 480,
        fps: 15.0,
        light: (1.0, 1.0),
        frames: 40,
        actors: vec![actor("obama2.jpg", (0.5, 0.5), (0.52, 0.5), 0.9, 5..35)],
    }
    .write_video(&clip)
    .unwrap();
    clip
}

/// `dir/obama.avi`: Obama alone, drifting a little, for `frames` frames at `fps`.
pub(crate) fn obama_clip(dir: &Path, fps: f64, frames: u32) -> std::path::PathBuf {
    let clip = dir.join("obama.avi");
    ClipSpec {
        width: 640,
        height: 480,
        fps,
        light: (1.0, 1.0),
        frames,
        actors: vec![actor("obama2.jpg", (0.4, 0.5), (0.5, 0.5), 0.9, 0..frames)],
    }
    .write_video(&clip)
    .unwrap();
    clip
}

/// Obama (to be enrolled) walks right; Biden (never enrolled) joins from frame 10.
pub(crate) fn two_people(frames: u32, fps: f64) -> ClipSpec {
    ClipSpec {
        width: 640,
        height: 480,
        fps,
        light: (1.0, 1.0),
        frames,
        actors: vec![
            actor("obama2.jpg", (0.15, 0.5), (0.35, 0.55), 0.9, 0..frames),
            actor("biden.jpg", (0.85, 0.5), (0.7, 0.5), 0.95, 10..frames),
        ],
    }
}

/// Writes the `two_people` clip into `home` and returns its path.
pub(crate) fn two_people_clip(home: &Path, frames: u32, fps: f64) -> std::path::PathBuf {
    let clip = home.join(format!("two-people-{frames}x{fps}.avi"));
    two_people(frames, fps).write_video(&clip).unwrap();
    clip
}

/// `home/strangers.avi` at 15 fps: Obama, Biden, Obama, Biden, Obama, Biden (see
/// [`cuts_clip`]); Obama from two different photos.
pub(crate) fn strangers_clip(home: &Path) -> std::path::PathBuf {
    cuts_clip(
        &home.join("strangers.avi"),
        &[
            ("obama.jpg", 0.4, 0.85),
            ("biden.jpg", 0.5, 0.9),
            ("obama2.jpg", 0.55, 0.9),
            ("biden.jpg", 0.45, 0.8),
            ("obama.jpg", 0.6, 0.95),
            ("biden.jpg", 0.55, 0.95),
        ],
    )
}

/// A clip at `path`, 640x480 at 15 fps, of `shots` one after another: each a photo drifting
/// a little right from `x` (a fraction of the width) at `height` (of the frame's), 20 frames
/// long, with 15 frames of nobody between (a cut: every shot is a new track).
pub(crate) fn cuts_clip(path: &Path, shots: &[(&str, f32, f32)]) -> std::path::PathBuf {
    let actors = shots
        .iter()
        .zip(0u32..)
        .map(|(&(photo, x, height), i)| {
            let start = 35 * i;
            actor(photo, (x, 0.5), (x + 0.04, 0.5), height, start..start + 20)
        })
        .collect();
    ClipSpec {
        width: 640,
        height: 480,
        fps: 15.0,
        light: (1.0, 1.0),
        frames: 35 * u32::try_from(shots.len()).unwrap(),
        actors,
    }
    .write_video(path)
    .unwrap();
    path.to_owned()
}

pub(crate) fn enroll_obama(home: &Path) {
    whoisit(home)
        .args(["enroll", "--name", "Obama"])
        .arg(super::photo("obama.jpg"))
        .assert()
        .success()
        .stdout(predicate::str::contains("enrolled Obama: 1 face(s) added"));
}

/// Runs `recognize --headless`; returns the per-frame lines and the summary.
pub(crate) fn recognize(home: &Path, source: &str, extra: &[&str]) -> (Vec<Value>, Value) {
    let mut command = whoisit(home);
    command
        .args(["recognize", "--headless", "--source", source])
        .args(extra);
    let mut lines = json_lines(&mut command);
    let summary = lines.pop().expect("a summary line")["summary"].clone();
    (lines, summary)
}

/// Runs `command`, which must succeed, and reads its output's lines as JSON.
pub(crate) fn json_lines(command: &mut Command) -> Vec<Value> {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The labels of a frame, left to right.
pub(crate) fn labels(frame: &Value) -> Vec<String> {
    let mut faces: Vec<&Value> = frame["faces"].as_array().unwrap().iter().collect();
    faces.sort_by_key(|f| f["box"][0].as_i64());
    faces
        .iter()
        .map(|f| f["label"].as_str().unwrap().to_owned())
        .collect()
}

/// A dataset folder `people/<name>/<photo>`: Obama with two photos, Biden with one.
pub(crate) fn obama_biden_dataset(home: &Path) -> std::path::PathBuf {
    let dataset = home.join("people");
    for (person, photo) in [
        ("Obama", "obama.jpg"),
        ("Obama", "obama2.jpg"),
        ("Biden", "biden.jpg"),
    ] {
        std::fs::create_dir_all(dataset.join(person)).unwrap();
        std::fs::copy(super::photo(photo), dataset.join(person).join(photo)).unwrap();
    }
    dataset
}

/// Enrolls Biden with `whoisit [global...] people add` in `home`.
pub(crate) fn add_biden(home: &Path, global: &[&str]) {
    whoisit(home)
        .args(global)
        .args(["people", "add", "Biden"])
        .arg(super::photo("biden.jpg"))
        .assert()
        .success();
}

/// Runs `whoisit [global...] recognize --headless --realtime` in `home` on a two-people clip
/// (Obama enrolled, Biden not) and reads it until its summary. When Biden first shows as
/// unknown, `enroll` enrolls him, once. Returns how long after that he was first named, and
/// the recognizer's stderr; fails if he never showed, was never named, or the run failed.
pub(crate) fn biden_named_after_enrollment(
    home: &Path,
    global: &[&str],
    enroll: impl FnOnce(),
) -> (std::time::Duration, String) {
    use std::io::BufRead as _;
    use std::process::Stdio;
    let clip = two_people_clip(home, 300, 15.0);
    let mut child = spawnable(home)
        .args(global)
        .args(["recognize", "--headless", "--realtime", "--source"])
        .arg(&clip)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut enroll = Some(enroll);
    let mut enrolled_at = None;
    let mut named_after = None;
    for line in stdout.lines() {
        let frame: Value = serde_json::from_str(&line.unwrap()).unwrap();
        if frame.get("summary").is_some() {
            break;
        }
        let labels = labels(&frame);
        if labels == ["Obama", "unknown"]
            && let Some(enroll) = enroll.take()
        {
            enroll();
            enrolled_at = Some(std::time::Instant::now());
        } else if let Some(at) = enrolled_at
            && named_after.is_none()
            && labels == ["Obama", "Biden"]
        {
            named_after = Some(at.elapsed());
        }
    }
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    assert!(enrolled_at.is_some(), "Biden never appeared as unknown");
    let named_after = named_after.expect("the recognizer never named Biden after his enrollment");
    (named_after, stderr)
}
