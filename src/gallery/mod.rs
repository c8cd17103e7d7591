//! The gallery: who is enrolled, their faces and each face's embeddings, behind one interface,
//! [`Gallery`], that the rest of whoisit uses: a local SQLite file ([`sqlite::SqliteGallery`],
//! the embedded default) or a PostgreSQL database several machines share
//! ([`postgres::PostgresGallery`]).
//!
//! What every implementation promises:
//! - each change is atomic: a crash or a lost connection leaves it whole or not made at all;
//! - a face keeps one embedding per embedder, and two embedders' vectors are never compared;
//! - a face's crop (PNG) is stored with it, or not at all when the site keeps no images;
//! - [`Gallery::watch`] tells a running recognizer when anyone changed the gallery.

pub mod audit;
pub mod corrections;
pub mod export;
pub mod key;
mod model;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod protect;
pub mod sightings;
mod sql;
pub mod sqlite;
mod stored;
pub mod visitors;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};
use serde::{Deserialize, Serialize};

use crate::base::error::Result;
use crate::base::identity::{EmbedderId, Embedding, Enrolled};
use crate::vision::matcher::OwnThresholds;

pub use self::audit::{Actor, AuditAction, AuditEntry};
pub use self::corrections::{Corrected, Corrections, Merged};
pub use self::export::ExportFile;
pub use self::key::GalleryKey;
pub use self::model::{
    ApiKey, CheckReport, FaceId, FaceSummary, FaceToEmbed, KeyTable, MAX_NAME_CHARS, NewFace,
    OwnThreshold, PersonId, PersonSummary, Removed, Scope, ThresholdChange, name_pattern,
    normalized_name, now, validate_key_name, validate_name,
};
#[cfg(feature = "postgres")]
pub use self::postgres::PostgresGallery;
pub use self::sightings::{
    Cutoffs, KeptEmbedding, Purged, Sighting, SightingId, SightingQuery, SightingRecord, Sightings,
    UnknownFace, Who,
};
pub use self::sqlite::SqliteGallery;
pub use self::visitors::{
    Dismissed, GroupSettings, Grouper, UnknownEmbedding, Visitor, VisitorId, Visitors, regroup,
};

/// Where the enrolled people are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum GalleryConfig {
    /// `gallery.sqlite3` in the data dir: embedded, nothing else to run.
    #[default]
    Sqlite,
    /// A PostgreSQL database several machines share: `postgres://user:password@host/db`.
    Postgres(String),
}

impl std::str::FromStr for GalleryConfig {
    type Err = String;

    /// `sqlite`, or a `postgres://` URL.
    fn from_str(s: &str) -> std::result::Result<GalleryConfig, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("sqlite") {
            Ok(GalleryConfig::Sqlite)
        } else if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Ok(GalleryConfig::Postgres(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is no gallery: give `sqlite` (the file in the data dir) or a \
                 postgres://user:password@host/database URL"
            ))
        }
    }
}

/// A PostgreSQL gallery, named in a build without the store.
#[cfg(not(feature = "postgres"))]
const NO_POSTGRES: crate::Error = crate::Error::NotBuilt {
    feature: "postgres",
    needed_by: "a PostgreSQL gallery",
};

/// Opens the gallery `config` names; an SQLite gallery lives in `data_dir`. With a `key`, an
/// SQLite file is encrypted whole, and a PostgreSQL database's crops and embeddings are sealed
/// value by value.
pub fn open(
    config: &GalleryConfig,
    data_dir: &Path,
    key: Option<&GalleryKey>,
) -> Result<Arc<dyn Gallery>> {
    Ok(match config {
        GalleryConfig::Sqlite => Arc::new(SqliteGallery::open(data_dir, key)?),
        #[cfg(feature = "postgres")]
        GalleryConfig::Postgres(url) => Arc::new(PostgresGallery::open(url, key)?),
        #[cfg(not(feature = "postgres"))]
        GalleryConfig::Postgres(_) => return Err(NO_POSTGRES),
    })
}

