//! Face tracking between frames, so that a face staying in view is not embedded again on every
//! frame and its label does not flicker.
//!
//! Detections are matched to tracks by box overlap (IoU), greedily from the best overlap. A
//! tracked face is embedded again only when its track is new, every `reembed_every` frames, when
//! its box grew enough to give a clearly better crop, or when the gallery changed. Its label is
//! the majority of its last `vote_window` identities, so one poor embedding cannot flip it.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::base::geometry::FaceBox;
use crate::vision::detect::Detection;
use crate::vision::matcher::Identity;

/// How faces are followed between frames.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingConfig {
    pub reembed_every: u32,
    pub vote_window: usize,
    pub max_missed: u32,
    pub min_iou: f32,
    pub reembed_growth: f32,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            reembed_every: 10,
            vote_window: 5,
            max_missed: 5,
            min_iou: 0.3,
            reembed_growth: 1.3,
        }
    }
}

struct Track {
    id: u64,
    bbox: FaceBox,
    /// Frames processed since the last embedding; `None` before the first.
    since_embedding: Option<u32>,
    embedded_area: i32,
    missed: u32,
    votes: VecDeque<Identity>,
}

/// What the tracker decided for one detection of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assignment {
    pub track: u64,
    pub embed: bool,
}

/// Follows faces from frame to frame.
pub struct Tracker {
    config: TrackingConfig,
    tracks: Vec<Track>,
    next_id: u64,
}

impl Tracker {
    pub fn new(config: TrackingConfig) -> Tracker {
        Tracker {
            config,
            tracks: Vec::new(),
            next_id: 1,
        }
    }

    /// The last box of every face followed, seen this frame or not long ago.
    pub fn boxes(&self) -> Vec<FaceBox> {
        self.tracks.iter().map(|t| t.bbox).collect()
    }

