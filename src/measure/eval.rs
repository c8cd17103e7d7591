//! How well recognition works: on a labelled dataset (`whoisit eval`) and on the user's own
//! gallery (`whoisit calibrate`). The figures themselves are computed in [`crate::measure::metrics`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, Enrolled};
use crate::config::Config;
use crate::enroll::quality::QualityGate;
use crate::gallery::SightingId;
use crate::gallery::visitors::{self, GroupSettings, UnknownEmbedding, VisitorId};
use crate::measure::metrics::{Distances, Identification, Verification};
use crate::measure::personal::{self, MIN_FACES_TO_JUDGE};
use crate::models::fetch::{Fetcher, Progress};
use crate::models::registry::{PackageFile, Registry};
use crate::vision::detect::Detection;
use crate::vision::matcher::{CalibrationConfig, Matcher};
use crate::vision::photo;
use crate::vision::pipeline::{EnrollViews, Pipeline};

/// dlib's labelled `johns` set (5 people x 11 LFW-style crops) is in Debian's dlib source
/// package: a dataset anyone can evaluate on without bringing their own.
pub fn sample_release() -> PackageFile {
    PackageFile {
        registry: Registry::Debian,
        package: "dlib".into(),
        version: "19.24+dfsg".into(),
        file: "dlib_19.24+dfsg.orig.tar.bz2".into(),
        sha256: "66b4263822a2ff91a3e769e501c7d7927a13089e178c1427ec19cb0475823cf6".into(),
    }
}

/// Where the `johns` set is inside [`sample_release`].
pub const SAMPLE_PREFIX: &str = "dlib-19.24+dfsg/examples/johns";

/// The sample dataset's folder, downloaded (8.6 MB, checked by sha256) and unpacked on first use.
pub fn sample_dataset(config: &Config, progress: &dyn Progress) -> Result<PathBuf> {
    sample_folder(config, &mut Fetcher::new(progress)?, SAMPLE_PREFIX, "johns")
}

/// The folder `prefix` of [`sample_release`], unpacked as `name` under the cache dir on first
/// use. One fetcher downloads the tarball once for several folders.
pub fn sample_folder(
    config: &Config,
    fetcher: &mut Fetcher<'_>,
    prefix: &str,
    name: &str,
) -> Result<PathBuf> {
    let root = config.cache_dir()?.join("datasets");
    let dir = root.join(name);
    if dir.is_dir() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&root).map_err(|e| Error::write(&root, e))?;
    fetcher.extract_tree(&sample_release(), prefix, &dir)?;
    Ok(dir)
}

/// Which people are held out as strangers: a number of people, or a fraction of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strangers {
    Count(usize),
    Fraction(f64),
}

impl FromStr for Strangers {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let bad = || format!("{s:?} is neither a number of people (2) nor a fraction (0.2, 20%)");
        if let Some(percent) = s.strip_suffix('%') {
            let p: f64 = percent.trim().parse().map_err(|_| bad())?;
            return Strangers::fraction(p / 100.0).ok_or_else(bad);
        }
        if let Ok(n) = s.parse::<usize>() {
            return Ok(Strangers::Count(n));
        }
        let f: f64 = s.parse().map_err(|_| bad())?;
        Strangers::fraction(f).ok_or_else(bad)
    }
}

impl Strangers {
    fn fraction(f: f64) -> Option<Strangers> {
        (0.0..1.0).contains(&f).then_some(Strangers::Fraction(f))
    }

    /// How many of `people` are strangers in each round: a non-zero fraction holds out at least
    /// one person.
    fn of(self, people: usize) -> usize {
        match self {
            Strangers::Count(n) => n,
            Strangers::Fraction(f) if f > 0.0 => ((f * people as f64).round() as usize).max(1),
            Strangers::Fraction(_) => 0,
        }
    }
}

/// How a dataset is split and judged.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Photos enrolled per person (the first ones that pass the enrollment quality gate).
    pub enroll_per_person: usize,
    pub strangers: Strangers,
    pub threshold: f32,
    /// Also identify with own thresholds, calibrated in each round on the enrolled faces only
    /// and held within these bounds.
    pub per_person: Option<CalibrationConfig>,
}

/// Identification with own thresholds (`eval --per-person`), beside the global one's.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PerPerson {
    /// The same probes as [`Evaluation::identification`], each person enrolled in a round
    /// matched with their own threshold when calibration gave them one.
    pub identification: Identification,
    /// Every own threshold calibration gave, all rounds, in order.
    pub thresholds: Vec<f32>,
    /// Person-rounds that kept the global threshold.
    pub kept_global: usize,
}

