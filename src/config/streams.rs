//! Settings of the distributed pipeline: camera agents, recognition workers, scans and events,
//! over Redis Streams and MQTT.

use serde::{Deserialize, Serialize};

/// Where the streams are, how long they grow, and when work is late, lost or poison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamsConfig {
    /// `redis://host:port[/db]`.
    pub redis: String,
    /// Every key whoisit makes starts with this and a colon.
    pub prefix: String,
    /// Entries kept in the work stream (approximately: Redis trims whole blocks).
    pub max_pending_faces: usize,
    /// Entries kept in the results and dead-letter streams.
    pub max_results: usize,
    /// A camera's face older than this (ms since capture) is skipped, not answered late.
    pub max_age_ms: u64,
    /// Work pending this long (ms) with a worker that went quiet is taken by another.
    pub claim_idle_ms: u64,
    /// Deliveries after which an entry goes to the dead-letter stream instead.
    pub max_deliveries: u64,
    /// JPEG quality of the face crops a camera agent sends, 1-100.
    pub crop_quality: i32,
    /// Context around a face in its crop, as a fraction of the face's width on each side.
    pub crop_margin: f32,
    /// `mqtt://host:port` of the broker events go to.
    pub mqtt: String,
    /// Topics start with this and a slash.
    pub topic_prefix: String,
    /// An event's `expires_ms` is its capture time plus this many seconds.
    pub event_ttl_secs: u64,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            redis: "redis://127.0.0.1:6379".into(),
            prefix: "whoisit".into(),
            max_pending_faces: 2000,
            max_results: 10_000,
            max_age_ms: 2000,
            claim_idle_ms: 5000,
            max_deliveries: 3,
            crop_quality: 90,
            crop_margin: 0.5,
            mqtt: "mqtt://127.0.0.1:1883".into(),
            topic_prefix: "whoisit".into(),
            event_ttl_secs: 10,
        }
    }
}

impl StreamsConfig {
    /// Why these settings cannot be used, or `None`.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.prefix.is_empty() || self.topic_prefix.is_empty() {
            Some("streams.prefix and streams.topic_prefix must not be empty".into())
        } else if self.max_pending_faces == 0 || self.max_results == 0 {
            Some("streams.max_pending_faces and streams.max_results must be at least 1".into())
        } else if self.max_age_ms == 0 || self.claim_idle_ms == 0 || self.event_ttl_secs == 0 {
            Some("streams.max_age_ms, claim_idle_ms and event_ttl_secs must be at least 1".into())
        } else if self.max_deliveries == 0 {
            Some("streams.max_deliveries must be at least 1".into())
        } else if !(1..=100).contains(&self.crop_quality) {
            Some(format!(
                "streams.crop_quality must be 1-100, not {}",
                self.crop_quality
            ))
        } else if !(self.crop_margin.is_finite() && (0.0..=2.0).contains(&self.crop_margin)) {
            Some(format!(
                "streams.crop_margin must be between 0 and 2, not {}",
                self.crop_margin
            ))
        } else {
            None
        }
    }
}
