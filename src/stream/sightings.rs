//! The camera agents' sightings. A camera agent decides each track's label (its tracker), so it
//! follows the sightings as the window does, with the same
//! [`Follower`](crate::runtime::sightings::Follower); but it has no gallery: giving every
//! camera machine the gallery's database and key would spread the biometric data to the
//! machines least guarded. So the agent's writer relays each note to
//! `PREFIX:sightings`, and a worker, which has the gallery, [stores](store) them through its own
//! [`SightingsWriter`], as the window's are stored; the MQTT publisher publishes the same notes'
//! changes (`crate::stream::events`). Nothing re-derives a sighting from the answers.
//!
//! One worker at a time stores them: a sighting is many notes (appeared, refreshes, left), and
//! the writer that stored its first note knows its row, so notes of one sighting split between
//! two workers would make two sightings. Every worker competes for a lease on
//! `PREFIX:sightings:owner`; the holder reads the stream through its group and gives the lease
//! up when it stops. When it dies instead, another takes the lease once it expires ([`LEASE`])
//! and goes on from the notes it left unacknowledged. A sighting open at that moment is then stored in two pieces; notes handed
//! to the writer but not yet stored when a worker is killed (at most a second's) are lost.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::base::error::Result;
use crate::base::identity::EmbedderId;
use crate::config::Config;
use crate::config::streams::StreamsConfig;
use crate::runtime::sightings::{Follower, SightingsWriter};
use crate::stream::link::{self, BLOCK_MS, Failure, Link, Reader};
use crate::stream::wire::SightingNote;
use crate::stream::{Keys, SIGHTINGS_GROUP, unix_ms};

/// How long the storing worker's lease lasts without being renewed: after it died, another
/// stores the sightings within this.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often the lease is renewed, or tried for.
const RENEW_EVERY: Duration = Duration::from_secs(2);
const READ_BATCH: usize = 100;
/// Pending notes of a worker that died, taken over at once by the next owner.
const CLAIM_BATCH: usize = 1000;
const PAUSE: Duration = Duration::from_millis(50);

/// Takes the lease for `ARGV[1]` or renews it, for `ARGV[2]` ms; 1 if it holds it.
const LEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0";
/// Gives the lease up if `ARGV[1]` holds it.
const RELEASE_SCRIPT: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0";

/// A follower of the camera agent `camera`'s tracks whose notes go to the sightings stream,
/// or `None` when `config` records no sightings (`sightings.record`). Its relay thread ends,
/// after the last note, with the follower.
pub fn follower(config: &Config, camera: &str) -> Result<Option<Follower>> {
    if !config.sightings.record {
        return Ok(None);
    }
    // The workers' embedder made the embeddings an unknown face's mean is of; the worker that
    // stores the sighting says which (`SightingNote::told`).
    Ok(Some(relay(config)?.follower(camera, config.embedder.id())))
}

/// A camera agent's sightings writer: each note of its follower goes to the sightings stream
/// (bounded by `streams.max_results`). While Redis is down, notes are dropped and counted in
/// the log: the camera goes on.
fn relay(config: &Config) -> Result<SightingsWriter> {
    let streams = &config.streams;
    let mut link = Link::new(&streams.redis, "camera agent (sightings)")?;
    let stream = Keys::new(&streams.prefix).sightings;
    let max = streams.max_results;
    let mut dropped = 0u64;
    SightingsWriter::relay(&config.sightings, move |told| {
        let (note, crop) = SightingNote::of(told, unix_ms());
        let added = note
            .fields(crop.as_deref())
            .map(|fields| link::add(&mut link, &stream, max, &fields));
        match added {
            Ok(Ok(_)) if dropped > 0 => {
                tracing::info!(dropped, "sightings reach Redis again");
                dropped = 0;
            }
            Ok(Ok(_)) => {}
            Ok(Err(failure)) => {
                if dropped == 0 {
                    tracing::warn!(
                        "cannot add a sighting to {stream} ({failure:?}); sightings are dropped until Redis is back"
                    );
                }
                dropped += 1;
            }
            Err(e) => tracing::warn!("a sighting cannot be written: {}", e.report()),
        }
    })
}

/// What a worker did with the sightings.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StoreCounts {
    /// Notes handed to the writer.
    pub stored: u64,
    /// Entries that were not whoisit sightings.
    pub skipped: u64,
}

