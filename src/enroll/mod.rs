//! Adding people: a capture or a photo passes the quality gate, is embedded, and is added to
//! the gallery; and the gallery's stored crops are embedded again for another embedder.

pub mod quality;
pub mod video;
pub mod visitor;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use opencv::core::Mat;

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, Enrolled};
use crate::base::image::decode_png;
use crate::gallery::{Actor, FaceId, Gallery, NewFace, PersonId, validate_name};
use crate::vision::detect::Detection;
use crate::vision::matcher::Matcher;
use crate::vision::photo::{self, PhotoLimits, read_file};
use crate::vision::pipeline::{EnrollViews, Pipeline};
use crate::vision::pose::{HeadPose, Pose};

use self::quality::{Accepted, QualityGate, Rejection};

/// How captures are judged and what is kept of them.
#[derive(Debug, Clone)]
pub struct Enrollment {
    pub gate: QualityGate,
    /// What each accepted face is embedded from.
    pub views: EnrollViews,
    pub keep_images: bool,
    /// The recognition threshold: a new person nearer than this to somebody enrolled would be
    /// taken for them, which is worth a warning.
    pub threshold: f32,
    /// How big a photo may be.
    pub photo_limits: PhotoLimits,
}

/// A face already taken of the person being enrolled: a new capture must not repeat it.
#[derive(Debug, Clone)]
pub struct Taken {
    /// What it is, for the rejection's reason: "capture 2", a photo's path.
    pub what: String,
    pub embedding: Embedding,
}

impl Taken {
    /// The captures accepted so far in a guided enrollment (the window's panel, the console's
    /// camera), as a new capture must not repeat them: "capture 1", "capture 2", ...
    pub fn captures(faces: &[NewFace]) -> Vec<Taken> {
        faces
            .iter()
            .enumerate()
            .map(|(i, face)| Taken {
                what: format!("capture {}", i + 1),
                embedding: face.embedding.clone(),
            })
            .collect()
    }
}

/// What a capture is judged against besides the quality gate.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// The pose asked for: a capture showing another is rejected.
    pub pose: Option<Pose>,
    /// Faces taken before: a capture nearer than `duplicate_below` to one is rejected.
    pub taken: Vec<Taken>,
}

impl Expect {
    /// The faces of `person` in the gallery from `embedder` (none for somebody new).
    pub fn enrolled(
        gallery: &dyn Gallery,
        embedder: &EmbedderId,
        person: Option<PersonId>,
    ) -> Result<Expect> {
        Ok(Expect::among(&gallery.embeddings(embedder)?, person))
    }

    /// The faces of `person` among the gallery's `enrolled` faces (none for somebody new).
    pub fn among(enrolled: &[Enrolled], person: Option<PersonId>) -> Expect {
        let taken = enrolled
            .iter()
            .filter(|e| person.is_some() && e.id == person)
            .map(|e| Taken {
                what: "a face already enrolled for this person".into(),
                embedding: e.embedding.clone(),
            })
            .collect();
        Expect { pose: None, taken }
    }

    /// What a guided capture of `name` (new, or enrolled already) is judged against: the
    /// pose `asked`, the person's faces in the gallery and the captures `taken` before it. The
    /// window's panel and the console's camera ask the same.
    pub fn for_capture(
        gallery: &dyn Gallery,
        embedder: &EmbedderId,
        name: &str,
        asked: Option<Pose>,
        taken: Vec<Taken>,
    ) -> Result<Expect> {
        let person = known(gallery, &validate_name(name)?)?;
        let mut expect = Expect::enrolled(gallery, embedder, person)?;
        expect.pose = asked;
        expect.taken.extend(taken);
        Ok(expect)
    }

    /// The taken face nearest to `embedding` if it is nearer than `below`.
    fn duplicate(&self, embedding: &Embedding, below: f32) -> Option<Rejection> {
        self.taken
            .iter()
            .map(|t| (t, t.embedding.distance(embedding)))
            .filter(|&(_, d)| d < below)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, distance)| Rejection::Duplicate {
                distance,
                of: t.what.clone(),
            })
    }
}

