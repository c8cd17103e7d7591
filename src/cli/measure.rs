//! `eval`, `calibrate` and `bench`: measurement built into the product.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use clap::Args;
use serde::Serialize;

use crate::base::files::read_limited;
use crate::base::identity::EmbedderKind;
use crate::base::identity::Enrolled;
use crate::base::image::Encoding;
use crate::config::Config;
use crate::config::settings::Settings;
use crate::gallery::GroupSettings;
use crate::gallery::{Actor, AuditAction, Gallery, OwnThreshold, ThresholdChange};
use crate::measure::bench::{self, BenchOptions, BenchReport};
use crate::measure::eval::{
    self, Calibration, EvalOptions, Evaluation, FewFaces, PerPerson, Strangers,
};
use crate::measure::load::{self, LoadOptions};
use crate::measure::metrics::{
    self, AtThreshold, Distances, Identification, RocPoint, Verification,
};
use crate::measure::personal::{self, Held, KeepsGlobal, PersonCalibration, Proposal};
use crate::measure::plot::{self, Marker};
#[cfg(feature = "streams")]
use crate::measure::streams::{self, StreamBenchOptions};
use crate::measure::video::Route;

use super::detection::DetectionArgs;
use super::progress::{Bar, CountBar};
use super::video::Clip;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("data")
    .required(true)
    .args(["dataset", "sample", "video", "video_sample", "first_looks_sample", "detection"]))]
pub(super) struct EvalArgs {
    /// A folder of people: DIR/<person>/<photo>, one folder per person.
    #[arg(long, value_name = "DIR")]
    dataset: Option<PathBuf>,
    /// Evaluate on dlib's labelled sample (5 people x 11 photos), downloaded once from
    /// Debian's dlib source package and checked by sha256.
    #[arg(long)]
    sample: bool,
    /// Photos enrolled per person: the first ones (by file name) that pass the enrollment
    /// quality gate. The person's other photos test recognition.
    #[arg(long, default_value_t = 3, value_name = "K")]
    enroll_per_person: usize,
    /// People held out as strangers, never enrolled: a number (2) or a fraction (0.2, 20%).
    /// Rounds repeat until every person has been a stranger once.
    #[arg(long, default_value = "0.2", value_name = "N|FRACTION")]
    strangers: Strangers,
    /// Evaluate these embedders on the same photos and compare them (default: the configured
    /// one). An embedder whose models cannot be had is reported and skipped.
    #[arg(long, value_enum, value_delimiter = ',', value_name = "EMBEDDER,...")]
    compare: Vec<EmbedderKind>,
    /// Also identify with per-person thresholds: in each round, every enrolled person with
    /// enough enrolled photos gets their own threshold from those photos alone (as
    /// `calibrate --per-person` would), and the figures are shown beside the global
    /// threshold's, for the same probes.
    #[arg(long)]
    per_person: bool,
    /// Instead of photos, a clip (video file or image pattern) played through the live
    /// pipeline frame by frame, scored against --truth: per stretch of frames, faces shown,
    /// frames named right, false accepts and frames until the first correct name.
    #[arg(long, value_name = "CLIP", requires = "truth")]
    video: Option<String>,
    /// With --video: who is in view, a line per stretch of frames: `FIRST-LAST NAME`, or
    /// `FIRST-LAST nobody` where only strangers are (frames from 0, both ends included; `#`
    /// starts a comment).
    #[arg(long, value_name = "FILE", requires = "video")]
    truth: Option<PathBuf>,
    /// With --video: match against people enrolled afresh from DIR/<person>/<photo> in a
    /// throwaway gallery, instead of the gallery.
    #[arg(long, value_name = "DIR", requires = "video")]
    enroll: Option<PathBuf>,
    /// Make a sample clip from dlib's johns set into --out (johns.avi, johns.truth and the
    /// enroll/ folder: three people enrolled from one photo each, two strangers, a cut every
    /// second) and evaluate it as --video would.
    #[arg(long)]
    video_sample: bool,
    /// Make the first-looks clip from dlib's johns set into --out (first_looks.avi,
    /// first_looks.truth and enroll/: three people enrolled from one photo each, then each of
    /// their other photos in a half-second shot of its own, a stranger's between) and evaluate
    /// it as --video would: how many frames a new shot of somebody enrolled from one photo
    /// waits for its first correct name (median and mean), frames named, false accepts.
    #[arg(long)]
    first_looks_sample: bool,
    /// With --dataset or --sample: instead of recognition, group every photo as an unknown
    /// sighting into visitors (sightings.visitors) at several settings, and print each's
    /// groups, purity, completeness and the share of photos grouped.
    #[arg(long)]
    visitors: bool,
    /// With --video, --video-sample or --first-looks-sample: recognise the clip as a camera agent and a recognition
    /// worker do (`whoisit camera` and `whoisit worker`), through the Redis at --redis, under
    /// PREFIX:eval-PID (deleted afterwards), instead of in this process; the agent waits for each frame's
    /// answers, so every label comes one frame after its crop. Compare with the same command
    /// without it: the two should name the same frames, each cut's first name a frame later.
    #[arg(long)]
    distributed: bool,
    #[cfg(feature = "streams")]
    #[command(flatten)]
    streams: super::streams::StreamArgs,
    /// Where report.json and the plots go (with --video: video.json; with --video-sample or
    /// --first-looks-sample, the clip too).
    #[arg(long, default_value = "whoisit-eval", value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    detection: DetectionArgs,
}

