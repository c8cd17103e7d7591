//! The gallery in a PostgreSQL database that several machines share: the same people, faces
//! and embeddings as the SQLite store, one transaction per change, and changes announced with
//! `NOTIFY` so that every recognizer reloads within a moment.

mod audit;
mod schema;
mod watch;

use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard};

use postgres::{Client, NoTls, Transaction};

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, Enrolled};
use crate::gallery::export::{ExportBuilder, ExportFace, ExportFile};
use crate::gallery::model::{
    ApiKey, CheckReport, FaceId, FaceSummary, FaceToEmbed, NewFace, PersonId, PersonSummary,
    Removed, Scope, key_taken, no_face, no_key, no_person, now, validate_key_name, validate_name,
};
use crate::gallery::stored::{self, StoredFace, vector_bytes};
use crate::gallery::{Actor, AuditAction, AuditEntry, ChangeFeed, Gallery, GalleryKey};

/// The channel writes `NOTIFY` on and the change feed `LISTEN`s to.
const CHANNEL: &str = "whoisit_gallery";

/// A connection to a gallery database.
pub struct PostgresGallery {
    url: String,
    /// The URL without its password, for messages.
    location: String,
    // The client needs `&mut` for every query; the gallery interface reads through `&self`.
    client: Mutex<Client>,
    /// Who the changes are made by, for the audit trail.
    actor: Actor,
}

/// The URL as it can be shown: any password replaced by `***`.
fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) if user.contains(':') => {
            let name = user.split(':').next().unwrap_or_default();
            format!("{scheme}://{name}:***@{host}")
        }
        _ => url.to_owned(),
    }
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

fn count(n: i64) -> usize {
    usize::try_from(n).unwrap_or(0)
}

impl PostgresGallery {
    /// Connects to the database at `url` (`postgres://user:password@host/db`) and brings its
    /// schema up to date.
    pub fn open(url: &str, key: Option<&GalleryKey>) -> Result<PostgresGallery> {
        let location = redacted(url);
        if key.is_some() {
            return Err(Error::InvalidInput("TODO: sealing".into()));
        }
        let mut client = Client::connect(url, NoTls).map_err(|e| db_error(&location, e))?;
        schema::migrate(&mut client).map_err(|refused| match refused {
            schema::Refused::Database(e) => db_error(&location, e),
            schema::Refused::Newer { found, known } => Error::Gallery {
                location: location.clone(),
                message: format!(
                    "written by a newer whoisit (schema {found}, this one knows {known}); upgrade whoisit, nothing was changed"
                ),
                source: None,
            },
        })?;
        Ok(PostgresGallery {
            url: url.to_owned(),
            location,
            client: Mutex::new(client),
            actor: Actor::default(),
        })
    }

    /// Seals every crop and embedding with `key`, in place.
    pub fn seal_all(_url: &str, _key: &GalleryKey) -> Result<()> {
        Err(Error::InvalidInput("TODO: sealing".into()))
    }

    /// Unseals every crop and embedding sealed with `key`, in place.
    pub fn unseal_all(_url: &str, _key: &GalleryKey) -> Result<()> {
        Err(Error::InvalidInput("TODO: sealing".into()))
    }

