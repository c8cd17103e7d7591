//! `whoisit worker`: a recognition worker. It takes work from the work stream through the
//! consumer group, embeds it and matches it against the [`Roster`] (kept current by the
//! gallery's change feed), and answers. Any number can run, on any
//! machines: the group gives each entry to one of them.
//!
//! Work is never lost and never answered twice: the answer and the acknowledgement are one
//! transaction, so a worker that dies leaves its work pending, and another takes it over after
//! `claim_idle_ms` (XAUTOCLAIM). Work that fails is left pending with its error; on its
//! delivery past `max_deliveries` it goes to the dead letters instead. A camera's face that
//! waited past `max_age_ms` is skipped and counted: a late label helps nobody.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use redis::streams::{StreamAutoClaimReply, StreamId};
use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::identity::Embedding;
use crate::config::streams::StreamsConfig;
use crate::roster::Roster;
use crate::stream::link::{self, BLOCK_MS, Failure, Link, Reader};
use crate::stream::wire::{Answer, Fields, Origin, Work};
use crate::stream::{Keys, WORKERS_GROUP, unix_ms};
use crate::vision::photo::{self, PhotoLimits};
use crate::vision::pipeline::{FaceResult, Pipeline};
use crate::vision::track;

/// Entries taken over in one XAUTOCLAIM.
const CLAIM_BATCH: usize = 20;
/// How often the counters are written to Redis and, when they moved, logged.
const REPORT_EVERY: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(10);
/// How long a worker's counters outlive it in Redis.
const STATS_TTL_SECS: u64 = 60;

/// What a worker did so far, as `PREFIX:workers:NAME` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Work answered (camera faces and photos).
    pub answered: u64,
    /// Camera faces skipped for being older than max_age_ms.
    pub stale: u64,
    /// Attempts that failed; the work was left for a retry.
    pub failed: u64,
    /// Work sent to the dead letters.
    pub dead: u64,
    /// Work taken over from a worker that went quiet.
    pub reclaimed: u64,
    /// Pending work that Redis trimmed (MAXLEN) before anyone could take it over.
    pub trimmed: u64,
    /// Times Redis became unreachable.
    pub outages: u64,
}

/// A recognition worker, models loaded and roster read, ready to run.
pub struct StreamWorker {
    pipeline: Pipeline,
    roster: Arc<Roster>,
    link: Link,
    keys: Keys,
    name: String,
    config: StreamsConfig,
    limits: PhotoLimits,
    counters: Counters,
    claimed_at: Instant,
    reported_at: Instant,
    logged: (Instant, Counters),
}

impl StreamWorker {
    /// A worker called `name` (its consumer name in the group: unique per process) on the
    /// streams `config` describes, matching against `roster` (of the pipeline's embedder).
    /// Redis need not be up yet.
    pub fn new(
        pipeline: Pipeline,
        roster: Arc<Roster>,
        config: &StreamsConfig,
        limits: PhotoLimits,
        name: &str,
    ) -> Result<StreamWorker> {
        if *roster.embedder() != pipeline.embedder_id() {
            return Err(Error::Internal(
                "a worker's roster holds another embedder's embeddings than its pipeline makes",
            ));
        }
        Ok(StreamWorker {
            pipeline,
            roster,
            link: Link::new(&config.redis, "worker")?,
            keys: Keys::new(&config.prefix),
            name: name.to_owned(),
            config: config.clone(),
            limits,
            counters: Counters::default(),
            claimed_at: Instant::now(),
            reported_at: Instant::now(),
            logged: (Instant::now(), Counters::default()),
        })
    }

