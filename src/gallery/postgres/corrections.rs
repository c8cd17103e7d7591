//! Corrections in the PostgreSQL store: a negative example is a row of `negative`, its vector
//! sealed for that column (a sighting's is opened from the sighting's seal and sealed again),
//! made in the transaction that unnames the sighting or removes the face; a removed face's
//! bytes leave the tables' files as a removed face's do.

use postgres::Transaction;

use crate::base::error::Result;
use crate::base::identity::{EmbedderId, Enrolled, PersonId};
use crate::gallery::audit::{Actor, AuditAction};
use crate::gallery::corrections::{
    self, Corrected, Corrections, Merged, face_source, merged_detail, moved_detail, photo_taken,
    same_person, sighting_source, sighting_unknown, sighting_without_embedding,
};
use crate::gallery::export::ExportPerson;
use crate::gallery::model::{FaceId, no_face, now};
use crate::gallery::sightings::{SightingId, no_sighting};
use crate::gallery::sql;
use crate::gallery::stored::{self, vector_bytes};

use super::seal::{Column, Seal};
use super::{PostgresGallery, audit, count_of, db_error, each_row, notify, unopened, xact_id};

impl Corrections for PostgresGallery {
    fn not_in_sighting(&self, id: SightingId, actor: &Actor) -> Result<Corrected> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let row = tx
            .query_opt(&format!("{} FOR UPDATE", sql::SIGHTING_EMBEDDING), &[&id.0])
            .map_err(&db)?
            .ok_or_else(|| no_sighting(id))?;
        let person: Option<i64> = self.columns.at(&row, 0)?;
        let person = PersonId(person.ok_or_else(|| sighting_unknown(id))?);
        let embedder: Option<String> = self.columns.at(&row, 1)?;
        let vector: Option<Vec<u8>> = self.columns.at(&row, 2)?;
        let (Some(embedder), Some(vector)) = (embedder, vector) else {
            return Err(sighting_without_embedding(id));
        };
        let vector = self.opened(Column::SightingVector, vector, || {
            format!("the embedding of sighting {}", id.0)
        })?;
        self.insert_negative(&mut tx, person, &embedder, &vector, &sighting_source(id))?;
        tx.execute(sql::UNNAME_SIGHTING, &[&id.0]).map_err(&db)?;
        let detail = corrections::sighting_detail(id, person);
        audit::log(&mut tx, actor, AuditAction::NotThisPerson, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(Corrected {
            person,
            examples: 1,
        })
    }

    fn not_in_face(&self, person: PersonId, face: FaceId, actor: &Actor) -> Result<Corrected> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        self.lock_person(&mut tx, person)?;
        let rows = tx
            .query(sql::FACE_OF_PERSON_EMBEDDINGS, &[&face.0, &person.0])
            .map_err(&db)?;
        for row in &rows {
            let embedder: String = self.columns.at(row, 0)?;
            let vector = self.opened(Column::Vector, self.columns.at(row, 1)?, || {
                format!("the {embedder} embedding of face {}", face.0)
            })?;
            self.insert_negative(&mut tx, person, &embedder, &vector, &face_source(face))?;
        }
        if tx
            .execute(sql::REMOVE_FACE, &[&face.0, &person.0])
            .map_err(&db)?
            == 0
        {
            return Err(no_face(person, face));
        }
        let detail = corrections::face_detail(person, face, rows.len());
        audit::log(&mut tx, actor, AuditAction::NotThisPerson, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        let xid = xact_id(&mut tx, &self.columns)?;
        tx.commit().map_err(&db)?;
        self.forget_removed(&mut client, &xid);
        Ok(Corrected {
            person,
            examples: rows.len(),
        })
    }

