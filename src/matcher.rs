//! Matching: the nearest enrolled face by L2 distance; farther than the threshold is unknown.

use ndarray::{Array2, Axis};
use serde::Serialize;

use crate::embed::{DIM, Embedding};

/// Who a face is, as far as the gallery can tell.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    /// The enrolled person, or `None` for unknown.
    pub name: Option<String>,
    /// Distance to the nearest enrolled face (`None` with an empty gallery).
    pub distance: Option<f32>,
    /// The nearest enrolled person even when too far to count, to help set the threshold.
    pub nearest: Option<String>,
}

impl Identity {
    /// The label a person sees: the name, or "unknown".
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("unknown")
    }
}

/// Enrolled embeddings of one embedder, one row each, in one contiguous matrix.
pub struct Matcher {
    threshold: f32,
    names: Vec<String>,
    rows: Array2<f32>,
}

impl Matcher {
    pub fn new(threshold: f32, entries: impl IntoIterator<Item = (String, Embedding)>) -> Matcher {
        let mut names = Vec::new();
        let mut flat = Vec::new();
        for (name, embedding) in entries {
            if embedding.0.len() != DIM {
                tracing::warn!(%name, len = embedding.0.len(), "skipping an enrolled embedding of the wrong length");
                continue;
            }
            names.push(name);
            flat.extend_from_slice(&embedding.0);
        }
        let rows =
            Array2::from_shape_vec((names.len(), DIM), flat).expect("rows of DIM values each");
        Matcher {
            threshold,
            names,
            rows,
        }
    }

    pub fn threshold(&self) -> f32 {
        self.threshold
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn identify(&self, embedding: &Embedding) -> Identity {
        let query = ndarray::ArrayView1::from(&embedding.0[..]);
        let nearest = (&self.rows - &query)
            .mapv(|d| d * d)
            .sum_axis(Axis(1))
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.total_cmp(b.1))
            .map(|(row, squared)| (row, squared.sqrt()));
        match nearest {
            None => Identity {
                name: None,
                distance: None,
                nearest: None,
            },
            Some((row, distance)) => Identity {
                name: (distance <= self.threshold).then(|| self.names[row].clone()),
                distance: Some(distance),
                nearest: Some(self.names[row].clone()),
            },
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

    #[test]
    fn nearest_within_threshold_is_named_and_farther_is_unknown() {
        let matcher = Matcher::new(
            0.55,
            [
                ("ann".to_string(), unit(0, 1.0)),
                ("bob".to_string(), unit(1, 1.0)),
            ],
        );
        let near_ann = unit(0, 1.3);
        let id = matcher.identify(&near_ann);
        assert_eq!(id.name.as_deref(), Some("ann"));
        assert!((id.distance.unwrap() - 0.3).abs() < 1e-6);

        let far = unit(2, 1.0);
        let id = matcher.identify(&far);
        assert_eq!(id.label(), "unknown");
        assert!((id.distance.unwrap() - 2f32.sqrt()).abs() < 1e-6);
        assert!(id.nearest.is_some());
    }

    #[test]
    fn the_threshold_is_inclusive_and_an_empty_gallery_knows_nobody() {
        let matcher = Matcher::new(0.5, [("ann".to_string(), unit(0, 1.0))]);
        assert_eq!(matcher.identify(&unit(0, 1.5)).label(), "ann");
        assert_eq!(matcher.identify(&unit(0, 1.51)).label(), "unknown");
        let empty = Matcher::new(0.5, []);
        assert_eq!(
            empty.identify(&unit(0, 1.0)),
            Identity {
                name: None,
                distance: None,
                nearest: None
            }
        );
    }

    #[test]
    fn embeddings_of_the_wrong_length_are_skipped() {
        let matcher = Matcher::new(0.5, [("bad".to_string(), Embedding(vec![0.0; 3]))]);
        assert!(matcher.is_empty());
    }
}
