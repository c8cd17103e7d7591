//! Matching: the nearest enrolled *person* by L2 distance (the distance to that person's closest
//! face), and the margin to the runner-up. Farther than the threshold is unknown.

use std::collections::HashMap;

use ndarray::{Array1, Array2, ArrayView1};
use serde::Serialize;

use crate::base::identity::{DIM, Embedding, Enrolled};

/// Who a face is, as far as the gallery can tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    /// The enrolled person, or `None` for unknown.
    pub name: Option<String>,
    /// Distance to the nearest person's closest face (`None` with an empty gallery).
    pub distance: Option<f32>,
    /// The nearest person even when too far to count, to help set the threshold.
    pub nearest: Option<String>,
    /// How much farther the second-nearest person is (`None` with fewer than two people).
    /// A small margin means the two are hard to tell apart.
    pub margin: Option<f32>,
}

impl Identity {
    /// Nobody, at no known distance.
    pub fn unknown() -> Identity {
        Identity {
            name: None,
            distance: None,
            nearest: None,
            margin: None,
        }
    }

    /// The label a person sees: the name, or "unknown".
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("unknown")
    }
}

/// Enrolled embeddings of one embedder, one row each, in one contiguous matrix.
pub struct Matcher {
    threshold: f32,
    names: Vec<String>,
    /// For each row, its index in `names`.
    person_of_row: Vec<usize>,
    rows: Array2<f32>,
    /// Squared norm of each row, for |a-b|² = |a|² + |b|² - 2a·b.
    row_norms: Array1<f32>,
}

impl Matcher {
    pub fn new(threshold: f32, entries: impl IntoIterator<Item = impl Into<Enrolled>>) -> Matcher {
        let mut names: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut person_of_row = Vec::new();
        let mut vectors = Vec::new();
        for Enrolled { person, embedding } in entries.into_iter().map(Into::into) {
            if embedding.0.len() != DIM {
                tracing::warn!(
                    len = embedding.0.len(),
                    "skipping an enrolled embedding of the wrong length"
                );
                tracing::debug!(%person, "the embedding of the wrong length");
                continue;
            }
            let row_person = *index.entry(person).or_insert_with_key(|name| {
                names.push(name.clone());
                names.len() - 1
            });
            person_of_row.push(row_person);
            vectors.push(embedding);
        }
        let mut rows = Array2::<f32>::zeros((vectors.len(), DIM));
        for (mut row, vector) in rows.rows_mut().into_iter().zip(&vectors) {
            row.assign(&ArrayView1::from(&vector.0[..]));
        }
        let row_norms = rows.rows().into_iter().map(|r| r.dot(&r)).collect();
        Matcher {
            threshold,
            names,
            person_of_row,
            rows,
            row_norms,
        }
    }

    /// Identifies with a new threshold from now on.
    pub fn set_threshold(&mut self, threshold: f32) {
        self.threshold = threshold;
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

    pub fn identify(&self, embedding: &Embedding) -> Identity {
        self.identify_within(embedding, self.threshold)
    }

    /// Identifies with `threshold` instead of the matcher's own, for one question.
    pub fn identify_within(&self, embedding: &Embedding, threshold: f32) -> Identity {
        let query = ArrayView1::from(&embedding.0[..]);
        let dots = self.rows.dot(&query);
        let query_norm = query.dot(&query);
        let mut best = vec![f32::INFINITY; self.names.len()];
        for ((&person, &norm), &dot) in self.person_of_row.iter().zip(&self.row_norms).zip(&dots) {
            let squared = (norm + query_norm - 2.0 * dot).max(0.0);
            if squared < best[person] {
                best[person] = squared;
            }
        }
        // The nearest and the second-nearest person, in one pass.
        let mut first: Option<usize> = None;
        let mut second: Option<usize> = None;
        for (person, &squared) in best.iter().enumerate() {
            if first.is_none_or(|f| squared < best[f]) {
                second = first;
                first = Some(person);
            } else if second.is_none_or(|s| squared < best[s]) {
                second = Some(person);
            }
        }
        let Some(first) = first else {
            return Identity::unknown();
        };
        let distance = best[first].sqrt();
        Identity {
            name: (distance <= threshold).then(|| self.names[first].clone()),
            distance: Some(distance),
            nearest: Some(self.names[first].clone()),
            margin: second.map(|s| best[s].sqrt() - distance),
        }
    }
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
        // bob is sqrt(1.3² + 1) away.
        assert!(close(id.margin, (1.69f32 + 1.0).sqrt() - 0.3));

        let id = matcher.identify(&unit(2, 1.0));
        assert_eq!(id.label(), "unknown");
        assert!(close(id.distance, 2f32.sqrt()));
        assert!(id.nearest.is_some());
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
    fn embeddings_of_the_wrong_length_are_skipped() {
        let matcher = Matcher::new(0.5, [("bad".to_owned(), Embedding(vec![0.0; 3]))]);
        assert!(matcher.is_empty());
    }
}
