//! Settings of `whoisit serve`, the HTTP API.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The HTTP API: where it listens and what it allows one client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// `address:port`.
    pub listen: String,
    /// Recognition pipelines, each on its own thread with its own models.
    pub workers: usize,
    /// Requests that may wait for a pipeline; more are answered 503.
    pub queue: usize,
    pub max_body_mb: u32,
    /// MiB all request bodies being read or handled may take together.
    pub body_budget_mb: u32,
    pub request_timeout_secs: f32,
    /// Seconds a client has to send a request's headers; then its connection is closed.
    pub header_timeout_secs: f32,
    /// Connections open at once from one client address; more are refused (503, closed).
    pub max_connections_per_address: usize,
    /// Connections open at once in all, held below the open-file limit (`ulimit -n`).
    pub max_connections: usize,
    /// Live events kept for clients that reconnect with `Last-Event-ID`.
    pub events_buffer: usize,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Hours a console login lasts; then the key is asked for again.
    pub console_session_hours: f32,
    /// Browsers that may watch the console's live video at once (all cameras together); more
    /// are refused with a sentence. 0 turns the live video off.
    pub live_viewers: usize,
    /// Frames a second the live video sends at most, per camera.
    pub live_fps: f32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:8080".into(),
            workers: 2,
            queue: 32,
            max_body_mb: 10,
            body_budget_mb: 64,
            request_timeout_secs: 30.0,
            header_timeout_secs: 10.0,
            max_connections_per_address: 64,
            max_connections: 1024,
            events_buffer: 1000,
            tls_cert: None,
            tls_key: None,
            console_session_hours: 8.0,
            live_viewers: 4,
            live_fps: 5.0,
        }
    }
}

impl ServeConfig {
    /// Why these settings cannot be used, or `None`.
    pub(crate) fn problem(&self) -> Option<String> {
        if [
            self.workers,
            self.queue,
            self.events_buffer,
            self.max_connections,
            self.max_connections_per_address,
        ]
        .contains(&0)
        {
            Some(
                "serve.workers, serve.queue, serve.events_buffer, serve.max_connections and \
                 serve.max_connections_per_address must be at least 1"
                    .into(),
            )
        } else if self.max_body_mb == 0 {
            Some("serve.max_body_mb must be at least 1".into())
        } else if self.body_budget_mb < self.max_body_mb {
            Some(format!(
                "serve.body_budget_mb ({}) must be at least serve.max_body_mb ({}): a body of the \
                 largest size allowed could never be read",
                self.body_budget_mb, self.max_body_mb
            ))
        } else if let Some((name, secs)) = [
            ("request_timeout_secs", self.request_timeout_secs),
            ("header_timeout_secs", self.header_timeout_secs),
        ]
        .into_iter()
        .find(|(_, secs)| !(secs.is_finite() && *secs > 0.0))
        {
            Some(format!(
                "serve.{name} must be a positive number of seconds, not {secs}"
            ))
        } else if !(self.console_session_hours.is_finite()
            && self.console_session_hours > 0.0
            && self.console_session_hours <= 24.0 * 366.0)
        {
            Some(format!(
                "serve.console_session_hours must be a positive number of hours, at most a \
                 year, not {}",
                self.console_session_hours
            ))
        } else if !(self.live_fps.is_finite() && self.live_fps > 0.0 && self.live_fps <= 30.0) {
            Some(format!(
                "serve.live_fps must be more than 0 and at most 30 frames a second, not {}",
                self.live_fps
            ))
        } else if self.tls_cert.is_some() != self.tls_key.is_some() {
            Some("serve.tls_cert and serve.tls_key go together: give both, or neither".into())
        } else {
            None
        }
    }
}
