//! Face tracking between frames, so that a face staying in view is not embedded again on every
//! frame, and its label is decided on the evidence of several embeddings rather than one.
//!
//! Detections are matched to tracks by box overlap (IoU), greedily from the best overlap.
//!
//! A track's label comes from the identities of its recent embeddings: the person they most
//! often point at is named when most of them point there and their mean distance is within the
//! threshold. The label is *settled* once two or more embeddings are clear of the threshold by
//! `decide_margin` on average, or after `settle_after` embeddings. Until then the face is
//! embedded again every `undecided_every` frames, so a first embedding just past the threshold
//! is soon outvoted, and a stranger's lucky first frame is soon averaged away; a settled face
//! is embedded every `reembed_every` frames. A settled label changes only when two embeddings
//! in a row propose the same other label: a single poor embedding cannot flip it.
//!
//! A face is also embedded again at once when its box grew enough to give a clearly better
//! crop, or when the gallery or the threshold changed; and a track whose new embedding is far
//! from its last one (`new_face_beyond`) shows someone else (a cut, or a person stepping in
//! front of another): its evidence starts afresh.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::base::geometry::FaceBox;
use crate::base::identity::Embedding;
use crate::vision::detect::Detection;
use crate::vision::matcher::{Identity, Matcher};

/// What the tracker asks of the matcher: who an embedding is, and within what distance a
/// person is named (their own threshold, or the global one).
pub trait Judge {
    fn identify(&self, embedding: &Embedding) -> Identity;
    fn threshold_of(&self, name: &str) -> f32;
}

impl Judge for Matcher {
    fn identify(&self, embedding: &Embedding) -> Identity {
        Matcher::identify(self, embedding)
    }

    fn threshold_of(&self, name: &str) -> f32 {
        Matcher::threshold_of(self, name)
    }
}

/// How faces are followed between frames and how their labels are decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingConfig {
    pub reembed_every: u32,
    pub undecided_every: u32,
    pub vote_window: usize,
    pub decide_margin: f32,
    pub settle_after: usize,
    pub new_face_beyond: f32,
    pub max_missed: u32,
    pub min_iou: f32,
    pub reembed_growth: f32,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            reembed_every: 10,
            undecided_every: 2,
            vote_window: 8,
            decide_margin: 0.05,
            settle_after: 6,
            new_face_beyond: 0.6,
            max_missed: 5,
            min_iou: 0.3,
            reembed_growth: 1.3,
        }
    }
}

impl TrackingConfig {
    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.reembed_every == 0 || self.undecided_every == 0 {
            Some("tracking.reembed_every and tracking.undecided_every must be at least 1".into())
        } else if self.settle_after == 0 || self.vote_window < self.settle_after {
            Some(format!(
                "tracking.vote_window ({}) must be at least tracking.settle_after ({}), which \
                 must be at least 1",
                self.vote_window, self.settle_after
            ))
        } else if !(0.0..0.5).contains(&self.decide_margin) {
            Some(format!(
                "tracking.decide_margin must be a distance from 0 to 0.5, not {}",
                self.decide_margin
            ))
        } else if !(self.new_face_beyond.is_finite() && self.new_face_beyond > 0.0) {
            Some(format!(
                "tracking.new_face_beyond must be a positive distance, not {}",
                self.new_face_beyond
            ))
        } else {
            None
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
    /// Its recent embeddings, oldest first, when they are made here.
    embeddings: VecDeque<Embedding>,
    /// The identities its recent embeddings gave, one by one.
    evidence: VecDeque<Identity>,
    /// The label shown.
    shown: Option<Identity>,
    /// Whether the shown label was settled by clear evidence (then only a confirmed proposal
    /// changes it).
    settled: bool,
    /// Whether the newest evidence is clear of the threshold.
    clear: bool,
    /// Another label the last embedding proposed for a settled track, awaiting a second.
    pending: Option<Option<String>>,
}

impl Track {
    fn new(id: u64, bbox: FaceBox) -> Track {
        Track {
            id,
            bbox,
            since_embedding: None,
            embedded_area: 0,
            missed: 0,
            embeddings: VecDeque::new(),
            evidence: VecDeque::new(),
            shown: None,
            settled: false,
            clear: false,
            pending: None,
        }
    }

