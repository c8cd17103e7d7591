//! The gallery in one SQLite file in the data dir (see docs/decisions/0001-gallery-on-sqlite.md):
//! WAL mode with a busy timeout, so the CLI can enroll while the app is matching, and one
//! transaction per change, so a crash or a power cut loses at most the change in flight.
//!
//! One connection writes, behind a lock (SQLite lets one writer in at a time anyway); a pool of
//! connections reads. In WAL mode a reader sees the last commit while the writer writes, so
//! key checks and roster loads never wait for a change, not even for the VACUUM that follows
//! a deletion.

mod audit;
mod check;
mod cipher;
mod codec;
mod corrections;
mod export;
#[cfg(test)]
pub(super) mod fixtures;
mod private;
mod schema;
mod sightings;
mod visitors;
mod watch;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, Enrolled};
use crate::gallery::audit::{Actor, AuditAction, AuditEntry};
use crate::gallery::key::GalleryKey;
use crate::gallery::model::{
    ApiKey, CheckReport, FaceId, FaceSummary, FaceToEmbed, KeyTable, NewFace, OwnThreshold,
    PersonId, PersonSummary, Removed, Scope, ThresholdChange, check_site_threshold,
    check_threshold_changes, enrolled_detail, face_removed_detail, key_detail, key_taken, no_face,
    no_face_id, no_key, no_person, now, pose_from_column, poses_from_list, removed_detail,
    renamed_detail, site_threshold_detail, threshold_detail, validate_key_name, validate_name,
};
use crate::gallery::{ChangeFeed, ExportFile, Gallery, Salvaged, sql};

use self::codec::db_error;
use crate::gallery::stored::{self, StoredFace, vector_bytes};

const FILE_NAME: &str = "gallery.sqlite3";

/// The nice value of the VACUUM after a deletion: below whatever recognises.
const COMPACT_NICE: i32 = 15;

/// Readers: enough for the server's requests and its roster to read at once.
const READERS: u32 = 4;

/// The gallery file and the connections to it.
pub struct SqliteGallery {
    path: PathBuf,
    /// The connection every change goes through.
    writer: Mutex<Connection>,
    readers: r2d2::Pool<Readers>,
    /// The key the file is encrypted with (SQLCipher), kept for the watcher's own connection.
    key: Option<GalleryKey>,
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
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            // None kept open in advance: r2d2 would open the spare in a background thread
            // after a checkout, and an encrypted one derives its key with OpenSSL, which a
            // command that ends meanwhile has already cleaned up (a segfault at exit in 1 of 4
            // runs of `people list` on an encrypted gallery).
            .min_idle(Some(0))
            // A file does not drop connections as a server does: nothing to test on checkout.
            .test_on_check_out(false)
            .connection_timeout(Duration::from_secs(10))
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(Readers {
                path: path.to_path_buf(),
                key: key.cloned(),
            })
            .map_err(|e| pool_error(path, &e))?;
        if let Some(damage) = &damage {
            tracing::warn!(
                "gallery {} is damaged ({damage}): it can be read, not changed; save what can be read with `whoisit gallery export --salvage FILE`",
                path.display()
            );
        }
        Ok(SqliteGallery {
            path: path.to_path_buf(),
            writer: Mutex::new(conn),
            readers,
            key: key.cloned(),
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

    /// The vectors `sql` reads from `embedder` (person id, name, an id, vector), with their
    /// people: enrolled faces' embeddings or negative examples.
    fn enrolled(&self, sql: &str, embedder: &EmbedderId) -> Result<Vec<Enrolled>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(sql).map_err(self.db())?;
        let rows = stmt
            .query_map([embedder.as_str()], |r| {
                Ok((
                    PersonId(r.get(0)?),
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(3)?,
                ))
            })
            .map_err(self.db())?;
        let mut out = Vec::new();
        for row in rows {
            let (id, name, bytes) = row.map_err(self.db())?;
            out.extend(stored::enrolled(id, name, &bytes));
        }
        Ok(out)
    }

    fn db(&self) -> impl Fn(rusqlite::Error) -> Error + '_ {
        |e| db_error(&self.path, e)
    }

    /// A connection that reads, from the pool.
    fn read(&self) -> Result<r2d2::PooledConnection<Readers>> {
        self.readers.get().map_err(|e| pool_error(&self.path, &e))
    }

