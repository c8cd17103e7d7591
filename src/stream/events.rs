//! `whoisit events`: publishes the camera agents' sightings over MQTT, for Home Assistant,
//! Node-RED and anything else that speaks it: once per change of a track (it appeared, was
//! named, renamed, left), as the agent's tracker decided it over the track's embeddings, never
//! once per face crop (one noisy embedding must not open a door). Each change goes to
//! `TOPIC/cameras/CAMERA/sightings`, and a named person's arrival (appeared, named, renamed)
//! also to `TOPIC/people/NAME/seen`: JSON with the event id and an expiry, QoS 1, never
//! retained, so a replayed or late "Ada seen" cannot open a door hours later.
//!
//! Publishers read the sightings stream through their own consumer group, so running two of
//! them (for availability) still publishes each change once; a note is acknowledged only once
//! its messages are handed to the MQTT client, whose queue is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use redis::streams::StreamId;
use rumqttc::{Client, ClientError, Event, MqttOptions, Packet, QoS};
use serde::Serialize;

use crate::base::address::redacted;
use crate::base::error::{Error, Result};
use crate::config::streams::StreamsConfig;
use crate::gallery::PersonId;
use crate::runtime::sightings::Change;
use crate::stream::link::{self, BLOCK_MS, Failure, Link, Reader};
use crate::stream::wire::SightingNote;
use crate::stream::{Keys, PUBLISHERS_GROUP, unix_ms};

/// Messages the MQTT client may hold while the broker is away.
const MQTT_QUEUE: usize = 256;
const READ_BATCH: usize = 100;
const BLOCK: Duration = Duration::from_millis(BLOCK_MS);
const PAUSE: Duration = Duration::from_millis(50);

/// One change of a sighting, as published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SightingEvent {
    /// The sightings stream entry's id; the same on both topics, so a consumer can tell a
    /// repeat.
    pub event_id: String,
    /// `appeared`, `named` (an unknown face was recognised), `renamed` (now taken for somebody
    /// else) or `left`.
    pub change: Change,
    pub camera: String,
    /// The face's track on that camera: one track is one person walking by.
    pub track: u64,
    /// The person's name, or "unknown".
    pub label: String,
    pub name: Option<String>,
    /// The person's id in the gallery, or null when unknown.
    pub person_id: Option<PersonId>,
    /// The best distance to the person's faces so far.
    pub distance: Option<f32>,
    /// How many of the track's embeddings agreed on the label.
    pub evidence: u32,
    /// When the camera decided it (Unix ms).
    pub captured_ms: u64,
    /// Past this (Unix ms) the event is old news: do not act on it.
    pub expires_ms: u64,
}

/// What a publisher did so far.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct EventCounts {
    /// MQTT messages handed to the client.
    pub published: u64,
    /// Of those, confirmed by the broker (QoS 1).
    pub confirmed: u64,
    /// Changes already expired when read, not published.
    pub expired: u64,
}

