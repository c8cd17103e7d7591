//! `whoisit camera`, `worker`, `scan` and `events`: the distributed pipeline's processes.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use crate::base::address::redacted;
use crate::config::Config;
use crate::roster::Roster;
use crate::runtime::headless::{self, RunOptions};
use crate::runtime::start;
use crate::stream::agent::Agent;
use crate::stream::events::Publisher;
use crate::stream::scan::{self, ScanFormat, ScanOptions};
use crate::stream::sightings;
use crate::stream::worker::StreamWorker;
use crate::ui;

use super::progress::{Bar, CountBar};

/// Where the streams are; every distributed command takes these.
#[derive(Debug, Args)]
pub(super) struct StreamArgs {
    /// The Redis server shared by agents and workers: redis://host:port[/db]
    /// [config: streams.redis].
    #[arg(long, value_name = "URL", env = "WHOISIT_REDIS")]
    redis: Option<String>,
    /// The prefix of every Redis key, so several sites (or test runs) can share one Redis
    /// [config: streams.prefix].
    #[arg(long, value_name = "PREFIX")]
    prefix: Option<String>,
}

impl StreamArgs {
    pub(super) fn apply(&self, config: &Config) -> Config {
        let mut config = config.clone();
        if let Some(redis) = &self.redis {
            config.streams.redis.clone_from(redis);
        }
        if let Some(prefix) = &self.prefix {
            config.streams.prefix.clone_from(prefix);
        }
        config
    }
}

#[derive(Debug, Args)]
pub(super) struct CameraArgs {
    /// This camera's name, unique on the site; it names the camera's events and MQTT topic.
    #[arg(long, value_name = "NAME")]
    camera_id: String,
    /// Camera index, video file, image sequence (frame_%04d.png) or stream URL
    /// [config: source].
    #[arg(long, value_name = "SOURCE")]
    source: Option<String>,
    /// Print one JSON line per frame, with the labels the workers gave.
    #[arg(long, conflicts_with_all = ["window", "kiosk"])]
    json: bool,
    /// Show the live view in a window, with the labels the workers gave.
    #[arg(long)]
    window: bool,
    /// Show the live view fullscreen, as a kiosk (exit: Ctrl+Shift+Q).
    #[arg(long)]
    kiosk: bool,
    /// Stop after this many frames.
    #[arg(long, value_name = "N")]
    max_frames: Option<u64>,
    #[command(flatten)]
    streams: StreamArgs,
}

#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    /// This worker's name in the consumer group; unique per running worker
    /// [default: HOSTNAME-PID].
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Also publish the cameras' sightings over MQTT, as `whoisit events` does (one publisher
    /// per site is enough; more publish each change once between them).
    #[arg(long)]
    events: bool,
    /// With --events: the MQTT broker, mqtt://host:port [config: streams.mqtt].
    #[arg(long, value_name = "URL", env = "WHOISIT_MQTT")]
    mqtt: Option<String>,
    /// Name faces from the built-in demo's gallery (Barack Obama enrolled) instead of yours:
    /// try the pipeline with `whoisit camera --source demo` before enrolling anyone.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    streams: StreamArgs,
}

#[derive(Debug, Args)]
pub(super) struct EventsArgs {
    /// The MQTT broker: mqtt://host:port [config: streams.mqtt].
    #[arg(long, value_name = "URL", env = "WHOISIT_MQTT")]
    mqtt: Option<String>,
    /// This publisher's name; keep it across restarts so nothing read is left unpublished.
    #[arg(long, value_name = "NAME", default_value = "events")]
    name: String,
    #[command(flatten)]
    streams: StreamArgs,
}

#[derive(Debug, Args)]
pub(super) struct ScanArgs {
    /// The folder of photos, searched recursively for images; JPEG and PNG are read, any other
    /// image gets a row that says so.
    dir: PathBuf,
    /// Where to write who is in each photo: .csv (a row per face) or anything else for JSON
    /// lines (a line per photo). Photos already in it are skipped, so a scan can be resumed.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Photos waiting for a worker at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    in_flight: usize,
    /// Give up when no worker answered for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    patience: u64,
    #[command(flatten)]
    streams: StreamArgs,
}

pub(super) fn camera_cmd(config: &Config, args: &CameraArgs) -> Result<()> {
    let mut config = args.streams.apply(config);
    if let Some(source) = &args.source {
        config.source.clone_from(source);
    }
    if args.window || args.kiosk {
        return ui::run(ui::Launch {
            settings_dir: config.data_dir()?,
            demo_if_no_camera: false,
            kiosk: args.kiosk,
            camera: Some(args.camera_id.clone()),
            run_for: None,
            report: None,
            config,
        });
    }
    let bar = Bar::default();
    // "demo" is the built-in clip, as for the window.
    let source = start::resolve_source(&config, false, &bar)?.source;
    let mut agent = Agent::new(config.load_locator(&bar)?, &args.camera_id, &config.streams)?;
    if let Some(follower) = sightings::follower(&config, &args.camera_id)? {
        agent.record_sightings(follower);
    }
    let stats = agent.stats.clone();
    tracing::info!(
        camera = %args.camera_id,
        source = %source,
        redis = %redacted(&config.streams.redis),
        "camera agent started"
    );
    let options = RunOptions {
        // A camera agent is live: a file plays at its own pace, dropping frames as a camera.
        realtime: true,
        max_frames: args.max_frames,
        stop: Some(super::run::stop_on_signal()?),
        tap: None,
        reopen: None,
    };
    let stdout = std::io::stdout();
    let summary = headless::run(&source, agent, &options, |result| {
        if args.json {
            let mut out = stdout.lock();
            serde_json::to_writer(&mut out, result)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
                .map_err(|e| crate::Error::write("stdout", e))?;
        }
        Ok(())
    })?;
    let mut out = stdout.lock();
    serde_json::to_writer(
        &mut out,
        &serde_json::json!({ "summary": summary, "camera": stats.counts() }),
    )?;
    writeln!(out)?;
    Ok(())
}