#[derive(Debug, Args)]
pub(super) struct CalibrateArgs {
    /// The false-accept rate to aim for: the share of other people's faces a threshold may let
    /// through as someone enrolled.
    #[arg(long, default_value_t = 0.001, value_name = "RATE")]
    far: f64,
    /// Save the suggested threshold in the gallery's settings.ron, which the window and every
    /// command read (a --threshold flag still overrides it). With --per-person: store each
    /// person's proposed threshold in the gallery (audited), and clear it for people who keep
    /// the global one.
    #[arg(long)]
    apply: bool,
    /// Propose a threshold per person instead: midway between the 95th percentile of their
    /// own faces' leave-one-out distances and the nearest face of anyone else, held within
    /// calibration.per_person_max_tighten below and per_person_max_loosen above the global
    /// threshold. People with fewer than 3 faces, or alone in the gallery, keep the global one.
    #[arg(long)]
    per_person: bool,
    /// With --per-person: clear every person's own threshold, so that everyone is matched
    /// with the global one again.
    #[arg(long, requires = "per_person", conflicts_with = "apply")]
    clear: bool,
    /// Also draw the two distance distributions and both thresholds into this PNG.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(super) struct BenchArgs {
    /// The clip: video file, image pattern, camera index, URL, or "demo" (the built-in clip).
    #[arg(
        long,
        short,
        required_unless_present_any = ["server", "streams"],
        conflicts_with_all = ["server", "streams"]
    )]
    source: Option<String>,
    /// Instead of a clip, measure the distributed pipeline on the Redis at --redis: face crops
    /// of the demo clip answered by --workers in-process workers; prints faces per second,
    /// capture-to-answer p50/p95, bytes per face and Redis memory.
    #[arg(long, conflicts_with = "server")]
    streams: bool,
    /// With --streams: the numbers of workers to measure, one run each.
    // Parsed in every build, so that a build without streams says which feature to build with.
    #[cfg_attr(not(feature = "streams"), allow(dead_code))]
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2",
        value_name = "N,N,..."
    )]
    workers: Vec<usize>,
    /// With --streams: the Redis server [config: streams.redis].
    #[cfg_attr(not(feature = "streams"), allow(dead_code))]
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Instead of a clip, load a running `whoisit serve` at this URL: POST /v1/recognize with
    /// --photo from --clients clients at once, for --seconds each; prints requests per second
    /// and p50/p99 latency.
    #[arg(long, value_name = "URL", requires = "photo")]
    server: Option<String>,
    /// With --server: the photo to send (JPEG or PNG).
    #[arg(long, value_name = "FILE")]
    photo: Option<PathBuf>,
    /// With --server: an API key with the scope recognize (also from WHOISIT_API_KEY).
    #[arg(
        long,
        env = "WHOISIT_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    key: Option<String>,
    /// With --server: how many clients at once, one run each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,4,16",
        value_name = "N,N,..."
    )]
    clients: Vec<usize>,
    /// Frames of the clip run through the pipeline as fast as it goes.
    #[arg(long, default_value_t = 300, value_name = "N")]
    frames: u64,
    /// Seconds of the clip played at its own rate through the window's loop (with --server:
    /// seconds of each run).
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    seconds: f64,
    /// Made-up faces in the gallery matched against (10 per person), to see how matching
    /// scales: try 10, 1000, 100000.
    #[arg(long, default_value_t = 100, value_name = "N")]
    gallery_size: usize,
}

/// `report.json` of `eval`.
#[derive(Serialize)]
struct EvalReport<'a> {
    evaluations: &'a [Evaluation],
    unavailable: &'a [Unavailable],
}

#[derive(Serialize)]
struct Unavailable {
    embedder: EmbedderKind,
    error: String,
}

pub(super) fn eval_cmd(config: &Config, args: &EvalArgs) -> Result<()> {
    if args.detection.detection {
        return super::detection::detection_cmd(config, &args.detection);
    }
    args.detection.refuse_without_detection()?;
    let clip = match (
        args.video.clone().zip(args.truth.clone()),
        args.first_looks_sample,
    ) {
        (Some((clip, truth)), _) => Some(Clip::Given {
            clip,
            truth,
            enroll: args.enroll.clone(),
        }),
        (None, true) => Some(Clip::FirstLooks),
        (None, false) => args.video_sample.then_some(Clip::Sample),
    };
    if let Some(clip) = clip {
        #[cfg(feature = "streams")]
        let config = &args.streams.apply(config);
        let route = if args.distributed {
            Route::Streams
        } else {
            Route::Local
        };
        return super::video::eval_video_cmd(config, clip, route, &args.out);
    }
    eval_photos_cmd(config, args)
}

