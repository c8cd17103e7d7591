//! Visitors: unknown faces grouped by who they are. An unknown sighting keeps its track's mean
//! embedding; sightings whose embeddings lie near each other are one visitor, whatever camera
//! or day they came from.
//!
//! The grouping is density based, as Immich and PhotoPrism group unknown faces (DBSCAN): a
//! sighting with at least `min_sightings` sightings (itself counted) within `group_distance`
//! is a core; cores within `group_distance` of each other are one visitor, with the sightings
//! near one of its cores; every other sighting is noise and stays ungrouped, rather than being
//! forced into the nearest group. Only embeddings of one embedder are compared.
//!
//! A visitor keeps its id while it grows: a group takes the id most of its sightings had, so
//! that a client holding a visitor's id keeps meaning the same person after the next sightings
//! are grouped.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, PersonId};
use crate::gallery::audit::Actor;
use crate::gallery::sightings::SightingId;
use crate::gallery::stored::vector_from_bytes;

/// A group of unknown sightings' id. It is the id of one of the sightings it was first made
/// of, so that two machines never need to agree on a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VisitorId(pub i64);

/// How unknown sightings are grouped (config `sightings.visitors`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GroupSettings {
    /// A group needs at least this many sightings near each other.
    pub min_sightings: usize,
    /// Two sightings' mean embeddings this near (L2) are near each other.
    pub group_distance: f32,
}

impl Default for GroupSettings {
    /// Chosen from the figures of docs/decisions/0006-visitors.md.
    fn default() -> Self {
        GroupSettings {
            min_sightings: 3,
            group_distance: 0.5,
        }
    }
}

impl GroupSettings {
    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.min_sightings < 2 {
            Some(format!(
                "sightings.visitors.min_sightings must be at least 2, not {}",
                self.min_sightings
            ))
        } else if !(self.group_distance > 0.0 && self.group_distance < 2.0) {
            Some(format!(
                "sightings.visitors.group_distance must be between 0 and 2, not {}",
                self.group_distance
            ))
        } else {
            None
        }
    }
}

/// An unknown sighting's embedding, as grouping reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownEmbedding {
    pub sighting: SightingId,
    pub embedder: EmbedderId,
    pub embedding: Embedding,
    /// The group it is in now.
    pub visitor: Option<VisitorId>,
}

/// A group of unknown sightings, as it is read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Visitor {
    pub id: VisitorId,
    pub sightings: usize,
    /// When the first of its sightings began and the last ended (seconds since the epoch).
    pub first: i64,
    pub last: i64,
    /// The cameras it was seen at, sorted.
    pub cameras: Vec<String>,
    /// Its sightings that keep a crop, best (most embeddings agreeing) first: the
    /// `n`-th is the face `GET /v1/visitors/{id}/faces/{n}/image` shows.
    pub samples: Vec<SightingId>,
}

/// What dismissing a visitor forgot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Dismissed {
    pub sightings: usize,
}

/// Where the groups are kept; every gallery is one.
pub trait Visitors {
    /// Every unknown sighting that keeps an embedding, oldest first.
    fn unknown_embeddings(&self) -> Result<Vec<UnknownEmbedding>>;

    /// Puts sightings in their groups (`None`: in none); a sighting gone meanwhile is skipped.
    fn set_visitors(&self, changes: &[(SightingId, Option<VisitorId>)]) -> Result<()>;

    /// Every group, the most recently seen first, with at most `samples` sample sightings.
    fn visitors(&self, samples: usize) -> Result<Vec<Visitor>>;

    /// Names a group's sightings as `person`, who was enrolled from it: they leave the group
    /// and keep no crop nor embedding, as a sighting named when it was seen. Returns how many
    /// were named; none when the group or the person is gone.
    fn name_visitor(&self, id: VisitorId, person: PersonId) -> Result<usize>;

    /// Forgets a group's sightings, crops and embeddings to the last byte, in the audit trail
    /// as done by `actor`; [`Error::NotFound`](crate::base::error::Error) when there is no
    /// such group.
    fn dismiss_visitor(&self, id: VisitorId, actor: &Actor) -> Result<Dismissed>;
}

