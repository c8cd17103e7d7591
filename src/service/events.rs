//! Live sightings for `GET /v1/events`, as the sightings writer tells them (a track appeared,
//! was named, renamed or left: once per change, never per frame): a bounded buffer, so a
//! client that reconnects with `Last-Event-ID` gets what it missed, and a broadcast for those
//! connected. It also keeps each track in view (its newest event until it leaves), so a page
//! opened now can say who is in front of each camera before anything changes.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;
use utoipa::ToSchema;

use crate::gallery::PersonId;
use crate::runtime::sightings::Change;

/// Who was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKind {
    /// An enrolled person.
    PersonSeen,
    /// A face nobody enrolled.
    UnknownSeen,
}

impl EventKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EventKind::PersonSeen => "person_seen",
            EventKind::UnknownSeen => "unknown_seen",
        }
    }
}

/// One sighting, as a client receives it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub(crate) struct Event {
    /// Increasing, also across restarts of the server (it starts from the clock).
    pub(crate) id: u64,
    pub(crate) kind: EventKind,
    /// What happened to the track: `appeared`, `named` (an unknown face was recognised),
    /// `renamed` (now taken for somebody else) or `left`.
    #[schema(value_type = String, example = "appeared")]
    pub(crate) change: Change,
    /// The source, as given to `--source`.
    pub(crate) camera: String,
    /// The face's track on that camera: one track is one person walking by.
    pub(crate) track: u64,
    /// The person, or null when unknown.
    pub(crate) name: Option<String>,
    /// The person's id (see GET /v1/people/{id}), or null when unknown.
    #[schema(value_type = Option<i64>)]
    pub(crate) person_id: Option<PersonId>,
    /// Distance to the nearest enrolled person.
    pub(crate) distance: Option<f32>,
    /// When, in milliseconds since the Unix epoch.
    pub(crate) time_ms: u64,
}

/// An event before it has an id.
pub(crate) struct Sighting {
    pub(crate) change: Change,
    pub(crate) camera: String,
    pub(crate) track: u64,
    pub(crate) name: Option<String>,
    pub(crate) person_id: Option<PersonId>,
    pub(crate) distance: Option<f32>,
}

struct Buffer {
    kept: VecDeque<Event>,
    /// Each track in view, by camera and track: its newest event, dropped when it leaves.
    in_view: BTreeMap<(String, u64), Event>,
    next_id: u64,
}

/// What a viewer who arrives now is shown first, all taken at one instant.
pub(crate) struct Now {
    /// The tracks in view, by camera and track: each one's newest event.
    pub(crate) in_view: Vec<Event>,
    /// The newest kept events, oldest first.
    pub(crate) recent: Vec<Event>,
    /// Every event published after these has a greater id: a stream that follows on from
    /// it (`after`) neither misses nor repeats one.
    pub(crate) after: u64,
}

pub(crate) struct Events {
    buffer: Mutex<Buffer>,
    capacity: usize,
    live: broadcast::Sender<Event>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

impl Events {
    pub(crate) fn new(capacity: usize) -> Events {
        let (live, _) = broadcast::channel(capacity.max(16));
        Events {
            buffer: Mutex::new(Buffer {
                kept: VecDeque::with_capacity(capacity),
                in_view: BTreeMap::new(),
                // Ids from the clock keep increasing when the server restarts, so a client's
                // Last-Event-ID from before a restart asks for nothing twice.
                next_id: now_ms(),
            }),
            capacity,
            live,
        }
    }

    fn buffer(&self) -> std::sync::MutexGuard<'_, Buffer> {
        // A poisoned lock only means a panic elsewhere mid-push; the buffer is still whole.
        self.buffer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Numbers, keeps and broadcasts a sighting.
    pub(crate) fn publish(&self, sighting: Sighting) -> Event {
        let mut buffer = self.buffer();
        let event = Event {
            id: buffer.next_id,
            kind: if sighting.name.is_some() {
                EventKind::PersonSeen
            } else {
                EventKind::UnknownSeen
            },
            change: sighting.change,
            camera: sighting.camera,
            track: sighting.track,
            name: sighting.name,
            person_id: sighting.person_id,
            distance: sighting.distance,
            time_ms: now_ms(),
        };
        buffer.next_id += 1;
        if buffer.kept.len() == self.capacity {
            buffer.kept.pop_front();
        }
        buffer.kept.push_back(event.clone());
        let track = (event.camera.clone(), event.track);
        if event.change == Change::Left {
            buffer.in_view.remove(&track);
        } else {
            buffer.in_view.insert(track, event.clone());
        }
        // Sent under the lock, so a subscriber gets each event once: kept or live.
        if self.live.send(event.clone()).is_err() {
            tracing::trace!("nobody follows the events");
        }
        event
    }

