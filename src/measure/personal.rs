//! Per-person thresholds (`calibrate --per-person`, `eval --per-person`): each person's own,
//! from their own faces' spread and the nearest faces of everyone else, held within bounds of
//! the global threshold.
//!
//! The rule: with at least [`MIN_FACES_TO_JUDGE`] faces and at least one other person, the own
//! threshold is midway between the 95th percentile of the person's genuine distances
//! (leave-one-out: each face to the nearest other face of theirs) and their nearest impostor
//! (the nearest face of anyone else to any of theirs), then held within
//! `calibration.per_person_max_tighten` below and `per_person_max_loosen` above the global
//! threshold, and rounded to 0.001. Everyone else keeps the global threshold.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::base::identity::{Embedding, Enrolled, PersonId};
use crate::base::stats::percentile;
use crate::vision::matcher::{CalibrationConfig, OwnThresholds};

/// A person needs this many faces for leave-one-out to say much about them.
pub const MIN_FACES_TO_JUDGE: usize = 3;

/// The genuine distance taken as a person's own spread: high, but not the one odd capture.
const GENUINE_PERCENTILE: f64 = 0.95;

/// What calibration found for one person, and what it proposes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonCalibration {
    pub name: String,
    /// Their id in the gallery (`None` for people enrolled only in memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<PersonId>,
    pub faces: usize,
    /// Leave-one-out: the farthest of each face's distance to the nearest other face of the
    /// person (`None` with one face).
    pub genuine_max: Option<f64>,
    pub genuine_p95: Option<f64>,
    /// The nearest face of anyone else to any of the person's faces (`None` alone).
    pub nearest_impostor: Option<f64>,
    pub proposal: Proposal,
}

/// A person's threshold as calibration proposes it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Proposal {
    /// Their own; `held` says which bound changed the midpoint, if one did.
    Own {
        threshold: f32,
        midpoint: f64,
        held: Option<Held>,
    },
    /// The global threshold, for this reason.
    Global { reason: KeepsGlobal },
}

/// Which bound held a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Held {
    /// At the global threshold plus `per_person_max_loosen`.
    Loosest,
    /// At the global threshold minus `per_person_max_tighten`.
    Tightest,
}

/// Why a person keeps the global threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeepsGlobal {
    /// Fewer than [`MIN_FACES_TO_JUDGE`] faces: their spread cannot be told.
    TooFewFaces,
    /// Nobody else is enrolled: there is no impostor to keep out.
    NobodyElse,
}

impl Proposal {
    pub fn threshold(&self) -> Option<f32> {
        match self {
            Proposal::Own { threshold, .. } => Some(*threshold),
            Proposal::Global { .. } => None,
        }
    }
}

/// Each person of `entries` (by name) with their figures and proposed threshold, given the
/// global `threshold` and the `bounds`.
pub fn calibrate_people(
    entries: &[Enrolled],
    threshold: f32,
    bounds: CalibrationConfig,
) -> Vec<PersonCalibration> {
    let mut faces_of: BTreeMap<&str, Vec<&Embedding>> = BTreeMap::new();
    let mut ids: BTreeMap<&str, PersonId> = BTreeMap::new();
    for entry in entries {
        faces_of
            .entry(&entry.person)
            .or_default()
            .push(&entry.embedding);
        if let Some(id) = entry.id {
            ids.insert(&entry.person, id);
        }
    }
    faces_of
        .iter()
        .map(|(name, faces)| {
            let mut genuine: Vec<f64> = (0..faces.len())
                .filter_map(|i| {
                    let others = faces.iter().enumerate().filter(|&(j, _)| j != i);
                    nearest(others.map(|(_, other)| faces[i].distance(other)))
                })
                .collect();
            let nearest_impostor = nearest(
                faces_of
                    .iter()
                    .filter(|(other, _)| other != &name)
                    .flat_map(|(_, others)| others.iter())
                    .flat_map(|other| faces.iter().map(|face| face.distance(other))),
            );
            let genuine_max = genuine.iter().copied().reduce(f64::max);
            let genuine_p95 = percentile(&mut genuine, GENUINE_PERCENTILE);
            let proposal = propose(
                faces.len(),
                genuine_p95,
                nearest_impostor,
                threshold,
                bounds,
            );
            PersonCalibration {
                name: (*name).to_owned(),
                id: ids.get(name).copied(),
                faces: faces.len(),
                genuine_max,
                genuine_p95,
                nearest_impostor,
                proposal,
            }
        })
        .collect()
}

