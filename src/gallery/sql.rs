//! The SQL every store runs, written once. The schemas agree (tables, columns and their
//! meaning), so a statement differs between SQLite and PostgreSQL only where a dialect has no
//! common form; those few stay in their store.
//!
//! Placeholders are `$1`, `$2`, ... numbered in the order they first appear: PostgreSQL reads
//! them as its own, and SQLite as named parameters, which it numbers in the order they first
//! appear, so that binding by position means the same in both.

/// A person with their number of faces and their faces' poses; the caller adds the WHERE,
/// GROUP BY and ORDER BY. Columns: id, name, faces, created, last seen, threshold, its
/// embedder, poses ("left,front").
pub(crate) const PERSON_SUMMARY: &str = "SELECT p.id, p.name, count(f.id), p.created, p.last_seen,
    p.threshold, p.threshold_embedder, string_agg(fp.pose, ',')
    FROM person p LEFT JOIN face f ON f.person_id = p.id
        LEFT JOIN face_pose fp ON fp.face_id = f.id";

/// Person `$1`'s name.
pub(crate) const PERSON_NAME: &str = "SELECT name FROM person WHERE id = $1";

/// Whether person `$1` exists.
pub(crate) const PERSON_EXISTS: &str = "SELECT 1 FROM person WHERE id = $1";

/// Person `$1`'s id and own threshold, to change the threshold.
pub(crate) const PERSON_THRESHOLD: &str = "SELECT id, threshold FROM person WHERE id = $1";

/// Whether the name `$1` is taken.
pub(crate) const NAME_TAKEN: &str = "SELECT 1 FROM person WHERE name = $1";

/// A new person (`$1` name, `$2` created); no row when the name is taken.
pub(crate) const CREATE_PERSON: &str = "INSERT INTO person (name, created) VALUES ($1, $2)
    ON CONFLICT (name) DO NOTHING RETURNING id";

/// A person of an import (`$1` name, `$2` created, `$3` last seen), unless the name is
/// there already; [`PERSON_ID`] then says who has it.
pub(crate) const IMPORT_PERSON: &str = "INSERT INTO person (name, created, last_seen)
    VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";

/// The id of the person called `$1`.
pub(crate) const PERSON_ID: &str = "SELECT id FROM person WHERE name = $1";

/// An imported own threshold (`$1`, `$2` embedder) for person `$3`, who has none yet.
pub(crate) const IMPORT_THRESHOLD: &str =
    "UPDATE person SET threshold = $1, threshold_embedder = $2 WHERE id = $3 AND threshold IS NULL";

pub(crate) const RENAME: &str = "UPDATE person SET name = $1 WHERE id = $2";

pub(crate) const SET_THRESHOLD: &str =
    "UPDATE person SET threshold = $1, threshold_embedder = $2 WHERE id = $3";

/// What removing person `$1` takes with them: faces, embeddings, crops.
pub(crate) const REMOVED_WITH: &str = "SELECT count(DISTINCT f.id), count(e.face_id),
        count(DISTINCT CASE WHEN f.image IS NOT NULL THEN f.id END)
    FROM face f LEFT JOIN embedding e ON e.face_id = f.id WHERE f.person_id = $1";

/// Person `$1`, with their faces, embeddings and poses (the foreign keys cascade).
pub(crate) const REMOVE_PERSON: &str = "DELETE FROM person WHERE id = $1";

/// Forgets when people were last seen before `$1` (retention).
pub(crate) const FORGET_LAST_SEEN: &str = "UPDATE person SET last_seen = NULL WHERE last_seen < $1";

/// A face of person `$1`: captured, source, its sha256, confidence, size, sharpness, crop;
/// no row when the person has that source already.
pub(crate) const INSERT_FACE: &str = "INSERT INTO face
        (person_id, captured, source, source_sha256, confidence, face_px, sharpness, image)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (person_id, source_sha256) DO NOTHING RETURNING id";

pub(crate) const INSERT_POSE: &str = "INSERT INTO face_pose (face_id, pose) VALUES ($1, $2)";

pub(crate) const INSERT_EMBEDDING: &str =
    "INSERT INTO embedding (face_id, embedder, vector) VALUES ($1, $2, $3)";