    /// The connection that writes, once the file is known to be intact.
    fn write(&self) -> Result<MutexGuard<'_, Connection>> {
        self.intact()?;
        self.writer
            .lock()
            .map_err(|_| Error::Internal("a thread panicked while it changed the gallery"))
    }

    /// After a person is removed: rebuilds the file without the freed pages, so it shrinks
    /// and no trace of their size remains, then empties the log as below. A busy file (another
    /// process reading) keeps the pages, zeroed by `secure_delete`. Readers go on reading
    /// meanwhile (WAL); other changes wait for it. It rewrites the whole file, seconds of CPU
    /// and disk on a large gallery: it runs on a thread of its own at a low priority (nice
    /// [`COMPACT_NICE`]), so that recognition, which needs the CPU now, goes first.
    fn compact(&self, conn: &mut Connection) {
        let vacuumed: &mut Connection = conn;
        let compacted = std::thread::scope(|s| {
            std::thread::Builder::new()
                .name("gallery-compact".into())
                .spawn_scoped(s, move || {
                    // Linux: the calling thread's nice value only; the caller's is untouched.
                    if let Err(e) = rustix::process::setpriority_process(None, COMPACT_NICE) {
                        tracing::debug!("compaction at the usual priority: {e}");
                    }
                    vacuumed.execute_batch("VACUUM")
                })
                .map(std::thread::ScopedJoinHandle::join)
        });
        let failure = match compacted {
            Ok(Ok(Ok(()))) => None,
            Ok(Ok(Err(e))) => Some(db_error(&self.path, e).report()),
            Ok(Err(_)) => Some("the compaction thread panicked".to_owned()),
            Err(e) => Some(format!("no thread for it: {e}")),
        };
        if let Some(failure) = failure {
            tracing::warn!(
                "cannot compact the gallery after the deletion (its freed pages are zeroed all the same): {failure}"
            );
        }
        self.forget_freed_pages(conn);
    }

    /// Moves the zeroed pages of a deletion (`secure_delete`) into the database file and empties
    /// the write-ahead log, which still holds the deleted bytes. A reader holding an old
    /// snapshot can keep the log from emptying; the next deletion tries again.
    fn forget_freed_pages(&self, conn: &Connection) {
        let busy = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
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
}

/// Opens the connections that read.
struct Readers {
    path: PathBuf,
    key: Option<GalleryKey>,
}

impl r2d2::ManageConnection for Readers {
    type Connection = Connection;
    type Error = Error;

    fn connect(&self) -> Result<Connection> {
        let conn = cipher::another(&self.path, self.key.as_ref())?;
        schema::prepare(&conn, &self.path)?;
        // A reader that tried to write would be a bug; SQLite refuses it.
        conn.pragma_update(None, "query_only", true)
            .map_err(|e| db_error(&self.path, e))?;
        Ok(conn)
    }

    fn is_valid(&self, _: &mut Connection) -> Result<()> {
        Ok(())
    }

    fn has_broken(&self, _: &mut Connection) -> bool {
        false
    }
}

/// No reader could be had: the file went away or became unreadable since it was opened.
fn pool_error(path: &Path, error: &r2d2::Error) -> Error {
    codec::gallery_error(path, format!("cannot be read: {error}"))
}

/// Whether the person `id` exists, read inside the change that depends on it.
fn exists(conn: &Connection, id: PersonId) -> rusqlite::Result<bool> {
    conn.query_row(sql::PERSON_EXISTS, [id.0], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// The roster's version: bumped by every change to who can be named (schema 6's triggers).
fn roster_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(sql::ROSTER_VERSION, [], |r| r.get(0))
}

/// The keys' version: bumped by every key made or revoked (schema 7's triggers).
fn keys_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(sql::KEY_VERSION, [], |r| r.get(0))
}

/// A write transaction that takes the file's write lock at once, so that what it reads first
/// (does the person exist?) still holds when it writes.
fn begin(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
}

