//! The matcher's int8 search gives the exhaustive f32 answer within reach, bit for bit, and the
//! same name or unknown always: on a 100,000-face gallery of made-up people (a centre each,
//! faces scattered around it as real embeddings are), for enrolled people, strangers, twins, and
//! queries equally far from two or three people; on galleries built to put faces a hair either
//! side of every threshold and of the reach, with people's own thresholds; on odd values; on
//! faces added one by one; and on the real johns photos.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a panic is how a test fails

mod common;

use std::sync::OnceLock;

use whoisit::base::identity::{DIM, Embedding, Enrolled};
use whoisit::enroll;
use whoisit::vision::matcher::{
    CalibrationConfig, Identity, Matcher, OwnThresholds, REACH, SearchCost,
};
use whoisit::vision::pipeline::EnrollViews;

const THRESHOLD: f32 = 0.55;

/// splitmix64: deterministic, so a failure repeats.
struct Random(u64);

impl Random {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform with mean 0 and variance 1: noise of that shape spreads faces as well as a
    /// normal would, and costs one draw.
    fn noise(&mut self) -> f32 {
        ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 12f32.sqrt()
    }

    fn unit(&mut self) -> Vec<f32> {
        let v: Vec<f32> = (0..DIM).map(|_| self.noise()).collect();
        normalised(&v)
    }

    /// `centre` moved by about `spread` in a random direction, at a length near 1.
    fn near(&mut self, centre: &[f32], spread: f32) -> Vec<f32> {
        let step = spread / (DIM as f32).sqrt();
        let length = 1.0 + 0.02 * self.noise();
        let moved: Vec<f32> = centre.iter().map(|c| c + step * self.noise()).collect();
        normalised(&moved).iter().map(|x| x * length).collect()
    }
}

fn normalised(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter().map(|x| x / norm).collect()
}

fn halfway(a: &[f32], b: &[f32]) -> Vec<f32> {
    a.iter().zip(b).map(|(a, b)| (a + b) / 2.0).collect()
}

/// The point of the plane through `a`, `b` and `c` that is equally far from all three.
fn equidistant(a: &[f32], b: &[f32], c: &[f32]) -> Vec<f32> {
    let from_a =
        |p: &[f32]| -> Vec<f64> { p.iter().zip(a).map(|(p, a)| f64::from(p - a)).collect() };
    let (u, v) = (from_a(b), from_a(c));
    let dot = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(x, y)| x * y).sum::<f64>();
    let (uu, uv, vv) = (dot(&u, &u), dot(&u, &v), dot(&v, &v));
    // (q - a)·u = |u|²/2 and (q - a)·v = |v|²/2, with q - a = x·u + y·v.
    let det = uu * vv - uv * uv;
    let x = (uu * vv - uv * vv) / (2.0 * det);
    let y = (uu * vv - uv * uu) / (2.0 * det);
    (0..DIM)
        .map(|d| (f64::from(a[d]) + x * u[d] + y * v[d]) as f32)
        .collect()
}

/// Asserts that the matcher's answer is the exhaustive one within reach, to the bit; returns
/// its cost.
fn assert_exact(matcher: &Matcher, query: &[f32], what: &str) -> SearchCost {
    let query = Embedding(query.to_vec());
    let (fast, cost) = matcher.identify_with_cost(&query, THRESHOLD);
    let exhaustive = matcher.identify_exhaustive(&query, THRESHOLD);
    assert_same(&fast, &within_reach(exhaustive, THRESHOLD + REACH), what);
    cost
}

fn assert_same(fast: &Identity, exact: &Identity, what: &str) {
    let bits = |id: &Identity| (id.distance.map(f32::to_bits), id.margin.map(f32::to_bits));
    assert_eq!(fast, exact, "{what}");
    assert_eq!(bits(fast), bits(exact), "{what}: {fast:?}");
}

/// The exhaustive answer `id` as the matcher reports it: nobody farther than `reach`.
fn within_reach(id: Identity, reach: f32) -> Identity {
    let Some(distance) = id.distance.filter(|&d| d <= reach) else {
        assert_eq!(id.name, None, "a name beyond reach: {id:?}");
        return Identity::unknown();
    };
    Identity {
        margin: id.margin.filter(|&m| distance + m <= reach),
        ..id
    }
}