pub(super) fn worker_cmd(config: &Config, args: &WorkerArgs) -> Result<()> {
    let mut config = args.streams.apply(config);
    if let Some(mqtt) = &args.mqtt {
        config.streams.mqtt.clone_from(mqtt);
    }
    let bar = Bar::default();
    if args.demo {
        config = config.with_own_gallery(crate::demo::prepare(&config, &bar)?.data_dir);
    }
    let name = args.name.clone().unwrap_or_else(default_name);
    let stop = super::run::stop_on_signal()?;
    let pipeline = config.load_pipeline(&bar)?;
    let embedder = pipeline.embedder_id();
    let roster = Roster::open(config.open_gallery()?, embedder.clone(), config.matching())?;
    // Every worker may store the cameras' sightings; one at a time does (a lease).
    let sightings = match start::sightings_writer(&config, roster.gallery(), None)? {
        Some(writer) => {
            start::purge_old_sightings(&config, roster.gallery().as_ref());
            let (streams, name, stop) = (config.streams.clone(), name.clone(), stop.clone());
            Some(
                std::thread::Builder::new()
                    .name("sightings in".into())
                    .spawn(move || sightings::store(&streams, &name, &writer, &embedder, &stop))
                    .context("cannot start the sightings thread")?,
            )
        }
        None => None,
    };
    let worker = StreamWorker::new(
        pipeline,
        roster,
        &config.streams,
        config.limits.photos(),
        &name,
    )?;
    let publisher = if args.events {
        let publisher = Publisher::new(&config.streams, &name)?;
        let stop = stop.clone();
        Some(
            std::thread::Builder::new()
                .name("events".into())
                .spawn(move || publisher.run(&stop))
                .context("cannot start the events thread")?,
        )
    } else {
        None
    };
    let counters = worker.run(&stop);
    // The publisher stops with the worker, whichever way the worker ended.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let events = match publisher.map(std::thread::JoinHandle::join) {
        Some(Ok(counts)) => Some(counts?),
        Some(Err(_)) => anyhow::bail!("the events thread panicked"),
        None => None,
    };
    // Its writer stores what it was told before the thread ends.
    let sightings = match sightings.map(std::thread::JoinHandle::join) {
        Some(Ok(counts)) => Some(counts?),
        Some(Err(_)) => anyhow::bail!("the sightings thread panicked"),
        None => None,
    };
    println!(
        "{}",
        serde_json::json!({ "worker": name, "counters": counters?, "events": events, "sightings": sightings })
    );
    Ok(())
}

pub(super) fn events_cmd(config: &Config, args: &EventsArgs) -> Result<()> {
    let mut config = args.streams.apply(config);
    if let Some(mqtt) = &args.mqtt {
        config.streams.mqtt.clone_from(mqtt);
    }
    let stop = super::run::stop_on_signal()?;
    let counts = Publisher::new(&config.streams, &args.name)?.run(&stop)?;
    println!("{}", serde_json::json!({ "events": counts }));
    Ok(())
}

pub(super) fn scan_cmd(config: &Config, args: &ScanArgs) -> Result<()> {
    let config = args.streams.apply(config);
    if args.in_flight == 0 || args.patience == 0 {
        anyhow::bail!("--in-flight and --patience must be at least 1");
    }
    let options = ScanOptions {
        dir: args.dir.clone(),
        out: args.out.clone(),
        format: ScanFormat::for_path(&args.out),
        in_flight: args.in_flight,
        patience: Duration::from_secs(args.patience),
        limits: config.limits.photos(),
    };
    let bar = CountBar::new();
    let report = scan::scan(&config.streams, &options, &|done, total| {
        bar.show(done, total);
    })
    .with_context(|| format!("scanning {}", args.dir.display()))?;
    drop(bar);
    eprintln!(
        "{} images: {} answered now ({} faces), {} already in {}, {} failed",
        report.images,
        report.answered,
        report.faces,
        report.already,
        args.out.display(),
        report.failed
    );
    println!("{}", serde_json::json!({ "scan": report }));
    Ok(())
}

/// HOSTNAME-PID: unique among running workers, and says where each runs.
fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "worker".into(), |h| h.trim().to_owned());
    format!("{host}-{}", std::process::id())
}
