//! The audit trail in the PostgreSQL store: a row per change, in the change's own transaction.

use postgres::GenericClient;

use crate::gallery::audit::{Actor, AuditAction, AuditEntry};
use crate::gallery::model::now;

pub(super) fn log(
    client: &mut impl GenericClient,
    actor: &Actor,
    action: AuditAction,
    detail: &str,
) -> Result<(), postgres::Error> {
    client
        .execute(
            "INSERT INTO audit (at, actor, action, detail) VALUES ($1, $2, $3, $4)",
            &[&now(), &actor.as_str(), &action.as_str(), &detail],
        )
        .map(|_| ())
}

/// The entries at or after `since` (seconds since the epoch), oldest first.
pub(super) fn read(
    client: &mut impl GenericClient,
    since: i64,
) -> Result<Vec<AuditEntry>, postgres::Error> {
    let rows = client.query(
        "SELECT id, at, actor, action, detail FROM audit WHERE at >= $1 ORDER BY id",
        &[&since],
    )?;
    Ok(rows
        .iter()
        .map(|r| AuditEntry {
            id: r.get(0),
            at: r.get(1),
            actor: r.get(2),
            action: r.get(3),
            detail: r.get(4),
        })
        .collect())
}