/// Face `$1`'s embedding from embedder `$2`, replaced if it has one.
pub(crate) const SET_EMBEDDING: &str = "INSERT INTO embedding (face_id, embedder, vector)
    VALUES ($1, $2, $3) ON CONFLICT (face_id, embedder) DO UPDATE SET vector = excluded.vector";

/// Whether face `$1` exists.
pub(crate) const FACE_EXISTS: &str = "SELECT 1 FROM face WHERE id = $1";

/// Person `$1`'s faces, oldest first: id, captured, source, confidence, size, sharpness,
/// whether it has a crop, pose.
pub(crate) const FACES: &str = "SELECT f.id, f.captured, f.source, f.confidence, f.face_px,
        f.sharpness, f.image IS NOT NULL, fp.pose
    FROM face f LEFT JOIN face_pose fp ON fp.face_id = f.id
    WHERE f.person_id = $1 ORDER BY f.id";

/// Face `$1` of person `$2`'s crop.
pub(crate) const FACE_IMAGE: &str = "SELECT image FROM face WHERE id = $1 AND person_id = $2";

pub(crate) const REMOVE_FACE: &str = "DELETE FROM face WHERE id = $1 AND person_id = $2";

pub(crate) const SOURCE_HASHES: &str =
    "SELECT source_sha256 FROM face WHERE person_id = $1 AND source_sha256 IS NOT NULL";

/// Person `$1`'s crops, oldest first: face id, crop.
pub(crate) const IMAGES: &str =
    "SELECT id, image FROM face WHERE person_id = $1 AND image IS NOT NULL ORDER BY id";

/// Every embedding from embedder `$1`: person id, name, face id, vector.
pub(crate) const EMBEDDINGS: &str = "SELECT p.id, p.name, f.id, e.vector
    FROM embedding e JOIN face f ON f.id = e.face_id JOIN person p ON p.id = f.person_id
    WHERE e.embedder = $1 ORDER BY p.id, f.id";

/// Faces without an embedding from embedder `$1`: face id, person's name, crop.
pub(crate) const FACES_WITHOUT: &str = "SELECT f.id, p.name, f.image
    FROM face f JOIN person p ON p.id = f.person_id
    WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id AND e.embedder = $1)
    ORDER BY f.id";

pub(crate) const COUNT_WITHOUT: &str = "SELECT count(*) FROM face f
    WHERE NOT EXISTS (SELECT 1 FROM embedding e WHERE e.face_id = f.id AND e.embedder = $1)";

/// Every face with its person, for an export: name, created, last seen, face id, captured,
/// source, its sha256, confidence, size, sharpness, crop, threshold, its embedder, pose.
pub(crate) const EXPORT_FACES: &str = "SELECT p.name, p.created, p.last_seen, f.id, f.captured,
        f.source, f.source_sha256, f.confidence, f.face_px, f.sharpness, f.image, p.threshold,
        p.threshold_embedder, fp.pose
    FROM person p JOIN face f ON f.person_id = p.id LEFT JOIN face_pose fp ON fp.face_id = f.id
    ORDER BY p.name, f.id";

/// Face `$1`'s embeddings: embedder, vector.
pub(crate) const FACE_EMBEDDINGS: &str =
    "SELECT embedder, vector FROM embedding WHERE face_id = $1 ORDER BY embedder";

/// A key (`$1` name, `$2` scopes, `$3` hash, `$4` created); no row changed when the name is
/// taken.
pub(crate) const ADD_KEY: &str = "INSERT INTO api_key (name, scopes, hash, created)
    VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING";

pub(crate) const KEYS: &str = "SELECT name, scopes, created FROM api_key ORDER BY name";

pub(crate) const KEY_BY_HASH: &str = "SELECT name, scopes, created FROM api_key WHERE hash = $1";

/// Every key that opens something: hash, name, scopes, created.
pub(crate) const KEY_TABLE: &str = "SELECT hash, name, scopes, created FROM api_key";

/// The keys' version (see `Gallery::keys_version`).
pub(crate) const KEY_VERSION: &str = "SELECT version FROM key_version";

pub(crate) const REVOKE_KEY: &str = "DELETE FROM api_key WHERE name = $1";

pub(crate) const AUDIT: &str =
    "INSERT INTO audit (at, actor, action, detail) VALUES ($1, $2, $3, $4)";

/// The trail from `$1`, oldest first: id, at, actor, action, detail.
pub(crate) const AUDIT_SINCE: &str =
    "SELECT id, at, actor, action, detail FROM audit WHERE at >= $1 ORDER BY id";

