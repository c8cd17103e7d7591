//! The server's own live sources (`whoisit serve --source S`): each runs the window's
//! capture -> detect/embed pipeline on its threads; their sightings are stored by one writer,
//! whose events (a track appeared, was named, renamed, left) go to `GET /v1/events`. A camera
//! or stream that drops is opened again, the built-in demo loops, a file plays once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::base::error::{Error, Result};
use crate::gallery::Actor;
use crate::models::fetch::Progress;
use crate::runtime::headless::{self, RunOptions};
use crate::runtime::sightings::{Listener, Told};
use crate::runtime::start;
use crate::runtime::worker::Worker;
use crate::service::ServeOptions;
use crate::service::events::Sighting;
use crate::service::state::AppState;

/// How long a camera or stream that failed waits before it is opened again: soon enough
/// that a camera unplugged and plugged back, or a stream that dropped, is watched again within
/// seconds, seldom enough that a camera that is gone costs nothing.
const REOPEN_AFTER: Duration = Duration::from_secs(2);

/// The running sources.
pub(crate) struct Live {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// Starts a thread per source, each with its own pipeline, all matching against the server's
/// roster.
pub(crate) fn start(
    options: &ServeOptions,
    state: &AppState,
    progress: &dyn Progress,
) -> Result<Live> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    // One writer for every source; it ends with the last of them.
    let events = state.events.clone();
    let listener: Listener = Box::new(move |told: &Told| {
        let event = events.publish(Sighting {
            change: told.change,
            camera: told.record.camera.clone(),
            track: told.record.track,
            name: told.name.clone(),
            person_id: told.record.person,
            distance: told.record.distance,
        });
        tracing::debug!(camera = %event.camera, track = event.track, name = ?event.name, change = ?event.change, "sighting");
    });
    let writer = start::sightings_writer(&options.config, state.roster.gallery(), Some(listener))?;
    for (index, own) in options.sources.iter().enumerate() {
        let source = &own.source;
        let reopen = (own.repeat || source.is_live()).then_some(REOPEN_AFTER);
        let pipeline = options.config.load_pipeline(progress)?;
        let mut worker = Worker::new(pipeline, state.roster.clone(), Actor::cli())?;
        if let Some(writer) = &writer {
            let follower = writer.follower(&source.to_string(), worker.pipeline().embedder_id());
            worker.record_sightings(follower);
        }
        let (source, stop) = (source.clone(), stop.clone());
        let video = state.console.video.clone();
        let camera = source.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("source {camera}"))
            .spawn(move || {
                let options = RunOptions {
                    realtime: true,
                    max_frames: None,
                    stop: Some(stop),
                    tap: Some(video.tap(index)),
                    reopen,
                };
                let run = headless::run(&source, worker, &options, |result| {
                    if let Some(picture) = &result.picture {
                        video.publish(index, picture, &result.faces);
                    }
                    Ok(())
                });
                match run {
                    Ok(summary) => tracing::info!(source = %camera, frames = summary.processed, "the source ended"),
                    Err(e) => tracing::error!(source = %camera, "the source stopped: {}", e.report()),
                }
            })
            .map_err(|source| Error::Spawn {
                thread: "source",
                source,
            })?;
        threads.push(thread);
    }
    Ok(Live { stop, threads })
}

impl Live {
    /// Stops every source at its next frame and waits for it.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads {
            if thread.join().is_err() {
                tracing::error!("a source thread panicked");
            }
        }
    }
}
