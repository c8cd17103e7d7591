//! `gallery check` on SQLite: SQLite's own integrity check, then the contents.

use crate::base::error::Result;
use crate::gallery::CheckReport;
use crate::gallery::sqlite::SqliteGallery;
use crate::gallery::{sql, stored};

/// SQLite's quick check (the pages and their structure, not the indexes' contents): what it
/// found wrong, or `None` for a sound file. Cheap enough for every open: it reads each page
/// once.
pub(super) fn quick(conn: &rusqlite::Connection) -> Option<String> {
    let found: rusqlite::Result<Vec<String>> = conn
        .prepare("PRAGMA quick_check(3)")
        .and_then(|mut stmt| stmt.query_map([], |r| r.get(0))?.collect());
    match found {
        Ok(lines) if lines == ["ok"] => None,
        Ok(lines) => Some(lines.join("; ")),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
            ) =>
        {
            Some(e.to_string())
        }
        // Busy or locked by another process (an import writing, a checkpoint): that says
        // nothing about damage, and must not make the file read-only.
        Err(e) => {
            tracing::debug!("the quick check could not run now: {e}");
            None
        }
    }
}

impl SqliteGallery {
    /// Embeddings of the wrong size, faces without any embedding, images that do not decode,
    /// people without faces, and whatever SQLite's integrity check finds.
    pub(super) fn check_contents(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let conn = self.read()?;
        let integrity: Vec<String> = {
            let mut stmt = conn.prepare("PRAGMA integrity_check").map_err(self.db())?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(self.db())?;
            rows.collect::<rusqlite::Result<_>>().map_err(self.db())?
        };
        if integrity != ["ok"] {
            report
                .problems
                .extend(integrity.into_iter().map(|l| format!("SQLite: {l}")));
        }
        let count = |sql: &str| -> Result<usize> {
            conn.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as usize)
                .map_err(self.db())
        };
        report.people = count(sql::COUNT_PEOPLE)?;
        report.faces = count(sql::COUNT_FACES)?;
        report.embeddings = count(sql::COUNT_EMBEDDINGS)?;
        report.without_faces = count(stored::PEOPLE_WITHOUT_FACES)?;
        let checks = stored::content_checks();
        for (sql, what) in checks {
            let n = count(&sql)?;
            if n > 0 {
                report.problems.push(format!("{n} {what}"));
            }
        }
        let mut stmt = conn.prepare(sql::CROPS).map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                ))
            })
            .map_err(self.db())?;
        for row in rows {
            let (id, name, png) = row.map_err(self.db())?;
            report
                .problems
                .extend(stored::crop_problem(id, &name, &png));
        }
        Ok(report)
    }
}