/// Encrypts the gallery `config` names with `key`, in place: an SQLite file whole, a
/// PostgreSQL database's crops and embeddings value by value.
pub fn encrypt(config: &GalleryConfig, data_dir: &Path, key: &GalleryKey) -> Result<()> {
    match config {
        GalleryConfig::Sqlite => SqliteGallery::encrypt(data_dir, key),
        #[cfg(feature = "postgres")]
        GalleryConfig::Postgres(url) => PostgresGallery::seal_all(url, key),
        #[cfg(not(feature = "postgres"))]
        GalleryConfig::Postgres(_) => Err(NO_POSTGRES),
    }
}

/// Decrypts the gallery `config` names, encrypted with `key`, in place.
pub fn decrypt(config: &GalleryConfig, data_dir: &Path, key: &GalleryKey) -> Result<()> {
    match config {
        GalleryConfig::Sqlite => SqliteGallery::decrypt(data_dir, key),
        #[cfg(feature = "postgres")]
        GalleryConfig::Postgres(url) => PostgresGallery::unseal_all(url, key),
        #[cfg(not(feature = "postgres"))]
        GalleryConfig::Postgres(_) => Err(NO_POSTGRES),
    }
}

/// The own thresholds of `people` calibrated on `embedder`'s distances, by name.
pub fn thresholds_for(people: &[PersonSummary], embedder: &EmbedderId) -> OwnThresholds {
    people
        .iter()
        .filter_map(|p| {
            let own = p.own_threshold.as_ref()?;
            (own.embedder == *embedder).then(|| (p.name.clone(), own.threshold))
        })
        .collect()
}

/// What `gallery export --salvage` could read.
pub struct Salvaged {
    pub file: ExportFile,
    /// What could not be read, one line each ("face 12: its crop is damaged").
    pub lost: Vec<String>,
}

/// The versions a change feed follows: the roster's and the keys'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Versions {
    pub(crate) roster: i64,
    pub(crate) keys: i64,
}

/// The producing end of a [`ChangeFeed`].
pub(crate) struct Teller {
    roster: Sender<Changed>,
    keys: Sender<KeysChanged>,
    stopped: Receiver<()>,
}

impl Teller {
    /// Tells of what changed from `was` to `now`; false once nobody listens.
    pub(crate) fn tell(&self, was: Versions, now: Versions) -> bool {
        use crossbeam_channel::TrySendError::Disconnected;
        // A full channel already says "reload"; a closed one means nobody listens.
        let roster = now.roster == was.roster
            || !matches!(self.roster.try_send(Changed), Err(Disconnected(_)));
        let keys = now.keys == was.keys
            || !matches!(self.keys.try_send(KeysChanged), Err(Disconnected(_)));
        roster && keys
    }

    /// Waits up to `wait` for the feed to be dropped: true once it is.
    pub(crate) fn stopped(&self, wait: std::time::Duration) -> bool {
        matches!(
            self.stopped.recv_timeout(wait),
            Err(crossbeam_channel::RecvTimeoutError::Disconnected)
        )
    }
}

/// The roster changed (a person enrolled, renamed or removed, a face added, an own threshold
/// set); reload what you keep of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed;

/// An API key was made or revoked; drop what you keep of the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysChanged;

/// Notifications that the gallery changed, for as long as this is kept: dropping it stops
/// whatever produces them.
pub struct ChangeFeed {
    changes: Receiver<Changed>,
    keys: Receiver<KeysChanged>,
    _stop: Sender<()>,
}

impl ChangeFeed {
    /// For an implementation: a feed, and the [`Teller`] its producer tells of changes.
    pub(crate) fn open() -> (ChangeFeed, Teller) {
        let (roster, changes) = crossbeam_channel::bounded(1);
        let (keys_tx, keys) = crossbeam_channel::bounded(1);
        let (stop, stopped) = crossbeam_channel::bounded(0);
        let feed = ChangeFeed {
            changes,
            keys,
            _stop: stop,
        };
        let teller = Teller {
            roster,
            keys: keys_tx,
            stopped,
        };
        (feed, teller)
    }

    /// Where the roster's changes arrive; several close together may arrive as one.
    pub fn changes(&self) -> &Receiver<Changed> {
        &self.changes
    }

    /// Where the keys' changes arrive (see [`Gallery::keys_version`]); several close together
    /// may arrive as one.
    pub fn keys(&self) -> &Receiver<KeysChanged> {
        &self.keys
    }
}

