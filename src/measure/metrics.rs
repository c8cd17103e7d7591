//! Verification and identification figures from embedding distances.
//!
//! A comparison is *accepted* (same person) when its distance is at most the threshold, exactly
//! as the matcher decides. "Genuine" distances are between faces of one person, "impostor"
//! distances between faces of different people.

use std::collections::BTreeMap;

use serde::Serialize;

/// The false-accept rates a report always states the true-accept rate at.
pub const FAR_TARGETS: [f64; 2] = [1e-2, 1e-3];
/// At most this many points of a ROC curve are kept in a report; plots need no more.
const ROC_POINTS: usize = 1_000;

/// One point of the ROC curve: accepting distances up to `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RocPoint {
    pub threshold: f64,
    /// False-accept rate: impostor comparisons accepted.
    pub far: f64,
    /// True-accept rate: genuine comparisons accepted (1 - FRR).
    pub tar: f64,
}

/// The equal error rate: where false accepts and false rejects are (nearest to) equally likely.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Eer {
    pub rate: f64,
    pub threshold: f64,
}

/// The true-accept rate at the largest threshold whose false-accept rate stays within a target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TarAtFar {
    pub far_target: f64,
    pub tar: f64,
    /// The false-accept rate actually reached (at most `far_target`).
    pub far: f64,
    /// Accepting distances below this (exclusive) reaches it.
    pub below: f64,
    /// False when there are too few impostor comparisons to measure a rate this small: then
    /// `tar` is the rate with no impostor accepted at all.
    pub measurable: bool,
}

/// Counts and rates of accepting at one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AtThreshold {
    pub threshold: f64,
    pub true_accepts: usize,
    pub false_rejects: usize,
    pub false_accepts: usize,
    pub true_rejects: usize,
    pub far: f64,
    pub frr: f64,
    pub accuracy: f64,
    /// `None` when nothing was accepted.
    pub precision: Option<f64>,
    pub recall: f64,
    pub specificity: f64,
    pub f1: Option<f64>,
}

/// Everything about a set of genuine and impostor distances.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub genuine_pairs: usize,
    pub impostor_pairs: usize,
    pub genuine_median: f64,
    pub impostor_median: f64,
    /// The farthest genuine and the nearest impostor distance: the two sets overlap when the
    /// first is larger.
    pub genuine_max: f64,
    pub impostor_min: f64,
    pub eer: Eer,
    pub tar_at_far: Vec<TarAtFar>,
    pub at_threshold: AtThreshold,
    /// From threshold 0 (nothing accepted) up to everything accepted, thresholds ascending.
    pub roc: Vec<RocPoint>,
}

/// Genuine and impostor distances, sorted ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Distances {
    genuine: Vec<f64>,
    impostor: Vec<f64>,
}

impl Distances {
    pub fn new(mut genuine: Vec<f64>, mut impostor: Vec<f64>) -> Distances {
        genuine.sort_by(f64::total_cmp);
        impostor.sort_by(f64::total_cmp);
        Distances { genuine, impostor }
    }

    pub fn genuine(&self) -> &[f64] {
        &self.genuine
    }

    pub fn impostor(&self) -> &[f64] {
        &self.impostor
    }

    /// Genuine and impostor comparisons accepted at `threshold`.
    fn accepted(&self, threshold: f64) -> (usize, usize) {
        (
            self.genuine.partition_point(|&d| d <= threshold),
            self.impostor.partition_point(|&d| d <= threshold),
        )
    }

    fn rates(&self, threshold: f64) -> (f64, f64) {
        let (g, i) = self.accepted(threshold);
        (ratio(i, self.impostor.len()), ratio(g, self.genuine.len()))
    }

