//! The `whoisit` command line. Parsing and printing live here; the work is in the library.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::capture::Source;
use crate::config::{Config, EmbedderKind};
use crate::enroll::Enrollment;
use crate::fetch::{Progress, Status};
use crate::gallery::Gallery;
use crate::pipeline::Pipeline;
use crate::recognize::{self, RunOptions};
use crate::settings::Settings;
use crate::ui;
use crate::{demo, enroll, models};

mod measure;

/// Real-time face recognition at a webcam.
///
/// whoisit finds every face in a video source (OpenCV's SSD detector), aligns it with dlib
/// landmarks, turns it into 128 numbers (dlib's ResNet or OpenFace) and names the nearest
/// enrolled person, or says "unknown" when nobody enrolled is within the threshold.
///
/// Without a command it opens the window on the configured source (camera 0 by default), or on
/// a built-in demo clip when that camera does not open. In the window: Enroll (type a name,
/// press Enter, then space to capture), People, Settings.
#[derive(Debug, Parser)]
#[command(name = "whoisit", version, propagate_version = true, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    global: Global,
}

/// How the window runs (no command).
#[derive(Debug, Args, Default)]
struct WindowArgs {
    /// Source to show instead of the configured one: camera index, video file, image pattern,
    /// URL, or "demo" [config: source].
    #[arg(long, short)]
    source: Option<String>,
    /// Fullscreen kiosk: large labels, greetings, no admin panels; Escape does not quit, the
    /// configured exit chord (Ctrl+Shift+Q by default) and PIN do [config: window.kiosk].
    #[arg(long)]
    kiosk: bool,
    /// Close the window after this many seconds (benchmarks, smoke tests).
    #[arg(long, value_name = "SECONDS")]
    run_for: Option<f64>,
    /// With --run-for: write display fps, recognition fps, capture-to-label latency and
    /// memory samples to this JSON file.
    #[arg(long, value_name = "FILE", requires = "run_for")]
    report: Option<PathBuf>,
}

