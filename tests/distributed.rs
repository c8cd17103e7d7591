//! The distributed pipeline with real processes on real Redis and mosquitto: camera agents on
//! clips made from real photos, recognition workers, the MQTT publisher and scans; and the
//! faults a site will see: a worker killed or stalled, poison work, Redis restarted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::streams::{PrivateRedis, Proc, Site, Subscriber, wait_for};
use serde_json::Value;
use whoisit::demo::synth::{Actor, ClipSpec};

const MINUTE: Duration = Duration::from_secs(60);

/// Each John's photos, sorted.
fn johns_photos() -> BTreeMap<String, Vec<PathBuf>> {
    let dir = common::johns();
    common::JOHNS
        .iter()
        .map(|john| {
            let mut photos: Vec<PathBuf> = std::fs::read_dir(dir.join(john))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            photos.sort();
            ((*john).to_owned(), photos)
        })
        .collect()
}

/// Enrolls every John from his first photo.
fn enroll_johns(home: &Path) -> BTreeMap<String, Vec<PathBuf>> {
    let photos = johns_photos();
    for (john, list) in &photos {
        common::cli::whoisit(home)
            .args(["people", "add", john])
            .arg(&list[0])
            .assert()
            .success();
    }
    photos
}

/// A clip of one photo drifting across the frame, as a person would stand at a door.
fn clip_of(photo: &Path, out: &Path, frames: u32, fps: f64) -> PathBuf {
    ClipSpec {
        width: 640,
        height: 480,
        fps,
        light: (1.0, 1.0),
        frames,
        actors: vec![Actor {
            photo: whoisit::vision::photo::load(photo).unwrap(),
            from: (0.35, 0.5),
            to: (0.6, 0.5),
            height: 0.7,
            frames: 0..frames,
        }],
    }
    .write_video(out)
    .unwrap();
    out.to_path_buf()
}

fn args(words: &[&str], site: &Site) -> Vec<String> {
    let mut all: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    all.extend(site.args());
    all
}

/// A config file with the streams settings a test needs.
fn config(home: &Path, streams: &str) -> Vec<String> {
    let path = home.join("streams.ron");
    std::fs::write(&path, format!("(streams: ({streams}))")).unwrap();
    vec!["--config".into(), path.display().to_string()]
}

fn worker(home: &Path, site: &Site, name: &str, extra: &[String]) -> Proc {
    let mut words = extra.to_vec();
    words.extend(args(&["worker", "--name", name], site));
    Proc::start(home, name, &words)
}

fn camera(home: &Path, site: &Site, id: &str, clip: &Path) -> Proc {
    let clip = clip.display().to_string();
    let words = args(
        &["camera", "--json", "--camera-id", id, "--source", &clip],
        site,
    );
    Proc::start(home, &format!("camera-{id}"), &words)
}

/// A JPEG of a photo, and its face's box as the detector finds it.
fn work_photo(photo: &Path) -> (Vec<u8>, [i32; 4]) {
    let (mut pipeline, _dir) = common::pipeline();
    let image = whoisit::vision::photo::load(photo).unwrap();
    let face = pipeline.detect(&image).unwrap()[0].bbox;
    (
        std::fs::read(photo).unwrap(),
        [face.x, face.y, face.width, face.height],
    )
}