/// What the rest of whoisit needs of a gallery. Every call can fail: the store may be a file
/// that is locked or damaged, or a server that is unreachable.
///
/// One gallery is shared by every part of a process (`Arc<dyn Gallery>`): each store keeps a
/// pool of connections, so readers never wait for a writer, nor for a long maintenance step
/// after a deletion. People are addressed by id; a name is resolved once, at the edge
/// ([`Gallery::find`]). Every change names who makes it, for the audit trail. Who was seen
/// where is kept behind [`Sightings`], corrections ("not this person") behind [`Corrections`].
pub trait Gallery: Send + Sync + Sightings + Visitors + Corrections {
    /// Where the gallery is, as the user knows it (a file's path, a server's address).
    fn location(&self) -> String;

    /// Everyone, by name.
    fn people(&self) -> Result<Vec<PersonSummary>>;

    /// The person with this id; [`Error::NotFound`](crate::base::error::Error) when there
    /// is none.
    fn person(&self, id: PersonId) -> Result<PersonSummary>;

    /// The id of the person called `name`, compared in Unicode's composed form (NFC), so that
    /// "Café" typed and "Café" from a file name are one person:
    /// [`Error::UnknownPerson`](crate::base::error::Error) when nobody is,
    /// [`Error::AmbiguousName`](crate::base::error::Error) when several stored names (kept
    /// before names were composed) are that name.
    fn find(&self, name: &str) -> Result<PersonId> {
        let wanted = validate_name(name)?;
        let mut found: Vec<PersonId> = self
            .people()?
            .into_iter()
            .filter(|p| composed(&p.name) == wanted)
            .map(|p| p.id)
            .collect();
        found.sort_unstable_by_key(|id| id.0);
        match found.as_slice() {
            [] => Err(crate::base::error::Error::UnknownPerson(wanted)),
            [one] => Ok(*one),
            _ => Err(crate::base::error::Error::AmbiguousName {
                name: wanted,
                ids: found.iter().map(|id| id.0).collect(),
            }),
        }
    }

    /// Enrolls `name` with `faces` (none is fine) in one transaction, so that an interrupted
    /// enrollment leaves nobody half made; [`Error::NameTaken`](crate::base::error::Error)
    /// when somebody has that name. Returns the new person's id and their faces' ids.
    fn create_person(
        &self,
        name: &str,
        faces: &[NewFace],
        actor: &Actor,
    ) -> Result<(PersonId, Vec<FaceId>)>;

    /// Adds faces to `person` in one transaction; a face whose source photo is already
    /// enrolled for them is skipped. A person removed meanwhile is not brought back:
    /// [`Error::NotFound`](crate::base::error::Error), nothing stored. Returns the ids of the
    /// faces added.
    fn add_faces_to(
        &self,
        person: PersonId,
        faces: &[NewFace],
        actor: &Actor,
    ) -> Result<Vec<FaceId>>;

    /// A person's faces, oldest first.
    fn faces(&self, person: PersonId) -> Result<Vec<FaceSummary>>;

    /// A face's stored crop (PNG), `None` when it was kept without one.
    fn face_image(&self, person: PersonId, face: FaceId) -> Result<Option<Vec<u8>>>;

    /// Deletes one face of a person, with its embeddings and crop.
    fn remove_face(&self, person: PersonId, face: FaceId, actor: &Actor) -> Result<()>;

    /// Adds an embedding from another embedder to a stored face.
    fn add_embedding(
        &self,
        face: FaceId,
        embedder: &EmbedderId,
        embedding: &Embedding,
    ) -> Result<()>;

    /// The sha256 of every source photo enrolled for `person`, so that an import run again
    /// skips them before decoding a pixel.
    fn source_hashes(&self, person: PersonId) -> Result<HashSet<String>>;

    /// The stored face crops (PNG) of `person`, oldest first; faces kept without an image are
    /// left out.
    fn images(&self, person: PersonId) -> Result<Vec<Vec<u8>>>;

    /// Gives `person` the name `new`; [`Error::NameTaken`](crate::base::error::Error) when
    /// somebody else has it.
    fn rename(&self, person: PersonId, new: &str, actor: &Actor) -> Result<()>;

    /// Deletes a person with their faces, embeddings and images.
    fn remove(&self, person: PersonId, actor: &Actor) -> Result<Removed>;

    /// Every enrolled face's embedding from `embedder`, with its person.
    fn embeddings(&self, embedder: &EmbedderId) -> Result<Vec<Enrolled>>;

