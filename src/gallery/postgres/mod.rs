//! The gallery in a PostgreSQL database that several machines share: the same people, faces
//! and embeddings as the SQLite store, one transaction per change, and changes announced with
//! `NOTIFY` so that every recognizer reloads within a moment.

mod audit;
mod schema;
mod seal;
mod sightings;
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
    ApiKey, CheckReport, FaceId, FaceSummary, FaceToEmbed, NewFace, OwnThreshold, PersonId,
    PersonSummary, Removed, Scope, ThresholdChange, check_threshold_changes, enrolled_detail,
    key_taken, no_face, no_key, no_person, now, pose_from_column, poses_from_list,
    threshold_detail, validate_key_name, validate_name,
};
use crate::gallery::stored::{self, StoredFace, vector_bytes, vector_from_bytes};
use crate::gallery::{Actor, AuditAction, AuditEntry, ChangeFeed, Gallery, GalleryKey};

use self::seal::{Column, Seal};

/// The channel writes `NOTIFY` on and the change feed `LISTEN`s to.
const CHANNEL: &str = "whoisit_gallery";

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

/// A connection to the database at `url`, its schema brought up to date.
fn connect(url: &str, location: &str) -> Result<Client> {
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
    Ok(client)
}

/// The seal's marker, if the database is sealed.
fn marker(
    client: &mut impl GenericClient,
) -> std::result::Result<Option<Vec<u8>>, postgres::Error> {
    Ok(client
        .query_opt("SELECT check_value FROM whoisit_seal", &[])?
        .map(|row| row.get(0)))
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
fn settle(client: &mut Client, seal: &Seal, location: &str) -> Result<Option<Vec<u8>>> {
    let db = |e| db_error(location, e);
    let found = marker(client).map_err(db)?;
    if found.is_some() || !seal.is_on() {
        return judge(found, seal, location);
    }
    let mut tx = client.transaction().map_err(db)?;
    // Waits for writers that may be adding plain faces, and lets one opener alone seal a new
    // gallery, should two with different keys open it at once.
    tx.batch_execute("LOCK TABLE whoisit_seal IN ACCESS EXCLUSIVE MODE")
        .map_err(db)?;
    let found = marker(&mut tx).map_err(db)?;
    let faces: i64 = tx
        .query_one("SELECT count(*) FROM face", &[])
        .map_err(db)?
        .get(0);
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
fn reseal(tx: &mut Transaction<'_>, from: &Seal, to: &Seal, location: &str) -> Result<()> {
    let db = |e| db_error(location, e);
    each_row(
        tx,
        location,
        "SELECT id, image FROM face WHERE image IS NOT NULL",
        |tx, row| {
            let id: i64 = row.get(0);
            let image = from
                .open(Column::Image, row.get(1))
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
            let (id, embedder): (i64, String) = (row.get(0), row.get(1));
            let vector = from.open(Column::Vector, row.get(2)).ok_or_else(|| {
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
    sightings::reseal(tx, from, to, location)
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

/// Ends a conversion: announces it (so that running recognizers reload, and learn that their
/// key no longer fits) and commits it.
fn commit_conversion(mut tx: Transaction<'_>, location: &str) -> Result<()> {
    let db = |e| db_error(location, e);
    notify(&mut tx).map_err(db)?;
    tx.commit().map_err(db)
}

/// Rewrites the tables a conversion changed, so that the rows it replaced, which still hold the
/// old values, are gone from their files. A plain VACUUM would only mark their space free: the
/// old bytes stay in the pages until something is written over them. Beyond a program's
/// reach: WAL archives and backups made before, and blocks of the old files that the file
/// system or an SSD keeps.
fn vacuum(client: &mut Client, location: &str) -> Result<()> {
    // VACUUM cannot run in a transaction: this is its own, after the conversion's commit.
    client
        .batch_execute("VACUUM FULL face, embedding, sighting")
        .map_err(|e| db_error(location, e))
}

impl PostgresGallery {
    /// Connects to the database at `url` (`postgres://user:password@host/db`) and brings its
    /// schema up to date. With a key (from a key file: a passphrase is refused), crops and
    /// embeddings are sealed with it; a database sealed with another key, or sealed when no key
    /// is given, is refused.
    pub fn open(url: &str, key: Option<&GalleryKey>) -> Result<PostgresGallery> {
        let location = redacted(url);
        let seal = Seal::new(key)?;
        let mut client = connect(url, &location)?;
        let marker = settle(&mut client, &seal, &location)?;
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
            marker,
        })
    }

    /// Seals every crop and embedding with `key`, in place, in one transaction.
    pub fn seal_all(url: &str, key: &GalleryKey) -> Result<()> {
        let seal = Seal::new(Some(key))?;
        let location = redacted(url);
        let mut client = connect(url, &location)?;
        let mut tx = convert_seal(&mut client, &location)?;
        if marker(&mut tx)
            .map_err(|e| db_error(&location, e))?
            .is_some()
        {
            return Err(gallery_error(
                &location,
                "its crops and embeddings are sealed already. To seal them with another key, \
                 decrypt them with the old one first (`whoisit gallery decrypt --key-file \
                 FILE`). Nothing was changed",
            ));
        }
        reseal(&mut tx, &Seal::new(None)?, &seal, &location)?;
        tx.execute(
            "INSERT INTO whoisit_seal (check_value) VALUES ($1)",
            &[&seal.marker()?],
        )
        .map_err(|e| db_error(&location, e))?;
        commit_conversion(tx, &location)?;
        vacuum(&mut client, &location)
    }

    /// Unseals every crop and embedding sealed with `key`, in place, in one transaction.
    pub fn unseal_all(url: &str, key: &GalleryKey) -> Result<()> {
        let seal = Seal::new(Some(key))?;
        let location = redacted(url);
        let mut client = connect(url, &location)?;
        let mut tx = convert_seal(&mut client, &location)?;
        match marker(&mut tx).map_err(|e| db_error(&location, e))? {
            None => {
                return Err(gallery_error(
                    &location,
                    "is not sealed: there is nothing to decrypt. Nothing was changed",
                ));
            }
            Some(found) if !seal.opens_marker(&found) => return Err(wrong_key(&location)),
            Some(_) => {}
        }
        reseal(&mut tx, &seal, &Seal::new(None)?, &location)?;
        tx.execute("DELETE FROM whoisit_seal", &[])
            .map_err(|e| db_error(&location, e))?;
        commit_conversion(tx, &location)?;
        vacuum(&mut client, &location)
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
        if marker(&mut tx).map_err(&db)? != self.marker {
            return Err(gallery_error(
                &self.location,
                "was sealed, unsealed or sealed with another key (`whoisit gallery encrypt` or \
                 `decrypt`) since this whoisit connected to it: start it again, with the \
                 gallery's key if it is sealed now. Nothing was changed",
            ));
        }
        Ok(tx)
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
            let (id, embedder, name): (i64, &str, &str) = (row.get(0), row.get(1), row.get(2));
            match self.seal.open(Column::Vector, row.get(3)) {
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
        let rows = tx
            .query(
                "SELECT f.id, p.name, f.image FROM face f JOIN person p ON p.id = f.person_id
                 WHERE f.image IS NOT NULL",
                &[],
            )
            .map_err(self.db())?;
        for row in &rows {
            let (id, name): (i64, &str) = (row.get(0), row.get(1));
            match self.seal.open(Column::Image, row.get(2)) {
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
            let record = StoredFace::enrolled(face);
            added.extend(insert_face(tx, &self.seal, &self.location, id, &record)?);
        }
        Ok(added)
    }

    /// Locks person `id`'s row until `tx` ends, so that a change that depends on them cannot
    /// race a removal or a rename; the person's name, or `None` when they are gone.
    fn lock_person(&self, tx: &mut Transaction<'_>, id: PersonId) -> Result<String> {
        tx.query_opt("SELECT name FROM person WHERE id = $1 FOR UPDATE", &[&id.0])
            .map_err(self.db())?
            .map(|row| row.try_get(0).map_err(self.db()))
            .transpose()?
            .ok_or_else(|| no_person(id))
    }
}

fn upsert_person(
    tx: &mut Transaction<'_>,
    name: &str,
    created: i64,
    last_seen: Option<i64>,
) -> std::result::Result<i64, postgres::Error> {
    tx.execute(
        "INSERT INTO person (name, created, last_seen) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
        &[&name, &created, &last_seen],
    )?;
    Ok(tx
        .query_one("SELECT id FROM person WHERE name = $1", &[&name])?
        .get(0))
}

/// Inserts a face and its embeddings, sealed with `seal`; `None` when the person has this photo
/// already.
fn insert_face(
    tx: &mut Transaction<'_>,
    seal: &Seal,
    location: &str,
    person_id: i64,
    face: &StoredFace<'_>,
) -> Result<Option<FaceId>> {
    let db = |e| db_error(location, e);
    let image = face
        .image
        .map(|image| seal.seal(Column::Image, image))
        .transpose()?;
    let inserted = tx.query_opt(
        "INSERT INTO face (person_id, captured, source, source_sha256, confidence, face_px, sharpness, image, pose)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (person_id, source_sha256) DO NOTHING RETURNING id",
        &[
            &person_id,
            &face.captured,
            &face.source,
            &face.source_sha256,
            &face.confidence,
            &face.face_px,
            &face.sharpness,
            &image.as_deref(),
            &face.pose,
        ],
    ).map_err(db)?;
    let Some(row) = inserted else {
        return Ok(None);
    };
    let face_id: i64 = row.get(0);
    for (embedder, vector) in &face.embeddings {
        tx.execute(
            "INSERT INTO embedding (face_id, embedder, vector) VALUES ($1, $2, $3)",
            &[
                &face_id,
                &embedder.as_str(),
                &seal.seal(Column::Vector, vector)?,
            ],
        )
        .map_err(db)?;
    }
    Ok(Some(FaceId(face_id)))
}

/// A person with their number of faces; the caller adds the WHERE, GROUP BY and ORDER BY.
const PERSON_SUMMARY: &str = "SELECT p.id, p.name, count(f.id), p.created, p.last_seen,
    p.threshold, p.threshold_embedder, string_agg(f.pose, ',')
    FROM person p LEFT JOIN face f ON f.person_id = p.id";

fn person_summary(r: &postgres::Row) -> PersonSummary {
    PersonSummary {
        id: PersonId(r.get(0)),
        name: r.get(1),
        faces: count(r.get(2)),
        created: r.get(3),
        last_seen: r.get(4),
        own_threshold: OwnThreshold::from_columns(r.get(5), r.get(6)),
        poses: poses_from_list(r.get::<_, Option<&str>>(7)),
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
                &format!("{PERSON_SUMMARY} GROUP BY p.id ORDER BY p.name"),
                &[],
            )
            .map_err(self.db())?;
        Ok(rows.iter().map(person_summary).collect())
    }

    fn person(&self, id: PersonId) -> Result<PersonSummary> {
        self.client()?
            .query_opt(
                &format!("{PERSON_SUMMARY} WHERE p.id = $1 GROUP BY p.id"),
                &[&id.0],
            )
            .map_err(self.db())?
            .map(|r| person_summary(&r))
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
            .query_opt(
                "INSERT INTO person (name, created) VALUES ($1, $2)
                 ON CONFLICT (name) DO NOTHING RETURNING id",
                &[&name, &now()],
            )
            .map_err(&db)?
        else {
            return Err(Error::NameTaken(name));
        };
        let id: i64 = row.try_get(0).map_err(&db)?;
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
        self.person(person)?;
        let rows = self
            .client()?
            .query(
                "SELECT id, captured, source, confidence, face_px, sharpness, image IS NOT NULL, pose
                 FROM face WHERE person_id = $1 ORDER BY id",
                &[&person.0],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| FaceSummary {
                id: FaceId(r.get(0)),
                captured: r.get(1),
                source: r.get(2),
                confidence: r.get(3),
                face_px: r.get(4),
                sharpness: r.get(5),
                pose: pose_from_column(r.get(7)),
                has_image: r.get(6),
            })
            .collect())
    }

    fn face_image(&self, person: PersonId, face: FaceId) -> Result<Option<Vec<u8>>> {
        let mut client = self.client()?;
        let image: Option<Vec<u8>> = self
            .same_seal(&mut client)?
            .query_opt(
                "SELECT image FROM face WHERE id = $1 AND person_id = $2",
                &[&face.0, &person.0],
            )
            .map_err(self.db())?
            .ok_or_else(|| no_face(person, face))?
            .get(0);
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
            .execute(
                "DELETE FROM face WHERE id = $1 AND person_id = $2",
                &[&face.0, &person.0],
            )
            .map_err(&db)?;
        if deleted == 0 {
            return Err(no_face(person, face));
        }
        let detail = format!("person {}: face {} removed", person.0, face.0);
        audit::log(&mut tx, actor, AuditAction::RemoveFace, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
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
        tx.execute(
            "INSERT INTO embedding (face_id, embedder, vector) VALUES ($1, $2, $3)
             ON CONFLICT (face_id, embedder) DO UPDATE SET vector = EXCLUDED.vector",
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
            .query(
                "SELECT source_sha256 FROM face WHERE person_id = $1 AND source_sha256 IS NOT NULL",
                &[&person.0],
            )
            .map_err(self.db())?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(self.db()))
            .collect()
    }

    fn images(&self, person: PersonId) -> Result<Vec<Vec<u8>>> {
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let found = tx
            .query_opt("SELECT 1 FROM person WHERE id = $1", &[&person.0])
            .map_err(self.db())?;
        if found.is_none() {
            return Err(no_person(person));
        }
        let rows = tx
            .query(
                "SELECT id, image FROM face WHERE person_id = $1 AND image IS NOT NULL ORDER BY id",
                &[&person.0],
            )
            .map_err(self.db())?;
        rows.iter()
            .map(|r| {
                let face: i64 = r.try_get(0).map_err(self.db())?;
                self.opened(Column::Image, r.try_get(1).map_err(self.db())?, || {
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
        let taken = tx
            .query_opt("SELECT 1 FROM person WHERE name = $1", &[&new])
            .map_err(&db)?;
        if taken.is_some() {
            return Err(Error::NameTaken(new));
        }
        tx.execute(
            "UPDATE person SET name = $1 WHERE id = $2",
            &[&new, &person.0],
        )
        .map_err(&db)?;
        let detail = format!("person {}: renamed", person.0);
        audit::log(&mut tx, actor, AuditAction::Rename, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn remove(&self, person: PersonId, actor: &Actor) -> Result<Removed> {
        let db = self.db();
        let id = person.0;
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        self.lock_person(&mut tx, person)?;
        let row = tx
            .query_one(
                "SELECT count(DISTINCT f.id), count(e.face_id),
                        count(DISTINCT CASE WHEN f.image IS NOT NULL THEN f.id END)
                 FROM face f LEFT JOIN embedding e ON e.face_id = f.id WHERE f.person_id = $1",
                &[&id],
            )
            .map_err(&db)?;
        let removed = Removed {
            faces: count(row.get(0)),
            embeddings: count(row.get(1)),
            images: count(row.get(2)),
        };
        tx.execute("DELETE FROM person WHERE id = $1", &[&id])
            .map_err(&db)?;
        let detail = format!(
            "person {id}: removed with {} face(s), {} embedding(s), {} crop(s)",
            removed.faces, removed.embeddings, removed.images
        );
        audit::log(&mut tx, actor, AuditAction::Remove, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(removed)
    }

    fn set_own_thresholds(&self, changes: &[ThresholdChange], actor: &Actor) -> Result<()> {
        check_threshold_changes(changes)?;
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        for change in changes {
            let row = tx
                .query_opt(
                    "SELECT id, threshold FROM person WHERE id = $1",
                    &[&change.person.0],
                )
                .map_err(&db)?
                .ok_or_else(|| no_person(change.person))?;
            let (id, was): (i64, Option<f32>) = (row.get(0), row.get(1));
            let own = change.own.as_ref();
            tx.execute(
                "UPDATE person SET threshold = $1, threshold_embedder = $2 WHERE id = $3",
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
        let mut client = self.client()?;
        let rows = self
            .same_seal(&mut client)?
            .query(
                "SELECT p.name, e.vector, f.id, p.id FROM embedding e JOIN face f ON f.id = e.face_id
                 JOIN person p ON p.id = f.person_id WHERE e.embedder = $1 ORDER BY p.id, f.id",
                &[&embedder.as_str()],
            )
            .map_err(self.db())?;
        let mut enrolled = Vec::with_capacity(rows.len());
        for row in &rows {
            let get = |i| row.try_get::<_, i64>(i).map_err(self.db());
            let (person, face) = (PersonId(get(3)?), get(2)?);
            let name: String = row.try_get(0).map_err(self.db())?;
            let vector = self.opened(Column::Vector, row.try_get(1).map_err(self.db())?, || {
                format!(
                    "the {embedder} embedding of face {face} of person {}",
                    person.0
                )
            })?;
            enrolled.extend(stored::enrolled(person, name, &vector));
        }
        Ok(enrolled)
    }

    fn faces_without(&self, embedder: &EmbedderId) -> Result<Vec<FaceToEmbed>> {
        let mut client = self.client()?;
        let rows = self
            .same_seal(&mut client)?
            .query(
                "SELECT f.id, p.name, f.image FROM face f JOIN person p ON p.id = f.person_id
                 WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id AND e.embedder = $1)
                 ORDER BY f.id",
                &[&embedder.as_str()],
            )
            .map_err(self.db())?;
        rows.iter()
            .map(|r| {
                let (id, person): (i64, String) = (r.get(0), r.get(1));
                let image: Option<Vec<u8>> = r.get(2);
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
            .query_one(
                "SELECT count(*) FROM face f
                 WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id AND e.embedder = $1)",
                &[&embedder.as_str()],
            )
            .map_err(self.db())?;
        Ok(count(row.get(0)))
    }

    fn check(&self) -> Result<CheckReport> {
        let mut client = self.client()?;
        let mut tx = self.same_seal(&mut client)?;
        let db = self.db();
        let mut scalar =
            |sql: &str| -> Result<usize> { Ok(count(tx.query_one(sql, &[]).map_err(&db)?.get(0))) };
        let mut report = CheckReport {
            people: scalar("SELECT count(*) FROM person")?,
            faces: scalar("SELECT count(*) FROM face")?,
            embeddings: scalar("SELECT count(*) FROM embedding")?,
            without_faces: scalar(stored::PEOPLE_WITHOUT_FACES)?,
            problems: Vec::new(),
        };
        // The vectors' lengths are checked once opened: a sealed one is longer.
        let [(_, not_numbers), others @ ..] = stored::content_checks();
        for (sql, what) in others {
            let n = scalar(&sql)?;
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
        let faces = tx
            .query(
                "SELECT p.name, p.created, p.last_seen, f.id, f.captured, f.source, f.source_sha256,
                        f.confidence, f.face_px, f.sharpness, f.image, p.threshold,
                        p.threshold_embedder, f.pose
                 FROM person p JOIN face f ON f.person_id = p.id ORDER BY p.name, f.id",
                &[],
            )
            .map_err(&db)?;
        let mut people = ExportBuilder::default();
        for r in &faces {
            let face_id: i64 = r.get(3);
            let mut embeddings = Vec::new();
            for e in &tx
                .query(
                    "SELECT embedder, vector FROM embedding WHERE face_id = $1 ORDER BY embedder",
                    &[&face_id],
                )
                .map_err(&db)?
            {
                let embedder: String = e.get(0);
                let vector = self.opened(Column::Vector, e.get(1), || {
                    format!("the {embedder} embedding of face {face_id}")
                })?;
                embeddings.extend(stored::exported(embedder, &vector));
            }
            let image: Option<Vec<u8>> = r.get(10);
            let image = image
                .map(|image| {
                    self.opened(Column::Image, image, || {
                        format!("the crop of face {face_id}")
                    })
                })
                .transpose()?;
            let face = ExportFace {
                captured: r.get(4),
                source: r.get(5),
                source_sha256: r.get(6),
                confidence: r.get(7),
                face_px: r.get(8),
                sharpness: r.get(9),
                pose: pose_from_column(r.get(13)),
                embeddings,
                image_png_base64: image.as_deref().map(ExportFace::encode_image),
            };
            let person = ExportPerson {
                name: r.get(0),
                created: r.get(1),
                last_seen: r.get(2),
                own_threshold: OwnThreshold::from_columns(r.get(11), r.get(12)),
                faces: Vec::new(),
            };
            people.face(person, face);
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
            let person_id =
                upsert_person(&mut tx, &name, person.created, person.last_seen).map_err(&db)?;
            if let Some(own) = &person.own_threshold {
                tx.execute(
                    "UPDATE person SET threshold = $1, threshold_embedder = $2
                     WHERE id = $3 AND threshold IS NULL",
                    &[&own.threshold, &own.embedder.as_str(), &person_id],
                )
                .map_err(&db)?;
            }
            for face in &person.faces {
                let image = face.image(&person.name)?;
                let record = StoredFace::imported(face, image.as_deref());
                added += usize::from(
                    insert_face(&mut tx, &self.seal, &self.location, person_id, &record)?.is_some(),
                );
            }
        }
        let detail = format!("{added} face(s) of {} people imported", file.people.len());
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
            .execute(
                "INSERT INTO api_key (name, scopes, hash, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &scopes, &hash, &created],
            )
            .map_err(&db)?;
        if inserted == 0 {
            return Err(key_taken(&name));
        }
        let detail = format!("key {name} ({scopes})");
        audit::log(&mut tx, actor, AuditAction::KeyCreated, &detail).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(ApiKey::from_row(name, &scopes, created))
    }

    fn keys(&self) -> Result<Vec<ApiKey>> {
        let rows = self
            .client()?
            .query(
                "SELECT name, scopes, created FROM api_key ORDER BY name",
                &[],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| ApiKey::from_row(r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        let row = self
            .client()?
            .query_opt(
                "SELECT name, scopes, created FROM api_key WHERE hash = $1",
                &[&hash],
            )
            .map_err(self.db())?;
        Ok(row.map(|r| ApiKey::from_row(r.get(0), r.get(1), r.get(2))))
    }

    fn revoke_key(&self, name: &str, actor: &Actor) -> Result<()> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let deleted = tx
            .execute("DELETE FROM api_key WHERE name = $1", &[&name.trim()])
            .map_err(&db)?;
        if deleted == 0 {
            return Err(no_key(name));
        }
        let detail = format!("key {}", name.trim());
        audit::log(&mut tx, actor, AuditAction::KeyRevoked, &detail).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn record(&self, action: AuditAction, detail: &str, actor: &Actor) -> Result<()> {
        audit::log(&mut *self.client()?, actor, action, detail).map_err(self.db())
    }

    fn audit(&self, since: i64) -> Result<Vec<AuditEntry>> {
        audit::read(&mut *self.client()?, since).map_err(self.db())
    }

    fn watch(&self) -> Result<ChangeFeed> {
        watch::watch(&self.url, &self.location)
    }

    fn roster_version(&self) -> Result<i64> {
        self.client()?
            .query_one("SELECT version FROM roster", &[])
            .and_then(|row| row.try_get(0))
            .map_err(self.db())
    }
}
