//! Enrollment: a capture passes the quality gate, is embedded, and is added to the gallery.

use std::path::{Path, PathBuf};

use opencv::core::Mat;

use crate::config::Config;
use crate::detect::Detection;
use crate::embed::Embedding;
use crate::error::{Error, Result};
use crate::gallery::{Gallery, NewFace};
use crate::matcher::Matcher;
use crate::photo;
use crate::pipeline::Pipeline;
use crate::quality::{self, QualityGate, Rejection};

/// How captures are judged and what is kept of them.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub gate: QualityGate,
    pub keep_images: bool,
}

impl Enrollment {
    pub fn from_config(config: &Config) -> Enrollment {
        Enrollment {
            gate: config.enrollment.clone(),
            keep_images: config.keep_images,
        }
    }

    /// Judges and embeds a capture whose faces were already detected. `Ok(Err(_))` says why it
    /// was rejected.
    pub fn judge(
        &self,
        pipeline: &mut Pipeline,
        image: &Mat,
        faces: &[Detection],
        source: String,
        source_sha256: Option<String>,
    ) -> Result<std::result::Result<NewFace, Rejection>> {
        let (face, sharpness) = match self.gate.check(image, faces)? {
            Ok(accepted) => accepted,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let (mut embeddings, _, _) = pipeline.embed(image, &[face])?;
        let embedding = embeddings
            .pop()
            .ok_or_else(|| Error::InvalidArgument("the embedder returned no embedding".into()))?;
        Ok(Ok(NewFace {
            embedder: pipeline.embedder_id().to_owned(),
            embedding,
            source,
            source_sha256,
            confidence: face.confidence,
            face_px: face.rect[2].min(face.rect[3]),
            sharpness,
            image_png: if self.keep_images {
                Some(quality::face_crop_png(image, &face)?)
            } else {
                None
            },
        }))
    }

    /// Judges and embeds a photo file. Errors are about the file; rejections about the face.
    pub fn photo(
        &self,
        pipeline: &mut Pipeline,
        path: &Path,
    ) -> Result<std::result::Result<NewFace, Rejection>> {
        let (image, sha256) = photo::read(path)?;
        let (image, faces) = detect_in_photo(pipeline, image)?;
        self.judge(
            pipeline,
            &image,
            &faces,
            path.display().to_string(),
            Some(sha256),
        )
    }

    /// Judges and embeds each photo. Returns the accepted faces, and for every other photo a
    /// message naming it and why it failed.
    pub fn photos(
        &self,
        pipeline: &mut Pipeline,
        paths: &[PathBuf],
    ) -> (Vec<NewFace>, Vec<String>) {
        let mut faces = Vec::new();
        let mut failures = Vec::new();
        for path in paths {
            match self.photo(pipeline, path) {
                Ok(Ok(face)) => faces.push(face),
                Ok(Err(rejection)) => failures.push(format!("{}: {rejection}", path.display())),
                Err(e) => failures.push(e.to_string()),
            }
        }
        (faces, failures)
    }
}

/// The faces of a still photo, and the image they were found in: a tight face crop (LFW style)
/// is looked at again with a margin around it, which the SSD needs to see the face.
pub fn detect_in_photo(pipeline: &mut Pipeline, image: Mat) -> Result<(Mat, Vec<Detection>)> {
    let (faces, _) = pipeline.detect(&image)?;
    if !photo::is_tight_crop(&image, &faces) {
        return Ok((image, faces));
    }
    let padded = photo::pad_for_detection(&image)?;
    let (faces, _) = pipeline.detect(&padded)?;
    Ok((padded, faces))
}

/// What enrolling one person did.
#[derive(Debug, Default)]
pub struct PersonReport {
    /// Faces added (a photo enrolled before is not added again).
    pub added: usize,
    /// Warnings worth showing: a capture nearer to somebody else than to its own person.
    pub warnings: Vec<String>,
}

/// Enrolls `name` from `photos`. All or nothing: if any photo fails or is rejected, nothing is
/// saved and the error names every photo and why.
pub fn person(
    pipeline: &mut Pipeline,
    gallery: &mut Gallery,
    enrollment: &Enrollment,
    name: &str,
    photos: &[PathBuf],
) -> Result<PersonReport> {
    let name = crate::gallery::validate_name(name)?;
    if photos.is_empty() {
        return Err(Error::InvalidArgument(
            "give at least one photo to enroll".into(),
        ));
    }
    let (faces, failures) = enrollment.photos(pipeline, photos);
    if !failures.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "nothing was enrolled; these photos failed:\n  - {}",
            failures.join("\n  - ")
        )));
    }
    add(gallery, pipeline.embedder_id(), &name, &faces)
}

/// Saves accepted faces of `name` (e.g. captures from the window), warning about faces that
/// look more like somebody else.
pub fn add(
    gallery: &mut Gallery,
    embedder: &str,
    name: &str,
    faces: &[NewFace],
) -> Result<PersonReport> {
    let name = crate::gallery::validate_name(name)?;
    let warnings = confusions(gallery, embedder, &name, faces)?;
    let added = gallery.add_faces(&name, faces)?;
    Ok(PersonReport { added, warnings })
}