/// Stores the camera agents' sightings through `writer` whenever the worker `name` holds the
/// lease, until `stop` is set; unknown faces' embeddings were made by the workers' `embedder`.
pub fn store(
    streams: &StreamsConfig,
    name: &str,
    writer: &SightingsWriter,
    embedder: &EmbedderId,
    stop: &AtomicBool,
) -> Result<StoreCounts> {
    let mut store = Store {
        link: Link::new(&streams.redis, "worker (sightings)")?,
        keys: Keys::new(&streams.prefix),
        name,
        writer,
        embedder,
        local: HashMap::new(),
        counts: StoreCounts::default(),
    };
    let mut owner = false;
    let mut renewed: Option<Instant> = None;
    // Its own unacknowledged notes first, then new ones.
    let mut from = "0";
    while !stop.load(Ordering::Relaxed) {
        if renewed.is_none_or(|at| at.elapsed() >= RENEW_EVERY) {
            let was = owner;
            owner = store.lease();
            renewed = Some(Instant::now());
            if owner && !was {
                tracing::info!(worker = name, "this worker stores the cameras' sightings");
                store.claim();
                from = "0";
            } else if was && !owner {
                tracing::info!(
                    worker = name,
                    "another worker stores the cameras' sightings now"
                );
            }
        }
        if !owner {
            std::thread::sleep(PAUSE);
            continue;
        }
        if store.read(from) == 0 {
            from = ">";
        }
    }
    if owner {
        // Another worker goes on at once, not after the lease expired.
        store.release();
    }
    Ok(store.counts)
}

struct Store<'a> {
    link: Link,
    keys: Keys,
    name: &'a str,
    writer: &'a SightingsWriter,
    embedder: &'a EmbedderId,
    /// The writer's key of each sighting open on a camera, by (camera, the agent's key).
    local: HashMap<(String, u64), u64>,
    counts: StoreCounts,
}

impl Store<'_> {
    /// Takes or renews the lease; whether this worker holds it.
    fn lease(&mut self) -> bool {
        let (key, name) = (&self.keys.sightings_owner, self.name);
        let ms = LEASE.as_millis() as u64;
        self.link
            .run(|c| {
                redis::cmd("EVAL")
                    .arg(LEASE_SCRIPT)
                    .arg(1)
                    .arg(key)
                    .arg(name)
                    .arg(ms)
                    .query::<i64>(c)
            })
            .is_ok_and(|held| held == 1)
    }

    /// Gives the lease up.
    fn release(&mut self) {
        let (key, name) = (&self.keys.sightings_owner, self.name);
        if let Err(f) = self.link.run(|c| {
            redis::cmd("EVAL")
                .arg(RELEASE_SCRIPT)
                .arg(1)
                .arg(key)
                .arg(name)
                .query::<i64>(c)
        }) {
            tracing::debug!("the sightings' lease is left to expire: {f:?}");
        }
    }

    /// Takes over the notes a worker that held the lease before read and did not acknowledge.
    fn claim(&mut self) {
        let (stream, name) = (&self.keys.sightings, self.name);
        if let Err(f) = self.link.run(|c| {
            redis::cmd("XAUTOCLAIM")
                .arg(stream)
                .arg(SIGHTINGS_GROUP)
                .arg(name)
                .arg(0)
                .arg("0-0")
                .arg("COUNT")
                .arg(CLAIM_BATCH)
                .query::<redis::Value>(c)
        }) && !link::is_no_group(&f)
        {
            tracing::warn!("cannot take over the sightings left pending: {f:?}");
        }
    }

    /// Reads notes after `from` and hands them to the writer; how many were read.
    fn read(&mut self, from: &str) -> usize {
        let reader = Reader::Group {
            group: SIGHTINGS_GROUP,
            consumer: self.name,
        };
        let entries = match link::read(
            &mut self.link,
            &reader,
            &self.keys.sightings,
            from,
            READ_BATCH,
        ) {
            Ok(entries) => entries,
            Err(f) if link::is_no_group(&f) => {
                // From the start: notes added before any worker ran are stored too.
                if let Err(f) =
                    link::ensure_group(&mut self.link, &self.keys.sightings, SIGHTINGS_GROUP, "0")
                {
                    tracing::warn!("cannot make the sightings' group: {f:?}");
                }
                return 0;
            }
            Err(Failure::Down) => {
                std::thread::sleep(self.link.retry_in().clamp(PAUSE, LEASE / 4));
                return 0;
            }
            Err(Failure::Refused(e)) => {
                tracing::warn!("cannot read the sightings: {e}");
                std::thread::sleep(Duration::from_millis(BLOCK_MS));
                return 0;
            }
        };
        for entry in &entries {
            match SightingNote::from_entry(entry) {
                Ok((note, crop)) => {
                    let agent_key = (note.camera.clone(), note.key);
                    let key = if note.left {
                        self.local.remove(&agent_key)
                    } else {
                        self.local.get(&agent_key).copied()
                    }
                    .unwrap_or_else(|| {
                        let key = self.writer.new_key();
                        if !note.left {
                            self.local.insert(agent_key, key);
                        }
                        key
                    });
                    self.writer.tell(note.told(key, crop, self.embedder));
                    self.counts.stored += 1;
                }
                Err(e) => {
                    tracing::warn!("skipping {}: {}", entry.id, e.report());
                    self.counts.skipped += 1;
                }
            }
        }
        if !entries.is_empty() {
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            let stream = &self.keys.sightings;
            if let Err(f) = self.link.run(|c| {
                redis::cmd("XACK")
                    .arg(stream)
                    .arg(SIGHTINGS_GROUP)
                    .arg(&ids)
                    .query::<u64>(c)
            }) {
                tracing::warn!("cannot acknowledge sightings: {f:?}");
            }
        }
        entries.len()
    }
}
