//! Sightings from the tracker's decisions: a [`Follower`] per source turns each track's
//! appearance into one sighting (appeared, named, renamed, left), and one [`SightingsWriter`]
//! per process stores them in the gallery on its own thread, in batches, so that a frame never
//! waits for the store.
//!
//! A track that starts unknown and is then named is one sighting, of that person; a track
//! named as somebody else is two (the first ends). A label lost for a moment (a gallery reload
//! makes every face undecided again) does not end a sighting. An unknown face's sighting keeps
//! its best crop (the biggest) and the track's mean embedding, when the site keeps unknown
//! faces; once named, it keeps the mean embedding only, so that a wrong name can be corrected
//! ("not this person").
//!
//! Each note says what changed ([`Change`]): a track that appeared, was named, renamed or
//! left is an event (the server's `/v1/events`, and over MQTT on the distributed path), once
//! per change; a note that only refreshes a sighting (its last-seen time, evidence, crop) is
//! stored, never an event. A camera agent has no gallery: its writer
//! ([`SightingsWriter::relay`]) hands each note to the sightings stream, and the worker that
//! owns the store [tells](SightingsWriter::tell) its own writer (see `crate::stream::sightings`).
//!
//! The writer also groups the unknown faces into visitors ([`crate::gallery::visitors`]): after
//! it stored new ones, at most every [`REGROUP_EVERY`] and once more as it ends, so that a
//! process's own sightings are grouped by the process that saw them, off the frame's path.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use opencv::core::Mat;
use serde::{Deserialize, Serialize};

use crate::base::address::redacted;
use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, PersonId};
use crate::config::sightings::SightingsConfig;
use crate::enroll::quality::{crop_png, face_region};
use crate::gallery::{
    Gallery, GroupSettings, Grouper, SightingId, SightingRecord, UnknownFace, now,
};
use crate::vision::pipeline::FaceResult;
use crate::vision::track::Tracker;

/// How often the writer stores what it was told.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// A batch this big is stored at once.
const BATCH: usize = 256;
/// How often a sighting still in view has its last-seen time stored.
const REFRESH: Duration = Duration::from_secs(5);
/// Notes waiting for the writer; past this, a source drops its notes rather than wait.
const QUEUE: usize = 4096;
/// Sightings the writer keeps waiting while the store fails; past this, the oldest go.
const MAX_WAITING: usize = 10_000;
/// How often, at most, the writer groups unknown faces again while new ones come: a regroup
/// compares every unknown face with every other (see docs/decisions/0006-visitors.md).
const REGROUP_EVERY: Duration = Duration::from_secs(10);
/// A crop is taken again when the face is this much bigger than the one kept.
const BETTER_CROP: f32 = 1.2;

/// What changed in a sighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A track came into view, named or unknown.
    Appeared,
    /// An unknown track was named.
    Named,
    /// A named track was named as somebody else: a new sighting, of them.
    Renamed,
    /// The track left.
    Left,
    /// Only its last-seen time, evidence or crop: stored, not an event. The end of a sighting
    /// that was renamed is one too (the new sighting's `Renamed` says it).
    Updated,
}

impl Change {
    /// Whether this change is told to the world (events, MQTT), not only stored.
    pub fn is_event(self) -> bool {
        self != Change::Updated
    }

    /// Whether the person is in view after it: an arrival, for `.../people/NAME/seen`.
    pub fn is_arrival(self) -> bool {
        matches!(self, Change::Appeared | Change::Named | Change::Renamed)
    }
}

/// The newest state of one sighting and what changed in it, as a follower tells it.
#[derive(Debug, Clone)]
pub struct Told {
    /// The sighting, unique in the process that followed it.
    pub key: u64,
    pub change: Change,
    /// The person's name as the tracker labelled it, for events (the store keeps the id).
    pub name: Option<String>,
    /// With an unknown face's crop (PNG) when a better one came.
    pub record: SightingRecord,
    /// The track left: nothing more will come for this key.
    pub left: bool,
}

/// What a follower hands its writer: a note, with a better crop of an unknown face still to
/// encode (off the frame's path).
struct Note {
    told: Told,
    region: Option<Mat>,
}

