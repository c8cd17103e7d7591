//! The SQLite schema and its migrations; `PRAGMA user_version` is the number applied.

use std::path::Path;

use rusqlite::Connection;

use crate::base::error::Result;
use crate::gallery::sqlite::codec::{db_error, gallery_error};

const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
    -- Who may call `whoisit serve`: a key's sha256, never the key.
    CREATE TABLE api_key (
        id      INTEGER PRIMARY KEY,
        name    TEXT NOT NULL UNIQUE,
        scopes  TEXT NOT NULL,
        hash    TEXT NOT NULL UNIQUE,
        created INTEGER NOT NULL
    );
"#,
    r#"
    -- Who changed what, and who took the data out; people by id, never by name. Append-only:
    -- nothing in whoisit updates or deletes a row, and these triggers refuse it to anyone else
    -- who uses the file through SQLite.
    CREATE TABLE audit (
        id     INTEGER PRIMARY KEY,
        at     INTEGER NOT NULL,
        actor  TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX audit_at ON audit(at);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"#,
    r#"
    -- A person's own threshold (`calibrate --per-person`) and the embedder whose distances it
    -- was calibrated on; both NULL for the global threshold.
    ALTER TABLE person ADD COLUMN threshold REAL;
    ALTER TABLE person ADD COLUMN threshold_embedder TEXT;
"#,
    r#"
    -- The head's pose of a face (front, left, right, up, down), from its landmarks at
    -- enrollment; faces enrolled before it was recorded have no row. A table of its own, not
    -- a column of face: a column added to face comes after the crop, and SQLite would read
    -- every crop's overflow pages to reach it when `people list` counts poses.
    CREATE TABLE face_pose (
        face_id INTEGER PRIMARY KEY REFERENCES face(id) ON DELETE CASCADE,
        pose    TEXT NOT NULL
    );
"#,
    r#"
    -- The roster's version: bumped by exactly the changes that alter who can be named (people,
    -- their names and own thresholds, faces, embeddings), so that a running recognizer reloads
    -- for those and not for a last-seen time, an audit entry or a key. Triggers, so that no
    -- change can forget it.
    CREATE TABLE roster (
        only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
        version  INTEGER NOT NULL
    );
    INSERT INTO roster (only_row, version) VALUES (1, 0);
    CREATE TRIGGER roster_person_added AFTER INSERT ON person
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_person_removed AFTER DELETE ON person
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_person_changed AFTER UPDATE OF name, threshold, threshold_embedder ON person
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_face_added AFTER INSERT ON face
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_face_removed AFTER DELETE ON face
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_embedding_added AFTER INSERT ON embedding
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_embedding_removed AFTER DELETE ON embedding
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_embedding_changed AFTER UPDATE ON embedding
        BEGIN UPDATE roster SET version = version + 1; END;
"#,
    r#"
    -- The API keys' version: bumped by every key made or revoked, so that a server keeping
    -- the keys in memory learns of a change by any process, and only of those.
    CREATE TABLE key_version (
        only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
        version  INTEGER NOT NULL
    );
    INSERT INTO key_version (only_row, version) VALUES (1, 0);
    CREATE TRIGGER key_added AFTER INSERT ON api_key
        BEGIN UPDATE key_version SET version = version + 1; END;
    CREATE TRIGGER key_removed AFTER DELETE ON api_key
        BEGIN UPDATE key_version SET version = version + 1; END;
    CREATE TRIGGER key_changed AFTER UPDATE ON api_key
        BEGIN UPDATE key_version SET version = version + 1; END;
"#,
    r#"
    -- Sightings: one track's appearance at one camera (see gallery/sightings.rs). Forgotten
    -- with their person; an unknown face keeps one crop (PNG) and the track's mean embedding,
    -- NULL once named or past sightings.unknown_face_days. AUTOINCREMENT: an id is never
    -- given twice, so that a client paging by id misses nothing after a purge.
    CREATE TABLE sighting (
        id        INTEGER PRIMARY KEY AUTOINCREMENT,
        camera    TEXT NOT NULL,
        track     INTEGER NOT NULL,
        person_id INTEGER REFERENCES person(id) ON DELETE CASCADE,
        first     INTEGER NOT NULL,
        last      INTEGER NOT NULL,
        distance  REAL,
        evidence  INTEGER NOT NULL,
        embedder  TEXT,
        vector    BLOB,
        crop      BLOB
    );
    CREATE INDEX sighting_last ON sighting(last);
    CREATE INDEX sighting_person ON sighting(person_id);
