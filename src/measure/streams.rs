//! `whoisit bench --streams`: the distributed pipeline on a real Redis. Face crops cut from the
//! built-in demo clip (as a camera agent cuts them) go to the work stream; in-process workers
//! (each with its own models, as separate processes would have) answer them. Measured per
//! number of workers: faces per second with the stream kept full, and capture-to-answer
//! latency at half that rate; once: bytes per face on the stream and in Redis's memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use opencv::core::Mat;
use serde::Serialize;

use crate::base::address::redacted;
use crate::base::error::{Error, Result};
use crate::base::stats::Spread;
use crate::config::Config;
use crate::config::streams::StreamsConfig;
use crate::demo;
use crate::models::fetch::Progress;
use crate::roster::Roster;
use crate::runtime::capture::{Source, read_frame};
use crate::stream::agent::{Seen, face_work};
use crate::stream::link::Link;
use crate::stream::wire::{Work, WorkMeta};
use crate::stream::worker::{Counters, StreamWorker};
use crate::stream::{Keys, unix_ms};

/// Frames of the demo clip cut into crops.
const CLIP_FRAMES: u64 = 150;

/// What to run.
#[derive(Debug, Clone)]
pub struct StreamBenchOptions {
    /// Numbers of workers to measure, one run each.
    pub workers: Vec<usize>,
    /// Faces per throughput run.
    pub faces: usize,
    /// Seconds of the latency run.
    pub seconds: f64,
}

/// One number of workers.
#[derive(Debug, Clone, Serialize)]
pub struct StreamRun {
    pub workers: usize,
    /// With the stream kept full.
    pub faces_per_second: f64,
    /// The rate of the latency run: half the above.
    pub offered_per_second: f64,
    /// Capture (the crop added) to answer (on the results stream), in ms.
    pub latency_ms: Spread,
}

/// The whole measurement.
#[derive(Debug, Clone, Serialize)]
pub struct StreamBenchReport {
    pub redis: String,
    /// Distinct crops sent (the demo clip's faces).
    pub crops: usize,
    /// One face on the work stream: JPEG crop and metadata, as sent.
    pub bytes_per_face: f64,
    /// One face in Redis's memory (MEMORY USAGE of the work stream per entry).
    pub redis_bytes_per_face: f64,
    /// One answer in Redis's memory.
    pub redis_bytes_per_answer: f64,
    /// The streams full to their configured lengths (max_pending_faces, max_results).
    pub steady_state_mib: f64,
    pub runs: Vec<StreamRun>,
}

/// Runs the measurement on the Redis of `config.streams`, under a prefix of its own that it
/// deletes afterwards.
pub fn run(
    config: &Config,
    options: &StreamBenchOptions,
    progress: &dyn Progress,
) -> Result<StreamBenchReport> {
    let demo = demo::prepare(config, progress)?;
    let demo_config = config.with_own_gallery(demo.data_dir.clone());
    let crops = demo_crops(&demo_config, &Source::File(demo.clip.clone()), progress)?;
    let mut link = Link::new(&config.streams.redis, "bench")?;
    link.check()?;
    let bytes_per_face = crops
        .iter()
        .map(|(meta, jpeg)| {
            Work::fields(meta, jpeg)
                .map(|f| f.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>())
        })
        .sum::<Result<usize>>()? as f64
        / crops.len() as f64;
    let mut report = StreamBenchReport {
        redis: redacted(&config.streams.redis),
        crops: crops.len(),
        bytes_per_face,
        redis_bytes_per_face: 0.0,
        redis_bytes_per_answer: 0.0,
        steady_state_mib: 0.0,
        runs: Vec::new(),
    };
    for &workers in &options.workers {
        let mut streams = private_streams(&config.streams, &format!("bench-{workers}"));
        // The throughput run fills the stream at once; its last faces wait long.
        streams.max_age_ms = 600_000;
        let keys = Keys::new(&streams.prefix);
        let mut crew = Vec::new();
        let roster = Roster::open(
            demo_config.open_gallery()?,
            demo_config.embedder.id(),
            demo_config.matching(),
        )?;
        for n in 0..workers {
            let name = format!("bench-{n}");
            let worker = StreamWorker::new(
                demo_config.load_pipeline(progress)?,
                roster.clone(),
                &streams,
                config.limits.photos(),
                &name,
            )?;
            crew.push((name, worker));
        }
        let crew = Crew::start(&streams, crew)?;
        let outcome = measure(&mut link, &keys, &crops, options, workers, &mut report);
        crew.stop(&mut link)?;
        report.runs.push(outcome?);
    }
    report.steady_state_mib = (config.streams.max_pending_faces as f64
        * report.redis_bytes_per_face
        + config.streams.max_results as f64 * report.redis_bytes_per_answer)
        / (1024.0 * 1024.0);
    Ok(report)
}