/// Who is told of the events (changes other than updates) as the writer gets them.
pub type Listener = Box<dyn FnMut(&Told) + Send>;

struct Shared {
    notes: Option<Sender<Note>>,
    thread: Option<JoinHandle<()>>,
    next_key: AtomicU64,
    dropped: AtomicU64,
}

impl Drop for Shared {
    /// The last follower (or the writer's handle) is gone: the writer stores what it has
    /// and ends; waiting for it here means no sighting is lost when the process exits.
    fn drop(&mut self) {
        self.notes = None;
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the sightings writer panicked");
        }
    }
}

/// The one thread of a process that stores sightings. It runs while this or any
/// [`Follower`] made from it lives, and stores what it has before it ends.
#[derive(Clone)]
pub struct SightingsWriter {
    shared: Arc<Shared>,
    keep_unknown_faces: bool,
}

impl SightingsWriter {
    /// Starts the writer on `gallery`, as `config` says: with `keep_unknown_faces`, an
    /// unknown face's crop and mean embedding are stored with its sighting, and the unknown
    /// faces are grouped into visitors. `listener` hears each event as the writer gets it.
    pub fn start(
        gallery: Arc<dyn Gallery>,
        config: &SightingsConfig,
        listener: Option<Listener>,
    ) -> Result<SightingsWriter> {
        let grouping = config.keep_unknown_faces.then_some(config.visitors);
        SightingsWriter::spawn(config, 1, move |received| {
            Writer::new(gallery, grouping, listener).run(received);
        })
    }

    /// A writer that stores nothing itself: it hands each note, its crop encoded, to
    /// `forward`, on its own thread (a camera agent's, to the sightings stream). Its keys start
    /// from the clock, so a restarted process does not reuse the keys of sightings it left
    /// open.
    pub fn relay(
        config: &SightingsConfig,
        mut forward: impl FnMut(Told) + Send + 'static,
    ) -> Result<SightingsWriter> {
        let first_key = u64::try_from(now()).unwrap_or_default() * 1_000_000;
        SightingsWriter::spawn(config, first_key, move |received| {
            for note in received {
                forward(encoded(note));
            }
        })
    }

    fn spawn(
        config: &SightingsConfig,
        first_key: u64,
        body: impl FnOnce(&Receiver<Note>) + Send + 'static,
    ) -> Result<SightingsWriter> {
        let (notes, received) = crossbeam_channel::bounded(QUEUE);
        let thread = std::thread::Builder::new()
            .name("sightings".into())
            .spawn(move || body(&received))
            .map_err(|source| Error::Spawn {
                thread: "sightings",
                source,
            })?;
        Ok(SightingsWriter {
            shared: Arc::new(Shared {
                notes: Some(notes),
                thread: Some(thread),
                next_key: AtomicU64::new(first_key),
                dropped: AtomicU64::new(0),
            }),
            keep_unknown_faces: config.keep_unknown_faces,
        })
    }

    /// Hands the writer a note another process followed (a camera agent's, from the sightings
    /// stream), under a key of this process ([`SightingsWriter::new_key`]).
    pub fn tell(&self, told: Told) {
        deliver(&self.shared, Note { told, region: None });
    }

    /// A key for a sighting told from elsewhere, unique in this process.
    pub fn new_key(&self) -> u64 {
        self.shared.next_key.fetch_add(1, Ordering::Relaxed)
    }

    /// A follower of the faces of the source `camera`, whose unknown faces are embedded by
    /// `embedder`. A camera's URL is stored without its credentials.
    pub fn follower(&self, camera: &str, embedder: EmbedderId) -> Follower {
        Follower {
            camera: redacted(camera),
            embedder,
            keep_unknown_faces: self.keep_unknown_faces,
            shared: self.shared.clone(),
            open: HashMap::new(),
        }
    }
}

