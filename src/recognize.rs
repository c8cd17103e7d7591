//! Runs capture thread -> detector/encoder thread on a source and collects what happened.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use serde::Serialize;

use crate::capture::{Capture, Delivery, Source};
use crate::error::Result;
use crate::pipeline::{FrameResult, Pipeline};

/// How a run treats its source.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunOptions {
    /// Play a file at its own frame rate and drop frames like a camera would.
    pub realtime: bool,
    /// Stop after this many processed frames.
    pub max_frames: Option<u64>,
}

/// Mean, median and 95th percentile of one measurement, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spread {
    pub mean: f64,
    pub median: f64,
    pub p95: f64,
}

impl Spread {
    pub fn of(values: &mut [f64]) -> Spread {
        match (percentile(values, 0.5), percentile(values, 0.95)) {
            (Some(median), Some(p95)) => Spread {
                mean: values.iter().sum::<f64>() / values.len() as f64,
                median,
                p95,
            },
            _ => Spread::default(),
        }
    }
}

/// The nearest-rank percentile `p` (0..1) of `values` (sorted in place); `None` if empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

/// This process's resident memory in MiB (Linux's VmRSS), if it can be read.
pub fn resident_mib() -> Option<f64> {
    memory_status_mib("VmRSS:")
}

/// The most resident memory this process has had, in MiB (Linux's VmHWM).
pub fn peak_resident_mib() -> Option<f64> {
    memory_status_mib("VmHWM:")
}

fn memory_status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix(key))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<f64>()
        .ok()?;
    Some(kib / 1024.0)
}

/// What a run did, printed at its end.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub source: String,
    pub frames_read: u64,
    pub processed: u64,
    pub dropped: u64,
    pub faces: u64,
    /// Faces embedded; the others were tracked faces that kept their label.
    pub embedded: u64,
    pub seconds: f64,
    pub processed_fps: f64,
    /// Per-stage time per processed frame (decode, detect, align, embed, match) and latency.
    pub ms: BTreeMap<&'static str, Spread>,
}

/// Runs `pipeline` on `source`, calling `on_result` for each processed frame in order.
pub fn run(
    source: &Source,
    pipeline: Pipeline,
    options: RunOptions,
    mut on_result: impl FnMut(&FrameResult) -> Result<()>,
) -> Result<Summary> {
    let capture = source.open()?;
    let delivery = if source.is_live() {
        Delivery::Latest
    } else if options.realtime {
        Delivery::Paced
    } else {
        Delivery::Every
    };
    let (capture, frames) = Capture::spawn(capture, delivery)?;
    let (results_tx, results) = crossbeam_channel::bounded::<FrameResult>(4);
    let worker = pipeline.spawn_worker(frames, crossbeam_channel::never(), results_tx, || {})?;

    let started = Instant::now();
    let mut processed = 0u64;
    let mut faces = 0u64;
    let mut embedded = 0u64;
    let mut stages: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
    let mut outcome = Ok(());
    for result in &results {
        processed += 1;
        faces += result.faces.len() as u64;
        embedded += result.embedded as u64;
        let t = result.timings_ms;
        for (stage, ms) in [
            ("decode", t.decode),
            ("detect", t.detect),
            ("align", t.align),
            ("embed", t.embed),
            ("match", t.matching),
            ("latency", result.latency_ms),
        ] {
            stages.entry(stage).or_default().push(ms);
        }
        if let Err(e) = on_result(&result) {
            outcome = Err(e);
            break;
        }
        if options.max_frames.is_some_and(|max| processed >= max) {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = capture.stats.clone();
    // Stop the source first so the worker's input ends, then collect the worker's verdict.
    drop(results);
    let capture_result = capture.stop();
    let worker_result = worker.join().unwrap_or_else(|_| {
        Err(crate::Error::InvalidArgument(
            "the detector/encoder thread panicked".into(),
        ))
    });
    outcome?;
    worker_result?;
    capture_result?;
    Ok(Summary {
        source: source.to_string(),
        frames_read: stats.read.load(Ordering::Relaxed),
        processed,
        dropped: stats.dropped.load(Ordering::Relaxed),
        faces,
        embedded,
        seconds,
        processed_fps: if seconds > 0.0 {
            processed as f64 / seconds
        } else {
            0.0
        },
        ms: stages
            .into_iter()
            .map(|(k, mut v)| (k, Spread::of(&mut v)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.5), Some(50.0));
        assert_eq!(percentile(&mut v, 0.95), Some(95.0));
        assert_eq!(percentile(&mut [], 0.5), None);
    }

    #[test]
    fn spread_is_mean_and_nearest_rank_median_and_p95() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            Spread::of(&mut v),
            Spread {
                mean: 50.5,
                median: 50.0,
                p95: 95.0
            }
        );
        assert_eq!(Spread::of(&mut []), Spread::default());
        assert_eq!(
            Spread::of(&mut [3.0]),
            Spread {
                mean: 3.0,
                median: 3.0,
                p95: 3.0
            }
        );
    }
}