    fn merge_people(&self, into: PersonId, from: PersonId, actor: &Actor) -> Result<Merged> {
        if into == from {
            return Err(same_person(into));
        }
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        // Locked in the order of their ids, so that two merges of the same two cannot wait for
        // each other.
        let (first, second) = if into.0 < from.0 {
            (into, from)
        } else {
            (from, into)
        };
        self.lock_person(&mut tx, first)?;
        self.lock_person(&mut tx, second)?;
        let duplicates = count_of(
            tx.execute(sql::MERGE_DUPLICATE_FACES, &[&from.0, &into.0])
                .map_err(&db)?,
        );
        let mut moved = |sql: &str| {
            tx.execute(sql, &[&into.0, &from.0])
                .map(count_of)
                .map_err(&db)
        };
        let merged = Merged {
            faces: moved(sql::MERGE_FACES)?,
            duplicates,
            sightings: moved(sql::MERGE_SIGHTINGS)?,
            negatives: moved(sql::MERGE_NEGATIVES)?,
            own_threshold: moved(sql::MERGE_THRESHOLD)? > 0,
        };
        moved(sql::MERGE_LAST_SEEN)?;
        tx.execute(sql::REMOVE_PERSON, &[&from.0]).map_err(&db)?;
        let detail = merged_detail(into, from, &merged);
        audit::log(&mut tx, actor, AuditAction::Merge, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        let xid = xact_id(&mut tx, &self.columns)?;
        tx.commit().map_err(&db)?;
        if duplicates > 0 {
            self.forget_removed(&mut client, &xid);
        }
        Ok(merged)
    }

    fn move_face(&self, from: PersonId, face: FaceId, to: PersonId, actor: &Actor) -> Result<()> {
        if from == to {
            return Err(same_person(to));
        }
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        // A removal of `to` waits for this, or committed first and the face is not moved.
        self.lock_person(&mut tx, to)?;
        let taken = tx
            .query_opt(sql::PHOTO_TAKEN, &[&face.0, &to.0])
            .map_err(&db)?;
        if taken.is_some() {
            return Err(photo_taken(face, to));
        }
        if tx
            .execute(sql::MOVE_FACE, &[&to.0, &face.0, &from.0])
            .map_err(&db)?
            == 0
        {
            return Err(no_face(from, face));
        }
        let detail = moved_detail(from, face, to);
        audit::log(&mut tx, actor, AuditAction::MoveFace, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn negatives(&self, embedder: &EmbedderId) -> Result<Vec<Enrolled>> {
        self.enrolled(
            sql::NEGATIVES,
            Column::NegativeVector,
            embedder,
            |person, id| format!("negative example {id} of person {}", person.0),
        )
    }
}

impl PostgresGallery {
    /// Adds the negative examples of `person` (as an export file has them) that the gallery
    /// lacks, so that an import run again adds none twice.
    pub(super) fn import_negatives(
        &self,
        tx: &mut Transaction<'_>,
        id: PersonId,
        person: &ExportPerson,
    ) -> Result<()> {
        let mut stored = Vec::new();
        for row in &tx
            .query(sql::PERSON_NEGATIVES, &[&id.0])
            .map_err(self.db())?
        {
            let embedder: String = self.columns.at(row, 0)?;
            let vector = self.opened(Column::NegativeVector, self.columns.at(row, 1)?, || {
                format!("a negative example of person {}", id.0)
            })?;
            stored.extend(stored::exported(embedder, &vector));
        }
        for example in person.new_negatives(&stored) {
            let vector = vector_bytes(&example.vector);
            self.insert_negative(tx, id, example.embedder.as_str(), &vector, sql::IMPORTED)?;
        }
        Ok(())
    }

    /// Keeps `vector` (opened) as a negative example of `person`, sealed for its column.
    fn insert_negative(
        &self,
        tx: &mut Transaction<'_>,
        person: PersonId,
        embedder: &str,
        vector: &[u8],
        source: &str,
    ) -> Result<()> {
        let sealed = self.seal.seal(Column::NegativeVector, vector)?;
        tx.execute(
            sql::INSERT_NEGATIVE,
            &[&person.0, &embedder, &&*sealed, &now(), &source],
        )
        .map_err(self.db())?;
        Ok(())
    }
}

/// Rewrites every negative example from `from`'s seal to `to`'s (`gallery encrypt` and
/// `decrypt`).
pub(super) fn reseal(
    tx: &mut Transaction<'_>,
    from: &Seal,
    to: &Seal,
    location: &str,
) -> Result<()> {
    let db = |e| db_error(location, e);
    each_row(
        tx,
        location,
        "SELECT id, vector FROM negative",
        |tx, row| {
            let id: i64 = row.try_get(0).map_err(db)?;
            let vector = from
                .open(Column::NegativeVector, row.try_get(1).map_err(db)?)
                .ok_or_else(|| unopened(location, &format!("negative example {id}")))?;
            tx.execute(
                "UPDATE negative SET vector = $2 WHERE id = $1",
                &[&id, &to.seal(Column::NegativeVector, &vector)?],
            )
            .map_err(db)?;
            Ok(())
        },
    )
}
