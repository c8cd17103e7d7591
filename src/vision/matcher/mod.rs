//! Matching: the nearest enrolled *person* by L2 distance (the distance to that person's closest
//! face), and the margin to the runner-up. Farther than the threshold is unknown: the global
//! one, or the nearest person's own (`calibrate --per-person`), kept within bounds of the global.
//!
//! A person's negative examples ("not this person", a correction) rule them out: a face
//! nearer to one of them than to that person's own closest face is never named them; the
//! runner-up is then judged as if the person were not enrolled (under the same rule), and if
//! they are ruled out too the face is unknown. Only the two nearest people are weighed, so a
//! third is never named in their place: a face that near two people is better unknown.
//!
//! The search is exact within reach ([`REACH`] beyond the widest threshold in force): whoever is
//! that near is found and measured in f32, to the bit of an exhaustive scan, and nobody farther
//! is looked for. So a stranger, whose nearest face is far, costs what an enrolled face costs,
//! instead of a hunt through the whole gallery for who happens to be least far.

use std::collections::HashMap;

use ndarray::ArrayView1;
use serde::{Deserialize, Serialize};

use crate::base::identity::{DIM, Embedding, Enrolled, PersonId};

use quantised::QuantisedRows;

mod quantised;

/// The largest distance there is between two embeddings (unit vectors): a threshold above it
/// would name every stranger.
pub const MAX_THRESHOLD: f32 = 2.0;

/// How far beyond the widest threshold in force the matcher still reports who is nearest and
/// how far: a face that near is measured exactly (for the tracker's margin around the threshold,
/// 0.05 by default, and for a look at who nearly matched); a face farther from everybody is
/// unknown with no nearest person and no distance.
pub const REACH: f32 = 0.15;

/// Why a threshold cannot be used ("must be ..."), or `None` if it can: the one rule for the
/// config file, the settings file, the command line and a person's own threshold, which each
/// say where it came from.
pub fn threshold_problem(threshold: f32) -> Option<String> {
    (!(threshold.is_finite() && threshold > 0.0 && threshold <= MAX_THRESHOLD))
        .then(|| out_of_bounds(threshold))
}

/// The threshold a number sent as a decimal (JSON, a query string) is matched with, or why it
/// cannot be one. The bounds are checked on the number sent, so that one above the largest is
/// refused even where it rounds to it; a positive one too small for an f32 stays positive (it
/// names nobody either way) instead of being refused as 0.
pub fn threshold_from(sent: f64) -> Result<f32, String> {
    if !(sent.is_finite() && sent > 0.0 && sent <= f64::from(MAX_THRESHOLD)) {
        return Err(out_of_bounds(sent));
    }
    Ok((sent as f32).max(f32::MIN_POSITIVE))
}

fn out_of_bounds(threshold: impl std::fmt::Display) -> String {
    format!(
        "must be a positive number of at most {MAX_THRESHOLD} (the largest distance between two \
         faces' embeddings; 0.55 is the default), not {threshold}"
    )
}

/// How far a person's own threshold may stray from the global one (config `calibration`). The
/// matcher keeps every own threshold within these bounds of the global threshold in force, so
/// that moving the global threshold moves everyone, and no person is ever much looser than
/// the rest, whatever was stored.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CalibrationConfig {
    /// At most this much above the global threshold (L2 distance).
    pub per_person_max_loosen: f32,
    /// At most this much below the global threshold (L2 distance).
    pub per_person_max_tighten: f32,
}

impl Default for CalibrationConfig {
    fn default() -> Self {
        CalibrationConfig {
            per_person_max_loosen: 0.05,
            per_person_max_tighten: 0.15,
        }
    }
}

impl CalibrationConfig {
    /// Why these bounds cannot be used, if they cannot.
    pub fn problem(&self) -> Option<String> {
        let bad = |x: f32| !(x.is_finite() && (0.0..=MAX_THRESHOLD).contains(&x));
        if bad(self.per_person_max_loosen) {
            Some(format!(
                "calibration.per_person_max_loosen must be a distance from 0 to {MAX_THRESHOLD}, not {}",
                self.per_person_max_loosen
            ))
        } else if bad(self.per_person_max_tighten) {
            Some(format!(
                "calibration.per_person_max_tighten must be a distance from 0 to {MAX_THRESHOLD}, not {}",
                self.per_person_max_tighten
            ))
        } else {
            None
        }
    }

