//! The gallery: enrolled people, their faces and the faces' embeddings, in one SQLite file in the
//! data dir.
//!
//! Why this shape (see also docs/decisions/0001-gallery-on-sqlite.md):
//! - every change is one transaction, and the database runs in WAL mode with a busy timeout, so
//!   a crash or a power cut loses at most the change in flight, and the CLI can enroll while the
//!   app is matching;
//! - a face keeps one embedding per embedder (`embedding` table), so switching embedders adds
//!   embeddings (`gallery reembed`) instead of replacing them, and two embedders' vectors are
//!   never compared;
//! - enrollment crops are stored as PNG blobs in the same transaction as their face, so there
//!   are no image files that could be orphaned or go missing.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension as _, params};
use serde::{Deserialize, Serialize};

use crate::embed::{DIM, Embedding};
use crate::error::{Error, Result};

const FILE_NAME: &str = "gallery.sqlite3";
/// Long enough for any real name, short enough for a label on screen.
pub const MAX_NAME_CHARS: usize = 100;

/// Schema migrations; `PRAGMA user_version` is the number applied.
const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE person (
        id        INTEGER PRIMARY KEY,
        name      TEXT NOT NULL UNIQUE,
        created   INTEGER NOT NULL,
        last_seen INTEGER
    );
    CREATE TABLE face (
        id          INTEGER PRIMARY KEY,
        person_id   INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,
        captured    INTEGER NOT NULL,
        source      TEXT NOT NULL,
        -- sha256 of the source image: importing the same photo twice adds nothing.
        source_sha256 TEXT,
        confidence  REAL NOT NULL,
        face_px     INTEGER NOT NULL,
        sharpness   REAL NOT NULL,
        -- PNG of the face with a margin, kept to re-embed with another embedder; NULL when the
        -- site does not keep images (config `keep_images: false`).
        image       BLOB,
        UNIQUE (person_id, source_sha256)
    );
    CREATE TABLE embedding (
        face_id  INTEGER NOT NULL REFERENCES face(id) ON DELETE CASCADE,
        embedder TEXT NOT NULL,
        vector   BLOB NOT NULL,
        PRIMARY KEY (face_id, embedder)
    );
    CREATE INDEX face_person ON face(person_id);
    CREATE INDEX embedding_embedder ON embedding(embedder);
"#];

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A face to add, with what is known of its quality.
#[derive(Debug, Clone)]
pub struct NewFace {
    pub embedder: String,
    pub embedding: Embedding,
    /// Where it came from: a photo's path, or a frame of a source.
    pub source: String,
    pub source_sha256: Option<String>,
    pub confidence: f32,
    /// The shorter side of the detected face box, in pixels.
    pub face_px: i32,
    /// Variance of the Laplacian of the face (higher is sharper).
    pub sharpness: f32,
    pub image_png: Option<Vec<u8>>,
}

/// One person as `people list` shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonSummary {
    pub name: String,
    pub faces: usize,
    pub created: i64,
    pub last_seen: Option<i64>,
}

/// What `people remove` deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub faces: usize,
    pub embeddings: usize,
    pub images: usize,
}

/// A face stored without an embedding for some embedder.
pub struct FaceToEmbed {
    pub id: i64,
    pub person: String,
    pub image_png: Option<Vec<u8>>,
}

/// What `gallery check` found; empty lists mean a healthy gallery.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub people: usize,
    pub faces: usize,
    pub embeddings: usize,
    pub problems: Vec<String>,
}

/// The people a pipeline recognises, on disk.
pub struct Gallery {
    path: PathBuf,
    conn: Connection,
}

