//! The gallery in a PostgreSQL database that several machines share: the same people, faces
//! and embeddings as the SQLite store, one transaction per change, and changes announced with
//! `NOTIFY` so that every recognizer reloads within a moment.

mod audit;
mod columns;
mod corrections;
mod schema;
mod seal;
mod sightings;
mod visitors;
mod watch;

use std::collections::HashSet;
use std::time::Duration;

use postgres::{Client, GenericClient, NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;

use crate::base::address::redacted;
use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, Enrolled};
use crate::gallery::export::{ExportBuilder, ExportFace, ExportFile, ExportPerson};
use crate::gallery::model::{
    ApiKey, CheckReport, FaceId, FaceSummary, FaceToEmbed, KeyTable, NewFace, OwnThreshold,
    PersonId, PersonSummary, Removed, Scope, ThresholdChange, check_site_threshold,
    check_threshold_changes, enrolled_detail, face_removed_detail, imported_detail, key_detail,
    key_taken, no_face, no_face_id, no_key, no_person, now, pose_from_column, poses_from_list,
    removed_detail, renamed_detail, site_threshold_detail, threshold_detail, validate_key_name,
    validate_name,
};
use crate::gallery::stored::{self, StoredFace, vector_bytes, vector_from_bytes};
use crate::gallery::{Actor, AuditAction, AuditEntry, ChangeFeed, Gallery, GalleryKey, sql};

use self::columns::Columns;
use self::seal::{Column, Seal};

/// The channel writes `NOTIFY` on and the change feed `LISTEN`s to.
const CHANNEL: &str = "whoisit_gallery";

/// How long the rewrite after a removal waits for older transactions, and then for readers
/// already on the tables.
const REWRITE_WAIT: Duration = Duration::from_secs(10);

/// How many connections one process keeps at most: the server's requests, its roster and
/// the window's worker each take one for the length of a call.
const CONNECTIONS: u32 = 8;

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Connections to a gallery database.
pub struct PostgresGallery {
    url: String,
    /// The URL without its password, for messages.
    location: String,
    /// Each connection is tested as it is taken, so one the server dropped (a restart,
    /// `pg_terminate_backend`) is replaced instead of failing every later call.
    pool: Pool,
    /// Seals crops and embeddings with the gallery key, or keeps them plain without one.
    seal: Seal,
    /// Reads rows' values, naming the column of one that does not fit.
    columns: Columns,
    /// The seal's marker as this connection found it (none: plain). Should it change, the
    /// gallery was sealed, unsealed or sealed anew since, and this connection's values would
    /// no longer fit it.
    marker: Option<Vec<u8>>,
}

/// PostgreSQL's error with what the user should do about it; the driver's words stay the cause.
fn db_error(location: &str, error: postgres::Error) -> Error {
    let message = if error.is_closed() || error.as_db_error().is_none() {
        "cannot reach the database; check the URL, that the server runs and that this machine may connect"
    } else {
        "the database refused the operation"
    };
    Error::Gallery {
        location: location.to_owned(),
        message: message.into(),
        source: Some(Box::new(error)),
    }
}

/// No live connection could be had within the pool's timeout; r2d2 says the driver's last
/// error.
fn pool_error(location: &str, error: r2d2::Error) -> Error {
    Error::Gallery {
        location: location.to_owned(),
        message: "cannot reach the database; check the URL, that the server runs and that this machine may connect".into(),
        source: Some(Box::new(error)),
    }
}

fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

/// Rows a statement changed, as a count.
fn count_of(n: u64) -> usize {
    count(i64::try_from(n).unwrap_or(i64::MAX))
}

fn gallery_error(location: &str, message: &str) -> Error {
    Error::Gallery {
        location: location.to_owned(),
        message: message.to_owned(),
        source: None,
    }
}

/// A stored value that does not open: said, never skipped, as a missing face would change who
/// is recognised.
fn unopened(location: &str, what: &str) -> Error {
    gallery_error(
        location,
        &format!(
            "{what} cannot be opened: it is damaged, or was sealed with another key. \
             `whoisit gallery check` lists every such value"
        ),
    )
}

fn wrong_key(location: &str) -> Error {
    gallery_error(
        location,
        "cannot be read with this key: its crops and embeddings were sealed with another one. \
         Nothing was changed",
    )
}

/// A connection to the database at `url`, its schema brought up to date, and what names its
/// columns.
fn connect(url: &str, location: &str) -> Result<(Client, Columns)> {
    let mut client = Client::connect(url, NoTls).map_err(|e| db_error(location, e))?;
    schema::migrate(&mut client).map_err(|refused| match refused {
        schema::Refused::Database(e) => db_error(location, e),
        schema::Refused::Newer { found, known } => gallery_error(
            location,
            &format!(
                "written by a newer whoisit (schema {found}, this one knows {known}); upgrade whoisit, nothing was changed"
            ),
        ),
    })?;
    let columns = Columns::load(&mut client, location).map_err(|e| db_error(location, e))?;
    Ok((client, columns))
}

/// The seal's marker, if the database is sealed.
fn marker(client: &mut impl GenericClient, columns: &Columns) -> Result<Option<Vec<u8>>> {
    client
        .query_opt("SELECT check_value FROM whoisit_seal", &[])
        .map_err(|e| db_error(columns.location(), e))?
        .map(|row| columns.at(&row, 0))
        .transpose()
}

