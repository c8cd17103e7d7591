//! Corrections in the SQLite store: a negative example is a row of `negative`, made in the
//! transaction that unnames the sighting or removes the face; the removed face's bytes are
//! zeroed (`secure_delete`) and the log emptied, as when a face is removed.

use rusqlite::{OptionalExtension as _, params};

use crate::base::error::Result;
use crate::base::identity::{EmbedderId, Enrolled, PersonId};
use crate::gallery::audit::{Actor, AuditAction};
use crate::gallery::corrections::{
    self, Corrected, Corrections, face_source, sighting_source, sighting_unknown,
    sighting_without_embedding,
};
use crate::gallery::model::{FaceId, no_face, now};
use crate::gallery::sightings::{SightingId, no_sighting};
use crate::gallery::sql;

use super::{SqliteGallery, audit, begin};

impl Corrections for SqliteGallery {
    fn not_in_sighting(&self, id: SightingId, actor: &Actor) -> Result<Corrected> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let (person, embedder, vector): (Option<i64>, Option<String>, Option<Vec<u8>>) = tx
            .query_row(sql::SIGHTING_EMBEDDING, [id.0], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(&db)?
            .ok_or_else(|| no_sighting(id))?;
        let person = PersonId(person.ok_or_else(|| sighting_unknown(id))?);
        let (Some(embedder), Some(vector)) = (embedder, vector) else {
            return Err(sighting_without_embedding(id));
        };
        tx.execute(
            sql::INSERT_NEGATIVE,
            params![person.0, embedder, vector, now(), sighting_source(id)],
        )
        .map_err(&db)?;
        tx.execute(sql::UNNAME_SIGHTING, [id.0]).map_err(&db)?;
        let detail = corrections::sighting_detail(id, person);
        audit::log(&tx, actor, AuditAction::NotThisPerson, &detail).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(Corrected {
            person,
            examples: 1,
        })
    }

    fn not_in_face(&self, person: PersonId, face: FaceId, actor: &Actor) -> Result<Corrected> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let embeddings: Vec<(String, Vec<u8>)> = tx
            .prepare(sql::FACE_OF_PERSON_EMBEDDINGS)
            .and_then(|mut stmt| {
                stmt.query_map([face.0, person.0], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect()
            })
            .map_err(&db)?;
        for (embedder, vector) in &embeddings {
            tx.execute(
                sql::INSERT_NEGATIVE,
                params![person.0, embedder, vector, now(), face_source(face)],
            )
            .map_err(&db)?;
        }
        if tx
            .execute(sql::REMOVE_FACE, [face.0, person.0])
            .map_err(&db)?
            == 0
        {
            return Err(no_face(person, face));
        }
        let detail = corrections::face_detail(person, face, embeddings.len());
        audit::log(&tx, actor, AuditAction::NotThisPerson, &detail).map_err(&db)?;
        tx.commit().map_err(&db)?;
        self.forget_freed_pages(&conn);
        Ok(Corrected {
            person,
            examples: embeddings.len(),
        })
    }

    fn negatives(&self, embedder: &EmbedderId) -> Result<Vec<Enrolled>> {
        self.enrolled(sql::NEGATIVES, embedder)
    }
}
