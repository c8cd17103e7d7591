//! The `whoisit` command line. Parsing and printing live here; the work is in the library.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::capture::Source;
use crate::config::{Config, EmbedderKind};
use crate::fetch::{Progress, Status};
use crate::gallery::Gallery;
use crate::pipeline::Pipeline;
use crate::recognize::{self, RunOptions};
use crate::{demo, enroll, models};

/// Real-time face recognition at a webcam.
///
/// whoisit finds every face in a video source (OpenCV's SSD detector), aligns it with dlib
/// landmarks, turns it into 128 numbers (dlib's ResNet or OpenFace) and names the nearest
/// enrolled person, or says "unknown" when nobody enrolled is within the threshold.
///
/// Without a command it runs on the configured source (camera 0 by default) and falls back to a
/// built-in demo clip when no camera opens.
#[derive(Debug, Parser)]
#[command(name = "whoisit", version, propagate_version = true, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    global: Global,
}

const EXAMPLES: &str = "Examples:
  whoisit models fetch                          download and verify the models
  whoisit enroll --name \"Ada\" ada1.jpg ada2.jpg  enroll a person from photos
  whoisit enroll --dir people/                  enroll people/<name>/*.jpg
  whoisit recognize --source clip.avi --headless   JSON lines, one per frame
  whoisit demo --headless                       the built-in demo, no camera needed

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
    /// Download, verify and list the model files.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Run the built-in demo: a clip made from real photos, one person enrolled.
    Demo(DemoArgs),
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
    let config = load_config(&cli.global)?;
    match cli.command {
        None => run_default(&config),
        Some(Command::Recognize(args)) => recognize_cmd(&config, args),
        Some(Command::Enroll(args)) => enroll_cmd(&config, args),
        Some(Command::Models(cmd)) => models_cmd(&config, cmd),
        Some(Command::Demo(args)) => demo_cmd(&config, &args),
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

/// No command: the configured source, or the demo when the configured camera does not open.
fn run_default(config: &Config) -> Result<()> {
    let source: Source = config.source.parse()?;
    match run_source(config, &source, RunOptions::default()) {
        Err(e) if matches!(source, Source::Camera(_)) && is_source_open_error(&e) => {
            tracing::warn!("{e:#}");
            tracing::warn!(
                "no camera: running the built-in demo instead (set `source` in the config to choose)"
            );
            demo_cmd(
                config,
                &DemoArgs {
                    headless: true,
                    max_frames: None,
                },
            )
        }
        other => other,
    }
}

fn is_source_open_error(error: &anyhow::Error) -> bool {
    matches!(
        error.downcast_ref::<crate::Error>(),
        Some(crate::Error::SourceOpen { .. })
    )
}

fn recognize_cmd(config: &Config, args: RecognizeArgs) -> Result<()> {
    if !args.headless {
        bail!("the desktop window is not part of this build yet; add --headless for JSON output");
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
        bail!("the desktop window is not part of this build yet; add --headless for JSON output");
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
    let mut pipeline = Pipeline::load(config, &Bar::default())?;
    let mut gallery = Gallery::open(&config.data_dir()?)?;
    match (args.name, args.dir) {
        (Some(name), None) => {
            let count = enroll::person(&mut pipeline, &mut gallery, &name, &args.photos)?;
            println!(
                "enrolled {name}: {count} face(s) into {}",
                gallery.path().display()
            );
        }
        (None, Some(dir)) => {
            let report = enroll::dataset(&mut pipeline, &mut gallery, &dir)?;
            for (name, count) in &report.enrolled {
                println!("enrolled {name}: {count} face(s)");
            }
            for (path, reason) in &report.skipped {
                eprintln!("skipped {}: {reason}", path.display());
            }
            println!(
                "{} people enrolled into {}, {} photo(s) skipped",
                report.enrolled.len(),
                gallery.path().display(),
                report.skipped.len()
            );
            if report.enrolled.is_empty() {
                bail!("no face could be enrolled from {}", dir.display());
            }
        }
        _ => bail!("give --name NAME PHOTO... or --dir DIR"),
    }
    Ok(())
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
