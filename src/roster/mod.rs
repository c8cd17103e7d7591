//! The roster: who can be named, kept current. One [`Roster`] per process and embedder holds the
//! gallery's people as a matcher (their embeddings, names, ids, own thresholds and negative
//! examples) and swaps it
//! whole, as one [`Snapshot`], whenever the gallery's change feed says the roster changed, here
//! or on another machine. Whoever recognises (the window's worker, `serve` and its live
//! sources, a stream worker, `eval`) takes the snapshot current at that moment and matches
//! against it; the pipeline only detects, aligns, embeds and tracks.
//!
//! The global threshold in force is the site threshold the gallery stores for the roster's
//! embedder (set from the console, so that every machine of the gallery matches alike), else
//! the config's; a threshold this process was given (`--threshold`, the window's slider) wins
//! over both, for this process alone.
//!
//! A load that fails (the store is unreachable, a connection died) keeps the snapshot in use
//! and is tried again with a growing pause, until it succeeds: a change notice is never lost
//! to a failed load. The outage is logged once when it starts and once when it ends.

pub mod preview;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use crossbeam_channel::RecvTimeoutError;

use crate::base::error::{Error, Result};
use crate::base::identity::EmbedderId;
use crate::gallery::{ChangeFeed, Gallery, thresholds_for};
use crate::vision::matcher::{CalibrationConfig, Matcher, threshold_problem};

/// The first pause before a failed load is tried again; it doubles with each failure.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest pause between two tries, so that a gallery that answers again is read within
/// seconds.
const MAX_RETRY: Duration = Duration::from_secs(4);
/// How often the follower looks up from the feed, to notice that the roster is gone.
const TICK: Duration = Duration::from_secs(1);

/// How faces are matched: the global threshold, and how far people's own may stray from it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matching {
    /// The config's threshold: in force while the gallery stores no site threshold.
    pub threshold: f32,
    /// Whether `threshold` was given to this process (`--threshold`): it is then in force
    /// whatever the gallery stores.
    pub pinned: bool,
    pub calibration: CalibrationConfig,
}

/// The roster at one moment: never changed, replaced whole by the next.
pub struct Snapshot {
    matcher: Matcher,
    /// Everyone enrolled, with faces or not.
    people: usize,
    /// Enrolled faces with no embedding from the roster's embedder, which cannot be matched.
    lacking: usize,
    /// The site threshold the gallery stored for the embedder at the load, if any.
    site: Option<f32>,
    /// The gallery's roster version read before the load: the snapshot is at least that new.
    version: i64,
    /// Which snapshot of this roster it is; a newer one has a greater number.
    generation: u64,
}

impl Snapshot {
    /// What faces are matched against.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Everyone enrolled, with faces or not.
    pub fn people(&self) -> usize {
        self.people
    }

    /// Enrolled faces that are matched.
    pub fn faces(&self) -> usize {
        self.matcher.len()
    }

    /// Enrolled faces with no embedding from the roster's embedder (`gallery reembed` makes
    /// them).
    pub fn lacking(&self) -> usize {
        self.lacking
    }

    /// Which snapshot this is: a user that keeps labels (a tracker) decides them afresh when
    /// the number changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The site threshold the gallery stores for the roster's embedder, if it stores one.
    pub fn site_threshold(&self) -> Option<f32> {
        self.site
    }
}

/// Where the global threshold comes from, when the gallery stores none or is overruled.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fallback {
    /// The config's.
    config: f32,
    /// One this process was given, that wins over the gallery's.
    pinned: Option<f32>,
}

impl Fallback {
    fn threshold(&self, site: Option<f32>) -> f32 {
        self.pinned.or(site).unwrap_or(self.config)
    }
}

/// The gallery's people in memory, kept current on a thread of its own for as long as the
/// roster lives.
pub struct Roster {
    gallery: Arc<dyn Gallery>,
    embedder: EmbedderId,
    calibration: CalibrationConfig,
    fallback: Mutex<Fallback>,
    current: RwLock<Arc<Snapshot>>,
    /// Held while a snapshot is made, so that a slow load never replaces a newer one.
    loading: Mutex<()>,
    generations: AtomicU64,
}

impl Roster {
    /// Reads `gallery`'s people with `embedder`'s embeddings and starts following its change
    /// feed. Fails when the gallery cannot be read now: a recognizer that starts knowing
    /// nobody would call everyone unknown without saying why.
    pub fn open(
        gallery: Arc<dyn Gallery>,
        embedder: EmbedderId,
        matching: Matching,
    ) -> Result<Arc<Roster>> {
        let feed = gallery.watch()?;
        let fallback = Fallback {
            config: matching.threshold,
            pinned: matching.pinned.then_some(matching.threshold),
        };
        let first = load(
            gallery.as_ref(),
            &embedder,
            fallback,
            matching.calibration,
            0,
        )?;
        let roster = Arc::new(Roster {
            gallery,
            embedder,
            calibration: matching.calibration,
            fallback: Mutex::new(fallback),
            current: RwLock::new(Arc::new(first)),
            loading: Mutex::new(()),
            generations: AtomicU64::new(0),
        });
        let follower = Arc::downgrade(&roster);
        std::thread::Builder::new()
            .name("roster".into())
            .spawn(move || follow(&follower, Some(feed)))
            .map_err(|source| Error::Spawn {
                thread: "roster",
                source,
            })?;
        Ok(roster)
    }

    /// The roster as it is now.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        // A panic elsewhere cannot leave the slot half written: it only ever holds a whole
        // snapshot.
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The gallery the roster follows, shared with whoever changes it.
    pub fn gallery(&self) -> &Arc<dyn Gallery> {
        &self.gallery
    }

    /// The embedder whose embeddings are matched.
    pub fn embedder(&self) -> &EmbedderId {
        &self.embedder
    }