/// Whether `seal` may read and write a database whose marker is `found`; the marker if so.
fn judge(found: Option<Vec<u8>>, seal: &Seal, location: &str) -> Result<Option<Vec<u8>>> {
    match found {
        Some(m) if seal.opens_marker(&m) => Ok(Some(m)),
        Some(_) if seal.is_on() => Err(wrong_key(location)),
        Some(_) => Err(gallery_error(
            location,
            "its crops and embeddings are sealed: give its key with --key-file FILE (or \
             WHOISIT_KEY_FILE, or WHOISIT_KEY). Nothing was changed",
        )),
        None if seal.is_on() => Err(gallery_error(
            location,
            "is not sealed, but a key was given. To seal its crops and embeddings: `whoisit \
             gallery encrypt --key-file FILE`; to use it as it is, give no key. Nothing was \
             changed",
        )),
        None => Ok(None),
    }
}

/// The marker of the database `client` is connected to, once `seal` is known to fit it. A new
/// gallery opened with a key is sealed from the start: it gets the key's marker.
fn settle(client: &mut Client, seal: &Seal, columns: &Columns) -> Result<Option<Vec<u8>>> {
    let location = columns.location();
    let db = |e| db_error(location, e);
    let found = marker(client, columns)?;
    if found.is_some() || !seal.is_on() {
        return judge(found, seal, location);
    }
    let mut tx = client.transaction().map_err(db)?;
    // Waits for writers that may be adding plain faces, and lets one opener alone seal a new
    // gallery, should two with different keys open it at once.
    tx.batch_execute("LOCK TABLE whoisit_seal IN ACCESS EXCLUSIVE MODE")
        .map_err(db)?;
    let found = marker(&mut tx, columns)?;
    let faces: i64 = columns.at(&tx.query_one(sql::COUNT_FACES, &[]).map_err(db)?, 0)?;
    if found.is_some() || faces > 0 {
        return judge(found, seal, location);
    }
    let new = seal.marker()?;
    tx.execute(
        "INSERT INTO whoisit_seal (check_value) VALUES ($1)",
        &[&new],
    )
    .map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(Some(new))
}

/// A transaction that has the seal to itself: `same_seal` waits for it to end, and it for every
/// `same_seal` already taken.
fn convert_seal<'a>(client: &'a mut Client, location: &str) -> Result<Transaction<'a>> {
    let db = |e| db_error(location, e);
    let mut tx = client.transaction().map_err(db)?;
    tx.batch_execute("LOCK TABLE whoisit_seal IN ACCESS EXCLUSIVE MODE")
        .map_err(db)?;
    Ok(tx)
}

/// Rewrites every crop and embedding from `from`'s seal to `to`'s.
fn reseal(tx: &mut Transaction<'_>, from: &Seal, to: &Seal, columns: &Columns) -> Result<()> {
    let location = columns.location();
    let db = |e| db_error(location, e);
    each_row(
        tx,
        location,
        "SELECT id, image FROM face WHERE image IS NOT NULL",
        |tx, row| {
            let id: i64 = columns.at(row, 0)?;
            let image = from
                .open(Column::Image, columns.at(row, 1)?)
                .ok_or_else(|| unopened(location, &format!("the crop of face {id}")))?;
            tx.execute(
                "UPDATE face SET image = $2 WHERE id = $1",
                &[&id, &to.seal(Column::Image, &image)?],
            )
            .map_err(db)?;
            Ok(())
        },
    )?;
    each_row(
        tx,
        location,
        "SELECT face_id, embedder, vector FROM embedding",
        |tx, row| {
            let (id, embedder): (i64, String) = (columns.at(row, 0)?, columns.at(row, 1)?);
            let vector = from
                .open(Column::Vector, columns.at(row, 2)?)
                .ok_or_else(|| {
                    unopened(location, &format!("the {embedder} embedding of face {id}"))
                })?;
            tx.execute(
                "UPDATE embedding SET vector = $3 WHERE face_id = $1 AND embedder = $2",
                &[&id, &embedder, &to.seal(Column::Vector, &vector)?],
            )
            .map_err(db)?;
            Ok(())
        },
    )?;
    sightings::reseal(tx, from, to, location)?;
    corrections::reseal(tx, from, to, location)
}

/// Calls `each` with every row of `select`, fetched a batch at a time so that a large gallery
/// need not fit in memory. The rows are those as the query began: `each` may change them.
fn each_row(
    tx: &mut Transaction<'_>,
    location: &str,
    select: &str,
    mut each: impl FnMut(&mut Transaction<'_>, &postgres::Row) -> Result<()>,
) -> Result<()> {
    let db = |e| db_error(location, e);
    let portal = tx.bind(select, &[]).map_err(db)?;
    loop {
        let rows = tx.query_portal(&portal, 100).map_err(db)?;
        if rows.is_empty() {
            return Ok(());
        }
        for row in &rows {
            each(tx, row)?;
        }
    }
}

/// A read-only transaction whose reads all see one snapshot of the database.
fn snapshot(client: &mut Client) -> std::result::Result<Transaction<'_>, postgres::Error> {
    client
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
}

/// Ends a conversion: announces it (so that running recognizers reload, and learn that their
/// key no longer fits) and commits it; the transaction's id, for [`rewrite`].
fn commit_conversion(mut tx: Transaction<'_>, columns: &Columns) -> Result<String> {
    let db = |e| db_error(columns.location(), e);
    notify(&mut tx).map_err(db)?;
    let xid = xact_id(&mut tx, columns)?;
    tx.commit().map_err(db)?;
    Ok(xid)
}