/// What a run of queries cost, summed.
#[derive(Default)]
struct Tally {
    queries: usize,
    measured: usize,
    reordered: usize,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} queries: {:.1} rows measured in f32 per query, {} where the f32 measure changed \
             the nearest or the runner-up",
            self.queries,
            self.measured as f64 / self.queries.max(1) as f64,
            self.reordered
        )
    }
}

impl Tally {
    fn add(&mut self, cost: SearchCost) {
        self.queries += 1;
        self.measured += cost.measured;
        self.reordered += usize::from(cost.reordered);
    }
}

/// 100,000 faces, built once for the tests that share it: 19,990 people of 5 faces each, then
/// 10 twins enrolled with exactly the faces of people 0..10, so that twins tie to the bit.
struct Gallery {
    centres: Vec<Vec<f32>>,
    faces: Vec<Vec<f32>>,
    matcher: Matcher,
}

fn gallery() -> &'static Gallery {
    static GALLERY: OnceLock<Gallery> = OnceLock::new();
    GALLERY.get_or_init(|| {
        const PEOPLE: usize = 19_990;
        const FACES: usize = 5;
        let mut random = Random(14);
        let centres: Vec<Vec<f32>> = (0..PEOPLE).map(|_| random.unit()).collect();
        let faces: Vec<Vec<f32>> = centres
            .iter()
            .flat_map(|c| (0..FACES).map(|_| random.near(c, 0.35)).collect::<Vec<_>>())
            .collect();
        let people = faces.iter().enumerate().map(|(i, face)| {
            let person = i / FACES;
            let twin = (person < 10).then(|| (format!("twin of {person}"), face));
            std::iter::once((format!("person {person}"), face)).chain(twin)
        });
        let (mut rows, mut twins): (Vec<_>, Vec<_>) = (Vec::new(), Vec::new());
        for mut person in people {
            rows.extend(person.next());
            twins.extend(person.next());
        }
        let rows = rows.into_iter().chain(twins);
        let matcher = Matcher::new(
            THRESHOLD,
            rows.map(|(name, face)| (name, Embedding(face.clone()))),
        );
        assert_eq!((matcher.len(), matcher.people()), (100_000, 20_000));
        Gallery {
            centres,
            faces,
            matcher,
        }
    })
}

#[test]
fn enrolled_people_and_strangers_among_100k_faces_get_the_exhaustive_answer() {
    let Gallery {
        centres, matcher, ..
    } = gallery();
    let mut random = Random(1);
    let mut tally = Tally::default();
    for i in 0..60 {
        let person = random.below(centres.len());
        let query = random.near(&centres[person], 0.35);
        tally.add(assert_exact(
            matcher,
            &query,
            &format!("person {person}, {i}"),
        ));
    }
    for i in 0..40 {
        let somebody = random.unit();
        let query = random.near(&somebody, 0.2);
        tally.add(assert_exact(matcher, &query, &format!("stranger {i}")));
    }
    println!("{tally}");
    // The int8 scan must have ruled out nearly every row, or it was not tested.
    assert!(
        tally.measured < tally.queries * matcher.len() / 100,
        "{tally}"
    );
}

#[test]
fn a_stranger_costs_no_more_rows_than_an_enrolled_face() {
    let Gallery {
        centres, matcher, ..
    } = gallery();
    let mut random = Random(4);
    let (mut enrolled, mut strangers) = (Tally::default(), Tally::default());
    for i in 0..30 {
        let person = random.below(centres.len());
        let query = random.near(&centres[person], 0.35);
        enrolled.add(assert_exact(matcher, &query, &format!("enrolled {i}")));
        let somebody = random.unit();
        let query = random.near(&somebody, 0.2);
        strangers.add(assert_exact(matcher, &query, &format!("stranger {i}")));
    }
    println!("enrolled: {enrolled}\nstrangers: {strangers}");
    // An enrolled face measures its own person's faces; a stranger, whom nobody is near,
    // measures hardly any: the scan looks only within reach, not for who is least far.
    assert!(strangers.measured <= enrolled.measured, "{strangers}");
    assert!(enrolled.measured <= enrolled.queries * 20, "{enrolled}");
}

