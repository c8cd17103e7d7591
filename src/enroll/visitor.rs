//! Enrolling a visitor: the best few crops of a group of unknown sightings go through the
//! quality gate and the duplicate check as photos do, and become a new person's faces or an
//! existing person's; the group's sightings are then that person's.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::identity::EmbedderId;
use crate::gallery::visitors::no_visitor;
use crate::gallery::{Actor, FaceId, Gallery, NewFace, PersonId, VisitorId, validate_name};
use crate::vision::photo;
use crate::vision::pipeline::Pipeline;

use super::{Enrollment, Expect, Taken, known};

/// Who a visitor is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Becomes {
    /// A person by this name: enrolled now if nobody has it, else that person.
    Name(String),
    /// A person enrolled before.
    PersonId(PersonId),
}

/// What enrolling a visitor did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VisitorEnrolled {
    pub person_id: PersonId,
    /// The faces added, from the group's best crops.
    pub added: Vec<FaceId>,
    /// Each crop not taken, and why (the quality gate, a duplicate, an unreadable crop).
    pub not_taken: Vec<String>,
    /// Faces nearer to somebody else than to the person: worth a look.
    pub warnings: Vec<String>,
    /// The group's sightings, now named as the person.
    pub sightings_named: usize,
}

/// A visitor's crops to judge, and who they will be.
pub struct Candidates {
    pub id: VisitorId,
    /// Somebody enrolled before, or `None` for somebody new called `name`.
    person: Option<PersonId>,
    name: String,
    /// Each crop (PNG) with what it is ("visitor 3 sighting 17"), best first; an error when
    /// it cannot be read.
    pub crops: Vec<(String, Result<Vec<u8>>)>,
    /// The person's faces enrolled before: a crop repeating one is a duplicate.
    pub expect: Expect,
}

/// The best `best` crops of visitor `id` (most evidence first), to enroll as `becomes`, with
/// the faces of `embedder` they must not repeat.
pub fn candidates(
    gallery: &dyn Gallery,
    embedder: &EmbedderId,
    id: VisitorId,
    becomes: &Becomes,
    best: usize,
) -> Result<Candidates> {
    let group = gallery
        .visitors(best)?
        .into_iter()
        .find(|v| v.id == id)
        .ok_or_else(|| no_visitor(id))?;
    let (person, name) = match becomes {
        Becomes::Name(name) => {
            let name = validate_name(name)?;
            (known(gallery, &name)?, name)
        }
        Becomes::PersonId(person) => {
            let summary = gallery.person(*person)?;
            (Some(summary.id), summary.name)
        }
    };
    let crops = group
        .samples
        .into_iter()
        .map(|sighting| {
            let crop = gallery.sighting_crop(sighting).and_then(|crop| {
                crop.ok_or_else(|| Error::NotFound("its crop was forgotten meanwhile".into()))
            });
            (format!("visitor {} sighting {}", id.0, sighting.0), crop)
        })
        .collect();
    Ok(Candidates {
        id,
        person,
        name,
        crops,
        expect: Expect::enrolled(gallery, embedder, person)?,
    })
}

impl Candidates {
    /// Saves the `faces` accepted of the crops as the person, as `actor`, and names the
    /// group's sightings as them; `not_taken` says why the other crops were not. Refused,
    /// with every reason, when no crop passed.
    pub fn save(
        self,
        gallery: &dyn Gallery,
        enrollment: &Enrollment,
        embedder: &EmbedderId,
        faces: &[NewFace],
        not_taken: Vec<String>,
        actor: &Actor,
    ) -> Result<VisitorEnrolled> {
        if faces.is_empty() {
            return Err(Error::InvalidInput(format!(
                "no crop of visitor {} passed enrollment; nothing was enrolled:\n  - {}",
                self.id.0,
                not_taken.join("\n  - ")
            )));
        }
        let (person_id, report) = match self.person {
            Some(person) => (
                person,
                enrollment.add_to(gallery, embedder, person, faces, actor)?,
            ),
            None => {
                let report = enrollment.add(gallery, embedder, &self.name, faces, actor)?;
                (gallery.find(&self.name)?, report)
            }
        };
        let sightings_named = gallery.name_visitor(self.id, person_id)?;
        Ok(VisitorEnrolled {
            person_id,
            added: report.added,
            not_taken,
            warnings: report.warnings,
            sightings_named,
        })
    }
}

/// Enrolls visitor `id` as `becomes` from at most `best` of its crops, with `pipeline`, as
/// `actor`: [`candidates`], each judged as a photo is, then [`Candidates::save`].
pub fn visitor(
    pipeline: &mut Pipeline,
    gallery: &dyn Gallery,
    enrollment: &Enrollment,
    id: VisitorId,
    becomes: &Becomes,
    best: usize,
    actor: &Actor,
) -> Result<VisitorEnrolled> {
    let embedder = pipeline.embedder_id();
    let mut candidates = candidates(gallery, &embedder, id, becomes, best)?;
    let mut faces = Vec::new();
    let mut not_taken = Vec::new();
    for (what, crop) in std::mem::take(&mut candidates.crops) {
        let judged = crop.and_then(|crop| {
            let photo = photo::decode(&crop, &enrollment.photo_limits, Path::new(&what))?;
            enrollment.judge_photo(pipeline, what.clone(), photo, &candidates.expect)
        });
        match judged {
            Ok(Ok(face)) => {
                candidates.expect.taken.push(Taken {
                    what,
                    embedding: face.embedding.clone(),
                });
                faces.push(face);
            }
            Ok(Err(rejection)) => not_taken.push(format!("{what}: {rejection}")),
            Err(e) => not_taken.push(format!("{what}: {}", e.report())),
        }
    }
    candidates.save(gallery, enrollment, &embedder, &faces, not_taken, actor)
}