/// One track's sighting, while it lasts.
struct Open {
    key: u64,
    track: u64,
    person: Option<PersonId>,
    name: Option<String>,
    /// The event not yet told (appeared, named, renamed).
    event: Option<Change>,
    first: i64,
    last: i64,
    distance: Option<f32>,
    evidence: u32,
    /// The mean of the track's recent embeddings, while unknown.
    mean: Option<Embedding>,
    /// The area of the face whose crop was taken (0: none yet).
    crop_area: i32,
    region: Option<Mat>,
    changed: bool,
    sent: Option<Instant>,
}

impl Open {
    /// Takes what `face`, in `frame`, adds to the sighting: a name once named, the time, a
    /// better distance or more evidence, the track's mean and a bigger crop while unknown.
    fn update(
        &mut self,
        face: &FaceResult,
        frame: &Mat,
        tracker: &Tracker,
        now: i64,
        keep_unknown_faces: bool,
    ) {
        let person = face.identity.person_id;
        if self.person.is_none() && person.is_some() {
            self.person = person;
            self.name.clone_from(&face.identity.name);
            // Unless it appeared named and is told so.
            self.event = Some(self.event.unwrap_or(Change::Named));
            self.distance = None;
            self.region = None;
            self.changed = true;
        }
        self.last = now;
        // The face as what the sighting says it is: named as its person, or unknown.
        if person == self.person || person.is_none() && self.person.is_none() {
            if let Some(d) = face.identity.distance
                && self.distance.is_none_or(|best| d < best)
            {
                self.distance = Some(d);
            }
            let agreeing = u32::try_from(tracker.agreeing(self.track)).unwrap_or(u32::MAX);
            if agreeing > self.evidence {
                self.evidence = agreeing;
                self.changed = true;
            }
        }
        if let Some(mean) = tracker.mean_embedding(self.track) {
            self.mean = Some(mean);
        }
        if self.person.is_some() {
            return;
        }
        let area = face.detection.bbox.area();
        if keep_unknown_faces && area as f32 >= self.crop_area as f32 * BETTER_CROP {
            match face_region(frame, &face.detection) {
                Ok(region) => {
                    self.region = Some(region);
                    self.crop_area = area;
                    self.changed = true;
                }
                Err(e) => tracing::debug!("no crop of an unknown face: {}", e.report()),
            }
        }
    }
}

/// Turns the tracked faces of one source into sightings, for the writer it came from.
pub struct Follower {
    camera: String,
    embedder: EmbedderId,
    keep_unknown_faces: bool,
    shared: Arc<Shared>,
    /// By track.
    open: HashMap<u64, Open>,
}

impl Follower {
    /// Notes the decisions of a frame: `faces` as the tracker labelled them in `frame` (BGR).
    /// Cheap: comparisons, and now and then a copy of a face's region.
    pub fn observe(&mut self, frame: &Mat, faces: &[FaceResult], tracker: &Tracker) {
        let now = now();
        for face in faces {
            let Some(track) = face.track else { continue };
            let person = face.identity.person_id;
            let renamed = self
                .open
                .get(&track)
                .is_some_and(|o| o.person.is_some() && person.is_some() && o.person != person);
            if renamed && let Some(ended) = self.open.remove(&track) {
                self.send(ended, Change::Updated);
            }
            let key = &self.shared.next_key;
            let open = self.open.entry(track).or_insert_with(|| Open {
                key: key.fetch_add(1, Ordering::Relaxed),
                track,
                person,
                name: face.identity.name.clone().filter(|_| person.is_some()),
                event: Some(if renamed {
                    Change::Renamed
                } else {
                    Change::Appeared
                }),
                first: now,
                last: now,
                distance: None,
                evidence: 0,
                mean: None,
                crop_area: 0,
                region: None,
                changed: true,
                sent: None,
            });
            open.update(face, frame, tracker, now, self.keep_unknown_faces);
        }
        let gone: Vec<u64> = self
            .open
            .keys()
            .copied()
            .filter(|track| !tracker.follows(*track))
            .collect();
        for track in gone {
            if let Some(ended) = self.open.remove(&track) {
                self.send(ended, Change::Left);
            }
        }
        let mut due: Vec<Note> = Vec::new();
        for open in self.open.values_mut() {
            if open.changed || open.sent.is_none_or(|at| at.elapsed() >= REFRESH) {
                let change = open.event.take().unwrap_or(Change::Updated);
                due.push(note(
                    &self.camera,
                    &self.embedder,
                    self.keep_unknown_faces,
                    open,
                    change,
                    false,
                ));
                open.changed = false;
                open.sent = Some(Instant::now());
            }
        }
        for note in due {
            self.deliver(note);
        }
    }