    /// Works until `stop` is set; returns what it did. Redis going away is not an error: the
    /// worker waits for it.
    pub fn run(mut self, stop: &AtomicBool) -> Result<Counters> {
        tracing::info!(
            worker = %self.name,
            redis = %self.link.address,
            stream = %self.keys.faces,
            "worker started"
        );
        let claim_every = Duration::from_millis(self.config.claim_idle_ms / 2).max(BLOCK_TIME);
        while !stop.load(Ordering::Relaxed) {
            if self.claimed_at.elapsed() >= claim_every {
                self.claimed_at = Instant::now();
                self.reclaim();
            }
            self.read_new();
            if self.reported_at.elapsed() >= REPORT_EVERY {
                self.report();
            }
        }
        self.report();
        Ok(self.counters)
    }

    /// Reads new work through the group, waiting up to [`BLOCK_MS`] for some.
    fn read_new(&mut self) {
        let reader = Reader::Group {
            group: WORKERS_GROUP,
            consumer: &self.name,
        };
        match link::read(&mut self.link, &reader, &self.keys.faces, ">", 1) {
            Ok(entries) => {
                for entry in &entries {
                    self.handle(entry, 1);
                }
            }
            Err(failure) => self.recover(&failure),
        }
    }

    /// After a failed read: makes the group if Redis lost it, or waits a little.
    fn recover(&mut self, failure: &Failure) {
        match failure {
            f if link::is_no_group(f) => {
                if let Err(f) =
                    link::ensure_group(&mut self.link, &self.keys.faces, WORKERS_GROUP, "0")
                {
                    tracing::warn!("cannot make the consumer group: {f:?}");
                }
            }
            Failure::Down => {
                self.counters.outages = self.link.outages;
                std::thread::sleep(self.link.retry_in().clamp(POLL, BLOCK_TIME));
            }
            Failure::Refused(e) => {
                tracing::warn!("Redis refused to hand out work: {e}; trying again");
                std::thread::sleep(BLOCK_TIME);
            }
        }
    }

    /// Takes over work other workers (or this one) left pending too long.
    fn reclaim(&mut self) {
        let (faces, name, idle) = (
            self.keys.faces.clone(),
            self.name.clone(),
            self.config.claim_idle_ms,
        );
        let claimed = self.link.run(|c| {
            redis::cmd("XAUTOCLAIM")
                .arg(&faces)
                .arg(WORKERS_GROUP)
                .arg(&name)
                .arg(idle)
                .arg("0-0")
                .arg("COUNT")
                .arg(CLAIM_BATCH)
                .query::<StreamAutoClaimReply>(c)
        });
        let claimed = match claimed {
            Ok(claimed) => claimed,
            Err(failure) => return self.recover(&failure),
        };
        if !claimed.deleted_ids.is_empty() {
            self.counters.trimmed += claimed.deleted_ids.len() as u64;
            tracing::warn!(
                "{} pending entries were trimmed from {} before a worker finished them; raise streams.max_pending_faces or add workers",
                claimed.deleted_ids.len(),
                self.keys.faces
            );
        }
        for entry in &claimed.claimed {
            // Unknown (Redis went away meanwhile): left pending, for the next claim.
            let Some(delivered) = self.deliveries(&entry.id) else {
                continue;
            };
            self.counters.reclaimed += 1;
            self.handle(entry, delivered);
        }
    }

    /// How many times an entry has been delivered, from the group's pending list.
    fn deliveries(&mut self, id: &str) -> Option<u64> {
        let faces = self.keys.faces.clone();
        let pending = self.link.run(|c| {
            redis::cmd("XPENDING")
                .arg(&faces)
                .arg(WORKERS_GROUP)
                .arg(id)
                .arg(id)
                .arg(1)
                .query::<Vec<(String, String, u64, u64)>>(c)
        });
        pending.ok()?.first().map(|entry| entry.3)
    }