    /// `own` brought within the bounds around `global`.
    pub fn bound(&self, own: f32, global: f32) -> f32 {
        own.min(global + self.per_person_max_loosen)
            .max(global - self.per_person_max_tighten)
    }
}

/// People's own thresholds, by name; everyone else is matched with the global one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OwnThresholds(HashMap<String, f32>);

impl OwnThresholds {
    pub fn get(&self, name: &str) -> Option<f32> {
        self.0.get(name).copied()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(String, f32)> for OwnThresholds {
    fn from_iter<I: IntoIterator<Item = (String, f32)>>(iter: I) -> Self {
        OwnThresholds(iter.into_iter().collect())
    }
}

/// Who a face is, as far as the gallery can tell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The enrolled person, or `None` for unknown.
    pub name: Option<String>,
    /// Their id in the gallery, when named by a gallery's roster (people enrolled in memory
    /// from labelled photos have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_id: Option<PersonId>,
    /// Distance to the nearest person's closest face (`None` when nobody is within reach:
    /// [`REACH`] beyond the widest threshold).
    pub distance: Option<f32>,
    /// The nearest person even when too far to count, if within reach, to help set the
    /// threshold.
    pub nearest: Option<String>,
    /// How much farther the second-nearest person is (`None` unless two people are within
    /// reach). A small margin means the two are hard to tell apart.
    pub margin: Option<f32>,
}

impl Identity {
    /// Nobody, at no known distance.
    pub fn unknown() -> Identity {
        Identity {
            name: None,
            person_id: None,
            distance: None,
            nearest: None,
            margin: None,
        }
    }

    /// The label a person sees: the name, or "unknown".
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("unknown")
    }

    /// The tag drawn over a face's box, in the window and in the console's live video alike:
    /// the name or "? unknown" (told apart in text, not by colour alone), and the distance.
    pub fn tag(&self) -> String {
        let distance = self
            .distance
            .map(|d| format!("  {d:.2}"))
            .unwrap_or_default();
        match &self.name {
            Some(name) => format!("{name}{distance}"),
            None => format!("? unknown{distance}"),
        }
    }

    /// The colour of a face's box (RGB): green for a person, orange for unknown.
    pub fn colour(&self) -> [u8; 3] {
        if self.name.is_some() {
            KNOWN_RGB
        } else {
            UNKNOWN_RGB
        }
    }
}

/// The box colour of an enrolled person's face (RGB).
pub const KNOWN_RGB: [u8; 3] = [46, 204, 113];
/// The box colour of a face nobody enrolled (RGB).
pub const UNKNOWN_RGB: [u8; 3] = [230, 126, 34];

/// Enrolled embeddings of one embedder, one row each, in one contiguous matrix, and an int8
/// copy that finds the few rows worth measuring exactly.
#[derive(Clone)]
pub struct Matcher {
    threshold: f32,
    names: Vec<String>,
    /// Each name's index in `names`.
    index: HashMap<String, usize>,
    /// Each person's gallery id, if they have one, by index in `names`.
    ids: Vec<Option<PersonId>>,
    /// Each person's own threshold, if they have one, by index in `names`.
    own: Vec<Option<f32>>,
    /// Each person's negative examples ("not this person") with their squared norms, by
    /// index in `names`: few, measured in f32 only for the person about to be named.
    negatives: Vec<Vec<([f32; DIM], f32)>>,
    /// The loosest of them.
    loosest_own: Option<f32>,
    bounds: CalibrationConfig,
    /// For each row, its index in `names`.
    person_of_row: Vec<usize>,
    rows: Vec<[f32; DIM]>,
    /// Squared norm of each row, for |a-b|² = |a|² + |b|² - 2a·b.
    row_norms: Vec<f32>,
    quantised: QuantisedRows,
}

/// What one search had to do beyond the int8 scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchCost {
    /// Rows measured in f32: those the int8 scan could not rule out, or every row when the
    /// search was exhaustive.
    pub measured: usize,
    /// Whether the int8 distances of those rows alone would have named another nearest person
    /// or runner-up than the f32 ones did.
    pub reordered: bool,
}