#[test]
fn two_cameras_and_two_workers_name_every_face_once_on_the_stream_and_each_change_over_mqtt() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let photos = enroll_johns(home);
    let site = Site::new();
    let mut events_args = args(&["events", "--mqtt", &common::streams::mqtt_url()], &site);
    events_args.extend(config(home, &format!("topic_prefix: {:?}", site.topics)));
    let subscriber = Subscriber::new(&site.topics);
    let workers = [
        worker(home, &site, "w1", &[]),
        worker(home, &site, "w2", &[]),
    ];
    let events = Proc::start(home, "events", &events_args);
    // Each camera sees a John from a photo he was not enrolled from.
    let cameras: Vec<(&str, &str, Proc)> = [("front-door", "John_Salley"), ("lobby", "John_Simm")]
        .into_iter()
        .map(|(id, john)| {
            let clip = clip_of(&photos[john][1], &home.join(format!("{id}.avi")), 60, 10.0);
            (id, john, camera(home, &site, id, &clip))
        })
        .collect();
    let mut sent = 0;
    for (id, john, agent) in cameras {
        let lines = agent.finish(3 * MINUTE);
        let summary: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
        let crops = summary["camera"]["sent"].as_u64().unwrap();
        assert!(crops >= 6, "{id} sent {crops} crops for 60 frames");
        sent += crops as usize;
        // Once named, the camera's own view shows the name.
        let last: Value = serde_json::from_str(&lines[lines.len() - 2]).unwrap();
        assert_eq!(last["faces"][0]["label"], john, "{id}'s last frame");
        assert!(last["faces"][0]["person_id"].is_i64(), "{id}'s last frame");
    }
    wait_for("every crop answered", MINUTE, || {
        site.len("results") >= sent
    });
    std::thread::sleep(Duration::from_secs(1));
    let answers = site.answers("results");
    assert_eq!(answers.len(), sent, "one answer per crop, no more");
    let ids: HashSet<&str> = answers
        .iter()
        .map(|a| a["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), sent, "no work answered twice");
    for answer in &answers {
        let expected = match answer["camera"].as_str().unwrap() {
            "front-door" => "John_Salley",
            _ => "John_Simm",
        };
        assert_eq!(answer["faces"][0]["label"], expected, "{answer}");
        assert!(answer["faces"][0]["person_id"].is_i64(), "{answer}");
    }
    let by: HashSet<&str> = answers
        .iter()
        .map(|a| a["worker"].as_str().unwrap())
        .collect();
    assert_eq!(by.len(), 2, "both workers took work: {by:?}");
    assert_eq!(site.pending(), 0);

    each_change_once_over_mqtt(
        &site,
        &subscriber,
        &[("front-door", "John_Salley"), ("lobby", "John_Simm")],
    );
    one_sighting_per_camera(
        home,
        &[("front-door", "John_Salley"), ("lobby", "John_Simm")],
    );
    drop(events.stop());
    for w in workers {
        w.stop();
    }
}

/// Each camera's one track arrived over MQTT as its changes, not its crops: it appeared (and
/// was named, if it was unknown at first), its John arrived once on his own topic, and it
/// left; each change once, never retained.
fn each_change_once_over_mqtt(site: &Site, subscriber: &Subscriber, johns: &[(&str, &str)]) {
    wait_for("every track's end over MQTT", MINUTE, || {
        let left = subscriber.received();
        left.iter().filter(|(_, e)| e["change"] == "left").count() >= johns.len()
    });
    std::thread::sleep(Duration::from_secs(1));
    let received = subscriber.received();
    let ids: HashSet<(&str, &str)> = received
        .iter()
        .map(|(t, e)| (t.as_str(), e["event_id"].as_str().unwrap()))
        .collect();
    assert_eq!(ids.len(), received.len(), "no event twice: {received:?}");
    for (camera, john) in johns {
        let on = |topic: String| -> Vec<&Value> {
            received
                .iter()
                .filter(|(t, _)| *t == topic)
                .map(|(_, e)| e)
                .collect()
        };
        let changes: Vec<&str> = on(format!("{}/cameras/{camera}/sightings", site.topics))
            .iter()
            .map(|e| e["change"].as_str().unwrap())
            .collect();
        assert!(
            changes == ["appeared", "left"] || changes == ["appeared", "named", "left"],
            "{camera}: {changes:?}"
        );
        let seen = on(format!("{}/people/{john}/seen", site.topics));
        assert_eq!(seen.len(), 1, "{camera}: {received:?}");
        assert!(seen[0]["person_id"].is_i64(), "{}", seen[0]);
        assert!(seen[0]["expires_ms"].as_u64() > seen[0]["captured_ms"].as_u64());
    }
}

/// Waits until `worker` has its models and gallery loaded, so that a short clip's crops are
/// not older than `max_age_ms` when it reads them.
fn ready(worker: &mut Proc) {
    wait_for("the worker started", MINUTE, || {
        assert!(worker.alive(), "the worker ended: {}", worker.log());
        worker.log().contains("worker started")
    });
}

/// Two workers, one sighting per camera, of its John: one worker at a time stores them.
fn one_sighting_per_camera(home: &Path, johns: &[(&str, &str)]) {
    std::thread::sleep(Duration::from_secs(2));
    let stored = common::cli::json_lines(common::cli::whoisit(home).args(["sightings", "--json"]));
    let mut seen: Vec<(&str, &str)> = stored
        .iter()
        .map(|s| {
            (
                s["camera"].as_str().unwrap(),
                s["name"].as_str().unwrap_or("unknown"),
            )
        })
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, johns, "{stored:?}");
}

