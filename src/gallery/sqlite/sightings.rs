//! Sightings in the SQLite store: written in batches by the one sightings writer, read a page
//! at a time, purged past retention with the freed pages zeroed (`secure_delete`) and the
//! write-ahead log emptied.

use rusqlite::{Connection, OptionalExtension as _, params, params_from_iter};

use crate::base::error::Result;
use crate::base::identity::EmbedderId;
use crate::gallery::audit::{Actor, AuditAction};
use crate::gallery::corrections::sighting_source;
use crate::gallery::sightings::{
    self, Cutoffs, KeptEmbedding, Param, Purged, Sighting, SightingId, SightingQuery,
    SightingRecord, Sightings, checked_limit, no_sighting,
};
use crate::gallery::sql;
use crate::gallery::stored::vector_bytes;

use super::{SqliteGallery, audit, begin, exists};

impl rusqlite::ToSql for Param {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Param::Int(n) => n.to_sql(),
            Param::Text(text) => text.to_sql(),
        }
    }
}

impl Sightings for SqliteGallery {
    fn write_sightings(&self, records: &[SightingRecord]) -> Result<Vec<Option<SightingId>>> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let ids = records
            .iter()
            .map(|record| write(&tx, record))
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(ids)
    }

    fn sightings(&self, query: &SightingQuery) -> Result<Vec<Sighting>> {
        let (sql, params) = sightings::select(query, |n| format!("?{n}"))?;
        let conn = self.read()?;
        let mut stmt = conn.prepare(&sql).map_err(self.db())?;
        let rows = stmt
            .query_map(params_from_iter(params.iter()), |r| {
                Ok(Sighting {
                    id: SightingId(r.get(0)?),
                    camera: r.get(1)?,
                    track: r.get::<_, i64>(2)? as u64,
                    person: r.get::<_, Option<i64>>(3)?.map(crate::gallery::PersonId),
                    first: r.get(4)?,
                    last: r.get(5)?,
                    distance: r.get(6)?,
                    evidence: r.get(7)?,
                    has_crop: r.get(8)?,
                })
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn sighting_crop(&self, id: SightingId) -> Result<Option<Vec<u8>>> {
        self.read()?
            .query_row("SELECT crop FROM sighting WHERE id = ?1", [id.0], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.db())?
            .ok_or_else(|| no_sighting(id))
    }

    fn kept_embeddings(&self, embedder: &EmbedderId, limit: usize) -> Result<Vec<KeptEmbedding>> {
        let limit = checked_limit(limit)?;
        let conn = self.read()?;
        let mut stmt = conn.prepare(sql::KEPT_EMBEDDINGS).map_err(self.db())?;
        let rows = stmt
            .query_map(params![embedder.as_str(), limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get::<_, Vec<u8>>(3)?))
            })
            .map_err(self.db())?;
        let mut kept = Vec::new();
        for row in rows {
            let (id, person, has_crop, bytes) = row.map_err(self.db())?;
            kept.extend(KeptEmbedding::stored(id, person, has_crop, &bytes));
        }
        Ok(kept)
    }

    fn to_purge(&self, cutoffs: &Cutoffs) -> Result<Purged> {
        let counted = |n: i64| usize::try_from(n).unwrap_or(usize::MAX);
        self.read()?
            .query_row(
                sql::TO_PURGE,
                params![cutoffs.sightings, cutoffs.unknown_faces],
                |r| {
                    Ok(Purged {
                        sightings: counted(r.get(0)?),
                        unknown_faces: counted(r.get(1)?),
                        last_seen: counted(r.get(2)?),
                    })
                },
            )
            .map_err(self.db())
    }

    fn purge_sightings(&self, cutoffs: &Cutoffs, actor: &Actor) -> Result<Purged> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let purged = Purged {
            sightings: tx
                .execute("DELETE FROM sighting WHERE last < ?1", [cutoffs.sightings])
                .map_err(&db)?,
            unknown_faces: tx
                .execute(
                    "UPDATE sighting SET embedder = NULL, vector = NULL, crop = NULL, visitor_id = NULL
                     WHERE last < ?1 AND (vector IS NOT NULL OR crop IS NOT NULL)",
                    [cutoffs.unknown_faces],
                )
                .map_err(&db)?,
            last_seen: tx
                .execute(sql::FORGET_LAST_SEEN, [cutoffs.sightings])
                .map_err(&db)?,
        };
        if purged.any() {
            audit::log(&tx, actor, AuditAction::Purge, &purged.detail(cutoffs)).map_err(&db)?;
        }
        tx.commit().map_err(&db)?;
        if purged.sightings + purged.unknown_faces > 0 {
            // Their pages are zeroed (secure_delete); the log still holds the bytes.
            self.forget_freed_pages(&conn);
        }
        Ok(purged)
    }
}