/// The nearest person and the runner-up (index and squared distance).
type NearestTwo = ((usize, f32), Option<(usize, f32)>);

/// Which threshold names the nearest person.
#[derive(Debug, Clone, Copy)]
enum Within {
    /// Their own, bounded around this global threshold, or this global one.
    Own(f32),
    /// This one, for everyone.
    All(f32),
}

impl Matcher {
    pub fn new(threshold: f32, entries: impl IntoIterator<Item = impl Into<Enrolled>>) -> Matcher {
        let mut matcher = Matcher {
            threshold,
            names: Vec::new(),
            index: HashMap::new(),
            ids: Vec::new(),
            own: Vec::new(),
            negatives: Vec::new(),
            loosest_own: None,
            bounds: CalibrationConfig::default(),
            person_of_row: Vec::new(),
            rows: Vec::new(),
            row_norms: Vec::new(),
            quantised: QuantisedRows::new(std::iter::empty::<(&[f32; DIM], f32)>()),
        };
        let entries = entries.into_iter();
        matcher.rows.reserve(entries.size_hint().0);
        matcher.person_of_row.reserve(entries.size_hint().0);
        for entry in entries {
            matcher.push(entry.into());
        }
        matcher.row_norms = matcher.rows.iter().map(|r| dot(r, r)).collect();
        matcher.quantised =
            QuantisedRows::new(matcher.rows.iter().zip(matcher.row_norms.iter().copied()));
        matcher
    }

    /// One more enrolled face, matched from the next question on, without building the rest
    /// again (a new person has no own threshold). The int8 copy keeps the order of dims chosen
    /// when the matcher was built: the answers stay exact however many faces are added, and
    /// only the scan's pruning can drift from the best for the gallery as it grows.
    pub fn add(&mut self, entry: impl Into<Enrolled>) {
        if let Some(row) = self.push(entry.into()) {
            let norm = dot(&row, &row);
            self.row_norms.push(norm);
            self.quantised.push(&row, norm);
        }
    }

    /// Records an entry's person and row; the row, or `None` for an embedding of the wrong
    /// length, which is skipped.
    fn push(&mut self, entry: Enrolled) -> Option<[f32; DIM]> {
        let Enrolled {
            person,
            id,
            embedding,
        } = entry;
        let Ok(vector) = <[f32; DIM]>::try_from(embedding.0.as_slice()) else {
            tracing::warn!(
                len = embedding.0.len(),
                "skipping an enrolled embedding of the wrong length"
            );
            tracing::debug!(%person, "the embedding of the wrong length");
            return None;
        };
        let (names, ids, own, negatives) = (
            &mut self.names,
            &mut self.ids,
            &mut self.own,
            &mut self.negatives,
        );
        let row_person = *self.index.entry(person).or_insert_with_key(|name| {
            names.push(name.clone());
            ids.push(id);
            own.push(None);
            negatives.push(Vec::new());
            names.len() - 1
        });
        self.person_of_row.push(row_person);
        self.rows.push(vector);
        Some(vector)
    }

    /// Matches these people with their own thresholds, within `bounds` of the global one;
    /// names without enrolled faces are ignored.
    pub fn with_own_thresholds(
        mut self,
        own: &OwnThresholds,
        bounds: CalibrationConfig,
    ) -> Matcher {
        self.own = self.names.iter().map(|name| own.get(name)).collect();
        self.loosest_own = self.own.iter().flatten().copied().reduce(f32::max);
        self.bounds = bounds;
        self
    }

    /// Matches with these negative examples ("not this person"), each ruling its person out of
    /// the faces nearer to it than to that person's own; examples of people with no enrolled
    /// face, or of the wrong length, are ignored.
    pub fn with_negatives(mut self, examples: impl IntoIterator<Item = Enrolled>) -> Matcher {
        for example in examples {
            let Some(&person) = self.index.get(&example.person) else {
                continue;
            };
            let Ok(row) = <[f32; DIM]>::try_from(example.embedding.0.as_slice()) else {
                tracing::warn!(
                    len = example.embedding.0.len(),
                    "skipping a negative example of the wrong length"
                );
                continue;
            };
            self.negatives[person].push((row, dot(&row, &row)));
        }
        self
    }