/// Groups the stored unknown sightings again and stores the groups that changed; returns how
/// many sightings changed group. Any process may run it: the groups depend only on the
/// embeddings and the groups before. A process that groups again and again keeps a
/// [`Grouper`] instead, which measures only the new sightings' distances.
pub fn regroup(store: &dyn Visitors, settings: &GroupSettings) -> Result<usize> {
    Grouper::new(*settings).regroup(store)
}

/// Grouping that remembers which sightings lie near each other, so that grouping again after
/// new sightings costs their distances to the others, not every pair's again: the sightings
/// writer groups every few seconds while a busy door adds a few sightings at a time. The groups
/// are the same as [`group`]'s.
#[derive(Debug)]
pub struct Grouper {
    settings: GroupSettings,
    /// Every sighting grouped so far: the embedding it was grouped with and its neighbours
    /// (itself not included).
    known: HashMap<SightingId, Known>,
}

#[derive(Debug)]
struct Known {
    embedder: EmbedderId,
    embedding: Embedding,
    near: Vec<SightingId>,
}

impl Grouper {
    pub fn new(settings: GroupSettings) -> Grouper {
        Grouper {
            settings,
            known: HashMap::new(),
        }
    }

    /// [`regroup`], measuring only the distances of sightings it has not seen before.
    pub fn regroup(&mut self, store: &dyn Visitors) -> Result<usize> {
        let faces = store.unknown_embeddings()?;
        let groups = self.group(&faces);
        let changes: Vec<(SightingId, Option<VisitorId>)> = faces
            .iter()
            .zip(groups)
            .filter(|(face, group)| face.visitor != *group)
            .map(|(face, group)| (face.sighting, group))
            .collect();
        if !changes.is_empty() {
            store.set_visitors(&changes)?;
        }
        Ok(changes.len())
    }

    /// The group of each face, in order, as [`group`] finds them.
    pub fn group(&mut self, faces: &[UnknownEmbedding]) -> Vec<Option<VisitorId>> {
        let index: HashMap<SightingId, usize> = faces
            .iter()
            .enumerate()
            .map(|(i, face)| (face.sighting, i))
            .collect();
        // Sightings gone since (named, dismissed, purged) are forgotten here too, and those
        // whose track went on, with another mean embedding, are measured again.
        self.known.retain(|id, known| {
            index.get(id).is_some_and(|&i| {
                known.embedder == faces[i].embedder && known.embedding == faces[i].embedding
            })
        });
        let kept: HashSet<SightingId> = self.known.keys().copied().collect();
        for known in self.known.values_mut() {
            known.near.retain(|id| kept.contains(id));
        }
        let (seen, fresh): (Vec<usize>, Vec<usize>) =
            (0..faces.len()).partition(|&i| kept.contains(&faces[i].sighting));
        let limit = self.settings.group_distance * self.settings.group_distance;
        for (n, &i) in fresh.iter().enumerate() {
            let mut found = Vec::new();
            // Against every sighting seen before and the new ones before it, each pair once.
            for &j in seen.iter().chain(&fresh[..n]) {
                if near(&faces[i], &faces[j], limit) {
                    found.push(faces[j].sighting);
                }
            }
            for other in &found {
                if let Some(theirs) = self.known.get_mut(other) {
                    theirs.near.push(faces[i].sighting);
                }
            }
            self.known.insert(
                faces[i].sighting,
                Known {
                    embedder: faces[i].embedder.clone(),
                    embedding: faces[i].embedding.clone(),
                    near: found,
                },
            );
        }
        let neighbours: Vec<Vec<usize>> = faces
            .iter()
            .enumerate()
            .map(|(i, face)| {
                let mut list: Vec<usize> = self
                    .known
                    .get(&face.sighting)
                    .into_iter()
                    .flat_map(|known| &known.near)
                    .filter_map(|id| index.get(id).copied())
                    .collect();
                list.push(i);
                list.sort_unstable();
                list
            })
            .collect();
        clusters(faces, &neighbours, &self.settings)
    }
}