/// `query` moved to exactly `distance` from where it is (in f64, then rounded to f32), in a
/// random direction square to it.
fn at_distance(query: &[f32], distance: f64, random: &mut Random) -> Vec<f32> {
    let q: Vec<f64> = query.iter().map(|&x| f64::from(x)).collect();
    let length = q.iter().map(|x| x * x).sum::<f64>().sqrt();
    let mut w: Vec<f64> = (0..DIM).map(|_| f64::from(random.noise())).collect();
    let along = w.iter().zip(&q).map(|(w, q)| w * q).sum::<f64>() / (length * length);
    w.iter_mut().zip(&q).for_each(|(w, q)| *w -= along * q);
    let norm = w.iter().map(|x| x * x).sum::<f64>().sqrt();
    q.iter()
        .zip(&w)
        .map(|(q, w)| (q + distance * w / norm) as f32)
        .collect()
}

#[test]
fn faces_a_hair_either_side_of_every_threshold_and_of_the_reach_get_the_exhaustive_decision() {
    // Each query has a person of its own at a distance a hair off a threshold that decides:
    // the global one, an own threshold tighter or looser (held to 0.60), the reach of either,
    // with a rival a hair farther or nearer, among 20,000 made-up faces.
    const HAIR: f64 = 2e-7;
    let global = f64::from(THRESHOLD);
    let edges = [0.40, 0.45, global, 0.60, global + 0.15, 0.75];
    let mut random = Random(5);
    let crowd: Vec<(String, Embedding)> = (0..20_000)
        .map(|i| {
            let somebody = random.unit();
            let face = random.near(&somebody, 0.35);
            (format!("crowd {}", i / 4), Embedding(face))
        })
        .collect();
    let mut rows = crowd;
    let mut queries = Vec::new();
    let mut own = Vec::new();
    for i in 0..240 {
        let query = random.unit();
        let edge = edges[i % edges.len()] + HAIR * [-1.0, 0.0, 1.0][i / edges.len() % 3];
        let rival = edge + HAIR * [-2.0, 1.0, 3.0][i / 18 % 3];
        let person = format!("person {i}");
        rows.push((
            person.clone(),
            Embedding(at_distance(&query, edge, &mut random)),
        ));
        rows.push((
            format!("rival {i}"),
            Embedding(at_distance(&query, rival, &mut random)),
        ));
        match i % 4 {
            0 => own.push((person, 0.45)),
            1 => own.push((person, 0.9)),
            2 => own.push((format!("rival {i}"), 0.6)),
            _ => {}
        }
        queries.push(query);
    }
    let own: OwnThresholds = own.into_iter().collect();
    let matcher =
        Matcher::new(THRESHOLD, rows).with_own_thresholds(&own, CalibrationConfig::default());
    assert!((matcher.reach() - 0.75).abs() < 1e-6, "{}", matcher.reach());
    let (mut named, mut unknown_within_reach, mut beyond) = (0, 0, 0);
    for (i, query) in queries.iter().enumerate() {
        let embedding = Embedding(query.clone());
        // With everyone's own threshold.
        let exhaustive = matcher.identify_exhaustive(&embedding, f32::INFINITY);
        let nearest = exhaustive.nearest.clone().unwrap();
        let within = exhaustive.distance.unwrap() <= matcher.threshold_of(&nearest);
        let expected = within_reach(
            Identity {
                name: within.then_some(nearest),
                ..exhaustive
            },
            matcher.reach(),
        );
        let id = matcher.identify(&embedding);
        assert_same(&id, &expected, &format!("own thresholds, query {i}"));
        match (&id.name, id.distance) {
            (Some(_), _) => named += 1,
            (None, Some(_)) => unknown_within_reach += 1,
            (None, None) => beyond += 1,
        }
        // With the global threshold for everyone.
        assert_exact(&matcher, query, &format!("global threshold, query {i}"));
    }
    println!("{named} named, {unknown_within_reach} unknown within reach, {beyond} beyond it");
    // Every kind of answer was asked for.
    assert!(named >= 60 && unknown_within_reach >= 60 && beyond >= 10);
}