/// A photo that gave no face to evaluate, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Undetected {
    pub photo: PathBuf,
    pub reason: String,
}

/// One photo's face, embedded.
#[derive(Debug, Clone)]
struct Sample {
    person: usize,
    photo: PathBuf,
    /// As a probe: the face as it is, as a live frame's.
    embedding: Embedding,
    /// As enrolled: from the views enrollment embeds.
    enrolled: Embedding,
    /// Why enrollment would refuse this photo, if it would.
    refused: Option<String>,
}

/// Every photo of a dataset run through the pipeline once; splits reuse it.
pub struct EmbeddedDataset {
    pub dir: PathBuf,
    pub embedder: EmbedderId,
    pub people: Vec<String>,
    pub photos: usize,
    samples: Vec<Sample>,
    pub undetected: Vec<Undetected>,
    /// Photos with more than one face: the largest was taken as the person's.
    pub several_faces: Vec<PathBuf>,
}

/// Detects, aligns and embeds the face of every photo of `DIR/<person>/<photo>` the way
/// enrollment does (a margin for tight crops, and `views` for the embedding it is enrolled
/// with), calling `progress(done, total)`.
pub fn embed_dataset(
    pipeline: &mut Pipeline,
    gate: &QualityGate,
    views: EnrollViews,
    dir: &Path,
    mut progress: impl FnMut(usize, usize),
) -> Result<EmbeddedDataset> {
    let people = crate::enroll::dataset_people(dir)?;
    let total = people.iter().map(|p| p.photos.len()).sum();
    let mut out = EmbeddedDataset {
        dir: dir.to_path_buf(),
        embedder: pipeline.embedder_id(),
        people: people.iter().map(|p| p.name.clone()).collect(),
        photos: total,
        samples: Vec::new(),
        undetected: Vec::new(),
        several_faces: Vec::new(),
    };
    let mut done = 0;
    for (person, dataset_person) in people.iter().enumerate() {
        for path in &dataset_person.photos {
            progress(done, total);
            done += 1;
            let undetected = |reason: String| Undetected {
                photo: path.clone(),
                reason,
            };
            let image = match photo::load(path) {
                Ok(image) => image,
                Err(e) => {
                    out.undetected.push(undetected(e.report()));
                    continue;
                }
            };
            let found = pipeline.detect_photo(image)?;
            let (image, faces) = (found.image, found.faces);
            let Some(face) = Detection::largest(&faces) else {
                out.undetected.push(undetected(
                    "no face found (also tried with a margin around the photo)".into(),
                ));
                continue;
            };
            if faces.len() > 1 {
                out.several_faces.push(path.clone());
            }
            let refused = gate
                .check(&image, &[face])?
                .err()
                .map(|rejection| rejection.to_string());
            let Some(embedding) = pipeline.embed_one(&image, &face)? else {
                out.undetected
                    .push(undetected("the embedder returned nothing".into()));
                continue;
            };
            let enrolled = pipeline.enrolled_from(&image, &face, embedding.clone(), views)?;
            out.samples.push(Sample {
                person,
                photo: path.clone(),
                embedding,
                enrolled,
                refused,
            });
        }
    }
    progress(total, total);
    Ok(out)
}

/// What `eval` reports for one embedder on one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub dataset: PathBuf,
    pub embedder: EmbedderId,
    pub threshold: f64,
    pub enroll_per_person: usize,
    /// People held out as strangers in each round; every person is a stranger in one round.
    pub strangers_per_round: usize,
    pub rounds: usize,
    pub people: usize,
    pub photos: usize,
    /// Photos whose face was embedded (`photos` minus `undetected`).
    pub embedded: usize,
    pub undetected: Vec<Undetected>,
    pub several_faces: Vec<PathBuf>,
    pub warnings: Vec<String>,
    /// Identification summed over all rounds: enrolled people's other photos, and strangers.
    pub identification: Identification,
    /// With own thresholds (`--per-person`).
    pub per_person: Option<PerPerson>,
    /// Verification over all pairs of embedded photos.
    pub verification: Option<Verification>,
    #[serde(skip)]
    pub distances: Distances,
}