    /// Sets or clears people's own thresholds, in one transaction, each change in the audit
    /// trail: a person who is not there ([`Error::NotFound`](crate::base::error::Error)) or
    /// a threshold out of range changes nothing.
    fn set_own_thresholds(&self, changes: &[ThresholdChange], actor: &Actor) -> Result<()>;

    /// The own thresholds calibrated on `embedder`'s distances, by name.
    fn own_thresholds(&self, embedder: &EmbedderId) -> Result<OwnThresholds> {
        Ok(thresholds_for(&self.people()?, embedder))
    }

    /// Faces with no embedding from `embedder`, with their stored image if any.
    /// The site threshold chosen for `embedder` (the console's Settings page), or `None` when
    /// none was: the config's `threshold` holds then.
    fn site_threshold(&self, embedder: &EmbedderId) -> Result<Option<f32>>;

    /// Stores the site threshold for `embedder` (`None` clears it, back to the config's), in
    /// the audit trail as done by `actor`: a change to the roster, so every recognizer of the
    /// gallery matches with it from its next reload. A threshold out of bounds is refused.
    fn set_site_threshold(
        &self,
        embedder: &EmbedderId,
        threshold: Option<f32>,
        actor: &Actor,
    ) -> Result<()>;

    fn faces_without(&self, embedder: &EmbedderId) -> Result<Vec<FaceToEmbed>>;

    /// How many faces have no embedding from `embedder` (cheap: no images are read).
    fn count_without(&self, embedder: &EmbedderId) -> Result<usize>;

    /// Checks the store and its contents; empty problems mean a healthy gallery.
    fn check(&self) -> Result<CheckReport>;

    /// Every person, face, embedding and image, in the portable format.
    fn export(&self) -> Result<ExportFile>;

    /// What can still be read of a damaged gallery, in the portable format, and what cannot.
    /// A store that cannot be damaged piecemeal (a database server) exports whole or fails.
    fn salvage(&self) -> Result<Salvaged> {
        Ok(Salvaged {
            file: self.export()?,
            lost: Vec::new(),
        })
    }

    /// Adds the people of an export file, all in one transaction: a file that fails half-way
    /// changes nothing. Faces already present (same source photo) are skipped. Returns the
    /// faces added.
    fn import(&self, file: &ExportFile, actor: &Actor) -> Result<usize>;

    /// Stores an API key's hash under a unique `name`; the key itself is never stored.
    fn add_key(&self, name: &str, scopes: &[Scope], hash: &str, actor: &Actor) -> Result<ApiKey>;

    /// Every API key, by name.
    fn keys(&self) -> Result<Vec<ApiKey>>;

    /// The key whose hash this is, if it exists and is not revoked.
    fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>>;

    /// Deletes the key called `name`: from now on it opens nothing.
    fn revoke_key(&self, name: &str, actor: &Actor) -> Result<()>;

    /// Every key by its hash, with the keys' version, read together.
    fn key_table(&self) -> Result<KeyTable>;

    /// The keys' version: it grows with every key made or revoked, through this process or any
    /// other, and with nothing else; [`ChangeFeed::keys`] says when it did.
    fn keys_version(&self) -> Result<i64>;

    /// A notification whenever the roster changes (see [`Gallery::roster_version`]), through
    /// this process or any other.
    fn watch(&self) -> Result<ChangeFeed>;

    /// The roster's version: it grows with every change to who can be named (a person added,
    /// renamed or removed, a face or an embedding added or removed, an own threshold set, a
    /// negative example kept), and
    /// only with those: when people were last seen, the audit trail and the API keys leave it
    /// as it is, so that a recognizer reloads only when it has something to learn.
    fn roster_version(&self) -> Result<i64>;

    /// Adds an entry to the audit trail for something done outside the gallery with its data
    /// (an export, a threshold change). Changes the gallery makes are recorded by the gallery,
    /// in the change's own transaction.
    fn record(&self, action: AuditAction, detail: &str, actor: &Actor) -> Result<()>;

    /// The audit trail from `since` (seconds since the Unix epoch), oldest first.
    fn audit(&self, since: i64) -> Result<Vec<AuditEntry>>;
}

/// `name` in Unicode's composed form (NFC), as names are stored since they are validated.
fn composed(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    name.nfc().collect()
}