    /// The figures at `threshold`; `None` without both genuine and impostor distances.
    pub fn verification(&self, threshold: f64) -> Option<Verification> {
        if self.genuine.is_empty() || self.impostor.is_empty() {
            return None;
        }
        let roc = self.roc();
        let eer = roc
            .iter()
            .map(|p| (p, (p.far - (1.0 - p.tar)).abs()))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(p, _)| Eer {
                rate: (p.far + 1.0 - p.tar) / 2.0,
                threshold: p.threshold,
            })?;
        Some(Verification {
            genuine_pairs: self.genuine.len(),
            impostor_pairs: self.impostor.len(),
            genuine_median: median(&self.genuine)?,
            impostor_median: median(&self.impostor)?,
            genuine_max: *self.genuine.last()?,
            impostor_min: *self.impostor.first()?,
            eer,
            tar_at_far: FAR_TARGETS.iter().map(|&f| self.tar_at_far(f)).collect(),
            at_threshold: self.at_threshold(threshold),
            roc: thin(roc, ROC_POINTS),
        })
    }

    /// The curve at every distance that changes it, plus its two ends.
    fn roc(&self) -> Vec<RocPoint> {
        let mut thresholds: Vec<f64> = self.genuine.iter().chain(&self.impostor).copied().collect();
        thresholds.sort_by(f64::total_cmp);
        thresholds.dedup();
        std::iter::once(
            thresholds
                .first()
                .map_or(0.0, |t| t.min(0.0) - f64::EPSILON),
        )
        .chain(thresholds)
        .map(|threshold| {
            let (far, tar) = self.rates(threshold);
            RocPoint {
                threshold,
                far,
                tar,
            }
        })
        .collect()
    }

    fn tar_at_far(&self, far_target: f64) -> TarAtFar {
        let n = self.impostor.len();
        // At most `allowed` impostors may be accepted, so the threshold must stay below the
        // next one.
        let allowed = (far_target * n as f64).floor() as usize;
        let (below, genuine) = match self.impostor.get(allowed) {
            Some(&next) => (next, self.genuine.partition_point(|&d| d < next)),
            None => (f64::INFINITY, self.genuine.len()),
        };
        let accepted_impostors = self.impostor.partition_point(|&d| d < below);
        TarAtFar {
            far_target,
            tar: ratio(genuine, self.genuine.len()),
            far: ratio(accepted_impostors, n),
            below,
            measurable: n > 0 && 1.0 / n as f64 <= far_target,
        }
    }

    pub fn at_threshold(&self, threshold: f64) -> AtThreshold {
        let (tp, fp) = self.accepted(threshold);
        let fn_ = self.genuine.len() - tp;
        let tn = self.impostor.len() - fp;
        let precision = (tp + fp > 0).then(|| ratio(tp, tp + fp));
        let recall = ratio(tp, tp + fn_);
        AtThreshold {
            threshold,
            true_accepts: tp,
            false_rejects: fn_,
            false_accepts: fp,
            true_rejects: tn,
            far: ratio(fp, fp + tn),
            frr: ratio(fn_, tp + fn_),
            accuracy: ratio(tp + tn, tp + fn_ + fp + tn),
            precision,
            recall,
            specificity: ratio(tn, tn + fp),
            f1: precision
                .filter(|p| p + recall > 0.0)
                .map(|p| 2.0 * p * recall / (p + recall)),
        }
    }

    /// A threshold that keeps the false-accept rate within `far`: halfway between the nearest
    /// impostor it must reject and the largest distance below that (genuine or impostor), so it
    /// is not balanced on a single measured face. `None` without impostor distances.
    pub(crate) fn suggest_threshold(&self, far: f64) -> Option<f64> {
        if self.impostor.is_empty() {
            return None;
        }
        let limit = self.tar_at_far(far).below;
        if !limit.is_finite() {
            // Every impostor may be accepted: the largest distance measured is as far as it goes.
            return self
                .genuine
                .last()
                .into_iter()
                .chain(self.impostor.last())
                .copied()
                .reduce(f64::max);
        }
        let below = |v: &[f64]| v[..v.partition_point(|&d| d < limit)].last().copied();
        let lower = below(&self.genuine)
            .into_iter()
            .chain(below(&self.impostor))
            .fold(0.0, f64::max);
        Some((lower + limit) / 2.0)
    }
}

/// Who was taken for whom when faces were identified against a gallery.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Identification {
    /// Faces of enrolled people (not the ones enrolled).
    pub enrolled_probes: usize,
    pub correct: usize,
    /// Named as another enrolled person.
    pub wrong_person: usize,
    /// Said to be unknown.
    pub rejected: usize,
    /// `correct / enrolled_probes`.
    pub accuracy: Option<f64>,
    /// Faces of people who were not enrolled.
    pub stranger_probes: usize,
    pub strangers_rejected: usize,
    /// `strangers_rejected / stranger_probes`.
    pub unknown_rejection: Option<f64>,
    /// True person (or "stranger") -> answer ("unknown" or a name) -> count. Correct answers
    /// included, so each row adds up to that person's probes.
    pub confusion: BTreeMap<String, BTreeMap<String, usize>>,
}

