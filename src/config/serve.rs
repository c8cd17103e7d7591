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
    pub request_timeout_secs: f32,
    /// Seconds a client has to send a request's headers; then its connection is closed.
    pub header_timeout_secs: f32,
    /// Live events kept for clients that reconnect with `Last-Event-ID`.
    pub events_buffer: usize,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Hours a console login lasts; then the key is asked for again.
    pub console_session_hours: f32,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: "127.0.0.1:8080".into(),
            workers: 2,
            queue: 32,
            max_body_mb: 10,
            request_timeout_secs: 30.0,
            header_timeout_secs: 10.0,
            events_buffer: 1000,
            tls_cert: None,
            tls_key: None,
            console_session_hours: 8.0,
        }
    }
}

impl ServeConfig {
    /// Why these settings cannot be used, or `None`.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.workers == 0 || self.queue == 0 || self.events_buffer == 0 {
            Some("serve.workers, serve.queue and serve.events_buffer must be at least 1".into())
        } else if self.max_body_mb == 0 {
            Some("serve.max_body_mb must be at least 1".into())
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
        } else if self.tls_cert.is_some() != self.tls_key.is_some() {
            Some("serve.tls_cert and serve.tls_key go together: give both, or neither".into())
        } else {
            None
        }
    }
}