impl Gallery for SqliteGallery {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn add_faces_to(
        &self,
        person: PersonId,
        faces: &[NewFace],
        actor: &Actor,
    ) -> Result<Vec<FaceId>> {
        stored::check_lengths(&self.location(), faces)?;
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        if !exists(&tx, person).map_err(&db)? {
            return Err(no_person(person));
        }
        let added = insert_faces(&tx, person.0, faces).map_err(&db)?;
        if !added.is_empty() {
            let detail = enrolled_detail(person.0, added.len());
            audit::log(&tx, actor, AuditAction::Enroll, &detail).map_err(&db)?;
        }
        tx.commit().map_err(&db)?;
        Ok(added)
    }

    fn person(&self, id: PersonId) -> Result<PersonSummary> {
        self.read()?
            .query_row(
                &format!("{} WHERE p.id = $1 GROUP BY p.id", sql::PERSON_SUMMARY),
                [id.0],
                person_summary,
            )
            .optional()
            .map_err(self.db())?
            .ok_or_else(|| no_person(id))
    }

    fn create_person(
        &self,
        name: &str,
        faces: &[NewFace],
        actor: &Actor,
    ) -> Result<(PersonId, Vec<FaceId>)> {
        let name = validate_name(name)?;
        stored::check_lengths(&self.location(), faces)?;
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let Some(id) = tx
            .query_row(sql::CREATE_PERSON, params![name, now()], |r| r.get(0))
            .optional()
            .map_err(&db)?
        else {
            return Err(Error::NameTaken(name));
        };
        let added = insert_faces(&tx, id, faces).map_err(&db)?;
        audit::log(
            &tx,
            actor,
            AuditAction::Enroll,
            &enrolled_detail(id, added.len()),
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok((PersonId(id), added))
    }

    fn faces(&self, person: PersonId) -> Result<Vec<FaceSummary>> {
        let conn = self.read()?;
        if !exists(&conn, person).map_err(self.db())? {
            return Err(no_person(person));
        }
        let mut stmt = conn.prepare(sql::FACES).map_err(self.db())?;
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
        self.read()?
            .query_row(sql::FACE_IMAGE, [face.0, person.0], |r| r.get(0))
            .optional()
            .map_err(self.db())?
            .ok_or_else(|| no_face(person, face))
    }

    fn remove_face(&self, person: PersonId, face: FaceId, actor: &Actor) -> Result<()> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let deleted = tx
            .execute(sql::REMOVE_FACE, [face.0, person.0])
            .map_err(&db)?;
        if deleted == 0 {
            return Err(no_face(person, face));
        }
        let detail = face_removed_detail(person, face);
        audit::log(&tx, actor, AuditAction::RemoveFace, &detail).map_err(&db)?;
        tx.commit().map_err(&db)?;
        self.forget_freed_pages(&conn);
        Ok(())
    }

