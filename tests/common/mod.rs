//! Shared test support: real photos fetched from package registries, models, generated clips.
#![allow(dead_code)] // each test binary uses a part of this

pub(crate) mod bombs;
pub(crate) mod browser;
pub(crate) mod camera;
pub(crate) mod cli;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
pub(crate) mod secret;
pub(crate) mod server;
pub(crate) mod sightings;
#[cfg(feature = "streams")]
pub(crate) mod streams;
pub(crate) mod torch7;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use whoisit::base::identity::EmbedderKind;
use whoisit::config::Config;
use whoisit::models::fetch::{self, Fetcher, Quiet};
use whoisit::vision::pipeline::Pipeline;

pub(crate) const JOHNS: [&str; 5] = [
    "John_Salley",
    "John_Savage",
    "John_Schneider",
    "John_Shimkus",
    "John_Simm",
];

/// Tests of one binary run in parallel; downloads are done one at a time.
static FETCH_LOCK: Mutex<()> = Mutex::new(());

/// The ignored cache of test data, `.cache/testdata` in the repo.
pub(crate) fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/testdata")
}

/// A photo of `tests/data.ron`, fetched and checked on first use.
pub(crate) fn photo(name: &str) -> PathBuf {
    let manifest = fetch::parse_manifest(include_str!("../data.ron"), Path::new("tests/data.ron"))
        .expect("tests/data.ron");
    let artifact = manifest
        .iter()
        .find(|a| a.file == name)
        .unwrap_or_else(|| panic!("{name} is not in tests/data.ron"));
    let dir = data_dir().join("photos");
    let _guard = FETCH_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Fetcher::new(&Quiet)
        .unwrap()
        .ensure(artifact, &dir)
        .unwrap_or_else(|e| panic!("{e}"));
    dir.join(name)
}

/// The `johns` dataset folder (`<person>/*.jpg`), extracted once from the checked dlib source
/// tarball (the same one `whoisit eval --sample` uses).
pub(crate) fn johns() -> PathBuf {
    let dir = data_dir().join("johns");
    let _guard = FETCH_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !JOHNS.iter().all(|p| dir.join(p).is_dir()) {
        std::fs::create_dir_all(data_dir()).unwrap();
        let count = Fetcher::new(&Quiet)
            .unwrap()
            .extract_tree(
                &whoisit::measure::eval::sample_release(),
                whoisit::measure::eval::SAMPLE_PREFIX,
                &dir,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(count, 55, "the johns set has 5 people x 11 photos");
    }
    dir
}

/// dlib's labelled faces folder (`training.xml`, `testing.xml` and their photos), extracted
/// once from the same tarball as the `johns` set.
pub(crate) fn faces() -> PathBuf {
    let dir = data_dir().join("faces");
    let _guard = FETCH_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !dir.join("testing.xml").is_file() {
        std::fs::create_dir_all(data_dir()).unwrap();
        Fetcher::new(&Quiet)
            .unwrap()
            .extract_tree(
                &whoisit::measure::eval::sample_release(),
                whoisit::measure::detection::FACES_PREFIX,
                &dir,
            )
            .unwrap_or_else(|e| panic!("{e}"));
    }
    dir
}

/// The config tests run with: the user's model dir (filled by `whoisit models fetch`, or here
/// on first use) and a gallery in `data_dir`.
pub(crate) fn config(data_dir: &Path, embedder: EmbedderKind) -> Config {
    Config {
        data_dir: Some(data_dir.to_path_buf()),
        embedder,
        ..Config::default()
    }
}

/// A real pipeline with an empty gallery in a fresh temp dir (kept alive by the returned guard).
pub(crate) fn pipeline() -> (Pipeline, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let _guard = FETCH_LOCK
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let pipeline = config(dir.path(), EmbedderKind::Dlib)
        .load_pipeline(&Quiet)
        .unwrap_or_else(|e| panic!("{e}"));
    (pipeline, dir)
}

/// Enrollment as configured by default.
pub(crate) fn enrollment() -> whoisit::enroll::Enrollment {
    Config::default().enrollment()
}

/// Enrolls `name` from one test photo.
pub(crate) fn enroll(
    pipeline: &mut Pipeline,
    gallery: &dyn whoisit::gallery::Gallery,
    name: &str,
    photo: &str,
) {
    whoisit::enroll::person(
        pipeline,
        gallery,
        &enrollment(),
        name,
        &[self::photo(photo)],
        &cli(),
    )
    .unwrap();
}

/// The roster of `gallery` with `pipeline`'s embeddings, matched as configured by default.
pub(crate) fn roster(
    gallery: std::sync::Arc<dyn whoisit::gallery::Gallery>,
    pipeline: &Pipeline,
) -> std::sync::Arc<whoisit::roster::Roster> {
    whoisit::roster::Roster::open(
        gallery,
        pipeline.embedder_id(),
        Config::default().matching(),
    )
    .unwrap()
}

/// The model dir tests share with the app.
pub(crate) fn model_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| Config::default().model_dir().unwrap())
        .clone()
}