    /// Matches this frame's detections to tracks, starts tracks for new faces, ends tracks not
    /// seen for `max_missed` frames. Returns, per detection, its track and whether to embed it.
    pub fn update(&mut self, detections: &[Detection]) -> Vec<Assignment> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (d, detection) in detections.iter().enumerate() {
            for (t, track) in self.tracks.iter().enumerate() {
                let overlap = detection.bbox.iou(&track.bbox);
                if overlap >= self.config.min_iou {
                    pairs.push((overlap, d, t));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_of: Vec<Option<usize>> = vec![None; detections.len()];
        let mut taken = vec![false; self.tracks.len()];
        for (_, d, t) in pairs {
            if track_of[d].is_none() && !taken[t] {
                track_of[d] = Some(t);
                taken[t] = true;
            }
        }
        for (track, seen) in self.tracks.iter_mut().zip(&taken) {
            track.missed = if *seen { 0 } else { track.missed + 1 };
            track.since_embedding = track.since_embedding.map(|n| n + 1);
        }
        let assignments = detections
            .iter()
            .zip(track_of)
            .map(|(detection, matched)| {
                let index = matched.unwrap_or_else(|| {
                    self.tracks.push(Track {
                        id: self.next_id,
                        bbox: detection.bbox,
                        since_embedding: None,
                        embedded_area: 0,
                        missed: 0,
                        votes: VecDeque::new(),
                    });
                    self.next_id += 1;
                    self.tracks.len() - 1
                });
                let track = &mut self.tracks[index];
                track.bbox = detection.bbox;
                let embed = match track.since_embedding {
                    None => true,
                    Some(n) => {
                        n >= self.config.reembed_every
                            || detection.bbox.area() as f32
                                >= track.embedded_area as f32 * self.config.reembed_growth
                    }
                };
                Assignment {
                    track: track.id,
                    embed,
                }
            })
            .collect();
        let max_missed = self.config.max_missed;
        self.tracks.retain(|t| t.missed <= max_missed);
        assignments
    }

    /// Records the identity a fresh embedding of `track` gave.
    pub fn record(&mut self, track: u64, bbox: &FaceBox, identity: Identity) {
        self.embedded(track, bbox);
        self.vote(track, identity);
    }

    /// Notes that `track` was sent to be embedded with this box, so it is not asked for again
    /// before `reembed_every` frames even if its answer comes later (or never).
    pub fn embedded(&mut self, track: u64, bbox: &FaceBox) {
        if let Some(t) = self.tracks.iter_mut().find(|t| t.id == track) {
            t.since_embedding = Some(0);
            t.embedded_area = bbox.area();
        }
    }

    /// Adds the identity an embedding of `track` gave to its vote. A track that has ended
    /// meanwhile is not brought back.
    pub fn vote(&mut self, track: u64, identity: Identity) {
        let window = self.config.vote_window.max(1);
        if let Some(t) = self.tracks.iter_mut().find(|t| t.id == track) {
            t.votes.push_back(identity);
            while t.votes.len() > window {
                t.votes.pop_front();
            }
        }
    }

    /// The identity to show for `track`: the name most of its recent embeddings gave (on a tie,
    /// the most recent of the tied), with that name's latest distance.
    pub fn identity(&self, track: u64) -> Option<Identity> {
        let votes = &self.tracks.iter().find(|t| t.id == track)?.votes;
        let count = |name: &Option<String>| votes.iter().filter(|v| v.name == *name).count();
        // Newest first, replacing only on a strictly higher count: a name's first appearance is
        // its latest identity, and on a tie the most recently seen name stays.
        let mut best: Option<(&Identity, usize)> = None;
        for vote in votes.iter().rev() {
            let n = count(&vote.name);
            if best.is_none_or(|(_, most)| n > most) {
                best = Some((vote, n));
            }
        }
        best.map(|(identity, _)| identity.clone())
    }

    /// Forgets every identity and embeds every face again on its next frame: the gallery or the
    /// threshold changed, so old answers may be wrong.
    pub fn invalidate(&mut self) {
        for track in &mut self.tracks {
            track.votes.clear();
            track.since_embedding = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: i32, y: i32, w: i32) -> Detection {
        Detection {
            bbox: FaceBox::new(x, y, w, w),
            confidence: 0.9,
        }
    }

    fn who(name: Option<&str>, distance: f32) -> Identity {
        Identity {
            name: name.map(str::to_owned),
            distance: Some(distance),
            nearest: name.map(str::to_owned),
            margin: None,
        }
    }

    fn tracker() -> Tracker {
        Tracker::new(TrackingConfig::default())
    }

    #[test]
    fn a_face_that_stays_is_embedded_once_then_every_n_frames() {
        let mut t = tracker();
        let first = t.update(&[det(100, 100, 80)]);
        assert!(first[0].embed);
        t.record(
            first[0].track,
            &det(100, 100, 80).bbox,
            who(Some("ann"), 0.3),
        );
        let mut embeds = 0;
        for i in 1..=20 {
            let a = t.update(&[det(100 + i, 100, 80)]);
            assert_eq!(
                a[0].track, first[0].track,
                "the moving face keeps its track"
            );
            if a[0].embed {
                embeds += 1;
                t.record(
                    a[0].track,
                    &det(100 + i, 100, 80).bbox,
                    who(Some("ann"), 0.3),
                );
            }
        }
        assert_eq!(embeds, 2, "again at frames 10 and 20 only");
    }

    #[test]
    fn a_clearly_bigger_face_is_embedded_again_at_once() {
        let mut t = tracker();
        let a = t.update(&[det(100, 100, 60)]);
        t.record(a[0].track, &det(100, 100, 60).bbox, who(None, 0.8));
        assert!(!t.update(&[det(100, 100, 64)])[0].embed);
        assert!(
            t.update(&[det(95, 95, 72)])[0].embed,
            "72² is over 1.3 x 60²"
        );
    }

    #[test]
    fn two_faces_get_two_tracks_and_a_new_face_a_new_one() {
        let mut t = tracker();
        let a = t.update(&[det(0, 0, 50), det(200, 0, 50)]);
        assert_ne!(a[0].track, a[1].track);
        let b = t.update(&[det(202, 0, 50), det(2, 0, 50), det(400, 0, 50)]);
        assert_eq!((b[0].track, b[1].track), (a[1].track, a[0].track));
        assert!(b[2].embed && b[2].track != a[0].track && b[2].track != a[1].track);
    }

    #[test]
    fn a_track_ends_after_too_many_missed_frames() {
        let mut t = tracker();
        let a = t.update(&[det(0, 0, 50)]);
        for _ in 0..5 {
            t.update(&[]);
        }
        assert_eq!(
            t.update(&[det(0, 0, 50)])[0].track,
            a[0].track,
            "5 misses are tolerated"
        );
        for _ in 0..6 {
            t.update(&[]);
        }
        assert_ne!(t.update(&[det(0, 0, 50)])[0].track, a[0].track);
    }

    #[test]
    fn one_odd_embedding_does_not_flip_the_label() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        for (name, d) in [
            (Some("ann"), 0.30),
            (Some("ann"), 0.32),
            (None, 0.70),
            (Some("ann"), 0.31),
        ] {
            t.record(id, &det(0, 0, 50).bbox, who(name, d));
            assert_eq!(t.identity(id).unwrap().name.as_deref(), Some("ann"));
        }
        assert_eq!(
            t.identity(id).unwrap().distance,
            Some(0.31),
            "the latest distance of the winner"
        );
        for _ in 0..3 {
            t.record(id, &det(0, 0, 50).bbox, who(Some("bob"), 0.2));
        }
        assert_eq!(
            t.identity(id).unwrap().name.as_deref(),
            Some("bob"),
            "a lasting change wins"
        );
    }

    #[test]
    fn invalidate_forgets_identities_and_asks_for_embeddings() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        t.record(id, &det(0, 0, 50).bbox, who(None, 0.8));
        t.invalidate();
        assert!(t.identity(id).is_none());
        assert!(t.update(&[det(1, 0, 50)])[0].embed);
    }
}
