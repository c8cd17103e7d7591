//! The gallery in one SQLite file in the data dir (see docs/decisions/0001-gallery-on-sqlite.md):
//! WAL mode with a busy timeout, so the CLI can enroll while the app is matching, and one
//! transaction per change, so a crash or a power cut loses at most the change in flight.

mod audit;
mod check;
mod cipher;
mod codec;
mod export;
#[cfg(test)]
mod fixtures;
mod private;
mod schema;
mod watch;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension as _, params};

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, Enrolled};
use crate::gallery::audit::{Actor, AuditAction, AuditEntry};
use crate::gallery::key::GalleryKey;
use crate::gallery::model::{
    ApiKey, CheckReport, FaceId, FaceSummary, FaceToEmbed, NewFace, OwnThreshold, PersonId,
    PersonSummary, Removed, Scope, ThresholdChange, check_threshold_changes, key_taken, no_face,
    no_key, no_person, normalized_name, now, pose_from_column, poses_from_list, threshold_detail,
    validate_key_name, validate_name,
};
use crate::gallery::{ChangeFeed, ExportFile, Gallery, Salvaged};

use self::codec::db_error;
use crate::gallery::stored::{self, StoredFace, vector_bytes};

const FILE_NAME: &str = "gallery.sqlite3";

/// The gallery file and a connection to it.
pub struct SqliteGallery {
    path: PathBuf,
    conn: Connection,
    /// The key the file is encrypted with (SQLCipher), kept for the watcher's own connection.
    key: Option<GalleryKey>,
    /// Who the changes are made by, for the audit trail.
    actor: Actor,
    /// What SQLite's quick check found at open, if the file is damaged: reading goes on (so
    /// that what is intact can be salvaged), changing is refused.
    damage: Option<String>,
}

impl SqliteGallery {
    /// Opens (or creates) the gallery in `data_dir`, bringing its schema up to date. Faces are
    /// biometric data: the folder is made 0700 and the files 0600. With a `key`, the file is
    /// encrypted (SQLCipher): a new one is created encrypted, an existing one must have been
    /// encrypted with that key.
    pub fn open(data_dir: &Path, key: Option<&GalleryKey>) -> Result<SqliteGallery> {
        private::folder(data_dir)?;
        Self::open_file(&Self::file(data_dir), key)
    }

    /// The gallery file in `data_dir`.
    pub fn file(data_dir: &Path) -> PathBuf {
        data_dir.join(FILE_NAME)
    }

    /// Opens (or creates) the gallery file at `path`.
    fn open_file(path: &Path, key: Option<&GalleryKey>) -> Result<SqliteGallery> {
        private::create(path)?;
        let mut conn = cipher::connect(path, key)?;
        schema::prepare(&conn, path)?;
        schema::migrate(&mut conn, path)?;
        private::tighten(path);
        let damage = check::quick(&conn);
        if let Some(damage) = &damage {
            tracing::warn!(
                "gallery {} is damaged ({damage}): it can be read, not changed; save what can be read with `whoisit gallery export --salvage FILE`",
                path.display()
            );
        }
        Ok(SqliteGallery {
            path: path.to_path_buf(),
            conn,
            key: key.cloned(),
            actor: Actor::default(),
            damage,
        })
    }

    /// Encrypts the plain gallery in `data_dir` with `key`, in place (see
    /// docs/security.md): from then on it opens only with that key.
    pub fn encrypt(data_dir: &Path, key: &GalleryKey) -> Result<()> {
        let path = Self::file(data_dir);
        match cipher::kind(&path)? {
            cipher::FileKind::New => Err(codec::gallery_error(
                &path,
                "does not exist yet: there is nothing to encrypt. A gallery created with a key \
                 is encrypted from the start",
            )),
            cipher::FileKind::Opaque => Err(codec::gallery_error(
                &path,
                "is already encrypted (or is not a whoisit gallery); nothing was changed",
            )),
            cipher::FileKind::Plain => {
                Self::open_file(&path, None)?.intact()?;
                cipher::convert(&path, None, Some(key))
            }
        }
    }