/// Own thresholds in any store: set, shown, audited, exported with the person and imported
/// into `other` (an empty gallery), cleared; a batch with an unknown name or a threshold out of
/// range is refused whole with the reason.
pub(crate) fn own_thresholds_are_stored_and_cleared(
    gallery: &dyn whoisit::gallery::Gallery,
    other: &dyn whoisit::gallery::Gallery,
) {
    use whoisit::gallery::{OwnThreshold, ThresholdChange};

    add(gallery, "Ann", &[face(0.1, "a")]).unwrap();
    add(gallery, "Bob", &[face(0.2, "b")]).unwrap();
    let dlib = EmbedderKind::Dlib.id();
    let own = |threshold: f32| {
        Some(OwnThreshold {
            threshold,
            embedder: dlib.clone(),
        })
    };
    let set_in = |g: &dyn whoisit::gallery::Gallery, name: &str, threshold| ThresholdChange {
        person: g.find(name).unwrap(),
        own: threshold,
    };
    let set = |name: &str, threshold: Option<OwnThreshold>| set_in(gallery, name, threshold);
    let of = |g: &dyn whoisit::gallery::Gallery, name: &str| {
        g.people()
            .unwrap()
            .into_iter()
            .find(|p| p.name == name)
            .unwrap()
            .own_threshold
    };
    assert_eq!(of(gallery, "Ann"), None);

    gallery
        .set_own_thresholds(&[set("Ann", own(0.52))], &cli())
        .unwrap();
    assert_eq!(of(gallery, "Ann"), own(0.52));
    assert_eq!(of(gallery, "Bob"), None);
    let thresholds = gallery.own_thresholds(&dlib).unwrap();
    assert_eq!((thresholds.get("Ann"), thresholds.len()), (Some(0.52), 1));
    assert!(
        gallery
            .own_thresholds(&EmbedderKind::OpenFace.id())
            .unwrap()
            .is_empty(),
        "a threshold calibrated on one embedder is not another's"
    );

    // Refused whole: Bob's change in the same batch is not made.
    for (bad, expected) in [
        (
            ThresholdChange {
                person: whoisit::gallery::PersonId(i64::MAX),
                own: own(0.5),
            },
            "nobody has the id",
        ),
        (set("Ann", own(2.5)), "must be a positive number"),
        (set("Ann", own(f32::NAN)), "must be a positive number"),
    ] {
        let error = gallery
            .set_own_thresholds(&[set("Bob", own(0.5)), bad], &cli())
            .unwrap_err()
            .to_string();
        assert!(error.contains(expected), "{expected:?} not in {error}");
        assert_eq!((of(gallery, "Ann"), of(gallery, "Bob")), (own(0.52), None));
    }

    let export = gallery.export().unwrap();
    let ann = export.people.iter().find(|p| p.name == "Ann").unwrap();
    assert_eq!(ann.own_threshold, own(0.52));
    other.import(&export, &cli()).unwrap();
    assert_eq!(of(other, "Ann"), own(0.52));
    assert_eq!(of(other, "Bob"), None);

    gallery
        .set_own_thresholds(&[set("Ann", None)], &cli())
        .unwrap();
    assert_eq!(of(gallery, "Ann"), None);
    // An import never overwrites a threshold the gallery has.
    other
        .set_own_thresholds(&[set_in(other, "Ann", own(0.5))], &cli())
        .unwrap();
    other.import(&export, &cli()).unwrap();
    assert_eq!(of(other, "Ann"), own(0.5));

    assert_threshold_trail(gallery);
}

/// The trail of [`own_thresholds_are_stored_and_cleared`]: Ann's threshold set and cleared, by
/// id, never by name.
fn assert_threshold_trail(gallery: &dyn whoisit::gallery::Gallery) {
    let trail: Vec<String> = gallery
        .audit(0)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "threshold")
        .map(|e| e.detail)
        .collect();
    assert_eq!(trail.len(), 2, "{trail:?}");
    assert!(
        trail[0].contains("own threshold 0.520 for dlib-resnet-v1 (was none)")
            && trail[1].contains("own threshold cleared (was 0.520)")
            && !trail.iter().any(|d| d.contains("Ann")),
        "{trail:?}"
    );
}

/// A made-up face of `source` (its sha256 made from the name), all `v`s.
pub(crate) fn face(v: f32, source: &str) -> whoisit::gallery::NewFace {
    use whoisit::base::identity::{DIM, Embedding};
    whoisit::gallery::NewFace {
        embedder: EmbedderKind::Dlib.id(),
        embedding: Embedding(vec![v; DIM]),
        source: source.into(),
        source_sha256: Some(format!("{:0>64}", hex::encode(source))),
        confidence: 0.9,
        face_px: 100,
        sharpness: 200.0,
        image_png: None,
        pose: None,
    }
}