const EXAMPLES: &str = "Examples:
  whoisit                                       the window, on camera 0 or the demo
  whoisit --kiosk                               fullscreen kiosk (exit: Ctrl+Shift+Q)
  whoisit models fetch                          download and verify the models
  whoisit enroll --name \"Ada\" ada1.jpg ada2.jpg  enroll a person from photos
  whoisit enroll --dir people/                  enroll people/<name>/*.jpg
  whoisit recognize --source clip.avi --headless   JSON lines, one per frame
  whoisit demo --headless                       the built-in demo, no camera needed
  whoisit eval --sample                         accuracy on a labelled sample dataset
  whoisit calibrate --apply                     a threshold fitted to your gallery
  whoisit bench --source demo                   speed, stage by stage

Configuration: config/default.ron documents every field; put overrides in
~/.config/whoisit/config.ron or pass --config FILE. Logs: RUST_LOG=whoisit=debug.";

/// Options every command takes; they override the config files.
#[derive(Debug, Args)]
struct Global {
    /// Config file (RON) to use instead of ~/.config/whoisit/config.ron.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory of model files [config: model_dir].
    #[arg(long, global = true, value_name = "DIR")]
    model_dir: Option<PathBuf>,
    /// Directory of the gallery of enrolled people [config: data_dir].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Largest embedding distance still taken as the same person [config: threshold, 0.55].
    #[arg(
        long,
        global = true,
        value_name = "DISTANCE",
        allow_negative_numbers = true
    )]
    threshold: Option<f32>,
    /// Embedder to use [config: embedder, dlib].
    #[arg(long, global = true, value_enum)]
    embedder: Option<EmbedderKind>,
    /// Show debug logs (RUST_LOG overrides).
    #[arg(short, long, global = true)]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Recognise faces in a video source.
    Recognize(RecognizeArgs),
    /// Enroll a person from photos, or everyone in a dataset folder.
    Enroll(EnrollArgs),
    /// List, add, import, rename and remove enrolled people.
    #[command(subcommand)]
    People(PeopleCommand),
    /// Export, import, check and re-embed the gallery of enrolled faces.
    #[command(subcommand)]
    Gallery(GalleryCommand),
    /// Download, verify and list the model files.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Run the built-in demo: a clip made from real photos, one person enrolled.
    Demo(DemoArgs),
    /// Measure accuracy on a labelled dataset: identification, verification (ROC, EER, TAR at
    /// FAR), faces missed; writes report.json and PNG plots.
    Eval(measure::EvalArgs),
    /// Suggest a threshold from your own gallery (leave-one-out) for a target false-accept
    /// rate; --apply saves it.
    Calibrate(measure::CalibrateArgs),
    /// Measure speed on a clip: time per stage, fps, display fps, latency, memory.
    Bench(measure::BenchArgs),
}

#[derive(Debug, Args)]
struct RecognizeArgs {
    /// Camera index (0), video file (clip.avi), image pattern (frames/%04d.png) or URL
    /// [config: source].
    #[arg(long, short)]
    source: Option<String>,
    /// Print one JSON line per processed frame and a summary line, instead of a window.
    #[arg(long)]
    headless: bool,
    /// Play a file at its own frame rate and drop frames the pipeline has no time for, as with a
    /// camera. Without it every frame of a file is processed.
    #[arg(long)]
    realtime: bool,
    /// Stop after this many processed frames.
    #[arg(long, value_name = "N")]
    max_frames: Option<u64>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Print JSON lines instead of opening a window.
    #[arg(long)]
    headless: bool,
    /// Stop after this many processed frames.
    #[arg(long, value_name = "N")]
    max_frames: Option<u64>,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["name", "dir"]))]
struct EnrollArgs {
    /// The person's name (new or existing); the photos follow.
    #[arg(long, requires = "photos")]
    name: Option<String>,
    /// Photos of the person, one face each. If any fails, nothing is enrolled.
    #[arg(value_name = "PHOTO")]
    photos: Vec<PathBuf>,
    /// A dataset folder: DIR/<person>/<photo>. Photos without a usable face are skipped.
    #[arg(long, conflicts_with = "name", value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum PeopleCommand {
    /// Everyone enrolled: faces, when last recognised, when enrolled.
    List,
    /// Enroll a person (new or existing) from photos; all or nothing.
    Add {
        name: String,
        #[arg(required = true, value_name = "PHOTO")]
        photos: Vec<PathBuf>,
    },
    /// Enroll everyone of DIR/<person>/<photo>; running it again adds nothing twice.
    Import {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Give an enrolled person another name.
    Rename { old: String, new: String },
    /// Delete a person with all their faces, embeddings and images.
    Remove { name: String },
}

#[derive(Debug, Subcommand)]
enum GalleryCommand {
    /// Write every person, face, embedding and image to a portable JSON file (format:
    /// "whoisit-gallery" version 1, see src/gallery.rs `ExportFile`).
    Export {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Add the people of an export file; faces already present are skipped. All or nothing.
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Check the gallery's integrity; exits non-zero when something is wrong.
    Check,
    /// Compute embeddings for the configured embedder from the stored face images.
    Reembed,
}

#[derive(Debug, Subcommand)]
enum ModelsCommand {
    /// Download the models the configured embedder needs (all with --all); checks sha256 and
    /// replaces missing or corrupt files. Safe to run again.
    Fetch {
        /// Fetch every model of the manifest, for both embedders.
        #[arg(long)]
        all: bool,
    },
    /// Show each model as present, missing or corrupt.
    List,
}

/// Parses the command line and runs it.
pub fn main() -> Result<()> {
    let cli = Cli::parse();
    init_logging(cli.global.verbose);
    // OpenCV's own warnings (GStreamer, V4L2 probing) bury whoisit's messages, which say the
    // same thing with what to do. `-v` or OPENCV_LOG_LEVEL brings them back.
    if !cli.global.verbose && std::env::var_os("OPENCV_LOG_LEVEL").is_none() {
        opencv::core::set_log_level(opencv::core::LogLevel::LOG_LEVEL_ERROR)?;
    }
    let config = load_config(&cli.global)?;
    match cli.command {
        None => window(config, cli.window),
        Some(Command::Recognize(args)) => recognize_cmd(&config, args),
        Some(Command::Enroll(args)) => enroll_cmd(&config, args),
        Some(Command::People(cmd)) => people_cmd(&config, cmd),
        Some(Command::Gallery(cmd)) => gallery_cmd(&config, cmd),
        Some(Command::Models(cmd)) => models_cmd(&config, cmd),
        Some(Command::Demo(args)) => demo_cmd(&config, &args),
        Some(Command::Eval(args)) => measure::eval_cmd(&config, &args),
        Some(Command::Calibrate(args)) => measure::calibrate_cmd(&config, &args),
        Some(Command::Bench(args)) => measure::bench_cmd(&config, &args),
    }
}

fn init_logging(verbose: bool) {
    let default = if verbose {
        "whoisit=debug"
    } else {
        "whoisit=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn load_config(global: &Global) -> Result<Config> {
    let mut config = Config::load(global.config.as_deref())?;
    if let Some(dir) = &global.model_dir {
        config.model_dir = Some(dir.clone());
    }
    if let Some(dir) = &global.data_dir {
        config.data_dir = Some(dir.clone());
    }
    // What the window's settings panel saved comes between the config files and the flags.
    Settings::load(&config.data_dir()?)?.apply(&mut config);
    if let Some(threshold) = global.threshold {
        if !(threshold.is_finite() && threshold > 0.0) {
            bail!("--threshold must be a positive number, not {threshold}");
        }
        config.threshold = threshold;
    }
    if let Some(embedder) = global.embedder {
        config.embedder = embedder;
    }
    Ok(config)
}

/// Draws download progress on stderr; indicatif hides it when stderr is not a terminal.
#[derive(Default)]
struct Bar(std::sync::Mutex<Option<indicatif::ProgressBar>>);

impl Progress for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        eprintln!("downloading {what}");
        let bar = indicatif::ProgressBar::with_draw_target(
            total,
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "  {bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
        ) {
            bar.set_style(style);
        }
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(bar);
        }
    }

    fn advance(&self, bytes: u64) {
        if let Ok(slot) = self.0.lock() {
            slot.iter().for_each(|bar| bar.inc(bytes));
        }
    }

    fn finish(&self) {
        if let Ok(mut slot) = self.0.lock() {
            slot.take()
                .iter()
                .for_each(indicatif::ProgressBar::finish_and_clear);
        }
    }
}

/// Progress through a known number of items (photos, faces) on stderr; cleared when dropped.
struct CountBar(indicatif::ProgressBar);

impl CountBar {
    fn new() -> CountBar {
        CountBar(indicatif::ProgressBar::with_draw_target(
            None,
            indicatif::ProgressDrawTarget::stderr(),
        ))
    }

    fn show(&self, done: usize, total: usize) {
        self.0.set_length(total as u64);
        self.0.set_position(done as u64);
    }
}

impl Drop for CountBar {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// No command: the window on the configured source, or on the demo when the configured camera
/// does not open.
fn window(mut config: Config, args: WindowArgs) -> Result<()> {
    let chose_source = args.source.is_some();
    if let Some(source) = args.source {
        config.source = source;
    }
    if let Some(seconds) = args.run_for
        && !(seconds.is_finite() && seconds > 0.0)
    {
        bail!("--run-for must be a positive number of seconds, not {seconds}");
    }
    let kiosk = args.kiosk || config.window.kiosk.enabled;
    ui::run(ui::Launch {
        settings_dir: config.data_dir()?,
        // A kiosk waits for its camera; a first run at a desk without one shows the demo.
        demo_if_no_camera: !chose_source && !kiosk,
        kiosk,
        run_for: args.run_for.map(std::time::Duration::from_secs_f64),
        report: args.report,
        config,
    })
}

fn recognize_cmd(config: &Config, args: RecognizeArgs) -> Result<()> {
    if !args.headless {
        return window(
            config.clone(),
            WindowArgs {
                source: args.source,
                ..WindowArgs::default()
            },
        );
    }
    let source: Source = args.source.as_deref().unwrap_or(&config.source).parse()?;
    let options = RunOptions {
        realtime: args.realtime,
        max_frames: args.max_frames,
    };
    run_source(config, &source, options)
}

/// Prints one JSON line per processed frame on stdout, then `{"summary": ...}`.
fn run_source(config: &Config, source: &Source, options: RunOptions) -> Result<()> {
    let pipeline = Pipeline::load(config, &Bar::default())?;
    let stdout = std::io::stdout();
    let summary = recognize::run(source, pipeline, options, |result| {
        let mut out = stdout.lock();
        serde_json::to_writer(&mut out, result)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .map_err(|e| crate::Error::io("stdout", e))
    })?;
    let mut out = stdout.lock();
    serde_json::to_writer(&mut out, &serde_json::json!({ "summary": summary }))?;
    writeln!(out)?;
    Ok(())
}

fn demo_cmd(config: &Config, args: &DemoArgs) -> Result<()> {
    if !args.headless {
        return window(
            config.clone(),
            WindowArgs {
                source: Some(ui::settings::DEMO.into()),
                ..WindowArgs::default()
            },
        );
    }
    let demo = demo::prepare(config, &Bar::default()).context("preparing the built-in demo")?;
    eprintln!(
        "demo: {} enrolled; clip {}",
        demo::KNOWN,
        demo.clip.display()
    );
    let config = Config {
        data_dir: Some(demo.data_dir),
        ..config.clone()
    };
    let options = RunOptions {
        realtime: true,
        max_frames: args.max_frames,
    };
    run_source(&config, &Source::File(demo.clip), options)
}

fn enroll_cmd(config: &Config, args: EnrollArgs) -> Result<()> {
    match (args.name, args.dir) {
        (Some(name), None) => add_person(config, &name, &args.photos),
        (None, Some(dir)) => import_dataset(config, &dir),
        _ => bail!("give --name NAME PHOTO... or --dir DIR"),
    }
}

fn add_person(config: &Config, name: &str, photos: &[PathBuf]) -> Result<()> {
    let mut pipeline = Pipeline::load(config, &Bar::default())?;
    let mut gallery = Gallery::open(&config.data_dir()?)?;
    let report = enroll::person(
        &mut pipeline,
        &mut gallery,
        &Enrollment::from_config(config),
        name,
        photos,
    )?;
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    let name = name.trim();
    println!(
        "enrolled {name}: {} face(s) added into {}",
        report.added,
        gallery.path().display()
    );
    Ok(())
}

fn import_dataset(config: &Config, dir: &std::path::Path) -> Result<()> {
    let mut pipeline = Pipeline::load(config, &Bar::default())?;
    let mut gallery = Gallery::open(&config.data_dir()?)?;
    let report = enroll::dataset(
        &mut pipeline,
        &mut gallery,
        &Enrollment::from_config(config),
        dir,
    )?;
    for (name, count) in &report.enrolled {
        println!("enrolled {name}: {count} face(s)");
    }
    for skipped in &report.skipped {
        eprintln!("skipped {skipped}");
    }
    for warning in &report.warnings {
        tracing::warn!("{warning}");
    }
    println!(
        "{} people enrolled into {}, {} photo(s) already enrolled, {} skipped",
        report.enrolled.len(),
        gallery.path().display(),
        report.unchanged,
        report.skipped.len()
    );
    if report.enrolled.is_empty() && report.unchanged == 0 {
        bail!("no face could be enrolled from {}", dir.display());
    }
    Ok(())
}

fn people_cmd(config: &Config, cmd: PeopleCommand) -> Result<()> {
    let open = || -> Result<Gallery> { Ok(Gallery::open(&config.data_dir()?)?) };
    match cmd {
        PeopleCommand::List => {
            let people = open()?.people()?;
            println!(
                "{:<30} {:>5}  {:<20} {:<20}",
                "NAME", "FACES", "LAST SEEN", "ENROLLED"
            );
            for p in &people {
                let last_seen = p
                    .last_seen
                    .map(format_time)
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:<30} {:>5}  {:<20} {:<20}",
                    p.name,
                    p.faces,
                    last_seen,
                    format_time(p.created)
                );
            }
            println!("{} people", people.len());
        }
        PeopleCommand::Add { name, photos } => add_person(config, &name, &photos)?,
        PeopleCommand::Import { dir } => import_dataset(config, &dir)?,
        PeopleCommand::Rename { old, new } => {
            open()?.rename(&old, &new)?;
            println!("renamed {old} to {}", new.trim());
        }
        PeopleCommand::Remove { name } => {
            let removed = open()?.remove(&name)?;
            println!(
                "removed {name}: {} face(s), {} embedding(s), {} image(s)",
                removed.faces, removed.embeddings, removed.images
            );
        }
    }
    Ok(())
}

fn gallery_cmd(config: &Config, cmd: GalleryCommand) -> Result<()> {
    let open = || -> Result<Gallery> { Ok(Gallery::open(&config.data_dir()?)?) };
    match cmd {
        GalleryCommand::Export { file } => {
            let export = open()?.export()?;
            let faces: usize = export.people.iter().map(|p| p.faces.len()).sum();
            let json = serde_json::to_vec_pretty(&export)?;
            // Written beside its final name, then renamed: a failed export never leaves half a file.
            let dir = file
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let mut staged = tempfile::NamedTempFile::new_in(dir)
                .with_context(|| format!("cannot write in {}", dir.display()))?;
            staged.write_all(&json)?;
            staged
                .persist(&file)
                .with_context(|| format!("cannot write {}", file.display()))?;
            println!(
                "exported {} people, {faces} face(s) to {}",
                export.people.len(),
                file.display()
            );
        }
        GalleryCommand::Import { file } => {
            let text =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let export: crate::gallery::ExportFile = serde_json::from_slice(&text)
                .with_context(|| format!("{} is not a whoisit gallery export", file.display()))?;
            let added = open()?.import(&export)?;
            println!(
                "imported {added} face(s) of {} people from {}",
                export.people.len(),
                file.display()
            );
        }
        GalleryCommand::Check => {
            let gallery = open()?;
            let report = gallery.check()?;
            println!(
                "{}: {} people, {} faces, {} embeddings",
                gallery.path().display(),
                report.people,
                report.faces,
                report.embeddings
            );
            if !report.problems.is_empty() {
                for problem in &report.problems {
                    eprintln!("problem: {problem}");
                }
                bail!("the gallery has {} problem(s)", report.problems.len());
            }
            println!("ok");
        }
        GalleryCommand::Reembed => {
            let mut pipeline = Pipeline::load(config, &Bar::default())?;
            let mut gallery = open()?;
            let bar = CountBar::new();
            let report = enroll::reembed(&mut pipeline, &mut gallery, |done, total| {
                bar.show(done, total)
            })?;
            drop(bar);
            println!(
                "{} face(s) embedded with {}",
                report.embedded,
                pipeline.embedder_id()
            );
            for failure in &report.failed {
                eprintln!("failed: {failure}");
            }
            if report.without_image > 0 {
                eprintln!(
                    "{} face(s) have no stored image (keep_images was off): enroll those people again",
                    report.without_image
                );
            }
        }
    }
    Ok(())
}

/// Unix seconds as UTC "YYYY-MM-DD HH:MM".
fn format_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm), to print dates without a date crate.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rem / 3_600,
        rem % 3_600 / 60
    )
}

fn models_cmd(config: &Config, cmd: ModelsCommand) -> Result<()> {
    let dir = config.model_dir()?;
    match cmd {
        ModelsCommand::Fetch { all } => {
            let wanted = if all {
                models::manifest()?
            } else {
                models::required(config.embedder)?
            };
            let fetched = models::fetch(&wanted, &dir, &Bar::default())?;
            println!(
                "{} model(s) fetched, {} already present, in {}",
                fetched,
                wanted.len() - fetched,
                dir.display()
            );
        }
        ModelsCommand::List => {
            let needed = models::required_ids(config.embedder);
            println!(
                "models in {} (embedder {:?}):",
                dir.display(),
                config.embedder
            );
            for (model, status) in models::statuses(&models::manifest()?, &dir)? {
                let state = match status {
                    Status::Present => "present".to_owned(),
                    Status::Missing => "missing".to_owned(),
                    Status::Corrupt { actual } => format!("CORRUPT ({actual})"),
                };
                let mark = if needed.contains(&model.id.as_str()) {
                    "*"
                } else {
                    " "
                };
                println!(
                    "{mark} {:<18} {:<9} {:>11} B  {}",
                    model.id, state, model.artifact.size, model.artifact.file
                );
            }
            println!("(* needed by the configured embedder)");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_print_as_utc_dates() {
        assert_eq!(super::format_time(0), "1970-01-01 00:00");
        assert_eq!(super::format_time(951_782_400), "2000-02-29 00:00");
        assert_eq!(super::format_time(1_795_467_000), "2026-11-23 20:50");
    }
}