    /// Decrypts the gallery in `data_dir`, encrypted with `key`, in place.
    pub fn decrypt(data_dir: &Path, key: &GalleryKey) -> Result<()> {
        let path = Self::file(data_dir);
        if cipher::kind(&path)? != cipher::FileKind::Opaque {
            return Err(codec::gallery_error(
                &path,
                "is not encrypted; nothing was changed",
            ));
        }
        Self::open_file(&path, Some(key))?.intact()?;
        cipher::convert(&path, Some(key), None)
    }

    /// Whether the gallery file in `data_dir` exists and cannot be read without a key.
    pub fn needs_key(data_dir: &Path) -> Result<bool> {
        Ok(cipher::kind(&Self::file(data_dir))? == cipher::FileKind::Opaque)
    }

    /// Refuses to change a damaged file: a write could spread the damage over what is intact.
    fn intact(&self) -> Result<()> {
        match &self.damage {
            None => Ok(()),
            Some(damage) => Err(codec::gallery_error(
                &self.path,
                format!(
                    "is damaged ({damage}); nothing was changed. Save what can be read with \
                     `whoisit gallery export --salvage FILE`, move the file aside, then \
                     `whoisit gallery import FILE`"
                ),
            )),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |e| db_error(&self.path, e)
    }

    /// After a person is removed: rebuilds the file without the freed pages, so it shrinks
    /// and no trace of their size remains, then empties the log as below. A busy file (another
    /// process reading) keeps the pages, zeroed by `secure_delete`.
    fn compact(&self) {
        if let Err(e) = self.conn.execute_batch("VACUUM") {
            tracing::warn!(
                "cannot compact the gallery after the deletion (its freed pages are zeroed all the same): {}",
                db_error(&self.path, e).report()
            );
        }
        self.forget_freed_pages();
    }

    /// Moves the zeroed pages of a deletion (`secure_delete`) into the database file and empties
    /// the write-ahead log, which still holds the deleted bytes. A reader holding an old
    /// snapshot can keep the log from emptying; the next deletion tries again.
    fn forget_freed_pages(&self) {
        let busy = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            });
        match busy {
            Ok(0) => {}
            Ok(_) => tracing::warn!(
                "another process is reading the gallery: the deleted faces stay in its write-ahead log until the next deletion"
            ),
            Err(e) => tracing::warn!(
                "cannot empty the gallery's write-ahead log: {}",
                db_error(&self.path, e).report()
            ),
        }
    }

    fn person_id(&self, name: &str) -> Result<i64> {
        let name = normalized_name(name);
        self.conn
            .query_row("SELECT id FROM person WHERE name = ?1", [&name], |r| {
                r.get(0)
            })
            .optional()
            .map_err(self.db())?
            .ok_or_else(|| Error::UnknownPerson(name))
    }
}

impl Gallery for SqliteGallery {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn add_faces(&mut self, name: &str, faces: &[NewFace]) -> Result<Vec<FaceId>> {
        self.intact()?;
        let name = validate_name(name)?;
        stored::check_lengths(&self.location(), faces)?;
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let person = upsert_person(&tx, &name, now(), None).map_err(db)?;
        let mut added = Vec::new();
        for face in faces {
            let record = StoredFace::enrolled(face);
            added.extend(insert_face(&tx, person, &record).map_err(db)?);
        }
        if !added.is_empty() {
            let detail = format!("person {person}: {} face(s) added", added.len());
            audit::log(&tx, &self.actor, AuditAction::Enroll, &detail).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(added)
    }

    fn person(&self, id: PersonId) -> Result<PersonSummary> {
        self.conn
            .query_row(
                &format!("{PERSON_SUMMARY} WHERE p.id = ?1 GROUP BY p.id"),
                [id.0],
                person_summary,
            )
            .optional()
            .map_err(self.db())?
            .ok_or_else(|| no_person(id))
    }