/// The transaction's own id, for [`rewrite`] to wait for the transactions older than it.
fn xact_id(tx: &mut Transaction<'_>, columns: &Columns) -> Result<String> {
    let row = tx
        .query_one("SELECT pg_current_xact_id()::xid::text", &[])
        .map_err(|e| db_error(columns.location(), e))?;
    columns.at(&row, 0)
}

/// Rewrites the tables that hold crops and embeddings once the change of transaction `xid`
/// (committed) is seen by everyone, so that the rows it deleted or replaced (a removal, a
/// conversion), which still hold the old values, are gone from the tables' files. A plain
/// VACUUM only marks their room free: a page compacted around a removed row keeps its bytes in
/// the free room until something is written over them. And a rewrite copies a removed row
/// along as long as a transaction older than the removal runs anywhere on the server (in any
/// database): it might still read it. So the rewrite waits for those first, up to
/// [`REWRITE_WAIT`], and then for readers of the tables, up to as long again. The tables are
/// locked for the rewrite: reads of people and faces wait for it (recognition and key checks,
/// from memory, do not). Beyond a program's reach: WAL archives and backups made before, and
/// blocks of the old files that the file system or an SSD keeps.
fn rewrite(client: &mut Client, location: &str, xid: &str) -> Result<()> {
    let db = |e| db_error(location, e);
    let start = std::time::Instant::now();
    loop {
        let older: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE pid <> pg_backend_pid() AND backend_type <> 'autovacuum worker'
                   AND (age(backend_xmin) >= age($1::text::xid)
                        OR age(backend_xid) >= age($1::text::xid))",
                &[&xid],
            )
            .and_then(|row| row.try_get(0))
            .map_err(db)?;
        if older == 0 {
            break;
        }
        if start.elapsed() > REWRITE_WAIT {
            return Err(gallery_error(
                location,
                &format!(
                    "{older} transaction(s) older than the change still run on the server \
                     after {} s: the tables are not rewritten now",
                    REWRITE_WAIT.as_secs()
                ),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    client
        .batch_execute(&format!("SET lock_timeout = '{}s'", REWRITE_WAIT.as_secs()))
        .map_err(db)?;
    // VACUUM cannot run in a transaction (nor in a string of several statements): this is its
    // own, after the change's commit.
    let rewritten = client
        .batch_execute("VACUUM FULL face, face_pose, embedding, sighting, negative")
        .map_err(db);
    client.batch_execute("RESET lock_timeout").map_err(db)?;
    rewritten
}

impl PostgresGallery {
    /// Connects to the database at `url` (`postgres://user:password@host/db`) and brings its
    /// schema up to date. With a key (from a key file: a passphrase is refused), crops and
    /// embeddings are sealed with it; a database sealed with another key, or sealed when no key
    /// is given, is refused.
    pub fn open(url: &str, key: Option<&GalleryKey>) -> Result<PostgresGallery> {
        let location = redacted(url);
        let seal = Seal::new(key)?;
        let (mut client, columns) = connect(url, &location)?;
        let marker = settle(&mut client, &seal, &columns)?;
        drop(client);
        let config: postgres::Config = url.parse().map_err(|e| db_error(&location, e))?;
        let pool = r2d2::Pool::builder()
            .max_size(CONNECTIONS)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(5))
            .error_handler(Box::new(r2d2::NopErrorHandler))
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(|e| pool_error(&location, e))?;
        Ok(PostgresGallery {
            url: url.to_owned(),
            location,
            pool,
            seal,
            columns,
            marker,
        })
    }

    /// Seals every crop and embedding with `key`, in place, in one transaction.
    pub fn seal_all(url: &str, key: &GalleryKey) -> Result<()> {
        let seal = Seal::new(Some(key))?;
        let location = redacted(url);
        let (mut client, columns) = connect(url, &location)?;
        let mut tx = convert_seal(&mut client, &location)?;
        if marker(&mut tx, &columns)?.is_some() {
            return Err(gallery_error(
                &location,
                "its crops and embeddings are sealed already. To seal them with another key, \
                 decrypt them with the old one first (`whoisit gallery decrypt --key-file \
                 FILE`). Nothing was changed",
            ));
        }
        reseal(&mut tx, &Seal::new(None)?, &seal, &columns)?;
        tx.execute(
            "INSERT INTO whoisit_seal (check_value) VALUES ($1)",
            &[&seal.marker()?],
        )
        .map_err(|e| db_error(&location, e))?;
        let xid = commit_conversion(tx, &columns)?;
        rewrite(&mut client, &location, &xid)
    }

    /// Unseals every crop and embedding sealed with `key`, in place, in one transaction.
    pub fn unseal_all(url: &str, key: &GalleryKey) -> Result<()> {
        let seal = Seal::new(Some(key))?;
        let location = redacted(url);
        let (mut client, columns) = connect(url, &location)?;
        let mut tx = convert_seal(&mut client, &location)?;
        match marker(&mut tx, &columns)? {
            None => {
                return Err(gallery_error(
                    &location,
                    "is not sealed: there is nothing to decrypt. Nothing was changed",
                ));
            }
            Some(found) if !seal.opens_marker(&found) => return Err(wrong_key(&location)),
            Some(_) => {}
        }
        reseal(&mut tx, &seal, &Seal::new(None)?, &columns)?;
        tx.execute("DELETE FROM whoisit_seal", &[])
            .map_err(|e| db_error(&location, e))?;
        let xid = commit_conversion(tx, &columns)?;
        rewrite(&mut client, &location, &xid)
    }

    /// A connection from the pool, alive when taken.
    fn client(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>> {
        self.pool.get().map_err(|e| pool_error(&self.location, e))
    }

    fn db(&self) -> impl Fn(postgres::Error) -> Error + '_ {
        |e| db_error(&self.location, e)
    }

    /// A transaction for reading or writing crops and embeddings, once the seal is known to be
    /// the one this connection opened with.
    fn same_seal<'a>(&self, client: &'a mut Client) -> Result<Transaction<'a>> {
        let db = self.db();
        let mut tx = client.transaction().map_err(&db)?;
        // Held to the transaction's end, so that `gallery encrypt` or `decrypt` waits for it
        // and cannot slip in between this check and the values it guards.
        tx.batch_execute("LOCK TABLE whoisit_seal IN ACCESS SHARE MODE")
            .map_err(&db)?;
        if marker(&mut tx, &self.columns)? != self.marker {
            return Err(gallery_error(
                &self.location,
                "was sealed, unsealed or sealed with another key (`whoisit gallery encrypt` or \
                 `decrypt`) since this whoisit connected to it: start it again, with the \
                 gallery's key if it is sealed now. Nothing was changed",
            ));
        }
        Ok(tx)
    }

    /// The vectors `sql` reads from `embedder` (person id, name, an id, vector sealed for
    /// `column`), opened, with their people: enrolled faces' embeddings or negative examples.
    /// `what` names a vector that does not open, by its person and id.
    fn enrolled(
        &self,
        sql: &str,
        column: Column,
        embedder: &EmbedderId,
        what: impl Fn(PersonId, i64) -> String,
    ) -> Result<Vec<Enrolled>> {
        let mut client = self.client()?;
        let rows = self
            .same_seal(&mut client)?
            .query(sql, &[&embedder.as_str()])
            .map_err(self.db())?;
        let mut enrolled = Vec::with_capacity(rows.len());
        for row in &rows {
            let at = &self.columns;
            let (person, id) = (PersonId(at.at(row, 0)?), at.at::<i64>(row, 2)?);
            let name: String = at.at(row, 1)?;
            let vector = self.opened(column, at.at(row, 3)?, || what(person, id))?;
            enrolled.extend(stored::enrolled(person, name, &vector));
        }
        Ok(enrolled)
    }

    /// A stored value, opened; `what` names it in the error when it does not open.
    fn opened(
        &self,
        column: Column,
        stored: Vec<u8>,
        what: impl FnOnce() -> String,
    ) -> Result<Vec<u8>> {
        self.seal
            .open(column, stored)
            .ok_or_else(|| unopened(&self.location, &what()))
    }

    /// Adds to `problems` the vectors that do not open, and how many are not `DIM` numbers
    /// (`not_numbers` says what that means).
    fn check_vectors(
        &self,
        tx: &mut Transaction<'_>,
        not_numbers: &str,
        problems: &mut Vec<String>,
    ) -> Result<()> {
        let rows = tx
            .query(
                "SELECT e.face_id, e.embedder, p.name, e.vector FROM embedding e
                 JOIN face f ON f.id = e.face_id JOIN person p ON p.id = f.person_id
                 ORDER BY e.face_id, e.embedder",
                &[],
            )
            .map_err(self.db())?;
        let mut wrong_length = 0;
        for row in &rows {
            let at = |i| self.columns.at::<&str>(row, i);
            let (id, embedder, name) = (self.columns.at::<i64>(row, 0)?, at(1)?, at(2)?);
            match self.seal.open(Column::Vector, self.columns.at(row, 3)?) {
                Some(vector) => wrong_length += usize::from(vector_from_bytes(&vector).is_none()),
                None => problems.push(format!(
                    "the {embedder} embedding of face {id} of {name} cannot be opened: it is \
                     damaged, or was sealed with another key"
                )),
            }
        }
        if wrong_length > 0 {
            problems.push(format!("{wrong_length} {not_numbers}"));
        }
        Ok(())
    }

    /// Adds to `problems` the crops that do not open or do not decode.
    fn check_crops(&self, tx: &mut Transaction<'_>, problems: &mut Vec<String>) -> Result<()> {
        let rows = tx.query(sql::CROPS, &[]).map_err(self.db())?;
        for row in &rows {
            let (id, name): (i64, &str) = (self.columns.at(row, 0)?, self.columns.at(row, 1)?);
            match self.seal.open(Column::Image, self.columns.at(row, 2)?) {
                Some(png) => problems.extend(stored::crop_problem(id, name, &png)),
                None => problems.push(format!(
                    "the crop of face {id} of {name} cannot be opened: it is damaged, or was \
                     sealed with another key"
                )),
            }
        }
        Ok(())
    }

    /// Inserts `faces` of person `id`, sealed; those the person has already are skipped.
    fn insert_faces(
        &self,
        tx: &mut Transaction<'_>,
        id: i64,
        faces: &[NewFace],
    ) -> Result<Vec<FaceId>> {
        let mut added = Vec::new();
        for face in faces {
            added.extend(self.insert_face(tx, id, &StoredFace::enrolled(face))?);
        }
        Ok(added)
    }

    /// Inserts a face and its embeddings, sealed; `None` when the person has this photo
    /// already.
    fn insert_face(
        &self,
        tx: &mut Transaction<'_>,
        person_id: i64,
        face: &StoredFace<'_>,
    ) -> Result<Option<FaceId>> {
        let db = self.db();
        let image = face
            .image
            .map(|image| self.seal.seal(Column::Image, image))
            .transpose()?;
        let inserted = tx
            .query_opt(
                sql::INSERT_FACE,
                &[
                    &person_id,
                    &face.captured,
                    &face.source,
                    &face.source_sha256,
                    &face.confidence,
                    &face.face_px,
                    &face.sharpness,
                    &image.as_deref(),
                ],
            )
            .map_err(&db)?;
        let Some(row) = inserted else {
            return Ok(None);
        };
        let face_id: i64 = self.columns.at(&row, 0)?;
        if let Some(pose) = face.pose {
            tx.execute(sql::INSERT_POSE, &[&face_id, &pose])
                .map_err(&db)?;
        }
        for (embedder, vector) in &face.embeddings {
            let sealed = self.seal.seal(Column::Vector, vector)?;
            tx.execute(
                sql::INSERT_EMBEDDING,
                &[&face_id, &embedder.as_str(), &sealed],
            )
            .map_err(&db)?;
        }
        Ok(Some(FaceId(face_id)))
    }

    /// The id of the person called `name`, created if new (an import).
    fn upsert_person(
        &self,
        tx: &mut Transaction<'_>,
        name: &str,
        created: i64,
        last_seen: Option<i64>,
    ) -> Result<i64> {
        let db = self.db();
        tx.execute(sql::IMPORT_PERSON, &[&name, &created, &last_seen])
            .map_err(&db)?;
        self.columns
            .at(&tx.query_one(sql::PERSON_ID, &[&name]).map_err(&db)?, 0)
    }

    fn person_summary(&self, r: &postgres::Row) -> Result<PersonSummary> {
        let at = &self.columns;
        Ok(PersonSummary {
            id: PersonId(at.at(r, 0)?),
            name: at.at(r, 1)?,
            faces: count(at.at(r, 2)?),
            created: at.at(r, 3)?,
            last_seen: at.at(r, 4)?,
            own_threshold: OwnThreshold::from_columns(at.at(r, 5)?, at.at(r, 6)?),
            poses: poses_from_list(at.at::<Option<&str>>(r, 7)?),
        })
    }

    /// A stored key: name, scopes, created.
    fn key(&self, r: &postgres::Row) -> Result<ApiKey> {
        let scopes: &str = self.columns.at(r, 1)?;
        Ok(ApiKey::from_row(
            self.columns.at(r, 0)?,
            scopes,
            self.columns.at(r, 2)?,
        ))
    }

    /// After the removal of transaction `xid`: the removed rows' bytes gone from the tables'
    /// files ([`rewrite`]). A failure leaves them there until the next removal; the removal
    /// itself stands.
    fn forget_removed(&self, client: &mut Client, xid: &str) {
        if let Err(e) = rewrite(client, &self.location, xid) {
            tracing::warn!(
                "cannot rewrite the gallery's tables after the removal: the removed crops and \
                 embeddings stay in their free room until the next removal: {}",
                e.report()
            );
        }
    }

    /// The one number a query of one row and one column answers (a count, a version).
    fn scalar(&self, client: &mut impl GenericClient, sql: &str) -> Result<i64> {
        let row = client.query_one(sql, &[]).map_err(self.db())?;
        self.columns.at(&row, 0)
    }

    /// Locks person `id`'s row until `tx` ends, so that a change that depends on them cannot
    /// race a removal or a rename; the person's name, or `None` when they are gone.
    fn lock_person(&self, tx: &mut Transaction<'_>, id: PersonId) -> Result<String> {
        tx.query_opt(&format!("{} FOR UPDATE", sql::PERSON_NAME), &[&id.0])
            .map_err(self.db())?
            .map(|row| self.columns.at(&row, 0))
            .transpose()?
            .ok_or_else(|| no_person(id))
    }
}