    /// Answers one entry delivered `delivered` times, or skips, fails or buries it.
    fn handle(&mut self, entry: &StreamId, delivered: u64) {
        let work = Work::from_entry(entry);
        if delivered > self.config.max_deliveries {
            return self.bury(entry, work.ok().as_ref(), delivered, None);
        }
        let work = match work {
            Ok(work) => work,
            Err(e) => return self.failed(&entry.id, &e, delivered),
        };
        // Checked before the answer's transaction: Redis does not roll one back, so an XADD
        // to a key that is no stream would fail while the acknowledgement went through.
        if !self.keys.is_reply_stream(&work.meta.reply) {
            let error = format!(
                "its reply stream {:?} is not one work may be answered on ({} or {})",
                work.meta.reply,
                self.keys.results,
                self.keys.scan_answers("ID")
            );
            return self.bury(entry, Some(&work), delivered, Some(error));
        }
        if too_old(&work, self.config.max_age_ms) {
            return self.skip_stale(&work.id);
        }
        match self.answer(&work) {
            // A worker that stalled mid-answer (suspended, swapping) drops an answer that would
            // come another max_age late. Not at max_age itself: a worker that is merely behind
            // takes faces just under max_age, and would then throw every answer away.
            Ok(_) if too_old(&work, 2 * self.config.max_age_ms) => {
                self.skip_stale(&work.id);
            }
            Ok(answer) => self.send(&work, &answer),
            Err(e) => self.failed(&work.id, &e, delivered),
        }
    }

    /// Embeds and matches the work's faces.
    fn answer(&mut self, work: &Work) -> Result<Answer> {
        let what = match &work.meta.origin {
            Origin::Camera { .. } => "face crop",
            Origin::Photo { file, .. } => file.as_str(),
        };
        let image = photo::decode(&work.image, &self.limits, Path::new(what))?.image;
        let roster = self.roster.snapshot();
        let mut judged = None;
        let faces = match &work.meta.origin {
            Origin::Camera {
                track,
                face,
                crop_at,
                ..
            } => match self.pipeline.embed_one(&image, face)? {
                Some(embedding) => {
                    check_recent(&work.meta.recent, &embedding)?;
                    let verdict = track::judge(roster.matcher(), &work.meta.recent, &embedding);
                    let mut on_frame = *face;
                    on_frame.bbox.x += crop_at[0];
                    on_frame.bbox.y += crop_at[1];
                    // The face's own identity, as for anyone who reads answers (events).
                    let identity = verdict.alone.identity.clone();
                    judged = Some(verdict);
                    vec![FaceResult::new(on_frame, Some(*track), identity)]
                }
                None => Vec::new(),
            },
            Origin::Photo { .. } => self.pipeline.recognize_photo(image, roster.matcher())?,
        };
        let answered_ms = unix_ms();
        Ok(Answer {
            event_id: work.id.clone(),
            origin: work.meta.origin.clone(),
            faces,
            captured_ms: work.meta.captured_ms,
            answered_ms,
            latency_ms: answered_ms.saturating_sub(work.meta.captured_ms),
            worker: self.name.clone(),
            error: None,
            judged,
        })
    }

    /// Appends the answer and acknowledges the work in one transaction: either both happen or
    /// neither, so a crash in between leaves the work pending, not answered twice.
    fn send(&mut self, work: &Work, answer: &Answer) {
        let fields = match answer.fields() {
            Ok(fields) => fields,
            Err(e) => return self.failed(&work.id, &e, 1),
        };
        let reply = &work.meta.reply;
        let (faces, errors, max) = (
            self.keys.faces.clone(),
            self.keys.errors.clone(),
            self.config.max_results,
        );
        let sent = self.link.run(|c| {
            redis::pipe()
                .atomic()
                .cmd("XADD")
                .arg(reply)
                .arg("MAXLEN")
                .arg("~")
                .arg(max)
                .arg("*")
                .arg(&fields[..])
                .ignore()
                .cmd("XACK")
                .arg(&faces)
                .arg(WORKERS_GROUP)
                .arg(&work.id)
                .ignore()
                .cmd("HDEL")
                .arg(&errors)
                .arg(&work.id)
                .ignore()
                .query::<()>(c)
        });
        match sent {
            Ok(()) => {
                self.counters.answered += 1;
                for face in &answer.faces {
                    tracing::debug!(event = %answer.event_id, label = %face.label, "answered");
                }
            }
            // Unanswered and unacknowledged: the work stays pending and is taken over.
            Err(failure) => tracing::warn!("cannot send the answer to {}: {failure:?}", work.id),
        }
    }

