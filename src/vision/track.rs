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
//!
//! The decision needs the gallery only to judge each new embedding, alone and pooled with the
//! track's recent ones ([`Judged`]). The local pipeline judges on the spot; a camera agent,
//! which has no gallery, sends the recent embeddings with the crop and a worker judges there.
//! Both then decide with the same [`Tracker::record`].

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::base::geometry::FaceBox;
use crate::base::identity::Embedding;
use crate::vision::detect::Detection;
use crate::vision::matcher::{Identity, Matcher};

/// What judging asks of the matcher: who an embedding is, and within what distance a person
/// is named (their own threshold, or the global one).
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

/// Who an embedding (or a mean of embeddings) is, and the threshold of the nearest person it
/// was judged by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    #[serde(flatten)]
    pub identity: Identity,
    /// The nearest person's threshold (their own, or the global one); `None` with an empty
    /// gallery.
    pub threshold: Option<f32>,
}

impl Verdict {
    fn of(judge: &impl Judge, embedding: &Embedding) -> Verdict {
        let identity = judge.identify(embedding);
        let threshold = identity.nearest.as_deref().map(|n| judge.threshold_of(n));
        Verdict {
            identity,
            threshold,
        }
    }
}

/// A fresh embedding of a track, judged alone and pooled with the track's recent embeddings:
/// everything the tracker decides a label on. It is made where the gallery is ([`judge`]): in
/// the same process for the local pipeline, by a recognition worker for a camera agent, which
/// then decides exactly as the local pipeline does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judged {
    pub embedding: Embedding,
    /// Who the embedding alone is.
    pub alone: Verdict,
    /// Who the mean of the track's recent embeddings ([`Tracker::recent`]) and this one is.
    pub pooled: Verdict,
    /// How many embeddings that mean is of: the recent ones and this one.
    pub pooled_of: usize,
}