fn propose(
    faces: usize,
    genuine_p95: Option<f64>,
    nearest_impostor: Option<f64>,
    threshold: f32,
    bounds: CalibrationConfig,
) -> Proposal {
    let Some(genuine) = genuine_p95.filter(|_| faces >= MIN_FACES_TO_JUDGE) else {
        return Proposal::Global {
            reason: KeepsGlobal::TooFewFaces,
        };
    };
    let Some(impostor) = nearest_impostor else {
        return Proposal::Global {
            reason: KeepsGlobal::NobodyElse,
        };
    };
    let midpoint = (genuine + impostor) / 2.0;
    let held = bounds.bound(midpoint as f32, threshold);
    // 0.001 is far below what the distances resolve; the matcher holds it within the bounds
    // again at every match, so rounding cannot loosen it past them.
    let own = ((f64::from(held) * 1000.0).round() / 1000.0) as f32;
    let loosest = threshold + bounds.per_person_max_loosen;
    let tightest = threshold - bounds.per_person_max_tighten;
    let held = if midpoint as f32 > loosest {
        Some(Held::Loosest)
    } else if (midpoint as f32) < tightest {
        Some(Held::Tightest)
    } else {
        None
    };
    Proposal::Own {
        threshold: own,
        midpoint,
        held,
    }
}

/// The proposed own thresholds, by name.
pub fn own_thresholds(people: &[PersonCalibration]) -> OwnThresholds {
    people
        .iter()
        .filter_map(|p| Some((p.name.clone(), p.proposal.threshold()?)))
        .collect()
}

fn nearest(distances: impl Iterator<Item = f32>) -> Option<f64> {
    distances.map(f64::from).reduce(f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(x: f32) -> Embedding {
        let mut v = vec![0.0; crate::base::identity::DIM];
        v[0] = x;
        Embedding(v)
    }

    #[test]
    fn a_person_gets_the_midpoint_of_their_spread_and_nearest_impostor_within_bounds() {
        let entries: Vec<Enrolled> = [
            ("Ada", 0.0),
            ("Ada", 0.2),
            ("Ada", 0.4),
            ("Bob", 1.1),
            ("Bob", 1.4),
            ("Bob", 1.7),
            ("Cy", 10.0),
            ("Di", 20.0),
            ("Di", 20.1),
        ]
        .into_iter()
        .map(|(name, x)| Enrolled::from((name.to_owned(), at(x))))
        .collect();
        let people = calibrate_people(&entries, 0.55, CalibrationConfig::default());
        let by = |name: &str| people.iter().find(|p| p.name == name).unwrap().clone();
        let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-6);
        // Ada: genuine 0.2 each; nearest impostor Bob's 1.1 to her 0.4: midpoint 0.45.
        let ada = by("Ada");
        assert!(close(ada.genuine_p95, 0.2) && close(ada.genuine_max, 0.2));
        assert!(close(ada.nearest_impostor, 0.7));
        assert!(close(ada.proposal.threshold().map(f64::from), 0.45));
        // Bob: genuine 0.3, impostor 0.7: midpoint 0.5, inside 0.40..0.60.
        let bob = by("Bob");
        assert!(matches!(bob.proposal, Proposal::Own { held: None, .. }));
        assert!(close(bob.proposal.threshold().map(f64::from), 0.5));
        // Cy has one face, Di two.
        for name in ["Cy", "Di"] {
            assert_eq!(
                by(name).proposal,
                Proposal::Global {
                    reason: KeepsGlobal::TooFewFaces
                }
            );
        }
        // Far from everyone: never looser than the global 0.55 + 0.05.
        let far: Vec<Enrolled> = [("Ed", 0.0), ("Ed", 0.5), ("Ed", 1.0), ("Fay", 50.0)]
            .into_iter()
            .map(|(name, x)| Enrolled::from((name.to_owned(), at(x))))
            .collect();
        let ed = calibrate_people(&far, 0.55, CalibrationConfig::default()).remove(0);
        assert_eq!(ed.proposal.threshold(), Some(0.6));
        assert!(matches!(
            ed.proposal,
            Proposal::Own {
                held: Some(Held::Loosest),
                ..
            }
        ));
        let alone = calibrate_people(&far[..3], 0.55, CalibrationConfig::default());
        assert_eq!(
            alone[0].proposal,
            Proposal::Global {
                reason: KeepsGlobal::NobodyElse
            }
        );
    }
}