/// Announces the transaction's change to every listener, when it commits.
fn notify(tx: &mut Transaction<'_>) -> std::result::Result<(), postgres::Error> {
    tx.execute("SELECT pg_notify($1, '')", &[&CHANNEL])?;
    Ok(())
}

impl Gallery for PostgresGallery {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn people(&self) -> Result<Vec<PersonSummary>> {
        let rows = self
            .client()?
            .query(
                &format!("{} GROUP BY p.id ORDER BY p.name", sql::PERSON_SUMMARY),
                &[],
            )
            .map_err(self.db())?;
        rows.iter().map(|r| self.person_summary(r)).collect()
    }

    fn person(&self, id: PersonId) -> Result<PersonSummary> {
        self.client()?
            .query_opt(
                &format!("{} WHERE p.id = $1 GROUP BY p.id", sql::PERSON_SUMMARY),
                &[&id.0],
            )
            .map_err(self.db())?
            .map(|r| self.person_summary(&r))
            .transpose()?
            .ok_or_else(|| no_person(id))
    }

    fn create_person(
        &self,
        name: &str,
        faces: &[NewFace],
        actor: &Actor,
    ) -> Result<(PersonId, Vec<FaceId>)> {
        let name = validate_name(name)?;
        stored::check_lengths(&self.location, faces)?;
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let Some(row) = tx
            .query_opt(sql::CREATE_PERSON, &[&name, &now()])
            .map_err(&db)?
        else {
            return Err(Error::NameTaken(name));
        };
        let id: i64 = self.columns.at(&row, 0)?;
        let added = self.insert_faces(&mut tx, id, faces)?;
        audit::log(
            &mut tx,
            actor,
            AuditAction::Enroll,
            &enrolled_detail(id, added.len()),
        )
        .map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok((PersonId(id), added))
    }