/// The answer for a stranger's face in [`Identification::confusion`].
pub const STRANGER: &str = "(stranger)";
pub const UNKNOWN: &str = "unknown";

impl Identification {
    /// Records one face: `truth` is its person, or `None` for a stranger; `answer` is the name
    /// given, or `None` for unknown.
    pub fn record(&mut self, truth: Option<&str>, answer: Option<&str>) {
        match truth {
            Some(person) => {
                self.enrolled_probes += 1;
                match answer {
                    Some(name) if name == person => self.correct += 1,
                    Some(_) => self.wrong_person += 1,
                    None => self.rejected += 1,
                }
            }
            None => {
                self.stranger_probes += 1;
                if answer.is_none() {
                    self.strangers_rejected += 1;
                }
            }
        }
        *self
            .confusion
            .entry(truth.unwrap_or(STRANGER).to_owned())
            .or_default()
            .entry(answer.unwrap_or(UNKNOWN).to_owned())
            .or_default() += 1;
        self.accuracy =
            (self.enrolled_probes > 0).then(|| ratio(self.correct, self.enrolled_probes));
        self.unknown_rejection = (self.stranger_probes > 0)
            .then(|| ratio(self.strangers_rejected, self.stranger_probes));
    }

    /// The mistakes, most frequent first.
    pub fn mistakes(&self) -> Vec<Mistake<'_>> {
        let mut mistakes: Vec<Mistake<'_>> = self
            .confusion
            .iter()
            .flat_map(|(truth, answers)| {
                answers
                    .iter()
                    .filter(move |(answer, _)| {
                        *answer != truth && !(truth == STRANGER && *answer == UNKNOWN)
                    })
                    .map(move |(answer, &count)| Mistake {
                        truth,
                        answer,
                        count,
                    })
            })
            .collect();
        mistakes.sort_by(|a, b| b.count.cmp(&a.count).then(a.truth.cmp(b.truth)));
        mistakes
    }
}

/// Someone taken for someone else (or a stranger for somebody, or somebody for nobody).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mistake<'a> {
    /// Who it was ([`STRANGER`] for a held-out person).
    pub truth: &'a str,
    /// What was answered ([`UNKNOWN`] for nobody).
    pub answer: &'a str,
    pub count: usize,
}

