//! The roster in memory: every enrolled embedding of the pool's embedder in one matcher, and
//! each person's id, swapped whole when the gallery changes (here or on another machine).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding};
use crate::gallery::{Gallery, thresholds_for};
use crate::vision::matcher::{CalibrationConfig, Identity, Matcher};

/// One consistent view of the gallery.
struct Snapshot {
    matcher: Matcher,
    /// Everyone enrolled, with faces or not yet.
    people: usize,
}

impl Snapshot {
    fn read(
        gallery: &dyn Gallery,
        embedder: &EmbedderId,
        threshold: f32,
        calibration: CalibrationConfig,
    ) -> Result<Snapshot> {
        let people = gallery.people()?;
        let own = thresholds_for(&people, embedder);
        let matcher = Matcher::new(threshold, gallery.embeddings(embedder)?)
            .with_own_thresholds(&own, calibration);
        Ok(Snapshot {
            matcher,
            people: people.len(),
        })
    }
}

pub(crate) struct Roster {
    snapshot: RwLock<Arc<Snapshot>>,
    threshold: f32,
    calibration: CalibrationConfig,
}

/// How long to wait before reading the gallery again after a failed reload.
const RETRY: Duration = Duration::from_secs(2);

impl Roster {
    /// The roster of `gallery`, matched with `threshold` and people's own thresholds within
    /// `calibration`'s bounds of it.
    pub(crate) fn load(
        gallery: &dyn Gallery,
        embedder: &EmbedderId,
        threshold: f32,
        calibration: CalibrationConfig,
    ) -> Result<Roster> {
        let snapshot = Snapshot::read(gallery, embedder, threshold, calibration)?;
        Ok(Roster {
            snapshot: RwLock::new(Arc::new(snapshot)),
            threshold,
            calibration,
        })
    }

    fn current(&self) -> Result<Arc<Snapshot>> {
        self.snapshot
            .read()
            .map(|s| s.clone())
            .map_err(|_| Error::Internal("a thread panicked while it swapped the roster"))
    }

    /// Reads the gallery again and swaps the roster.
    pub(crate) fn reload(&self, gallery: &dyn Gallery, embedder: &EmbedderId) -> Result<()> {
        let fresh = Arc::new(Snapshot::read(
            gallery,
            embedder,
            self.threshold,
            self.calibration,
        )?);
        let people = fresh.people;
        let faces = fresh.matcher.len();
        *self
            .snapshot
            .write()
            .map_err(|_| Error::Internal("a thread panicked while it swapped the roster"))? = fresh;
        tracing::info!(people, faces, "roster reloaded");
        Ok(())
    }

    /// Keeps the roster current from `gallery`'s change feed, on a thread of its own, for as
    /// long as the roster lives. A failed reload is retried, the old roster kept meanwhile.
    pub(crate) fn follow(
        self: &Arc<Self>,
        gallery: Arc<dyn Gallery>,
        embedder: EmbedderId,
    ) -> Result<()> {
        let feed = gallery.watch()?;
        let roster = Arc::downgrade(self);
        std::thread::Builder::new()
            .name("roster".into())
            .spawn(move || {
                let mut pending = false;
                loop {
                    // Waking now and then notices that the server has gone.
                    let wait = if pending {
                        RETRY
                    } else {
                        Duration::from_secs(1)
                    };
                    match feed.changes().recv_timeout(wait) {
                        Ok(_) => pending = true,
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                    }
                    let Some(roster) = roster.upgrade() else {
                        return;
                    };
                    if pending {
                        match roster.reload(gallery.as_ref(), &embedder) {
                            Ok(()) => pending = false,
                            Err(e) => tracing::warn!(
                                "cannot reload the roster (retrying in {}s): {}",
                                RETRY.as_secs(),
                                e.report()
                            ),
                        }
                    }
                }
            })
            .map_err(|source| Error::Spawn {
                thread: "roster",
                source,
            })?;
        Ok(())
    }

    /// The nearest enrolled person, named when within `threshold` for everyone, or when `None`
    /// within their own threshold if they have one, else the configured one.
    pub(crate) fn identify(
        &self,
        embedding: &Embedding,
        threshold: Option<f32>,
    ) -> Result<Identity> {
        let snapshot = self.current()?;
        Ok(match threshold {
            Some(threshold) => snapshot.matcher.identify_within(embedding, threshold),
            None => snapshot.matcher.identify(embedding),
        })
    }

    /// The configured threshold.
    pub(crate) fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The strictest threshold anyone enrolled is named within: the configured one, or a
    /// person's own stricter one.
    pub(crate) fn strictest_threshold(&self) -> Result<f32> {
        Ok(self.current()?.matcher.strictest_threshold())
    }

    /// People and faces the roster matches against.
    pub(crate) fn size(&self) -> Result<(usize, usize)> {
        let snapshot = self.current()?;
        Ok((snapshot.people, snapshot.matcher.len()))
    }
}