    /// The sighting `open` has ended, as `change` tells.
    fn send(&self, mut open: Open, change: Change) {
        let note = note(
            &self.camera,
            &self.embedder,
            self.keep_unknown_faces,
            &mut open,
            change,
            true,
        );
        self.deliver(note);
    }

    fn deliver(&self, note: Note) {
        deliver(&self.shared, note);
    }
}

/// Hands a note to the writer without waiting: a frame is never held up by the store.
fn deliver(shared: &Shared, note: Note) {
    let Some(notes) = &shared.notes else {
        return;
    };
    match notes.try_send(note) {
        Ok(()) | Err(TrySendError::Disconnected(_)) => {}
        Err(TrySendError::Full(_)) => {
            if shared.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::warn!(
                    "the sightings writer falls behind; sightings are being dropped (the gallery may be slow or locked)"
                );
            }
        }
    }
}

impl Drop for Follower {
    /// The source ended: every face in view has left.
    fn drop(&mut self) {
        for (_, open) in std::mem::take(&mut self.open) {
            self.send(open, Change::Left);
        }
    }
}

/// The newest state of `open`, for the writer: the track's mean embedding, named or not (for
/// "not this person"), and an unknown face's crop with it, which waits for one.
fn note(
    camera: &str,
    embedder: &EmbedderId,
    keep_unknown_faces: bool,
    open: &mut Open,
    change: Change,
    left: bool,
) -> Note {
    let unknown = open
        .mean
        .clone()
        .filter(|_| keep_unknown_faces)
        .map(|embedding| UnknownFace {
            crop: None,
            embedder: embedder.clone(),
            embedding,
        });
    let region = if unknown.is_some() && open.person.is_none() {
        open.region.take()
    } else {
        None
    };
    Note {
        told: Told {
            key: open.key,
            change,
            name: open.name.clone(),
            left,
            record: SightingRecord {
                id: None,
                camera: camera.to_owned(),
                track: open.track,
                person: open.person,
                first: open.first,
                last: open.last,
                distance: open.distance,
                evidence: open.evidence,
                unknown,
            },
        },
        region,
    }
}

/// A note with its crop encoded, as it leaves the process.
fn encoded(note: Note) -> Told {
    let mut told = note.told;
    if let (Some(unknown), Some(region)) = (&mut told.record.unknown, note.region) {
        unknown.crop = png(&region);
    }
    told
}

fn png(region: &Mat) -> Option<Vec<u8>> {
    crop_png(region)
        .map_err(|e| tracing::debug!("cannot encode an unknown face's crop: {}", e.report()))
        .ok()
}

/// A sighting waiting to be stored.
struct Waiting {
    record: SightingRecord,
    left: bool,
}

/// The writer's state, on its thread.
struct Writer {
    gallery: Arc<dyn Gallery>,
    /// The store's id of each sighting stored, by key.
    ids: HashMap<u64, SightingId>,
    /// Sightings the store will not take (their person was forgotten): later notes of them are
    /// dropped too.
    refused: HashSet<u64>,
    waiting: HashMap<u64, Waiting>,
    /// In the order they first came, for a fair batch.
    order: Vec<u64>,
    failing: bool,
    /// How unknown faces are grouped; `None` when none are kept.
    grouping: Option<Grouper>,
    /// Unknown faces were stored since the last grouping.
    ungrouped: bool,
    grouped_at: Option<Instant>,
    listener: Option<Listener>,
}

