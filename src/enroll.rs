//! Enrollment from photos: one face per photo, embedded and added to the gallery.

use std::path::{Path, PathBuf};

use crate::embed::Embedding;
use crate::error::{Error, Result};
use crate::gallery::Gallery;
use crate::photo;
use crate::pipeline::Pipeline;

/// Embeds the face in one photo. A photo with several faces gives its largest one (the person
/// being enrolled is nearest the camera) and logs a warning.
pub fn embed_photo(pipeline: &mut Pipeline, path: &Path) -> Result<Embedding> {
    let image = photo::pad_for_detection(&photo::load(path)?)?;
    let (faces, embeddings, _) = pipeline.embed_faces(&image)?;
    if faces.len() > 1 {
        tracing::warn!(path = %path.display(), faces = faces.len(), "several faces; enrolling the largest");
    }
    faces
        .iter()
        .zip(embeddings)
        .max_by_key(|(face, _)| face.rect[2] * face.rect[3])
        .map(|(_, embedding)| embedding)
        .ok_or_else(|| Error::InvalidArgument(format!("no face found in {}", path.display())))
}

/// Enrolls `name` from `photos`. All or nothing: if any photo fails, nothing is saved and the
/// error names every photo that failed.
pub fn person(
    pipeline: &mut Pipeline,
    gallery: &mut Gallery,
    name: &str,
    photos: &[PathBuf],
) -> Result<usize> {
    crate::gallery::validate_name(name)?;
    if photos.is_empty() {
        return Err(Error::InvalidArgument(
            "give at least one photo to enroll".into(),
        ));
    }
    let mut faces = Vec::new();
    let mut failures = Vec::new();
    for path in photos {
        match embed_photo(pipeline, path) {
            Ok(embedding) => faces.push((embedding, path.display().to_string())),
            Err(e) => failures.push(format!("  - {e}")),
        }
    }
    if !failures.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "nothing was enrolled; these photos failed:\n{}",
            failures.join("\n")
        )));
    }
    let count = faces.len();
    gallery.add(name, pipeline.embedder_id(), faces)?;
    Ok(count)
}

/// What enrolling a folder of people did.
#[derive(Debug, Default)]
pub struct DatasetReport {
    /// (person, faces enrolled)
    pub enrolled: Vec<(String, usize)>,
    /// Photos skipped, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Enrolls every person of a dataset laid out as `DIR/<person>/*.jpg`. A photo that fails is
/// skipped and reported; the others are enrolled.
pub fn dataset(
    pipeline: &mut Pipeline,
    gallery: &mut Gallery,
    dir: &Path,
) -> Result<DatasetReport> {
    let mut report = DatasetReport::default();
    for (name, photos) in dataset_people(dir)? {
        let mut faces = Vec::new();
        for path in photos {
            match embed_photo(pipeline, &path) {
                Ok(embedding) => faces.push((embedding, path.display().to_string())),
                Err(e) => report.skipped.push((path, e.to_string())),
            }
        }
        if !faces.is_empty() {
            report.enrolled.push((name.clone(), faces.len()));
            gallery.add(&name, pipeline.embedder_id(), faces)?;
        }
    }
    Ok(report)
}

/// The people of a dataset folder and their files, sorted so runs are reproducible.
pub fn dataset_people(dir: &Path) -> Result<Vec<(String, Vec<PathBuf>)>> {
    let read = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut paths = std::fs::read_dir(d)
            .map_err(|e| Error::io(d, e))?
            .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::io(d, e)))
            .collect::<Result<Vec<_>>>()?;
        paths.sort();
        Ok(paths)
    };
    let mut people = Vec::new();
    for person_dir in read(dir)?.into_iter().filter(|p| p.is_dir()) {
        let name = person_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let files: Vec<PathBuf> = read(&person_dir)?
            .into_iter()
            .filter(|p| p.is_file())
            .collect();
        if !files.is_empty() {
            people.push((name, files));
        }
    }
    if people.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "{} has no person folders with files; expected DIR/<person>/<photo>",
            dir.display()
        )));
    }
    Ok(people)
}