    /// Negative examples matched with.
    pub fn negatives(&self) -> usize {
        self.negatives.iter().map(Vec::len).sum()
    }

    /// Identifies with a new global threshold from now on; own thresholds stay within their
    /// bounds of it.
    pub fn set_threshold(&mut self, threshold: f32) {
        self.threshold = threshold;
    }

    /// The global threshold.
    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The threshold [`Matcher::identify`] names `name` within: their own, held within the
    /// bounds, else the global one (also for a name not enrolled).
    pub fn threshold_of(&self, name: &str) -> f32 {
        self.index
            .get(name)
            .map_or(self.threshold, |&person| self.threshold_of_person(person))
    }

    /// How far [`Matcher::identify`] reports the nearest person and their distance: [`REACH`]
    /// beyond the widest threshold in force (the global one, or a looser own one within its
    /// bounds). [`Matcher::identify_within`] reaches `REACH` beyond its threshold.
    pub fn reach(&self) -> f32 {
        self.reach_of(Within::Own(self.threshold))
    }

    fn reach_of(&self, within: Within) -> f32 {
        let widest = match within {
            Within::Own(global) => self
                .loosest_own
                .map_or(global, |own| global.max(self.bounds.bound(own, global))),
            Within::All(threshold) => threshold,
        };
        widest + REACH
    }

    /// The strictest threshold [`Matcher::identify`] names anyone within: the global one, or a
    /// stricter own threshold of someone enrolled. A threshold for everyone up to this loosens
    /// nobody's.
    pub fn strictest_threshold(&self) -> f32 {
        (0..self.names.len())
            .map(|person| self.threshold_of_person(person))
            .fold(self.threshold, f32::min)
    }

    fn threshold_of_person(&self, person: usize) -> f32 {
        self.threshold_of_person_at(person, self.threshold)
    }

    /// The threshold `person` is named within were the global one `global`.
    fn threshold_of_person_at(&self, person: usize, global: f32) -> f32 {
        match self.own.get(person).copied().flatten() {
            Some(own) => self.bounds.bound(own, global),
            None => global,
        }
    }

    /// Enrolled faces.
    pub fn len(&self) -> usize {
        self.person_of_row.len()
    }

    pub fn is_empty(&self) -> bool {
        self.person_of_row.is_empty()
    }

    /// Enrolled people.
    pub fn people(&self) -> usize {
        self.names.len()
    }

    /// The nearest person, named when within their own threshold if they have one, else the
    /// global one. Whether a farther person's threshold would accept the face does not matter:
    /// a looser threshold never reaches past the nearest person.
    pub fn identify(&self, embedding: &Embedding) -> Identity {
        self.identify_at(embedding, self.threshold)
    }

    /// What [`Matcher::identify`] would answer after [`Matcher::set_threshold`]`(global)`:
    /// own thresholds held within their bounds of `global`, negative examples as ever. For a
    /// preview of another global threshold on the roster in use.
    pub fn identify_at(&self, embedding: &Embedding, global: f32) -> Identity {
        let within = Within::Own(global);
        let reach = self.reach_of(within);
        let (nearest, _) = self.search(embedding, reach);
        self.name(self.corrected(nearest, embedding), within, reach)
    }

    /// Identifies with `threshold` for everyone instead of the matcher's thresholds (global and
    /// own), for one question. A query of another length than the rows' is nobody.
    pub fn identify_within(&self, embedding: &Embedding, threshold: f32) -> Identity {
        self.identify_with_cost(embedding, threshold).0
    }

    /// [`Matcher::identify_within`], and what the search cost: for benchmarks and tests.
    ///
    /// The answer is the exhaustive one ([`Matcher::identify_exhaustive`]) within reach, bit
    /// for bit: the same name or unknown always, the same nearest person and distance when
    /// within reach, the same margin when the runner-up is. Only rows the int8 scan proves
    /// farther than two people, or than the reach, are left unmeasured.
    pub fn identify_with_cost(
        &self,
        embedding: &Embedding,
        threshold: f32,
    ) -> (Identity, SearchCost) {
        let within = Within::All(threshold);
        let reach = self.reach_of(within);
        let (nearest, cost) = self.search(embedding, reach);
        (
            self.name(self.corrected(nearest, embedding), within, reach),
            cost,
        )
    }

