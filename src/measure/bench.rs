//! `whoisit bench`: how fast the pipeline is on a clip, stage by stage, and how the window's
//! own loop keeps up with the clip played at its frame rate.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::stats::{Spread, StageSamples, cpu_seconds, peak_resident_mib};
use crate::config::Config;
use crate::demo::{
    self,
    synth::{self, ClipSpec},
};
use crate::gallery::Actor;
use crate::measure::synthetic_gallery::{self, Vectors};
use crate::models::fetch::Progress;
use crate::roster::Roster;
use crate::runtime::capture::Source;
use crate::runtime::headless::{self, RunOptions};
use crate::runtime::session::Session;
use crate::runtime::start;
use crate::runtime::worker::{FrameResult, Worker};
use crate::vision::photo;

/// What to run and for how long.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Frames of the clip for the throughput run (every frame, as fast as possible).
    pub frames: u64,
    /// Seconds of the clip played at its own rate through the window's loop.
    pub seconds: f64,
    /// Made-up faces in the gallery matched against.
    pub gallery_size: usize,
}

/// Every frame of the clip through the pipeline as fast as it goes.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub frames: u64,
    pub faces: u64,
    pub embedded: u64,
    pub seconds: f64,
    pub processed_fps: f64,
    /// CPU time (user + system, every thread) per frame processed.
    pub cpu_ms_per_frame: Option<f64>,
    /// Frames searched whole, followed (only where the faces were) and skipped (nothing
    /// tracked, nothing changed).
    pub searched: BTreeMap<&'static str, u64>,
    /// decode and detect over every frame; align, embed and match over the frames that embedded
    /// faces (tracked faces keep their label and are not embedded every frame).
    pub stages_ms: BTreeMap<&'static str, Spread>,
}

/// The clip at its own rate through the window's session: capture thread, display channel,
/// detector/encoder thread, as `whoisit` runs them (without drawing).
#[derive(Debug, Clone, Serialize)]
pub struct AppLoop {
    pub seconds: f64,
    pub frames_read: u64,
    pub display_frames: u64,
    pub display_fps: f64,
    pub results: u64,
    pub recognition_fps: f64,
    /// Frames the detector/encoder thread skipped because a newer one was waiting.
    pub skipped_by_recognition: u64,
    /// From the capture thread reading a frame to its result reaching the loop.
    pub latency_ms: Spread,
    /// CPU time (user + system, every thread) over the run, in % of one core.
    pub cpu_percent: Option<f64>,
}

/// What a kiosk in an empty lobby costs, and how soon it names somebody who walks in: a 30 fps
/// clip of an empty room into which the demo's enrolled person steps halfway, played at its
/// own rate through the window's loop.
#[derive(Debug, Clone, Serialize)]
pub struct Arrival {
    pub seconds: f64,
    /// CPU time while the room is empty, in % of one core.
    pub empty_cpu_percent: Option<f64>,
    /// From the capture of the face's first frame to the first result naming the person.
    pub first_label_ms: Option<f64>,
}

/// Everything `bench` measured; printed as one JSON line at the end.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub source: String,
    pub embedder: String,
    pub gallery_faces: usize,
    pub gallery_load_ms: f64,
    pub throughput: Throughput,
    pub app_loop: AppLoop,
    pub arrival: Arrival,
    pub peak_memory_mib: Option<f64>,
}

/// Runs both measurements on `source` (or the built-in demo) with a made-up gallery of
/// `options.gallery_size` faces in a temporary directory; the user's gallery is not touched.
pub fn run(
    config: &Config,
    options: &BenchOptions,
    progress: &dyn Progress,
) -> Result<BenchReport> {
    let source = start::resolve_source(config, false, progress)?.source;
    let dir = tempfile::tempdir().map_err(|e| Error::write(std::env::temp_dir(), e))?;
    let config = config.with_own_gallery(dir.path().to_path_buf());
    let embedder = config.embedder.id();
    let gallery = config.open_gallery()?;
    if options.gallery_size > 0 {
        let export =
            synthetic_gallery::export(options.gallery_size, &embedder, &mut Vectors::default());
        gallery.import(&export, &Actor::cli())?;
    }
    let pipeline = config.load_pipeline(progress)?;
    let start = Instant::now();
    let roster = Roster::open(gallery, pipeline.embedder_id(), config.matching())?;
    let worker = Worker::new(pipeline, roster, Actor::cli())?;
    let gallery_load_ms = start.elapsed().as_secs_f64() * 1000.0;
    let throughput = throughput(&source, worker, options.frames)?;
    let app_loop = app_loop(
        &source,
        start::worker(&config, Actor::cli(), progress)?,
        Duration::from_secs_f64(options.seconds),
    )?;
    let arrival = arrival(&config, options.seconds, dir.path(), progress)?;
    Ok(BenchReport {
        source: source.to_string(),
        embedder: embedder.to_string(),
        gallery_faces: options.gallery_size,
        gallery_load_ms,
        throughput,
        app_loop,
        arrival,
        peak_memory_mib: peak_resident_mib(),
    })
}

