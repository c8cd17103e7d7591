//! The distributed pipeline, for sites with more cameras than one machine can embed for:
//! camera agents detect and track next to each camera and send face crops to a Redis stream;
//! recognition workers on any machine take them through a consumer group, name them from the
//! shared gallery and append answers to a results stream; `scan` sends a folder of photos to
//! the same workers; the agents' sightings are stored by a worker ([`sightings`]) and
//! published over MQTT by `events`.
//!
//! A face's way: [`agent`] crops it and adds it to `PREFIX:faces` ([`wire::Work`]);
//! a [`worker`] reads it with XREADGROUP, embeds and matches it, and in one transaction appends
//! the [`wire::Answer`] to `PREFIX:results` and acknowledges the work; the agent reads the
//! answer back and its tracker decides the track's label. Each change of a track's sighting
//! (appeared, named, renamed, left, or a refresh) goes to `PREFIX:sightings`
//! ([`wire::SightingNote`]); one worker stores them, and [`events`] turns the changes into MQTT
//! messages. Every connection goes through [`link`], which retries a Redis that is down or
//! restarting.

pub mod agent;
pub mod events;
pub(crate) mod link;
pub mod scan;
pub mod sightings;
pub mod wire;
pub mod worker;

/// The consumer group of recognition workers on the work stream.
pub const WORKERS_GROUP: &str = "recognizers";
/// The consumer group of event publishers on the sightings stream.
pub const PUBLISHERS_GROUP: &str = "publishers";
/// The consumer group of the worker that stores the sightings.
pub const SIGHTINGS_GROUP: &str = "sighting-writers";

/// The Redis keys of one site, all under its prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
    /// Work: face crops from cameras, photos from scans.
    pub faces: String,
    /// Answers to the cameras' work.
    pub results: String,
    /// Work that failed too often, with its error.
    pub dead: String,
    /// The last error of each piece of work still pending, by entry id.
    pub errors: String,
    /// The camera agents' sightings: each change, as the agent's tracker decided it.
    pub sightings: String,
    /// Which worker stores the sightings now (a lease, renewed while it lives).
    pub sightings_owner: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Keys {
        Keys {
            prefix: prefix.to_owned(),
            faces: format!("{prefix}:faces"),
            results: format!("{prefix}:results"),
            dead: format!("{prefix}:dead"),
            errors: format!("{prefix}:errors"),
            sightings: format!("{prefix}:sightings"),
            sightings_owner: format!("{prefix}:sightings:owner"),
        }
    }

    /// A worker's counters, as `whoisit worker` keeps them for monitoring.
    pub fn worker_stats(&self, worker: &str) -> String {
        format!("{}:workers:{worker}", self.prefix)
    }

    /// The answers to one scan.
    pub fn scan_answers(&self, scan: &str) -> String {
        format!("{}:scan:{scan}", self.prefix)
    }

    /// Whether work may ask for its answer on `stream`: the site's results, or a scan's own
    /// answers (`PREFIX:scan:ID`, as [`Keys::scan_answers`] names them). Never another of the
    /// site's keys (its errors hash, its work), nor anything outside the site.
    pub(crate) fn is_reply_stream(&self, stream: &str) -> bool {
        stream == self.results
            || stream
                .strip_prefix(&self.prefix)
                .and_then(|rest| rest.strip_prefix(":scan:"))
                .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_hexdigit()))
    }
}

/// Milliseconds since the Unix epoch: capture and answer times travel between machines, so
/// they are wall-clock times (keep the machines' clocks in sync, e.g. with NTP).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
