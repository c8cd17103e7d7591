//! Visitors in the SQLite store: a group is the `visitor_id` its sightings share; dismissing
//! one deletes its sightings and compacts the file, as removing a person does.

use rusqlite::{Connection, params};

use crate::base::error::Result;
use crate::base::identity::PersonId;
use crate::gallery::audit::{Actor, AuditAction};
use crate::gallery::sightings::SightingId;
use crate::gallery::sql;
use crate::gallery::visitors::{
    self, Dismissed, UnknownEmbedding, Visitor, VisitorId, Visitors, dismissed_detail, no_visitor,
};

use super::{SqliteGallery, audit, begin, exists};

impl Visitors for SqliteGallery {
    fn unknown_embeddings(&self) -> Result<Vec<UnknownEmbedding>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(sql::UNKNOWN_EMBEDDINGS).map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })
            .map_err(self.db())?;
        let mut faces = Vec::new();
        for row in rows {
            let (id, embedder, bytes, visitor) = row.map_err(self.db())?;
            faces.extend(visitors::stored(id, embedder, &bytes, visitor));
        }
        Ok(faces)
    }

    fn set_visitors(&self, changes: &[(SightingId, Option<VisitorId>)]) -> Result<()> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        {
            let mut stmt = tx.prepare(sql::SET_VISITOR).map_err(&db)?;
            for (sighting, visitor) in changes {
                stmt.execute(params![visitor.map(|v| v.0), sighting.0])
                    .map_err(&db)?;
            }
        }
        tx.commit().map_err(&db)
    }

    fn visitors(&self, samples: usize) -> Result<Vec<Visitor>> {
        let conn = self.read()?;
        let db = self.db();
        let summaries = rows(&conn, sql::VISITORS, |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .map_err(&db)?;
        let cameras =
            rows(&conn, sql::VISITOR_CAMERAS, |r| Ok((r.get(0)?, r.get(1)?))).map_err(&db)?;
        let sampled =
            rows(&conn, sql::VISITOR_SAMPLES, |r| Ok((r.get(0)?, r.get(1)?))).map_err(&db)?;
        Ok(visitors::assemble(summaries, cameras, sampled, samples))
    }

    fn name_visitor(&self, id: VisitorId, person: PersonId) -> Result<usize> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let named = if exists(&tx, person).map_err(&db)? {
            tx.execute(sql::NAME_VISITOR, [person.0, id.0])
                .map_err(&db)?
        } else {
            0
        };
        tx.commit().map_err(&db)?;
        Ok(named)
    }

    fn dismiss_visitor(&self, id: VisitorId, actor: &Actor) -> Result<Dismissed> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let size: i64 = tx
            .query_row(sql::VISITOR_SIZE, [id.0], |r| r.get(0))
            .map_err(&db)?;
        if size == 0 {
            return Err(no_visitor(id));
        }
        let dismissed = Dismissed {
            sightings: tx.execute(sql::DISMISS_VISITOR, [id.0]).map_err(&db)?,
        };
        audit::log(
            &tx,
            actor,
            AuditAction::DismissVisitor,
            &dismissed_detail(id, dismissed),
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        // As a removed person's: zeroed pages (secure_delete), the log emptied, the file
        // compacted.
        self.compact(&mut conn);
        Ok(dismissed)
    }
}

/// Every row of `sql`, read by `row`.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    conn.prepare(sql)?.query_map([], row)?.collect()
}
