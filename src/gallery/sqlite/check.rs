//! `gallery check` on SQLite: SQLite's own integrity check, then the contents.

use crate::base::error::Result;
use crate::base::identity::DIM;
use crate::base::image::decode_png;
use crate::gallery::CheckReport;
use crate::gallery::sqlite::SqliteGallery;

impl SqliteGallery {
    /// Embeddings of the wrong size, faces without any embedding, images that do not decode,
    /// people without faces, and whatever SQLite's integrity check finds.
    pub(super) fn check_contents(&self) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let integrity: Vec<String> = {
            let mut stmt = self
                .conn
                .prepare("PRAGMA integrity_check")
                .map_err(self.db())?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(self.db())?;
            rows.collect::<rusqlite::Result<_>>().map_err(self.db())?
        };
        if integrity != ["ok"] {
            report
                .problems
                .extend(integrity.into_iter().map(|l| format!("SQLite: {l}")));
        }
        let count = |sql: &str| -> Result<usize> {
            self.conn
                .query_row(sql, [], |r| r.get::<_, i64>(0))
                .map(|n| n as usize)
                .map_err(self.db())
        };
        report.people = count("SELECT count(*) FROM person")?;
        report.faces = count("SELECT count(*) FROM face")?;
        report.embeddings = count("SELECT count(*) FROM embedding")?;
        let checks = [
            (
                format!("SELECT count(*) FROM embedding WHERE length(vector) != {}", DIM * 4),
                format!("embedding(s) are not {DIM} numbers"),
            ),
            (
                "SELECT count(*) FROM face f WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id)".into(),
                "face(s) have no embedding".into(),
            ),
            (
                "SELECT count(*) FROM person p WHERE NOT EXISTS (SELECT 1 FROM face f WHERE f.person_id = p.id)".into(),
                "person(s) have no face".into(),
            ),
        ];
        for (sql, what) in checks {
            let n = count(&sql)?;
            if n > 0 {
                report.problems.push(format!("{n} {what}"));
            }
        }
        let mut stmt = self
            .conn
            .prepare("SELECT f.id, p.name, f.image FROM face f JOIN person p ON p.id = f.person_id WHERE f.image IS NOT NULL")
            .map_err(self.db())?;
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
            if decode_png(&png).is_err() {
                report
                    .problems
                    .push(format!("the image of face {id} of {name} does not decode"));
            }
        }
        Ok(report)
    }
}