/// Judges `embedding` alone and pooled with `recent` (a track's recent embeddings, oldest
/// first, as [`Tracker::recent`] gives them).
pub fn judge(judge: &impl Judge, recent: &[Embedding], embedding: &Embedding) -> Judged {
    let mut all: Vec<Embedding> = recent.to_vec();
    all.push(embedding.clone());
    let alone = Verdict::of(judge, embedding);
    let pooled = match Embedding::mean(&all) {
        Some(mean) if all.len() > 1 => Verdict::of(judge, &mean),
        _ => alone.clone(),
    };
    Judged {
        embedding: embedding.clone(),
        alone,
        pooled,
        pooled_of: all.len(),
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
    /// Frames since the frame of the newest embedding behind the label.
    evidence_age: Option<u32>,
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
            evidence_age: None,
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
        self.evidence_age = None;
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
            track.evidence_age = track.evidence_age.map(|n| n + 1);
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

    /// The recent embeddings of `track` that its next embedding is pooled with, oldest first
    /// (none for a track not followed).
    pub fn recent(&self, track: u64) -> Vec<Embedding> {
        let keep = self.config.vote_window.max(1) - 1;
        self.tracks
            .iter()
            .find(|t| t.id == track)
            .map(|t| {
                let skip = t.embeddings.len().saturating_sub(keep);
                t.embeddings.iter().skip(skip).cloned().collect()
            })
            .unwrap_or_default()
    }

    /// Judges a fresh embedding of `track` with `judge`, as [`Tracker::record`] wants it.
    pub fn judge(&self, track: u64, embedding: &Embedding, judge: &impl Judge) -> Judged {
        self::judge(judge, &self.recent(track), embedding)
    }

    /// Notes that `track` was embedded (or sent to be) with this box, so it is not asked for
    /// again before its time even if its answer comes later (or never).
    pub fn embedded(&mut self, track: u64, bbox: &FaceBox) {
        if let Some(t) = self.tracks.iter_mut().find(|t| t.id == track) {
            t.since_embedding = Some(0);
            t.embedded_area = bbox.area();
        }
    }

    /// Decides the label of `track` again with the newest embedding (the one it was last
    /// [`Tracker::embedded`] for), judged where the gallery is. The label comes from the mean
    /// of the track's recent embeddings, which names a person only if most of the embeddings
    /// themselves point at that person, and not from far on average (by more than
    /// `decide_margin`): the mean of very different faces drifts towards the middle of face
    /// space, near everybody. A track that has ended meanwhile is not brought back.
    pub fn record(&mut self, track: u64, judged: Judged) {
        let config = &self.config;
        let Some(t) = self.tracks.iter_mut().find(|t| t.id == track) else {
            return;
        };
        let window = config.vote_window.max(1);
        // Judged with other recent embeddings than the track has (possible only if answers
        // overtook each other): its mean cannot be combined with them, so the decision starts
        // afresh from this embedding, as for a new face.
        let other_recent = judged.pooled_of != t.embeddings.len().min(window - 1) + 1;
        let new_face = Embedding::mean(&t.embeddings)
            .is_some_and(|mean| mean.distance(&judged.embedding) > config.new_face_beyond);
        if new_face || other_recent {
            t.forget();
        }
        t.embeddings.push_back(judged.embedding);
        t.evidence.push_back(judged.alone.identity.clone());
        while t.embeddings.len() > window {
            t.embeddings.pop_front();
            t.evidence.pop_front();
        }
        let n = t.embeddings.len();
        let Verdict {
            mut identity,
            threshold,
        } = if n == 1 { judged.alone } else { judged.pooled };
        if let Some((name, threshold)) = identity.name.as_deref().zip(threshold) {
            let own: Vec<f32> = t
                .evidence
                .iter()
                .filter(|i| i.nearest.as_deref() == Some(name))
                .filter_map(|i| i.distance)
                .collect();
            let apart = own.iter().sum::<f32>() / own.len().max(1) as f32;
            if own.len() * 2 <= n || apart > threshold + config.decide_margin {
                identity.name = None;
                identity.person_id = None;
            }
        }
        let clear = n >= config.settle_after
            || (n >= 2
                && identity
                    .distance
                    .zip(threshold)
                    .is_none_or(|(d, threshold)| (d - threshold).abs() >= config.decide_margin));
        t.evidence_age = t.since_embedding;
        t.settle(Proposal { identity, clear });
    }

    /// The identity to show for `track`.
    pub fn identity(&self, track: u64) -> Option<Identity> {
        self.tracks.iter().find(|t| t.id == track)?.shown.clone()
    }

    /// Whether `track` is still followed: seen lately, and no cut since.
    pub fn follows(&self, track: u64) -> bool {
        self.tracks.iter().any(|t| t.id == track)
    }

    /// How many of the recent embeddings of `track` agree with its label: the evidence the
    /// decision stands on, at most `vote_window`.
    pub fn agreeing(&self, track: u64) -> usize {
        let Some(t) = self.tracks.iter().find(|t| t.id == track) else {
            return 0;
        };
        let shown = t.shown.as_ref().and_then(|i| i.name.as_deref());
        t.evidence
            .iter()
            .filter(|i| i.name.as_deref() == shown)
            .count()
    }

    /// The mean of the recent embeddings of `track`, when it has any: what its face is taken
    /// for, with one embedding's noise averaged out.
    pub fn mean_embedding(&self, track: u64) -> Option<Embedding> {
        Embedding::mean(&self.tracks.iter().find(|t| t.id == track)?.embeddings)
    }

    /// How many frames ago the newest embedding behind the label of `track` was taken: 0 on
    /// the frame it was embedded; for a camera agent, at least the answer's round trip.
    pub fn evidence_age(&self, track: u64) -> Option<u32> {
        self.tracks.iter().find(|t| t.id == track)?.evidence_age
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

    /// An embedding of `track` made and judged on the spot, as the local pipeline does.
    fn record(t: &mut Tracker, track: u64, bbox: &FaceBox, embedding: &Embedding) {
        t.embedded(track, bbox);
        let judged = t.judge(track, embedding, &Ann);
        t.record(track, judged);
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
                record(
                    &mut t,
                    a[0].track,
                    &det(100 + i, 100, 80).bbox,
                    &near_ann(0.3, 0),
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
                record(
                    &mut t,
                    a[0].track,
                    &det(100, 100, 80).bbox,
                    &near_ann(0.53, 0),
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
        record(&mut t, id, &det(0, 0, 50).bbox, &near_ann(0.58, 0));
        assert_eq!(shown(&t, id), None);
        assert!(!t.update(&[det(0, 0, 50)])[0].embed);
        assert!(t.update(&[det(0, 0, 50)])[0].embed, "two frames later");
        // Two embeddings on different sides average nearer than either: 0.58 and 0.5 at right
        // angles are 0.38 from ann together.
        record(&mut t, id, &det(0, 0, 50).bbox, &near_ann(0.5, 1));
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
            record(&mut t, id, &det(0, 0, 50).bbox, &at(0.45, 0.0));
        }
        assert_eq!(shown(&t, id).as_deref(), Some("ann"));
        // Within new_face_beyond of the track, and enough to move the mean of the two past
        // the threshold (0.58): proposed once, not taken.
        record(&mut t, id, &det(0, 0, 50).bbox, &at(0.6, 0.5));
        assert_eq!(shown(&t, id).as_deref(), Some("ann"));
        record(&mut t, id, &det(0, 0, 50).bbox, &at(0.6, 0.5));
        assert_eq!(shown(&t, id), None, "proposed twice in a row");
    }

    #[test]
    fn a_camera_agent_judged_elsewhere_decides_as_the_local_path() {
        // The same embeddings, recorded at once (the local path), and judged on the recent
        // embeddings sent with the crop and answered a frame later (a camera agent): a label
        // past the threshold, a mean that names, somebody else, and a settled name.
        let faces = [
            near_ann(0.58, 0),
            near_ann(0.5, 1),
            near_ann(0.52, 2),
            near_ann(0.9, 3),
            near_ann(0.3, 0),
            near_ann(0.3, 0),
        ];
        let (mut local, mut agent) = (tracker(), tracker());
        let (mut local_n, mut agent_n) = (0, 0);
        let mut asked: Option<(u64, Vec<Embedding>)> = None;
        let (mut local_labels, mut agent_labels) = (Vec::new(), Vec::new());
        let (mut local_embeds, mut agent_embeds) = (Vec::new(), Vec::new());
        let face = det(0, 0, 50);
        for frame in 0..24 {
            let l = local.update(&[face])[0];
            if l.embed && local_n < faces.len() {
                record(&mut local, l.track, &face.bbox, &faces[local_n]);
                local_n += 1;
                local_embeds.push(frame);
            }
            local_labels.push(shown(&local, l.track));
            // The answer to the crop of the frame before comes in first.
            if let Some((id, recent)) = asked.take() {
                agent.record(id, judge(&Ann, &recent, &faces[agent_n]));
                agent_n += 1;
            }
            let a = agent.update(&[face])[0];
            if a.embed && agent_n < faces.len() {
                agent.embedded(a.track, &face.bbox);
                asked = Some((a.track, agent.recent(a.track)));
                agent_embeds.push(frame);
            }
            agent_labels.push(shown(&agent, a.track));
        }
        assert_eq!(agent_embeds, local_embeds, "asked for as often");
        assert_eq!(local_embeds.len(), faces.len());
        // Every decision, one frame later.
        assert_eq!(agent_labels[1..], local_labels[..23]);
        assert!(local_labels.contains(&Some("ann".to_owned())));
        assert_eq!(local_labels[1], None);
    }

    #[test]
    fn an_answer_judged_on_other_recent_embeddings_starts_the_decision_afresh() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        for _ in 0..3 {
            record(&mut t, id, &det(0, 0, 50).bbox, &near_ann(0.3, 0));
        }
        // Judged as if the track had nothing yet: a mean of one, the embedding alone.
        t.record(id, judge(&Ann, &[], &near_ann(0.58, 0)));
        assert_eq!(shown(&t, id), None, "decided on the new embedding alone");
        assert_eq!(t.recent(id), [near_ann(0.58, 0)]);
    }

    #[test]
    fn the_evidence_age_counts_frames_from_the_embedded_one() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        t.embedded(id, &det(0, 0, 50).bbox);
        let recent = t.recent(id);
        assert_eq!(t.evidence_age(id), None);
        for _ in 0..3 {
            t.update(&[det(0, 0, 50)]);
        }
        // Answered three frames after the crop was taken.
        t.record(id, judge(&Ann, &recent, &near_ann(0.3, 0)));
        assert_eq!(t.evidence_age(id), Some(3));
        t.update(&[det(0, 0, 50)]);
        assert_eq!(t.evidence_age(id), Some(4));
    }

    #[test]
    fn one_lucky_embedding_does_not_name_a_stranger_settled_as_unknown() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        // A stranger's embeddings lie near each other, 0.75 from ann.
        let at = |x: f32, y: f32| Embedding(vec![x, y, 0.0, 0.0]);
        for y in [0.0, 0.1] {
            record(&mut t, id, &det(0, 0, 50).bbox, &at(0.75, y));
        }
        assert_eq!(shown(&t, id), None);
        record(&mut t, id, &det(0, 0, 50).bbox, &at(0.45, 0.0));
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
            record(&mut t, id, &det(0, 0, 50).bbox, &Embedding(v));
            assert_eq!(shown(&t, id), None);
        }
    }

    #[test]
    fn someone_else_in_the_same_place_is_decided_afresh() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        for _ in 0..6 {
            record(&mut t, id, &det(0, 0, 50).bbox, &near_ann(0.3, 0));
        }
        assert_eq!(shown(&t, id).as_deref(), Some("ann"));
        // 0.9 from the track's mean: past new_face_beyond, so the old evidence is dropped and
        // the label changes on this one embedding.
        record(&mut t, id, &det(0, 0, 50).bbox, &near_ann(0.8, 1));
        assert_eq!(shown(&t, id), None);
    }

    #[test]
    fn a_clearly_bigger_face_is_embedded_again_at_once() {
        let mut t = tracker();
        let a = t.update(&[det(100, 100, 60)]);
        record(
            &mut t,
            a[0].track,
            &det(100, 100, 60).bbox,
            &near_ann(0.8, 0),
        );
        t.update(&[det(100, 100, 60)]);
        assert!(t.update(&[det(100, 100, 60)])[0].embed);
        record(
            &mut t,
            a[0].track,
            &det(100, 100, 60).bbox,
            &near_ann(0.8, 0),
        );
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
    fn a_tracks_evidence_and_mean_are_its_recent_embeddings() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        assert!(t.follows(id) && t.mean_embedding(id).is_none());
        record(&mut t, id, &det(0, 0, 50).bbox, &near_ann(0.3, 0));
        record(&mut t, id, &det(0, 0, 50).bbox, &near_ann(0.5, 0));
        record(&mut t, id, &det(0, 0, 50).bbox, &near_ann(0.58, 0));
        assert_eq!(shown(&t, id).as_deref(), Some("ann"));
        assert_eq!(t.agreeing(id), 2, "the third, alone, is past the threshold");
        let mean = t.mean_embedding(id).unwrap();
        assert!((mean.0[0] - (0.3 + 0.5 + 0.58) / 3.0).abs() < 1e-6);
        t.restart();
        assert!(!t.follows(id) && t.agreeing(id) == 0);
    }

    #[test]
    fn invalidate_forgets_identities_and_asks_for_embeddings() {
        let mut t = tracker();
        let id = t.update(&[det(0, 0, 50)])[0].track;
        record(&mut t, id, &det(0, 0, 50).bbox, &near_ann(0.8, 0));
        t.invalidate();
        assert!(t.identity(id).is_none());
        assert!(t.update(&[det(1, 0, 50)])[0].embed);
    }
}