/// Stores one record inside the writer's transaction; `None` when its person is gone (what
/// was stored of it goes too) or it was purged meanwhile.
fn write(tx: &Connection, record: &SightingRecord) -> rusqlite::Result<Option<SightingId>> {
    let person = match (record.person, record.id) {
        (Some(person), Some(id))
            if tx.query_row(
                sql::RULED_OUT,
                params![person.0, sighting_source(id)],
                |r| r.get::<_, bool>(0),
            )? =>
        {
            None
        }
        (person, _) => person,
    };
    if let Some(person) = person {
        if !exists(tx, person)? {
            if let Some(id) = record.id {
                tx.execute("DELETE FROM sighting WHERE id = ?1", [id.0])?;
            }
            return Ok(None);
        }
        tx.execute(
            "UPDATE person SET last_seen = max(coalesce(last_seen, 0), ?1) WHERE id = ?2",
            params![record.last, person.0],
        )?;
    }
    // A named sighting keeps the track's mean embedding (for "not this person") but no crop.
    let kept = record.unknown.as_ref();
    let embedder = kept.map(|u| u.embedder.as_str());
    let vector = kept.map(|u| vector_bytes(&u.embedding.0));
    let crop = kept
        .filter(|_| person.is_none())
        .and_then(|u| u.crop.as_deref());
    let person = person.map(|p| p.0);
    let track = record.track as i64;
    match record.id {
        None => {
            tx.execute(
                "INSERT INTO sighting (camera, track, person_id, first, last, distance, evidence,
                                       embedder, vector, crop)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    record.camera,
                    track,
                    person,
                    record.first,
                    record.last,
                    record.distance,
                    record.evidence,
                    embedder,
                    vector,
                    crop
                ],
            )?;
            Ok(Some(SightingId(tx.last_insert_rowid())))
        }
        Some(id) => {
            let updated = tx.execute(
                "UPDATE sighting SET person_id = ?2, last = ?3, distance = ?4, evidence = ?5,
                        embedder = ?6, vector = ?7,
                        visitor_id = CASE WHEN ?2 IS NOT NULL OR ?6 IS NULL THEN NULL ELSE visitor_id END,
                        crop = CASE WHEN ?2 IS NOT NULL OR ?6 IS NULL THEN NULL ELSE coalesce(?8, crop) END
                 WHERE id = ?1",
                params![
                    id.0,
                    person,
                    record.last,
                    record.distance,
                    record.evidence,
                    embedder,
                    vector,
                    crop
                ],
            )?;
            Ok((updated > 0).then_some(id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::identity::EmbedderKind;
    use crate::gallery::sightings::UnknownFace;
    use crate::gallery::sqlite::fixtures::{Secret, add, remove};
    use crate::gallery::{Gallery as _, now};

    fn unknown(secret: &Secret, last: i64) -> SightingRecord {
        SightingRecord {
            id: None,
            camera: "door".into(),
            track: 1,
            person: None,
            first: last - 5,
            last,
            distance: Some(0.8),
            evidence: 3,
            unknown: Some(UnknownFace {
                crop: Some(secret.crop.clone()),
                embedder: EmbedderKind::Dlib.id(),
                embedding: secret.face.embedding.clone(),
            }),
        }
    }

    #[test]
    fn an_unknown_face_leaves_no_byte_in_the_file_once_purged_or_named_and_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        let secret = Secret::new();
        let t = now();

        // Past sightings.unknown_face_days: the crop and embedding go, the sighting stays.
        g.write_sightings(&[unknown(&secret, t - 100)]).unwrap();
        // (The embedding's bytes straddle a page boundary in this row: the crop is found.)
        let found = secret.found_in(dir.path());
        assert!(
            found.contains(&"the crop's start"),
            "stored, to be found: {found:?}"
        );
        let cutoffs = Cutoffs {
            sightings: t - 1000,
            unknown_faces: t - 50,
        };
        let purged = g.purge_sightings(&cutoffs, &Actor::purge()).unwrap();
        assert_eq!(purged.unknown_faces, 1);
        assert_eq!(secret.found_in(dir.path()), Vec::<&str>::new());
        assert_eq!(g.sightings(&SightingQuery::all()).unwrap().len(), 1);

        // Named later as Ann, then Ann forgotten: nothing of the face remains either.
        add(
            &g,
            "Ann",
            &[crate::gallery::sqlite::fixtures::face(0.1, "a")],
        )
        .unwrap();
        let ann = g.find("Ann").unwrap();
        let id = g.write_sightings(&[unknown(&secret, t)]).unwrap()[0];
        assert!(!secret.found_in(dir.path()).is_empty());
        let named = SightingRecord {
            id,
            person: Some(ann),
            unknown: None,
            ..unknown(&secret, t)
        };
        g.write_sightings(&[named]).unwrap();
        remove(&g, "Ann").unwrap();
        assert_eq!(secret.found_in(dir.path()), Vec::<&str>::new());
        assert_eq!(g.sightings(&SightingQuery::all()).unwrap().len(), 1);
        assert_eq!(
            g.sightings(&SightingQuery::all()).unwrap()[0].person,
            None,
            "only the first stranger's sighting is left"
        );
    }
}
