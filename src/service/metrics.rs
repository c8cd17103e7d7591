//! Counters for `GET /metrics`, in Prometheus' text format: requests by route and status,
//! latency histograms by route, faces recognised, the roster's size and the queue.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    /// Observations at or below each bound of `BUCKETS`.
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (count, bound) in self.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *count += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

#[derive(Default)]
struct Requests {
    by_status: BTreeMap<(String, u16), u64>,
    latency: BTreeMap<String, Histogram>,
}

/// What the gauges show at the time of a scrape.
pub(crate) struct Gauges {
    pub(crate) people: usize,
    pub(crate) faces: usize,
    pub(crate) queued: usize,
    pub(crate) workers: usize,
}

#[derive(Default)]
pub(crate) struct Metrics {
    requests: Mutex<Requests>,
    known: AtomicU64,
    unknown: AtomicU64,
}

impl Metrics {
    /// One answered request; `route` is the router's pattern (`/v1/people/{id}`), never the
    /// path itself, so ids do not multiply the series.
    pub(crate) fn request(&self, route: &str, status: u16, seconds: f64) {
        // A poisoned lock only means a panic elsewhere mid-update; counting goes on.
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *requests
            .by_status
            .entry((route.to_owned(), status))
            .or_default() += 1;
        requests
            .latency
            .entry(route.to_owned())
            .or_default()
            .observe(seconds);
    }

    /// Faces answered by `POST /v1/recognize`.
    pub(crate) fn faces(&self, known: usize, unknown: usize) {
        self.known.fetch_add(known as u64, Ordering::Relaxed);
        self.unknown.fetch_add(unknown as u64, Ordering::Relaxed);
    }

    /// Everything, in Prometheus' text exposition format.
    pub(crate) fn render(&self, gauges: &Gauges) -> String {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::new();
        let mut line = |text: String| {
            out.push_str(&text);
            out.push('\n');
        };
        line(
            "# HELP whoisit_http_requests_total HTTP requests answered, by route and status."
                .into(),
        );
        line("# TYPE whoisit_http_requests_total counter".into());
        for ((route, status), n) in &requests.by_status {
            line(format!(
                "whoisit_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            ));
        }
        line("# HELP whoisit_http_request_duration_seconds Time to answer, by route.".into());
        line("# TYPE whoisit_http_request_duration_seconds histogram".into());
        for (route, histogram) in &requests.latency {
            let name = "whoisit_http_request_duration_seconds";
            for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                line(format!(
                    "{name}_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                ));
            }
            line(format!(
                "{name}_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                histogram.count
            ));
            line(format!("{name}_sum{{route=\"{route}\"}} {}", histogram.sum));
            line(format!(
                "{name}_count{{route=\"{route}\"}} {}",
                histogram.count
            ));
        }
        line("# HELP whoisit_faces_total Faces in recognized photos, named or unknown.".into());
        line("# TYPE whoisit_faces_total counter".into());
        line(format!(
            "whoisit_faces_total{{result=\"known\"}} {}",
            self.known.load(Ordering::Relaxed)
        ));
        line(format!(
            "whoisit_faces_total{{result=\"unknown\"}} {}",
            self.unknown.load(Ordering::Relaxed)
        ));
        let mut gauge = |name: &str, help: &str, value: usize| {
            let mut text = String::new();
            // Writing to a String cannot fail.
            let _written = write!(
                text,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
            );
            out.push_str(&text);
        };
        gauge(
            "whoisit_gallery_people",
            "People in the roster.",
            gauges.people,
        );
        gauge(
            "whoisit_gallery_faces",
            "Enrolled faces the roster matches against.",
            gauges.faces,
        );
        gauge(
            "whoisit_queue_length",
            "Photos waiting for a recognition pipeline.",
            gauges.queued,
        );
        gauge("whoisit_workers", "Recognition pipelines.", gauges.workers);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format_has_cumulative_buckets_and_labels() {
        let metrics = Metrics::default();
        metrics.request("/v1/recognize", 200, 0.02);
        metrics.request("/v1/recognize", 200, 0.3);
        metrics.request("/v1/recognize", 503, 0.001);
        metrics.faces(1, 2);
        let text = metrics.render(&Gauges {
            people: 3,
            faces: 7,
            queued: 0,
            workers: 2,
        });
        for expected in [
            "whoisit_http_requests_total{route=\"/v1/recognize\",status=\"200\"} 2",
            "whoisit_http_requests_total{route=\"/v1/recognize\",status=\"503\"} 1",
            "whoisit_http_request_duration_seconds_bucket{route=\"/v1/recognize\",le=\"0.025\"} 2",
            "whoisit_http_request_duration_seconds_bucket{route=\"/v1/recognize\",le=\"0.5\"} 3",
            "whoisit_http_request_duration_seconds_count{route=\"/v1/recognize\"} 3",
            "whoisit_faces_total{result=\"unknown\"} 2",
            "whoisit_gallery_faces 7",
        ] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
    }
}