/// Warns about new faces that are nearer to another enrolled person than to `name`'s own
/// faces: a sign of a wrong name, or of a capture too poor to tell people apart.
fn confusions(
    gallery: &Gallery,
    embedder: &str,
    name: &str,
    faces: &[NewFace],
) -> Result<Vec<String>> {
    let (own, others): (Vec<(String, Embedding)>, Vec<_>) = gallery
        .embeddings(embedder)?
        .into_iter()
        .partition(|(n, _)| n == name);
    if others.is_empty() {
        return Ok(Vec::new());
    }
    let own = Matcher::new(f32::INFINITY, own);
    let others = Matcher::new(f32::INFINITY, others);
    Ok(faces
        .iter()
        .filter_map(|face| {
            let other = others.identify(&face.embedding);
            let (other_name, other_distance) = (other.nearest?, other.distance?);
            let own_distance = own.identify(&face.embedding).distance;
            let closer = match own_distance {
                Some(d) => other_distance < d,
                // A new person: worth a warning only if they would be taken for somebody.
                None => other_distance < 0.55,
            };
            closer.then(|| {
                format!(
                    "{} is nearer to {other_name} ({other_distance:.2}) than to {name}{}",
                    face.source,
                    own_distance
                        .map(|d| format!(" ({d:.2})"))
                        .unwrap_or_default()
                )
            })
        })
        .collect())
}

/// What enrolling a folder of people did.
#[derive(Debug, Default)]
pub struct DatasetReport {
    /// (person, faces added)
    pub enrolled: Vec<(String, usize)>,
    /// Photos already in the gallery, left as they were.
    pub unchanged: usize,
    /// Photos skipped: each message names the photo and the reason.
    pub skipped: Vec<String>,
    pub warnings: Vec<String>,
}

/// Enrolls every person of a dataset laid out as `DIR/<person>/<photo>`. A photo that fails or
/// is rejected is skipped and reported. Each person is one transaction, so an interrupted
/// import leaves every completed person whole; running it again adds nothing twice.
pub fn dataset(
    pipeline: &mut Pipeline,
    gallery: &mut Gallery,
    enrollment: &Enrollment,
    dir: &Path,
) -> Result<DatasetReport> {
    let mut report = DatasetReport::default();
    for (name, photos) in dataset_people(dir)? {
        let (faces, failures) = enrollment.photos(pipeline, &photos);
        report.skipped.extend(failures);
        if faces.is_empty() {
            continue;
        }
        report
            .warnings
            .extend(confusions(gallery, pipeline.embedder_id(), &name, &faces)?);
        let added = gallery.add_faces(&name, &faces)?;
        report.unchanged += faces.len() - added;
        if added > 0 {
            report.enrolled.push((name, added));
        }
    }
    Ok(report)
}

/// The people of a dataset folder and their files, sorted so runs are reproducible. Anything
/// that is not a folder at the top level is ignored; inside a person's folder every entry is a
/// candidate photo, so unreadable ones are reported rather than silently passed over.
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
            .filter(|p| !p.is_dir())
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

/// What `gallery reembed` did.
#[derive(Debug, Default)]
pub struct ReembedReport {
    pub embedded: usize,
    /// Faces stored without an image (`keep_images: false`): only enrolling again helps.
    pub without_image: usize,
    /// Faces whose stored image no longer passes detection, with the reason.
    pub failed: Vec<String>,
}

/// Computes embeddings for the pipeline's embedder from the stored crops of faces that lack one.
pub fn reembed(
    pipeline: &mut Pipeline,
    gallery: &mut Gallery,
    progress: impl Fn(usize, usize),
) -> Result<ReembedReport> {
    let todo = gallery.faces_without(pipeline.embedder_id())?;
    let mut report = ReembedReport::default();
    for (done, face) in todo.iter().enumerate() {
        progress(done, todo.len());
        let Some(png) = &face.image_png else {
            report.without_image += 1;
            continue;
        };
        // Stored crops are tight around the face: the detector needs the margin.
        let image = photo::pad_for_detection(&quality::decode_png(png)?)?;
        let (faces, _) = pipeline.detect(&image)?;
        let Some(largest) = faces.iter().max_by_key(|f| f.rect[2] * f.rect[3]) else {
            report.failed.push(format!(
                "face {} of {}: no face found in its stored image",
                face.id, face.person
            ));
            continue;
        };
        let (embeddings, _, _) = pipeline.embed(&image, std::slice::from_ref(largest))?;
        if let Some(embedding) = embeddings.first() {
            gallery.add_embedding(face.id, pipeline.embedder_id(), embedding)?;
            report.embedded += 1;
        }
    }
    progress(todo.len(), todo.len());
    Ok(report)
}