    /// The nearest person and the runner-up, exactly, if within `reach`: the int8 scan only
    /// leaves out rows proved farther than two people or than `reach`.
    fn search(&self, embedding: &Embedding, reach: f32) -> (Option<NearestTwo>, SearchCost) {
        let query = <&[f32; DIM]>::try_from(embedding.0.as_slice()).ok();
        let query_norm = query.map_or(0.0, |query| dot(query, query));
        // A row whose f32 distance rounds to `reach` may have a squared one a hair above
        // `reach²`: such a row is kept, and judged by its distance.
        let reach_squared = reach * reach * (1.0 + 1e-5);
        let scan = query.and_then(|query| {
            let candidates =
                self.quantised
                    .candidates(query, query_norm, &self.person_of_row, reach_squared)?;
            Some((query, candidates))
        });
        let Some((query, candidates)) = scan else {
            let cost = SearchCost {
                measured: self.len(),
                reordered: false,
            };
            return (self.nearest_exhaustive(embedding), cost);
        };
        let exact = candidates.iter().map(|c| {
            let dot = dot(&self.rows[c.row], query);
            (
                c.row,
                squared_distance(self.row_norms[c.row], query_norm, dot),
            )
        });
        let nearest = self.nearest_two(exact);
        let approximate = self.nearest_two(candidates.iter().map(|c| (c.row, c.approximate)));
        let people =
            |n: Option<NearestTwo>| n.map(|((first, _), second)| (first, second.map(|s| s.0)));
        let cost = SearchCost {
            measured: candidates.len(),
            reordered: people(nearest) != people(approximate),
        };
        (nearest, cost)
    }

    /// The reference answer: every row measured in f32, and the nearest person and runner-up
    /// reported however far. Slower than [`Matcher::identify_within`] on large galleries, and
    /// never different within reach.
    pub fn identify_exhaustive(&self, embedding: &Embedding, threshold: f32) -> Identity {
        self.name(
            self.corrected(self.nearest_exhaustive(embedding), embedding),
            Within::All(threshold),
            f32::INFINITY,
        )
    }

    fn nearest_exhaustive(&self, embedding: &Embedding) -> Option<NearestTwo> {
        let query = <&[f32; DIM]>::try_from(embedding.0.as_slice()).ok()?;
        let query_norm = dot(query, query);
        let squared = self
            .rows
            .iter()
            .zip(&self.row_norms)
            .map(|(row, &norm)| squared_distance(norm, query_norm, dot(row, query)));
        self.nearest_two(squared.enumerate())
    }

    /// The nearest person and the runner-up from `(row, squared distance)`: each person is as
    /// near as their closest row, and of two people equally near, the one enrolled first is
    /// nearer, whatever the order of the rows.
    fn nearest_two(&self, rows: impl Iterator<Item = (usize, f32)>) -> Option<NearestTwo> {
        let mut best: Vec<Option<f32>> = vec![None; self.names.len()];
        let mut people = Vec::new();
        for (row, squared) in rows {
            let person = self.person_of_row[row];
            match &mut best[person] {
                Some(nearest) if squared < *nearest => *nearest = squared,
                Some(_) => {}
                slot @ None => {
                    people.push(person);
                    *slot = Some(squared);
                }
            }
        }
        let nearer = |a: (usize, f32), b: (usize, f32)| a.1 < b.1 || (a.1 == b.1 && a.0 < b.0);
        let mut first: Option<(usize, f32)> = None;
        let mut second: Option<(usize, f32)> = None;
        for person in people {
            let this = (person, best[person].unwrap_or(f32::INFINITY));
            if first.is_none_or(|f| nearer(this, f)) {
                second = first;
                first = Some(this);
            } else if second.is_none_or(|s| nearer(this, s)) {
                second = Some(this);
            }
        }
        first.map(|first| (first, second))
    }

