//! The models whoisit uses, where they come from, and which ones a configuration needs.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::base::error::{Error, Result};
use crate::base::identity::EmbedderKind;
use crate::models::fetch::{Artifact, Fetcher, Progress, Status};

pub mod fetch;
pub mod registry;

const MANIFEST_RON: &str = include_str!("../../models/manifest.ron");

/// One entry of `models/manifest.ron`.
#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    pub id: String,
    pub purpose: String,
    pub licence: String,
    pub artifact: Artifact,
}

/// Reads the compiled-in manifest.
pub fn manifest() -> Result<Vec<Model>> {
    ron::from_str(MANIFEST_RON).map_err(|e| Error::ConfigSyntax {
        path: PathBuf::from("models/manifest.ron"),
        message: e.to_string(),
    })
}

/// The model ids a pipeline with `embedder` loads.
pub fn required_ids(embedder: EmbedderKind) -> &'static [&'static str] {
    match embedder {
        EmbedderKind::Dlib => &[
            "ssd-prototxt",
            "ssd-weights",
            "dlib-landmarks-5",
            "dlib-resnet",
        ],
        EmbedderKind::OpenFace => &[
            "ssd-prototxt",
            "ssd-weights",
            "dlib-landmarks-68",
            "openface-nn4",
        ],
    }
}

/// The manifest entries a pipeline with `embedder` loads.
pub fn required(embedder: EmbedderKind) -> Result<Vec<Model>> {
    let all = manifest()?;
    Ok(required_ids(embedder)
        .iter()
        .filter_map(|id| all.iter().find(|m| m.id == *id).cloned())
        .collect())
}

/// Looks up one model by id.
pub fn by_id(id: &str) -> Result<Model> {
    manifest()?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| Error::InvalidInput(format!("no model `{id}` in models/manifest.ron")))
}

/// The on-disk state of each model in `models`.
pub fn statuses(models: &[Model], dir: &Path) -> Result<Vec<(Model, Status)>> {
    models
        .iter()
        .map(|m| Ok((m.clone(), m.artifact.status(dir)?)))
        .collect()
}

/// Fetches whatever of `models` is missing or corrupt in `dir`. Returns how many it fetched.
/// One unreachable model does not stop the others; every failure is in the one error returned.
pub fn fetch(models: &[Model], dir: &Path, progress: &dyn Progress) -> Result<usize> {
    let mut fetcher = Fetcher::new(progress)?;
    let mut fetched = 0;
    let mut failures = Vec::new();
    for model in models {
        match fetcher.ensure(&model.artifact, dir) {
            Ok(true) => fetched += 1,
            Ok(false) => {}
            Err(e) => failures.push(e),
        }
    }
    match failures.len() {
        0 => Ok(fetched),
        1 => Err(failures.remove(0)),
        count => Err(Error::FetchesFailed {
            count,
            reasons: failures
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        }),
    }
}

/// Verified paths of the models a pipeline needs, fetching missing ones first (the app's first
/// start). A corrupt file is not replaced silently: the user is told to run `models fetch`.
pub fn ensure_for(
    embedder: EmbedderKind,
    dir: &Path,
    progress: &dyn Progress,
) -> Result<ModelPaths> {
    let models = required(embedder)?;
    // Only presence here: `ModelPaths::verified` below checks every checksum, once.
    let missing: Vec<Model> = models
        .iter()
        .filter(|m| !dir.join(&m.artifact.file).is_file())
        .cloned()
        .collect();
    if !missing.is_empty() {
        tracing::info!(count = missing.len(), dir = %dir.display(), "fetching missing models");
        fetch(&missing, dir, progress)?;
    }
    ModelPaths::verified(embedder, dir)
}

/// Checked paths of the files one pipeline loads.
#[derive(Debug, Clone)]
pub struct ModelPaths {
    pub ssd_prototxt: PathBuf,
    pub ssd_weights: PathBuf,
    pub landmarks: PathBuf,
    pub embedder: PathBuf,
}

impl ModelPaths {
    /// Checks every file's checksum before anything loads it: a truncated model would otherwise
    /// load "fine" in OpenCV and give silently wrong embeddings.
    pub(crate) fn verified(embedder: EmbedderKind, dir: &Path) -> Result<ModelPaths> {
        let path = |id: &str| by_id(id)?.artifact.verified_path(dir);
        let [_, _, landmarks, embedder_id] = required_ids(embedder) else {
            unreachable!("every embedder needs exactly four models")
        };
        Ok(ModelPaths {
            ssd_prototxt: path("ssd-prototxt")?,
            ssd_weights: path("ssd-weights")?,
            landmarks: path(landmarks)?,
            embedder: path(embedder_id)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_parses_and_every_required_id_exists() {
        let all = manifest().unwrap();
        for kind in [EmbedderKind::Dlib, EmbedderKind::OpenFace] {
            assert_eq!(required(kind).unwrap().len(), required_ids(kind).len());
        }
        for model in &all {
            assert!(
                !model.artifact.sources.is_empty(),
                "{} has no source",
                model.id
            );
        }
    }
}
