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
    let found: i32 = tx
        .query_opt("SELECT version FROM whoisit_schema", &[])?
        .map_or(0, |row| row.get(0));
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
