//! The portable format, read from and written to SQLite rows.

use crate::base::error::Result;
use crate::gallery::export::{ExportBuilder, ExportFace, ExportFile};
use crate::gallery::model::validate_name;
use crate::gallery::sqlite::{SqliteGallery, insert_face, upsert_person};
use crate::gallery::stored::{self, StoredFace};

impl SqliteGallery {
    pub(super) fn export_rows(&self) -> Result<ExportFile> {
        let mut people = ExportBuilder::default();
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.name, p.created, p.last_seen, f.id, f.captured, f.source, f.source_sha256, f.confidence,
                        f.face_px, f.sharpness, f.image
                 FROM person p JOIN face f ON f.person_id = p.id ORDER BY p.name, f.id",
            )
            .map_err(self.db())?;
        let mut rows = stmt.query([]).map_err(self.db())?;
        let mut embeddings = self
            .conn
            .prepare("SELECT embedder, vector FROM embedding WHERE face_id = ?1 ORDER BY embedder")
            .map_err(self.db())?;
        while let Some(r) = rows.next().map_err(self.db())? {
            let face_id: i64 = r.get(3).map_err(self.db())?;
            let vectors = embeddings
                .query_map([face_id], |e| {
                    Ok((e.get::<_, String>(0)?, e.get::<_, Vec<u8>>(1)?))
                })
                .map_err(self.db())?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.db())?;
            let image: Option<Vec<u8>> = r.get(10).map_err(self.db())?;
            let face = ExportFace {
                captured: r.get(4).map_err(self.db())?,
                source: r.get(5).map_err(self.db())?,
                source_sha256: r.get(6).map_err(self.db())?,
                confidence: r.get(7).map_err(self.db())?,
                face_px: r.get(8).map_err(self.db())?,
                sharpness: r.get(9).map_err(self.db())?,
                embeddings: vectors
                    .into_iter()
                    .filter_map(|(embedder, bytes)| stored::exported(embedder, &bytes))
                    .collect(),
                image_png_base64: image.as_deref().map(ExportFace::encode_image),
            };
            people.face(
                r.get(0).map_err(self.db())?,
                r.get(1).map_err(self.db())?,
                r.get(2).map_err(self.db())?,
                face,
            );
        }
        Ok(people.finish())
    }

    pub(super) fn import_rows(&mut self, file: &ExportFile) -> Result<usize> {
        file.validate()?;
        let path = self.path.clone();
        let db = |e| super::codec::db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let mut added = 0;
        for person in &file.people {
            let name = validate_name(&person.name)?;
            let person_id =
                upsert_person(&tx, &name, person.created, person.last_seen).map_err(db)?;
            for face in &person.faces {
                let image = face.image(&person.name)?;
                let record = StoredFace::imported(face, image.as_deref());
                added += usize::from(insert_face(&tx, person_id, &record).map_err(db)?.is_some());
            }
        }
        tx.commit().map_err(db)?;
        Ok(added)
    }
}