impl Gallery {
    /// Opens (or creates) the gallery in `data_dir`, bringing its schema up to date.
    pub fn open(data_dir: &Path) -> Result<Gallery> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::io(data_dir, e))?;
        Self::open_file(&data_dir.join(FILE_NAME))
    }

    /// Opens (or creates) the gallery file at `path`.
    pub fn open_file(path: &Path) -> Result<Gallery> {
        let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
        let mut gallery = Gallery {
            path: path.to_path_buf(),
            conn,
        };
        gallery.prepare().map_err(|e| db_error(path, e))?;
        gallery.migrate()?;
        Ok(gallery)
    }

    fn prepare(&mut self) -> rusqlite::Result<()> {
        // Another process (the CLI while the app runs) may hold the write lock for a moment.
        self.conn.busy_timeout(std::time::Duration::from_secs(10))?;
        // Reading a page is what fails on a file that is not SQLite: do it before changing
        // anything, so such a file is reported and left exactly as it was.
        self.conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
        self.conn.pragma_update(None, "journal_mode", "WAL")?;
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        self.conn.pragma_update(None, "foreign_keys", true)?;
        Ok(())
    }

    /// Applies the migrations this file lacks. The version is read inside a write transaction,
    /// so two processes opening a new gallery at once (the app and the CLI) cannot both create
    /// the tables.
    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(db)?;
        let version = tx
            .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .map_err(db)? as usize;
        if version > MIGRATIONS.len() {
            return Err(Error::Gallery {
                path,
                message: format!(
                    "written by a newer whoisit (schema {version}, this one knows {}); upgrade whoisit, nothing was changed",
                    MIGRATIONS.len()
                ),
            });
        }
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            tx.execute_batch(sql)
                .and_then(|()| tx.pragma_update(None, "user_version", index + 1))
                .map_err(db)?;
            tracing::info!(path = %path.display(), schema = index + 1, "gallery schema updated");
        }
        tx.commit().map_err(db)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, message: String) -> Error {
        Error::Gallery {
            path: self.path.clone(),
            message,
        }
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |e| db_error(&self.path, e)
    }

    /// Changes whenever another connection commits: a running app polls it to pick up
    /// enrollments made by the CLI.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(self.db())
    }

    /// Adds faces to `name` (created if new) in one transaction. A face whose source photo is
    /// already enrolled for that person is skipped. Returns how many faces were added.
    pub fn add_faces(&mut self, name: &str, faces: &[NewFace]) -> Result<usize> {
        let name = validate_name(name)?;
        if let Some(face) = faces.iter().find(|f| f.embedding.0.len() != DIM) {
            return Err(self.error(format!(
                "an embedding of {} has {} values, not {DIM}",
                face.source,
                face.embedding.0.len()
            )));
        }
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let person = upsert_person(&tx, &name, now(), None).map_err(db)?;
        let mut added = 0;
        for face in faces {
            let record = FaceRecord {
                captured: now(),
                source: &face.source,
                source_sha256: face.source_sha256.as_deref(),
                confidence: face.confidence,
                face_px: face.face_px,
                sharpness: face.sharpness,
                image: face.image_png.as_deref(),
                embeddings: vec![(&face.embedder, to_blob(&face.embedding))],
            };
            added += usize::from(insert_face(&tx, person, &record).map_err(db)?);
        }
        tx.commit().map_err(db)?;
        Ok(added)
    }

    /// Adds an embedding for another embedder to a stored face.
    pub fn add_embedding(
        &mut self,
        face_id: i64,
        embedder: &str,
        embedding: &Embedding,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO embedding (face_id, embedder, vector) VALUES (?1, ?2, ?3)",
                params![face_id, embedder, to_blob(embedding)],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Everyone, by name.
    pub fn people(&self) -> Result<Vec<PersonSummary>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.name, count(f.id), p.created, p.last_seen FROM person p
                 LEFT JOIN face f ON f.person_id = p.id GROUP BY p.id ORDER BY p.name",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PersonSummary {
                    name: r.get(0)?,
                    faces: r.get::<_, i64>(1)? as usize,
                    created: r.get(2)?,
                    last_seen: r.get(3)?,
                })
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    /// The stored face crops (PNG) of `name`, oldest first; faces kept without an image are
    /// left out.
    pub fn images(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        let id = self.person_id(name)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT image FROM face WHERE person_id = ?1 AND image IS NOT NULL ORDER BY id",
            )
            .map_err(self.db())?;
        let rows = stmt.query_map([id], |r| r.get(0)).map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn person_id(&self, name: &str) -> Result<i64> {
        self.conn
            .query_row("SELECT id FROM person WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.db())?
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "nobody called {name:?} is enrolled (see `whoisit people list`)"
                ))
            })
    }

    pub fn rename(&mut self, old: &str, new: &str) -> Result<()> {
        let new = validate_name(new)?;
        let id = self.person_id(old)?;
        if new != old && self.person_id(&new).is_ok() {
            return Err(Error::InvalidArgument(format!(
                "{new:?} is already enrolled; remove one of them first, or add the photos to {new:?}"
            )));
        }
        self.conn
            .execute(
                "UPDATE person SET name = ?1 WHERE id = ?2",
                params![new, id],
            )
            .map_err(self.db())?;
        Ok(())
    }

    /// Deletes a person with their faces, embeddings and images.
    pub fn remove(&mut self, name: &str) -> Result<Removed> {
        let id = self.person_id(name)?;
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let removed = tx
            .query_row(
                "SELECT count(DISTINCT f.id), count(e.face_id), count(DISTINCT CASE WHEN f.image IS NOT NULL THEN f.id END)
                 FROM face f LEFT JOIN embedding e ON e.face_id = f.id WHERE f.person_id = ?1",
                [id],
                |r| {
                    Ok(Removed {
                        faces: r.get::<_, i64>(0)? as usize,
                        embeddings: r.get::<_, i64>(1)? as usize,
                        images: r.get::<_, i64>(2)? as usize,
                    })
                },
            )
            .map_err(db)?;
        tx.execute("DELETE FROM person WHERE id = ?1", [id])
            .map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(removed)
    }

    /// Every enrolled face's embedding from `embedder`, with its person's name.
    pub fn embeddings(&self, embedder: &str) -> Result<Vec<(String, Embedding)>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.name, e.vector FROM embedding e JOIN face f ON f.id = e.face_id
                 JOIN person p ON p.id = f.person_id WHERE e.embedder = ?1 ORDER BY p.id, f.id",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([embedder], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(self.db())?;
        let mut out = Vec::new();
        for row in rows {
            let (name, blob) = row.map_err(self.db())?;
            match from_blob(&blob) {
                Some(embedding) => out.push((name, embedding)),
                None => {
                    tracing::warn!(%name, bytes = blob.len(), "skipping a damaged embedding; run `whoisit gallery check`")
                }
            }
        }
        Ok(out)
    }

    /// Faces with no embedding from `embedder`, with their stored image if any.
    pub fn faces_without(&self, embedder: &str) -> Result<Vec<FaceToEmbed>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.id, p.name, f.image FROM face f JOIN person p ON p.id = f.person_id
                 WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id AND e.embedder = ?1)
                 ORDER BY f.id",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([embedder], |r| {
                Ok(FaceToEmbed {
                    id: r.get(0)?,
                    person: r.get(1)?,
                    image_png: r.get(2)?,
                })
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    /// How many faces have no embedding from `embedder` (cheap: no images are read).
    pub fn count_without(&self, embedder: &str) -> Result<usize> {
        self.conn
            .query_row(
                "SELECT count(*) FROM face f
                 WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id AND e.embedder = ?1)",
                [embedder],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(self.db())
    }

    /// Records that these people were recognised now.
    pub fn mark_seen(&mut self, names: &[String]) -> Result<()> {
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        for name in names {
            tx.execute(
                "UPDATE person SET last_seen = ?1 WHERE name = ?2",
                params![now(), name],
            )
            .map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Checks the file and its contents: SQLite's own integrity check, embeddings of the wrong
    /// size, faces without any embedding, images that do not decode, people without faces.
    pub fn check(&self) -> Result<CheckReport> {
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
            if crate::quality::decode_png(&png).is_err() {
                report
                    .problems
                    .push(format!("the image of face {id} of {name} does not decode"));
            }
        }
        Ok(report)
    }

    /// Writes every person, face, embedding and image to a portable JSON file (see
    /// [`ExportFile`]).
    pub fn export(&self) -> Result<ExportFile> {
        use base64::Engine as _;
        let mut people: Vec<ExportPerson> = Vec::new();
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
            let name: String = r.get(0).map_err(self.db())?;
            if people.last().is_none_or(|p| p.name != name) {
                people.push(ExportPerson {
                    name: name.clone(),
                    created: r.get(1).map_err(self.db())?,
                    last_seen: r.get(2).map_err(self.db())?,
                    faces: Vec::new(),
                });
            }
            let face_id: i64 = r.get(3).map_err(self.db())?;
            let vectors = embeddings
                .query_map([face_id], |e| {
                    Ok((e.get::<_, String>(0)?, e.get::<_, Vec<u8>>(1)?))
                })
                .map_err(self.db())?
                .collect::<rusqlite::Result<Vec<_>>>()
                .map_err(self.db())?;
            let image: Option<Vec<u8>> = r.get(10).map_err(self.db())?;
            if let Some(person) = people.last_mut() {
                person.faces.push(ExportFace {
                    captured: r.get(4).map_err(self.db())?,
                    source: r.get(5).map_err(self.db())?,
                    source_sha256: r.get(6).map_err(self.db())?,
                    confidence: r.get(7).map_err(self.db())?,
                    face_px: r.get(8).map_err(self.db())?,
                    sharpness: r.get(9).map_err(self.db())?,
                    embeddings: vectors
                        .into_iter()
                        .filter_map(|(embedder, blob)| {
                            from_blob(&blob).map(|e| ExportEmbedding {
                                embedder,
                                vector: e.0,
                            })
                        })
                        .collect(),
                    image_png_base64: image
                        .map(|png| base64::engine::general_purpose::STANDARD.encode(png)),
                });
            }
        }
        Ok(ExportFile {
            format: EXPORT_FORMAT.into(),
            version: EXPORT_VERSION,
            people,
        })
    }

    /// Adds the people of an export file, all in one transaction: a file that fails half-way
    /// changes nothing. Faces already present (same source photo) are skipped. Returns the faces
    /// added.
    pub fn import(&mut self, file: &ExportFile) -> Result<usize> {
        use base64::Engine as _;
        if file.format != EXPORT_FORMAT || file.version > EXPORT_VERSION {
            return Err(Error::InvalidArgument(format!(
                "not a whoisit gallery export this version reads (format {:?} version {}, expected {EXPORT_FORMAT:?} version {EXPORT_VERSION})",
                file.format, file.version
            )));
        }
        for person in &file.people {
            validate_name(&person.name)?;
            for face in &person.faces {
                if let Some(e) = face.embeddings.iter().find(|e| e.vector.len() != DIM) {
                    return Err(Error::InvalidArgument(format!(
                        "{}: an embedding from {} has {} values, not {DIM}",
                        person.name,
                        e.embedder,
                        e.vector.len()
                    )));
                }
            }
        }
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let mut added = 0;
        for person in &file.people {
            let name = validate_name(&person.name)?;
            let person_id =
                upsert_person(&tx, &name, person.created, person.last_seen).map_err(db)?;
            for face in &person.faces {
                let image = match &face.image_png_base64 {
                    Some(b64) => Some(
                        base64::engine::general_purpose::STANDARD
                            .decode(b64)
                            .map_err(|e| {
                                Error::InvalidArgument(format!(
                                    "{}: an image is not valid base64: {e}",
                                    person.name
                                ))
                            })?,
                    ),
                    None => None,
                };
                let record = FaceRecord {
                    captured: face.captured,
                    source: &face.source,
                    source_sha256: face.source_sha256.as_deref(),
                    confidence: face.confidence,
                    face_px: face.face_px,
                    sharpness: face.sharpness,
                    image: image.as_deref(),
                    embeddings: face
                        .embeddings
                        .iter()
                        .map(|e| (&e.embedder, to_blob(&Embedding(e.vector.clone()))))
                        .collect(),
                };
                added += usize::from(insert_face(&tx, person_id, &record).map_err(db)?);
            }
        }
        tx.commit().map_err(db)?;
        Ok(added)
    }
}