    fn client(&self) -> Result<MutexGuard<'_, Client>> {
        self.client
            .lock()
            .map_err(|_| Error::Internal("a thread panicked while it used the gallery"))
    }

    fn db(&self) -> impl Fn(postgres::Error) -> Error + '_ {
        |e| db_error(&self.location, e)
    }

    fn person_id(&self, client: &mut Client, name: &str) -> Result<i64> {
        client
            .query_opt("SELECT id FROM person WHERE name = $1", &[&name])
            .map_err(self.db())?
            .map(|row| row.get(0))
            .ok_or_else(|| Error::UnknownPerson(name.to_owned()))
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

/// Inserts a face and its embeddings; `None` when the person has this photo already.
fn insert_face(
    tx: &mut Transaction<'_>,
    person_id: i64,
    face: &StoredFace<'_>,
) -> std::result::Result<Option<FaceId>, postgres::Error> {
    let inserted = tx.query_opt(
        "INSERT INTO face (person_id, captured, source, source_sha256, confidence, face_px, sharpness, image)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (person_id, source_sha256) DO NOTHING RETURNING id",
        &[
            &person_id,
            &face.captured,
            &face.source,
            &face.source_sha256,
            &face.confidence,
            &face.face_px,
            &face.sharpness,
            &face.image,
        ],
    )?;
    let Some(row) = inserted else {
        return Ok(None);
    };
    let face_id: i64 = row.get(0);
    for (embedder, vector) in &face.embeddings {
        tx.execute(
            "INSERT INTO embedding (face_id, embedder, vector) VALUES ($1, $2, $3)",
            &[&face_id, &embedder.as_str(), vector],
        )?;
    }
    Ok(Some(FaceId(face_id)))
}

/// A person with their number of faces; the caller adds the WHERE, GROUP BY and ORDER BY.
const PERSON_SUMMARY: &str = "SELECT p.id, p.name, count(f.id), p.created, p.last_seen
    FROM person p LEFT JOIN face f ON f.person_id = p.id";

fn person_summary(r: &postgres::Row) -> PersonSummary {
    PersonSummary {
        id: PersonId(r.get(0)),
        name: r.get(1),
        faces: count(r.get(2)),
        created: r.get(3),
        last_seen: r.get(4),
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

    fn create_person(&mut self, name: &str) -> Result<PersonSummary> {
        let name = validate_name(name)?;
        let db = self.db();
        let id: i64 = {
            let mut client = self.client()?;
            let mut tx = client.transaction().map_err(&db)?;
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
            let id: i64 = row.get(0);
            let detail = format!("person {id}: created with no faces");
            audit::log(&mut tx, &self.actor, AuditAction::Enroll, &detail).map_err(&db)?;
            notify(&mut tx).map_err(&db)?;
            tx.commit().map_err(&db)?;
            id
        };
        self.person(PersonId(id))
    }

    fn faces(&self, person: PersonId) -> Result<Vec<FaceSummary>> {
        self.person(person)?;
        let rows = self
            .client()?
            .query(
                "SELECT id, captured, source, confidence, face_px, sharpness, image IS NOT NULL
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
                has_image: r.get(6),
            })
            .collect())
    }

    fn face_image(&self, person: PersonId, face: FaceId) -> Result<Option<Vec<u8>>> {
        self.client()?
            .query_opt(
                "SELECT image FROM face WHERE id = $1 AND person_id = $2",
                &[&face.0, &person.0],
            )
            .map_err(self.db())?
            .map(|r| r.get(0))
            .ok_or_else(|| no_face(person, face))
    }

    fn remove_face(&mut self, person: PersonId, face: FaceId) -> Result<()> {
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
        audit::log(&mut tx, &self.actor, AuditAction::RemoveFace, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn add_faces(&mut self, name: &str, faces: &[NewFace]) -> Result<Vec<FaceId>> {
        let name = validate_name(name)?;
        stored::check_lengths(&self.location, faces)?;
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let person = upsert_person(&mut tx, &name, now(), None).map_err(&db)?;
        let mut added = Vec::new();
        for face in faces {
            let record = StoredFace::enrolled(face);
            added.extend(insert_face(&mut tx, person, &record).map_err(&db)?);
        }
        if !added.is_empty() {
            let detail = format!("person {person}: {} face(s) added", added.len());
            audit::log(&mut tx, &self.actor, AuditAction::Enroll, &detail).map_err(&db)?;
        }
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(added)
    }

    fn add_embedding(
        &mut self,
        face: FaceId,
        embedder: &EmbedderId,
        embedding: &Embedding,
    ) -> Result<()> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        tx.execute(
            "INSERT INTO embedding (face_id, embedder, vector) VALUES ($1, $2, $3)
             ON CONFLICT (face_id, embedder) DO UPDATE SET vector = EXCLUDED.vector",
            &[&face.0, &embedder.as_str(), &vector_bytes(&embedding.0)],
        )
        .map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn source_hashes(&self, name: &str) -> Result<HashSet<String>> {
        let rows = self
            .client()?
            .query(
                "SELECT f.source_sha256 FROM face f JOIN person p ON p.id = f.person_id
                 WHERE p.name = $1 AND f.source_sha256 IS NOT NULL",
                &[&name],
            )
            .map_err(self.db())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn images(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        let mut client = self.client()?;
        let id = self.person_id(&mut client, name)?;
        let rows = client
            .query(
                "SELECT image FROM face WHERE person_id = $1 AND image IS NOT NULL ORDER BY id",
                &[&id],
            )
            .map_err(self.db())?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn rename(&mut self, old: &str, new: &str) -> Result<()> {
        let new = validate_name(new)?;
        let db = self.db();
        let mut client = self.client()?;
        let id = self.person_id(&mut client, old)?;
        if new == old {
            return Ok(());
        }
        if self.person_id(&mut client, &new).is_ok() {
            return Err(Error::NameTaken(new));
        }
        let mut tx = client.transaction().map_err(&db)?;
        tx.execute("UPDATE person SET name = $1 WHERE id = $2", &[&new, &id])
            .map_err(&db)?;
        let detail = format!("person {id}: renamed");
        audit::log(&mut tx, &self.actor, AuditAction::Rename, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn remove(&mut self, name: &str) -> Result<Removed> {
        let db = self.db();
        let mut client = self.client()?;
        let id = self.person_id(&mut client, name)?;
        let mut tx = client.transaction().map_err(&db)?;
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
        audit::log(&mut tx, &self.actor, AuditAction::Remove, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(removed)
    }

    fn embeddings(&self, embedder: &EmbedderId) -> Result<Vec<Enrolled>> {
        let rows = self
            .client()?
            .query(
                "SELECT p.name, e.vector FROM embedding e JOIN face f ON f.id = e.face_id
                 JOIN person p ON p.id = f.person_id WHERE e.embedder = $1 ORDER BY p.id, f.id",
                &[&embedder.as_str()],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .filter_map(|row| stored::enrolled(row.get(0), row.get(1)))
            .collect())
    }

    fn faces_without(&self, embedder: &EmbedderId) -> Result<Vec<FaceToEmbed>> {
        let rows = self
            .client()?
            .query(
                "SELECT f.id, p.name, f.image FROM face f JOIN person p ON p.id = f.person_id
                 WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id AND e.embedder = $1)
                 ORDER BY f.id",
                &[&embedder.as_str()],
            )
            .map_err(self.db())?;
        Ok(rows
            .iter()
            .map(|r| FaceToEmbed {
                id: FaceId(r.get(0)),
                person: r.get(1),
                image_png: r.get(2),
            })
            .collect())
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

    fn mark_seen(&mut self, names: &[String]) -> Result<()> {
        // Who was seen is not a change to the roster: nobody needs to reload for it.
        self.client()?
            .execute(
                "UPDATE person SET last_seen = $1 WHERE name = ANY($2)",
                &[&now(), &names],
            )
            .map_err(self.db())?;
        Ok(())
    }

    fn purge_sightings(&mut self, before: i64) -> Result<usize> {
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let cleared = tx
            .execute(
                "UPDATE person SET last_seen = NULL WHERE last_seen < $1",
                &[&before],
            )
            .map_err(&db)?;
        if cleared > 0 {
            let detail = format!("last-seen times before {before} cleared for {cleared} people");
            audit::log(&mut tx, &self.actor, AuditAction::Purge, &detail).map_err(&db)?;
        }
        tx.commit().map_err(&db)?;
        Ok(usize::try_from(cleared).unwrap_or(usize::MAX))
    }

    fn check(&self) -> Result<CheckReport> {
        let mut client = self.client()?;
        let db = self.db();
        let mut scalar = |sql: &str| -> Result<usize> {
            Ok(count(client.query_one(sql, &[]).map_err(&db)?.get(0)))
        };
        let mut report = CheckReport {
            people: scalar("SELECT count(*) FROM person")?,
            faces: scalar("SELECT count(*) FROM face")?,
            embeddings: scalar("SELECT count(*) FROM embedding")?,
            problems: Vec::new(),
        };
        let checks = stored::content_checks();
        for (sql, what) in checks {
            let n = scalar(&sql)?;
            if n > 0 {
                report.problems.push(format!("{n} {what}"));
            }
        }
        let rows = client
            .query(
                "SELECT f.id, p.name, f.image FROM face f JOIN person p ON p.id = f.person_id
                 WHERE f.image IS NOT NULL",
                &[],
            )
            .map_err(&db)?;
        for row in &rows {
            let (id, name, png): (i64, String, Vec<u8>) = (row.get(0), row.get(1), row.get(2));
            report
                .problems
                .extend(stored::crop_problem(id, &name, &png));
        }
        Ok(report)
    }

    fn export(&self) -> Result<ExportFile> {
        let mut client = self.client()?;
        let db = self.db();
        let faces = client
            .query(
                "SELECT p.name, p.created, p.last_seen, f.id, f.captured, f.source, f.source_sha256,
                        f.confidence, f.face_px, f.sharpness, f.image
                 FROM person p JOIN face f ON f.person_id = p.id ORDER BY p.name, f.id",
                &[],
            )
            .map_err(&db)?;
        let mut people = ExportBuilder::default();
        for r in &faces {
            let face_id: i64 = r.get(3);
            let embeddings = client
                .query(
                    "SELECT embedder, vector FROM embedding WHERE face_id = $1 ORDER BY embedder",
                    &[&face_id],
                )
                .map_err(&db)?
                .iter()
                .filter_map(|e| stored::exported(e.get(0), e.get(1)))
                .collect();
            let image: Option<Vec<u8>> = r.get(10);
            let face = ExportFace {
                captured: r.get(4),
                source: r.get(5),
                source_sha256: r.get(6),
                confidence: r.get(7),
                face_px: r.get(8),
                sharpness: r.get(9),
                embeddings,
                image_png_base64: image.as_deref().map(ExportFace::encode_image),
            };
            people.face(r.get(0), r.get(1), r.get(2), face);
        }
        Ok(people.finish())
    }

    fn import(&mut self, file: &ExportFile) -> Result<usize> {
        file.validate()?;
        let db = self.db();
        let mut client = self.client()?;
        let mut tx = client.transaction().map_err(&db)?;
        let mut added = 0;
        for person in &file.people {
            let name = validate_name(&person.name)?;
            let person_id =
                upsert_person(&mut tx, &name, person.created, person.last_seen).map_err(&db)?;
            for face in &person.faces {
                let image = face.image(&person.name)?;
                let record = StoredFace::imported(face, image.as_deref());
                added += usize::from(
                    insert_face(&mut tx, person_id, &record)
                        .map_err(&db)?
                        .is_some(),
                );
            }
        }
        let detail = format!("{added} face(s) of {} people imported", file.people.len());
        audit::log(&mut tx, &self.actor, AuditAction::Import, &detail).map_err(&db)?;
        notify(&mut tx).map_err(&db)?;
        tx.commit().map_err(&db)?;
        Ok(added)
    }

    fn add_key(&mut self, name: &str, scopes: &[Scope], hash: &str) -> Result<ApiKey> {
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
        audit::log(&mut tx, &self.actor, AuditAction::KeyCreated, &detail).map_err(&db)?;
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

    fn revoke_key(&mut self, name: &str) -> Result<()> {
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
        audit::log(&mut tx, &self.actor, AuditAction::KeyRevoked, &detail).map_err(&db)?;
        tx.commit().map_err(&db)
    }

    fn act_as(&mut self, actor: Actor) {
        self.actor = actor;
    }

    fn record(&mut self, action: AuditAction, detail: &str) -> Result<()> {
        let actor = self.actor.clone();
        audit::log(&mut *self.client()?, &actor, action, detail).map_err(self.db())
    }

    fn audit(&self, since: i64) -> Result<Vec<AuditEntry>> {
        audit::read(&mut *self.client()?, since).map_err(self.db())
    }

    fn watch(&self) -> Result<ChangeFeed> {
        watch::watch(&self.url, &self.location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            redacted("postgres://whoisit:s3cret@db.example:5432/roster"),
            "postgres://whoisit:***@db.example:5432/roster"
        );
        assert_eq!(
            redacted("postgres://root@127.0.0.1/test"),
            "postgres://root@127.0.0.1/test"
        );
    }
}