    fn skip_stale(&mut self, id: &str) {
        let faces = self.keys.faces.clone();
        let acked = self.link.run(|c| {
            redis::cmd("XACK")
                .arg(&faces)
                .arg(WORKERS_GROUP)
                .arg(id)
                .query::<u64>(c)
        });
        if acked.is_ok() {
            self.counters.stale += 1;
        }
    }

    /// Leaves the work pending with its error, for a retry after `claim_idle_ms`.
    fn failed(&mut self, id: &str, error: &Error, delivered: u64) {
        self.counters.failed += 1;
        let report = error.report();
        tracing::warn!(
            "work {id} failed (delivery {delivered} of {}): {report}; it will be tried again",
            self.config.max_deliveries
        );
        let errors = self.keys.errors.clone();
        if let Err(failure) = self.link.run(|c| {
            redis::cmd("HSET")
                .arg(&errors)
                .arg(id)
                .arg(&report)
                .query::<u64>(c)
        }) {
            tracing::debug!("cannot record the error of {id}: {failure:?}");
        }
    }

    /// Moves work delivered too often (or that cannot be answered) to the dead letters, with
    /// its last error (or `error`); a scan waiting for the photo's answer hears the error too.
    fn bury(
        &mut self,
        entry: &StreamId,
        work: Option<&Work>,
        delivered: u64,
        error: Option<String>,
    ) {
        let (faces, errors, dead, max) = (
            self.keys.faces.clone(),
            self.keys.errors.clone(),
            self.keys.dead.clone(),
            self.config.max_results,
        );
        let recorded = error.or_else(|| {
            self.link
                .run(|c| {
                    redis::cmd("HGET")
                        .arg(&errors)
                        .arg(&entry.id)
                        .query::<Option<String>>(c)
                })
                .ok()
                .flatten()
        });
        let error = recorded.unwrap_or_else(|| {
            format!("delivered {delivered} times without an answer: a worker may have died on it")
        });
        tracing::warn!(
            "work {} goes to {dead} after {delivered} deliveries: {error}",
            entry.id
        );
        let meta = entry.get::<Vec<u8>>("meta").unwrap_or_default();
        let image = entry.get::<Vec<u8>>("image").unwrap_or_default();
        let photo_answer = work.and_then(|work| self.error_answer(work, &error));
        let buried = self.link.run(|c| {
            let mut pipe = redis::pipe();
            pipe.atomic()
                .cmd("XADD")
                .arg(&dead)
                .arg("MAXLEN")
                .arg("~")
                .arg(max)
                .arg("*")
                .arg("id")
                .arg(&entry.id)
                .arg("error")
                .arg(&error)
                .arg("delivered")
                .arg(delivered)
                .arg("meta")
                .arg(&meta)
                .arg("image")
                .arg(&image)
                .ignore();
            if let Some((reply, fields)) = &photo_answer {
                pipe.cmd("XADD")
                    .arg(reply)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(max)
                    .arg("*")
                    .arg(&fields[..])
                    .ignore();
            }
            pipe.cmd("XACK")
                .arg(&faces)
                .arg(WORKERS_GROUP)
                .arg(&entry.id)
                .ignore()
                .cmd("HDEL")
                .arg(&errors)
                .arg(&entry.id)
                .ignore()
                .query::<()>(c)
        });
        if buried.is_ok() {
            self.counters.dead += 1;
        }
    }