/// A face as stored, whichever way it arrives (enrollment or import).
struct FaceRecord<'a> {
    captured: i64,
    source: &'a str,
    source_sha256: Option<&'a str>,
    confidence: f32,
    face_px: i32,
    sharpness: f32,
    image: Option<&'a [u8]>,
    /// (embedder id, vector blob)
    embeddings: Vec<(&'a String, Vec<u8>)>,
}

/// The id of the person called `name`, created if new.
fn upsert_person(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    created: i64,
    last_seen: Option<i64>,
) -> rusqlite::Result<i64> {
    tx.execute(
        "INSERT INTO person (name, created, last_seen) VALUES (?1, ?2, ?3) ON CONFLICT(name) DO NOTHING",
        params![name, created, last_seen],
    )?;
    tx.query_row("SELECT id FROM person WHERE name = ?1", [name], |r| {
        r.get(0)
    })
}

/// Inserts a face and its embeddings; `false` when the person has this photo already.
fn insert_face(
    tx: &rusqlite::Transaction<'_>,
    person_id: i64,
    face: &FaceRecord<'_>,
) -> rusqlite::Result<bool> {
    let inserted = tx.execute(
        "INSERT INTO face (person_id, captured, source, source_sha256, confidence, face_px, sharpness, image)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(person_id, source_sha256) DO NOTHING",
        params![
            person_id,
            face.captured,
            face.source,
            face.source_sha256,
            face.confidence,
            face.face_px,
            face.sharpness,
            face.image
        ],
    )?;
    if inserted == 0 {
        return Ok(false);
    }
    let face_id = tx.last_insert_rowid();
    for (embedder, vector) in &face.embeddings {
        tx.execute(
            "INSERT INTO embedding (face_id, embedder, vector) VALUES (?1, ?2, ?3)",
            params![face_id, embedder, vector],
        )?;
    }
    Ok(true)
}

