//! Corrections in the SQLite store: a negative example is a row of `negative`, made in the
//! transaction that unnames the sighting or removes the face; the removed face's bytes are
//! zeroed (`secure_delete`) and the log emptied, as when a face is removed.

use rusqlite::{OptionalExtension as _, params};

use crate::base::error::Result;
use crate::base::identity::{EmbedderId, Enrolled, PersonId};
use crate::gallery::audit::{Actor, AuditAction};
use crate::gallery::corrections::{
    self, Corrected, Corrections, Merged, face_source, merged_detail, moved_detail, photo_taken,
    same_person, sighting_source, sighting_unknown, sighting_without_embedding,
};
use crate::gallery::model::{FaceId, no_face, no_person, now};
use crate::gallery::sightings::{SightingId, no_sighting};
use crate::gallery::sql;

use super::{SqliteGallery, audit, begin, exists};

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

    fn merge_people(&self, into: PersonId, from: PersonId, actor: &Actor) -> Result<Merged> {
        if into == from {
            return Err(same_person(into));
        }
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        for id in [into, from] {
            if !exists(&tx, id).map_err(&db)? {
                return Err(no_person(id));
            }
        }
        let duplicates = tx
            .execute(sql::MERGE_DUPLICATE_FACES, [from.0, into.0])
            .map_err(&db)?;
        let moved = |sql: &str| tx.execute(sql, [into.0, from.0]).map_err(&db);
        let merged = Merged {
            faces: moved(sql::MERGE_FACES)?,
            duplicates,
            sightings: moved(sql::MERGE_SIGHTINGS)?,
            negatives: moved(sql::MERGE_NEGATIVES)?,
            own_threshold: moved(sql::MERGE_THRESHOLD)? > 0,
        };
        moved(sql::MERGE_LAST_SEEN)?;
        tx.execute(sql::REMOVE_PERSON, [from.0]).map_err(&db)?;
        let detail = merged_detail(into, from, &merged);
        audit::log(&tx, actor, AuditAction::Merge, &detail).map_err(&db)?;
        tx.commit().map_err(&db)?;
        if duplicates > 0 {
            self.forget_freed_pages(&conn);
        }
        Ok(merged)
    }

    fn move_face(&self, from: PersonId, face: FaceId, to: PersonId, actor: &Actor) -> Result<()> {
        if from == to {
            return Err(same_person(to));
        }
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        if !exists(&tx, to).map_err(&db)? {
            return Err(no_person(to));
        }
        let taken = tx
            .query_row(sql::PHOTO_TAKEN, [face.0, to.0], |_| Ok(()))
            .optional()
            .map_err(&db)?;
        if taken.is_some() {
            return Err(photo_taken(face, to));
        }
        if tx
            .execute(sql::MOVE_FACE, [to.0, face.0, from.0])
            .map_err(&db)?
            == 0
        {
            return Err(no_face(from, face));
        }
        let detail = moved_detail(from, face, to);
        audit::log(&tx, actor, AuditAction::MoveFace, &detail).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn negatives(&self, embedder: &EmbedderId) -> Result<Vec<Enrolled>> {
        self.enrolled(sql::NEGATIVES, embedder)
    }
}