/// Who the tests' changes are made by.
pub(crate) fn cli() -> whoisit::gallery::Actor {
    whoisit::gallery::Actor::cli()
}

/// Adds faces to the person called `name`, enrolled with them if new: what the CLI does with a
/// name, resolved once.
pub(crate) fn add(
    g: &dyn whoisit::gallery::Gallery,
    name: &str,
    faces: &[whoisit::gallery::NewFace],
) -> whoisit::Result<Vec<whoisit::gallery::FaceId>> {
    match g.find(name) {
        Ok(person) => g.add_faces_to(person, faces, &cli()),
        Err(whoisit::Error::UnknownPerson(_)) => Ok(g.create_person(name, faces, &cli())?.1),
        Err(e) => Err(e),
    }
}

pub(crate) fn rename(
    g: &dyn whoisit::gallery::Gallery,
    old: &str,
    new: &str,
) -> whoisit::Result<()> {
    g.rename(g.find(old)?, new, &cli())
}

pub(crate) fn remove(
    g: &dyn whoisit::gallery::Gallery,
    name: &str,
) -> whoisit::Result<whoisit::gallery::Removed> {
    g.remove(g.find(name)?, &cli())
}

pub(crate) fn images(
    g: &dyn whoisit::gallery::Gallery,
    name: &str,
) -> whoisit::Result<Vec<Vec<u8>>> {
    g.images(g.find(name)?)
}

/// The roster's version in any store: it grows with each change to who can be named (a person
/// added, faces added, an own threshold set, a rename, a face removed, a person removed) and
/// with nothing else (last-seen times, keys, audit entries, a purge of sightings), and the
/// change feed reports exactly the former.
pub(crate) fn the_roster_version_counts_only_who_can_be_named(g: &dyn whoisit::gallery::Gallery) {
    use std::time::Duration;
    use whoisit::gallery::{Actor, AuditAction, OwnThreshold, Scope, ThresholdChange};

    let feed = g.watch().unwrap();
    let quiet = |what: &str| {
        assert!(
            feed.changes()
                .recv_timeout(Duration::from_millis(800))
                .is_err(),
            "{what} was reported as a change of the roster"
        );
    };
    let heard = |what: &str| {
        assert!(
            feed.changes().recv_timeout(Duration::from_secs(5)).is_ok(),
            "{what} was not reported"
        );
        // Several changes close together may arrive as one: let the feed settle.
        while feed
            .changes()
            .recv_timeout(Duration::from_millis(600))
            .is_ok()
        {}
    };
    let mut version = g.roster_version().unwrap();
    let mut grew = |what: &str, g: &dyn whoisit::gallery::Gallery| {
        let now = g.roster_version().unwrap();
        assert!(now > version, "{what}: the version stayed at {version}");
        version = now;
    };

    let (ann, _) = g.create_person("Ann", &[face(0.1, "a")], &cli()).unwrap();
    grew("a person enrolled", g);
    heard("a person enrolled");
    let added = g.add_faces_to(ann, &[face(0.2, "b")], &cli()).unwrap();
    grew("a face added", g);
    heard("a face added");

    let before = g.roster_version().unwrap();
    sightings::seen(g, ann);
    g.add_key("door", &[Scope::Recognize], &"1".repeat(64), &cli())
        .unwrap();
    g.revoke_key("door", &cli()).unwrap();
    g.record(AuditAction::Export, "to nowhere", &cli()).unwrap();
    g.purge_sightings(&sightings::EVERYTHING, &Actor::purge())
        .unwrap();
    assert_eq!(
        g.roster_version().unwrap(),
        before,
        "a sighting, a key, an audit entry or a purge changed the roster's version"
    );
    quiet("a sighting, a key, an audit entry or a purge");

    let own = OwnThreshold {
        threshold: 0.5,
        embedder: EmbedderKind::Dlib.id(),
    };
    g.set_own_thresholds(
        &[ThresholdChange {
            person: ann,
            own: Some(own),
        }],
        &cli(),
    )
    .unwrap();
    grew("an own threshold set", g);
    heard("an own threshold set");
    g.rename(ann, "Anna", &cli()).unwrap();
    grew("a rename", g);
    heard("a rename");
    g.remove_face(ann, added[0], &cli()).unwrap();
    grew("a face removed", g);
    heard("a face removed");
    g.remove(ann, &cli()).unwrap();
    grew("a person removed", g);
    heard("a person removed");
}

/// The most memory process `pid` has held so far (its peak resident set), in MiB.
pub(crate) fn peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib >> 10
}