/// The group of each face, in order (`None`: noise).
pub fn group(faces: &[UnknownEmbedding], settings: &GroupSettings) -> Vec<Option<VisitorId>> {
    let limit = settings.group_distance * settings.group_distance;
    // Neighbours, itself included, in order.
    let mut neighbours: Vec<Vec<usize>> = vec![Vec::new(); faces.len()];
    for i in 0..faces.len() {
        for j in i + 1..faces.len() {
            if near(&faces[i], &faces[j], limit) {
                neighbours[i].push(j);
                neighbours[j].push(i);
            }
        }
    }
    for (i, list) in neighbours.iter_mut().enumerate() {
        list.push(i);
        list.sort_unstable();
    }
    clusters(faces, &neighbours, settings)
}

/// DBSCAN's clusters over the faces' neighbours (each list sorted, the face itself included),
/// named by [`name_clusters`].
fn clusters(
    faces: &[UnknownEmbedding],
    near: &[Vec<usize>],
    settings: &GroupSettings,
) -> Vec<Option<VisitorId>> {
    let core: Vec<bool> = near
        .iter()
        .map(|n| n.len() >= settings.min_sightings)
        .collect();
    // Cores reachable from each other are one cluster.
    let mut cluster: Vec<Option<usize>> = vec![None; faces.len()];
    let mut clusters = 0;
    for start in 0..faces.len() {
        if !core[start] || cluster[start].is_some() {
            continue;
        }
        cluster[start] = Some(clusters);
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            for &j in &near[i] {
                if core[j] && cluster[j].is_none() {
                    cluster[j] = Some(clusters);
                    stack.push(j);
                }
            }
        }
        clusters += 1;
    }
    // A face near a core joins the nearest core's cluster.
    let border: Vec<Option<usize>> = (0..faces.len())
        .map(|i| {
            if core[i] {
                return cluster[i];
            }
            near[i]
                .iter()
                .filter(|&&j| core[j])
                .min_by(|&&a, &&b| {
                    squared(&faces[i].embedding, &faces[a].embedding)
                        .total_cmp(&squared(&faces[i].embedding, &faces[b].embedding))
                })
                .and_then(|&j| cluster[j])
        })
        .collect();
    let ids = name_clusters(faces, &border, clusters);
    border.into_iter().map(|c| c.map(|c| ids[c])).collect()
}

/// Whether two faces of one embedder lie within `limit`, a squared distance. Stops summing once
/// past it: most pairs are strangers, far apart well before the last dimension.
fn near(a: &UnknownEmbedding, b: &UnknownEmbedding, limit: f32) -> bool {
    if a.embedder != b.embedder {
        return false;
    }
    let mut sum = 0.0;
    for (x, y) in a.embedding.0.chunks(16).zip(b.embedding.0.chunks(16)) {
        sum += x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum::<f32>();
        if sum > limit {
            return false;
        }
    }
    true
}

/// An id for each cluster: the id most of its faces had before (the bigger cluster first, when
/// a group split), else the smallest of its sightings' ids that no other group has.
fn name_clusters(
    faces: &[UnknownEmbedding],
    cluster: &[Option<usize>],
    clusters: usize,
) -> Vec<VisitorId> {
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); clusters];
    for (i, c) in cluster.iter().enumerate() {
        if let Some(c) = c {
            members[*c].push(i);
        }
    }
    let mut order: Vec<usize> = (0..clusters).collect();
    order.sort_by_key(|&c| (std::cmp::Reverse(members[c].len()), c));
    let mut taken: HashSet<VisitorId> = HashSet::new();
    let mut ids = vec![VisitorId(0); clusters];
    let mut unnamed = Vec::new();
    for c in order {
        let mut votes: HashMap<VisitorId, usize> = HashMap::new();
        for &i in &members[c] {
            if let Some(v) = faces[i].visitor {
                *votes.entry(v).or_default() += 1;
            }
        }
        let mut votes: Vec<(VisitorId, usize)> = votes.into_iter().collect();
        votes.sort_by_key(|&(v, n)| (std::cmp::Reverse(n), v));
        match votes.into_iter().find(|(v, _)| !taken.contains(v)) {
            Some((v, _)) => {
                taken.insert(v);
                ids[c] = v;
            }
            None => unnamed.push(c),
        }
    }
    // Named after their sightings once the old ids are all placed, so that no new id is
    // an old group's that comes later in the order.
    let old: HashSet<VisitorId> = faces.iter().filter_map(|f| f.visitor).collect();
    for c in unnamed {
        let id = members[c]
            .iter()
            .map(|&i| VisitorId(faces[i].sighting.0))
            .filter(|v| !taken.contains(v) && !old.contains(v))
            .min()
            .unwrap_or_else(|| VisitorId(-faces[members[c][0]].sighting.0));
        taken.insert(id);
        ids[c] = id;
    }
    ids
}