    /// Forgets what the track's face was taken for.
    fn forget(&mut self) {
        self.embeddings.clear();
        self.evidence.clear();
        self.shown = None;
        self.settled = false;
        self.clear = false;
        self.pending = None;
    }

    /// Whether it wants embeddings sooner than a settled face.
    fn undecided(&self) -> bool {
        !self.settled || !self.clear || self.pending.is_some()
    }

    /// Takes what the evidence now proposes: at once while the label is not settled; a
    /// settled label only when the proposal of the embedding before agreed.
    fn settle(&mut self, proposal: Proposal) {
        let agrees = self
            .shown
            .as_ref()
            .is_some_and(|shown| shown.name == proposal.identity.name);
        if !self.settled || agrees || self.pending.as_ref() == Some(&proposal.identity.name) {
            self.settled = proposal.clear || (self.settled && agrees);
            self.shown = Some(proposal.identity);
            self.pending = None;
        } else {
            self.pending = Some(proposal.identity.name);
        }
        self.clear = proposal.clear;
    }
}

/// What the evidence of a track says.
struct Proposal {
    identity: Identity,
    /// Clear of the threshold by the margin, or backed by enough embeddings.
    clear: bool,
}

/// The mean of some embeddings: noise and passing expressions average out, while what makes a
/// face that person's stays.
fn pooled(embeddings: &VecDeque<Embedding>) -> Option<Embedding> {
    let first = embeddings.front()?;
    let mut sum = vec![0.0f32; first.0.len()];
    for e in embeddings {
        for (s, v) in sum.iter_mut().zip(&e.0) {
            *s += v;
        }
    }
    let n = embeddings.len() as f32;
    Some(Embedding(sum.into_iter().map(|s| s / n).collect()))
}

/// The label most of a track's answers gave, from identities alone (a camera agent gets no
/// embeddings back): a name needs more than half of them.
fn majority(evidence: &VecDeque<Identity>, settle_after: usize) -> Proposal {
    let n = evidence.len();
    let mut best: Option<(&str, usize, f32)> = None;
    for name in evidence.iter().filter_map(|i| i.name.as_deref()) {
        let (count, sum) = evidence
            .iter()
            .filter(|i| i.name.as_deref() == Some(name))
            .fold((0, 0.0), |(c, s), i| (c + 1, s + i.distance.unwrap_or(0.0)));
        let mean = sum / count as f32;
        if best.is_none_or(|(_, c, m)| count > c || (count == c && mean < m)) {
            best = Some((name, count, mean));
        }
    }
    let count = best.map_or(0, |(_, c, _)| c);
    let winner = best.filter(|_| count * 2 > n).map(|(name, _, _)| name);
    let identity = evidence
        .iter()
        .rev()
        .find(|i| i.name.as_deref() == winner)
        .cloned()
        .unwrap_or_else(Identity::unknown);
    Proposal {
        identity,
        clear: n >= settle_after || (n >= 2 && (count == n || count == 0)),
    }
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
                    self.tracks.push(Track::new(self.next_id, detection.bbox));
                    self.next_id += 1;
                    self.tracks.len() - 1
                });
                let track = &mut self.tracks[index];
                track.bbox = detection.bbox;
                let every = if track.undecided() {
                    self.config.undecided_every
                } else {
                    self.config.reembed_every
                };
                let embed = match track.since_embedding {
                    None => true,
                    Some(n) => {
                        n >= every
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

    /// Records a fresh embedding of `track`, and decides its label again on the mean of its
    /// recent embeddings, which `judge` matches. The mean names a person only if most of
    /// the embeddings themselves point at that person, and not from far on average (by more
    /// than `decide_margin`): the mean of very different faces drifts towards the middle of
    /// face space, near everybody.
    pub fn record(
        &mut self,
        track: u64,
        bbox: &FaceBox,
        embedding: &Embedding,
        judge: &impl Judge,
    ) {
        self.embedded(track, bbox);
        let config = &self.config;
        let Some(t) = self.tracks.iter_mut().find(|t| t.id == track) else {
            return;
        };
        if pooled(&t.embeddings)
            .is_some_and(|mean| mean.distance(embedding) > config.new_face_beyond)
        {
            t.forget();
        }
        let window = config.vote_window.max(1);
        t.embeddings.push_back(embedding.clone());
        t.evidence.push_back(judge.identify(embedding));
        while t.embeddings.len() > window {
            t.embeddings.pop_front();
            t.evidence.pop_front();
        }
        let Some(mean) = pooled(&t.embeddings) else {
            return;
        };
        let mut identity = judge.identify(&mean);
        let n = t.embeddings.len();
        if let Some(name) = identity.name.as_deref() {
            let own: Vec<f32> = t
                .evidence
                .iter()
                .filter(|i| i.nearest.as_deref() == Some(name))
                .filter_map(|i| i.distance)
                .collect();
            let apart = own.iter().sum::<f32>() / own.len().max(1) as f32;
            if own.len() * 2 <= n || apart > judge.threshold_of(name) + config.decide_margin {
                identity.name = None;
            }
        }
        let clear = n >= config.settle_after
            || (n >= 2
                && identity
                    .distance
                    .zip(identity.nearest.as_deref())
                    .is_none_or(|(d, name)| {
                        (d - judge.threshold_of(name)).abs() >= config.decide_margin
                    }));
        t.settle(Proposal { identity, clear });
    }

    /// Notes that `track` was sent to be embedded with this box, so it is not asked for again
    /// before its time even if its answer comes later (or never).
    pub fn embedded(&mut self, track: u64, bbox: &FaceBox) {
        if let Some(t) = self.tracks.iter_mut().find(|t| t.id == track) {
            t.since_embedding = Some(0);
            t.embedded_area = bbox.area();
        }
    }

    /// Adds the identity an embedding of `track` gave elsewhere (a worker's answer) to its
    /// evidence, and decides its label again by majority. A track that has ended meanwhile is
    /// not brought back.
    pub fn vote(&mut self, track: u64, identity: Identity) {
        let window = self.config.vote_window.max(1);
        let Some(t) = self.tracks.iter_mut().find(|t| t.id == track) else {
            return;
        };
        t.evidence.push_back(identity);
        while t.evidence.len() > window {
            t.evidence.pop_front();
        }
        let proposal = majority(&t.evidence, self.config.settle_after);
        t.settle(proposal);
    }

    /// The identity to show for `track`.
    pub fn identity(&self, track: u64) -> Option<Identity> {
        self.tracks.iter().find(|t| t.id == track)?.shown.clone()
    }

    /// Ends every track: after a cut, the faces in view are not the ones followed.
    pub fn restart(&mut self) {
        self.tracks.clear();
    }

    /// Forgets every identity and embeds every face again on its next frame: the gallery or the
    /// threshold changed, so old answers may be wrong.
    pub fn invalidate(&mut self) {
        for track in &mut self.tracks {
            track.forget();
            track.since_embedding = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THRESHOLD: f32 = 0.55;

    fn det(x: i32, y: i32, w: i32) -> Detection {
        Detection {
            bbox: FaceBox::new(x, y, w, w),
            confidence: 0.9,
        }
    }

    fn who(name: Option<&str>, distance: f32) -> Identity {
        Identity {
            name: name.map(str::to_owned),
            person_id: None,
            distance: Some(distance),
            nearest: Some(name.unwrap_or("ann").to_owned()),
            margin: None,
        }
    }

    fn tracker() -> Tracker {
        Tracker::new(TrackingConfig::default())
    }

    /// An embedding at `distance` from ann's enrolled one (the origin), in its own direction
    /// `axis`, so that embeddings on different axes are apart from each other too.
    fn near_ann(distance: f32, axis: usize) -> Embedding {
        let mut v = vec![0.0; 4];
        v[axis] = distance;
        Embedding(v)
    }

    /// The matcher of these tests: only ann, enrolled at the origin.
    struct Ann;

    impl Judge for Ann {
        fn identify(&self, e: &Embedding) -> Identity {
            let d = e.distance(&Embedding(vec![0.0; 4]));
            who((d <= THRESHOLD).then_some("ann"), d)
        }

        fn threshold_of(&self, _: &str) -> f32 {
            THRESHOLD
        }
    }

    fn shown(t: &Tracker, id: u64) -> Option<String> {
        t.identity(id).and_then(|i| i.name)
    }

    #[test]
    fn a_settled_face_is_embedded_every_n_frames_an_unsettled_one_every_two() {
        let mut t = tracker();
        let mut embeds = Vec::new();
        for i in 0..=30 {
            let a = t.update(&[det(100 + i, 100, 80)]);
            if a[0].embed {
                embeds.push(i);
                // Clear evidence: two embeddings well within settle it.
                t.record(
                    a[0].track,
                    &det(100 + i, 100, 80).bbox,
                    &near_ann(0.3, 0),
                    &Ann,
                );
            }
        }
        assert_eq!(
            embeds,
            [0, 2, 12, 22],
            "again after 2 frames, then every 10"
        );
    }

    #[test]
    fn a_face_near_the_threshold_is_embedded_every_two_frames_until_settled() {
        let mut t = tracker();
        let mut embeds = Vec::new();
        for i in 0..=20 {
            let a = t.update(&[det(100, 100, 80)]);
            if a[0].embed {
                embeds.push(i);
                t.record(
                    a[0].track,
                    &det(100, 100, 80).bbox,
                    &near_ann(0.53, 0),
                    &Ann,
                );
            }
        }
        // settle_after (6) embeddings, two frames apart; then every 10 frames.
        assert_eq!(embeds, [0, 2, 4, 6, 8, 10, 20]);
    }

    #[test]
    fn a_first_embedding_past_the_threshold_is_soon_outvoted() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        t.record(id, &det(0, 0, 50).bbox, &near_ann(0.58, 0), &Ann);
        assert_eq!(shown(&t, id), None);
        assert!(!t.update(&[det(0, 0, 50)])[0].embed);
        assert!(t.update(&[det(0, 0, 50)])[0].embed, "two frames later");
        // Two embeddings on different sides average nearer than either: 0.58 and 0.5 at right
        // angles are 0.38 from ann together.
        t.record(id, &det(0, 0, 50).bbox, &near_ann(0.5, 1), &Ann);
        assert_eq!(shown(&t, id).as_deref(), Some("ann"));
    }

    #[test]
    fn one_poor_embedding_does_not_flip_a_settled_name() {
        let config = TrackingConfig {
            vote_window: 2,
            settle_after: 2,
            ..TrackingConfig::default()
        };
        let mut t = Tracker::new(config);
        let id = t.update(&[det(0, 0, 50)])[0].track;
        let at = |x: f32, y: f32| Embedding(vec![x, y, 0.0, 0.0]);
        for _ in 0..2 {
            t.record(id, &det(0, 0, 50).bbox, &at(0.45, 0.0), &Ann);
        }
        assert_eq!(shown(&t, id).as_deref(), Some("ann"));
        // Within new_face_beyond of the track, and enough to move the mean of the two past
        // the threshold (0.58): proposed once, not taken.
        t.record(id, &det(0, 0, 50).bbox, &at(0.6, 0.5), &Ann);
        assert_eq!(shown(&t, id).as_deref(), Some("ann"));
        t.record(id, &det(0, 0, 50).bbox, &at(0.6, 0.5), &Ann);
        assert_eq!(shown(&t, id), None, "proposed twice in a row");
    }

    #[test]
    fn a_lasting_change_flips_a_settled_label_on_the_second_proposal() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        for (name, d) in [(Some("ann"), 0.3), (Some("ann"), 0.32)] {
            t.vote(id, who(name, d));
        }
        assert_eq!(shown(&t, id).as_deref(), Some("ann"));
        t.vote(id, who(None, 0.8));
        assert_eq!(shown(&t, id).as_deref(), Some("ann"), "still a majority");
        t.vote(id, who(None, 0.8));
        assert_eq!(
            shown(&t, id).as_deref(),
            Some("ann"),
            "no majority, proposed once"
        );
        t.vote(id, who(None, 0.8));
        assert_eq!(shown(&t, id), None, "proposed twice in a row");
    }

    #[test]
    fn one_lucky_embedding_does_not_name_a_stranger_settled_as_unknown() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        // A stranger's embeddings lie near each other, 0.75 from ann.
        let at = |x: f32, y: f32| Embedding(vec![x, y, 0.0, 0.0]);
        for y in [0.0, 0.1] {
            t.record(id, &det(0, 0, 50).bbox, &at(0.75, y), &Ann);
        }
        assert_eq!(shown(&t, id), None);
        t.record(id, &det(0, 0, 50).bbox, &at(0.45, 0.0), &Ann);
        assert_eq!(shown(&t, id), None, "the mean stays far");
    }

    #[test]
    fn the_mean_of_far_and_scattered_embeddings_names_nobody() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        // Each 0.65 from ann, half of it in a direction of its own: within new_face_beyond of
        // each other, and their mean is 0.53 from ann; but none of them is within reach.
        let side = 0.65 * std::f32::consts::FRAC_1_SQRT_2;
        for axis in 1..4 {
            let mut v = vec![side, 0.0, 0.0, 0.0];
            v[axis] = side;
            t.record(id, &det(0, 0, 50).bbox, &Embedding(v), &Ann);
            assert_eq!(shown(&t, id), None);
        }
    }

    #[test]
    fn someone_else_in_the_same_place_is_decided_afresh() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        for _ in 0..6 {
            t.record(id, &det(0, 0, 50).bbox, &near_ann(0.3, 0), &Ann);
        }
        assert_eq!(shown(&t, id).as_deref(), Some("ann"));
        // 0.9 from the track's mean: past new_face_beyond, so the old evidence is dropped and
        // the label changes on this one embedding.
        t.record(id, &det(0, 0, 50).bbox, &near_ann(0.8, 1), &Ann);
        assert_eq!(shown(&t, id), None);
    }

    #[test]
    fn a_clearly_bigger_face_is_embedded_again_at_once() {
        let mut t = tracker();
        let a = t.update(&[det(100, 100, 60)]);
        t.vote(a[0].track, who(None, 0.8));
        t.embedded(a[0].track, &det(100, 100, 60).bbox);
        t.vote(a[0].track, who(None, 0.8));
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
    fn a_restart_ends_every_track() {
        let mut t = tracker();
        let a = t.update(&[det(0, 0, 50)]);
        t.restart();
        let b = t.update(&[det(0, 0, 50)]);
        assert_ne!(a[0].track, b[0].track);
        assert!(b[0].embed);
    }

    #[test]
    fn invalidate_forgets_identities_and_asks_for_embeddings() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        t.record(id, &det(0, 0, 50).bbox, &near_ann(0.8, 0), &Ann);
        t.invalidate();
        assert!(t.identity(id).is_none());
        assert!(t.update(&[det(1, 0, 50)])[0].embed);
    }
}
