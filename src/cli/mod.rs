//! The `whoisit` command line: parsing and printing, one file per command group; the work is in
//! the library. [`main`] is all the binary calls.

mod audit;
mod detection;
mod docs;
#[cfg(feature = "window")]
mod kiosk;
mod measure;
mod models;
mod people;
mod progress;
mod run;
mod secrets;
#[cfg(feature = "serve")]
mod serve;
mod sightings;
#[cfg(feature = "streams")]
mod streams;
mod video;
mod visitors;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::base::identity::EmbedderKind;
use crate::config::{Config, Overrides};
use crate::gallery::GalleryConfig;

use self::run::WindowArgs;

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
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    window: WindowArgs,
    #[command(flatten)]
    global: Global,
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
  whoisit eval --detection                      faces found, near and far, per detector search
  whoisit calibrate --apply                     a threshold fitted to your gallery
  whoisit bench --source demo                   speed, stage by stage
  whoisit keys create --name app --scope admin  an API key, printed once
  whoisit serve --listen 127.0.0.1:8080         the REST API (see /v1/openapi.json)
  whoisit gallery new-key ~/.config/whoisit/gallery.key
  whoisit gallery encrypt --key-file ~/.config/whoisit/gallery.key
                                                encrypt the gallery at rest
  whoisit people forget \"Ada\"                    delete a person to the last byte
  whoisit audit --since 7d                      who changed what this week
  whoisit sightings --since 1d                  who was seen where today
  whoisit worker                                name faces for camera agents (Redis Streams)
  whoisit camera --camera-id door --source 0    a camera agent: detect here, recognise there
  whoisit events --mqtt mqtt://127.0.0.1:1883   the cameras' sightings as MQTT events
  whoisit scan photos/ --out who.csv            who is in each photo, by the workers
  sudo whoisit kiosk install --user frontdesk   boot into the kiosk for that user

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
    /// Directory of the gallery of enrolled people and the saved settings [config: data_dir].
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Where the enrolled people are kept: `sqlite` (in the data dir) or a PostgreSQL database
    /// several machines share, postgres://user:password@host/database [config: gallery].
    #[arg(long, global = true, value_name = "URL")]
    gallery: Option<GalleryConfig>,
    /// The gallery key's file: the gallery is encrypted with it (see `gallery new-key` and
    /// `gallery encrypt`). The key may also come from WHOISIT_KEY, or a prompt when the
    /// gallery is encrypted and none was given [config: key_file].
    #[arg(long, global = true, value_name = "FILE", env = "WHOISIT_KEY_FILE")]
    key_file: Option<PathBuf>,
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