#[test]
fn negative_examples_a_hair_either_side_of_a_persons_face_get_the_exhaustive_decision() {
    // Each query has a person of its own a hair off the threshold or the reach (or well within
    // it), a rival a little or much farther, and a negative example of the person ("not this
    // person") a hair nearer than, about as near as, or farther than the person's face; every
    // other query an example of the rival as well, a hair either side of the rival's face.
    // Among 20,000 made-up faces.
    const HAIR: f64 = 2e-7;
    let global = f64::from(THRESHOLD);
    let edges = [0.30, 0.45, global, 0.60, global + 0.15];
    let mut random = Random(7);
    let mut rows: Vec<(String, Embedding)> = (0..20_000)
        .map(|i| {
            let somebody = random.unit();
            (
                format!("crowd {}", i / 4),
                Embedding(random.near(&somebody, 0.35)),
            )
        })
        .collect();
    let mut negatives = Vec::new();
    let mut queries = Vec::new();
    for i in 0..300 {
        let query = random.unit();
        let edge = edges[i % edges.len()];
        let rival = edge + [HAIR * 3.0, 0.05, 0.3][i / 5 % 3];
        let (person, rival_name) = (format!("person {i}"), format!("rival {i}"));
        rows.push((
            person.clone(),
            Embedding(at_distance(&query, edge, &mut random)),
        ));
        rows.push((
            rival_name.clone(),
            Embedding(at_distance(&query, rival, &mut random)),
        ));
        let example = edge + HAIR * [-1.0, 0.0, 1.0][i / 15 % 3];
        negatives.push(Enrolled::from((
            person,
            Embedding(at_distance(&query, example, &mut random)),
        )));
        if i % 2 == 0 {
            let example = rival + HAIR * [-1.0, 1.0][i / 45 % 2];
            negatives.push(Enrolled::from((
                rival_name,
                Embedding(at_distance(&query, example, &mut random)),
            )));
        }
        queries.push(query);
    }
    let plain = Matcher::new(THRESHOLD, rows.clone());
    let matcher = Matcher::new(THRESHOLD, rows).with_negatives(negatives);
    assert_eq!(matcher.negatives(), 450);
    let (mut ruled_out, mut kept, mut rival_named) = (0, 0, 0);
    for (i, query) in queries.iter().enumerate() {
        assert_exact(&matcher, query, &format!("query {i}"));
        let embedding = Embedding(query.clone());
        let (before, after) = (plain.identify(&embedding), matcher.identify(&embedding));
        assert_eq!(matcher.identify_within(&embedding, THRESHOLD), after);
        if before.nearest == after.nearest {
            kept += 1;
        } else {
            ruled_out += 1;
            assert_ne!(after.nearest, before.nearest, "query {i}: {after:?}");
            rival_named += usize::from(after.name.as_deref() == Some(&*format!("rival {i}")));
        }
    }
    println!("{ruled_out} ruled out ({rival_named} then named as the rival), {kept} kept");
    // Every kind of decision was asked for.
    assert!(ruled_out >= 60 && kept >= 60 && rival_named >= 20);
}

#[test]
fn faces_added_one_by_one_are_matched_as_if_enrolled_at_once() {
    let mut random = Random(6);
    let rows: Vec<(String, Embedding)> = (0..5_000)
        .map(|i| (format!("p{}", i / 5), Embedding(random.unit())))
        .collect();
    let at_once = Matcher::new(THRESHOLD, rows.clone());
    let mut grown = Matcher::new(THRESHOLD, rows[..1_000].to_vec());
    for row in &rows[1_000..] {
        grown.add(row.clone());
    }
    assert_eq!((grown.len(), grown.people()), (5_000, 1_000));
    for i in 0..200 {
        let query = if i % 2 == 0 {
            let face = random.below(rows.len());
            random.near(&rows[face].1.0, 0.3)
        } else {
            random.unit()
        };
        let embedding = Embedding(query.clone());
        assert_same(
            &grown.identify(&embedding),
            &at_once.identify(&embedding),
            &format!("query {i}"),
        );
        assert_exact(&grown, &query, &format!("grown, query {i}"));
    }
}

#[test]
fn ties_and_near_ties_among_100k_faces_get_the_exhaustive_answer() {
    let Gallery { faces, matcher, .. } = gallery();
    let mut random = Random(2);
    let mut tally = Tally::default();
    for i in 0..10 {
        // An enrolled face itself, at distance 0 from its person and from their twin.
        let face = &faces[random.below(10 * 5)];
        tally.add(assert_exact(matcher, face, &format!("twin's face {i}")));
        let query = random.near(face, 0.1);
        tally.add(assert_exact(matcher, &query, &format!("near a twin {i}")));
    }
    for i in 0..40 {
        // Halfway between faces of two people: both equally near, but for rounding.
        let (a, b) = (random.below(faces.len()), random.below(faces.len()));
        let query = halfway(&faces[a], &faces[b]);
        tally.add(assert_exact(
            matcher,
            &query,
            &format!("between {a} and {b}, {i}"),
        ));
    }
    for i in 0..40 {
        // Equally far from faces of three people: the runner-up ties with a third person, so
        // that ruling out a row that was not surely farther would change the answer.
        let [a, b, c] = [(); 3].map(|()| random.below(faces.len()));
        let query = equidistant(&faces[a], &faces[b], &faces[c]);
        tally.add(assert_exact(
            matcher,
            &query,
            &format!("amid {a}, {b}, {c}: {i}"),
        ));
    }
    println!("{tally}");
    // Only worth something if the int8 distances alone would have been wrong at times.
    assert!(tally.reordered >= 5, "{tally}");
}