    fn faces(&self, person: PersonId) -> Result<Vec<FaceSummary>> {
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(self.db())?;
        if tx
            .query_opt(sql::PERSON_EXISTS, &[&person.0])
            .map_err(self.db())?
            .is_none()
        {
            return Err(no_person(person));
        }
        let rows = tx.query(sql::FACES, &[&person.0]).map_err(self.db())?;
        let at = &self.columns;
        rows.iter()
            .map(|r| {
                Ok(FaceSummary {
                    id: FaceId(at.at(r, 0)?),
                    captured: at.at(r, 1)?,
                    source: at.at(r, 2)?,
                    confidence: at.at(r, 3)?,
                    face_px: at.at(r, 4)?,
                    sharpness: at.at(r, 5)?,
                    has_image: at.at(r, 6)?,
                    pose: pose_from_column(at.at(r, 7)?),
                })
            })
            .collect()
    }

    fn face_image(&self, person: PersonId, face: FaceId) -> Result<Option<Vec<u8>>> {
        let mut client = self.client()?;
        let row = self
            .same_seal(&mut client)?
            .query_opt(sql::FACE_IMAGE, &[&face.0, &person.0])
            .map_err(self.db())?
            .ok_or_else(|| no_face(person, face))?;
        let image: Option<Vec<u8>> = self.columns.at(&row, 0)?;
        image
            .map(|image| {
                self.opened(Column::Image, image, || {
                    format!("the crop of face {}", face.0)
                })
            })
            .transpose()
    }