pub(crate) const ROSTER_VERSION: &str = "SELECT version FROM roster";

/// Every crop with its face and person, for `gallery check`: face id, name, crop.
pub(crate) const CROPS: &str = "SELECT f.id, p.name, f.image FROM face f
    JOIN person p ON p.id = f.person_id WHERE f.image IS NOT NULL";

pub(crate) const COUNT_PEOPLE: &str = "SELECT count(*) FROM person";
pub(crate) const COUNT_FACES: &str = "SELECT count(*) FROM face";
pub(crate) const COUNT_EMBEDDINGS: &str = "SELECT count(*) FROM embedding";

/// Every unknown sighting that keeps an embedding, oldest first: id, embedder, vector, group.
pub(crate) const UNKNOWN_EMBEDDINGS: &str = "SELECT id, embedder, vector, visitor_id FROM sighting
    WHERE person_id IS NULL AND vector IS NOT NULL ORDER BY id";

/// Sighting `$2` in group `$1` (NULL: in none).
pub(crate) const SET_VISITOR: &str = "UPDATE sighting SET visitor_id = $1 WHERE id = $2";

/// Every group, the most recently seen first: id, sightings, first and last seen.
pub(crate) const VISITORS: &str = "SELECT visitor_id, count(*), min(first), max(last)
    FROM sighting WHERE visitor_id IS NOT NULL GROUP BY visitor_id
    ORDER BY max(last) DESC, visitor_id";

/// The cameras each group was seen at: group, camera.
pub(crate) const VISITOR_CAMERAS: &str = "SELECT DISTINCT visitor_id, camera FROM sighting
    WHERE visitor_id IS NOT NULL ORDER BY visitor_id, camera";

/// The sightings of each group that keep a crop, best first (most embeddings agreeing, then
/// the oldest): group, sighting.
pub(crate) const VISITOR_SAMPLES: &str = "SELECT visitor_id, id FROM sighting
    WHERE visitor_id IS NOT NULL AND crop IS NOT NULL
    ORDER BY visitor_id, evidence DESC, id";

/// How many sightings group `$1` has.
pub(crate) const VISITOR_SIZE: &str = "SELECT count(*) FROM sighting WHERE visitor_id = $1";

/// Group `$2`'s sightings, named person `$1` (enrolled from them): their crops go, as a named
/// sighting's do; their embeddings stay, for "not this person".
pub(crate) const NAME_VISITOR: &str = "UPDATE sighting SET person_id = $1, crop = NULL,
    visitor_id = NULL WHERE visitor_id = $2";

/// Group `$1`'s sightings, with their crops and embeddings.
pub(crate) const DISMISS_VISITOR: &str = "DELETE FROM sighting WHERE visitor_id = $1";

/// Sighting `$1` as a correction needs it: person, embedder, vector.
pub(crate) const SIGHTING_EMBEDDING: &str =
    "SELECT person_id, embedder, vector FROM sighting WHERE id = $1";

/// Sighting `$1`, named wrongly: unknown from now on.
pub(crate) const UNNAME_SIGHTING: &str = "UPDATE sighting SET person_id = NULL WHERE id = $1";

/// Whether person `$1` was ruled out of the sighting whose example's source is `$2` ("not
/// this person"): the writer keeps such a sighting unknown when its track, still in view, is
/// named them again before every recognizer has the correction.
pub(crate) const RULED_OUT: &str =
    "SELECT EXISTS (SELECT 1 FROM negative WHERE person_id = $1 AND source = $2)";

/// Face `$1` of person `$2`'s embeddings: embedder, vector.
pub(crate) const FACE_OF_PERSON_EMBEDDINGS: &str = "SELECT e.embedder, e.vector
    FROM embedding e JOIN face f ON f.id = e.face_id
    WHERE f.id = $1 AND f.person_id = $2 ORDER BY e.embedder";

/// A negative example of person `$1`: embedder, vector, when, where it came from.
pub(crate) const INSERT_NEGATIVE: &str = "INSERT INTO negative (person_id, embedder, vector, created, source) VALUES ($1, $2, $3, $4, $5)";

/// Every negative example from embedder `$1`: person id, name, example id, vector.
pub(crate) const NEGATIVES: &str = "SELECT p.id, p.name, n.id, n.vector
    FROM negative n JOIN person p ON p.id = n.person_id WHERE n.embedder = $1 ORDER BY n.id";