/// How many of `values` fall in each of `bins` bins of `width` from 0; larger values count in
/// the last bin.
pub fn histogram(values: &[f64], width: f64, bins: usize) -> Vec<usize> {
    let mut counts = vec![0usize; bins];
    if let Some(last) = bins.checked_sub(1) {
        for &v in values {
            counts[((v / width).floor().max(0.0) as usize).min(last)] += 1;
        }
    }
    counts
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// The median of sorted values.
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// At most `max` points of a curve, evenly spaced along it, both ends kept.
fn thin(points: Vec<RocPoint>, max: usize) -> Vec<RocPoint> {
    if points.len() <= max || max < 2 {
        return points;
    }
    let last = points.len() - 1;
    (0..max).map(|k| points[k * last / (max - 1)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distances() -> Distances {
        // Genuine mostly small, impostor mostly large, one of each on the wrong side.
        Distances::new(
            vec![0.2, 0.3, 0.35, 0.4, 0.7],
            vec![0.5, 0.8, 0.9, 0.95, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5],
        )
    }

    #[test]
    fn counts_and_rates_at_a_threshold_add_up() {
        let v = distances().verification(0.55).unwrap();
        let t = v.at_threshold;
        assert_eq!((t.true_accepts, t.false_rejects), (4, 1));
        assert_eq!((t.false_accepts, t.true_rejects), (1, 9));
        assert_eq!(t.far, 0.1);
        assert_eq!(t.frr, 0.2);
        assert_eq!(t.accuracy, 13.0 / 15.0);
        assert_eq!(t.precision, Some(0.8));
        assert_eq!(t.recall, 0.8);
        assert_eq!(t.specificity, 0.9);
        assert!((t.f1.unwrap() - 0.8).abs() < 1e-12);
        assert_eq!((v.genuine_median, v.impostor_median), (0.35, 1.05));
        assert_eq!((v.genuine_max, v.impostor_min), (0.7, 0.5));
    }

    #[test]
    fn roc_runs_from_nothing_to_everything_accepted_monotonically() {
        let roc = distances().verification(0.55).unwrap().roc;
        assert_eq!((roc[0].far, roc[0].tar), (0.0, 0.0));
        let last = roc.last().unwrap();
        assert_eq!((last.far, last.tar), (1.0, 1.0));
        for w in roc.windows(2) {
            assert!(w[0].threshold < w[1].threshold);
            assert!(w[0].far <= w[1].far && w[0].tar <= w[1].tar);
        }
    }

    #[test]
    fn equal_error_rate_is_where_the_two_errors_meet() {
        // At 0.5: FAR 1/10, FRR 1/5; at 0.4: FAR 0, FRR 1/5; at 0.7: FAR 1/10, FRR 0.
        let eer = distances().verification(0.55).unwrap().eer;
        assert!(eer.rate > 0.0 && eer.rate <= 0.15 + 1e-12, "{eer:?}");
        let separable = Distances::new(vec![0.1, 0.2], vec![0.8, 0.9]);
        assert_eq!(separable.verification(0.5).unwrap().eer.rate, 0.0);
    }

    #[test]
    fn tar_at_far_stays_within_the_target_and_says_when_it_cannot_be_measured() {
        let d = distances();
        // 10 impostors: FAR 0.1 allows one (0.5), so everything below 0.8 is accepted.
        let t = d.tar_at_far(0.1);
        assert_eq!((t.tar, t.far, t.below, t.measurable), (1.0, 0.1, 0.8, true));
        // FAR 0.01 allows none: below 0.5, four genuine of five.
        let t = d.tar_at_far(0.01);
        assert_eq!(
            (t.tar, t.far, t.below, t.measurable),
            (0.8, 0.0, 0.5, false)
        );
    }

    #[test]
    fn suggested_threshold_keeps_impostors_out_with_a_margin() {
        let d = distances();
        // Nothing of the 10 impostors may pass: halfway between 0.4 (genuine) and 0.5.
        assert!((d.suggest_threshold(0.001).unwrap() - 0.45).abs() < 1e-12);
        // One may pass: below 0.8, above 0.7 (genuine).
        assert!((d.suggest_threshold(0.1).unwrap() - 0.75).abs() < 1e-12);
        assert_eq!(
            Distances::new(vec![0.3], vec![]).suggest_threshold(0.01),
            None
        );
    }

    #[test]
    fn identification_counts_every_face_once() {
        let mut id = Identification::default();
        id.record(Some("Ada"), Some("Ada"));
        id.record(Some("Ada"), Some("Bob"));
        id.record(Some("Bob"), None);
        id.record(None, None);
        id.record(None, Some("Ada"));
        assert_eq!(
            (id.enrolled_probes, id.correct, id.wrong_person, id.rejected),
            (3, 1, 1, 1)
        );
        assert_eq!((id.stranger_probes, id.strangers_rejected), (2, 1));
        assert_eq!(id.accuracy, Some(1.0 / 3.0));
        assert_eq!(id.unknown_rejection, Some(0.5));
        assert_eq!(
            id.mistakes()
                .iter()
                .map(|m| (m.truth, m.answer, m.count))
                .collect::<Vec<_>>(),
            vec![
                ("(stranger)", "Ada", 1),
                ("Ada", "Bob", 1),
                ("Bob", "unknown", 1)
            ]
        );
    }

    #[test]
    fn histogram_puts_what_is_beyond_the_last_bin_into_it() {
        assert_eq!(
            histogram(&[0.0, 0.01, 0.1, 5.0], 0.02, 10),
            [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]
        );
        assert!(histogram(&[1.0], 0.1, 0).is_empty());
    }

    #[test]
    fn thinning_keeps_both_ends() {
        let points: Vec<RocPoint> = (0..5000)
            .map(|i| RocPoint {
                threshold: f64::from(i),
                far: 0.0,
                tar: 0.0,
            })
            .collect();
        let thinned = thin(points, 1000);
        assert_eq!(thinned.len(), 1000);
        assert_eq!(thinned[0].threshold, 0.0);
        assert_eq!(thinned[999].threshold, 4999.0);
    }
}
