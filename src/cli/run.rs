//! Running recognition: the window (no command), `recognize` and `demo`.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, bail};
use clap::Args;

use crate::config::{Config, DEMO_SOURCE};
use crate::gallery::Actor;
use crate::runtime::headless::{self, RunOptions};
use crate::runtime::start;
use crate::ui;

use super::progress::Bar;

/// How the window runs (no command).
#[derive(Debug, Args, Default)]
pub(super) struct WindowArgs {
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

#[derive(Debug, Args)]
pub(super) struct RecognizeArgs {
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
pub(super) struct DemoArgs {
    /// Print JSON lines instead of opening a window.
    #[arg(long)]
    headless: bool,
    /// Stop after this many processed frames.
    #[arg(long, value_name = "N")]
    max_frames: Option<u64>,
}

/// No command: the window on the configured source, or on the demo when the configured camera
/// does not open.
pub(super) fn window(mut config: Config, args: WindowArgs) -> Result<()> {
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
        camera: None,
        run_for: args.run_for.map(std::time::Duration::from_secs_f64),
        report: args.report,
        config,
    })
}

pub(super) fn recognize_cmd(config: &Config, args: RecognizeArgs) -> Result<()> {
    if !args.headless {
        return window(
            config.clone(),
            WindowArgs {
                source: args.source,
                ..WindowArgs::default()
            },
        );
    }
    let mut config = config.clone();
    if let Some(source) = args.source {
        config.source = source;
    }
    let options = RunOptions {
        realtime: args.realtime,
        max_frames: args.max_frames,
        stop: None,
        tap: None,
        reopen: None,
    };
    run_headless(&config, options)
}

/// A flag that Ctrl+C or SIGTERM sets, for runs that end cleanly at the next step.
pub(super) fn stop_on_signal() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())
            .context("cannot set up Ctrl+C handling")?;
    }
    Ok(stop)
}

/// Runs the configured source (or the demo) without a window: one JSON line per processed
/// frame on stdout, then `{"summary": ...}`.
/// Ctrl+C or SIGTERM ends the run at the next frame, still with its summary.
fn run_headless(config: &Config, mut options: RunOptions) -> Result<()> {
    let stop = stop_on_signal()?;
    options.stop = Some(stop.clone());
    let bar = Bar::default();
    let start = start::resolve_source(config, false, &bar)?;
    let camera = start.source.to_string();
    let worker = start::recording_worker(&start.config, Actor::cli(), &bar, &camera)?;
    let stdout = std::io::stdout();
    let summary = headless::run(&start.source, worker, &options, |result| {
        let mut out = stdout.lock();
        serde_json::to_writer(&mut out, result)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
            .map_err(|e| crate::Error::write("stdout", e))
    })?;
    let mut out = stdout.lock();
    serde_json::to_writer(&mut out, &serde_json::json!({ "summary": summary }))?;
    writeln!(out)?;
    if stop.load(Ordering::Relaxed) {
        eprintln!("stopped by a signal after {} frames", summary.processed);
    }
    Ok(())
}

pub(super) fn demo_cmd(config: &Config, args: &DemoArgs) -> Result<()> {
    let config = Config {
        source: DEMO_SOURCE.into(),
        ..config.clone()
    };
    if !args.headless {
        return window(config, WindowArgs::default());
    }
    eprintln!("demo: {} enrolled, Joe Biden not", crate::demo::KNOWN);
    let options = RunOptions {
        realtime: true,
        max_frames: args.max_frames,
        stop: None,
        tap: None,
        reopen: None,
    };
    run_headless(&config, options).context("running the built-in demo")
}