/// Every negative example, oldest first: person's name, embedder, vector.
pub(crate) const EXPORT_NEGATIVES: &str = "SELECT p.name, n.embedder, n.vector
    FROM negative n JOIN person p ON p.id = n.person_id ORDER BY n.id";

/// Person `$1`'s negative examples: embedder, vector.
pub(crate) const PERSON_NEGATIVES: &str =
    "SELECT embedder, vector FROM negative WHERE person_id = $1 ORDER BY id";

/// Where an imported negative example came from.
pub(crate) const IMPORTED: &str = "import";

/// Person `$1`'s faces whose source photo person `$2` has too (dropped by a merge of `$1`
/// into `$2`).
pub(crate) const MERGE_DUPLICATE_FACES: &str = "DELETE FROM face WHERE person_id = $1
    AND source_sha256 IN (SELECT source_sha256 FROM face WHERE person_id = $2
                          AND source_sha256 IS NOT NULL)";

/// Person `$2`'s faces, sightings and negative examples given to person `$1`.
pub(crate) const MERGE_FACES: &str = "UPDATE face SET person_id = $1 WHERE person_id = $2";
pub(crate) const MERGE_SIGHTINGS: &str = "UPDATE sighting SET person_id = $1 WHERE person_id = $2";
pub(crate) const MERGE_NEGATIVES: &str = "UPDATE negative SET person_id = $1 WHERE person_id = $2";

/// Person `$2`'s own threshold given to person `$1`, when `$1` has none.
pub(crate) const MERGE_THRESHOLD: &str = "UPDATE person
    SET threshold = f.threshold, threshold_embedder = f.threshold_embedder
    FROM person f WHERE person.id = $1 AND person.threshold IS NULL
        AND f.id = $2 AND f.threshold IS NOT NULL";

/// Person `$1`'s last-seen time, the later of theirs and person `$2`'s.
pub(crate) const MERGE_LAST_SEEN: &str = "UPDATE person
    SET last_seen = (SELECT max(last_seen) FROM person WHERE id = $1 OR id = $2) WHERE id = $1";

/// Whether person `$2` has the source photo of face `$1` in another face.
pub(crate) const PHOTO_TAKEN: &str = "SELECT 1 FROM face f JOIN face g
    ON g.source_sha256 = f.source_sha256 AND g.id <> f.id WHERE f.id = $1 AND g.person_id = $2";

/// Face `$2` of person `$3` given to person `$1`.
pub(crate) const MOVE_FACE: &str =
    "UPDATE face SET person_id = $1 WHERE id = $2 AND person_id = $3";

/// The site threshold stored for embedder `$1`.
pub(crate) const SITE_THRESHOLD: &str = "SELECT threshold FROM site_threshold WHERE embedder = $1";

/// The site threshold `$2` for embedder `$1`, in place of the one stored.
pub(crate) const SET_SITE_THRESHOLD: &str = "INSERT INTO site_threshold (embedder, threshold)
    VALUES ($1, $2) ON CONFLICT (embedder) DO UPDATE SET threshold = excluded.threshold";

/// No site threshold for embedder `$1`: the config's holds again.
pub(crate) const CLEAR_SITE_THRESHOLD: &str = "DELETE FROM site_threshold WHERE embedder = $1";

/// The newest `$2` sightings that keep an embedding of embedder `$1`, newest first: id, person,
/// whether a crop is kept, vector.
pub(crate) const KEPT_EMBEDDINGS: &str = "SELECT id, person_id, crop IS NOT NULL, vector
    FROM sighting WHERE embedder = $1 AND vector IS NOT NULL ORDER BY id DESC LIMIT $2";

/// What a purge with the cutoffs `$1` (sightings, last-seen times) and `$2` (unknown faces)
/// would forget now, counted as the purge counts it: sightings, faces of the sightings it
/// keeps, last-seen times.
pub(crate) const TO_PURGE: &str = "SELECT
    (SELECT count(*) FROM sighting WHERE last < $1),
    (SELECT count(*) FROM sighting WHERE last >= $1 AND last < $2
        AND (vector IS NOT NULL OR crop IS NOT NULL)),
    (SELECT count(*) FROM person WHERE last_seen < $1)";