    fn add_embedding(
        &self,
        face: FaceId,
        embedder: &EmbedderId,
        embedding: &Embedding,
    ) -> Result<()> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let found = tx
            .query_row(sql::FACE_EXISTS, [face.0], |_| Ok(()))
            .optional()
            .map_err(&db)?;
        if found.is_none() {
            return Err(no_face_id(face));
        }
        tx.execute(
            sql::SET_EMBEDDING,
            params![face.0, embedder.as_str(), vector_bytes(&embedding.0)],
        )
        .map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn people(&self) -> Result<Vec<PersonSummary>> {
        let conn = self.read()?;
        let mut stmt = conn
            .prepare(&format!(
                "{} GROUP BY p.id ORDER BY p.name",
                sql::PERSON_SUMMARY
            ))
            .map_err(self.db())?;
        let rows = stmt.query_map([], person_summary).map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn source_hashes(&self, person: PersonId) -> Result<HashSet<String>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(sql::SOURCE_HASHES).map_err(self.db())?;
        let rows = stmt
            .query_map([person.0], |r| r.get(0))
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn images(&self, person: PersonId) -> Result<Vec<Vec<u8>>> {
        let conn = self.read()?;
        if !exists(&conn, person).map_err(self.db())? {
            return Err(no_person(person));
        }
        let mut stmt = conn.prepare(sql::IMAGES).map_err(self.db())?;
        let rows = stmt
            .query_map([person.0], |r| r.get(1))
            .map_err(self.db())?;
        rows.collect::<rusqlite::Result<_>>().map_err(self.db())
    }

    fn rename(&self, person: PersonId, new: &str, actor: &Actor) -> Result<()> {
        let new = validate_name(new)?;
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let old: String = tx
            .query_row(sql::PERSON_NAME, [person.0], |r| r.get(0))
            .optional()
            .map_err(&db)?
            .ok_or_else(|| no_person(person))?;
        if old == new {
            return Ok(());
        }
        let taken = tx
            .query_row(sql::NAME_TAKEN, [&new], |_| Ok(()))
            .optional()
            .map_err(&db)?;
        if taken.is_some() {
            return Err(Error::NameTaken(new));
        }
        tx.execute(sql::RENAME, params![new, person.0])
            .map_err(&db)?;
        let detail = renamed_detail(person);
        audit::log(&tx, actor, AuditAction::Rename, &detail).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn remove(&self, person: PersonId, actor: &Actor) -> Result<Removed> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        if !exists(&tx, person).map_err(&db)? {
            return Err(no_person(person));
        }
        let removed = tx
            .query_row(sql::REMOVED_WITH, [person.0], |r| {
                Ok(Removed {
                    faces: r.get::<_, i64>(0)? as usize,
                    embeddings: r.get::<_, i64>(1)? as usize,
                    images: r.get::<_, i64>(2)? as usize,
                })
            })
            .map_err(&db)?;
        tx.execute(sql::REMOVE_PERSON, [person.0]).map_err(&db)?;
        let detail = removed_detail(person, &removed);
        audit::log(&tx, actor, AuditAction::Remove, &detail).map_err(&db)?;
        tx.commit().map_err(&db)?;
        self.compact(&mut conn);
        Ok(removed)
    }

    fn embeddings(&self, embedder: &EmbedderId) -> Result<Vec<Enrolled>> {
        self.enrolled(sql::EMBEDDINGS, embedder)
    }

    fn set_own_thresholds(&self, changes: &[ThresholdChange], actor: &Actor) -> Result<()> {
        check_threshold_changes(changes)?;
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        for change in changes {
            let (id, was): (i64, Option<f32>) = tx
                .query_row(sql::PERSON_THRESHOLD, [change.person.0], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(&db)?
                .ok_or_else(|| no_person(change.person))?;
            let own = change.own.as_ref();
            tx.execute(
                sql::SET_THRESHOLD,
                params![
                    own.map(|o| o.threshold),
                    own.map(|o| o.embedder.as_str()),
                    id
                ],
            )
            .map_err(&db)?;
            let detail = threshold_detail(id, was, own);
            audit::log(&tx, actor, AuditAction::Threshold, &detail).map_err(&db)?;
        }
        tx.commit().map_err(&db)
    }

    fn site_threshold(&self, embedder: &EmbedderId) -> Result<Option<f32>> {
        self.read()?
            .query_row(sql::SITE_THRESHOLD, [embedder.as_str()], |r| r.get(0))
            .optional()
            .map_err(self.db())
    }

    fn set_site_threshold(
        &self,
        embedder: &EmbedderId,
        threshold: Option<f32>,
        actor: &Actor,
    ) -> Result<()> {
        check_site_threshold(threshold)?;
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let was: Option<f32> = tx
            .query_row(sql::SITE_THRESHOLD, [embedder.as_str()], |r| r.get(0))
            .optional()
            .map_err(&db)?;
        match threshold {
            Some(t) => tx.execute(sql::SET_SITE_THRESHOLD, params![embedder.as_str(), t]),
            None => tx.execute(sql::CLEAR_SITE_THRESHOLD, [embedder.as_str()]),
        }
        .map_err(&db)?;
        let detail = site_threshold_detail(embedder, was, threshold);
        audit::log(&tx, actor, AuditAction::SiteThreshold, &detail).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn faces_without(&self, embedder: &EmbedderId) -> Result<Vec<FaceToEmbed>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(sql::FACES_WITHOUT).map_err(self.db())?;
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
        self.read()?
            .query_row(sql::COUNT_WITHOUT, [embedder.as_str()], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as usize)
            .map_err(self.db())
    }

    fn check(&self) -> Result<CheckReport> {
        self.check_contents()
    }

    fn export(&self) -> Result<ExportFile> {
        self.export_rows()
    }

    fn import(&self, file: &ExportFile, actor: &Actor) -> Result<usize> {
        self.import_rows(file, actor)
    }

    fn salvage(&self) -> Result<Salvaged> {
        // The writer: a damaged file refuses changes, so it is free, and it opened already.
        let conn = self
            .writer
            .lock()
            .map_err(|_| Error::Internal("a thread panicked while it changed the gallery"))?;
        Ok(Self::salvage_rows(&conn))
    }

    fn add_key(&self, name: &str, scopes: &[Scope], hash: &str, actor: &Actor) -> Result<ApiKey> {
        let name = validate_key_name(name)?;
        let created = now();
        let scopes = ApiKey::scopes_text(scopes);
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let inserted = tx
            .execute(sql::ADD_KEY, params![name, scopes, hash, created])
            .map_err(&db)?;
        if inserted == 0 {
            return Err(key_taken(&name));
        }
        let detail = key_detail(&name, Some(&scopes));
        audit::log(&tx, actor, AuditAction::KeyCreated, &detail).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(ApiKey::from_row(name, &scopes, created))
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        let conn = self.read()?;
        let mut stmt = conn.prepare(sql::KEYS).map_err(self.db())?;
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
        self.read()?
            .query_row(sql::KEY_BY_HASH, [hash], |r| {
                Ok(ApiKey::from_row(
                    r.get(0)?,
                    &r.get::<_, String>(1)?,
                    r.get(2)?,
                ))
            })
            .optional()
            .map_err(self.db())
    }

    fn revoke_key(&self, name: &str, actor: &Actor) -> Result<()> {
        let db = self.db();
        let mut conn = self.write()?;
        let tx = begin(&mut conn).map_err(&db)?;
        let deleted = tx.execute(sql::REVOKE_KEY, [name.trim()]).map_err(&db)?;
        if deleted == 0 {
            return Err(no_key(name));
        }
        let detail = key_detail(name.trim(), None);
        audit::log(&tx, actor, AuditAction::KeyRevoked, &detail).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn key_table(&self) -> Result<KeyTable> {
        let mut conn = self.read()?;
        // One snapshot: the version is that of the keys read with it.
        let tx = conn.transaction().map_err(self.db())?;
        let version = keys_version(&tx).map_err(self.db())?;
        let mut stmt = tx.prepare(sql::KEY_TABLE).map_err(self.db())?;
        let by_hash = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    ApiKey::from_row(r.get(1)?, &r.get::<_, String>(2)?, r.get(3)?),
                ))
            })
            .map_err(self.db())?
            .collect::<rusqlite::Result<_>>()
            .map_err(self.db())?;
        Ok(KeyTable { version, by_hash })
    }

    fn keys_version(&self) -> Result<i64> {
        keys_version(&*self.read()?).map_err(self.db())
    }

    fn record(&self, action: AuditAction, detail: &str, actor: &Actor) -> Result<()> {
        audit::log(&*self.write()?, actor, action, detail).map_err(self.db())
    }

    fn audit(&self, since: i64) -> Result<Vec<AuditEntry>> {
        audit::read(&*self.read()?, since).map_err(self.db())
    }

    fn watch(&self) -> Result<ChangeFeed> {
        watch::watch(&self.path, self.key.as_ref())
    }

    fn roster_version(&self) -> Result<i64> {
        roster_version(&*self.read()?).map_err(self.db())
    }
}

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
    tx.execute(sql::IMPORT_PERSON, params![name, created, last_seen])?;
    tx.query_row(sql::PERSON_ID, [name], |r| r.get(0))
}

