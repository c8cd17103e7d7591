//! Sightings in the PostgreSQL store: an unknown face's crop and embedding sealed like faces',
//! written in batches by each machine's sightings writer, read a page at a time.

use postgres::types::ToSql;
use postgres::{Row, Transaction};

use crate::base::error::Result;
use crate::base::identity::EmbedderId;
use crate::gallery::PersonId;
use crate::gallery::audit::{Actor, AuditAction};
use crate::gallery::corrections::sighting_source;
use crate::gallery::sightings::{
    self, Cutoffs, KeptEmbedding, Param, Purged, Sighting, SightingId, SightingQuery,
    SightingRecord, Sightings, checked_limit, no_sighting,
};
use crate::gallery::sql;
use crate::gallery::stored::vector_bytes;

use super::seal::{Column, Seal};
use super::{PostgresGallery, audit, count, count_of, db_error, each_row, unopened};

impl Sightings for PostgresGallery {
    fn write_sightings(&self, records: &[SightingRecord]) -> Result<Vec<Option<SightingId>>> {
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let mut ids = Vec::with_capacity(records.len());
        for record in records {
            ids.push(self.write(&mut tx, record)?);
        }
        tx.commit().map_err(self.db())?;
        Ok(ids)
    }

    fn sightings(&self, query: &SightingQuery) -> Result<Vec<Sighting>> {
        let (sql, params) = sightings::select(query, |n| format!("${n}"))?;
        let params: Vec<&(dyn ToSql + Sync)> = params
            .iter()
            .map(|p| match p {
                Param::Int(n) => n as &(dyn ToSql + Sync),
                Param::Text(text) => text as &(dyn ToSql + Sync),
            })
            .collect();
        let rows = self.client()?.query(&sql, &params).map_err(self.db())?;
        rows.iter()
            .map(|r| sighting(r).map_err(self.db()))
            .collect()
    }

    fn sighting_crop(&self, id: SightingId) -> Result<Option<Vec<u8>>> {
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let row = tx
            .query_opt("SELECT crop FROM sighting WHERE id = $1", &[&id.0])
            .map_err(self.db())?
            .ok_or_else(|| no_sighting(id))?;
        let stored: Option<Vec<u8>> = row.try_get(0).map_err(self.db())?;
        stored
            .map(|crop| {
                self.opened(Column::SightingCrop, crop, || {
                    format!("the crop of sighting {}", id.0)
                })
            })
            .transpose()
    }

    fn kept_embeddings(&self, embedder: &EmbedderId, limit: usize) -> Result<Vec<KeptEmbedding>> {
        let limit = checked_limit(limit)?;
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let rows = tx
            .query(sql::KEPT_EMBEDDINGS, &[&embedder.as_str(), &limit])
            .map_err(self.db())?;
        let mut kept = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = self.columns.at(row, 0)?;
            let sealed: Vec<u8> = self.columns.at(row, 3)?;
            let bytes = self.opened(Column::SightingVector, sealed, || {
                format!("the embedding of sighting {id}")
            })?;
            kept.extend(KeptEmbedding::stored(
                id,
                self.columns.at(row, 1)?,
                self.columns.at(row, 2)?,
                &bytes,
            ));
        }
        tx.commit().map_err(self.db())?;
        Ok(kept)
    }

    fn to_purge(&self, cutoffs: &Cutoffs) -> Result<Purged> {
        let row = self
            .client()?
            .query_one(sql::TO_PURGE, &[&cutoffs.sightings, &cutoffs.unknown_faces])
            .map_err(self.db())?;
        Ok(Purged {
            sightings: count(self.columns.at(&row, 0)?),
            unknown_faces: count(self.columns.at(&row, 1)?),
            last_seen: count(self.columns.at(&row, 2)?),
        })
    }

    fn purge_sightings(&self, cutoffs: &Cutoffs, actor: &Actor) -> Result<Purged> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let purged = Purged {
            sightings: count_of(
                tx.execute(
                    "DELETE FROM sighting WHERE last < $1",
                    &[&cutoffs.sightings],
                )
                .map_err(&db)?,
            ),
            unknown_faces: count_of(
                tx.execute(
                    "UPDATE sighting SET embedder = NULL, vector = NULL, crop = NULL, visitor_id = NULL
                     WHERE last < $1 AND (vector IS NOT NULL OR crop IS NOT NULL)",
                    &[&cutoffs.unknown_faces],
                )
                .map_err(&db)?,
            ),
            last_seen: count_of(
                tx.execute(sql::FORGET_LAST_SEEN, &[&cutoffs.sightings])
                    .map_err(&db)?,
            ),
        };
        if purged.any() {
            audit::log(&mut tx, actor, AuditAction::Purge, &purged.detail(cutoffs)).map_err(&db)?;
        }
        tx.commit().map_err(&db)?;
        Ok(purged)
    }
}