#[test]
fn odd_galleries_and_queries_give_the_exhaustive_answer() {
    let mut random = Random(3);
    let mut rows: Vec<(String, Embedding)> = (0..300)
        .map(|i| (format!("p{}", i % 40), Embedding(random.unit())))
        .collect();
    let big: Vec<f32> = random.unit().iter().map(|x| x * 1e19).collect();
    rows.push(("huge".to_owned(), Embedding(big)));
    rows.push(("zero".to_owned(), Embedding(vec![0.0; DIM])));
    let tiny: Vec<f32> = random.unit().iter().map(|x| x * 1e-30).collect();
    rows.push(("tiny".to_owned(), Embedding(tiny)));
    let matcher = Matcher::new(THRESHOLD, rows.clone());
    let mut spiky = vec![0.0; DIM];
    spiky[7] = 1.0;
    for (what, query) in [
        ("zero", vec![0.0; DIM]),
        ("spiky", spiky),
        ("far", random.unit().iter().map(|x| x * 1e3).collect()),
        ("tiny", random.unit().iter().map(|x| x * 1e-30).collect()),
        ("enrolled", rows[5].1.0.clone()),
        ("infinite", vec![f32::INFINITY; DIM]),
        ("nan", vec![f32::NAN; DIM]),
    ] {
        assert_exact(&matcher, &query, what);
    }
    rows.push(("nan".to_owned(), Embedding(vec![f32::NAN; DIM])));
    let matcher = Matcher::new(THRESHOLD, rows);
    assert_exact(&matcher, &random.unit(), "a gallery with a NaN row");
}

/// Every photo of every John embedded once, labelled by person: as the face alone
/// (`enroll_views: One`), since most of them are probes, as a live frame's face is.
fn johns_embeddings() -> Vec<(String, Vec<f32>)> {
    let (mut pipeline, _dir) = common::pipeline();
    let enrollment = enroll::Enrollment {
        views: EnrollViews::One,
        ..common::enrollment()
    };
    let people = enroll::dataset_people(&common::johns()).unwrap();
    let photos = people.into_iter().flat_map(|person| {
        person
            .photos
            .into_iter()
            .map(move |p| (person.name.clone(), p))
    });
    photos
        .map(|(name, path)| {
            let face = enrollment
                .photo(&mut pipeline, &path)
                .unwrap()
                .unwrap_or_else(|r| panic!("{}: {r}", path.display()));
            (name, face.embedding.0)
        })
        .collect()
}

/// Asserts the exact answer for every John, and for a point halfway to another John.
fn assert_johns_exact(matcher: &Matcher, johns: &[(String, Vec<f32>)], tally: &mut Tally) {
    for (i, (name, query)) in johns.iter().enumerate() {
        tally.add(assert_exact(matcher, query, &format!("{name} {i}")));
        let other = &johns[(i + 11) % johns.len()].1;
        let query = halfway(query, other);
        tally.add(assert_exact(
            matcher,
            &query,
            &format!("halfway from {name} {i}"),
        ));
    }
}

#[test]
fn real_faces_give_the_exhaustive_answer() {
    let johns = johns_embeddings();
    assert_eq!(johns.len(), 55);
    // The first three photos of each John are enrolled, the others are probes.
    let enrolled: Vec<(String, Embedding)> = johns
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 11 < 3)
        .map(|(_, (name, e))| (name.clone(), Embedding(e.clone())))
        .collect();
    let mut tally = Tally::default();
    // All five enrolled, then each John in turn a stranger to a gallery of the other four.
    for stranger in std::iter::once("").chain(common::JOHNS) {
        let others = enrolled
            .iter()
            .filter(|(name, _)| name != stranger)
            .cloned();
        assert_johns_exact(&Matcher::new(THRESHOLD, others), &johns, &mut tally);
    }
    // And among a crowd of 5,000 made-up people built from real faces, so with the spread and
    // the skewed components of real embeddings: two faces each, about 0.6 from a John's.
    let mut random = Random(55);
    let crowd = (0..10_000).map(|i| {
        let john = random.below(johns.len());
        let face = random.near(&johns[john].1, 0.6);
        (format!("crowd {}", i / 2), Embedding(face))
    });
    let matcher = Matcher::new(THRESHOLD, enrolled.iter().cloned().chain(crowd));
    assert_johns_exact(&matcher, &johns, &mut tally);
    println!("johns: {tally}");
}