    /// For a photo: the stream and fields of an answer that says why it failed, so the scan
    /// waiting for it hears. A camera's face is not answered: its moment has passed.
    fn error_answer(&self, work: &Work, error: &str) -> Option<(String, Fields<1>)> {
        let Origin::Photo { .. } = &work.meta.origin else {
            return None;
        };
        if !self.keys.is_reply_stream(&work.meta.reply) {
            return None;
        }
        let answer = Answer {
            event_id: work.id.clone(),
            origin: work.meta.origin.clone(),
            faces: Vec::new(),
            captured_ms: work.meta.captured_ms,
            answered_ms: unix_ms(),
            latency_ms: 0,
            worker: self.name.clone(),
            error: Some(error.to_owned()),
            judged: None,
        };
        Some((work.meta.reply.clone(), answer.fields().ok()?))
    }

    /// Writes the counters to `PREFIX:workers:NAME` and logs them when they moved.
    fn report(&mut self) {
        self.reported_at = Instant::now();
        self.counters.outages = self.link.outages;
        let key = self.keys.worker_stats(&self.name);
        let c = self.counters.clone();
        let written = self.link.run(|conn| {
            redis::pipe()
                .cmd("HSET")
                .arg(&key)
                .arg("answered")
                .arg(c.answered)
                .arg("stale")
                .arg(c.stale)
                .arg("failed")
                .arg(c.failed)
                .arg("dead")
                .arg(c.dead)
                .arg("reclaimed")
                .arg(c.reclaimed)
                .arg("trimmed")
                .arg(c.trimmed)
                .arg("outages")
                .arg(c.outages)
                .arg("seen_ms")
                .arg(unix_ms())
                .ignore()
                .cmd("EXPIRE")
                .arg(&key)
                .arg(STATS_TTL_SECS)
                .ignore()
                .query::<()>(conn)
        });
        if let Err(failure) = written {
            tracing::debug!("cannot write the counters: {failure:?}");
        }
        if self.logged.0.elapsed() >= LOG_EVERY && self.logged.1 != self.counters {
            let seconds = self.logged.0.elapsed().as_secs_f64();
            let per_second = (self.counters.answered - self.logged.1.answered) as f64 / seconds;
            tracing::info!(
                answered = self.counters.answered,
                per_second = format!("{per_second:.1}"),
                stale = self.counters.stale,
                failed = self.counters.failed,
                dead = self.counters.dead,
                reclaimed = self.counters.reclaimed,
                redis_up = self.link.is_up(),
                "worker"
            );
            self.logged = (Instant::now(), self.counters.clone());
        }
    }
}

/// The longest a worker waits on Redis before it looks around (told to stop, work to take over).
const BLOCK_TIME: Duration = Duration::from_millis(BLOCK_MS);
/// The shortest pause while Redis is down.
const POLL: Duration = Duration::from_millis(20);

/// The most recent embeddings a piece of work may carry: more than any track's vote window.
const MAX_RECENT: usize = 64;

/// Refuses recent embeddings that cannot be pooled with `embedding`: too many, another
/// embedder's (another length), or not numbers.
fn check_recent(recent: &[Embedding], embedding: &Embedding) -> Result<()> {
    let bad = recent
        .iter()
        .any(|e| e.0.len() != embedding.0.len() || !e.0.iter().all(|v| v.is_finite()));
    if recent.len() > MAX_RECENT || bad {
        return Err(Error::InvalidInput(format!(
            "the track's recent embeddings cannot be used: at most {MAX_RECENT} of {} finite \
             numbers each (this embedder's), not {} of lengths {:?}",
            embedding.0.len(),
            recent.len(),
            recent.iter().map(|e| e.0.len()).collect::<Vec<_>>()
        )));
    }
    Ok(())
}

/// A camera's face older than `limit` ms; photos never are.
fn too_old(work: &Work, limit: u64) -> bool {
    matches!(work.meta.origin, Origin::Camera { .. })
        && unix_ms().saturating_sub(work.meta.captured_ms) > limit
}