    fn create_person(&mut self, name: &str) -> Result<PersonSummary> {
        self.intact()?;
        let name = validate_name(name)?;
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let inserted = tx
            .execute(
                "INSERT INTO person (name, created) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
                params![name, now()],
            )
            .map_err(db)?;
        if inserted == 0 {
            return Err(Error::NameTaken(name));
        }
        let id = tx.last_insert_rowid();
        let detail = format!("person {id}: created with no faces");
        audit::log(&tx, &self.actor, AuditAction::Enroll, &detail).map_err(db)?;
        tx.commit().map_err(db)?;
        self.person(PersonId(id))
    }

    fn faces(&self, person: PersonId) -> Result<Vec<FaceSummary>> {
        self.person(person)?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.id, f.captured, f.source, f.confidence, f.face_px, f.sharpness,
                        f.image IS NOT NULL, fp.pose
                 FROM face f LEFT JOIN face_pose fp ON fp.face_id = f.id
                 WHERE f.person_id = ?1 ORDER BY f.id",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([person.0], |r| {
                Ok(FaceSummary {
                    id: FaceId(r.get(0)?),
                    captured: r.get(1)?,
                    source: r.get(2)?,
                    confidence: r.get(3)?,
                    face_px: r.get(4)?,
                    sharpness: r.get(5)?,
                    pose: pose_from_column(r.get::<_, Option<String>>(7)?.as_deref()),
                    has_image: r.get(6)?,
                })
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn face_image(&self, person: PersonId, face: FaceId) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT image FROM face WHERE id = ?1 AND person_id = ?2",
                [face.0, person.0],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.db())?
            .ok_or_else(|| no_face(person, face))
    }

    fn remove_face(&mut self, person: PersonId, face: FaceId) -> Result<()> {
        self.intact()?;
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let deleted = tx
            .execute(
                "DELETE FROM face WHERE id = ?1 AND person_id = ?2",
                [face.0, person.0],
            )
            .map_err(db)?;
        if deleted == 0 {
            return Err(no_face(person, face));
        }
        let detail = format!("person {}: face {} removed", person.0, face.0);
        audit::log(&tx, &self.actor, AuditAction::RemoveFace, &detail).map_err(db)?;
        tx.commit().map_err(db)?;
        self.forget_freed_pages();
        Ok(())
    }

    fn add_embedding(
        &mut self,
        face: FaceId,
        embedder: &EmbedderId,
        embedding: &Embedding,
    ) -> Result<()> {
        self.intact()?;
        self.conn
            .execute(
                "INSERT OR REPLACE INTO embedding (face_id, embedder, vector) VALUES (?1, ?2, ?3)",
                params![face.0, embedder.as_str(), vector_bytes(&embedding.0)],
            )
            .map_err(self.db())?;
        Ok(())
    }

