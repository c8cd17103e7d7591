//! The portable format, read from and written to SQLite rows.

use rusqlite::{Connection, OptionalExtension as _};

use crate::base::error::Result;
use crate::gallery::Salvaged;
use crate::gallery::audit::{Actor, AuditAction};
use crate::gallery::export::{
    ExportBuilder, ExportEmbedding, ExportFace, ExportFile, ExportPerson,
};
use crate::gallery::model::{OwnThreshold, imported_detail, now, pose_from_column, validate_name};
use crate::gallery::sql;
use crate::gallery::sqlite::{SqliteGallery, insert_face, upsert_person};
use crate::gallery::stored::{self, StoredFace, vector_bytes};

/// How far face ids are tried when the file no longer says its largest.
const SALVAGE_SCAN: i64 = 1_000_000;

impl SqliteGallery {
    pub(super) fn export_rows(&self) -> Result<ExportFile> {
        let mut people = ExportBuilder::default();
        let conn = self.read()?;
        let mut stmt = conn.prepare(sql::EXPORT_FACES).map_err(self.db())?;
        let mut rows = stmt.query([]).map_err(self.db())?;
        let mut embeddings = conn.prepare(sql::FACE_EMBEDDINGS).map_err(self.db())?;
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
                pose: pose_from_column(
                    r.get::<_, Option<String>>(13)
                        .map_err(self.db())?
                        .as_deref(),
                ),
                embeddings: vectors
                    .into_iter()
                    .filter_map(|(embedder, bytes)| stored::exported(embedder, &bytes))
                    .collect(),
                image_png_base64: image.as_deref().map(ExportFace::encode_image),
            };
            let person = ExportPerson {
                name: r.get(0).map_err(self.db())?,
                created: r.get(1).map_err(self.db())?,
                last_seen: r.get(2).map_err(self.db())?,
                own_threshold: OwnThreshold::from_columns(
                    r.get(11).map_err(self.db())?,
                    r.get(12).map_err(self.db())?,
                ),
                faces: Vec::new(),
                negatives: Vec::new(),
            };
            people.face(person, face);
        }
        let mut negatives = conn.prepare(sql::EXPORT_NEGATIVES).map_err(self.db())?;
        let rows = negatives
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))
            .map_err(self.db())?;
        for row in rows {
            let (name, embedder, bytes): (String, String, Vec<u8>) = row.map_err(self.db())?;
            people.negative(&name, stored::exported(embedder, &bytes));
        }
        Ok(people.finish())
    }

    /// Reads a damaged file row by row: every face that can be read is kept, with as much of
    /// it as can be read (a face whose crop is damaged keeps its embeddings), and every row
    /// that cannot be is listed.
    pub(super) fn salvage_rows(conn: &Connection) -> Salvaged {
        let mut lost = Vec::new();
        let max_id = conn
            .query_row("SELECT max(id) FROM face", [], |r| {
                r.get::<_, Option<i64>>(0)
            })
            .unwrap_or_else(|e| {
                lost.push(format!("the face index: {e}; looking for faces one by one"));
                Some(SALVAGE_SCAN)
            })
            .unwrap_or(0);
        let mut people = ExportBuilder::default();
        let mut faces: Vec<(ExportPerson, ExportFace)> = Vec::new();
        for id in 1..=max_id {
            match Self::salvage_face(conn, id, &mut lost) {
                Ok(Some(found)) => faces.push(found),
                Ok(None) => {}
                Err(e) => lost.push(format!("face {id}: {e}")),
            }
        }
        // The builder gathers faces under people from rows ordered by person.
        faces.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        for (person, face) in faces {
            people.face(person, face);
        }
        Salvaged {
            file: people.finish(),
            lost,
        }
    }

    /// Face `id` with its person, embeddings and (if readable) crop; `None` if there is none.
    fn salvage_face(
        conn: &Connection,
        id: i64,
        lost: &mut Vec<String>,
    ) -> rusqlite::Result<Option<(ExportPerson, ExportFace)>> {
        let row = conn
            .query_row(
                "SELECT p.name, p.created, p.last_seen, f.captured, f.source, f.source_sha256,
                        f.confidence, f.face_px, f.sharpness, p.threshold, p.threshold_embedder,
                        fp.pose
                 FROM face f JOIN person p ON p.id = f.person_id
                     LEFT JOIN face_pose fp ON fp.face_id = f.id
                 WHERE f.id = ?1",
                [id],
                |r| {
                    Ok((
                        ExportPerson {
                            name: r.get(0)?,
                            created: r.get(1)?,
                            last_seen: r.get(2)?,
                            own_threshold: OwnThreshold::from_columns(r.get(9)?, r.get(10)?),
                            faces: Vec::new(),
                            negatives: Vec::new(),
                        },
                        ExportFace {
                            captured: r.get(3)?,
                            source: r.get(4)?,
                            source_sha256: r.get(5)?,
                            confidence: r.get(6)?,
                            face_px: r.get(7)?,
                            sharpness: r.get(8)?,
                            pose: pose_from_column(r.get::<_, Option<String>>(11)?.as_deref()),
                            embeddings: Vec::new(),
                            image_png_base64: None,
                        },
                    ))
                },
            )
            .optional()?;
        let Some((person, mut face)) = row else {
            return Ok(None);
        };
        let embeddings = conn
            .prepare("SELECT embedder, vector FROM embedding WHERE face_id = ?1")
            .and_then(|mut stmt| {
                stmt.query_map([id], |e| {
                    Ok((e.get::<_, String>(0)?, e.get::<_, Vec<u8>>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            });
        match embeddings {
            Ok(rows) => {
                face.embeddings = rows
                    .into_iter()
                    .filter_map(|(embedder, bytes)| stored::exported(embedder, &bytes))
                    .collect();
            }
            Err(e) => lost.push(format!(
                "the embeddings of face {id} ({}): {e}",
                person.name
            )),
        }
        let image = conn.query_row("SELECT image FROM face WHERE id = ?1", [id], |r| {
            r.get::<_, Option<Vec<u8>>>(0)
        });
        match image {
            Ok(png) => face.image_png_base64 = png.as_deref().map(ExportFace::encode_image),
            Err(e) => lost.push(format!("the crop of face {id} ({}): {e}", person.name)),
        }
        // A face left with neither embeddings nor a crop cannot be matched or re-embedded.
        if face.embeddings.is_empty() && face.image_png_base64.is_none() {
            lost.push(format!(
                "face {id} ({}): neither its embeddings nor its crop",
                person.name
            ));
            return Ok(None);
        }
        Ok(Some((person, face)))
    }

    pub(super) fn import_rows(&self, file: &ExportFile, actor: &Actor) -> Result<usize> {
        file.validate()?;
        let db = self.db();
        let mut conn = self.write()?;
        let tx = super::begin(&mut conn).map_err(&db)?;
        let mut added = 0;
        for person in &file.people {
            let name = validate_name(&person.name)?;
            let person_id =
                upsert_person(&tx, &name, person.created, person.last_seen).map_err(&db)?;
            if let Some(own) = &person.own_threshold {
                tx.execute(
                    sql::IMPORT_THRESHOLD,
                    rusqlite::params![own.threshold, own.embedder.as_str(), person_id],
                )
                .map_err(&db)?;
            }
            for face in &person.faces {
                let image = face.image(&person.name)?;
                let record = StoredFace::imported(face, image.as_deref());
                added += usize::from(insert_face(&tx, person_id, &record).map_err(&db)?.is_some());
            }
            let stored: Vec<ExportEmbedding> = tx
                .prepare(sql::PERSON_NEGATIVES)
                .and_then(|mut stmt| {
                    stmt.query_map([person_id], |r| Ok((r.get(0)?, r.get::<_, Vec<u8>>(1)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(&db)?
                .into_iter()
                .filter_map(|(embedder, bytes)| stored::exported(embedder, &bytes))
                .collect();
            for example in person.new_negatives(&stored) {
                tx.execute(
                    sql::INSERT_NEGATIVE,
                    rusqlite::params![
                        person_id,
                        example.embedder.as_str(),
                        vector_bytes(&example.vector),
                        now(),
                        sql::IMPORTED
                    ],
                )
                .map_err(&db)?;
            }
        }
        let detail = imported_detail(added, file.people.len());
        super::audit::log(&tx, actor, AuditAction::Import, &detail).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(added)
    }
}
