//! The audit trail in the PostgreSQL store: a row per change, in the change's own transaction.

use postgres::GenericClient;

use crate::gallery::audit::{Actor, AuditAction};
use crate::gallery::model::now;
use crate::gallery::sql;

pub(super) fn log(
    client: &mut impl GenericClient,
    actor: &Actor,
    action: AuditAction,
    detail: &str,
) -> Result<(), postgres::Error> {
    client
        .execute(
            sql::AUDIT,
            &[&now(), &actor.as_str(), &action.as_str(), &detail],
        )
        .map(|_| ())
}
