//! Small statistics every measurement shares: percentiles, spreads and the process's memory.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

/// Milliseconds since `start`.
pub fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
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

/// Milliseconds of named stages, collected frame after frame and summarised at the end.
#[derive(Debug, Clone, Default)]
pub struct StageSamples(BTreeMap<&'static str, Vec<f64>>);

impl StageSamples {
    pub fn add(&mut self, stage: &'static str, ms: f64) {
        self.0.entry(stage).or_default().push(ms);
    }

    /// The spread of each stage, by name.
    pub fn spreads(self) -> BTreeMap<&'static str, Spread> {
        self.0
            .into_iter()
            .map(|(stage, mut ms)| (stage, Spread::of(&mut ms)))
            .collect()
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
/// CPU time this process has used so far, user and system, all threads, in seconds (Linux:
/// /proc/self/stat, in clock ticks of 10 ms).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after its ")" do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    // utime and stime are fields 14 and 15; field 3 is the first after ")".
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

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