    /// Drops every kept event of `person`: a person deleted is forgotten by the events too.
    /// Returns how many were dropped.
    pub(crate) fn forget(&self, person: PersonId) -> usize {
        let mut buffer = self.buffer();
        let before = buffer.kept.len();
        buffer.kept.retain(|e| e.person_id != Some(person));
        buffer.in_view.retain(|_, e| e.person_id != Some(person));
        before - buffer.kept.len()
    }

    /// Drops every kept event from before `before_ms` (ms since the epoch): past the
    /// retention of sightings. Returns how many were dropped.
    pub(crate) fn purge(&self, before_ms: u64) -> usize {
        let mut buffer = self.buffer();
        let before = buffer.kept.len();
        buffer.kept.retain(|e| e.time_ms >= before_ms);
        buffer.in_view.retain(|_, e| e.time_ms >= before_ms);
        before - buffer.kept.len()
    }

    /// Who is in view now and the `recent` newest events, for a viewer who arrives now.
    pub(crate) fn now(&self, recent: usize) -> Now {
        let buffer = self.buffer();
        let skip = buffer.kept.len().saturating_sub(recent);
        Now {
            in_view: buffer.in_view.values().cloned().collect(),
            recent: buffer.kept.iter().skip(skip).cloned().collect(),
            after: buffer.next_id.saturating_sub(1),
        }
    }

    /// The kept events after the id `after` (none for a new client), and the live ones from
    /// now on.
    pub(crate) fn subscribe(&self, after: Option<u64>) -> (Vec<Event>, broadcast::Receiver<Event>) {
        let buffer = self.buffer();
        let missed = match after {
            Some(after) => buffer
                .kept
                .iter()
                .filter(|e| e.id > after)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        (missed, self.live.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(track: u64, name: Option<&str>) -> Sighting {
        Sighting {
            change: Change::Appeared,
            camera: "0".into(),
            track,
            name: name.map(str::to_owned),
            // Ada is person 1, Bob person 2.
            person_id: name.map(|n| PersonId(if n == "Ada" { 1 } else { 2 })),
            distance: Some(0.4),
        }
    }

    #[test]
    fn a_reconnecting_client_gets_what_it_missed_from_a_bounded_buffer() {
        let events = Events::new(3);
        let first = events.publish(seen(1, Some("Ada")));
        assert_eq!(first.kind, EventKind::PersonSeen);
        let (missed, mut live) = events.subscribe(None);
        assert!(missed.is_empty());
        let ids: Vec<u64> = (2..=5).map(|t| events.publish(seen(t, None)).id).collect();
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1) && ids[0] == first.id + 1);
        assert_eq!(live.try_recv().unwrap().id, first.id + 1);
        // Only the last 3 are kept.
        let (missed, _) = events.subscribe(Some(first.id));
        assert_eq!(
            missed.iter().map(|e| e.track).collect::<Vec<_>>(),
            [3, 4, 5]
        );
        let (missed, _) = events.subscribe(Some(ids[2]));
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].kind, EventKind::UnknownSeen);
    }

    #[test]
    fn a_viewer_arriving_now_gets_who_is_in_view_and_follows_on_without_a_repeat() {
        let events = Events::new(10);
        events.publish(seen(1, Some("Ada")));
        events.publish(seen(2, None));
        events.publish(Sighting {
            change: Change::Left,
            ..seen(2, None)
        });
        let now = events.now(2);
        assert_eq!(now.in_view.iter().map(|e| e.track).collect::<Vec<_>>(), [1]);
        assert_eq!(
            now.recent.iter().map(|e| e.change).collect::<Vec<_>>(),
            [Change::Appeared, Change::Left]
        );
        let next = events.publish(seen(3, Some("Bob")));
        let (missed, _) = events.subscribe(Some(now.after));
        assert_eq!(missed, [next]);
        assert_eq!(events.forget(PersonId(1)), 1);
        assert_eq!(events.now(0).in_view.len(), 1);
    }

    #[test]
    fn a_forgotten_person_leaves_the_buffer() {
        let events = Events::new(10);
        let first = events.publish(seen(1, Some("Ada")));
        events.publish(seen(2, None));
        events.publish(seen(3, Some("Ada")));
        events.publish(seen(4, Some("Bob")));
        assert_eq!(events.forget(PersonId(1)), 2);
        let (kept, _) = events.subscribe(Some(first.id - 1));
        assert_eq!(kept.iter().map(|e| e.track).collect::<Vec<_>>(), [2, 4]);
    }
}
