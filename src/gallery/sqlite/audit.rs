//! The audit trail in the SQLite store: a row per change, written in the change's own
//! transaction, so a change is never made without its entry, nor the other way round.

use rusqlite::{Connection, params};

use crate::gallery::audit::{Actor, AuditAction, AuditEntry};
use crate::gallery::model::now;
use crate::gallery::sql;

pub(super) fn log(
    conn: &Connection,
    actor: &Actor,
    action: AuditAction,
    detail: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        sql::AUDIT,
        params![now(), actor.as_str(), action.as_str(), detail],
    )
    .map(|_| ())
}

/// The entries at or after `since` (seconds since the epoch), oldest first.
pub(super) fn read(conn: &Connection, since: i64) -> rusqlite::Result<Vec<AuditEntry>> {
    let mut stmt = conn.prepare(sql::AUDIT_SINCE)?;
    let rows = stmt.query_map([since], |r| {
        Ok(AuditEntry {
            id: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            detail: r.get(4)?,
        })
    })?;
    rows.collect()
}
