//! Visitors in the PostgreSQL store: a group is the `visitor_id` its sightings share; the
//! embeddings grouped are opened from their seal; dismissing a group rewrites the tables, as
//! removing a person does, so that no byte of its crops stays in their files.

use crate::base::error::Result;
use crate::base::identity::PersonId;
use crate::gallery::audit::{Actor, AuditAction};
use crate::gallery::sightings::SightingId;
use crate::gallery::sql;
use crate::gallery::visitors::{
    self, Dismissed, UnknownEmbedding, Visitor, VisitorId, Visitors, dismissed_detail, no_visitor,
};

use super::seal::Column;
use super::{PostgresGallery, audit, count, snapshot, xact_id};

impl Visitors for PostgresGallery {
    fn unknown_embeddings(&self) -> Result<Vec<UnknownEmbedding>> {
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let rows = tx.query(sql::UNKNOWN_EMBEDDINGS, &[]).map_err(self.db())?;
        let mut faces = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: i64 = self.columns.at(row, 0)?;
            let embedder: String = self.columns.at(row, 1)?;
            let sealed: Vec<u8> = self.columns.at(row, 2)?;
            let visitor: Option<i64> = self.columns.at(row, 3)?;
            let bytes = self.opened(Column::SightingVector, sealed, || {
                format!("the embedding of sighting {id}")
            })?;
            faces.extend(visitors::stored(id, embedder, &bytes, visitor));
        }
        tx.commit().map_err(self.db())?;
        Ok(faces)
    }

    fn set_visitors(&self, changes: &[(SightingId, Option<VisitorId>)]) -> Result<()> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let stmt = tx.prepare(sql::SET_VISITOR).map_err(&db)?;
        for (sighting, visitor) in changes {
            tx.execute(&stmt, &[&visitor.map(|v| v.0), &sighting.0])
                .map_err(&db)?;
        }
        tx.commit().map_err(&db)
    }

    fn visitors(&self, samples: usize) -> Result<Vec<Visitor>> {
        let db = self.db();
        let mut client = self.client()?;
        // One snapshot for the three reads, so that they agree.
        let mut tx = snapshot(&mut client).map_err(&db)?;
        let mut summaries = Vec::new();
        for row in tx.query(sql::VISITORS, &[]).map_err(&db)? {
            summaries.push((
                self.columns.at(&row, 0)?,
                self.columns.at(&row, 1)?,
                self.columns.at(&row, 2)?,
                self.columns.at(&row, 3)?,
            ));
        }
        let mut cameras = Vec::new();
        for row in tx.query(sql::VISITOR_CAMERAS, &[]).map_err(&db)? {
            cameras.push((self.columns.at(&row, 0)?, self.columns.at(&row, 1)?));
        }
        let mut sampled = Vec::new();
        for row in tx.query(sql::VISITOR_SAMPLES, &[]).map_err(&db)? {
            sampled.push((self.columns.at(&row, 0)?, self.columns.at(&row, 1)?));
        }
        tx.commit().map_err(&db)?;
        Ok(visitors::assemble(summaries, cameras, sampled, samples))
    }

    fn name_visitor(&self, id: VisitorId, person: PersonId) -> Result<usize> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        // Locked, so that a removal cannot slip in between and leave the sightings named.
        let named = if tx
            .query_opt("SELECT 1 FROM person WHERE id = $1 FOR SHARE", &[&person.0])
            .map_err(&db)?
            .is_some()
        {
            tx.execute(sql::NAME_VISITOR, &[&person.0, &id.0])
                .map_err(&db)?
        } else {
            0
        };
        tx.commit().map_err(&db)?;
        Ok(count(i64::try_from(named).unwrap_or(i64::MAX)))
    }

    fn dismiss_visitor(&self, id: VisitorId, actor: &Actor) -> Result<Dismissed> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let deleted = tx.execute(sql::DISMISS_VISITOR, &[&id.0]).map_err(&db)?;
        if deleted == 0 {
            return Err(no_visitor(id));
        }
        let dismissed = Dismissed {
            sightings: count(i64::try_from(deleted).unwrap_or(i64::MAX)),
        };
        audit::log(
            &mut tx,
            actor,
            AuditAction::DismissVisitor,
            &dismissed_detail(id, dismissed),
        )
        .map_err(&db)?;
        let xid = xact_id(&mut tx, &self.columns)?;
        tx.commit().map_err(&db)?;
        self.forget_removed(&mut client, &xid);
        Ok(dismissed)
    }
}