    /// The global threshold in force.
    pub fn threshold(&self) -> f32 {
        self.snapshot().matcher.threshold()
    }

    /// The config's threshold, in force while the gallery stores no site threshold.
    pub fn config_threshold(&self) -> f32 {
        self.fallback().config
    }

    /// The threshold this process was given (`--threshold`, the window's slider), which
    /// overrules the gallery's site threshold here, if it was given one.
    pub fn pinned_threshold(&self) -> Option<f32> {
        self.fallback().pinned
    }

    fn fallback(&self) -> Fallback {
        *self.fallback.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the gallery again now, for a caller that has just changed it and wants the next
    /// match to see the change without waiting for the feed. On failure the snapshot stays
    /// and the feed's notice of the change makes the follower try again.
    pub fn reload(&self) -> Result<()> {
        let _loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = load(
            self.gallery.as_ref(),
            &self.embedder,
            self.fallback(),
            self.calibration,
            self.generations.fetch_add(1, Ordering::Relaxed) + 1,
        )?;
        self.swap(fresh);
        Ok(())
    }

    /// Matches with `threshold` for everyone from now on (people's own thresholds stay within
    /// their bounds of it), without reading the gallery: this process's choice (the window's
    /// slider), which overrules the gallery's site threshold here until the process ends.
    pub fn set_threshold(&self, threshold: f32) {
        let _loading = self.loading.lock().unwrap_or_else(PoisonError::into_inner);
        self.fallback
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pinned = Some(threshold);
        let current = self.snapshot();
        let mut matcher = current.matcher.clone();
        matcher.set_threshold(threshold);
        self.swap(Snapshot {
            matcher,
            generation: self.generations.fetch_add(1, Ordering::Relaxed) + 1,
            ..*current
        });
    }

    fn swap(&self, fresh: Snapshot) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
    }

    /// Reloads when the gallery's roster version moved past the snapshot's; whether it did.
    fn catch_up(&self) -> Result<bool> {
        if self.gallery.roster_version()? == self.snapshot().version {
            return Ok(false);
        }
        tracing::info!("the gallery changed; reloading it");
        self.reload()?;
        Ok(true)
    }
}

/// Reads a snapshot from the gallery.
fn load(
    gallery: &dyn Gallery,
    embedder: &EmbedderId,
    fallback: Fallback,
    calibration: CalibrationConfig,
    generation: u64,
) -> Result<Snapshot> {
    // Read first: a change made during the load leaves the snapshot newer than its version,
    // never older, so the change's notice is not mistaken for one already seen.
    let version = gallery.roster_version()?;
    let site = gallery.site_threshold(embedder)?.filter(|&stored| {
        // Bounded when stored; a value written by other means is not obeyed.
        let problem = threshold_problem(stored);
        if let Some(problem) = &problem {
            tracing::warn!(
                "the site threshold stored for {embedder} {problem}; matching with the config's \
                 instead (set it again from the console's Settings page)"
            );
        }
        problem.is_none()
    });
    let threshold = fallback.threshold(site);
    let people = gallery.people()?;
    let own = thresholds_for(&people, embedder);
    let lacking = gallery.count_without(embedder)?;
    if lacking > 0 {
        tracing::warn!(
            "{lacking} enrolled face(s) have no embedding from {embedder} and are not matched; run `whoisit gallery reembed`"
        );
    }
    let matcher = Matcher::new(threshold, gallery.embeddings(embedder)?)
        .with_own_thresholds(&own, calibration)
        .with_negatives(gallery.negatives(embedder)?);
    tracing::info!(
        threshold,
        site_threshold = site,
        people = people.len(),
        faces = matcher.len(),
        own_thresholds = own.len(),
        negatives = matcher.negatives(),
        %embedder,
        "gallery loaded"
    );
    Ok(Snapshot {
        matcher,
        people: people.len(),
        lacking,
        site,
        version,
        generation,
    })
}

/// The follower: waits for change notices and catches up with each, trying a failed load
/// (or a feed that ended) again with a growing pause until it succeeds, for as long as the
/// roster lives.
fn follow(roster: &Weak<Roster>, mut feed: Option<ChangeFeed>) {
    let mut pending = false;
    let mut retry = FIRST_RETRY;
    let mut failures = 0u32;
    loop {
        let changes = feed
            .as_ref()
            .map_or_else(crossbeam_channel::never, |f| f.changes().clone());
        match changes.recv_timeout(if pending { retry } else { TICK }) {
            Ok(_) => pending = true,
            Err(RecvTimeoutError::Timeout) => {}
            // The feed's producer ended: changes may go unheard until it is watched again.
            Err(RecvTimeoutError::Disconnected) => {
                feed = None;
                pending = true;
            }
        }
        let Some(roster) = roster.upgrade() else {
            return;
        };
        if !pending {
            continue;
        }
        let attempt = if feed.is_some() {
            roster.catch_up().map(|_| ())
        } else {
            // Watched again before the load, so that no change falls between the two.
            roster.gallery.watch().and_then(|watched| {
                feed = Some(watched);
                roster.reload()
            })
        };
        match attempt {
            Ok(()) => {
                if failures > 0 {
                    tracing::info!(failures, "the gallery answers again; the roster is current");
                }
                pending = false;
                failures = 0;
                retry = FIRST_RETRY;
            }
            Err(e) => {
                if failures == 0 {
                    tracing::warn!(
                        "cannot reload the gallery, still recognising the people loaded before; \
                         trying again every few seconds until it answers: {}",
                        e.report()
                    );
                } else {
                    tracing::debug!(failures, "the gallery still cannot be read: {}", e.report());
                }
                failures += 1;
                retry = (retry * 2).min(MAX_RETRY);
            }
        }
    }
}
