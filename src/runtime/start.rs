//! Starting up, the same way for the window, the command line and the benchmark: which source
//! to read (the built-in demo included), and a worker with its models and gallery.

use std::sync::Arc;

use crate::base::error::Result;
use crate::config::{Config, DEMO_SOURCE};
use crate::demo;
use crate::gallery::{Actor, Gallery};
use crate::models::fetch::Progress;
use crate::roster::Roster;
use crate::runtime::capture::Source;
use crate::runtime::sightings::{Listener, SightingsWriter};
use crate::runtime::worker::Worker;

/// A source ready to open, and the configuration to run it with.
#[derive(Debug, Clone)]
pub struct Start {
    pub source: Source,
    /// The configuration, pointed at the demo's own gallery when the source is the demo.
    pub config: Config,
    /// Why the source is not the one configured, if it is not.
    pub notice: Option<String>,
}

/// Resolves `config.source`: "demo" is the built-in demo (prepared on first use); with
/// `demo_if_no_camera`, a camera that does not open is replaced by the demo, with a notice
/// that says why. Other sources are not tried here: opening them is the capture's job.
pub fn resolve_source(
    config: &Config,
    demo_if_no_camera: bool,
    progress: &dyn Progress,
) -> Result<Start> {
    let notice = if config.source == DEMO_SOURCE {
        None
    } else {
        let source: Source = config.source.parse()?;
        let camera_failed = match &source {
            Source::Camera(_) if demo_if_no_camera => source.open().err(),
            _ => None,
        };
        match camera_failed {
            None => {
                return Ok(Start {
                    source,
                    config: config.clone(),
                    notice: None,
                });
            }
            Some(e) => {
                let text = format!(
                    "{}. Showing the built-in demo instead; choose a source in Settings.",
                    e.report()
                );
                tracing::warn!("{text}");
                Some(text)
            }
        }
    };
    let demo = demo::prepare(config, progress)?;
    Ok(Start {
        source: Source::File(demo.clip),
        config: config.with_own_gallery(demo.data_dir),
        notice,
    })
}

/// The worker `config` describes: models loaded (fetched first if missing), roster read.
/// Enrollments through it are recorded in the audit trail as made by `actor`. Sightings past
/// `retention_days` are purged first.
pub fn worker(config: &Config, actor: Actor, progress: &dyn Progress) -> Result<Worker> {
    let gallery = config.open_gallery()?;
    purge_old_sightings(config, gallery.as_ref());
    let pipeline = config.load_pipeline(progress)?;
    let roster = Roster::open(gallery, pipeline.embedder_id(), config.matching())?;
    Worker::new(pipeline, roster, actor)
}

/// Purges the sightings (and unknown faces) past their retention in `gallery`, as a process
/// that records them starts.
pub fn purge_old_sightings(config: &Config, gallery: &dyn Gallery) {
    // Recognition does not depend on it: a gallery that cannot be changed now still recognises.
    if let Err(e) = gallery.purge_sightings(&config.sighting_cutoffs(), &Actor::purge()) {
        tracing::warn!(
            "cannot purge sightings older than retention_days: {}",
            e.report()
        );
    }
}

/// The sightings writer of this process, on `gallery`, telling `listener` of each event:
/// `None` when `config` records no sightings (`sightings.record`).
pub fn sightings_writer(
    config: &Config,
    gallery: &Arc<dyn Gallery>,
    listener: Option<Listener>,
) -> Result<Option<SightingsWriter>> {
    if !config.sightings.record {
        return Ok(None);
    }
    SightingsWriter::start(gallery.clone(), &config.sightings, listener).map(Some)
}

/// A [`worker`] that records the sightings of the source `camera` (unless `config` records
/// none), through a writer of its own that stores the last of them as the worker ends.
pub fn recording_worker(
    config: &Config,
    actor: Actor,
    progress: &dyn Progress,
    camera: &str,
) -> Result<Worker> {
    let mut worker = worker(config, actor, progress)?;
    if let Some(writer) = sightings_writer(config, worker.gallery(), None)? {
        let follower = writer.follower(camera, worker.pipeline().embedder_id());
        worker.record_sightings(follower);
    }
    Ok(worker)
}