/// The `format` field of an export file.
pub const EXPORT_FORMAT: &str = "whoisit-gallery";
/// The export format's version.
pub const EXPORT_VERSION: u32 = 1;

/// The portable gallery format of `gallery export` / `gallery import`: JSON, documented field
/// by field so other tools can read and write it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportFile {
    /// Always "whoisit-gallery".
    pub format: String,
    /// 1.
    pub version: u32,
    pub people: Vec<ExportPerson>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportPerson {
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created: i64,
    pub last_seen: Option<i64>,
    pub faces: Vec<ExportFace>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportFace {
    pub captured: i64,
    pub source: String,
    pub source_sha256: Option<String>,
    pub confidence: f32,
    pub face_px: i32,
    pub sharpness: f32,
    /// One vector per embedder id (e.g. "dlib-resnet-v1"), 128 numbers each.
    pub embeddings: Vec<ExportEmbedding>,
    /// The stored face crop, PNG, base64 (absent where images are not kept).
    pub image_png_base64: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExportEmbedding {
    pub embedder: String,
    pub vector: Vec<f32>,
}

fn to_blob(embedding: &Embedding) -> Vec<u8> {
    embedding.0.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn from_blob(blob: &[u8]) -> Option<Embedding> {
    (blob.len() == DIM * 4).then(|| {
        Embedding(
            blob.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    })
}

/// Turns SQLite's codes into what the user should do.
fn db_error(path: &Path, error: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    let message = match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "is not a whoisit gallery (not an SQLite database); move it aside to start a new gallery, nothing was changed".to_owned()
        }
        Some(ErrorCode::DatabaseCorrupt) => format!(
            "is damaged ({error}); restore it from a `whoisit gallery export` file, or move it aside to start a new one"
        ),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            format!("is busy in another process for too long ({error}); try again")
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
            format!("cannot be opened for writing ({error}); check the data dir's permissions")
        }
        _ => error.to_string(),
    };
    Error::Gallery {
        path: path.to_path_buf(),
        message,
    }
}

/// A name is trimmed, non-empty, at most `MAX_NAME_CHARS`, and has no control characters.
pub fn validate_name(name: &str) -> Result<String> {
    let name = name.trim();
    let invalid = |why: String| Err(Error::InvalidArgument(format!("invalid name: {why}")));
    if name.is_empty() {
        return invalid("it is empty".into());
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return invalid(format!(
            "it has {chars} characters, at most {MAX_NAME_CHARS} are allowed"
        ));
    }
    if name.chars().any(char::is_control) {
        return invalid("it contains control characters".into());
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(v: f32, source: &str) -> NewFace {
        NewFace {
            embedder: "dlib".into(),
            embedding: Embedding(vec![v; DIM]),
            source: source.into(),
            source_sha256: Some(format!("sha-{source}")),
            confidence: 0.9,
            face_px: 100,
            sharpness: 200.0,
            image_png: None,
        }
    }

    #[test]
    fn survives_reopening_and_keeps_embedders_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gallery::open(dir.path()).unwrap();
        assert_eq!(
            g.add_faces("Ann", &[face(0.1, "a"), face(0.2, "b")])
                .unwrap(),
            2
        );
        let other = NewFace {
            embedder: "openface".into(),
            ..face(0.3, "c")
        };
        g.add_faces(" Ann ", &[other]).unwrap();
        g.add_faces("Bob", &[face(0.4, "d")]).unwrap();
        drop(g);
        let g = Gallery::open(dir.path()).unwrap();
        assert_eq!(
            g.people()
                .unwrap()
                .iter()
                .map(|p| (p.name.as_str(), p.faces))
                .collect::<Vec<_>>(),
            [("Ann", 3), ("Bob", 1)]
        );
        assert_eq!(g.embeddings("dlib").unwrap().len(), 3);
        assert_eq!(
            g.embeddings("openface")
                .unwrap()
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>(),
            ["Ann"]
        );
        assert_eq!(g.count_without("dlib").unwrap(), 1);
        assert!(g.check().unwrap().problems.is_empty());
    }

    #[test]
    fn the_same_photo_is_not_added_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gallery::open(dir.path()).unwrap();
        assert_eq!(g.add_faces("Ann", &[face(0.1, "a")]).unwrap(), 1);
        assert_eq!(
            g.add_faces("Ann", &[face(0.1, "a"), face(0.2, "b")])
                .unwrap(),
            1
        );
        assert_eq!(g.people().unwrap()[0].faces, 2);
    }

    #[test]
    fn bad_names_and_embeddings_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gallery::open(dir.path()).unwrap();
        g.add_faces("Ann", &[face(0.1, "a")]).unwrap();
        for bad in ["", "   ", &"x".repeat(10_000), "a\nb"] {
            assert!(g.add_faces(bad, &[face(0.2, "b")]).is_err(), "{bad:?}");
        }
        let short = NewFace {
            embedding: Embedding(vec![0.0; 5]),
            ..face(0.0, "c")
        };
        assert!(g.add_faces("Ann", &[face(0.3, "d"), short]).is_err());
        assert_eq!(g.embeddings("dlib").unwrap().len(), 1);
        assert!(g.rename("Ann", "").is_err());
        assert!(g.rename("Nobody", "Zed").is_err());
    }

    #[test]
    fn rename_and_remove_say_what_they_did() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gallery::open(dir.path()).unwrap();
        g.add_faces(
            "Ann",
            &[
                face(0.1, "a"),
                NewFace {
                    image_png: Some(vec![1, 2]),
                    ..face(0.2, "b")
                },
            ],
        )
        .unwrap();
        g.add_faces("Bob", &[face(0.4, "d")]).unwrap();
        assert!(
            g.rename("Ann", "Bob")
                .unwrap_err()
                .to_string()
                .contains("already enrolled")
        );
        g.rename("Ann", "Anna").unwrap();
        assert_eq!(
            g.remove("Anna").unwrap(),
            Removed {
                faces: 2,
                embeddings: 2,
                images: 1
            }
        );
        assert_eq!(g.people().unwrap().len(), 1);
        assert_eq!(g.embeddings("dlib").unwrap().len(), 1);
    }

    #[test]
    fn export_then_import_round_trips_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Gallery::open(&dir.path().join("a")).unwrap();
        g.add_faces("Ann", &[face(0.1, "a"), face(0.2, "b")])
            .unwrap();
        g.add_faces("Bob", &[face(0.4, "d")]).unwrap();
        let file = g.export().unwrap();
        let json = serde_json::to_string(&file).unwrap();
        let mut h = Gallery::open(&dir.path().join("b")).unwrap();
        let parsed: ExportFile = serde_json::from_str(&json).unwrap();
        assert_eq!(h.import(&parsed).unwrap(), 3);
        assert_eq!(h.import(&parsed).unwrap(), 0);
        assert_eq!(h.embeddings("dlib").unwrap(), g.embeddings("dlib").unwrap());
    }

    #[test]
    fn files_that_are_not_galleries_are_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"this is not a database, but somebody's notes").unwrap();
        let err = Gallery::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("not an SQLite database"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"this is not a database, but somebody's notes"
        );

        std::fs::remove_file(&path).unwrap();
        let g = Gallery::open(dir.path()).unwrap();
        g.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(g);
        let err = Gallery::open(dir.path()).err().unwrap();
        assert!(err.to_string().contains("newer whoisit"), "{err}");
    }
}