/// `eval --dataset` and `eval --sample`.
fn eval_photos_cmd(config: &Config, args: &EvalArgs) -> Result<()> {
    let dataset = match &args.dataset {
        Some(dir) => dir.clone(),
        None => eval::sample_dataset(config, &Bar::default())
            .context("downloading the sample dataset")?,
    };
    let options = EvalOptions {
        enroll_per_person: args.enroll_per_person,
        strangers: args.strangers,
        threshold: config.threshold,
        per_person: args.per_person.then_some(config.calibration),
    };
    let kinds = if args.compare.is_empty() {
        vec![config.embedder]
    } else {
        args.compare.clone()
    };
    // The user's gallery stays out of it: each embedder runs with an empty one.
    let scratch = tempfile::tempdir().context("cannot create a temporary directory")?;
    if args.visitors {
        return eval_visitors(config, &dataset, scratch.path());
    }
    let mut evaluations = Vec::new();
    let mut unavailable = Vec::new();
    for &kind in &kinds {
        match evaluate_with(config, kind, scratch.path(), &dataset, &options) {
            Ok(evaluation) => evaluations.push(evaluation),
            Err(e) if kinds.len() > 1 => {
                eprintln!("{kind:?}: skipped: {e:#}");
                unavailable.push(Unavailable {
                    embedder: kind,
                    error: format!("{e:#}"),
                });
            }
            Err(e) => return Err(e),
        }
    }
    if evaluations.is_empty() {
        bail!("no embedder could be evaluated");
    }

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let roc_png = args.out.join("roc.png");
    let curves: Vec<(&str, &[RocPoint])> = evaluations
        .iter()
        .filter_map(|e| Some((e.embedder.as_str(), &e.verification.as_ref()?.roc[..])))
        .collect();
    let mut plots = Vec::new();
    if !curves.is_empty() {
        let title = format!("ROC and DET on {}", dataset_name(&dataset));
        plot::roc(&roc_png, &title, &curves)?;
        plots.push(roc_png);
    }
    for e in &evaluations {
        let png = args.out.join(format!("distances-{}.png", e.embedder));
        let title = format!("{} on {}", e.embedder, dataset_name(&dataset));
        plot::distances(
            &png,
            &title,
            &e.distances,
            &[Marker {
                label: "threshold",
                at: e.threshold,
            }],
        )?;
        plots.push(png);
    }
    let report_path = args.out.join("report.json");
    let report = EvalReport {
        evaluations: &evaluations,
        unavailable: &unavailable,
    };
    std::fs::write(&report_path, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", report_path.display()))?;

    print_evaluations(&evaluations);
    println!("\nreport: {}", report_path.display());
    for png in plots {
        println!("plot:   {}", png.display());
    }
    Ok(())
}

/// `eval --visitors`: how the photos group at each setting around the configured one.
fn eval_visitors(config: &Config, dataset: &Path, scratch: &Path) -> Result<()> {
    let embedded = embedded_with(config, config.embedder, scratch, dataset)?;
    println!(
        "{} photos of {} people ({} without a face), each grouped as one unknown sighting",
        embedded.photos,
        embedded.people.len(),
        embedded.undetected.len()
    );
    println!("MIN  DISTANCE  GROUPS  PURITY  COMPLETENESS  GROUPED");
    for min_sightings in [2, 3, 4] {
        for step in 0..=9u8 {
            let settings = GroupSettings {
                min_sightings,
                group_distance: 0.30 + 0.05 * f32::from(step),
            };
            let g = eval::group_photos(&embedded, &settings);
            println!(
                "{:>3}  {:>8.2}  {:>6}  {:>5.1}%  {:>11.1}%  {:>6.1}%",
                g.min_sightings,
                g.group_distance,
                g.groups,
                100.0 * g.purity,
                100.0 * g.completeness,
                100.0 * g.grouped
            );
        }
    }
    Ok(())
}

fn evaluate_with(
    config: &Config,
    kind: EmbedderKind,
    scratch: &Path,
    dataset: &Path,
    options: &EvalOptions,
) -> Result<Evaluation> {
    let embedded = embedded_with(config, kind, scratch, dataset)?;
    Ok(eval::evaluate(&embedded, options)?)
}

/// Every photo of `dataset` embedded by `kind`, with a gallery of its own in `scratch`.
fn embedded_with(
    config: &Config,
    kind: EmbedderKind,
    scratch: &Path,
    dataset: &Path,
) -> Result<eval::EmbeddedDataset> {
    let config = Config {
        embedder: kind,
        data_dir: Some(scratch.to_path_buf()),
        ..config.clone()
    };
    let mut pipeline = config.load_pipeline(&Bar::default())?;
    let bar = CountBar::new();
    let embedded = eval::embed_dataset(
        &mut pipeline,
        &config.enrollment,
        config.enroll_views,
        dataset,
        |done, total| bar.show(done, total),
    )?;
    Ok(embedded)
}

fn dataset_name(dir: &Path) -> String {
    dir.file_name().map_or_else(
        || dir.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{:.1}%", v * 100.0))
}

fn share(part: usize, whole: usize) -> String {
    let value = (whole > 0).then(|| part as f64 / whole as f64);
    format!("{} ({part}/{whole})", percent(value))
}

/// One row of a table: a label and one cell per embedder.
fn row(label: &str, cells: impl IntoIterator<Item = String>) {
    let cells: Vec<String> = cells.into_iter().map(|c| format!("{c:<28}")).collect();
    println!("{label:<34} {}", cells.join(" ").trim_end());
}

fn print_evaluations(evaluations: &[Evaluation]) {
    let Some(first) = evaluations.first() else {
        return;
    };
    println!(
        "{} people, {} photos in {}; {} enrolled per person; {} stranger(s) per round, {} round(s); threshold {:.2}\n",
        first.people,
        first.photos,
        first.dataset.display(),
        first.enroll_per_person,
        first.strangers_per_round,
        first.rounds,
        first.threshold
    );
    row("", each(evaluations, &|e| e.embedder.to_string()));
    row(
        "photos embedded (undetected)",
        each(evaluations, &|e| {
            format!("{} ({})", e.embedded, e.undetected.len())
        }),
    );
    print_identification(evaluations);
    print_verification(evaluations, first.threshold);
    for e in evaluations {
        print_details(e);
    }
}

/// One cell per embedder.
fn each(evaluations: &[Evaluation], f: &dyn Fn(&Evaluation) -> String) -> Vec<String> {
    evaluations.iter().map(f).collect()
}

fn print_identification(evaluations: &[Evaluation]) {
    let id = |f: &dyn Fn(&Identification) -> String| each(evaluations, &|e| f(&e.identification));
    println!("identification");
    row(
        "  enrolled people recognised",
        id(&|i| share(i.correct, i.enrolled_probes)),
    );
    row(
        "  taken for someone else",
        id(&|i| share(i.wrong_person, i.enrolled_probes)),
    );
    row(
        "  said unknown",
        id(&|i| share(i.rejected, i.enrolled_probes)),
    );
    row(
        "  strangers rejected as unknown",
        id(&|i| share(i.strangers_rejected, i.stranger_probes)),
    );
    if evaluations.iter().all(|e| e.per_person.is_none()) {
        return;
    }
    let own = |f: &dyn Fn(&PerPerson) -> String| {
        each(evaluations, &|e| {
            e.per_person.as_ref().map_or_else(|| "-".into(), f)
        })
    };
    println!(
        "identification with per-person thresholds (calibrated on each round's enrolled photos)"
    );
    row(
        "  own thresholds (kept global)",
        own(&|p| {
            let low = p.thresholds.iter().copied().reduce(f32::min);
            let high = p.thresholds.iter().copied().reduce(f32::max);
            let range = low
                .zip(high)
                .map_or_else(String::new, |(l, h)| format!(" {l:.3}-{h:.3}"));
            format!("{} ({}){range}", p.thresholds.len(), p.kept_global)
        }),
    );
    row(
        "  enrolled people recognised",
        own(&|p| share(p.identification.correct, p.identification.enrolled_probes)),
    );
    row(
        "  taken for someone else",
        own(&|p| {
            share(
                p.identification.wrong_person,
                p.identification.enrolled_probes,
            )
        }),
    );
    row(
        "  said unknown",
        own(&|p| share(p.identification.rejected, p.identification.enrolled_probes)),
    );
    row(
        "  strangers rejected as unknown",
        own(&|p| {
            share(
                p.identification.strangers_rejected,
                p.identification.stranger_probes,
            )
        }),
    );
}

fn print_verification(evaluations: &[Evaluation], threshold: f64) {
    let verification = |f: &dyn Fn(&Verification) -> String| {
        each(evaluations, &|e| {
            e.verification.as_ref().map_or_else(|| "-".into(), f)
        })
    };
    let at = |f: &dyn Fn(&AtThreshold) -> String| verification(&|v| f(&v.at_threshold));
    println!("verification, all pairs");
    row(
        "  pairs: genuine / impostor",
        verification(&|v| format!("{} / {}", v.genuine_pairs, v.impostor_pairs)),
    );
    row(
        "  median distance gen. / imp.",
        verification(&|v| format!("{:.3} / {:.3}", v.genuine_median, v.impostor_median)),
    );
    row(
        "  farthest gen. / nearest imp.",
        verification(&|v| format!("{:.3} / {:.3}", v.genuine_max, v.impostor_min)),
    );
    row(
        "  EER",
        verification(&|v| format!("{} at {:.3}", percent(Some(v.eer.rate)), v.eer.threshold)),
    );
    for (i, target) in metrics::FAR_TARGETS.iter().enumerate() {
        row(
            &format!("  TAR at FAR {target:.0e}"),
            verification(&|v| {
                let t = &v.tar_at_far[i];
                let note = if t.measurable {
                    String::new()
                } else {
                    format!(" (FAR 0: too few pairs for {target:.0e})")
                };
                format!("{}{note}", percent(Some(t.tar)))
            }),
        );
    }
    println!("at the threshold {threshold:.2}");
    row(
        "  FAR / FRR",
        at(&|t| format!("{} / {}", percent(Some(t.far)), percent(Some(t.frr)))),
    );
    row("  accuracy", at(&|t| percent(Some(t.accuracy))));
    row(
        "  precision / recall",
        at(&|t| format!("{} / {}", percent(t.precision), percent(Some(t.recall)))),
    );
    row(
        "  specificity / F1",
        at(&|t| format!("{} / {}", percent(Some(t.specificity)), percent(t.f1))),
    );
}

/// Who was taken for whom, what was not detected, and the warnings, of one embedder.
fn print_details(e: &Evaluation) {
    let mistakes = e.identification.mistakes();
    if !mistakes.is_empty() {
        println!("\n{}: who was taken for whom (all rounds)", e.embedder);
        for m in mistakes.iter().take(15) {
            println!("  {:>4} x  {} -> {}", m.count, m.truth, m.answer);
        }
    }
    if !e.undetected.is_empty() {
        println!("\n{}: photos without a usable face", e.embedder);
        for u in &e.undetected {
            println!("  {}: {}", u.photo.display(), u.reason);
        }
    }
    if !e.several_faces.is_empty() {
        println!(
            "\n{}: {} photo(s) show several faces; the largest was used",
            e.embedder,
            e.several_faces.len()
        );
    }
    for warning in &e.warnings {
        println!("warning: {warning}");
    }
}

pub(super) fn calibrate_cmd(config: &Config, args: &CalibrateArgs) -> Result<()> {
    if !(args.far > 0.0 && args.far < 1.0) {
        bail!(
            "--far must be a rate between 0 and 1, such as 0.001, not {}",
            args.far
        );
    }
    let data_dir = config.data_dir()?;
    let gallery = config.open_gallery()?;
    if args.clear {
        return clear_own_thresholds(gallery.as_ref());
    }
    // The embedder's id without loading its models: the gallery files embeddings under it.
    let embedder = config.embedder.id();
    let entries = gallery.embeddings(&embedder)?;
    if entries.is_empty() {
        bail!(
            "the gallery {} has no faces embedded by {embedder}: enroll people first (`whoisit enroll`), or run `whoisit gallery reembed`",
            gallery.location()
        );
    }
    if args.per_person {
        return calibrate_per_person(config, gallery.as_ref(), &entries, args.apply);
    }
    let c = eval::calibrate(&embedder, &entries, config.threshold, args.far);
    println!(
        "{}: {} people, {} faces ({embedder})",
        gallery.location(),
        c.people,
        c.faces
    );
    for FewFaces { name, faces } in &c.too_few_faces {
        eprintln!(
            "warning: {name} has {faces} face(s); with fewer than {} a person's own distances say little. Enroll more captures of {name}.",
            personal::MIN_FACES_TO_JUDGE
        );
    }
    let (Some(current), Some(suggested), Some(threshold)) =
        (&c.current, &c.suggested, c.suggested_threshold)
    else {
        bail!(
            "calibration needs at least two people and a person with two faces or more: enroll more people and captures"
        );
    };
    print_calibration(&c, current, suggested, threshold, args.far);
    if let Some(path) = &args.plot {
        plot::distances(
            path,
            &format!("{embedder}: your gallery, leave-one-out"),
            &c.distances,
            &[
                Marker {
                    label: "current",
                    at: c.current_threshold,
                },
                Marker {
                    label: "suggested",
                    at: threshold,
                },
            ],
        )?;
        println!("plot: {}", path.display());
    }
    if args.apply {
        let saved = apply_threshold(&data_dir, &c, threshold)?;
        let detail = format!(
            "{:.3} -> {saved:.3} (calibrate --apply)",
            c.current_threshold
        );
        if let Err(e) = gallery.record(AuditAction::Threshold, &detail, &Actor::cli()) {
            tracing::warn!(
                "the threshold change is not in the audit trail: {}",
                e.report()
            );
        }
    } else {
        println!("run again with --apply to use {threshold:.3} from now on");
    }
    Ok(())
}

/// `calibrate --per-person`: the table, and with `apply` the thresholds stored.
fn calibrate_per_person(
    config: &Config,
    gallery: &dyn Gallery,
    entries: &[Enrolled],
    apply: bool,
) -> Result<()> {
    let embedder = config.embedder.id();
    let people = personal::calibrate_people(entries, config.threshold, config.calibration);
    println!(
        "{}: {} people, {} faces ({embedder}); global threshold {:.3}, own ones held within {:.3}-{:.3}",
        gallery.location(),
        people.len(),
        entries.len(),
        config.threshold,
        config.threshold - config.calibration.per_person_max_tighten,
        config.threshold + config.calibration.per_person_max_loosen,
    );
    print_personal(&people);
    // Every entry comes from the gallery, so everyone has an id.
    let changes: Vec<ThresholdChange> = people
        .iter()
        .filter_map(|p| {
            Some(ThresholdChange {
                person: p.id?,
                own: p.proposal.threshold().map(|threshold| OwnThreshold {
                    threshold,
                    embedder: embedder.clone(),
                }),
            })
        })
        .collect();
    let own = changes.iter().filter(|c| c.own.is_some()).count();
    if apply {
        gallery.set_own_thresholds(&changes, &Actor::cli())?;
        println!(
            "stored {own} own threshold(s) in {}; the others use the global one. A running whoisit uses them at once; `whoisit calibrate --per-person --clear` undoes it",
            gallery.location()
        );
    } else {
        println!("run again with --apply to store these {own} own threshold(s)");
    }
    Ok(())
}

/// One row per person: faces, spread, nearest impostor, proposal.
fn print_personal(people: &[PersonCalibration]) {
    let width = people
        .iter()
        .map(|p| p.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(4);
    let distance = |d: Option<f64>| d.map_or_else(|| "-".to_owned(), |d| format!("{d:.3}"));
    println!(
        "{:<width$}  {:>5}  {:>11}  {:>11}  {:>16}  PROPOSED",
        "NAME", "FACES", "GENUINE MAX", "GENUINE P95", "NEAREST IMPOSTOR"
    );
    for p in people {
        let proposed = match p.proposal {
            Proposal::Own {
                threshold,
                midpoint,
                held,
            } => match held {
                None => format!("{threshold:.3} (own)"),
                Some(Held::Loosest) => {
                    format!("{threshold:.3} (own; midpoint {midpoint:.3}, held at the loosest)")
                }
                Some(Held::Tightest) => {
                    format!("{threshold:.3} (own; midpoint {midpoint:.3}, held at the tightest)")
                }
            },
            Proposal::Global {
                reason: KeepsGlobal::TooFewFaces,
            } => format!("global (fewer than {} faces)", personal::MIN_FACES_TO_JUDGE),
            Proposal::Global {
                reason: KeepsGlobal::NobodyElse,
            } => "global (nobody else to tell apart)".to_owned(),
        };
        println!(
            "{:<width$}  {:>5}  {:>11}  {:>11}  {:>16}  {proposed}",
            p.name,
            p.faces,
            distance(p.genuine_max),
            distance(p.genuine_p95),
            distance(p.nearest_impostor),
        );
    }
}

/// `calibrate --per-person --clear`.
fn clear_own_thresholds(gallery: &dyn Gallery) -> Result<()> {
    let changes: Vec<ThresholdChange> = gallery
        .people()?
        .into_iter()
        .filter(|p| p.own_threshold.is_some())
        .map(|p| ThresholdChange {
            person: p.id,
            own: None,
        })
        .collect();
    gallery.set_own_thresholds(&changes, &Actor::cli())?;
    println!(
        "cleared {} own threshold(s) in {}: everyone is matched with the global one",
        changes.len(),
        gallery.location()
    );
    Ok(())
}

/// The distances, both thresholds and what they would do.
fn print_calibration(
    c: &Calibration,
    current: &Verification,
    suggested: &Verification,
    threshold: f64,
    far: f64,
) {
    println!(
        "genuine (leave-one-out, nearest own face): {} distances, median {:.3}",
        current.genuine_pairs, current.genuine_median
    );
    println!(
        "impostor (nearest face of each other person): {} distances, median {:.3}",
        current.impostor_pairs, current.impostor_median
    );
    println!();
    print!(
        "{}",
        text_histogram(&c.distances, &[c.current_threshold, threshold])
    );
    println!();
    let describe = |label: &str, t: &AtThreshold| {
        println!(
            "{label:<22} {:.3}: FAR {} ({} of {}), FRR {} ({} of {})",
            t.threshold,
            percent(Some(t.far)),
            t.false_accepts,
            t.false_accepts + t.true_rejects,
            percent(Some(t.frr)),
            t.false_rejects,
            t.false_rejects + t.true_accepts
        );
    };
    describe("current threshold", &current.at_threshold);
    describe("suggested threshold", &suggested.at_threshold);
    let finest = 1.0 / current.impostor_pairs as f64;
    if finest > far {
        println!(
            "note: {} impostor distances cannot measure a FAR of {} (the finest step is {finest:.1e}); the suggestion keeps every measured impostor out, halfway to the nearest one. More people give a firmer figure.",
            current.impostor_pairs, far
        );
    }
}

/// Saves the threshold, rounded; returns what was saved.
fn apply_threshold(data_dir: &Path, c: &Calibration, threshold: f64) -> Result<f32> {
    let mut settings = Settings::load(data_dir)?;
    // Rounded so the saved file reads well; 1e-3 is far below what the distances resolve.
    let rounded = ((threshold * 1000.0).round() / 1000.0) as f32;
    settings.threshold = Some(rounded);
    settings.save(data_dir)?;
    println!(
        "threshold {rounded:.3} (was {:.3}) saved to {}; whoisit uses it from its next start",
        c.current_threshold,
        Settings::path(data_dir).display()
    );
    Ok(rounded)
}

/// The two distributions side by side in the terminal, thresholds marked with `|`.
fn text_histogram(d: &Distances, marks: &[f64]) -> String {
    const BIN: f64 = 0.05;
    const WIDTH: usize = 30;
    let largest = d
        .genuine()
        .iter()
        .chain(d.impostor())
        .fold(0.0f64, |a, &b| a.max(b));
    let bins = (largest / BIN).floor() as usize + 1;
    let (genuine, impostor) = (
        metrics::histogram(d.genuine(), BIN, bins),
        metrics::histogram(d.impostor(), BIN, bins),
    );
    let bar = |n: usize, total: usize, c: char| {
        let len = (n as f64 / total.max(1) as f64 * WIDTH as f64 * 2.0).ceil() as usize;
        c.to_string().repeat(len.min(WIDTH))
    };
    let mut out = format!(
        "{:<11} {:<w$} {}\n",
        "distance",
        "genuine (#)",
        "impostor (=)",
        w = WIDTH + 1
    );
    for bin in 0..bins {
        let from = bin as f64 * BIN;
        let marked = marks.iter().any(|&m| m >= from && m < from + BIN);
        let cell = |counts: &[usize], total: usize, c: char| {
            format!("{} {}", bar(counts[bin], total, c), counts[bin])
        };
        let genuine_cell = cell(&genuine, d.genuine().len(), '#');
        out += &format!(
            "{from:.2}-{:.2}{} {genuine_cell:<w$} {}\n",
            from + BIN,
            if marked { "|" } else { " " },
            cell(&impostor, d.impostor().len(), '='),
            w = WIDTH + 1
        );
    }
    out
}

pub(super) fn bench_cmd(config: &Config, args: &BenchArgs) -> Result<()> {
    if !(args.seconds.is_finite() && args.seconds > 0.0) {
        bail!("--seconds must be a positive number, not {}", args.seconds);
    }
    if args.frames == 0 {
        bail!("--frames must be at least 1");
    }
    if args.streams {
        #[cfg(feature = "streams")]
        return bench_streams(config, args);
        #[cfg(not(feature = "streams"))]
        return Err(crate::Error::NotBuilt {
            feature: "streams",
            needed_by: "`whoisit bench --streams`",
        }
        .into());
    }
    let (Some(source), None) = (&args.source, &args.server) else {
        return bench_server(args);
    };
    let config = Config {
        source: source.clone(),
        ..config.clone()
    };
    let options = BenchOptions {
        frames: args.frames,
        seconds: args.seconds,
        gallery_size: args.gallery_size,
    };
    eprintln!(
        "bench: {} frames as fast as they go, then {} s at the clip's rate ...",
        args.frames, args.seconds
    );
    let report = bench::run(&config, &options, &Bar::default())?;
    print_bench(&report);
    println!(
        "{}",
        serde_json::to_string(&serde_json::json!({ "bench": report }))?
    );
    Ok(())
}

/// `bench --streams`: the distributed pipeline.
#[cfg(feature = "streams")]
fn bench_streams(config: &Config, args: &BenchArgs) -> Result<()> {
    if args.workers.is_empty() || args.workers.contains(&0) {
        bail!("--workers must be numbers of at least 1, such as 1,2");
    }
    let mut config = config.clone();
    if let Some(redis) = &args.redis {
        config.streams.redis.clone_from(redis);
    }
    let options = StreamBenchOptions {
        workers: args.workers.clone(),
        faces: args.frames as usize,
        seconds: args.seconds,
    };
    eprintln!(
        "bench: {} faces through the streams as fast as they go, then {} s at half that rate, for {:?} workers ...",
        options.faces, options.seconds, options.workers
    );
    let report = streams::run(&config, &options, &Bar::default())?;
    println!(
        "{} crops of the demo clip; {:.0} bytes per face on the stream, {:.0} in Redis; an answer {:.0} bytes in Redis",
        report.crops,
        report.bytes_per_face,
        report.redis_bytes_per_face,
        report.redis_bytes_per_answer
    );
    println!(
        "Redis at steady state (streams at max_pending_faces and max_results): {:.1} MiB",
        report.steady_state_mib
    );
    for run in &report.runs {
        println!(
            "{} worker(s): {:.1} faces/s; at {:.1} faces/s capture-to-answer p50 {:.0} ms, p95 {:.0} ms",
            run.workers,
            run.faces_per_second,
            run.offered_per_second,
            run.latency_ms.median,
            run.latency_ms.p95
        );
    }
    println!(
        "{}",
        serde_json::to_string(&serde_json::json!({ "bench_streams": report }))?
    );
    Ok(())
}

/// `bench --server`: load on a running server.
fn bench_server(args: &BenchArgs) -> Result<()> {
    let (Some(url), Some(photo)) = (&args.server, &args.photo) else {
        bail!("give --server URL and --photo FILE, or --source for a clip");
    };
    if args.clients.is_empty() || args.clients.contains(&0) {
        bail!("--clients must be numbers of at least 1, such as 1,4,16");
    }
    let bytes = read_limited(photo, 64 << 20, "a photo to send is at most 64 MiB")?;
    let content_type = match Encoding::sniff(&bytes) {
        Some(Encoding::Jpeg) => "image/jpeg",
        Some(Encoding::Png) => "image/png",
        None => bail!("{} is not a JPEG or PNG", photo.display()),
    };
    let options = LoadOptions {
        url: url.clone(),
        key: args.key.clone(),
        photo: bytes,
        content_type,
        clients: args.clients.clone(),
        seconds: args.seconds,
    };
    eprintln!(
        "bench: POST {url}/v1/recognize with {} from {:?} clients, {} s each ...",
        photo.display(),
        args.clients,
        args.seconds
    );
    let runs = load::run(&options)?;
    println!("clients  requests/s     p50 ms     p99 ms   answered  busy(503)  failed");
    for r in &runs {
        println!(
            "{:>7}  {:>10.1}  {:>9.1}  {:>9.1}  {:>9}  {:>9}  {:>6}",
            r.clients, r.requests_per_second, r.p50_ms, r.p99_ms, r.answered, r.busy, r.failed
        );
    }
    println!(
        "{}",
        serde_json::to_string(&serde_json::json!({ "server_bench": runs }))?
    );
    Ok(())
}

/// A measured figure with its unit, or why there is none.
fn figure(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(|| "(not measured)".into(), |v| format!("{v:.1} {unit}"))
}

fn print_bench(r: &BenchReport) {
    let t = &r.throughput;
    let a = &r.app_loop;
    println!(
        "source {}  embedder {}  gallery {} faces (loaded in {:.1} ms)",
        r.source, r.embedder, r.gallery_faces, r.gallery_load_ms
    );
    println!(
        "pipeline, every frame as fast as it goes: {} frames in {:.1} s = {:.1} fps; {} faces, {} embedded",
        t.frames, t.seconds, t.processed_fps, t.faces, t.embedded
    );
    println!("  {:<8} {:>10} {:>10}", "stage", "median ms", "p95 ms");
    for stage in ["decode", "detect", "align", "embed", "match"] {
        match t.stages_ms.get(stage) {
            Some(s) => println!("  {stage:<8} {:>10.2} {:>10.2}", s.median, s.p95),
            None => println!("  {stage:<8} {:>10} {:>10}", "-", "-"),
        }
    }
    println!(
        "  (align, embed, match: over the frames that embedded a face; tracked faces are not re-embedded every frame)"
    );
    let count = |how: &str| t.searched.get(how).copied().unwrap_or(0);
    println!(
        "  frames searched whole {}, followed {}, skipped {}; CPU {} per frame",
        count("whole"),
        count("followed"),
        count("skipped"),
        figure(t.cpu_ms_per_frame, "ms")
    );
    println!(
        "window loop, clip at its own rate: {:.1} s, {} frames read; display {:.1} fps; recognition {:.1} results/s ({} frames skipped by recognition)",
        a.seconds, a.frames_read, a.display_fps, a.recognition_fps, a.skipped_by_recognition
    );
    println!(
        "  capture-to-result latency {:.1} ms median, {:.1} ms p95; CPU {} of one core",
        a.latency_ms.median,
        a.latency_ms.p95,
        figure(a.cpu_percent, "%")
    );
    let e = &r.arrival;
    println!(
        "empty room at 30 fps, then somebody enrolled walks in ({:.1} s): CPU {} of one core while empty; named {} after the face's first frame",
        e.seconds,
        figure(e.empty_cpu_percent, "%"),
        figure(e.first_label_ms, "ms")
    );
    match r.peak_memory_mib {
        Some(mib) => println!("peak memory {mib:.1} MiB"),
        None => println!("peak memory: not available on this system"),
    }
}