/// A publisher from the sightings stream to an MQTT broker.
pub struct Publisher {
    link: Link,
    keys: Keys,
    name: String,
    topic_prefix: String,
    ttl_ms: u64,
    client: Client,
    confirmed: Arc<AtomicU64>,
    counts: EventCounts,
    connection: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl Publisher {
    /// A publisher called `name` (its consumer name: keep it the same across restarts, so
    /// changes it read but had not published are published after the restart).
    pub fn new(config: &StreamsConfig, name: &str) -> Result<Publisher> {
        let (host, port) = parse_mqtt(&config.mqtt)?;
        let mut options = MqttOptions::new(format!("whoisit-events-{name}"), host, port);
        options.set_keep_alive(Duration::from_secs(5));
        let (client, mut connection) = Client::new(options, MQTT_QUEUE);
        let confirmed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        // Shown in logs: without its password.
        let address = redacted(&config.mqtt);
        let thread = {
            let (confirmed, stop) = (confirmed.clone(), stop.clone());
            std::thread::Builder::new()
                .name("mqtt".into())
                .spawn(move || {
                    let mut down = false;
                    for event in connection.iter() {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        match event {
                            Ok(Event::Incoming(Packet::PubAck(_))) => {
                                confirmed.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                                if down {
                                    tracing::info!("MQTT broker at {address} is back");
                                }
                                down = false;
                            }
                            Ok(_) => {}
                            Err(e) => {
                                if !down {
                                    tracing::warn!(
                                        "MQTT broker at {address} is unreachable ({e}); retrying"
                                    );
                                }
                                down = true;
                                std::thread::sleep(Duration::from_secs(1));
                            }
                        }
                    }
                })
                .map_err(|source| Error::Spawn {
                    thread: "mqtt",
                    source,
                })?
        };
        Ok(Publisher {
            link: Link::new(&config.redis, "events")?,
            keys: Keys::new(&config.prefix),
            name: name.to_owned(),
            topic_prefix: config.topic_prefix.clone(),
            ttl_ms: config.event_ttl_secs * 1000,
            client,
            confirmed,
            counts: EventCounts::default(),
            connection: Some(thread),
            stop,
        })
    }

    /// Publishes until `stop` is set.
    pub fn run(mut self, stop: &AtomicBool) -> Result<EventCounts> {
        tracing::info!(stream = %self.keys.sightings, "publishing events");
        // Its own unacknowledged notes first (a restart), then new ones.
        let mut from = "0";
        while !stop.load(Ordering::Relaxed) {
            let reader = Reader::Group {
                group: PUBLISHERS_GROUP,
                consumer: &self.name,
            };
            match link::read(
                &mut self.link,
                &reader,
                &self.keys.sightings,
                from,
                READ_BATCH,
            ) {
                Ok(entries) => {
                    if entries.is_empty() {
                        from = ">";
                    }
                    for entry in &entries {
                        if !self.publish(entry, stop) {
                            break;
                        }
                    }
                }
                Err(f) if link::is_no_group(&f) => {
                    // New notes only: a publisher started late does not replay old sightings.
                    if let Err(f) = link::ensure_group(
                        &mut self.link,
                        &self.keys.sightings,
                        PUBLISHERS_GROUP,
                        "$",
                    ) {
                        tracing::warn!("cannot make the publishers' group: {f:?}");
                    }
                }
                Err(Failure::Down) => std::thread::sleep(self.link.retry_in().clamp(PAUSE, BLOCK)),
                Err(Failure::Refused(e)) => {
                    tracing::warn!("cannot read the sightings: {e}");
                    std::thread::sleep(BLOCK);
                }
            }
        }
        self.counts.confirmed = self.confirmed.load(Ordering::Relaxed);
        Ok(self.counts)
    }

    /// Publishes one note's events and acknowledges it; false if stopped before that.
    fn publish(&mut self, entry: &StreamId, stop: &AtomicBool) -> bool {
        let events = match SightingNote::from_entry(entry) {
            Ok((note, _)) => self.events(&entry.id, &note),
            Err(e) => {
                tracing::warn!("skipping {}: {}", entry.id, e.report());
                Vec::new()
            }
        };
        let now = unix_ms();
        for (topic, event) in &events {
            if event.expires_ms <= now {
                self.counts.expired += 1;
                continue;
            }
            let Ok(payload) = serde_json::to_vec(event) else {
                continue;
            };
            // The client's queue is bounded: while the broker is away it fills, and the
            // note waits in Redis, unacknowledged, instead of in memory.
            loop {
                match self.client.try_publish(
                    topic.as_str(),
                    QoS::AtLeastOnce,
                    false,
                    payload.clone(),
                ) {
                    Ok(()) => break,
                    Err(ClientError::TryRequest(_)) if !stop.load(Ordering::Relaxed) => {
                        std::thread::sleep(PAUSE);
                    }
                    Err(e) => {
                        tracing::warn!("cannot publish: {e}");
                        return false;
                    }
                }
            }
            self.counts.published += 1;
        }
        let (sightings, id) = (self.keys.sightings.clone(), entry.id.clone());
        if let Err(f) = self.link.run(|c| {
            redis::cmd("XACK")
                .arg(&sightings)
                .arg(PUBLISHERS_GROUP)
                .arg(&id)
                .query::<u64>(c)
        }) {
            tracing::warn!("cannot acknowledge {id}: {f:?}");
        }
        true
    }

    /// The messages of a note: none for a refresh, one per change, and one more for a named
    /// person's arrival.
    fn events(&self, id: &str, note: &SightingNote) -> Vec<(String, SightingEvent)> {
        if !note.change.is_event() {
            return Vec::new();
        }
        let event = SightingEvent {
            event_id: id.to_owned(),
            change: note.change,
            camera: note.camera.clone(),
            track: note.track,
            label: note.name.clone().unwrap_or_else(|| "unknown".into()),
            name: note.name.clone(),
            person_id: note.person_id,
            distance: note.distance,
            evidence: note.evidence,
            captured_ms: note.told_ms,
            expires_ms: note.told_ms + self.ttl_ms,
        };
        let prefix = &self.topic_prefix;
        let mut out = Vec::new();
        if let Some(name) = &note.name
            && note.change.is_arrival()
        {
            out.push((
                format!("{prefix}/people/{}/seen", topic_level(name)),
                event.clone(),
            ));
        }
        out.push((
            format!("{prefix}/cameras/{}/sightings", topic_level(&note.camera)),
            event,
        ));
        out
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Err(e) = self.client.disconnect() {
            tracing::debug!("MQTT disconnect: {e}");
        }
        if let Some(thread) = self.connection.take()
            && thread.join().is_err()
        {
            tracing::warn!("the MQTT thread panicked");
        }
    }
}

/// A name as one MQTT topic level: '/', '+' and '#' would change the topic's meaning.
pub fn topic_level(name: &str) -> String {
    name.replace(['/', '+', '#'], "_")
}

/// `mqtt://host:port` (port 1883 if left out).
fn parse_mqtt(url: &str) -> Result<(String, u16)> {
    let bad = |why: &str| Error::Broker {
        service: "MQTT",
        address: url.to_owned(),
        message: format!("{why}; expected mqtt://host:port"),
        source: None,
    };
    let rest = url
        .strip_prefix("mqtt://")
        .or_else(|| url.strip_prefix("tcp://"))
        .ok_or_else(|| bad("not an mqtt:// URL"))?;
    let rest = rest.trim_end_matches('/');
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Ok((
            host.to_owned(),
            port.parse().map_err(|_| bad("the port is not a number"))?,
        )),
        _ if !rest.is_empty() && !rest.contains(':') => Ok((rest.to_owned(), 1883)),
        _ => Err(bad("no host")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_are_read_or_refused_with_the_expected_form() {
        assert_eq!(
            parse_mqtt("mqtt://127.0.0.1:1883").unwrap(),
            ("127.0.0.1".into(), 1883)
        );
        assert_eq!(
            parse_mqtt("mqtt://broker.local").unwrap(),
            ("broker.local".into(), 1883)
        );
        let e = parse_mqtt("http://x:1").unwrap_err().to_string();
        assert!(e.contains("mqtt://host:port"), "{e}");
        assert!(parse_mqtt("mqtt://x:port").is_err());
    }

    #[test]
    fn names_cannot_change_a_topic() {
        assert_eq!(topic_level("a/b+c#"), "a_b_c_");
        assert_eq!(topic_level("Zoë Ann"), "Zoë Ann");
    }
}