/// A probe (not enrolled) of an enrolled John: its person, distance to that person at the
/// global threshold, and embedding.
struct Probe {
    person: String,
    distance: f32,
    embedding: Embedding,
}

#[test]
fn real_faces_are_named_within_their_persons_own_threshold_held_near_the_global_one() {
    let johns = johns_embeddings();
    let enrolled: Vec<(String, Embedding)> = johns
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 11 < 3)
        .map(|(_, (name, e))| (name.clone(), Embedding(e.clone())))
        .collect();
    let everyone = Matcher::new(THRESHOLD, enrolled.clone());
    let probes: Vec<Probe> = johns
        .iter()
        .enumerate()
        .filter(|(i, _)| i % 11 >= 3)
        .map(|(_, (name, e))| {
            let embedding = Embedding(e.clone());
            let id = everyone.identify(&embedding);
            assert_eq!(id.nearest.as_deref(), Some(name.as_str()));
            Probe {
                person: name.clone(),
                distance: id.distance.unwrap(),
                embedding,
            }
        })
        .collect();
    let bounds = CalibrationConfig::default();
    let own = |person: &str, threshold: f32| -> OwnThresholds {
        std::iter::once((person.to_owned(), threshold)).collect()
    };

    // Tighter: a face named at the global 0.55 from farther than 0.45 is unknown to a person
    // whose own threshold is 0.45; everyone else's answers stay the same.
    let far = probes
        .iter()
        .find(|p| p.distance > 0.45 && p.distance <= THRESHOLD)
        .expect("a probe between 0.45 and 0.55 of its person");
    assert_eq!(
        everyone.identify(&far.embedding).name,
        Some(far.person.clone())
    );
    let tight = Matcher::new(THRESHOLD, enrolled.clone())
        .with_own_thresholds(&own(&far.person, 0.45), bounds);
    assert_eq!(tight.identify(&far.embedding).label(), "unknown");
    for p in probes.iter().filter(|p| p.person != far.person) {
        assert_eq!(
            tight.identify(&p.embedding),
            everyone.identify(&p.embedding)
        );
    }

    // Looser within the bound: at a global 0.40, a face 0.40-0.45 from its person is unknown,
    // and named when that person's own threshold is 0.45 (0.40 + 0.05).
    let near = probes
        .iter()
        .find(|p| p.distance > 0.40 && p.distance <= 0.45)
        .expect("a probe between 0.40 and 0.45 of its person");
    let strict = Matcher::new(0.40, enrolled.clone());
    assert_eq!(strict.identify(&near.embedding).label(), "unknown");
    let loose =
        Matcher::new(0.40, enrolled.clone()).with_own_thresholds(&own(&near.person, 0.45), bounds);
    assert_eq!(
        loose.identify(&near.embedding).name,
        Some(near.person.clone())
    );
    // Never past it: an own 0.9 is held at 0.45, so a face of that person beyond 0.45 stays
    // unknown.
    let held =
        Matcher::new(0.40, enrolled.clone()).with_own_thresholds(&own(&near.person, 0.9), bounds);
    assert!((held.threshold_of(&near.person) - 0.45).abs() < 1e-6);
    for p in probes.iter().filter(|p| p.person == near.person) {
        let named = held.identify(&p.embedding).name.is_some();
        assert_eq!(named, p.distance <= 0.45, "{} at {}", p.person, p.distance);
    }

    // The int8 pre-scan cannot rule out what a looser own threshold accepts: the answer with
    // own thresholds is the exhaustive nearest person, judged by that person's threshold.
    let all_loose: OwnThresholds = common::JOHNS
        .iter()
        .map(|j| ((*j).to_owned(), 0.9))
        .collect();
    let matcher = Matcher::new(0.40, enrolled).with_own_thresholds(&all_loose, bounds);
    for (name, e) in &johns {
        let query = Embedding(e.clone());
        let exhaustive = matcher.identify_exhaustive(&query, f32::INFINITY);
        let nearest = exhaustive.nearest.clone().unwrap();
        let within = exhaustive.distance.unwrap() <= matcher.threshold_of(&nearest);
        let id = matcher.identify(&query);
        assert_eq!(id.name, within.then_some(nearest), "{name}");
        let reached = exhaustive.distance.filter(|&d| d <= matcher.reach());
        assert_eq!(id.distance, reached, "{name}");
    }
}

