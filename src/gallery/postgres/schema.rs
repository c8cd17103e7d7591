//! The PostgreSQL schema and its migrations; `whoisit_schema.version` is the number applied.

use postgres::Client;

/// The same person -> face -> embedding model as the SQLite store; crops are `bytea`, vectors
/// little-endian f32 `bytea` (pgvector is not packaged everywhere, and matching stays in
/// memory anyway).
const MIGRATIONS: &[&str] = &[
    r#"
    CREATE TABLE person (
        id        BIGSERIAL PRIMARY KEY,
        name      TEXT NOT NULL UNIQUE,
        created   BIGINT NOT NULL,
        last_seen BIGINT
    );
    CREATE TABLE face (
        id            BIGSERIAL PRIMARY KEY,
        person_id     BIGINT NOT NULL REFERENCES person(id) ON DELETE CASCADE,
        captured      BIGINT NOT NULL,
        source        TEXT NOT NULL,
        source_sha256 TEXT,
        confidence    REAL NOT NULL,
        face_px       INTEGER NOT NULL,
        sharpness     REAL NOT NULL,
        image         BYTEA,
        UNIQUE (person_id, source_sha256)
    );
    CREATE TABLE embedding (
        face_id  BIGINT NOT NULL REFERENCES face(id) ON DELETE CASCADE,
        embedder TEXT NOT NULL,
        vector   BYTEA NOT NULL,
        PRIMARY KEY (face_id, embedder)
    );
    CREATE INDEX face_person ON face(person_id);
    CREATE INDEX embedding_embedder ON embedding(embedder);
"#,
    r#"
    CREATE TABLE api_key (
        id      BIGSERIAL PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,
        scopes  TEXT NOT NULL,
        hash    TEXT NOT NULL UNIQUE,
        created BIGINT NOT NULL
    );
"#,
    // A row here says the crops and embeddings are sealed; its value, sealed with the key,
    // tells a wrong key before anything is read. At most one row: the primary key is a
    // constant.
    r#"
    CREATE TABLE whoisit_seal (
        only_row    BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        check_value BYTEA NOT NULL
    );
"#,
    r#"
    -- Who changed what, and who took the data out; people by id, never by name. Append-only:
    -- whoisit never updates or deletes a row, and the trigger refuses it to anyone else.
    CREATE TABLE audit (
        id     BIGSERIAL PRIMARY KEY,
        at     BIGINT NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE FUNCTION whoisit_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'the audit trail is append-only'; END $$;
    CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit
        FOR EACH STATEMENT EXECUTE FUNCTION whoisit_audit_append_only();
"#,
    r#"
    -- A person's own threshold (`calibrate --per-person`) and the embedder whose distances it
    -- was calibrated on; both NULL for the global threshold.
    ALTER TABLE person ADD COLUMN threshold REAL;
    ALTER TABLE person ADD COLUMN threshold_embedder TEXT;
"#,
    r#"
    -- The head's pose of each face (front, left, right, up, down), from its landmarks at
    -- enrollment; NULL for faces enrolled before it was recorded.
    ALTER TABLE face ADD COLUMN pose TEXT;
"#,
    r#"
    -- The roster's version: bumped by exactly the changes that alter who can be named (people,
    -- their names and own thresholds, faces, embeddings), so that a recognizer reloads for
    -- those and not for a last-seen time, an audit entry or a key. Triggers, so that no change
    -- can forget it; per statement, so that removing a person with 200 faces bumps it a few
    -- times, not 400.
    CREATE TABLE roster (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        version  BIGINT NOT NULL
    );
    INSERT INTO roster (version) VALUES (0);
    CREATE FUNCTION whoisit_roster_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN UPDATE roster SET version = version + 1; RETURN NULL; END $$;
    CREATE TRIGGER roster_person
        AFTER INSERT OR DELETE OR UPDATE OF name, threshold, threshold_embedder ON person
        FOR EACH STATEMENT EXECUTE FUNCTION whoisit_roster_changed();
    CREATE TRIGGER roster_face AFTER INSERT OR DELETE ON face
        FOR EACH STATEMENT EXECUTE FUNCTION whoisit_roster_changed();
    CREATE TRIGGER roster_embedding AFTER INSERT OR DELETE OR UPDATE ON embedding
        FOR EACH STATEMENT EXECUTE FUNCTION whoisit_roster_changed();
"#,
    r#"
    -- The head's pose of a face in a table of its own, as the SQLite store keeps it: one
    -- schema, so that the stores' SQL is one. The poses of faces enrolled before move there.
    CREATE TABLE face_pose (
        face_id BIGINT PRIMARY KEY REFERENCES face(id) ON DELETE CASCADE,
        pose    TEXT NOT NULL
    );
    INSERT INTO face_pose (face_id, pose) SELECT id, pose FROM face WHERE pose IS NOT NULL;
    ALTER TABLE face DROP COLUMN pose;
"#,
    r#"
    -- The API keys' version: bumped by every key made or revoked, so that a server keeping
    -- the keys in memory learns of a change by any machine, and only of those.
    CREATE TABLE key_version (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        version  BIGINT NOT NULL
    );
    INSERT INTO key_version (version) VALUES (0);
    CREATE FUNCTION whoisit_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN UPDATE key_version SET version = version + 1; RETURN NULL; END $$;
    CREATE TRIGGER key_version AFTER INSERT OR DELETE OR UPDATE ON api_key
        FOR EACH STATEMENT EXECUTE FUNCTION whoisit_keys_changed();
"#,
    r#"
    -- Sightings: one track's appearance at one camera (see gallery/sightings.rs). Forgotten
    -- with their person; an unknown face keeps one crop (PNG) and the track's mean embedding,
    -- sealed like faces, NULL once named or past sightings.unknown_face_days.
    CREATE TABLE sighting (
        id        BIGSERIAL PRIMARY KEY,
        camera    TEXT NOT NULL,
        track     BIGINT NOT NULL,
        person_id BIGINT REFERENCES person(id) ON DELETE CASCADE,
        first     BIGINT NOT NULL,
        last      BIGINT NOT NULL,
        distance  REAL,
        evidence  INTEGER NOT NULL,
        embedder  TEXT,
        vector    BYTEA,
        crop      BYTEA
    );
    CREATE INDEX sighting_last ON sighting(last);
    CREATE INDEX sighting_person ON sighting(person_id);
"#,
    r#"
    -- The visitor (group of unknown sightings, see gallery/visitors.rs) a sighting is in: the
    -- id of one of its sightings, NULL for a named sighting and for one in no group.
    ALTER TABLE sighting ADD COLUMN visitor_id BIGINT;
    CREATE INDEX sighting_visitor ON sighting(visitor_id);
"#,
    r#"
    -- Negative examples ("not this person", see gallery/corrections.rs), sealed like faces'
    -- embeddings; forgotten with the person; a change to the roster, as a face moved to
    -- another person is.
    CREATE TABLE negative (
        id        BIGSERIAL PRIMARY KEY,
        person_id BIGINT NOT NULL REFERENCES person(id) ON DELETE CASCADE,
        embedder  TEXT NOT NULL,
        vector    BYTEA NOT NULL,
        created   BIGINT NOT NULL,
        source    TEXT NOT NULL
    );
    CREATE INDEX negative_person ON negative(person_id);
    CREATE INDEX negative_embedder ON negative(embedder);
    CREATE TRIGGER roster_negative AFTER INSERT OR DELETE ON negative
        FOR EACH STATEMENT EXECUTE FUNCTION whoisit_roster_changed();
    CREATE TRIGGER roster_negative_moved AFTER UPDATE OF person_id ON negative
        FOR EACH STATEMENT EXECUTE FUNCTION whoisit_roster_changed();
    CREATE TRIGGER roster_face_moved AFTER UPDATE OF person_id ON face
        FOR EACH STATEMENT EXECUTE FUNCTION whoisit_roster_changed();
"#,
    r#"
    -- The site threshold chosen for an embedder (the console's Settings page, `PUT
    -- /v1/settings/threshold`): it wins over the config's `threshold` on every machine of the
    -- gallery, so a change to it is a change to the roster.
    CREATE TABLE site_threshold (
        embedder  TEXT PRIMARY KEY,
        threshold REAL NOT NULL
    );
    CREATE TRIGGER roster_site_threshold AFTER INSERT OR DELETE OR UPDATE ON site_threshold
        FOR EACH STATEMENT EXECUTE FUNCTION whoisit_roster_changed();
"#,
];

/// Why the database cannot be used as it is.
pub(super) enum Refused {
    Database(postgres::Error),
    Newer { found: i32, known: usize },
}

impl From<postgres::Error> for Refused {
    fn from(e: postgres::Error) -> Refused {
        Refused::Database(e)
    }
}

/// Applies the migrations the database lacks, under an advisory lock, so that several machines
/// starting at once against a new database do not all create the tables.
pub(super) fn migrate(client: &mut Client) -> Result<(), Refused> {
    let mut tx = client.transaction()?;
    // Any fixed number: it only has to be the same for every whoisit.
    tx.execute("SELECT pg_advisory_xact_lock(7074656972)", &[])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS whoisit_schema (version INTEGER NOT NULL)")?;
    let found: i32 = match tx.query_opt("SELECT version FROM whoisit_schema", &[])? {
        Some(row) => row.try_get(0)?,
        None => 0,
    };
    let applied = usize::try_from(found).unwrap_or(0);
    if applied > MIGRATIONS.len() {
        return Err(Refused::Newer {
            found,
            known: MIGRATIONS.len(),
        });
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.batch_execute(sql)?;
        let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
        tx.execute("DELETE FROM whoisit_schema", &[])?;
        tx.execute(
            "INSERT INTO whoisit_schema (version) VALUES ($1)",
            &[&version],
        )?;
        tracing::info!(schema = version, "gallery schema updated");
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gallery::{Gallery as _, PostgresGallery};
    use crate::vision::pose::Pose;

    /// A database of the test's own on `WHOISIT_TEST_POSTGRES` (see tests/common/postgres.rs),
    /// dropped at the end.
    struct Database {
        admin: String,
        name: String,
        url: String,
    }

    impl Database {
        fn new() -> Database {
            let admin = std::env::var("WHOISIT_TEST_POSTGRES")
                .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/postgres".into());
            let name = format!("whoisit_u_{}", std::process::id());
            let mut client = Client::connect(&admin, postgres::NoTls).unwrap();
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .unwrap();
            let url = format!("{}/{name}", &admin[..admin.rfind('/').unwrap()]);
            Database { admin, name, url }
        }
    }

    impl Drop for Database {
        fn drop(&mut self) {
            let dropped = Client::connect(&self.admin, postgres::NoTls).and_then(|mut client| {
                client.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            });
            if let Err(e) = dropped {
                eprintln!("cannot drop {}: {e}", self.name);
            }
        }
    }

    #[test]
    fn a_gallery_that_kept_poses_in_the_face_table_keeps_them_in_their_own() {
        let db = Database::new();
        let mut client = Client::connect(&db.url, postgres::NoTls).unwrap();
        // Schema 7, as whoisit made it before poses had a table of their own.
        for sql in &MIGRATIONS[..7] {
            client.batch_execute(sql).unwrap();
        }
        client
            .batch_execute(
                "CREATE TABLE whoisit_schema (version INTEGER NOT NULL);
                 INSERT INTO whoisit_schema VALUES (7);
                 INSERT INTO person (id, name, created) VALUES (1, 'Ann', 0);
                 INSERT INTO face (id, person_id, captured, source, source_sha256, confidence,
                                   face_px, sharpness, pose)
                 VALUES (1, 1, 0, 'a.jpg', 'a', 0.9, 100, 200, 'left'),
                        (2, 1, 0, 'b.jpg', 'b', 0.9, 100, 200, NULL),
                        (3, 1, 0, 'c.jpg', 'c', 0.9, 100, 200, 'up');",
            )
            .unwrap();
        drop(client);
        let g = PostgresGallery::open(&db.url, None).unwrap();
        let ann = crate::gallery::PersonId(1);
        assert_eq!(
            g.faces(ann)
                .unwrap()
                .iter()
                .map(|f| f.pose)
                .collect::<Vec<_>>(),
            [Some(Pose::Left), None, Some(Pose::Up)]
        );
        assert_eq!(g.person(ann).unwrap().poses, [Pose::Left, Pose::Up]);
        let mut client = Client::connect(&db.url, postgres::NoTls).unwrap();
        let version: i32 = client
            .query_one("SELECT version FROM whoisit_schema", &[])
            .unwrap()
            .get(0);
        assert_eq!(usize::try_from(version).unwrap(), MIGRATIONS.len());
        let column = client
            .query_opt(
                "SELECT 1 FROM information_schema.columns
                 WHERE table_name = 'face' AND column_name = 'pose'",
                &[],
            )
            .unwrap();
        assert!(column.is_none(), "the old column is gone");
    }
}