#[test]
fn a_killed_worker_s_work_is_finished_by_the_other_and_nothing_is_lost() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let photos = enroll_johns(home);
    let site = Site::new();
    let settings = config(home, "claim_idle_ms: 1000, max_age_ms: 600000");
    let (jpeg, face) = work_photo(&photos["John_Savage"][1]);
    let total = 60;
    for n in 0..total {
        site.add_work(&site.camera_work("door", n, face), &jpeg, None);
    }
    let mut doomed = worker(home, &site, "doomed", &settings);
    wait_for("the first worker at work", MINUTE, || {
        site.len("results") >= 3
    });
    // Killed while it holds a piece of work.
    wait_for("work pending with it", MINUTE, || site.pending() >= 1);
    doomed.signal("KILL");
    assert!(doomed.child.wait().is_ok());
    let answered_before = site.len("results");
    assert!(answered_before < total as usize, "killed mid-run");
    let heir = worker(home, &site, "heir", &settings);
    wait_for("all work answered", 2 * MINUTE, || {
        site.len("results") >= total as usize && site.pending() == 0
    });
    std::thread::sleep(Duration::from_secs(2));
    let answers = site.answers("results");
    let ids: HashSet<&str> = answers
        .iter()
        .map(|a| a["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(answers.len(), total as usize, "nothing lost, nothing twice");
    assert_eq!(ids.len(), total as usize);
    let counters = site.counters("heir");
    assert!(counters["reclaimed"] >= 1, "{counters:?}");
    assert!(
        answers
            .iter()
            .all(|a| a["faces"][0]["label"] == "John_Savage")
    );
    heir.stop();
}

#[test]
fn poison_work_ends_in_the_dead_letters_and_the_workers_go_on() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let photos = enroll_johns(home);
    let site = Site::new();
    let settings = config(home, "claim_idle_ms: 300, max_age_ms: 600000");
    let (jpeg, face) = work_photo(&photos["John_Shimkus"][1]);
    let mut corrupt = jpeg.clone();
    corrupt.truncate(200);
    corrupt.extend(std::iter::repeat_n(0x5a, 500));
    let poison = site.add_work(&site.camera_work("door", 1, face), &corrupt, None);
    let mut w = worker(home, &site, "w", &settings);
    wait_for("the poison buried", MINUTE, || site.len("dead") == 1);
    let good = site.add_work(&site.camera_work("door", 2, face), &jpeg, None);
    wait_for("good work answered", MINUTE, || site.len("results") == 1);
    let dead = &site.entries("dead")[0];
    assert_eq!(dead.get::<String>("id").unwrap(), poison);
    let error = dead.get::<String>("error").unwrap();
    assert!(error.contains("not an image"), "{error}");
    assert_eq!(
        dead.get::<u64>("delivered"),
        Some(4),
        "buried on the 4th delivery"
    );
    assert_eq!(
        dead.get::<Vec<u8>>("image").unwrap(),
        corrupt,
        "kept for a look"
    );
    let answer = &site.answers("results")[0];
    assert_eq!(answer["event_id"], good.as_str());
    assert_eq!(answer["faces"][0]["label"], "John_Shimkus");
    assert!(w.alive(), "{}", w.log());
    assert_eq!(site.pending(), 0);
    // The counters reach Redis once a second.
    wait_for("the counters", MINUTE, || {
        site.counters("w").get("answered").copied() == Some(1)
    });
    let counters = site.counters("w");
    assert_eq!(
        (counters["dead"], counters["failed"]),
        (1, 3),
        "{counters:?}"
    );
    w.stop();
}

