//! What the status bar shows, measured as the window runs: display and recognition rates,
//! capture-to-label latency. The same figures make the report of `--run-for`, with what the
//! boxes drawn over each displayed frame were computed from.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::base::stats::{cpu_seconds, percentile, resident_mib};

/// Rates and latency over the last few seconds.
const WINDOW: Duration = Duration::from_secs(2);
/// A displayed frame is judged this long after it was shown: by then recognition has said
/// whether a cut came between the frame and the results drawn over it.
const SETTLE: Duration = Duration::from_secs(5);

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
    boxes: BoxCheck,
}

/// What each displayed frame had drawn over it, checked against the cuts recognition found.
#[derive(Default)]
struct BoxCheck {
    /// Displayed frames not judged yet, oldest first.
    pending: VecDeque<Drawn>,
    /// When the frames recognition found to be cuts were captured, oldest first (the last
    /// `SETTLE` or so).
    cuts: VecDeque<Instant>,
    /// Capture of the displayed frame minus capture of the frame the oldest box drawn over it
    /// was computed for, in ms, per displayed frame with boxes.
    age_ms: Vec<f64>,
    /// Capture of a frame to its display, in ms.
    shown_ms: Vec<f64>,
    frames_with_boxes: u64,
    /// Frames recognition found to be cuts, over the run.
    cut_count: u64,
    frames_with_foreign_boxes: u64,
    foreign_boxes: u64,
}

/// A displayed frame and the results its boxes came from.
struct Drawn {
    shown: Instant,
    /// When the displayed frame was captured.
    frame: Instant,
    /// When the frame of each box's result was captured.
    boxes: Vec<Instant>,
}

impl BoxCheck {
    fn cut(&mut self, captured: Instant) {
        self.cut_count += 1;
        self.cuts.push_back(captured);
    }

    fn drawn(&mut self, drawn: Drawn) {
        self.shown_ms.push(
            drawn
                .shown
                .saturating_duration_since(drawn.frame)
                .as_secs_f64()
                * 1000.0,
        );
        if let Some(oldest) = drawn.boxes.iter().min() {
            self.frames_with_boxes += 1;
            self.age_ms
                .push(drawn.frame.saturating_duration_since(*oldest).as_secs_f64() * 1000.0);
        }
        self.pending.push_back(drawn);
    }

    /// Judges the displayed frames shown before `until`: a box whose result was computed
    /// before a cut and drawn over a frame captured at or after it is from another shot.
    /// A shot begins at the first frame recognition saw of it, so frames it skipped count
    /// with the shot before: the count is a lower bound.
    fn settle(&mut self, until: Instant) {
        while let Some(drawn) = self.pending.front() {
            if drawn.shown >= until {
                break;
            }
            let foreign = drawn
                .boxes
                .iter()
                .filter(|from| {
                    self.cuts
                        .iter()
                        .any(|cut| *from < cut && *cut <= drawn.frame)
                })
                .count() as u64;
            self.foreign_boxes += foreign;
            self.frames_with_foreign_boxes += u64::from(foreign > 0);
            // No box is drawn from a result this much older than its frame.
            if let Some(horizon) = drawn.frame.checked_sub(SETTLE) {
                while self.cuts.front().is_some_and(|cut| *cut < horizon) {
                    self.cuts.pop_front();
                }
            }
            self.pending.pop_front();
        }
    }
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
    /// Capture of a frame to its display.
    pub shown_ms_median: f64,
    pub shown_ms_p95: f64,
    /// Displayed frames with at least one box.
    pub frames_with_boxes: u64,
    /// Age of the result drawn: capture of the displayed frame minus capture of the frame the
    /// oldest box over it was computed for (0 when boxes belong to the frame they are on).
    pub result_age_ms_median: f64,
    pub result_age_ms_p95: f64,
    /// Displayed frames with a box from a result of another shot (computed before a cut the
    /// frame comes after), and how many such boxes.
    pub frames_with_boxes_from_another_shot: u64,
    pub boxes_from_another_shot: u64,
    /// Frames recognition found to be cuts (each ends every track): the demo has one each
    /// time its clip loops, however slowly recognition sees it.
    pub cuts: u64,
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
            boxes: BoxCheck::default(),
        }
    }
}

impl Meter {
    /// A frame displayed at `now`, captured at `frame`, with boxes from results of frames
    /// captured at `boxes`.
    pub(crate) fn frame_shown(&mut self, now: Instant, frame: Instant, boxes: Vec<Instant>) {
        self.frames_shown += 1;
        self.display.tick(now);
        self.boxes.drawn(Drawn {
            shown: now,
            frame,
            boxes,
        });
        if let Some(until) = now.checked_sub(SETTLE) {
            self.boxes.settle(until);
        }
    }

    /// Recognition found the frame captured at `captured` to be a cut.
    pub(crate) fn cut(&mut self, captured: Instant) {
        self.boxes.cut(captured);
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

    pub(crate) fn report(&mut self, source: String, frames_read: u64, skipped: u64) -> Report {
        let seconds = self.started.elapsed().as_secs_f64();
        let mut latency = self.all_latency.clone();
        self.boxes.settle(Instant::now() + SETTLE);
        let boxes = &mut self.boxes;
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
            shown_ms_median: percentile(&mut boxes.shown_ms, 0.5).unwrap_or(0.0),
            shown_ms_p95: percentile(&mut boxes.shown_ms, 0.95).unwrap_or(0.0),
            frames_with_boxes: boxes.frames_with_boxes,
            result_age_ms_median: percentile(&mut boxes.age_ms, 0.5).unwrap_or(0.0),
            result_age_ms_p95: percentile(&mut boxes.age_ms, 0.95).unwrap_or(0.0),
            frames_with_boxes_from_another_shot: boxes.frames_with_foreign_boxes,
            boxes_from_another_shot: boxes.foreign_boxes,
            cuts: boxes.cut_count,
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