fn measure(
    link: &mut Link,
    keys: &Keys,
    crops: &[(WorkMeta, Vec<u8>)],
    options: &StreamBenchOptions,
    workers: usize,
    report: &mut StreamBenchReport,
) -> Result<StreamRun> {
    let address = link.address.clone();
    // Throughput: the stream full from the start.
    let start = Instant::now();
    for n in 0..options.faces {
        add(link, keys, &crops[n % crops.len()], &address)?;
    }
    wait_for_answers(link, keys, options.faces, &address)?;
    let faces_per_second = options.faces as f64 / start.elapsed().as_secs_f64();
    if report.redis_bytes_per_face == 0.0 {
        report.redis_bytes_per_face = usage(link, &keys.faces, &address)? / options.faces as f64;
        report.redis_bytes_per_answer =
            usage(link, &keys.results, &address)? / options.faces as f64;
    }
    redis_call(link, &address, |c| {
        redis::cmd("DEL").arg(&keys.results).query::<u64>(c)
    })?;
    // Latency: half the rate the workers can take, evenly spaced.
    let offered = faces_per_second / 2.0;
    let gap = Duration::from_secs_f64(1.0 / offered);
    let count = ((options.seconds * offered) as usize).max(1);
    let start = Instant::now();
    for n in 0..count {
        let due = start + gap * n as u32;
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        add(link, keys, &crops[n % crops.len()], &address)?;
    }
    wait_for_answers(link, keys, count, &address)?;
    let mut latencies: Vec<f64> = redis_call(link, &address, |c| {
        redis::cmd("XRANGE")
            .arg(&keys.results)
            .arg("-")
            .arg("+")
            .query::<redis::streams::StreamRangeReply>(c)
    })?
    .ids
    .iter()
    .filter_map(|entry| crate::stream::wire::Answer::from_entry(entry).ok())
    .map(|answer| answer.latency_ms as f64)
    .collect();
    Ok(StreamRun {
        workers,
        faces_per_second,
        offered_per_second: offered,
        latency_ms: Spread::of(&mut latencies),
    })
}

/// Adds one crop, captured now.
fn add(link: &mut Link, keys: &Keys, crop: &(WorkMeta, Vec<u8>), address: &str) -> Result<()> {
    let mut meta = crop.0.clone();
    meta.captured_ms = unix_ms();
    meta.reply.clone_from(&keys.results);
    let fields = Work::fields(&meta, &crop.1)?;
    redis_call(link, address, |c| {
        redis::cmd("XADD")
            .arg(&keys.faces)
            .arg("*")
            .arg(&fields[..])
            .query::<String>(c)
    })
    .map(drop)
}

fn wait_for_answers(link: &mut Link, keys: &Keys, count: usize, address: &str) -> Result<()> {
    let start = Instant::now();
    loop {
        let answered: usize = redis_call(link, address, |c| {
            redis::cmd("XLEN").arg(&keys.results).query(c)
        })?;
        if answered >= count {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(600) {
            return Err(Error::Internal("the bench's workers stopped answering"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Bytes a key takes in Redis's memory, counted exactly.
fn usage(link: &mut Link, key: &str, address: &str) -> Result<f64> {
    let bytes: Option<u64> = redis_call(link, address, |c| {
        redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(key)
            .arg("SAMPLES")
            .arg(0)
            .query(c)
    })?;
    Ok(bytes.unwrap_or(0) as f64)
}

/// `config` with a prefix of this process's own under the site's, for `what`.
pub(crate) fn private_streams(config: &StreamsConfig, what: &str) -> StreamsConfig {
    StreamsConfig {
        prefix: format!("{}:{what}-{}", config.prefix, std::process::id()),
        ..config.clone()
    }
}

/// Recognition workers in threads of this process, on streams of their own that go when they
/// stop.
pub(crate) struct Crew {
    redis: String,
    keys: Keys,
    names: Vec<String>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<Counters>>>,
}

impl Crew {
    /// Starts each worker, named as given, on `streams`.
    pub(crate) fn start(
        streams: &StreamsConfig,
        workers: Vec<(String, StreamWorker)>,
    ) -> Result<Crew> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut crew = Crew {
            redis: streams.redis.clone(),
            keys: Keys::new(&streams.prefix),
            names: Vec::new(),
            stop: stop.clone(),
            threads: Vec::new(),
        };
        for (name, worker) in workers {
            let stop = stop.clone();
            crew.threads.push(
                std::thread::Builder::new()
                    .name("stream-worker".into())
                    .spawn(move || worker.run(&stop))
                    .map_err(|source| Error::Spawn {
                        thread: "stream-worker",
                        source,
                    })?,
            );
            crew.names.push(name);
        }
        Ok(crew)
    }

    /// Stops the workers and deletes their streams and counters.
    pub(crate) fn stop(self, link: &mut Link) -> Result<()> {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            Error::joined("stream-worker", thread.join())?;
        }
        let mut names = vec![
            self.keys.faces.clone(),
            self.keys.results.clone(),
            self.keys.dead.clone(),
            self.keys.errors.clone(),
        ];
        names.extend(self.names.iter().map(|n| self.keys.worker_stats(n)));
        redis_call(link, &self.redis, |c| {
            redis::cmd("DEL").arg(&names).query::<u64>(c)
        })?;
        Ok(())
    }
}

fn redis_call<T>(
    link: &mut Link,
    address: &str,
    command: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
) -> Result<T> {
    link.run(command).map_err(|failure| Error::Broker {
        service: "Redis",
        address: address.to_owned(),
        message: format!("the measurement's command failed: {failure:?}"),
        source: None,
    })
}

/// The faces of the first frames of the clip, cropped as a camera agent crops them.
fn demo_crops(
    config: &Config,
    source: &Source,
    progress: &dyn Progress,
) -> Result<Vec<(WorkMeta, Vec<u8>)>> {
    let mut locator = config.load_locator(progress)?;
    let keys = Keys::new(&config.streams.prefix);
    let mut capture = source.open()?;
    let mut frame = Mat::default();
    let mut crops = Vec::new();
    let mut index = 0;
    while index < CLIP_FRAMES && read_frame(&mut capture, &mut frame)? {
        let located = locator.locate(&frame, index as f64 * 100.0)?;
        for (face, assignment) in located.faces.iter().zip(&located.assignments) {
            let seen = Seen {
                camera: "bench",
                track: assignment.track,
                frame: index,
                captured_ms: 0,
            };
            crops.push(face_work(&frame, face, &seen, &config.streams, &keys)?);
        }
        index += 1;
    }
    if crops.is_empty() {
        return Err(Error::Internal("the demo clip gave no faces to send"));
    }
    Ok(crops)
}