impl Global {
    fn overrides(&self) -> Overrides {
        Overrides {
            config_file: self.config.clone(),
            model_dir: self.model_dir.clone(),
            data_dir: self.data_dir.clone(),
            gallery: self.gallery.clone(),
            key_file: self.key_file.clone(),
            threshold: self.threshold,
            embedder: self.embedder,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Recognise faces in a video source.
    Recognize(run::RecognizeArgs),
    /// Enroll a person from photos, or everyone in a dataset folder.
    Enroll(people::EnrollArgs),
    /// List, add, import, rename and remove enrolled people.
    #[command(subcommand)]
    People(people::PeopleCommand),
    /// Export, import, check and re-embed the gallery of enrolled faces.
    #[command(subcommand)]
    Gallery(people::GalleryCommand),
    /// Download, verify and list the model files.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Run the built-in demo: a clip made from real photos, one person enrolled.
    Demo(run::DemoArgs),
    /// Measure accuracy on a labelled dataset: identification, verification (ROC, EER, TAR at
    /// FAR), faces missed; writes report.json and PNG plots.
    Eval(measure::EvalArgs),
    /// Suggest a threshold from your own gallery (leave-one-out) for a target false-accept
    /// rate; --apply saves it.
    Calibrate(measure::CalibrateArgs),
    /// Measure speed on a clip: time per stage, fps, display fps, latency, memory.
    Bench(measure::BenchArgs),
    /// Serve the REST API other systems call: recognize photos, manage people and faces,
    /// follow live sightings; OpenAPI at /v1/openapi.json. Stops on Ctrl+C or SIGTERM.
    #[cfg(feature = "serve")]
    Serve(serve::ServeArgs),
    #[cfg(not(feature = "serve"))]
    #[command(hide = true)]
    Serve(NotBuilt),
    /// Make, list and revoke the API keys `serve` asks for.
    #[command(subcommand)]
    #[cfg(feature = "serve")]
    Keys(serve::KeysCommand),
    #[cfg(not(feature = "serve"))]
    #[command(hide = true)]
    Keys(NotBuilt),
    /// Who changed what in the gallery, and who took its data out: enrollments, renames,
    /// removals, imports, exports, keys, threshold changes, purges. People appear by id.
    Audit(audit::AuditArgs),
    /// Who was seen, at which camera, from when to when: one line per track's appearance, as
    /// the window, `recognize --source` and `serve --source` recorded it. Reading them is in
    /// the audit trail.
    Sightings(sightings::SightingsArgs),
    /// The unknown faces grouped by who they are (visitors): list the groups, enroll one as
    /// somebody, or dismiss one (forget it to the last byte).
    #[command(subcommand)]
    Visitors(visitors::VisitorsCommand),
    /// Forget sightings older than retention_days now, and unknown faces' crops older than
    /// sightings.unknown_face_days; the window, `recognize` and `serve` also do it as they
    /// start.
    Purge,
    /// A camera agent: capture, detect and track next to a camera, and send face crops to the
    /// workers over Redis Streams; labels come back from their answers. Needs no gallery.
    #[cfg(feature = "streams")]
    Camera(streams::CameraArgs),
    #[cfg(not(feature = "streams"))]
    #[command(hide = true)]
    Camera(NotBuilt),
    /// A recognition worker: name the faces camera agents and scans send, from the gallery
    /// (kept current as it changes). Run as many as needed, on any machines.
    #[cfg(feature = "streams")]
    Worker(streams::WorkerArgs),
    #[cfg(not(feature = "streams"))]
    #[command(hide = true)]
    Worker(NotBuilt),
    /// Who is in every photo under a folder, answered by the workers; resumable.
    #[cfg(feature = "streams")]
    Scan(streams::ScanArgs),
    #[cfg(not(feature = "streams"))]
    #[command(hide = true)]
    Scan(NotBuilt),
    /// Publish the camera agents' sightings over MQTT, once per change of a track (appeared,
    /// named, renamed, left): TOPIC/cameras/CAMERA/sightings and TOPIC/people/NAME/seen, QoS 1,
    /// never retained.
    #[cfg(feature = "streams")]
    Events(streams::EventsArgs),
    #[cfg(not(feature = "streams"))]
    #[command(hide = true)]
    Events(NotBuilt),
    /// Make a machine boot into the fullscreen kiosk for a user (install), undo it (remove),
    /// or run the kiosk and restart it whenever it exits (run).
    #[command(subcommand)]
    #[cfg(feature = "window")]
    Kiosk(kiosk::KioskCommand),
    #[cfg(not(feature = "window"))]
    #[command(hide = true)]
    Kiosk(NotBuilt),
    /// Write a man page per command into DIR (the Debian package ships them; from a source
    /// build: whoisit manpages ~/.local/share/man/man1).
    Manpages(docs::ManpagesArgs),
    /// Print the completion script for SHELL (the Debian package ships them; from a source
    /// build: whoisit completions bash > ~/.local/share/bash-completion/completions/whoisit).
    Completions(docs::CompletionsArgs),
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
    let mut config = Config::resolve(&cli.global.overrides())?;
    if uses_the_gallery(cli.command.as_ref()) {
        secrets::ask_for_key(&mut config)?;
    }
    match cli.command {
        None => run::window(config, cli.window),
        Some(Command::Recognize(args)) => run::recognize_cmd(&config, args),
        Some(Command::Enroll(args)) => people::enroll_cmd(&config, args),
        Some(Command::People(cmd)) => people::people_cmd(&config, cmd),
        Some(Command::Gallery(cmd)) => people::gallery_cmd(&config, cmd),
        Some(Command::Models(cmd)) => models::models_cmd(&config, &cmd),
        Some(Command::Demo(args)) => run::demo_cmd(&config, &args),
        Some(Command::Eval(args)) => measure::eval_cmd(&config, &args),
        Some(Command::Calibrate(args)) => measure::calibrate_cmd(&config, &args),
        Some(Command::Bench(args)) => measure::bench_cmd(&config, &args),
        #[cfg(feature = "serve")]
        Some(Command::Serve(args)) => serve::serve_cmd(&config, args),
        #[cfg(not(feature = "serve"))]
        Some(Command::Serve(_)) => not_built("serve", "`whoisit serve`"),
        #[cfg(feature = "serve")]
        Some(Command::Keys(cmd)) => serve::keys_cmd(&config, cmd),
        #[cfg(not(feature = "serve"))]
        Some(Command::Keys(_)) => not_built("serve", "`whoisit keys`"),
        Some(Command::Audit(args)) => audit::audit_cmd(&config, &args),
        Some(Command::Sightings(args)) => sightings::sightings_cmd(&config, &args),
        Some(Command::Visitors(cmd)) => visitors::visitors_cmd(&config, cmd),
        Some(Command::Purge) => audit::purge_cmd(&config),
        #[cfg(feature = "streams")]
        Some(Command::Camera(args)) => streams::camera_cmd(&config, &args),
        #[cfg(not(feature = "streams"))]
        Some(Command::Camera(_)) => not_built("streams", "`whoisit camera`"),
        #[cfg(feature = "streams")]
        Some(Command::Worker(args)) => streams::worker_cmd(&config, &args),
        #[cfg(not(feature = "streams"))]
        Some(Command::Worker(_)) => not_built("streams", "`whoisit worker`"),
        #[cfg(feature = "streams")]
        Some(Command::Scan(args)) => streams::scan_cmd(&config, &args),
        #[cfg(not(feature = "streams"))]
        Some(Command::Scan(_)) => not_built("streams", "`whoisit scan`"),
        #[cfg(feature = "streams")]
        Some(Command::Events(args)) => streams::events_cmd(&config, &args),
        #[cfg(not(feature = "streams"))]
        Some(Command::Events(_)) => not_built("streams", "`whoisit events`"),
        #[cfg(feature = "window")]
        Some(Command::Kiosk(cmd)) => kiosk::kiosk_cmd(&cli.global, cmd),
        #[cfg(not(feature = "window"))]
        Some(Command::Kiosk(_)) => not_built("window", "`whoisit kiosk`"),
        Some(Command::Manpages(args)) => docs::manpages_cmd(&args),
        Some(Command::Completions(args)) => docs::completions_cmd(&args),
    }
}

/// The arguments of a command this build left out: taken whole, so that the command says which
/// feature to build with rather than clap's "unrecognized subcommand".
#[cfg(not(all(feature = "window", feature = "serve", feature = "streams")))]
#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
struct NotBuilt {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _args: Vec<String>,
}

#[cfg(not(all(feature = "window", feature = "serve", feature = "streams")))]
fn not_built(feature: &'static str, needed_by: &'static str) -> Result<()> {
    Err(crate::Error::NotBuilt { feature, needed_by }.into())
}

/// Whether the command opens the user's gallery (the demo and the benchmark have their own),
/// and so may need its key.
fn uses_the_gallery(command: Option<&Command>) -> bool {
    !matches!(
        command,
        Some(
            Command::Models(_)
                | Command::Demo(_)
                | Command::Camera(_)
                | Command::Scan(_)
                | Command::Events(_)
                | Command::Eval(_)
                | Command::Bench(_)
                | Command::Kiosk(_)
                | Command::Manpages(_)
                | Command::Completions(_)
                | Command::Gallery(people::GalleryCommand::NewKey { .. })
        )
    )
}

fn init_logging(verbose: bool) {
    let default = if verbose {
        // tower_http: the service's request spans.
        "whoisit=debug,tower_http=debug"
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
