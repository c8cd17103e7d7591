//! Enrolling a visitor: the best few crops of a group of unknown sightings go through the
//! quality gate and the duplicate check as photos do, and become a new person's faces or an
//! existing person's; the group's sightings are then that person's.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::gallery::{Actor, FaceId, Gallery, PersonId, VisitorId, validate_name};
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

/// Enrolls visitor `id` as `becomes` from at most `best` of its crops (most evidence first),
/// as `actor`. Refused, with every crop's reason, when no crop passes.
pub fn visitor(
    pipeline: &mut Pipeline,
    gallery: &dyn Gallery,
    enrollment: &Enrollment,
    id: VisitorId,
    becomes: &Becomes,
    best: usize,
    actor: &Actor,
) -> Result<VisitorEnrolled> {
    let group = gallery
        .visitors(best)?
        .into_iter()
        .find(|v| v.id == id)
        .ok_or_else(|| crate::gallery::visitors::no_visitor(id))?;
    // Somebody enrolled before, or the name of somebody new.
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
    let mut expect = Expect::enrolled(gallery, &pipeline.embedder_id(), person)?;
    let mut faces = Vec::new();
    let mut not_taken = Vec::new();
    for sighting in group.samples {
        let what = format!("visitor {} sighting {}", id.0, sighting.0);
        let judged = gallery.sighting_crop(sighting).and_then(|crop| {
            let crop = crop.ok_or_else(|| {
                Error::NotFound("its crop was forgotten meanwhile".to_owned())
            })?;
            let photo = photo::decode(&crop, &enrollment.photo_limits, Path::new(&what))?;
            enrollment.judge_photo(pipeline, what.clone(), photo, &expect)
        });
        match judged {
            Ok(Ok(face)) => {
                expect.taken.push(Taken {
                    what: what.clone(),
                    embedding: face.embedding.clone(),
                });
                faces.push(face);
            }
            Ok(Err(rejection)) => not_taken.push(format!("{what}: {rejection}")),
            Err(e) => not_taken.push(format!("{what}: {}", e.report())),
        }
    }
    if faces.is_empty() {
        return Err(Error::InvalidInput(format!(
            "no crop of visitor {} passed enrollment; nothing was enrolled:\n  - {}",
            id.0,
            not_taken.join("\n  - ")
        )));
    }
    let embedder = pipeline.embedder_id();
    let (person_id, report) = match person {
        Some(person) => (
            person,
            enrollment.add_to(gallery, &embedder, person, &faces, actor)?,
        ),
        None => {
            let report = enrollment.add(gallery, &embedder, &name, &faces, actor)?;
            (gallery.find(&name)?, report)
        }
    };
    let sightings_named = gallery.name_visitor(id, person_id)?;
    Ok(VisitorEnrolled {
        person_id,
        added: report.added,
        not_taken,
        warnings: report.warnings,
        sightings_named,
    })
}