/// The groups from the rows of [`sql::VISITORS`](crate::gallery::sql::VISITORS) (id,
/// sightings, first, last), `VISITOR_CAMERAS` and `VISITOR_SAMPLES`, with at most `samples`
/// samples each.
pub(crate) fn assemble(
    summaries: Vec<(i64, i64, i64, i64)>,
    cameras: Vec<(i64, String)>,
    sampled: Vec<(i64, i64)>,
    samples: usize,
) -> Vec<Visitor> {
    let mut seen_at: HashMap<i64, Vec<String>> = HashMap::new();
    for (id, camera) in cameras {
        seen_at.entry(id).or_default().push(camera);
    }
    let mut crops: HashMap<i64, Vec<SightingId>> = HashMap::new();
    for (id, sighting) in sampled {
        let kept = crops.entry(id).or_default();
        if kept.len() < samples {
            kept.push(SightingId(sighting));
        }
    }
    summaries
        .into_iter()
        .map(|(id, sightings, first, last)| Visitor {
            id: VisitorId(id),
            sightings: usize::try_from(sightings).unwrap_or_default(),
            first,
            last,
            cameras: seen_at.remove(&id).unwrap_or_default(),
            samples: crops.remove(&id).unwrap_or_default(),
        })
        .collect()
}

/// A stored unknown sighting's embedding (`bytes`, opened from any seal) as grouping reads
/// it; `None` for a damaged vector, which is left out of the groups (`gallery check` reports
/// it).
pub(crate) fn stored(
    id: i64,
    embedder: String,
    bytes: &[u8],
    visitor: Option<i64>,
) -> Option<UnknownEmbedding> {
    Some(UnknownEmbedding {
        sighting: SightingId(id),
        embedder: EmbedderId::new(embedder),
        embedding: vector_from_bytes(bytes)?,
        visitor: visitor.map(VisitorId),
    })
}

/// A group that does not exist.
pub(crate) fn no_visitor(id: VisitorId) -> Error {
    Error::NotFound(format!("there is no visitor {}", id.0))
}

/// The audit trail's words for a dismissal.
pub(crate) fn dismissed_detail(id: VisitorId, dismissed: Dismissed) -> String {
    format!(
        "visitor {} dismissed: {} sighting(s) with their crops and embeddings forgotten",
        id.0, dismissed.sightings
    )
}