    /// `nearest` without the people their negative examples rule out: the nearest, when one
    /// of their examples is nearer to the face than their closest face, gives way to the
    /// runner-up, who is judged the same way; nobody is left when both are ruled out. Every
    /// distance compared is the exact f32 one (the people's from the search, the examples'
    /// measured here with the same dot product), so the int8 search and the exhaustive scan
    /// rule out the same people.
    fn corrected(&self, nearest: Option<NearestTwo>, embedding: &Embedding) -> Option<NearestTwo> {
        let ((first, squared), second) = nearest?;
        let Some(query) = <&[f32; DIM]>::try_from(embedding.0.as_slice()).ok() else {
            return nearest;
        };
        let query_norm = dot(query, query);
        let ruled_out = |person: usize, squared: f32| {
            self.negatives[person].iter().any(|(example, norm)| {
                squared_distance(*norm, query_norm, dot(example, query)) < squared
            })
        };
        if !ruled_out(first, squared) {
            return nearest;
        }
        let (second, squared) = second?;
        (!ruled_out(second, squared)).then_some(((second, squared), None))
    }

    /// The identity `nearest` gives, judged `within` the thresholds, with who is not within
    /// `reach` left out: the search did not look for them.
    fn name(&self, nearest: Option<NearestTwo>, within: Within, reach: f32) -> Identity {
        let Some(((first, squared), second)) = nearest else {
            return Identity::unknown();
        };
        let distance = squared.sqrt();
        // A NaN distance (a query that is not finite) is within no reach.
        let within_reach = distance <= reach;
        if !within_reach {
            return Identity::unknown();
        }
        let threshold = match within {
            Within::Own(global) => self.threshold_of_person_at(first, global),
            Within::All(threshold) => threshold,
        };
        let named = distance <= threshold;
        Identity {
            name: named.then(|| self.names[first].clone()),
            person_id: self.ids[first].filter(|_| named),
            distance: Some(distance),
            nearest: Some(self.names[first].clone()),
            margin: second
                .map(|(_, s)| s.sqrt())
                .filter(|&s| s <= reach)
                .map(|s| s - distance),
        }
    }
}

/// The f32 dot product every exact distance is made of (ndarray's, eight partial sums that
/// vectorise), so that a row measured alone gives the bits it gives in a full scan.
fn dot(a: &[f32; DIM], b: &[f32; DIM]) -> f32 {
    ArrayView1::from(&a[..]).dot(&ArrayView1::from(&b[..]))
}