/// Inserts `faces` of person `id`; those the person has already are skipped.
fn insert_faces(
    tx: &rusqlite::Transaction<'_>,
    id: i64,
    faces: &[NewFace],
) -> rusqlite::Result<Vec<FaceId>> {
    let mut added = Vec::new();
    for face in faces {
        added.extend(insert_face(tx, id, &StoredFace::enrolled(face))?);
    }
    Ok(added)
}

/// Inserts a face and its embeddings; `None` when the person has this photo already.
fn insert_face(
    tx: &rusqlite::Transaction<'_>,
    person_id: i64,
    face: &StoredFace<'_>,
) -> rusqlite::Result<Option<FaceId>> {
    let inserted = tx
        .query_row(
            sql::INSERT_FACE,
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
            |r| r.get(0),
        )
        .optional()?;
    let Some(face_id) = inserted else {
        return Ok(None);
    };
    if let Some(pose) = face.pose {
        tx.execute(sql::INSERT_POSE, params![face_id, pose])?;
    }
    for (embedder, vector) in &face.embeddings {
        tx.execute(
            sql::INSERT_EMBEDDING,
            params![face_id, embedder.as_str(), vector],
        )?;
    }
    Ok(Some(FaceId(face_id)))
}

#[cfg(test)]
mod tests {
    use super::fixtures::{Secret, add, cli, face, remove, rename};
    use super::*;
    use crate::base::identity::EmbedderKind;
    use crate::gallery::Sightings as _;
    use std::time::Duration;