/// Splits the embedded dataset into rounds (strangers held out in turn), identifies every probe
/// face against the others' enrolled photos, and compares all pairs.
pub fn evaluate(data: &EmbeddedDataset, options: &EvalOptions) -> Result<Evaluation> {
    if options.enroll_per_person == 0 {
        return Err(Error::InvalidInput(
            "--enroll-per-person must be at least 1".into(),
        ));
    }
    let people = data.people.len();
    let strangers = options.strangers.of(people);
    if strangers >= people {
        return Err(Error::InvalidInput(format!(
            "{} has {people} people; holding out {strangers} as strangers leaves nobody to enroll \
             (give --strangers a smaller number, or 0)",
            data.dir.display()
        )));
    }
    let rounds = if strangers == 0 {
        1
    } else {
        people.div_ceil(strangers)
    };

    let mut by_person: Vec<Vec<&Sample>> = vec![Vec::new(); people];
    for sample in &data.samples {
        by_person[sample.person].push(sample);
    }
    let mut warnings = BTreeSet::new();
    // The same photos are enrolled in every round a person is enrolled in.
    let enrolled: Vec<Vec<&Sample>> = by_person
        .iter()
        .enumerate()
        .map(|(person, samples)| {
            choose_enrolled(&data.people[person], samples, options, &mut warnings)
        })
        .collect();
    let mut identification = Identification::default();
    let mut per_person = options.per_person.map(|_| PerPerson::default());
    for round in 0..rounds {
        let held_out = (round * strangers)..((round + 1) * strangers).min(people);
        let split = Split {
            data,
            by_person: &by_person,
            enrolled: &enrolled,
            held_out,
        };
        split.identify(options, &mut identification, per_person.as_mut());
    }
    let distances = all_pairs(&data.samples);
    Ok(Evaluation {
        dataset: data.dir.clone(),
        embedder: data.embedder.clone(),
        threshold: decimal(options.threshold),
        enroll_per_person: options.enroll_per_person,
        strangers_per_round: strangers,
        rounds,
        people,
        photos: data.photos,
        embedded: data.samples.len(),
        undetected: data.undetected.clone(),
        several_faces: data.several_faces.clone(),
        warnings: warnings.into_iter().collect(),
        identification,
        per_person,
        verification: distances.verification(decimal(options.threshold)),
        distances,
    })
}

/// The photos of one person that are enrolled: the first that pass the quality gate. Notes in
/// `warnings` what makes the person's figures weaker.
fn choose_enrolled<'a>(
    name: &str,
    samples: &[&'a Sample],
    options: &EvalOptions,
    warnings: &mut BTreeSet<String>,
) -> Vec<&'a Sample> {
    let chosen: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.refused.is_none())
        .take(options.enroll_per_person)
        .copied()
        .collect();
    if chosen.is_empty() {
        warnings.insert(format!(
            "{name}: no photo passes the enrollment quality gate; {name} is only used as a stranger"
        ));
    } else if chosen.len() < options.enroll_per_person {
        warnings.insert(format!(
            "{name}: only {} photo(s) pass the enrollment quality gate, enrolled with those",
            chosen.len()
        ));
    }
    if !chosen.is_empty() && chosen.len() == samples.len() {
        warnings.insert(format!(
            "{name}: every photo is enrolled, none is left to test recognition with"
        ));
    }
    chosen
}

/// One round's split of the dataset: everyone but the `held_out` people is enrolled.
struct Split<'a> {
    data: &'a EmbeddedDataset,
    by_person: &'a [Vec<&'a Sample>],
    enrolled: &'a [Vec<&'a Sample>],
    held_out: std::ops::Range<usize>,
}

impl Split<'_> {
    /// Identifies every photo that is not enrolled, the held-out people's as strangers; with
    /// `per_person`, also with own thresholds calibrated on this round's enrolled faces.
    fn identify(
        &self,
        options: &EvalOptions,
        identification: &mut Identification,
        mut per_person: Option<&mut PerPerson>,
    ) {
        let gallery: Vec<Enrolled> = self
            .enrolled
            .iter()
            .enumerate()
            .filter(|(person, _)| !self.held_out.contains(person))
            .flat_map(|(person, samples)| {
                samples.iter().map(move |s| Enrolled {
                    person: self.data.people[person].clone(),
                    id: None,
                    embedding: s.enrolled.clone(),
                })
            })
            .collect();
        let mut matcher = Matcher::new(options.threshold, gallery.iter().cloned());
        if let (Some(bounds), Some(per_person)) = (options.per_person, per_person.as_mut()) {
            let calibrated = personal::calibrate_people(&gallery, options.threshold, bounds);
            per_person
                .thresholds
                .extend(calibrated.iter().filter_map(|p| p.proposal.threshold()));
            per_person.kept_global += calibrated
                .iter()
                .filter(|p| p.proposal.threshold().is_none())
                .count();
            matcher = matcher.with_own_thresholds(&personal::own_thresholds(&calibrated), bounds);
        }
        for (person, samples) in self.by_person.iter().enumerate() {
            let stranger = self.held_out.contains(&person);
            if !stranger && self.enrolled[person].is_empty() {
                continue;
            }
            let probes = samples
                .iter()
                .filter(|s| stranger || !self.enrolled[person].iter().any(|e| e.photo == s.photo));
            let truth = (!stranger).then(|| self.data.people[person].as_str());
            for probe in probes {
                let global = matcher.identify_within(&probe.embedding, options.threshold);
                identification.record(truth, global.name.as_deref());
                if let Some(per_person) = per_person.as_mut() {
                    let own = matcher.identify(&probe.embedding);
                    per_person.identification.record(truth, own.name.as_deref());
                }
            }
        }
    }
}

