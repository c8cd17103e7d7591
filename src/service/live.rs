//! The server's own live sources (`whoisit serve --source S`): each runs the window's
//! capture -> detect/embed pipeline on its threads, and every track that comes into view, or
//! changes its name, becomes an event for `GET /v1/events`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::base::error::{Error, Result};
use crate::gallery::Actor;
use crate::models::fetch::Progress;
use crate::runtime::headless::{self, RunOptions};
use crate::runtime::start;
use crate::runtime::worker::{FrameResult, Worker};
use crate::service::ServeOptions;
use crate::service::events::{Events, Sighting};
use crate::service::state::AppState;

/// A track not seen for this many frames is forgotten; seen again, it is a new sighting.
const FORGET_AFTER_FRAMES: u64 = 300;

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
    let writer = start::sightings_writer(&options.config, state.roster.gallery())?;
    for (index, source) in options.sources.iter().enumerate() {
        let pipeline = options.config.load_pipeline(progress)?;
        let mut worker = Worker::new(pipeline, state.roster.clone(), Actor::cli())?;
        if let Some(writer) = &writer {
            let follower = writer.follower(&source.to_string(), worker.pipeline().embedder_id());
            worker.record_sightings(follower);
        }
        let (source, events, stop) = (source.clone(), state.events.clone(), stop.clone());
        let video = state.console.video.clone();
        let camera = source.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("source {camera}"))
            .spawn(move || {
                let mut tracks = Tracks::default();
                let options = RunOptions {
                    realtime: true,
                    max_frames: None,
                    stop: Some(stop),
                    tap: Some(video.tap(index)),
                };
                let run = headless::run(&source, worker, &options, |result| {
                    tracks.publish(&camera, result, &events);
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

/// Each track's last published name, and the frame it was last seen in.
#[derive(Default)]
struct Tracks {
    last: HashMap<u64, (Option<String>, u64)>,
}

impl Tracks {
    /// Publishes the tracks of `result` that are new or changed their name.
    fn publish(&mut self, camera: &str, result: &FrameResult, events: &Events) {
        for face in &result.faces {
            let Some(track) = face.track else { continue };
            let name = face.identity.name.clone();
            let changed = self.last.get(&track).is_none_or(|(last, _)| *last != name);
            if changed {
                let event = events.publish(Sighting {
                    camera: camera.to_owned(),
                    track,
                    name: name.clone(),
                    person_id: face.identity.person_id,
                    distance: face.identity.distance,
                });
                tracing::debug!(camera, track, name = ?event.name, "sighting");
            }
            self.last.insert(track, (name, result.frame));
        }
        self.last
            .retain(|_, (_, frame)| result.frame.saturating_sub(*frame) < FORGET_AFTER_FRAMES);
    }
}
