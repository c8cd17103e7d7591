//! `whoisit bench`: how fast the pipeline is on a clip, stage by stage, and how the window's
//! own loop keeps up with the clip played at its frame rate.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::capture::Source;
use crate::config::Config;
use crate::error::Result;
use crate::fetch::Progress;
use crate::gallery::Gallery;
use crate::live::Session;
use crate::pipeline::{FrameResult, Pipeline};
use crate::recognize::{self, RunOptions, Spread};
use crate::synthetic_gallery::{self, Vectors};

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
    pub peak_memory_mib: Option<f64>,
}

/// Runs both measurements on `source` with a made-up gallery of `options.gallery_size` faces in
/// a temporary directory; the user's gallery is not touched.
pub fn run(
    config: &Config,
    source: &Source,
    options: &BenchOptions,
    progress: &dyn Progress,
) -> Result<BenchReport> {
    let dir = tempfile::tempdir().map_err(|e| crate::Error::io(std::env::temp_dir(), e))?;
    let config = Config {
        data_dir: Some(dir.path().to_path_buf()),
        ..config.clone()
    };
    let mut pipeline = Pipeline::load(&config, progress)?;
    let embedder = pipeline.embedder_id().to_owned();
    let mut gallery = Gallery::open(dir.path())?;
    if options.gallery_size > 0 {
        let export =
            synthetic_gallery::export(options.gallery_size, &embedder, &mut Vectors::default());
        gallery.import(&export)?;
    }
    let start = Instant::now();
    pipeline.reload_gallery(&gallery)?;
    let gallery_load_ms = start.elapsed().as_secs_f64() * 1000.0;
    let throughput = throughput(source, pipeline, options.frames)?;
    let app_loop = app_loop(
        source,
        Pipeline::load(&config, progress)?,
        Duration::from_secs_f64(options.seconds),
    )?;
    Ok(BenchReport {
        source: source.to_string(),
        embedder,
        gallery_faces: options.gallery_size,
        gallery_load_ms,
        throughput,
        app_loop,
        peak_memory_mib: recognize::peak_resident_mib(),
    })
}

fn throughput(source: &Source, pipeline: Pipeline, frames: u64) -> Result<Throughput> {
    let mut stages: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let options = RunOptions {
        realtime: false,
        max_frames: Some(frames),
    };
    let summary = recognize::run(source, pipeline, options, |result: &FrameResult| {
        let t = result.timings_ms;
        let mut add = |stage, ms| stages.entry(stage).or_default().push(ms);
        add("decode", t.decode);
        add("detect", t.detect);
        if result.embedded > 0 {
            add("align", t.align);
            add("embed", t.embed);
            add("match", t.matching);
        }
        Ok(())
    })?;
    Ok(Throughput {
        frames: summary.processed,
        faces: summary.faces,
        embedded: summary.embedded,
        seconds: summary.seconds,
        processed_fps: summary.processed_fps,
        stages_ms: stages
            .into_iter()
            .map(|(stage, mut ms)| (stage, Spread::of(&mut ms)))
            .collect(),
    })
}

fn app_loop(source: &Source, pipeline: Pipeline, length: Duration) -> Result<AppLoop> {
    let session = Session::start(
        pipeline,
        source.clone(),
        Duration::from_secs(1),
        std::sync::Arc::new(|| {}),
    )?;
    let start = Instant::now();
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
    let (frames_read, skipped_by_recognition) = session.capture_counts();
    let mut session = session;
    if let Some(failure) = session.failure() {
        return Err(crate::Error::InvalidArgument(format!(
            "the detector/encoder thread stopped: {failure}"
        )));
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
    })
}