#[test]
fn decoding_bombs_are_refused_by_the_worker_without_their_memory() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let site = Site::new();
    let settings = config(home, "claim_idle_ms: 300, max_age_ms: 600000");
    let mut w = worker(home, &site, "w", &settings);
    let bombs = common::bombs::all(home);
    for (n, (bomb, _)) in bombs.iter().enumerate() {
        let work = site.camera_work("door", n as u64, [0, 0, 100, 100]);
        site.add_work(&work, &std::fs::read(bomb).unwrap(), None);
    }
    wait_for("the bombs buried", MINUTE, || site.len("dead") == 3);
    let errors: Vec<String> = site
        .entries("dead")
        .iter()
        .map(|dead| dead.get::<String>("error").unwrap())
        .collect();
    for (_, words) in &bombs {
        assert!(
            errors.iter().any(|e| e.contains(words)),
            "{words}: {errors:?}"
        );
    }
    let peak = common::peak_rss_mib(w.child.id());
    // Decoded, the smallest of them would take 768 MiB; the models take about 200.
    assert!(peak < 600, "the worker grew to {peak} MiB");
    assert!(w.alive(), "{}", w.log());
    w.stop();
}

#[test]
fn a_redis_password_shows_in_no_log_or_error() {
    const SECRET: &str = "redis-s3cret-42";
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let photos = enroll_johns(home);
    let mut redis = PrivateRedis::with_password(SECRET);
    let site = Site::on(&redis.url());
    let w = worker(home, &site, "w", &[]);
    let clip = clip_of(&photos["John_Simm"][1], &home.join("simm.avi"), 40, 10.0);
    let agent = camera(home, &site, "door", &clip);
    let dir = home.join("photos");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(&photos["John_Simm"][2], dir.join("simm.jpg")).unwrap();
    let scan = common::cli::whoisit(home)
        .env("RUST_LOG", "whoisit=debug")
        .arg("scan")
        .arg(&dir)
        .arg("--out")
        .arg(home.join("who.csv"))
        .args(site.args())
        .output()
        .unwrap();
    assert!(scan.status.success());
    // Redis goes away and comes back: the worker and the agent say so, naming it.
    redis.kill();
    std::thread::sleep(Duration::from_secs(2));
    redis.restart();
    let down = common::cli::whoisit(home)
        .arg("scan")
        .arg(&dir)
        .arg("--out")
        .arg(home.join("again.csv"))
        .args(["--redis", &format!("redis://:{SECRET}@127.0.0.1:1")])
        .output()
        .unwrap();
    assert!(!down.status.success());
    let down = String::from_utf8_lossy(&down.stderr).into_owned();
    assert!(down.contains("redis://:***@127.0.0.1:1"), "{down}");
    wait_for("the worker back", MINUTE, || w.log().contains("is back"));
    let logs = [
        w.log(),
        agent.log(),
        String::from_utf8_lossy(&scan.stderr).into_owned(),
        down,
    ];
    assert!(logs[0].contains(":***@127.0.0.1"), "{}", logs[0]);
    for log in logs {
        assert!(!log.contains(SECRET), "{log}");
    }
}

#[test]
fn work_that_cannot_be_answered_where_it_asks_is_dead_lettered_at_once() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let photos = enroll_johns(home);
    let site = Site::new();
    let (jpeg, face) = work_photo(&photos["John_Simm"][1]);
    // The site's own errors hash (no stream: an XADD to it fails inside the transaction), its
    // work stream, another site's results.
    let replies = [
        site.key("errors"),
        site.key("faces"),
        "elsewhere:results".to_owned(),
    ];
    for (n, reply) in replies.iter().enumerate() {
        let mut work = site.camera_work("door", n as u64, face);
        work["reply"] = reply.as_str().into();
        site.add_work(&work, &jpeg, None);
    }
    let good = site.add_work(&site.camera_work("door", 9, face), &jpeg, None);
    let w = worker(home, &site, "w", &[]);
    wait_for("the three buried", MINUTE, || site.len("dead") == 3);
    wait_for("the good one answered", MINUTE, || site.len("results") == 1);
    for dead in site.entries("dead") {
        let error = dead.get::<String>("error").unwrap();
        assert!(
            error.contains("is not one work may be answered on"),
            "{error}"
        );
        assert_eq!(dead.get::<u64>("delivered"), Some(1), "buried at once");
    }
    assert_eq!(site.answers("results")[0]["event_id"], good.as_str());
    assert_eq!(site.pending(), 0);
    let mut redis = site.connection();
    let kind: String = redis::cmd("TYPE")
        .arg(site.key("faces"))
        .query(&mut redis)
        .unwrap();
    assert_eq!(
        kind, "stream",
        "nothing written into the work stream but work"
    );
    w.stop();
}