impl Enrollment {
    /// Judges and embeds a capture whose faces were already detected: the quality gate, then
    /// the pose `expect`ed, then whether it repeats a face taken. `Ok(Err(_))` says why it was
    /// rejected.
    pub fn judge(
        &self,
        pipeline: &mut Pipeline,
        image: &Mat,
        faces: &[Detection],
        source: String,
        source_sha256: Option<String>,
        expect: &Expect,
    ) -> Result<std::result::Result<NewFace, Rejection>> {
        let Accepted { face, sharpness } = match self.gate.check(image, faces)? {
            Ok(accepted) => accepted,
            Err(rejection) => return Ok(Err(rejection)),
        };
        let pose = pipeline.head_pose(image, &face)?.map(HeadPose::pose);
        if let Some(asked) = expect.pose
            && pose != Some(asked)
        {
            return Ok(Err(Rejection::WrongPose { asked, seen: pose }));
        }
        let embedding = pipeline
            .embed_enrolled(image, &face, self.views)?
            .ok_or_else(|| Error::ModelOutput("the embedder returned no embedding".into()))?;
        // Under a strict threshold a copy is what would match: nothing farther counts as one.
        let copy_within = self.gate.duplicate_below.min(self.threshold);
        if let Some(duplicate) = expect.duplicate(&embedding, copy_within) {
            return Ok(Err(duplicate));
        }
        Ok(Ok(NewFace {
            embedder: pipeline.embedder_id(),
            embedding,
            source,
            source_sha256,
            confidence: face.confidence,
            face_px: face.bbox.shorter_side(),
            sharpness,
            pose,
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
        let photo = photo::read(path, &self.photo_limits)?;
        self.judge_photo(
            pipeline,
            path.display().to_string(),
            photo,
            &Expect::default(),
        )
    }

    /// Judges and embeds a decoded photo; `source` says where it came from (a path, an
    /// upload). A tight face crop is looked at with a margin, as `detect_photo` does.
    pub fn judge_photo(
        &self,
        pipeline: &mut Pipeline,
        source: String,
        photo: photo::Photo,
        expect: &Expect,
    ) -> Result<std::result::Result<NewFace, Rejection>> {
        let found = pipeline.detect_photo(photo.image)?;
        self.judge(
            pipeline,
            &found.image,
            &found.faces,
            source,
            Some(photo.sha256),
            expect,
        )
    }

    /// Judges and embeds each photo, except those whose sha256 is in `enrolled` (photos of
    /// the person enrolled before), which are counted and not even decoded. A photo repeating
    /// a face of `expect` or an earlier photo is rejected as a duplicate.
    pub fn photos(
        &self,
        pipeline: &mut Pipeline,
        paths: &[PathBuf],
        enrolled: &HashSet<String>,
        mut expect: Expect,
    ) -> Judged {
        let mut judged = Judged::default();
        for path in paths {
            let verdict = read_file(path, &self.photo_limits).and_then(|bytes| {
                let sha256 = photo::sha256(&bytes);
                if enrolled.contains(&sha256) {
                    return Ok(None);
                }
                let photo = photo::decode_hashed(&bytes, sha256, &self.photo_limits, path)?;
                self.judge_photo(pipeline, path.display().to_string(), photo, &expect)
                    .map(Some)
            });
            match verdict {
                Ok(None) => judged.already += 1,
                Ok(Some(Ok(face))) => {
                    expect.taken.push(Taken {
                        what: path.display().to_string(),
                        embedding: face.embedding.clone(),
                    });
                    judged.faces.push(face);
                }
                Ok(Some(Err(rejection))) => judged
                    .failures
                    .push(format!("{}: {rejection}", path.display())),
                Err(e) => judged.failures.push(e.report()),
            }
        }
        judged
    }

    /// Saves accepted faces of `name` (e.g. captures from the window), enrolled now if new,
    /// as `actor`, warning about faces that look more like somebody else.
    pub fn add(
        &self,
        gallery: &dyn Gallery,
        embedder: &EmbedderId,
        name: &str,
        faces: &[NewFace],
        actor: &Actor,
    ) -> Result<PersonReport> {
        let name = validate_name(name)?;
        match known(gallery, &name)? {
            Some(person) => self.add_to(gallery, embedder, person, faces, actor),
            None => self.create(gallery, embedder, &name, faces, actor),
        }
    }

    /// Enrolls `name`, new, with accepted faces in one transaction; should somebody have
    /// enrolled the name meanwhile, the faces go to them.
    fn create(
        &self,
        gallery: &dyn Gallery,
        embedder: &EmbedderId,
        name: &str,
        faces: &[NewFace],
        actor: &Actor,
    ) -> Result<PersonReport> {
        let warnings = self.confusions(gallery, embedder, None, name, faces)?;
        match gallery.create_person(name, faces, actor) {
            Ok((_, added)) => Ok(PersonReport { added, warnings }),
            Err(Error::NameTaken(_)) => {
                self.add_to(gallery, embedder, gallery.find(name)?, faces, actor)
            }
            Err(e) => Err(e),
        }
    }

    /// Saves accepted faces of `person`, as `actor`, warning about faces that look more like
    /// somebody else; [`Error::NotFound`] when they were removed meanwhile.
    pub fn add_to(
        &self,
        gallery: &dyn Gallery,
        embedder: &EmbedderId,
        person: PersonId,
        faces: &[NewFace],
        actor: &Actor,
    ) -> Result<PersonReport> {
        let name = gallery.person(person)?.name;
        let warnings = self.confusions(gallery, embedder, Some(person), &name, faces)?;
        let added = gallery.add_faces_to(person, faces, actor)?;
        Ok(PersonReport { added, warnings })
    }

    /// Warns about new faces that are nearer to another enrolled person than to `person`'s
    /// own faces (`name` says who they are): a sign of a wrong name, or of a capture too poor
    /// to tell people apart.
    fn confusions(
        &self,
        gallery: &dyn Gallery,
        embedder: &EmbedderId,
        person: Option<PersonId>,
        name: &str,
        faces: &[NewFace],
    ) -> Result<Vec<String>> {
        let (own, others): (Vec<Enrolled>, Vec<Enrolled>) = gallery
            .embeddings(embedder)?
            .into_iter()
            .partition(|e| person.is_some() && e.id == person);
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
                    None => other_distance <= self.threshold,
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
}

/// Photos judged for enrollment.
#[derive(Debug, Default)]
pub struct Judged {
    /// The accepted faces, embedded.
    pub faces: Vec<NewFace>,
    /// Photos enrolled for the person before, skipped unread.
    pub already: usize,
    /// For every other photo, a message naming it and why it failed.
    pub failures: Vec<String>,
}

/// What enrolling one person did.
#[derive(Debug, Default)]
pub struct PersonReport {
    /// The faces added (a photo enrolled before is not added again).
    pub added: Vec<FaceId>,
    /// Warnings worth showing: a capture nearer to somebody else than to its own person.
    pub warnings: Vec<String>,
}

/// Enrolls `name` from `photos`. All or nothing: if any photo fails or is rejected, nothing is
/// saved and the error names every photo and why.
pub fn person(
    pipeline: &mut Pipeline,
    gallery: &dyn Gallery,
    enrollment: &Enrollment,
    name: &str,
    photos: &[PathBuf],
    actor: &Actor,
) -> Result<PersonReport> {
    let name = validate_name(name)?;
    if photos.is_empty() {
        return Err(Error::InvalidInput(
            "give at least one photo to enroll".into(),
        ));
    }
    let expect = Expect::enrolled(gallery, &pipeline.embedder_id(), known(gallery, &name)?)?;
    let Judged {
        faces, failures, ..
    } = enrollment.photos(pipeline, photos, &HashSet::new(), expect);
    if !failures.is_empty() {
        return Err(Error::InvalidInput(format!(
            "nothing was enrolled; these photos failed:\n  - {}",
            failures.join("\n  - ")
        )));
    }
    enrollment.add(gallery, &pipeline.embedder_id(), &name, &faces, actor)
}

/// The person called `name`, `None` when nobody is yet.
pub(crate) fn known(gallery: &dyn Gallery, name: &str) -> Result<Option<PersonId>> {
    match gallery.find(name) {
        Ok(id) => Ok(Some(id)),
        Err(Error::UnknownPerson(_)) => Ok(None),
        Err(e) => Err(e),
    }
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
    gallery: &dyn Gallery,
    enrollment: &Enrollment,
    dir: &Path,
    actor: &Actor,
) -> Result<DatasetReport> {
    let mut report = DatasetReport::default();
    // Read once: each person's folder is only compared with their own faces enrolled before.
    let enrolled_before = gallery.embeddings(&pipeline.embedder_id())?;
    for DatasetPerson { name, photos } in dataset_people(dir)? {
        // A folder whose name cannot be a person's is skipped and said, like a bad photo; the
        // folders after it are still enrolled.
        let name = match validate_name(&name) {
            Ok(name) => name,
            Err(e) => {
                report
                    .skipped
                    .push(format!("{}: {}", dir.join(&name).display(), e.report()));
                continue;
            }
        };
        let before = known(gallery, &name)?;
        let enrolled = match before {
            Some(person) => gallery.source_hashes(person)?,
            None => HashSet::new(),
        };
        let expect = Expect::among(&enrolled_before, before);
        let Judged {
            faces,
            already,
            failures,
        } = enrollment.photos(pipeline, &photos, &enrolled, expect);
        report.unchanged += already;
        report.skipped.extend(failures);
        if faces.is_empty() {
            continue;
        }
        let embedder = pipeline.embedder_id();
        let person = match before {
            Some(person) => enrollment.add_to(gallery, &embedder, person, &faces, actor)?,
            None => enrollment.create(gallery, &embedder, &name, &faces, actor)?,
        };
        report.warnings.extend(person.warnings);
        let added = person.added.len();
        report.unchanged += faces.len() - added;
        if added > 0 {
            report.enrolled.push((name, added));
        }
    }
    Ok(report)
}

/// One person's folder of a dataset.
#[derive(Debug, Clone)]
pub struct DatasetPerson {
    /// The folder's name.
    pub name: String,
    /// Every file in it, sorted.
    pub photos: Vec<PathBuf>,
}

/// The people of a dataset folder and their files, sorted so runs are reproducible. Anything
/// that is not a folder at the top level is ignored; inside a person's folder every entry is a
/// candidate photo, so unreadable ones are reported rather than silently passed over.
pub fn dataset_people(dir: &Path) -> Result<Vec<DatasetPerson>> {
    let read = |d: &Path| -> Result<Vec<PathBuf>> {
        let mut paths = std::fs::read_dir(d)
            .map_err(|e| Error::read(d, e))?
            .map(|entry| entry.map(|e| e.path()).map_err(|e| Error::read(d, e)))
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
            people.push(DatasetPerson {
                name,
                photos: files,
            });
        }
    }
    if people.is_empty() {
        return Err(Error::InvalidInput(format!(
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

/// Computes embeddings for the pipeline's embedder from the stored crops of faces that lack one,
/// from `views` as enrollment does.
pub fn reembed(
    pipeline: &mut Pipeline,
    gallery: &dyn Gallery,
    views: EnrollViews,
    progress: &dyn Fn(usize, usize),
) -> Result<ReembedReport> {
    let embedder = pipeline.embedder_id();
    let todo = gallery.faces_without(&embedder)?;
    let mut report = ReembedReport::default();
    for (done, face) in todo.iter().enumerate() {
        progress(done, todo.len());
        let Some(png) = &face.image_png else {
            report.without_image += 1;
            continue;
        };
        // Stored crops are tight around the face: the detector needs the margin.
        let image = photo::pad_for_detection(&decode_png(png)?)?;
        let faces = pipeline.detect(&image)?;
        let Some(largest) = Detection::largest(&faces) else {
            report.failed.push(format!(
                "face {} of {}: no face found in its stored image",
                face.id.0, face.person
            ));
            continue;
        };
        if let Some(embedding) = pipeline.embed_enrolled(&image, &largest, views)? {
            gallery.add_embedding(face.id, &embedder, &embedding)?;
            report.embedded += 1;
        }
    }
    progress(todo.len(), todo.len());
    Ok(report)
}