fn throughput(source: &Source, worker: Worker, frames: u64) -> Result<Throughput> {
    let mut stages = StageSamples::default();
    let mut searched = BTreeMap::new();
    let cpu = cpu_seconds();
    let options = RunOptions {
        realtime: false,
        max_frames: Some(frames),
        stop: None,
        tap: None,
        reopen: None,
    };
    let summary = headless::run(source, worker, &options, |result: &FrameResult| {
        for (stage, ms) in result.timings_ms.stages() {
            // Tracked faces keep their label: the later stages count only where they ran.
            if result.embedded > 0 || matches!(stage, "decode" | "detect") {
                stages.add(stage, ms);
            }
        }
        *searched.entry(result.searched.as_str()).or_insert(0) += 1;
        Ok(())
    })?;
    let cpu_ms_per_frame = cpu
        .zip(cpu_seconds())
        .map(|(before, after)| (after - before) * 1000.0 / summary.processed.max(1) as f64);
    Ok(Throughput {
        frames: summary.processed,
        faces: summary.faces,
        embedded: summary.embedded,
        seconds: summary.seconds,
        processed_fps: summary.processed_fps,
        cpu_ms_per_frame,
        searched,
        stages_ms: stages.spreads(),
    })
}

fn app_loop(source: &Source, worker: Worker, length: Duration) -> Result<AppLoop> {
    let session = Session::start(
        worker,
        source.clone(),
        Duration::from_secs(1),
        std::sync::Arc::new(|| {}),
    )?;
    let start = Instant::now();
    let cpu = cpu_seconds();
    let mut display_frames = 0u64;
    let mut latency = Vec::new();
    while let Some(left) = length.checked_sub(start.elapsed()) {
        crossbeam_channel::select! {
            recv(session.frames) -> frame => if frame.is_ok() { display_frames += 1 },
            recv(session.results) -> result => match result {
                Ok(result) => latency.push(result.captured_at.elapsed().as_secs_f64() * 1000.0),
                Err(_) => break,
            },
            default(left) => {}
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let cpu_percent = cpu
        .zip(cpu_seconds())
        .map(|(before, after)| (after - before) * 100.0 / seconds);
    let counts = session.capture_counts();
    let (frames_read, skipped_by_recognition) = (counts.read, counts.skipped);
    let mut session = session;
    if let Some(failure) = session.failure() {
        return Err(failure);
    }
    let results = latency.len() as u64;
    Ok(AppLoop {
        seconds,
        frames_read,
        display_frames,
        display_fps: display_frames as f64 / seconds,
        results,
        recognition_fps: results as f64 / seconds,
        skipped_by_recognition,
        latency_ms: Spread::of(&mut latency),
        cpu_percent,
    })
}

/// The clip for [`Arrival`]: `seconds` at 30 fps, the person still in the second half.
const ARRIVAL_FPS: f64 = 30.0;

fn arrival(config: &Config, seconds: f64, dir: &Path, progress: &dyn Progress) -> Result<Arrival> {
    let demo = demo::prepare(config, progress)?;
    let frames = (seconds * ARRIVAL_FPS).round().max(2.0) as u32;
    let enters = frames / 2;
    let clip = dir.join("arrival.avi");
    ClipSpec {
        width: 640,
        height: 480,
        fps: ARRIVAL_FPS,
        light: (1.0, 1.0),
        frames,
        actors: vec![synth::Actor {
            photo: photo::load(&demo.photos.join("obama2.jpg"))?,
            from: (0.45, 0.55),
            to: (0.5, 0.55),
            height: 0.8,
            frames: enters..frames,
        }],
    }
    .write_video(&clip)?;
    let demo_config = config.with_own_gallery(demo.data_dir);
    let session = Session::start(
        start::worker(&demo_config, Actor::cli(), progress)?,
        Source::File(clip),
        Duration::from_secs(1),
        std::sync::Arc::new(|| {}),
    )?;
    let start = Instant::now();
    let cpu = cpu_seconds();
    let mut empty_cpu_percent = None;
    let mut first_label_ms = None;
    let length = Duration::from_secs_f64(seconds);
    while first_label_ms.is_none()
        && let Some(left) = length.checked_sub(start.elapsed())
    {
        let Ok(result) = session.results.recv_timeout(left) else {
            break;
        };
        let frame = u32::try_from(result.frame).unwrap_or(u32::MAX);
        if frame >= enters && empty_cpu_percent.is_none() {
            empty_cpu_percent = cpu
                .zip(cpu_seconds())
                .map(|(before, now)| (now - before) * 100.0 / start.elapsed().as_secs_f64());
        }
        if result
            .faces
            .iter()
            .any(|f| f.identity.name.as_deref() == Some(demo::KNOWN))
        {
            let frames_late = f64::from(frame.saturating_sub(enters)) / ARRIVAL_FPS * 1000.0;
            first_label_ms = Some(frames_late + result.latency_ms);
        }
    }
    let mut session = session;
    if let Some(failure) = session.failure() {
        return Err(failure);
    }
    Ok(Arrival {
        seconds,
        empty_cpu_percent,
        first_label_ms,
    })
}