#[test]
fn a_stalled_worker_keeps_the_stream_bounded_and_then_does_current_work_not_old() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let photos = enroll_johns(home);
    let site = Site::new();
    let maxlen = 100;
    let settings = config(home, "max_age_ms: 2000");
    let (jpeg, face) = work_photo(&photos["John_Schneider"][1]);
    let w = worker(home, &site, "w", &settings);
    let produce = |seconds: u64, track: &mut u64| {
        let end = Instant::now() + Duration::from_secs(seconds);
        while Instant::now() < end {
            *track += 1;
            site.add_work(&site.camera_work("door", *track, face), &jpeg, Some(maxlen));
            // 20 faces a second: a busy door.
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let mut track = 0;
    produce(2, &mut track);
    wait_for("the worker at work", MINUTE, || site.len("results") > 0);
    w.signal("STOP");
    produce(6, &mut track);
    let longest = site.len("faces");
    // MAXLEN ~ trims whole blocks of 100 entries.
    assert!(
        longest <= maxlen + 100,
        "{longest} entries despite MAXLEN ~ {maxlen}"
    );
    let stalled_at = whoisit::stream::unix_ms();
    w.signal("CONT");
    let resumed_track = track;
    produce(3, &mut track);
    let start = Instant::now();
    while !site
        .answers("results")
        .iter()
        .any(|a| a["track"].as_u64() > Some(resumed_track))
    {
        assert!(
            start.elapsed() < MINUTE,
            "no current work answered after the stall; counters {:?}, log:\n{}",
            site.counters("w"),
            w.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let answers = site.answers("results");
    let late: Vec<&Value> = answers
        .iter()
        .filter(|a| a["answered_ms"].as_u64().unwrap() > stalled_at)
        .collect();
    assert!(!late.is_empty());
    for answer in &late {
        // At most max_age old when taken, and the answer not another max_age late.
        assert!(
            answer["latency_ms"].as_u64().unwrap() <= 2 * 2000,
            "after the stall only current work is answered: {answer}"
        );
    }
    wait_for("counters written", MINUTE, || {
        site.counters("w").get("stale").copied().unwrap_or(0) > 0
    });
    w.stop();
}

#[test]
fn agents_and_workers_recover_by_themselves_when_redis_restarts() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let photos = enroll_johns(home);
    let mut redis = PrivateRedis::start();
    let site = Site::on(&redis.url());
    let mut w = worker(home, &site, "w", &[]);
    let clip = clip_of(&photos["John_Simm"][2], &home.join("long.avi"), 300, 10.0);
    let mut agent = camera(home, &site, "door", &clip);
    wait_for("answers before the restart", 2 * MINUTE, || {
        site.len("results") > 0
    });
    redis.kill();
    std::thread::sleep(Duration::from_secs(3));
    assert!(w.alive() && agent.alive(), "both outlive Redis");
    redis.restart();
    wait_for("answers after the restart", MINUTE, || {
        // A restarted Redis kept nothing: any answer now is new.
        site.len("results") > 0
    });
    assert!(w.alive(), "{}", w.log());
    assert!(agent.alive(), "{}", agent.log());
    for log in [w.log(), agent.log()] {
        assert!(log.contains("unreachable"), "{log}");
        assert!(log.contains("is back"), "{log}");
    }
    assert_eq!(site.answers("results")[0]["faces"][0]["label"], "John_Simm");
    drop(agent);
    w.stop();
}

#[test]
fn scan_names_the_johns_from_one_photo_each_and_a_second_run_does_no_work() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let photos = enroll_johns(home);
    let site = Site::new();
    let workers = [worker(home, &site, "a", &[]), worker(home, &site, "b", &[])];
    let out = home.join("who.csv");
    let scan = |site: &Site| -> Value {
        let output = common::cli::whoisit(home)
            .arg("scan")
            .arg(common::johns())
            .arg("--out")
            .arg(&out)
            .args(site.args())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice::<Value>(&output.stdout).unwrap()["scan"].clone()
    };
    let first = scan(&site);
    assert_eq!(first["images"], 55);
    assert_eq!(first["answered"], 55, "{first}");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut right = 0;
    let mut rows = 0;
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let john = Path::new(fields[0])
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        rows += 1;
        if fields[6] == john {
            right += 1;
        } else {
            assert_eq!(fields[6], "unknown", "never the wrong John: {line}");
        }
    }
    assert!(rows >= 55, "a row per face at least");
    // dlib names the johns from one photo each all but always; never the wrong one.
    assert!(right >= 50, "{right} of {rows} named");
    let enrolled: HashSet<&PathBuf> = photos.values().map(|p| &p[0]).collect();
    assert_eq!(enrolled.len(), 5);
    let second = scan(&site);
    assert_eq!(second["already"], 55);
    assert_eq!(second["answered"], 0, "nothing sent again");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
    for w in workers {
        w.stop();
    }
}