/// Distances of every pair of samples: genuine within a person, impostor across people.
fn all_pairs(samples: &[Sample]) -> Distances {
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i + 1..] {
            let d = f64::from(a.embedding.distance(&b.embedding));
            if a.person == b.person {
                genuine.push(d);
            } else {
                impostor.push(d);
            }
        }
    }
    Distances::new(genuine, impostor)
}

/// What `calibrate` found in a gallery.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub embedder: EmbedderId,
    pub people: usize,
    pub faces: usize,
    /// People with fewer than [`MIN_FACES_TO_JUDGE`] faces.
    pub too_few_faces: Vec<FewFaces>,
    pub far_target: f64,
    pub current_threshold: f64,
    /// `None` when the gallery lacks genuine or impostor distances.
    pub suggested_threshold: Option<f64>,
    /// The figures at the current threshold.
    pub current: Option<Verification>,
    /// The figures at the suggested threshold.
    pub suggested: Option<Verification>,
    #[serde(skip)]
    pub distances: Distances,
}

/// A person with too few faces for leave-one-out to say much about them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FewFaces {
    pub name: String,
    pub faces: usize,
}

/// Leave-one-out over the gallery's faces, as the matcher would see each of them if it were a
/// new capture: the genuine distance is to the nearest other face of its person, and each other
/// person gives one impostor distance, to that person's nearest face.
pub fn calibrate(
    embedder: &EmbedderId,
    entries: &[Enrolled],
    threshold: f32,
    far: f64,
) -> Calibration {
    let mut faces_of: BTreeMap<&str, Vec<&Embedding>> = BTreeMap::new();
    for entry in entries {
        faces_of
            .entry(&entry.person)
            .or_default()
            .push(&entry.embedding);
    }
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    for (name, faces) in &faces_of {
        for (i, face) in faces.iter().enumerate() {
            let own = faces
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, other)| face.distance(other));
            genuine.extend(nearest(own));
            for (other_name, other_faces) in &faces_of {
                if other_name != name {
                    impostor.extend(nearest(other_faces.iter().map(|o| face.distance(o))));
                }
            }
        }
    }
    let distances = Distances::new(genuine, impostor);
    let suggested_threshold = distances.suggest_threshold(far);
    Calibration {
        embedder: embedder.clone(),
        people: faces_of.len(),
        faces: entries.len(),
        too_few_faces: faces_of
            .iter()
            .filter(|(_, faces)| faces.len() < MIN_FACES_TO_JUDGE)
            .map(|(name, faces)| FewFaces {
                name: (*name).to_owned(),
                faces: faces.len(),
            })
            .collect(),
        far_target: far,
        current_threshold: decimal(threshold),
        current: distances.verification(decimal(threshold)),
        suggested: suggested_threshold.and_then(|t| distances.verification(t)),
        suggested_threshold,
        distances,
    }
}

/// A configured threshold as the decimal the user wrote (0.55, not 0.550000011920929).
fn decimal(threshold: f32) -> f64 {
    threshold
        .to_string()
        .parse()
        .unwrap_or(f64::from(threshold))
}

fn nearest(distances: impl Iterator<Item = f32>) -> Option<f64> {
    distances.map(f64::from).reduce(f64::min)
}