impl Writer {
    fn new(
        gallery: Arc<dyn Gallery>,
        grouping: Option<GroupSettings>,
        listener: Option<Listener>,
    ) -> Writer {
        Writer {
            listener,
            gallery,
            ids: HashMap::new(),
            refused: HashSet::new(),
            waiting: HashMap::new(),
            order: Vec::new(),
            failing: false,
            grouping: grouping.map(Grouper::new),
            ungrouped: false,
            grouped_at: None,
        }
    }

    fn run(mut self, notes: &Receiver<Note>) {
        let mut due = Instant::now() + FLUSH_EVERY;
        loop {
            match notes.recv_deadline(due) {
                Ok(note) => {
                    self.take(note);
                    if self.waiting.len() >= BATCH {
                        self.flush();
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.flush();
                    if self
                        .grouped_at
                        .is_none_or(|at| at.elapsed() >= REGROUP_EVERY)
                    {
                        self.regroup();
                    }
                    due = Instant::now() + FLUSH_EVERY;
                }
                // Every follower is gone: store the last of it and end.
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        self.flush();
        self.regroup();
        if !self.waiting.is_empty() {
            tracing::warn!(
                count = self.waiting.len(),
                "sightings could not be stored before the end; they are lost"
            );
        }
    }

    /// Merges a note into what waits: its newest state, with the newest crop not yet stored;
    /// tells the listener of an event.
    fn take(&mut self, note: Note) {
        if let Some(listener) = &mut self.listener
            && note.told.change.is_event()
        {
            listener(&note.told);
        }
        let Told {
            key,
            mut record,
            left,
            ..
        } = encoded(note);
        if self.refused.contains(&key) {
            return;
        }
        match self.waiting.remove(&key) {
            Some(before) => {
                let older = before.record.unknown.and_then(|u| u.crop);
                if let Some(unknown) = &mut record.unknown {
                    unknown.crop = unknown.crop.take().or(older);
                }
            }
            None => self.order.push(key),
        }
        self.waiting.insert(key, Waiting { record, left });
        if self.waiting.len() > MAX_WAITING {
            let oldest = self.order.remove(0);
            self.waiting.remove(&oldest);
        }
    }

    /// Groups the unknown faces again, when new ones were stored.
    fn regroup(&mut self) {
        let Some(grouper) = self.grouping.as_mut().filter(|_| self.ungrouped) else {
            return;
        };
        let start = Instant::now();
        match grouper.regroup(self.gallery.as_ref()) {
            Ok(changed) => {
                self.ungrouped = false;
                tracing::debug!(
                    changed,
                    ms = start.elapsed().as_millis(),
                    "unknown faces grouped"
                );
            }
            Err(e) => tracing::warn!(
                "cannot group unknown faces into visitors now; tried again later: {}",
                e.report()
            ),
        }
        self.grouped_at = Some(Instant::now());
    }

    /// Stores what waits, in one transaction; on failure it waits for the next try.
    fn flush(&mut self) {
        if self.waiting.is_empty() {
            return;
        }
        let keys: Vec<u64> = std::mem::take(&mut self.order);
        let records: Vec<SightingRecord> = keys
            .iter()
            .filter_map(|key| {
                let mut record = self.waiting.get(key)?.record.clone();
                record.id = self.ids.get(key).copied();
                Some(record)
            })
            .collect();
        match self.gallery.write_sightings(&records) {
            Ok(stored) => {
                self.ungrouped |= records.iter().any(|r| r.unknown.is_some());
                if self.failing {
                    tracing::info!("sightings are stored again");
                    self.failing = false;
                }
                for (key, id) in keys.iter().zip(stored) {
                    let left = self.waiting.remove(key).is_some_and(|w| w.left);
                    match id {
                        Some(_) if left => {
                            self.ids.remove(key);
                        }
                        Some(id) => {
                            self.ids.insert(*key, id);
                        }
                        None => {
                            self.ids.remove(key);
                            if !left {
                                self.refused.insert(*key);
                            }
                        }
                    }
                }
            }
            Err(e) => {
                self.order = keys;
                if !self.failing {
                    tracing::warn!(
                        "cannot store sightings; recognition goes on and they are tried again: {}",
                        e.report()
                    );
                    self.failing = true;
                }
            }
        }
    }
}