/// The squared distance from a row's dot product with the query; rounding may leave a hair
/// below zero.
fn squared_distance(row_norm: f32, query_norm: f32, dot: f32) -> f32 {
    (row_norm + query_norm - 2.0 * dot).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(axis: usize, scale: f32) -> Embedding {
        let mut v = vec![0.0; DIM];
        v[axis] = scale;
        Embedding(v)
    }

    fn close(a: Option<f32>, b: f32) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-5)
    }

    #[test]
    fn nearest_within_threshold_is_named_and_farther_is_unknown() {
        let matcher = Matcher::new(
            0.55,
            [
                ("ann".to_owned(), unit(0, 1.0)),
                ("bob".to_owned(), unit(1, 1.0)),
            ],
        );
        let id = matcher.identify(&unit(0, 1.3));
        assert_eq!(id.name.as_deref(), Some("ann"));
        assert!(close(id.distance, 0.3));
        // bob is sqrt(1.3² + 1) away, beyond reach: no runner-up to measure a margin to.
        assert_eq!(id.margin, None);
        assert!(close(
            matcher.identify_exhaustive(&unit(0, 1.3), 0.55).margin,
            (1.69f32 + 1.0).sqrt() - 0.3
        ));

        // Past the threshold, within reach: who is nearest, and how far.
        let id = matcher.identify(&unit(0, 1.6));
        assert_eq!(id.label(), "unknown");
        assert!(close(id.distance, 0.6));
        assert_eq!(id.nearest.as_deref(), Some("ann"));

        // Beyond reach, nobody.
        let id = matcher.identify(&unit(2, 1.0));
        assert_eq!(id, Identity::unknown());
        assert_eq!(
            matcher.identify_exhaustive(&unit(2, 1.0), 0.55).distance,
            Some(2f32.sqrt())
        );
    }

    #[test]
    fn a_person_is_as_near_as_their_closest_face() {
        let matcher = Matcher::new(
            0.55,
            [
                ("ann".to_owned(), unit(0, 1.0)),
                ("bob".to_owned(), unit(1, 1.0)),
                ("ann".to_owned(), unit(1, 1.2)),
            ],
        );
        assert_eq!((matcher.len(), matcher.people()), (3, 2));
        let id = matcher.identify(&unit(1, 1.15));
        assert_eq!(id.name.as_deref(), Some("ann"));
        assert!(close(id.distance, 0.05));
        assert!(close(id.margin, 0.1));
    }

    #[test]
    fn the_threshold_is_inclusive_and_an_empty_gallery_knows_nobody() {
        let matcher = Matcher::new(0.5, [("ann".to_owned(), unit(0, 1.0))]);
        assert_eq!(matcher.identify(&unit(0, 1.5)).label(), "ann");
        assert_eq!(matcher.identify(&unit(0, 1.51)).label(), "unknown");
        assert_eq!(matcher.identify(&unit(0, 1.0)).margin, None);
        let empty = Matcher::new(0.5, Vec::<Enrolled>::new());
        assert_eq!(empty.identify(&unit(0, 1.0)), Identity::unknown());
    }

    #[test]
    fn embeddings_of_the_wrong_length_are_skipped_and_such_a_query_is_nobody() {
        let matcher = Matcher::new(0.5, [("bad".to_owned(), Embedding(vec![0.0; 3]))]);
        assert!(matcher.is_empty());
        let matcher = Matcher::new(0.5, [("ann".to_owned(), unit(0, 1.0))]);
        let query = Embedding(vec![1.0; 3]);
        assert_eq!(matcher.identify(&query), Identity::unknown());
    }

    #[test]
    fn of_people_equally_near_the_one_enrolled_first_is_nearer() {
        let matcher = Matcher::new(
            0.5,
            [
                ("bob".to_owned(), unit(1, 1.0)),
                ("ann".to_owned(), unit(0, 1.0)),
                ("cy".to_owned(), unit(0, 1.0)),
                ("bob".to_owned(), unit(0, 1.0)),
            ],
        );
        let id = matcher.identify(&unit(0, 1.0));
        assert_eq!((id.label(), id.margin), ("bob", Some(0.0)));
        let id = matcher.identify(&unit(0, 1.1));
        assert_eq!((id.label(), id.margin), ("bob", Some(0.0)));
    }

    #[test]
    fn the_nearest_person_is_named_within_their_own_threshold_kept_near_the_global_one() {
        let own: OwnThresholds = [("ann".to_owned(), 0.45), ("bob".to_owned(), 0.9)]
            .into_iter()
            .collect();
        let bounds = CalibrationConfig::default();
        let mut matcher = Matcher::new(
            0.55,
            [
                ("ann".to_owned(), unit(0, 1.0)),
                ("bob".to_owned(), unit(1, 1.0)),
                ("cy".to_owned(), unit(2, 1.0)),
            ],
        )
        .with_own_thresholds(&own, bounds);
        // ann's own 0.45 is tighter than the global 0.55.
        assert_eq!(matcher.identify(&unit(0, 1.5)).label(), "unknown");
        assert_eq!(matcher.identify(&unit(0, 1.44)).label(), "ann");
        // bob's own 0.9 is held to the global plus 0.05.
        assert!(close(Some(matcher.threshold_of("bob")), 0.6));
        assert_eq!(matcher.identify(&unit(1, 1.58)).label(), "bob");
        assert_eq!(matcher.identify(&unit(1, 1.62)).label(), "unknown");
        // cy has none: the global one.
        assert_eq!(matcher.identify(&unit(2, 1.56)).label(), "unknown");
        // An explicit threshold is everyone's.
        assert_eq!(matcher.identify_within(&unit(0, 1.5), 0.55).label(), "ann");
        // Moving the global threshold moves the bounds: ann's 0.45 is now held to 0.30 + 0.05.
        matcher.set_threshold(0.3);
        assert!(close(Some(matcher.threshold_of("ann")), 0.35));
        assert!(close(Some(matcher.threshold_of("nobody")), 0.3));
    }

    #[test]
    fn a_threshold_sent_as_a_decimal_is_bounded_as_sent() {
        assert_eq!(threshold_from(0.5), Ok(0.5));
        assert_eq!(threshold_from(2.0), Ok(2.0));
        assert_eq!(threshold_from(5e-324), Ok(f32::MIN_POSITIVE));
        for bad in [0.0, -0.1, 2.000_000_000_000_000_4, f64::NAN, f64::INFINITY] {
            let problem = threshold_from(bad).unwrap_err();
            assert!(
                problem.starts_with("must be a positive number"),
                "{bad}: {problem}"
            );
        }
    }

    #[test]
    fn identifying_at_another_global_threshold_answers_as_after_setting_it() {
        let own: OwnThresholds = [("ann".to_owned(), 0.45)].into_iter().collect();
        let matcher = Matcher::new(
            0.55,
            [
                ("ann".to_owned(), unit(0, 1.0)),
                ("bob".to_owned(), unit(1, 1.0)),
            ],
        )
        .with_own_thresholds(&own, CalibrationConfig::default())
        .with_negatives([Enrolled::from(("bob".to_owned(), unit(1, 1.3)))]);
        let queries = [
            unit(0, 1.3),
            unit(0, 1.42),
            unit(1, 1.4),
            unit(1, 1.5),
            unit(1, 1.25),
            unit(2, 1.0),
        ];
        for global in [0.3, 0.4, 0.5, 0.7] {
            let mut set = matcher.clone();
            set.set_threshold(global);
            for query in &queries {
                assert_eq!(
                    matcher.identify_at(query, global),
                    set.identify(query),
                    "at {global}"
                );
            }
        }
        // ann's own 0.45 moves with the global threshold: held to 0.35 + 0.05 at 0.35.
        assert_eq!(matcher.identify_at(&unit(0, 1.38), 0.35).label(), "ann");
        assert_eq!(matcher.identify_at(&unit(0, 1.38), 0.3).label(), "unknown");
        // bob's negative example rules him out at any threshold.
        assert_eq!(matcher.identify_at(&unit(1, 1.28), 0.7).label(), "unknown");
    }

    #[test]
    fn a_negative_example_nearer_than_the_persons_faces_rules_them_out() {
        let matcher = Matcher::new(
            0.55,
            [
                ("ann".to_owned(), unit(0, 1.0)),
                ("bob".to_owned(), unit(0, 1.6)),
                ("cy".to_owned(), unit(1, 1.0)),
            ],
        )
        .with_negatives([
            Enrolled::from(("ann".to_owned(), unit(0, 1.3))),
            Enrolled::from(("nobody".to_owned(), unit(1, 1.0))),
        ]);
        assert_eq!(
            matcher.negatives(),
            1,
            "an example of nobody enrolled is ignored"
        );
        // Nearer to ann's face than to her negative example: still ann.
        assert_eq!(matcher.identify(&unit(0, 1.1)).label(), "ann");
        // Nearer to the example: not ann; bob, the runner-up, is within the threshold.
        let id = matcher.identify(&unit(0, 1.25));
        assert_eq!((id.label(), id.margin), ("bob", None));
        assert!(close(id.distance, 0.35));
        assert_eq!(
            matcher.identify_exhaustive(&unit(0, 1.25), 0.55).label(),
            "bob"
        );
        // A tie keeps ann: only a nearer example rules her out (these distances are exact).
        let tie = Matcher::new(0.55, [("ann".to_owned(), unit(0, 1.0))])
            .with_negatives([Enrolled::from(("ann".to_owned(), unit(0, 1.5)))]);
        assert_eq!(tie.identify(&unit(0, 1.25)).label(), "ann");
        // Bob ruled out as well: unknown, however near cy's threshold might be.
        let both = matcher
            .clone()
            .with_negatives([Enrolled::from(("bob".to_owned(), unit(0, 1.25)))]);
        assert_eq!(both.identify(&unit(0, 1.26)), Identity::unknown());
        // Other faces are untouched.
        assert_eq!(both.identify(&unit(1, 1.1)).label(), "cy");
    }
}