/// How a dataset's photos group into visitors at one setting, each photo taken as one
/// unknown sighting (`eval --visitors`).
#[derive(Debug, Clone, Serialize)]
pub struct Grouping {
    pub min_sightings: usize,
    pub group_distance: f32,
    pub groups: usize,
    /// Of the photos grouped, the share in a group whose most photos are their person's.
    pub purity: f64,
    /// Per person, the share of their photos in their biggest group; the mean over people.
    pub completeness: f64,
    /// The share of photos in any group (the rest is noise, left ungrouped).
    pub grouped: f64,
}

/// Groups every embedded photo of `data` as an unknown sighting would be, with `settings`.
pub fn group_photos(data: &EmbeddedDataset, settings: &GroupSettings) -> Grouping {
    let faces: Vec<UnknownEmbedding> = data
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| UnknownEmbedding {
            sighting: SightingId(i64::try_from(i).unwrap_or(i64::MAX)),
            embedder: data.embedder.clone(),
            embedding: s.embedding.clone(),
            visitor: None,
        })
        .collect();
    let groups = visitors::group(&faces, settings);
    // Photos per (group, person).
    let mut members: HashMap<VisitorId, HashMap<usize, usize>> = HashMap::new();
    for (sample, group) in data.samples.iter().zip(&groups) {
        if let Some(group) = group {
            *members
                .entry(*group)
                .or_default()
                .entry(sample.person)
                .or_default() += 1;
        }
    }
    let grouped: usize = members.values().flat_map(HashMap::values).sum();
    let majorities: usize = members
        .values()
        .filter_map(|people| people.values().max())
        .sum();
    let completeness: Vec<f64> = (0..data.people.len())
        .filter_map(|person| {
            let photos = data.samples.iter().filter(|s| s.person == person).count();
            let biggest = members
                .values()
                .filter_map(|people| people.get(&person))
                .max()
                .copied()
                .unwrap_or(0);
            (photos > 0).then(|| biggest as f64 / photos as f64)
        })
        .collect();
    Grouping {
        min_sightings: settings.min_sightings,
        group_distance: settings.group_distance,
        groups: members.len(),
        purity: if grouped == 0 {
            1.0
        } else {
            majorities as f64 / grouped as f64
        },
        completeness: completeness.iter().sum::<f64>() / completeness.len().max(1) as f64,
        grouped: grouped as f64 / data.samples.len().max(1) as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strangers_are_a_count_or_a_fraction() {
        assert_eq!("2".parse(), Ok(Strangers::Count(2)));
        assert_eq!("0.2".parse(), Ok(Strangers::Fraction(0.2)));
        assert_eq!("20%".parse(), Ok(Strangers::Fraction(0.2)));
        assert!("1.5".parse::<Strangers>().is_err());
        assert!("lots".parse::<Strangers>().is_err());
        assert_eq!(Strangers::Fraction(0.2).of(5), 1);
        assert_eq!(Strangers::Fraction(0.01).of(5), 1);
        assert_eq!(Strangers::Fraction(0.0).of(5), 0);
        assert_eq!(Strangers::Count(2).of(5), 2);
    }

    fn at(x: f32) -> Embedding {
        let mut v = vec![0.0; crate::base::identity::DIM];
        v[0] = x;
        Embedding(v)
    }

    #[test]
    fn calibration_is_leave_one_out_with_other_people_as_impostors() {
        let entries: Vec<Enrolled> = [
            ("Ada", 0.0),
            ("Ada", 0.1),
            ("Ada", 0.3),
            ("Bob", 1.0),
            ("Bob", 1.2),
            ("Cy", 5.0),
        ]
        .into_iter()
        .map(|(name, x)| Enrolled::from((name.to_owned(), at(x))))
        .collect();
        let c = calibrate(&EmbedderId::new("test"), &entries, 0.55, 0.001);
        assert_eq!((c.people, c.faces), (3, 6));
        let few = |name: &str, faces| FewFaces {
            name: name.to_owned(),
            faces,
        };
        assert_eq!(c.too_few_faces, vec![few("Bob", 2), few("Cy", 1)]);
        // Ada: 0.1, 0.1, 0.2; Bob: 0.2, 0.2; Cy has nobody else.
        assert_eq!(c.distances.genuine().len(), 5);
        // Every face against each other person: Ada 3x2, Bob 2x2, Cy 1x2.
        assert_eq!(c.distances.impostor().len(), 12);
        assert!((c.distances.impostor()[0] - 0.7).abs() < 1e-6);
        // Between the farthest genuine (0.2) and the nearest impostor (0.7).
        let t = c.suggested_threshold.unwrap();
        assert!((t - 0.45).abs() < 1e-6, "{t}");
    }
}