impl PostgresGallery {
    /// Stores one record inside the writer's transaction; `None` when its person is gone
    /// (what was stored of it goes too) or it was purged meanwhile.
    fn write(
        &self,
        tx: &mut Transaction<'_>,
        record: &SightingRecord,
    ) -> Result<Option<SightingId>> {
        let db = self.db();
        let person = named(tx, record).map_err(&db)?;
        if let Some(person) = person
            && !seen(tx, person, record).map_err(&db)?
        {
            return Ok(None);
        }
        // A named sighting keeps the track's mean embedding (for "not this person") but no
        // crop.
        let kept = record.unknown.as_ref();
        let sealed = |column, value: &[u8]| {
            let sealed = self.seal.seal(column, value);
            sealed.map(std::borrow::Cow::into_owned)
        };
        let embedder = kept.map(|u| u.embedder.as_str());
        let vector = kept
            .map(|u| sealed(Column::SightingVector, &vector_bytes(&u.embedding.0)))
            .transpose()?;
        let crop = kept
            .filter(|_| person.is_none())
            .and_then(|u| u.crop.as_deref())
            .map(|c| sealed(Column::SightingCrop, c))
            .transpose()?;
        let person = person.map(|p| p.0);
        let track = i64::try_from(record.track).unwrap_or(i64::MAX);
        let evidence = i32::try_from(record.evidence).unwrap_or(i32::MAX);
        let row = match record.id {
            None => tx
                .query_opt(
                    "INSERT INTO sighting (camera, track, person_id, first, last, distance,
                                           evidence, embedder, vector, crop)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                    &[
                        &record.camera,
                        &track,
                        &person,
                        &record.first,
                        &record.last,
                        &record.distance,
                        &evidence,
                        &embedder,
                        &vector,
                        &crop,
                    ],
                )
                .map_err(&db)?,
            Some(id) => tx
                .query_opt(
                    "UPDATE sighting SET person_id = $2, last = $3, distance = $4, evidence = $5,
                            embedder = $6, vector = $7,
                            visitor_id = CASE WHEN $2::BIGINT IS NOT NULL OR $6::TEXT IS NULL
                                              THEN NULL ELSE visitor_id END,
                            crop = CASE WHEN $2::BIGINT IS NOT NULL OR $6::TEXT IS NULL
                                        THEN NULL ELSE coalesce($8, crop) END
                     WHERE id = $1 RETURNING id",
                    &[
                        &id.0,
                        &person,
                        &record.last,
                        &record.distance,
                        &evidence,
                        &embedder,
                        &vector,
                        &crop,
                    ],
                )
                .map_err(&db)?,
        };
        row.map(|r| r.try_get(0).map(SightingId).map_err(&db))
            .transpose()
    }
}

/// Who `record` names, unless they were ruled out of its sighting ("not this person") while
/// its track was still in view.
fn named(
    tx: &mut Transaction<'_>,
    record: &SightingRecord,
) -> std::result::Result<Option<PersonId>, postgres::Error> {
    let (Some(person), Some(id)) = (record.person, record.id) else {
        return Ok(record.person);
    };
    // The row first: a correction that holds it is waited for, and its example then seen
    // (each statement reads what was committed before it began).
    tx.execute("SELECT 1 FROM sighting WHERE id = $1 FOR UPDATE", &[&id.0])?;
    let ruled_out: bool = tx
        .query_one(sql::RULED_OUT, &[&person.0, &sighting_source(id)])?
        .try_get(0)?;
    Ok((!ruled_out).then_some(person))
}

/// `person` was seen as `record` says, if they are still enrolled; when they are not, what
/// was stored of the sighting goes too.
fn seen(
    tx: &mut Transaction<'_>,
    person: PersonId,
    record: &SightingRecord,
) -> std::result::Result<bool, postgres::Error> {
    // Locked, so that a removal cannot slip in between and leave a sighting behind.
    let gone = tx
        .query_opt("SELECT 1 FROM person WHERE id = $1 FOR SHARE", &[&person.0])?
        .is_none();
    if gone {
        if let Some(id) = record.id {
            tx.execute("DELETE FROM sighting WHERE id = $1", &[&id.0])?;
        }
        return Ok(false);
    }
    tx.execute(
        "UPDATE person SET last_seen = GREATEST(coalesce(last_seen, 0), $1) WHERE id = $2",
        &[&record.last, &person.0],
    )?;
    Ok(true)
}

/// A row of [`sightings::select`].
fn sighting(r: &Row) -> std::result::Result<Sighting, postgres::Error> {
    Ok(Sighting {
        id: SightingId(r.try_get(0)?),
        camera: r.try_get(1)?,
        track: u64::try_from(r.try_get::<_, i64>(2)?).unwrap_or_default(),
        person: r.try_get::<_, Option<i64>>(3)?.map(PersonId),
        first: r.try_get(4)?,
        last: r.try_get(5)?,
        distance: r.try_get(6)?,
        evidence: u32::try_from(r.try_get::<_, i32>(7)?).unwrap_or_default(),
        has_crop: r.try_get(8)?,
    })
}

/// Rewrites every unknown face's crop and embedding from `from`'s seal to `to`'s (`gallery
/// encrypt` and `decrypt`).
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
        "SELECT id, vector, crop FROM sighting WHERE vector IS NOT NULL OR crop IS NOT NULL",
        |tx, row| {
            let id: i64 = row.try_get(0).map_err(db)?;
            let again = |column: Column, index: usize, what: &str| -> Result<Option<Vec<u8>>> {
                let stored: Option<Vec<u8>> = row.try_get(index).map_err(db)?;
                stored
                    .map(|value| {
                        let value = from.open(column, value).ok_or_else(|| {
                            unopened(location, &format!("the {what} of sighting {id}"))
                        })?;
                        Ok(to.seal(column, &value)?.into_owned())
                    })
                    .transpose()
            };
            let vector = again(Column::SightingVector, 1, "embedding")?;
            let crop = again(Column::SightingCrop, 2, "crop")?;
            tx.execute(
                "UPDATE sighting SET vector = $2, crop = $3 WHERE id = $1",
                &[&id, &vector, &crop],
            )
            .map_err(db)?;
            Ok(())
        },
    )
}