"#,
    r#"
    -- The visitor (group of unknown sightings, see gallery/visitors.rs) a sighting is in: the
    -- id of one of its sightings, NULL for a named sighting and for one in no group.
    ALTER TABLE sighting ADD COLUMN visitor_id INTEGER;
    CREATE INDEX sighting_visitor ON sighting(visitor_id);
"#,
    r#"
    -- Negative examples ("not this person", see gallery/corrections.rs): an embedding of a
    -- face that was named as the person and is not them; the matcher never names them a face
    -- nearer to it than to their own faces. Forgotten with the person; a change to the roster,
    -- as a face moved to another person is.
    CREATE TABLE negative (
        id        INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES person(id) ON DELETE CASCADE,
        embedder  TEXT NOT NULL,
        vector    BLOB NOT NULL,
        created   INTEGER NOT NULL,
        -- Where it came from: `sighting ID` or `face ID`.
        source    TEXT NOT NULL
    );
    CREATE INDEX negative_person ON negative(person_id);
    CREATE INDEX negative_embedder ON negative(embedder);
    CREATE TRIGGER roster_negative_added AFTER INSERT ON negative
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_negative_removed AFTER DELETE ON negative
        BEGIN UPDATE roster SET version = version + 1; END;
    -- A face or an example moved to another person (a merge, a face moved) changes who can
    -- be named as well.
    CREATE TRIGGER roster_negative_moved AFTER UPDATE OF person_id ON negative
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_face_moved AFTER UPDATE OF person_id ON face
        BEGIN UPDATE roster SET version = version + 1; END;
"#,
    r#"
    -- The site threshold chosen for an embedder (the console's Settings page, `PUT
    -- /v1/settings/threshold`): it wins over the config's `threshold` on every machine of the
    -- gallery, so a change to it is a change to the roster.
    CREATE TABLE site_threshold (
        embedder  TEXT PRIMARY KEY,
        threshold REAL NOT NULL
    );
    CREATE TRIGGER roster_site_threshold_added AFTER INSERT ON site_threshold
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_site_threshold_changed AFTER UPDATE ON site_threshold
        BEGIN UPDATE roster SET version = version + 1; END;
    CREATE TRIGGER roster_site_threshold_removed AFTER DELETE ON site_threshold
        BEGIN UPDATE roster SET version = version + 1; END;
"#,
];

/// Sets the connection up: busy timeout, WAL, full sync, foreign keys.
pub(super) fn prepare(conn: &Connection, path: &Path) -> Result<()> {
    let db = |e| db_error(path, e);
    // Another process (the CLI while the app runs) may hold the write lock for a moment.
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(db)?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(db)?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(db)?;
    conn.pragma_update(None, "foreign_keys", true).map_err(db)?;
    // Deleted faces are overwritten with zeros, not left in free pages to be carved out.
    conn.pragma_update(None, "secure_delete", true)
        .map_err(db)?;
    Ok(())
}

/// Applies the migrations this file lacks. The version is read inside a write transaction, so
/// two processes opening a new gallery at once (the app and the CLI) cannot both create the
/// tables.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let db = |e| db_error(path, e);
    // A current file is only read: a command that reads (`people list`, polled while an
    // import runs) must not take the write lock on every open.
    let current = conn
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(db)?;
    if usize::try_from(current).is_ok_and(|v| v == MIGRATIONS.len()) {
        return Ok(());
    }
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(db)?;
    let version = tx
        .query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
        .map_err(db)? as usize;
    if version > MIGRATIONS.len() {
        return Err(gallery_error(
            path,
            format!(
                "written by a newer whoisit (schema {version}, this one knows {}); upgrade whoisit, nothing was changed",
                MIGRATIONS.len()
            ),
        ));
    }
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.execute_batch(sql)
            .and_then(|()| tx.pragma_update(None, "user_version", index + 1))
            .map_err(db)?;
        tracing::info!(path = %path.display(), schema = index + 1, "gallery schema updated");
    }
    tx.commit().map_err(db)
}