#[test]
fn bad_input_gets_a_clear_error_and_changes_nothing() {
    use predicates::prelude::*;
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let photos = home.join("photos");
    std::fs::create_dir_all(&photos).unwrap();
    std::fs::copy(common::photo("obama.jpg"), photos.join("obama.jpg")).unwrap();
    let out = home.join("who.csv");
    let scan = |extra: &[&str]| {
        let mut cmd = common::cli::whoisit(home);
        cmd.arg("scan")
            .arg(&photos)
            .arg("--out")
            .arg(&out)
            .args(extra);
        cmd
    };
    scan(&["--redis", "redis://127.0.0.1:1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "Redis at redis://127.0.0.1:1: cannot connect; is redis-server running there?",
        ));
    scan(&["--redis", "http://127.0.0.1:6379"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a Redis URL"));
    assert!(!out.exists(), "nothing written");
    // An --out file that is not a scan's answers is not appended to.
    std::fs::write(&out, "my notes\n").unwrap();
    let site = Site::new();
    let site_args = site.args();
    let site_args: Vec<&str> = site_args.iter().map(String::as_str).collect();
    scan(&site_args)
        .assert()
        .failure()
        .stderr(predicate::str::contains("line 1 is not a scan's answer"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "my notes\n");
    assert_eq!(site.len("faces"), 0, "no work sent");
    // A symlink to a device, and a FIFO named as a photo, each get a row that says why they
    // were not read; a symlink back up the tree is not followed round.
    let odd = home.join("odd");
    std::fs::create_dir_all(&odd).unwrap();
    std::os::unix::fs::symlink("/dev/zero", odd.join("zero.jpg")).unwrap();
    std::os::unix::fs::symlink(&odd, odd.join("loop")).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(odd.join("pipe.jpg"))
            .status()
            .unwrap()
            .success()
    );
    let odd_out = home.join("odd.csv");
    let output = common::cli::whoisit(home)
        .arg("scan")
        .arg(&odd)
        .arg("--out")
        .arg(&odd_out)
        .args(&site_args)
        .timeout(MINUTE)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = std::fs::read_to_string(&odd_out).unwrap();
    assert_eq!(rows.matches("not a regular file").count(), 2, "{rows}");
    assert_eq!(site.len("faces"), 0, "no work sent");

    common::cli::whoisit(home)
        .args(["camera", "--camera-id", "door/1", "--source"])
        .arg(common::cli::obama_clip(home, 10.0, 5))
        .args(&site_args)
        .assert()
        .failure()
        .stderr(predicate::str::contains("without '/', '+' or '#'"));
    common::cli::whoisit(home)
        .args(["events", "--mqtt", "http://127.0.0.1:1883"])
        .args(&site_args)
        .assert()
        .failure()
        .stderr(predicate::str::contains("expected mqtt://host:port"));
}

/// The sample clip (25 shots of 18 frames with a cut between each, faces far, blurred and dim,
/// three people enrolled from one photo each, two strangers) evaluated in one process and
/// through a camera agent and a worker on Redis. Each track waits one answer's round trip for
/// its first label, so a shot may have one named frame less per face followed in it; the crops
/// are JPEGs, so a face near the threshold may tip a frame either way.
#[test]
fn a_camera_and_a_worker_name_the_frames_the_local_pipeline_names() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let site = Site::new();
    let out = home.join("sample");
    common::cli::whoisit(home)
        .env("XDG_CACHE_HOME", common::data_dir().join("xdg-cache"))
        .args(["eval", "--video-sample", "--out"])
        .arg(&out)
        .assert()
        .success();
    let report = |dir: &Path| -> Value {
        serde_json::from_slice(&std::fs::read(dir.join("video.json")).unwrap()).unwrap()
    };
    let local = report(&out);
    let through = home.join("distributed");
    common::cli::whoisit(home)
        .args(["eval", "--distributed", "--video"])
        .arg(out.join("johns.avi"))
        .arg("--truth")
        .arg(out.join("johns.truth"))
        .arg("--enroll")
        .arg(out.join("enroll"))
        .arg("--out")
        .arg(&through)
        .args(site.args())
        .assert()
        .success();
    let distributed = report(&through);
    assert_eq!(local["route"], "local");
    assert_eq!(distributed["route"], "streams");
    let count = |v: &Value| v.as_u64().unwrap();
    let segments = |r: &Value| r["segments"].as_array().unwrap().clone();
    for (here, there) in segments(&local).iter().zip(&segments(&distributed)) {
        assert_eq!(
            here["with_face"], there["with_face"],
            "the same faces found"
        );
        assert_eq!(here["tracks"], there["tracks"], "the same faces followed");
        let (a, b) = (count(&here["named_right"]), count(&there["named_right"]));
        assert!(
            a.abs_diff(b) <= count(&here["tracks"]).max(1),
            "frames {}-{}: {a} named in one process, {b} through the streams",
            here["first"],
            here["last"]
        );
        assert_eq!(count(&there["false_accepts"]), 0, "{there}");
    }
    assert_eq!(count(&distributed["people"]["never_named"]), 0);
    assert_eq!(count(&distributed["strangers"]["false_accepts"]), 0);
    // The workers' streams went with the run.
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}*", site.prefix))
        .query(&mut site.connection())
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

/// A camera agent on a clip where Obama (enrolled) comes, a stranger comes, and Obama comes
/// back: a worker stores the three sightings the agent's tracker decided, by person id, with
/// the stranger's crop and mean embedding (so visitors are grouped from cameras too); and
/// `whoisit events` publishes each change of a track once, never once per crop.
#[test]
fn a_camera_agent_s_sightings_are_stored_by_a_worker_and_published_once_per_change() {
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    common::cli::whoisit(home)
        .args(["people", "add", "Obama"])
        .arg(common::photo("obama.jpg"))
        .assert()
        .success();
    let site = Site::new();
    let subscriber = Subscriber::new(&site.topics);
    let mut events_args = args(&["events", "--mqtt", &common::streams::mqtt_url()], &site);
    events_args.extend(config(home, &format!("topic_prefix: {:?}", site.topics)));
    let events = Proc::start(home, "events", &events_args);
    let mut worker = worker(home, &site, "w1", &[]);
    ready(&mut worker);
    // The publishers' group starts at the stream's end: wait for it (and the worker's).
    wait_for("both groups on the sightings stream", MINUTE, || {
        redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(site.key("sightings"))
            .query::<Vec<redis::Value>>(&mut site.connection())
            .is_ok_and(|groups| groups.len() == 2)
    });
    let clip = common::cli::three_appearances(home);
    let lines = camera(home, &site, "door", &clip).finish(3 * MINUTE);
    let summary: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let crops = summary["camera"]["sent"].as_u64().unwrap();

    // Each sighting ended (its last note is in the stream) once its "left" was published.
    wait_for("the three sightings' ends", MINUTE, || {
        subscriber
            .received()
            .iter()
            .filter(|(_, e)| e["change"] == "left")
            .count()
            >= 3
    });
    let stored =
        || common::cli::json_lines(common::cli::whoisit(home).args(["sightings", "--json"]));
    wait_for("three sightings stored", MINUTE, || stored().len() >= 3);
    // The worker stores what it is told within a second.
    std::thread::sleep(Duration::from_secs(2));
    let obama = common::cli::three_sightings_of_the_clip(&stored(), "door");

    changes_counted_against_three_sightings(&site, &subscriber, obama, crops);
    drop(events.stop());
    // The worker stored every note: at least a start and an end per sighting.
    let stopped: Value = serde_json::from_str(worker.stop().last().unwrap()).unwrap();
    let notes = stopped["sightings"]["stored"].as_u64().unwrap();
    assert!(notes >= 6, "{stopped}");
    assert_eq!(stopped["sightings"]["skipped"], 0, "{stopped}");
}

/// The visitors' clip (two strangers, nobody enrolled, each in view three times) through a
/// camera agent and a worker on PostgreSQL: the worker stores six unknown sightings, each with
/// its crop and mean embedding, and groups them into two visitors of three, as `recognize`
/// does in one process. Once the first stranger's group is enrolled, the camera names him.
#[cfg(feature = "postgres")]
#[test]
fn a_camera_agent_s_strangers_become_two_visitors_and_one_enrolled_is_named_in_postgres() {
    let db = common::postgres::Database::new();
    let global = ["--gallery".to_owned(), db.url.clone()];
    let home = tempfile::tempdir().unwrap();
    let home = home.path();
    let site = Site::new();
    let mut worker = worker(home, &site, "w1", &global);
    ready(&mut worker);
    let clip = common::cli::strangers_clip(home);
    camera(home, &site, "door", &clip).finish(3 * MINUTE);
    let listed = |what: &[&str]| {
        common::cli::json_lines(common::cli::whoisit(home).args(&global).args(what))
    };
    wait_for("six sightings with their crops", MINUTE, || {
        let all = listed(&["sightings", "--json"]);
        all.len() == 6 && all.iter().all(|s| s["has_crop"] == true)
    });
    let all = listed(&["sightings", "--json"]);
    assert!(
        all.iter()
            .all(|s| s["person"].is_null() && s["camera"] == "door"),
        "{all:?}"
    );
    // The writer groups at most every 10 s, and once more as it ends.
    drop(worker.stop());
    let groups = listed(&["visitors", "list", "--json"]);
    let mut sizes: Vec<u64> = groups
        .iter()
        .map(|g| g["sightings"].as_u64().unwrap())
        .collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [3, 3], "{groups:?}");

    // Obama (the first stranger) enrolled from his group; his next appearance is named.
    let first = &all[0]["id"];
    let obama = groups
        .iter()
        .find(|g| g["samples"].as_array().unwrap().contains(first))
        .unwrap_or_else(|| panic!("no group holds the first sighting: {groups:?}"));
    common::cli::whoisit(home)
        .args(&global)
        .args([
            "visitors",
            "enroll",
            &obama["id"].to_string(),
            "--name",
            "Obama",
        ])
        .assert()
        .success();
    let mut worker = self::worker(home, &site, "w2", &global);
    ready(&mut worker);
    camera(home, &site, "door", &common::cli::again_clip(home)).finish(3 * MINUTE);
    // Stored as it appeared, and named once the camera's tracker decided (within a second).
    wait_for("the next appearance stored, named Obama", MINUTE, || {
        listed(&["sightings", "--json"])
            .get(6)
            .is_some_and(|s| s["name"] == "Obama")
    });
    assert_eq!(listed(&["sightings", "--json"]).len(), 7);
    drop(worker.stop());
}