/// How many of `faces` `matcher` names `name`.
fn named(matcher: &Matcher, faces: &[Embedding], name: &str) -> usize {
    faces
        .iter()
        .filter(|f| matcher.identify(f).name.as_deref() == Some(name))
        .count()
}

/// "Not this person" on the johns: each John in turn is a stranger to a gallery of the other
/// four (three photos each), matched at a threshold set too loose, so that the stranger is
/// named as one of them (a forced confusion). One correction, the stranger's first photo named
/// wrongly kept as a negative example of the person it was named as, and then: how many of the
/// stranger's other photos are still named that person, and whether the person's own other
/// photos (those not enrolled) are still named them. The figure in the closing note:
/// `cargo test --test matching -- johns_not_this_person --nocapture`.
#[test]
fn johns_not_this_person_fixes_a_forced_confusion_with_one_correction() {
    const FORCED: f32 = 0.70;
    let johns = johns_embeddings();
    let (mut confused_before, mut confused_after, mut others) = (0, 0, 0);
    let (mut kept_before, mut kept_after, mut probes) = (0, 0, 0);
    for stranger in common::JOHNS {
        let enrolled = johns
            .iter()
            .enumerate()
            .filter(|(i, (name, _))| i % 11 < 3 && name != stranger)
            .map(|(_, (name, e))| (name.clone(), Embedding(e.clone())));
        let matcher = Matcher::new(FORCED, enrolled);
        let photos: Vec<Embedding> = johns
            .iter()
            .filter(|(name, _)| name == stranger)
            .map(|(_, e)| Embedding(e.clone()))
            .collect();
        let Some((corrected, wrong)) = photos
            .iter()
            .enumerate()
            .find_map(|(i, photo)| Some((i, matcher.identify(photo).name?)))
        else {
            println!("{stranger}: never named at {FORCED}, nothing to correct");
            continue;
        };
        let fixed = matcher
            .clone()
            .with_negatives([Enrolled::from((wrong.clone(), photos[corrected].clone()))]);
        assert_ne!(
            fixed.identify(&photos[corrected]).name.as_deref(),
            Some(wrong.as_str()),
            "the corrected photo itself"
        );
        let mut photos = photos;
        photos.remove(corrected);
        let (before, after) = (
            named(&matcher, &photos, &wrong),
            named(&fixed, &photos, &wrong),
        );
        // The wrongly named person's own photos that were not enrolled.
        let own: Vec<Embedding> = johns
            .iter()
            .enumerate()
            .filter(|(i, (name, _))| i % 11 >= 3 && *name == wrong)
            .map(|(_, (_, e))| Embedding(e.clone()))
            .collect();
        let (right_before, right_after) =
            (named(&matcher, &own, &wrong), named(&fixed, &own, &wrong));
        println!(
            "{stranger} named {wrong} at {FORCED}: {before} of {} other photos before the \
             correction, {after} after; {wrong}'s own {} other photos named {wrong}: \
             {right_before} before, {right_after} after",
            photos.len(),
            own.len()
        );
        (confused_before, confused_after, others) = (
            confused_before + before,
            confused_after + after,
            others + photos.len(),
        );
        (kept_before, kept_after, probes) = (
            kept_before + right_before,
            kept_after + right_after,
            probes + own.len(),
        );
    }
    println!(
        "not this person, johns at {FORCED}: strangers' other photos named wrongly \
         {confused_before} of {others} before one correction each, {confused_after} after; \
         the corrected people's own photos named right {kept_before} of {probes} before, \
         {kept_after} after"
    );
    assert!(confused_before > 0, "the threshold forces no confusion");
    assert!(confused_after < confused_before);
    assert_eq!(
        kept_after, kept_before,
        "a correction costs the person none of their photos"
    );
}
