//! How long grouping unknown sightings into visitors takes, as the sightings writer and
//! `visitors list --regroup` do it: 10,000 unknown sightings (800 strangers seen 10 times
//! each, and 2,000 passers-by seen once) stored in a SQLite gallery, then grouped from the
//! store (read, group, write the groups), then once more with nothing new; as the sightings
//! writer groups (remembering which sightings are near, then 20 new sightings); and the
//! grouping alone in memory. Figures, not assertions; with the groups' purity and completeness on
//! these made-up faces.
//!
//!     cargo bench --bench visitors            # 10,000 sightings
//!     cargo bench --bench visitors -- 20000   # another size
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark that cannot set up has nothing to report

use std::collections::HashMap;
use std::time::Instant;

use whoisit::base::identity::{EmbedderKind, Embedding};
use whoisit::gallery::visitors::group;
use whoisit::gallery::{
    GroupSettings, Grouper, SightingRecord, Sightings as _, SqliteGallery, UnknownFace, VisitorId,
    Visitors as _, now, regroup,
};
use whoisit::measure::synthetic_gallery::Vectors;

/// Sightings per stranger seen again and again.
const SEEN: usize = 10;
/// How far a sighting's mean embedding lies from its stranger's (before normalising): two
/// sightings of one stranger are about 0.4 apart, as the johns' photos of one person are.
const SPREAD: f32 = 0.3;

fn main() {
    let total: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let strangers = total * 8 / 10 / SEEN;
    let passers_by = total - strangers * SEEN;
    let faces = made_up(strangers, passers_by);
    let dir = tempfile::tempdir().unwrap();
    let gallery = SqliteGallery::open(dir.path(), None).unwrap();
    let start = Instant::now();
    store(&gallery, &faces);
    println!(
        "{total} unknown sightings ({strangers} strangers x {SEEN}, {passers_by} passers-by) stored in {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let settings = GroupSettings::default();
    let start = Instant::now();
    let changed = regroup(&gallery, &settings).unwrap();
    println!(
        "  regroup from the store, first time: {:.2} s ({changed} sightings put in groups)",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    regroup(&gallery, &settings).unwrap();
    println!(
        "  regroup from the store, nothing new: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    // The sightings writer keeps a Grouper: after the first grouping it measures only new
    // sightings' distances. Twenty more sightings come (two of the strangers seen again).
    let mut grouper = Grouper::new(settings);
    let start = Instant::now();
    grouper.regroup(&gallery).unwrap();
    println!(
        "  the writer's grouping, first time: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    store(&gallery, &made_up(2, 0));
    let start = Instant::now();
    let changed = grouper.regroup(&gallery).unwrap();
    println!(
        "  the writer's grouping after 20 new sightings: {:.3} s ({changed} sightings changed group)",
        start.elapsed().as_secs_f64()
    );
    let unknown = gallery.unknown_embeddings().unwrap();
    let start = Instant::now();
    let groups = group(&unknown, &settings);
    println!(
        "  grouping alone, in memory: {:.2} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let visitors = gallery.visitors(5).unwrap();
    println!(
        "  listing the {} visitors: {:.0} ms",
        visitors.len(),
        start.elapsed().as_secs_f64() * 1000.0
    );
    report(&faces, &groups, strangers, passers_by);
}

/// Who each sighting is (a stranger's index, or none for a passer-by), and its embedding: the
/// strangers come round `SEEN` times, the passers-by once, between them.
fn made_up(strangers: usize, passers_by: usize) -> Vec<(Option<usize>, Embedding)> {
    let mut vectors = Vectors::default();
    let centres: Vec<Vec<f32>> = (0..strangers).map(|_| vectors.next_vector()).collect();
    let mut faces = Vec::with_capacity(strangers * SEEN + passers_by);
    for round in 0..SEEN {
        for (who, centre) in centres.iter().enumerate() {
            let noise = vectors.next_vector();
            let mut v: Vec<f32> = centre
                .iter()
                .zip(&noise)
                .map(|(c, n)| c + SPREAD * n)
                .collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
            faces.push((Some(who), Embedding(v)));
        }
        for _ in 0..passers_by / SEEN + usize::from(round < passers_by % SEEN) {
            faces.push((None, Embedding(vectors.next_vector())));
        }
    }
    faces
}

/// Stores every face as an unknown sighting, in the writer's batches.
fn store(gallery: &SqliteGallery, faces: &[(Option<usize>, Embedding)]) {
    let t = now();
    for chunk in faces.chunks(256) {
        let records: Vec<SightingRecord> = chunk
            .iter()
            .map(|(_, embedding)| SightingRecord {
                id: None,
                camera: "door".into(),
                track: 1,
                person: None,
                first: t - 10,
                last: t,
                distance: Some(0.9),
                evidence: 8,
                unknown: Some(UnknownFace {
                    crop: None,
                    embedder: EmbedderKind::Dlib.id(),
                    embedding: embedding.clone(),
                }),
            })
            .collect();
        gallery.write_sightings(&records).unwrap();
    }
}

/// Prints the groups' purity and completeness against who each sighting was.
fn report(
    faces: &[(Option<usize>, Embedding)],
    groups: &[Option<VisitorId>],
    strangers: usize,
    passers_by: usize,
) {
    // Sightings come back oldest first, in the order they were stored.
    let mut members: HashMap<i64, HashMap<usize, usize>> = HashMap::new();
    let mut noise_grouped = 0;
    for ((who, _), visitor) in faces.iter().zip(groups) {
        match (who, visitor) {
            (Some(who), Some(v)) => *members.entry(v.0).or_default().entry(*who).or_default() += 1,
            (None, Some(_)) => noise_grouped += 1,
            _ => {}
        }
    }
    let grouped: usize = members.values().flat_map(HashMap::values).sum();
    let majorities: usize = members.values().filter_map(|m| m.values().max()).sum();
    let complete: usize = (0..strangers)
        .map(|who| {
            members
                .values()
                .filter_map(|m| m.get(&who))
                .max()
                .copied()
                .unwrap_or(0)
        })
        .sum();
    println!(
        "  purity {:.1}%, completeness {:.1}%, passers-by grouped {noise_grouped} of {passers_by}",
        100.0 * majorities as f64 / grouped.max(1) as f64,
        100.0 * complete as f64 / (strangers * SEEN) as f64
    );
}