    #[test]
    fn poses_are_stored_per_face_summarised_per_person_and_exported() {
        use crate::vision::pose::Pose;
        let dir = tempfile::tempdir().unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        let posed = |v, source, pose| NewFace {
            pose,
            ..face(v, source)
        };
        add(
            &g,
            "Ann",
            &[
                posed(0.1, "a", Some(Pose::Left)),
                posed(0.2, "b", Some(Pose::Front)),
                posed(0.3, "c", Some(Pose::Left)),
            ],
        )
        .unwrap();
        // Faces enrolled before poses were recorded have none.
        add(&g, "Bob", &[posed(0.4, "d", None)]).unwrap();
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
        let other = SqliteGallery::open(copy.path(), None).unwrap();
        other.import(&export, &cli()).unwrap();
        assert_eq!(other.people().unwrap()[0].poses, [Pose::Front, Pose::Left]);
    }

    #[test]
    fn survives_reopening_and_keeps_embedders_apart() {
        let dir = tempfile::tempdir().unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        assert_eq!(
            add(&g, "Ann", &[face(0.1, "a"), face(0.2, "b")])
                .unwrap()
                .len(),
            2
        );
        let other = NewFace {
            embedder: EmbedderKind::OpenFace.id(),
            ..face(0.3, "c")
        };
        add(&g, " Ann ", &[other]).unwrap();
        add(&g, "Bob", &[face(0.4, "d")]).unwrap();
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
        let g = SqliteGallery::open(&dir, None).unwrap();
        add(&g, "Ann", &[face(0.1, "a")]).unwrap();
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
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        let secret = Secret::new();
        add(&g, "Ann", std::slice::from_ref(&secret.face)).unwrap();
        add(&g, "Bob", &[face(0.4, "b")]).unwrap();
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
        remove(&g, "Ann").unwrap();
        assert_eq!(secret.found_in(dir.path()), Vec::<&str>::new());
        assert_eq!(g.people().unwrap().len(), 1);
        // Compacted: the file does not even keep the room the face took.
        assert!(size() + 16_384 < before, "{} then {before}", size());
    }