/// The MQTT messages of [`common::cli::three_appearances`] on the camera "door", counted
/// against its three sightings: per sighting its start (appeared), "named" if it started
/// unknown, and its end (left); fewer than the `crops` sent; Obama's arrivals by id.
fn changes_counted_against_three_sightings(
    site: &Site,
    subscriber: &Subscriber,
    obama: i64,
    crops: u64,
) {
    let received = subscriber.received();
    let on = |topic: &str| -> Vec<&Value> {
        received
            .iter()
            .filter(|(t, _)| t == &format!("{}/{topic}", site.topics))
            .map(|(_, e)| e)
            .collect()
    };
    let changes = on("cameras/door/sightings");
    let count = |change: &str| changes.iter().filter(|e| e["change"] == change).count();
    assert_eq!(count("appeared"), 3, "{changes:?}");
    assert_eq!(count("left"), 3, "{changes:?}");
    assert_eq!(count("renamed"), 0, "{changes:?}");
    assert!(
        count("named") <= 2,
        "only Obama's tracks can be named: {changes:?}"
    );
    assert_eq!(
        changes.len(),
        6 + count("named"),
        "nothing else: {changes:?}"
    );
    assert!(
        (changes.len() as u64) < crops,
        "{} events for {crops} crops: events are per change, not per crop",
        changes.len()
    );
    // Obama's arrivals, by id, on his own topic: one per sighting of him.
    let seen = on("people/Obama/seen");
    assert_eq!(seen.len(), 2, "{received:?}");
    for event in seen.iter().chain(&changes) {
        assert!(event["expires_ms"].as_u64() > event["captured_ms"].as_u64());
        assert!(event["event_id"].is_string());
        if event["name"] == "Obama" {
            assert_eq!(event["person_id"], obama, "{event}");
        } else {
            assert_eq!(event["person_id"], Value::Null, "{event}");
        }
    }
    assert_eq!(received.len(), changes.len() + seen.len(), "{received:?}");
}
