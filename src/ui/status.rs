//! What the status bar shows, measured as the window runs: display and recognition rates,
//! capture-to-label latency. The same figures make the report of `--run-for`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::base::stats::{cpu_seconds, percentile, resident_mib};

/// Rates and latency over the last few seconds.
const WINDOW: Duration = Duration::from_secs(2);

/// Events per second over a sliding window.
#[derive(Default)]
struct Rate(VecDeque<Instant>);

impl Rate {
    fn tick(&mut self, now: Instant) {
        self.0.push_back(now);
        self.trim(now);
    }

    fn trim(&mut self, now: Instant) {
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) > WINDOW)
        {
            self.0.pop_front();
        }
    }

    fn per_second(&self) -> f64 {
        match (self.0.front(), self.0.back()) {
            (Some(first), Some(last)) if self.0.len() > 1 => {
                (self.0.len() - 1) as f64 / last.duration_since(*first).as_secs_f64().max(1e-6)
            }
            _ => 0.0,
        }
    }
}

/// Everything the window measures.
pub(crate) struct Meter {
    started: Instant,
    /// CPU time used when the meter started, in seconds.
    cpu_at_start: Option<f64>,
    display: Rate,
    recognition: Rate,
    recent_latency: VecDeque<(Instant, f64)>,
    /// Every capture-to-label latency of the run, for the report.
    all_latency: Vec<f64>,
    pub frames_shown: u64,
    pub results: u64,
    pub faces: u64,
    pub embedded: u64,
    rss_mb: Vec<f64>,
    next_rss: Instant,
}

/// What `--report` writes at the end of a `--run-for` run.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    pub source: String,
    pub seconds: f64,
    pub frames_read: u64,
    pub frames_shown: u64,
    pub display_fps: f64,
    pub results: u64,
    pub recognition_fps: f64,
    pub faces: u64,
    pub embedded: u64,
    pub skipped_by_recognition: u64,
    pub latency_ms_median: f64,
    pub latency_ms_p95: f64,
    /// Resident memory, sampled every 10 seconds.
    pub rss_mb: Vec<f64>,
    /// CPU time (user + system, every thread, drawing included) over the run, in % of one
    /// core.
    pub cpu_percent: Option<f64>,
}

impl Default for Meter {
    fn default() -> Self {
        let now = Instant::now();
        Meter {
            started: now,
            cpu_at_start: cpu_seconds(),
            display: Rate::default(),
            recognition: Rate::default(),
            recent_latency: VecDeque::new(),
            all_latency: Vec::new(),
            frames_shown: 0,
            results: 0,
            faces: 0,
            embedded: 0,
            rss_mb: Vec::new(),
            next_rss: now,
        }
    }
}

impl Meter {
    pub(crate) fn frame_shown(&mut self, now: Instant) {
        self.frames_shown += 1;
        self.display.tick(now);
    }

    pub(crate) fn result(&mut self, now: Instant, latency_ms: f64, faces: usize, embedded: usize) {
        self.results += 1;
        self.faces += faces as u64;
        self.embedded += embedded as u64;
        self.recognition.tick(now);
        self.recent_latency.push_back((now, latency_ms));
        while self
            .recent_latency
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > WINDOW)
        {
            self.recent_latency.pop_front();
        }
        self.all_latency.push(latency_ms);
    }

    /// Samples resident memory now and then (cheap: one small /proc read).
    pub(crate) fn sample_memory(&mut self, now: Instant) {
        if now >= self.next_rss {
            self.next_rss = now + Duration::from_secs(10);
            if let Some(mb) = resident_mib() {
                self.rss_mb.push(mb);
            }
        }
    }

    pub(crate) fn display_fps(&mut self, now: Instant) -> f64 {
        self.display.trim(now);
        self.display.per_second()
    }

    pub(crate) fn recognition_fps(&mut self, now: Instant) -> f64 {
        self.recognition.trim(now);
        self.recognition.per_second()
    }

    /// Median capture-to-label latency of the last seconds.
    pub(crate) fn latency_ms(&self) -> Option<f64> {
        let mut recent: Vec<f64> = self.recent_latency.iter().map(|(_, l)| *l).collect();
        percentile(&mut recent, 0.5)
    }

    pub(crate) fn report(&self, source: String, frames_read: u64, skipped: u64) -> Report {
        let seconds = self.started.elapsed().as_secs_f64();
        let mut latency = self.all_latency.clone();
        Report {
            source,
            seconds,
            frames_read,
            frames_shown: self.frames_shown,
            display_fps: self.frames_shown as f64 / seconds.max(1e-6),
            results: self.results,
            recognition_fps: self.results as f64 / seconds.max(1e-6),
            faces: self.faces,
            embedded: self.embedded,
            skipped_by_recognition: skipped,
            latency_ms_median: percentile(&mut latency, 0.5).unwrap_or(0.0),
            latency_ms_p95: percentile(&mut latency, 0.95).unwrap_or(0.0),
            rss_mb: self.rss_mb.clone(),
            cpu_percent: self
                .cpu_at_start
                .zip(cpu_seconds())
                .map(|(start, now)| (now - start) * 100.0 / seconds.max(1e-6)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_count_events_per_second_over_the_window() {
        let t0 = Instant::now();
        let mut rate = Rate::default();
        for i in 0..31 {
            rate.tick(t0 + Duration::from_millis(i * 33));
        }
        let fps = rate.per_second();
        assert!((fps - 30.3).abs() < 0.5, "{fps}");
        rate.trim(t0 + Duration::from_secs(10));
        assert_eq!(rate.per_second(), 0.0);
    }
}