    #[test]
    fn every_change_is_in_the_audit_trail_by_id_and_the_trail_cannot_be_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        let key = Actor::api_key("frontdesk");
        let (person, _) = g.create_person("Ann", &[], &key).unwrap();
        g.add_faces_to(person, &[face(0.1, "a"), face(0.2, "b")], &key)
            .unwrap();
        g.rename(person, "Anna", &key).unwrap();
        let first = g.faces(person).unwrap()[0].id;
        g.remove_face(person, first, &key).unwrap();
        g.add_key("app", &[Scope::Admin], &"0".repeat(64), &key)
            .unwrap();
        g.revoke_key("app", &key).unwrap();
        g.record(AuditAction::Export, "1 people, 1 face(s) to out.json", &key)
            .unwrap();
        g.remove(person, &Actor::window()).unwrap();
        let cutoffs = crate::gallery::Cutoffs {
            sightings: now() + 1,
            unknown_faces: now() + 1,
        };
        g.purge_sightings(&cutoffs, &Actor::purge()).unwrap();
        let trail = g.audit(0).unwrap();
        let actions: Vec<_> = trail.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "enroll",
                "enroll",
                "rename",
                "remove_face",
                "key_created",
                "key_revoked",
                "export",
                "remove"
            ]
        );
        assert!(trail[..7].iter().all(|e| e.actor == "api:frontdesk"));
        assert!(trail[7].actor.starts_with("window:"));
        assert_eq!(
            trail[1].detail,
            format!("person {}: 2 face(s) added", person.0)
        );
        assert!(
            trail.iter().all(|e| !e.detail.contains("Ann")),
            "names stay out of the trail: {trail:?}"
        );
        for sql in ["UPDATE audit SET detail = 'nothing'", "DELETE FROM audit"] {
            let refused = g
                .writer
                .lock()
                .unwrap()
                .execute(sql, [])
                .unwrap_err()
                .to_string();
            assert!(refused.contains("append-only"), "{refused}");
        }
        assert_eq!(g.audit(0).unwrap(), trail);
        assert!(g.audit(now() + 60).unwrap().is_empty());
    }

    #[test]
    fn the_same_photo_is_not_added_twice() {
        let dir = tempfile::tempdir().unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        assert_eq!(add(&g, "Ann", &[face(0.1, "a")]).unwrap().len(), 1);
        assert_eq!(
            add(&g, "Ann", &[face(0.1, "a"), face(0.2, "b")])
                .unwrap()
                .len(),
            1
        );
        assert_eq!(g.people().unwrap()[0].faces, 2);
    }

    #[test]
    fn a_capture_from_no_file_is_not_added_twice_either() {
        let dir = tempfile::tempdir().unwrap();
        let g = SqliteGallery::open(&dir.path().join("a"), None).unwrap();
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
            add(&g, "Ann", &[capture(0.1), without_crop.clone()])
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            add(&g, "Ann", &[capture(0.1), without_crop]).unwrap().len(),
            0
        );
        // The crop is the same, so it is the same capture, whatever its embedding.
        assert_eq!(add(&g, "Ann", &[capture(0.2)]).unwrap().len(), 0);
        let h = SqliteGallery::open(&dir.path().join("b"), None).unwrap();
        let export = g.export().unwrap();
        assert_eq!(h.import(&export, &cli()).unwrap(), 2);
        assert_eq!(h.import(&export, &cli()).unwrap(), 0);
        assert_eq!(g.import(&h.export().unwrap(), &cli()).unwrap(), 0);
    }

    #[test]
    fn bad_names_and_embeddings_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        add(&g, "Ann", &[face(0.1, "a")]).unwrap();
        for bad in ["", "   ", &"x".repeat(10_000), "a\nb"] {
            assert!(add(&g, bad, &[face(0.2, "b")]).is_err(), "{bad:?}");
        }
        let short = NewFace {
            embedding: Embedding(vec![0.0; 5]),
            ..face(0.0, "c")
        };
        assert!(add(&g, "Ann", &[face(0.3, "d"), short]).is_err());
        assert_eq!(g.embeddings(&EmbedderKind::Dlib.id()).unwrap().len(), 1);
        assert!(rename(&g, "Ann", "").is_err());
        assert!(rename(&g, "Nobody", "Zed").is_err());
    }

    #[test]
    fn rename_and_remove_say_what_they_did() {
        let dir = tempfile::tempdir().unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        add(
            &g,
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
        add(&g, "Bob", &[face(0.4, "d")]).unwrap();
        assert!(
            rename(&g, "Ann", "Bob")
                .unwrap_err()
                .to_string()
                .contains("already enrolled")
        );
        rename(&g, "Ann", "Anna").unwrap();
        assert_eq!(
            remove(&g, "Anna").unwrap(),
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
        let g = SqliteGallery::open(&dir.path().join("a"), None).unwrap();
        add(&g, "Ann", &[face(0.1, "a"), face(0.2, "b")]).unwrap();
        add(&g, "Bob", &[face(0.4, "d")]).unwrap();
        let file = g.export().unwrap();
        let json = serde_json::to_string(&file).unwrap();
        let h = SqliteGallery::open(&dir.path().join("b"), None).unwrap();
        let parsed: ExportFile = serde_json::from_str(&json).unwrap();
        assert_eq!(h.import(&parsed, &cli()).unwrap(), 3);
        assert_eq!(h.import(&parsed, &cli()).unwrap(), 0);
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
        g.writer
            .lock()
            .unwrap()
            .pragma_update(None, "user_version", 99)
            .unwrap();
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
        let other = SqliteGallery::open(dir.path(), None).unwrap();
        add(&other, "Ann", &[face(0.1, "a")]).unwrap();
        assert_eq!(
            feed.changes().recv_timeout(Duration::from_secs(5)),
            Ok(crate::gallery::Changed)
        );
    }
}