    fn people(&self) -> Result<Vec<PersonSummary>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{PERSON_SUMMARY} GROUP BY p.id ORDER BY p.name"))
            .map_err(self.db())?;
        let rows = stmt.query_map([], person_summary).map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn source_hashes(&self, name: &str) -> Result<HashSet<String>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.source_sha256 FROM face f JOIN person p ON p.id = f.person_id
                 WHERE p.name = ?1 AND f.source_sha256 IS NOT NULL",
            )
            .map_err(self.db())?;
        let rows = stmt.query_map([name], |r| r.get(0)).map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn images(&self, name: &str) -> Result<Vec<Vec<u8>>> {
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

    fn rename(&mut self, old: &str, new: &str) -> Result<()> {
        self.intact()?;
        let new = validate_name(new)?;
        let id = self.person_id(old)?;
        if new == old {
            return Ok(());
        }
        if self.person_id(&new).is_ok() {
            return Err(Error::NameTaken(new));
        }
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        tx.execute(
            "UPDATE person SET name = ?1 WHERE id = ?2",
            params![new, id],
        )
        .map_err(db)?;
        let detail = format!("person {id}: renamed");
        audit::log(&tx, &self.actor, AuditAction::Rename, &detail).map_err(db)?;
        tx.commit().map_err(db)
    }

    fn remove(&mut self, name: &str) -> Result<Removed> {
        self.intact()?;
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
        let detail = format!(
            "person {id}: removed with {} face(s), {} embedding(s), {} crop(s)",
            removed.faces, removed.embeddings, removed.images
        );
        audit::log(&tx, &self.actor, AuditAction::Remove, &detail).map_err(db)?;
        tx.commit().map_err(db)?;
        self.compact();
        Ok(removed)
    }

    fn embeddings(&self, embedder: &EmbedderId) -> Result<Vec<Enrolled>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT p.name, e.vector FROM embedding e JOIN face f ON f.id = e.face_id
                 JOIN person p ON p.id = f.person_id WHERE e.embedder = ?1 ORDER BY p.id, f.id",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([embedder.as_str()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(self.db())?;
        let mut out = Vec::new();
        for row in rows {
            let (person, bytes) = row.map_err(self.db())?;
            out.extend(stored::enrolled(person, &bytes));
        }
        Ok(out)
    }

    fn set_own_thresholds(&mut self, changes: &[ThresholdChange]) -> Result<()> {
        self.intact()?;
        check_threshold_changes(changes)?;
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        for change in changes {
            let (id, was): (i64, Option<f32>) = tx
                .query_row(
                    "SELECT id, threshold FROM person WHERE name = ?1",
                    [normalized_name(&change.name)],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(db)?
                .ok_or_else(|| Error::UnknownPerson(change.name.clone()))?;
            let own = change.own.as_ref();
            tx.execute(
                "UPDATE person SET threshold = ?1, threshold_embedder = ?2 WHERE id = ?3",
                params![
                    own.map(|o| o.threshold),
                    own.map(|o| o.embedder.as_str()),
                    id
                ],
            )
            .map_err(db)?;
            let detail = threshold_detail(id, was, own);
            audit::log(&tx, &self.actor, AuditAction::Threshold, &detail).map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    fn faces_without(&self, embedder: &EmbedderId) -> Result<Vec<FaceToEmbed>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT f.id, p.name, f.image FROM face f JOIN person p ON p.id = f.person_id
                 WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id AND e.embedder = ?1)
                 ORDER BY f.id",
            )
            .map_err(self.db())?;
        let rows = stmt
            .query_map([embedder.as_str()], |r| {
                Ok(FaceToEmbed {
                    id: FaceId(r.get(0)?),
                    person: r.get(1)?,
                    image_png: r.get(2)?,
                })
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn count_without(&self, embedder: &EmbedderId) -> Result<usize> {
        self.conn
            .query_row(
                "SELECT count(*) FROM face f
                 WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id AND e.embedder = ?1)",
                [embedder.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as usize)
            .map_err(self.db())
    }

    fn mark_seen(&mut self, names: &[String]) -> Result<()> {
        self.intact()?;
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

    fn purge_sightings(&mut self, before: i64) -> Result<usize> {
        self.intact()?;
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let cleared = tx
            .execute(
                "UPDATE person SET last_seen = NULL WHERE last_seen < ?1",
                [before],
            )
            .map_err(db)?;
        if cleared > 0 {
            let detail = format!("last-seen times before {before} cleared for {cleared} people");
            audit::log(&tx, &self.actor, AuditAction::Purge, &detail).map_err(db)?;
        }
        tx.commit().map_err(db)?;
        Ok(cleared)
    }

    fn check(&self) -> Result<CheckReport> {
        self.check_contents()
    }

    fn export(&self) -> Result<ExportFile> {
        self.export_rows()
    }

    fn import(&mut self, file: &ExportFile) -> Result<usize> {
        self.intact()?;
        self.import_rows(file)
    }

    fn salvage(&self) -> Result<Salvaged> {
        Ok(self.salvage_rows())
    }

    fn add_key(&mut self, name: &str, scopes: &[Scope], hash: &str) -> Result<ApiKey> {
        self.intact()?;
        let name = validate_key_name(name)?;
        let created = now();
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let inserted = tx
            .execute(
                "INSERT INTO api_key (name, scopes, hash, created) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(name) DO NOTHING",
                params![name, ApiKey::scopes_text(scopes), hash, created],
            )
            .map_err(db)?;
        if inserted == 0 {
            return Err(key_taken(&name));
        }
        let detail = format!("key {name} ({})", ApiKey::scopes_text(scopes));
        audit::log(&tx, &self.actor, AuditAction::KeyCreated, &detail).map_err(db)?;
        tx.commit().map_err(db)?;
        Ok(ApiKey::from_row(
            name,
            &ApiKey::scopes_text(scopes),
            created,
        ))
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, scopes, created FROM api_key ORDER BY name")
            .map_err(self.db())?;
        let rows = stmt
            .query_map([], |r| {
                Ok(ApiKey::from_row(
                    r.get(0)?,
                    &r.get::<_, String>(1)?,
                    r.get(2)?,
                ))
            })
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        self.conn
            .query_row(
                "SELECT name, scopes, created FROM api_key WHERE hash = ?1",
                [hash],
                |r| {
                    Ok(ApiKey::from_row(
                        r.get(0)?,
                        &r.get::<_, String>(1)?,
                        r.get(2)?,
                    ))
                },
            )
            .optional()
            .map_err(self.db())
    }

    fn revoke_key(&mut self, name: &str) -> Result<()> {
        self.intact()?;
        let path = self.path.clone();
        let db = |e| db_error(&path, e);
        let tx = self.conn.transaction().map_err(db)?;
        let deleted = tx
            .execute("DELETE FROM api_key WHERE name = ?1", [name.trim()])
            .map_err(db)?;
        if deleted == 0 {
            return Err(no_key(name));
        }
        let detail = format!("key {}", name.trim());
        audit::log(&tx, &self.actor, AuditAction::KeyRevoked, &detail).map_err(db)?;
        tx.commit().map_err(db)
    }

    fn act_as(&mut self, actor: Actor) {
        self.actor = actor;
    }

    fn record(&mut self, action: AuditAction, detail: &str) -> Result<()> {
        self.intact()?;
        audit::log(&self.conn, &self.actor, action, detail).map_err(self.db())
    }

    fn audit(&self, since: i64) -> Result<Vec<AuditEntry>> {
        audit::read(&self.conn, since).map_err(self.db())
    }

    fn watch(&self) -> Result<ChangeFeed> {
        watch::watch(&self.path, self.key.as_ref())
    }
}

/// A person with their number of faces; the caller adds the WHERE, GROUP BY and ORDER BY.
const PERSON_SUMMARY: &str = "SELECT p.id, p.name, count(f.id), p.created, p.last_seen,
    p.threshold, p.threshold_embedder, group_concat(fp.pose)
    FROM person p LEFT JOIN face f ON f.person_id = p.id
        LEFT JOIN face_pose fp ON fp.face_id = f.id";

fn person_summary(r: &rusqlite::Row<'_>) -> rusqlite::Result<PersonSummary> {
    Ok(PersonSummary {
        id: PersonId(r.get(0)?),
        name: r.get(1)?,
        faces: r.get::<_, i64>(2)? as usize,
        created: r.get(3)?,
        last_seen: r.get(4)?,
        own_threshold: OwnThreshold::from_columns(r.get(5)?, r.get(6)?),
        poses: poses_from_list(r.get::<_, Option<String>>(7)?.as_deref()),
    })
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

/// Inserts a face and its embeddings; `None` when the person has this photo already.
fn insert_face(
    tx: &rusqlite::Transaction<'_>,
    person_id: i64,
    face: &StoredFace<'_>,
) -> rusqlite::Result<Option<FaceId>> {
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
        return Ok(None);
    }
    let face_id = tx.last_insert_rowid();
    if let Some(pose) = face.pose {
        tx.execute(
            "INSERT INTO face_pose (face_id, pose) VALUES (?1, ?2)",
            params![face_id, pose],
        )?;
    }
    for (embedder, vector) in &face.embeddings {
        tx.execute(
            "INSERT INTO embedding (face_id, embedder, vector) VALUES (?1, ?2, ?3)",
            params![face_id, embedder.as_str(), vector],
        )?;
    }
    Ok(Some(FaceId(face_id)))
}

#[cfg(test)]
mod tests {
    use super::fixtures::{Secret, face};
    use super::*;
    use crate::base::identity::EmbedderKind;
    use std::time::Duration;

    #[test]
    fn poses_are_stored_per_face_summarised_per_person_and_exported() {
        use crate::vision::pose::Pose;
        let dir = tempfile::tempdir().unwrap();
        let mut g = SqliteGallery::open(dir.path(), None).unwrap();
        let posed = |v, source, pose| NewFace {
            pose,
            ..face(v, source)
        };
        g.add_faces(
            "Ann",
            &[
                posed(0.1, "a", Some(Pose::Left)),
                posed(0.2, "b", Some(Pose::Front)),
                posed(0.3, "c", Some(Pose::Left)),
            ],
        )
        .unwrap();
        // Faces enrolled before poses were recorded have none.
        g.add_faces("Bob", &[posed(0.4, "d", None)]).unwrap();
        let people = g.people().unwrap();
        assert_eq!(people[0].poses, [Pose::Front, Pose::Left]);
        assert_eq!(people[0].pose_report(), "front,left (2/4)");
        assert_eq!(people[1].pose_report(), "unknown (0/4)");
        let faces = g.faces(people[0].id).unwrap();
        assert_eq!(
            faces.iter().map(|f| f.pose).collect::<Vec<_>>(),
            [Some(Pose::Left), Some(Pose::Front), Some(Pose::Left)]
        );
        let export = g.export().unwrap();
        let copy = tempfile::tempdir().unwrap();
        let mut other = SqliteGallery::open(copy.path(), None).unwrap();
        other.import(&export).unwrap();
        assert_eq!(other.people().unwrap()[0].poses, [Pose::Front, Pose::Left]);
    }

    #[test]
    fn survives_reopening_and_keeps_embedders_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = SqliteGallery::open(dir.path(), None).unwrap();
        assert_eq!(
            g.add_faces("Ann", &[face(0.1, "a"), face(0.2, "b")])
                .unwrap()
                .len(),
            2
        );
        let other = NewFace {
            embedder: EmbedderKind::OpenFace.id(),
            ..face(0.3, "c")
        };
        g.add_faces(" Ann ", &[other]).unwrap();
        g.add_faces("Bob", &[face(0.4, "d")]).unwrap();
        drop(g);
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        assert_eq!(
            g.people()
                .unwrap()
                .iter()
                .map(|p| (p.name.as_str(), p.faces))
                .collect::<Vec<_>>(),
            [("Ann", 3), ("Bob", 1)]
        );
        assert_eq!(g.embeddings(&EmbedderKind::Dlib.id()).unwrap().len(), 3);
        assert_eq!(
            g.embeddings(&EmbedderKind::OpenFace.id())
                .unwrap()
                .iter()
                .map(|e| e.person.as_str())
                .collect::<Vec<_>>(),
            ["Ann"]
        );
        assert_eq!(g.count_without(&EmbedderKind::Dlib.id()).unwrap(), 1);
        assert!(g.check().unwrap().problems.is_empty());
    }

    #[test]
    fn the_gallery_is_private_to_its_owner() {
        use std::os::unix::fs::PermissionsExt as _;
        let root = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = root.path().join("data");
        let mut g = SqliteGallery::open(&dir, None).unwrap();
        g.add_faces("Ann", &[face(0.1, "a")]).unwrap();
        assert_eq!(mode(&dir), 0o700);
        for file in [
            "gallery.sqlite3",
            "gallery.sqlite3-wal",
            "gallery.sqlite3-shm",
        ] {
            assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
        }
        drop(g);
        // A gallery an earlier whoisit left readable is made private when opened.
        let file = dir.join("gallery.sqlite3");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        drop(SqliteGallery::open(&dir, None).unwrap());
        assert_eq!((mode(&dir), mode(&file)), (0o700, 0o600));
    }

    #[test]
    fn a_removed_person_leaves_no_crop_or_embedding_in_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = SqliteGallery::open(dir.path(), None).unwrap();
        let secret = Secret::new();
        g.add_faces("Ann", std::slice::from_ref(&secret.face))
            .unwrap();
        g.add_faces("Bob", &[face(0.4, "b")]).unwrap();
        assert_eq!(
            secret.found_in(dir.path()).len(),
            4,
            "the test must see the face first"
        );
        let size = || {
            ["gallery.sqlite3", "gallery.sqlite3-wal"]
                .iter()
                .map(|f| std::fs::metadata(dir.path().join(f)).map_or(0, |m| m.len()))
                .sum::<u64>()
        };
        let before = size();
        g.remove("Ann").unwrap();
        assert_eq!(secret.found_in(dir.path()), Vec::<&str>::new());
        assert_eq!(g.people().unwrap().len(), 1);
        // Compacted: the file does not even keep the room the face took.
        assert!(size() + 16_384 < before, "{} then {before}", size());
    }

    #[test]
    fn every_change_is_in_the_audit_trail_by_id_and_the_trail_cannot_be_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = SqliteGallery::open(dir.path(), None).unwrap();
        g.act_as(Actor::api_key("frontdesk"));
        g.add_faces("Ann", &[face(0.1, "a"), face(0.2, "b")])
            .unwrap();
        g.rename("Ann", "Anna").unwrap();
        let person = g.people().unwrap()[0].id;
        let first = g.faces(person).unwrap()[0].id;
        g.remove_face(person, first).unwrap();
        g.add_key("app", &[Scope::Admin], &"0".repeat(64)).unwrap();
        g.revoke_key("app").unwrap();
        g.record(AuditAction::Export, "1 people, 1 face(s) to out.json")
            .unwrap();
        g.act_as(Actor::window());
        g.remove("Anna").unwrap();
        let trail = g.audit(0).unwrap();
        let actions: Vec<_> = trail.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "enroll",
                "rename",
                "remove_face",
                "key_created",
                "key_revoked",
                "export",
                "remove"
            ]
        );
        assert!(trail[..6].iter().all(|e| e.actor == "api:frontdesk"));
        assert!(trail[6].actor.starts_with("window:"));
        assert_eq!(
            trail[0].detail,
            format!("person {}: 2 face(s) added", person.0)
        );
        assert!(
            trail.iter().all(|e| !e.detail.contains("Ann")),
            "names stay out of the trail: {trail:?}"
        );
        for sql in ["UPDATE audit SET detail = 'nothing'", "DELETE FROM audit"] {
            let refused = g.conn.execute(sql, []).unwrap_err().to_string();
            assert!(refused.contains("append-only"), "{refused}");
        }
        assert_eq!(g.audit(0).unwrap(), trail);
        assert!(g.audit(now() + 60).unwrap().is_empty());
    }

    #[test]
    fn the_same_photo_is_not_added_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = SqliteGallery::open(dir.path(), None).unwrap();
        assert_eq!(g.add_faces("Ann", &[face(0.1, "a")]).unwrap().len(), 1);
        assert_eq!(
            g.add_faces("Ann", &[face(0.1, "a"), face(0.2, "b")])
                .unwrap()
                .len(),
            1
        );
        assert_eq!(g.people().unwrap()[0].faces, 2);
    }

    #[test]
    fn a_capture_from_no_file_is_not_added_twice_either() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = SqliteGallery::open(&dir.path().join("a"), None).unwrap();
        let capture = |v| NewFace {
            source_sha256: None,
            image_png: Some(crate::base::image::grey_png(8, 8)),
            ..face(v, "window capture")
        };
        let without_crop = NewFace {
            source_sha256: None,
            ..face(0.7, "window capture")
        };
        assert_eq!(
            g.add_faces("Ann", &[capture(0.1), without_crop.clone()])
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            g.add_faces("Ann", &[capture(0.1), without_crop])
                .unwrap()
                .len(),
            0
        );
        // The crop is the same, so it is the same capture, whatever its embedding.
        assert_eq!(g.add_faces("Ann", &[capture(0.2)]).unwrap().len(), 0);
        let mut h = SqliteGallery::open(&dir.path().join("b"), None).unwrap();
        let export = g.export().unwrap();
        assert_eq!(h.import(&export).unwrap(), 2);
        assert_eq!(h.import(&export).unwrap(), 0);
        assert_eq!(g.import(&h.export().unwrap()).unwrap(), 0);
    }

    #[test]
    fn bad_names_and_embeddings_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = SqliteGallery::open(dir.path(), None).unwrap();
        g.add_faces("Ann", &[face(0.1, "a")]).unwrap();
        for bad in ["", "   ", &"x".repeat(10_000), "a\nb"] {
            assert!(g.add_faces(bad, &[face(0.2, "b")]).is_err(), "{bad:?}");
        }
        let short = NewFace {
            embedding: Embedding(vec![0.0; 5]),
            ..face(0.0, "c")
        };
        assert!(g.add_faces("Ann", &[face(0.3, "d"), short]).is_err());
        assert_eq!(g.embeddings(&EmbedderKind::Dlib.id()).unwrap().len(), 1);
        assert!(g.rename("Ann", "").is_err());
        assert!(g.rename("Nobody", "Zed").is_err());
    }

    #[test]
    fn rename_and_remove_say_what_they_did() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = SqliteGallery::open(dir.path(), None).unwrap();
        g.add_faces(
            "Ann",
            &[
                face(0.1, "a"),
                NewFace {
                    image_png: Some(crate::base::image::grey_png(8, 8)),
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
        assert_eq!(g.embeddings(&EmbedderKind::Dlib.id()).unwrap().len(), 1);
    }

    #[test]
    fn export_then_import_round_trips_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = SqliteGallery::open(&dir.path().join("a"), None).unwrap();
        g.add_faces("Ann", &[face(0.1, "a"), face(0.2, "b")])
            .unwrap();
        g.add_faces("Bob", &[face(0.4, "d")]).unwrap();
        let file = g.export().unwrap();
        let json = serde_json::to_string(&file).unwrap();
        let mut h = SqliteGallery::open(&dir.path().join("b"), None).unwrap();
        let parsed: ExportFile = serde_json::from_str(&json).unwrap();
        assert_eq!(h.import(&parsed).unwrap(), 3);
        assert_eq!(h.import(&parsed).unwrap(), 0);
        assert_eq!(
            h.embeddings(&EmbedderKind::Dlib.id()).unwrap(),
            g.embeddings(&EmbedderKind::Dlib.id()).unwrap()
        );
    }

    #[test]
    fn files_that_are_not_galleries_are_reported_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, b"this is not a database, but somebody's notes").unwrap();
        let err = SqliteGallery::open(dir.path(), None).err().unwrap();
        assert!(err.to_string().contains("not an SQLite database"), "{err}");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"this is not a database, but somebody's notes"
        );

        std::fs::remove_file(&path).unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        g.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(g);
        let err = SqliteGallery::open(dir.path(), None).err().unwrap();
        assert!(err.to_string().contains("newer whoisit"), "{err}");
    }

    #[test]
    fn changes_from_any_connection_are_announced() {
        let dir = tempfile::tempdir().unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        let feed = g.watch().unwrap();
        assert!(
            feed.changes()
                .recv_timeout(Duration::from_millis(600))
                .is_err(),
            "nothing changed yet"
        );
        let mut other = SqliteGallery::open(dir.path(), None).unwrap();
        other.add_faces("Ann", &[face(0.1, "a")]).unwrap();
        assert_eq!(
            feed.changes().recv_timeout(Duration::from_secs(5)),
            Ok(crate::gallery::Changed)
        );
    }
}