    fn remove_face(&self, person: PersonId, face: FaceId, actor: &Actor) -> Result<()> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let deleted = tx
            .execute(sql::REMOVE_FACE, &[&face.0, &person.0])
            .map_err(&db)?;
        if deleted == 0 {
            return Err(no_face(person, face));
        }
        let detail = face_removed_detail(person, face);
        audit::log(&mut tx, actor, AuditAction::RemoveFace, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        let xid = xact_id(&mut tx, &self.columns)?;
        tx.commit().map_err(&db)?;
        self.forget_removed(&mut client, &xid);
        Ok(())
    }

    fn add_faces_to(
        &self,
        person: PersonId,
        faces: &[NewFace],
        actor: &Actor,
    ) -> Result<Vec<FaceId>> {
        stored::check_lengths(&self.location, faces)?;
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        // A removal waits for this to commit (and then takes the faces with the person), or
        // committed first, and the person is not brought back.
        self.lock_person(&mut tx, person)?;
        let added = self.insert_faces(&mut tx, person.0, faces)?;
        if !added.is_empty() {
            let detail = enrolled_detail(person.0, added.len());
            audit::log(&mut tx, actor, AuditAction::Enroll, &detail).map_err(&db)?;
        }
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(added)
    }

    fn add_embedding(
        &self,
        face: FaceId,
        embedder: &EmbedderId,
        embedding: &Embedding,
    ) -> Result<()> {
        let db = self.db();
        let vector = vector_bytes(&embedding.0);
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        // Held until the commit, so that the face cannot be removed in between.
        let found = tx
            .query_opt(&format!("{} FOR SHARE", sql::FACE_EXISTS), &[&face.0])
            .map_err(&db)?;
        if found.is_none() {
            return Err(no_face_id(face));
        }
        tx.execute(
            sql::SET_EMBEDDING,
            &[
                &face.0,
                &embedder.as_str(),
                &self.seal.seal(Column::Vector, &vector)?,
            ],
        )
        .map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn source_hashes(&self, person: PersonId) -> Result<HashSet<String>> {
        let rows = self
            .client()?
            .query(sql::SOURCE_HASHES, &[&person.0])
            .map_err(self.db())?;
        rows.iter().map(|r| self.columns.at(r, 0)).collect()
    }

    fn images(&self, person: PersonId) -> Result<Vec<Vec<u8>>> {
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let found = tx
            .query_opt(sql::PERSON_EXISTS, &[&person.0])
            .map_err(self.db())?;
        if found.is_none() {
            return Err(no_person(person));
        }
        let rows = tx.query(sql::IMAGES, &[&person.0]).map_err(self.db())?;
        rows.iter()
            .map(|r| {
                let face: i64 = self.columns.at(r, 0)?;
                self.opened(Column::Image, self.columns.at(r, 1)?, || {
                    format!("the crop of face {face} of person {}", person.0)
                })
            })
            .collect()
    }

    fn rename(&self, person: PersonId, new: &str, actor: &Actor) -> Result<()> {
        let new = validate_name(new)?;
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let old = self.lock_person(&mut tx, person)?;
        if new == old {
            return Ok(());
        }
        let taken = tx.query_opt(sql::NAME_TAKEN, &[&new]).map_err(&db)?;
        if taken.is_some() {
            return Err(Error::NameTaken(new));
        }
        tx.execute(sql::RENAME, &[&new, &person.0]).map_err(&db)?;
        audit::log(&mut tx, actor, AuditAction::Rename, &renamed_detail(person)).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn remove(&self, person: PersonId, actor: &Actor) -> Result<Removed> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        self.lock_person(&mut tx, person)?;
        let row = tx.query_one(sql::REMOVED_WITH, &[&person.0]).map_err(&db)?;
        let removed = Removed {
            faces: count(self.columns.at(&row, 0)?),
            embeddings: count(self.columns.at(&row, 1)?),
            images: count(self.columns.at(&row, 2)?),
        };
        tx.execute(sql::REMOVE_PERSON, &[&person.0]).map_err(&db)?;
        let detail = removed_detail(person, &removed);
        audit::log(&mut tx, actor, AuditAction::Remove, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        let xid = xact_id(&mut tx, &self.columns)?;
        tx.commit().map_err(&db)?;
        self.forget_removed(&mut client, &xid);
        Ok(removed)
    }

    fn set_own_thresholds(&self, changes: &[ThresholdChange], actor: &Actor) -> Result<()> {
        check_threshold_changes(changes)?;
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        for change in changes {
            let row = tx
                .query_opt(sql::PERSON_THRESHOLD, &[&change.person.0])
                .map_err(&db)?
                .ok_or_else(|| no_person(change.person))?;
            let (id, was): (i64, Option<f32>) =
                (self.columns.at(&row, 0)?, self.columns.at(&row, 1)?);
            let own = change.own.as_ref();
            tx.execute(
                sql::SET_THRESHOLD,
                &[
                    &own.map(|o| o.threshold),
                    &own.map(|o| o.embedder.as_str()),
                    &id,
                ],
            )
            .map_err(&db)?;
            let detail = threshold_detail(id, was, own);
            audit::log(&mut tx, actor, AuditAction::Threshold, &detail).map_err(&db)?;
        }
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn embeddings(&self, embedder: &EmbedderId) -> Result<Vec<Enrolled>> {
        self.enrolled(sql::EMBEDDINGS, Column::Vector, embedder, |person, face| {
            format!(
                "the {embedder} embedding of face {face} of person {}",
                person.0
            )
        })
    }

    fn site_threshold(&self, embedder: &EmbedderId) -> Result<Option<f32>> {
        let row = self
            .client()?
            .query_opt(sql::SITE_THRESHOLD, &[&embedder.as_str()])
            .map_err(self.db())?;
        row.map(|r| self.columns.at(&r, 0)).transpose()
    }

    fn set_site_threshold(
        &self,
        embedder: &EmbedderId,
        threshold: Option<f32>,
        actor: &Actor,
    ) -> Result<()> {
        check_site_threshold(threshold)?;
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        // Row-locked, so that two admins at once both find the value the other replaced.
        let was = tx
            .query_opt(
                &format!("{} FOR UPDATE", sql::SITE_THRESHOLD),
                &[&embedder.as_str()],
            )
            .map_err(&db)?
            .map(|r| self.columns.at::<f32>(&r, 0))
            .transpose()?;
        match threshold {
            Some(t) => tx.execute(sql::SET_SITE_THRESHOLD, &[&embedder.as_str(), &t]),
            None => tx.execute(sql::CLEAR_SITE_THRESHOLD, &[&embedder.as_str()]),
        }
        .map_err(&db)?;
        let detail = site_threshold_detail(embedder, was, threshold);
        audit::log(&mut tx, actor, AuditAction::SiteThreshold, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn faces_without(&self, embedder: &EmbedderId) -> Result<Vec<FaceToEmbed>> {
        let mut client = self.client()?;
        let rows = self
            .same_seal(&mut client)?
            .query(sql::FACES_WITHOUT, &[&embedder.as_str()])
            .map_err(self.db())?;
        rows.iter()
            .map(|r| {
                let (id, person): (i64, String) = (self.columns.at(r, 0)?, self.columns.at(r, 1)?);
                let image: Option<Vec<u8>> = self.columns.at(r, 2)?;
                let image_png = image
                    .map(|image| {
                        self.opened(Column::Image, image, || {
                            format!("the crop of face {id} of {person}")
                        })
                    })
                    .transpose()?;
                Ok(FaceToEmbed {
                    id: FaceId(id),
                    person,
                    image_png,
                })
            })
            .collect()
    }

    fn count_without(&self, embedder: &EmbedderId) -> Result<usize> {
        let row = self
            .client()?
            .query_one(sql::COUNT_WITHOUT, &[&embedder.as_str()])
            .map_err(self.db())?;
        Ok(count(self.columns.at(&row, 0)?))
    }

    fn check(&self) -> Result<CheckReport> {
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let mut report = CheckReport {
            people: count(self.scalar(&mut tx, sql::COUNT_PEOPLE)?),
            faces: count(self.scalar(&mut tx, sql::COUNT_FACES)?),
            embeddings: count(self.scalar(&mut tx, sql::COUNT_EMBEDDINGS)?),
            without_faces: count(self.scalar(&mut tx, stored::PEOPLE_WITHOUT_FACES)?),
            problems: Vec::new(),
        };
        // The vectors' lengths are checked once opened: a sealed one is longer.
        let [(_, not_numbers), others @ ..] = stored::content_checks();
        for (sql, what) in others {
            let n = count(self.scalar(&mut tx, &sql)?);
            if n > 0 {
                report.problems.push(format!("{n} {what}"));
            }
        }
        self.check_vectors(&mut tx, &not_numbers, &mut report.problems)?;
        self.check_crops(&mut tx, &mut report.problems)?;
        Ok(report)
    }

    fn export(&self) -> Result<ExportFile> {
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let db = self.db();
        let at = &self.columns;
        let faces = tx.query(sql::EXPORT_FACES, &[]).map_err(&db)?;
        let mut people = ExportBuilder::default();
        for r in &faces {
            let face_id: i64 = at.at(r, 3)?;
            let mut embeddings = Vec::new();
            for e in &tx.query(sql::FACE_EMBEDDINGS, &[&face_id]).map_err(&db)? {
                let embedder: String = at.at(e, 0)?;
                let vector = self.opened(Column::Vector, at.at(e, 1)?, || {
                    format!("the {embedder} embedding of face {face_id}")
                })?;
                embeddings.extend(stored::exported(embedder, &vector));
            }
            let image: Option<Vec<u8>> = at.at(r, 10)?;
            let image = image
                .map(|image| {
                    self.opened(Column::Image, image, || {
                        format!("the crop of face {face_id}")
                    })
                })
                .transpose()?;
            let face = ExportFace {
                captured: at.at(r, 4)?,
                source: at.at(r, 5)?,
                source_sha256: at.at(r, 6)?,
                confidence: at.at(r, 7)?,
                face_px: at.at(r, 8)?,
                sharpness: at.at(r, 9)?,
                pose: pose_from_column(at.at(r, 13)?),
                embeddings,
                image_png_base64: image.as_deref().map(ExportFace::encode_image),
            };
            let person = ExportPerson {
                name: at.at(r, 0)?,
                created: at.at(r, 1)?,
                last_seen: at.at(r, 2)?,
                own_threshold: OwnThreshold::from_columns(at.at(r, 11)?, at.at(r, 12)?),
                faces: Vec::new(),
                negatives: Vec::new(),
            };
            people.face(person, face);
        }
        for r in &tx.query(sql::EXPORT_NEGATIVES, &[]).map_err(&db)? {
            let (name, embedder): (String, String) = (at.at(r, 0)?, at.at(r, 1)?);
            let vector = self.opened(Column::NegativeVector, at.at(r, 2)?, || {
                format!("a {embedder} negative example")
            })?;
            people.negative(&name, stored::exported(embedder, &vector));
        }
        Ok(people.finish())
    }

    fn import(&self, file: &ExportFile, actor: &Actor) -> Result<usize> {
        file.validate()?;
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let mut added = 0;
        for person in &file.people {
            let name = validate_name(&person.name)?;
            let person_id = self.upsert_person(&mut tx, &name, person.created, person.last_seen)?;
            if let Some(own) = &person.own_threshold {
                tx.execute(
                    sql::IMPORT_THRESHOLD,
                    &[&own.threshold, &own.embedder.as_str(), &person_id],
                )
                .map_err(&db)?;
            }
            for face in &person.faces {
                let image = face.image(&person.name)?;
                let record = StoredFace::imported(face, image.as_deref());
                added += usize::from(self.insert_face(&mut tx, person_id, &record)?.is_some());
            }
            self.import_negatives(&mut tx, PersonId(person_id), person)?;
        }
        let detail = imported_detail(added, file.people.len());
        audit::log(&mut tx, actor, AuditAction::Import, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(added)
    }

    fn add_key(&self, name: &str, scopes: &[Scope], hash: &str, actor: &Actor) -> Result<ApiKey> {
        let name = validate_key_name(name)?;
        let created = now();
        let scopes = ApiKey::scopes_text(scopes);
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let inserted = tx
            .execute(sql::ADD_KEY, &[&name, &scopes, &hash, &created])
            .map_err(&db)?;
        if inserted == 0 {
            return Err(key_taken(&name));
        }
        let detail = key_detail(&name, Some(&scopes));
        audit::log(&mut tx, actor, AuditAction::KeyCreated, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(ApiKey::from_row(name, &scopes, created))
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        let rows = self.client()?.query(sql::KEYS, &[]).map_err(self.db())?;
        rows.iter().map(|r| self.key(r)).collect()
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        self.client()?
            .query_opt(sql::KEY_BY_HASH, &[&hash])
            .map_err(self.db())?
            .map(|r| self.key(&r))
            .transpose()
    }

    fn revoke_key(&self, name: &str, actor: &Actor) -> Result<()> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let deleted = tx.execute(sql::REVOKE_KEY, &[&name.trim()]).map_err(&db)?;
        if deleted == 0 {
            return Err(no_key(name));
        }
        let detail = key_detail(name.trim(), None);
        audit::log(&mut tx, actor, AuditAction::KeyRevoked, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn key_table(&self) -> Result<KeyTable> {
        let db = self.db();
        let mut client = self.client()?;
        // One snapshot: the version is that of the keys read with it.
        let mut tx = snapshot(&mut client).map_err(&db)?;
        let version = self.scalar(&mut tx, sql::KEY_VERSION)?;
        let rows = tx.query(sql::KEY_TABLE, &[]).map_err(&db)?;
        let by_hash = rows
            .iter()
            .map(|r| {
                let scopes: &str = self.columns.at(r, 2)?;
                let key = ApiKey::from_row(self.columns.at(r, 1)?, scopes, self.columns.at(r, 3)?);
                Ok((self.columns.at(r, 0)?, key))
            })
            .collect::<Result<_>>()?;
        Ok(KeyTable { version, by_hash })
    }

    fn keys_version(&self) -> Result<i64> {
        self.scalar(&mut *self.client()?, sql::KEY_VERSION)
    }

    fn record(&self, action: AuditAction, detail: &str, actor: &Actor) -> Result<()> {
        audit::log(&mut *self.client()?, actor, action, detail).map_err(self.db())
    }

    fn audit(&self, since: i64) -> Result<Vec<AuditEntry>> {
        let rows = self
            .client()?
            .query(sql::AUDIT_SINCE, &[&since])
            .map_err(self.db())?;
        let at = &self.columns;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    id: at.at(r, 0)?,
                    at: at.at(r, 1)?,
                    actor: at.at(r, 2)?,
                    action: at.at(r, 3)?,
                    detail: at.at(r, 4)?,
                })
            })
            .collect()
    }

    fn watch(&self) -> Result<ChangeFeed> {
        watch::watch(&self.url, &self.location)
    }

    fn roster_version(&self) -> Result<i64> {
        self.scalar(&mut *self.client()?, sql::ROSTER_VERSION)
    }
}
