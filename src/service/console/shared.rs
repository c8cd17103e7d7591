//! What the console keeps while the server runs, in the state every request shares.

use std::sync::Arc;
use std::time::Duration;

use crate::base::address::redacted;
use crate::service::ServeOptions;
use crate::service::console::drafts::Drafts;
use crate::service::console::session::Sessions;
use crate::service::video::Video;

/// What the console keeps while the server runs.
pub(crate) struct Console {
    pub(crate) sessions: Sessions,
    /// What each session has captured with the browser's camera, until it saves.
    pub(crate) drafts: Drafts,
    /// The server's own live sources, by name: without credentials, as their sightings and
    /// events name them.
    pub(crate) sources: Vec<String>,
    /// Their live video, drawn for the Live page.
    pub(crate) video: Arc<Video>,
}

impl Console {
    pub(crate) fn new(options: &ServeOptions) -> Console {
        let hours = options.config.serve.console_session_hours;
        Console {
            sessions: Sessions::new(
                Duration::from_secs_f32(hours * 3600.0),
                options.tls.is_some(),
            ),
            drafts: Drafts::new(),
            sources: options
                .sources
                .iter()
                .map(|own| redacted(&own.source.to_string()))
                .collect(),
            video: Arc::new(Video::new(
                options.sources.len(),
                options.config.serve.live_viewers,
                options.config.serve.live_fps,
            )),
        }
    }
}