/// The squared L2 distance: the order of the L2 distance, without a root per pair.
fn squared(a: &Embedding, b: &Embedding) -> f32 {
    a.0.iter().zip(&b.0).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::identity::{DIM, EmbedderKind};

    /// A face at `x` along the first axis, `y` along the second.
    fn face(id: i64, x: f32, y: f32, visitor: Option<i64>) -> UnknownEmbedding {
        let mut v = vec![0.0; DIM];
        v[0] = x;
        v[1] = y;
        UnknownEmbedding {
            sighting: SightingId(id),
            embedder: EmbedderKind::Dlib.id(),
            embedding: Embedding(v),
            visitor: visitor.map(VisitorId),
        }
    }

    const SETTINGS: GroupSettings = GroupSettings {
        min_sightings: 3,
        group_distance: 0.5,
    };

    #[test]
    fn three_near_faces_are_a_visitor_and_a_lone_face_is_noise() {
        let faces = [
            face(1, 0.0, 0.0, None),
            face(2, 0.3, 0.0, None),
            face(3, 5.0, 0.0, None),
            face(4, 0.0, 0.3, None),
            face(5, 5.3, 0.0, None),
            face(6, 9.0, 9.0, None),
        ];
        let groups = group(&faces, &SETTINGS);
        assert_eq!(
            groups,
            [
                Some(VisitorId(1)),
                Some(VisitorId(1)),
                None,
                Some(VisitorId(1)),
                None,
                None
            ],
            "two faces are not enough for a group"
        );
        let mut more = faces.to_vec();
        more.push(face(7, 5.1, 0.3, None));
        assert_eq!(group(&more, &SETTINGS)[2], Some(VisitorId(3)));
    }

    #[test]
    fn a_group_keeps_its_id_as_it_grows_and_when_it_splits_the_bigger_part_keeps_it() {
        let faces = [
            face(10, 0.0, 0.0, Some(4)),
            face(11, 0.3, 0.0, Some(4)),
            face(12, 0.0, 0.3, Some(4)),
            face(13, 0.2, 0.2, None),
        ];
        assert_eq!(group(&faces, &SETTINGS), vec![Some(VisitorId(4)); 4]);
        // What was one group is now two far apart: the bigger keeps the id.
        let split = [
            face(10, 0.0, 0.0, Some(4)),
            face(11, 0.3, 0.0, Some(4)),
            face(12, 0.0, 0.3, Some(4)),
            face(13, 7.0, 0.0, Some(4)),
            face(14, 7.3, 0.0, Some(4)),
            face(15, 7.0, 0.3, None),
            face(16, 7.2, 0.2, None),
        ];
        let groups = group(&split, &SETTINGS);
        assert_eq!(groups[..3], [Some(VisitorId(10)); 3]);
        assert_eq!(groups[3..], [Some(VisitorId(4)); 4]);
    }

    #[test]
    fn grouping_again_after_changes_finds_the_groups_a_full_grouping_finds() {
        // Faces in clumps along two axes, added a few at a time; some named or dismissed
        // (gone), some tracks going on with a moved mean embedding, as the writer sees them.
        let mut seed = 7_u64;
        let mut next = move || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as f32 / (1_u64 << 31) as f32
        };
        let mut grouper = Grouper::new(SETTINGS);
        let mut faces: Vec<UnknownEmbedding> = Vec::new();
        let mut id = 0;
        for round in 0..40 {
            for _ in 0..5 {
                id += 1;
                let clump = (next() * 6.0).floor();
                faces.push(face(id, clump + next() * 0.6, next() * 0.6, None));
            }
            if round % 3 == 0 && !faces.is_empty() {
                let gone = (next() * faces.len() as f32) as usize % faces.len();
                faces.remove(gone);
            }
            if round % 4 == 1 {
                let moved = (next() * faces.len() as f32) as usize % faces.len();
                faces[moved].embedding.0[1] += 0.3;
            }
            let full = group(&faces, &SETTINGS);
            assert_eq!(grouper.group(&faces), full, "round {round}");
            // The groups are stored, and read back with the next sightings.
            for (face, group) in faces.iter_mut().zip(full) {
                face.visitor = group;
            }
        }
        assert!(
            faces.iter().filter(|f| f.visitor.is_some()).count() > 100,
            "the clumps make groups"
        );
    }

    #[test]
    fn embedders_are_never_compared() {
        let mut faces = vec![
            face(1, 0.0, 0.0, None),
            face(2, 0.1, 0.0, None),
            face(3, 0.0, 0.1, None),
        ];
        faces[2].embedder = EmbedderKind::OpenFace.id();
        assert_eq!(group(&faces, &SETTINGS), vec![None; 3]);
    }

    #[test]
    fn settings_out_of_range_are_refused() {
        assert!(GroupSettings::default().problem().is_none());
        for bad in [
            GroupSettings {
                min_sightings: 1,
                ..SETTINGS
            },
            GroupSettings {
                group_distance: 0.0,
                ..SETTINGS
            },
            GroupSettings {
                group_distance: f32::NAN,
                ..SETTINGS
            },
        ] {
            assert!(bad.problem().is_some(), "{bad:?}");
        }
    }
}
