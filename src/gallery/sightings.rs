//! Sightings: who was seen, at which camera, from when to when. A sighting is one track's
//! appearance at one camera, as the tracker decided it (not one per frame or per crop): the
//! person it was named as, or unknown; the track's mean embedding, so that an unknown face can
//! be grouped later and a named one corrected ("not this person"); for an unknown face, one
//! crop to look at.
//!
//! One writer per process stores them ([`crate::runtime::sightings`]); every store keeps them
//! behind [`Sightings`], within `retention_days`, an unknown face's crop and embedding within
//! the shorter `sightings.unknown_face_days`, and forgets them with their person.

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding, PersonId};
use crate::gallery::audit::Actor;

/// A stored sighting's id: ids grow with every sighting stored, and are never used twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SightingId(pub i64);

/// A sighting as it is read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sighting {
    pub id: SightingId,
    /// The source, as it was given (`0`, `door.avi`, `rtsp://...`), or a camera agent's id.
    pub camera: String,
    /// The track on that camera: one track is one person staying in view.
    pub track: u64,
    /// Who it was named as; `None` for a face nobody enrolled.
    pub person: Option<PersonId>,
    /// When the face came into view and when it was last seen, in seconds since the epoch.
    pub first: i64,
    pub last: i64,
    /// The smallest distance to the person named (to the nearest person, for an unknown face).
    pub distance: Option<f32>,
    /// How many embeddings agreed with the decision, at most the tracker's vote window.
    pub evidence: u32,
    /// Whether an unknown face's crop is kept.
    pub has_crop: bool,
}

/// The face as a sighting keeps it: for an unknown face, its crop and embedding; for a named
/// one, only the embedding (its crop is never stored).
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownFace {
    /// A new crop (PNG), better than the one stored; `None` keeps the stored one. Ignored for
    /// a named sighting.
    pub crop: Option<Vec<u8>>,
    pub embedder: EmbedderId,
    /// The mean of the track's recent embeddings.
    pub embedding: Embedding,
}

/// The newest state of a sighting, as the writer stores it: a new one (`id` `None`), or one
/// stored before. A sighting named after it was stored loses its crop and its group.
#[derive(Debug, Clone, PartialEq)]
pub struct SightingRecord {
    pub id: Option<SightingId>,
    pub camera: String,
    pub track: u64,
    pub person: Option<PersonId>,
    pub first: i64,
    pub last: i64,
    pub distance: Option<f32>,
    pub evidence: u32,
    /// The face's embedding (and an unknown face's crop), when the site keeps them
    /// (`sightings.keep_unknown_faces`).
    pub unknown: Option<UnknownFace>,
}

/// A stored sighting's face as the roster would decide it again: its track's mean embedding,
/// newest first (a threshold's preview, see [`crate::roster::preview`]).
#[derive(Debug, Clone, PartialEq)]
pub struct KeptEmbedding {
    pub sighting: SightingId,
    /// Who it was named as when it was seen; `None` for unknown.
    pub person: Option<PersonId>,
    /// Whether its crop is kept (an unknown face's, within `sightings.unknown_face_days`).
    pub has_crop: bool,
    pub embedding: Embedding,
}

impl KeptEmbedding {
    /// A row of [`crate::gallery::sql::KEPT_EMBEDDINGS`] (the vector opened from any seal);
    /// `None` for a damaged vector, left out (`gallery check` reports it).
    pub(crate) fn stored(
        id: i64,
        person: Option<i64>,
        has_crop: bool,
        bytes: &[u8],
    ) -> Option<KeptEmbedding> {
        Some(KeptEmbedding {
            sighting: SightingId(id),
            person: person.map(PersonId),
            has_crop,
            embedding: crate::gallery::stored::vector_from_bytes(bytes)?,
        })
    }
}

/// Whose sightings to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Person(PersonId),
    Unknown,
}

impl std::str::FromStr for Who {
    type Err = Error;

    /// A person's id, or `unknown`.
    fn from_str(s: &str) -> Result<Who> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("unknown") {
            return Ok(Who::Unknown);
        }
        s.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .map(|id| Who::Person(PersonId(id)))
            .ok_or_else(|| {
                Error::InvalidInput(format!(
                    "person {s:?} is neither a person's id (a positive number) nor `unknown`"
                ))
            })
    }
}

/// Which sightings to read: a page of at most `limit`, newest first (a log is read from its
/// end), older than the id `after`. Ids grow as faces come into view (a sighting is stored when
/// its face appears, and keeps its id as it is updated), so the newest id is the last face to
/// come into view; paging by id stays exact while sightings are written and purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SightingQuery {
    /// Only sightings whose face was still in view at or after this time (seconds since the
    /// epoch).
    pub since: Option<i64>,
    pub camera: Option<String>,
    pub who: Option<Who>,
    /// The last (oldest) id of the page before: this page holds older sightings.
    pub after: Option<SightingId>,
    pub limit: usize,
}

/// The most sightings one page holds.
pub const MAX_PAGE: usize = 1000;

impl SightingQuery {
    /// Every sighting from the start, a page of [`MAX_PAGE`].
    pub fn all() -> SightingQuery {
        SightingQuery {
            since: None,
            camera: None,
            who: None,
            after: None,
            limit: MAX_PAGE,
        }
    }

    /// The page size, refused when it is not 1 to [`MAX_PAGE`].
    pub fn checked_limit(&self) -> Result<i64> {
        checked_limit(self.limit)
    }

    /// What was asked for, for the audit trail: never a name, people by id.
    pub fn detail(&self, read: usize) -> String {
        let mut detail = format!("{read} sighting(s) read");
        if let Some(since) = self.since {
            detail += &format!(", since {since}");
        }
        if let Some(camera) = &self.camera {
            detail += &format!(", camera {camera:?}");
        }
        match self.who {
            Some(Who::Person(id)) => detail += &format!(", person {}", id.0),
            Some(Who::Unknown) => detail += ", unknown faces",
            None => {}
        }
        if let Some(after) = self.after {
            detail += &format!(", after sighting {}", after.0);
        }
        detail
    }
}

/// A page size, refused when it is not 1 to [`MAX_PAGE`].
pub(crate) fn checked_limit(limit: usize) -> Result<i64> {
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit as i64)
    } else {
        Err(Error::InvalidInput(format!(
            "a page holds 1 to {MAX_PAGE} sightings, not {limit}"
        )))
    }
}

/// What a purge of old sightings forgot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// Sightings past `retention_days`, deleted.
    pub sightings: usize,
    /// Unknown faces (crop and embedding) past `sightings.unknown_face_days`, deleted from
    /// sightings that are kept.
    pub unknown_faces: usize,
    /// People whose last-seen time was past `retention_days`, cleared.
    pub last_seen: usize,
}

impl Purged {
    /// The audit trail's words for it.
    pub(crate) fn detail(&self, cutoffs: &Cutoffs) -> String {
        format!(
            "{} sighting(s) before {} deleted, {} unknown face(s) before {} deleted, last-seen \
             times before {} cleared for {} people",
            self.sightings,
            cutoffs.sightings,
            self.unknown_faces,
            cutoffs.unknown_faces,
            cutoffs.sightings,
            self.last_seen
        )
    }

    pub(crate) fn any(&self) -> bool {
        self.sightings + self.unknown_faces + self.last_seen > 0
    }
}

/// What a purge deletes: what was last seen before these times (seconds since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cutoffs {
    /// Sightings and last-seen times (`retention_days`).
    pub sightings: i64,
    /// Unknown faces' crops and embeddings (`sightings.unknown_face_days`).
    pub unknown_faces: i64,
}

/// Where sightings are kept; every gallery is one.
pub trait Sightings {
    /// Stores the newest state of these sightings, all or none, and the named people's
    /// last-seen times. Returns each record's id, in order; `None` for a record of a person
    /// forgotten meanwhile: it is not stored, and what was stored of it is deleted.
    fn write_sightings(&self, records: &[SightingRecord]) -> Result<Vec<Option<SightingId>>>;

    /// A page of sightings, newest first.
    fn sightings(&self, query: &SightingQuery) -> Result<Vec<Sighting>>;

    /// An unknown face's crop (PNG), `None` when none is kept;
    /// [`Error::NotFound`](crate::base::error::Error) when there is no such sighting.
    fn sighting_crop(&self, id: SightingId) -> Result<Option<Vec<u8>>>;

    /// The newest sightings, at most `limit` (1 to [`MAX_PAGE`]), that keep an embedding of
    /// `embedder` (`sightings.keep_unknown_faces`), newest first.
    fn kept_embeddings(&self, embedder: &EmbedderId, limit: usize) -> Result<Vec<KeptEmbedding>>;

    /// What [`Sightings::purge_sightings`] with `cutoffs` would forget now, forgetting
    /// nothing.
    fn to_purge(&self, cutoffs: &Cutoffs) -> Result<Purged>;

    /// Forgets what is past retention: sightings, unknown faces, last-seen times, in the audit
    /// trail as made by `actor` when there was anything to forget.
    fn purge_sightings(&self, cutoffs: &Cutoffs, actor: &Actor) -> Result<Purged>;
}

/// A value bound to a placeholder of [`select`].
pub(crate) enum Param {
    Int(i64),
    Text(String),
}

/// The columns [`select`] reads, in order: id, camera, track, person, first, last, distance,
/// evidence, whether a crop is kept.
const COLUMNS: &str = "SELECT id, camera, track, person_id, first, last, distance, evidence, crop IS NOT NULL \
     FROM sighting";

/// The query that reads the page `query` asks for, in either store's dialect (`placeholder`
/// writes the n-th placeholder, from 1), and the values of its placeholders.
pub(crate) fn select(
    query: &SightingQuery,
    placeholder: fn(usize) -> String,
) -> Result<(String, Vec<Param>)> {
    let limit = query.checked_limit()?;
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    let mut bind = |condition: &str, param: Param| {
        params.push(param);
        conditions.push(condition.replace('?', &placeholder(params.len())));
    };
    if let Some(since) = query.since {
        bind("last >= ?", Param::Int(since));
    }
    if let Some(camera) = &query.camera {
        bind("camera = ?", Param::Text(camera.clone()));
    }
    if let Some(after) = query.after {
        // Pages run newest first: the next one is older than the last of this one.
        bind("id < ?", Param::Int(after.0));
    }
    match query.who {
        Some(Who::Person(id)) => bind("person_id = ?", Param::Int(id.0)),
        Some(Who::Unknown) => conditions.push("person_id IS NULL".into()),
        None => {}
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    Ok((
        format!("{COLUMNS}{filter} ORDER BY id DESC LIMIT {limit}"),
        params,
    ))
}

/// A sighting that does not exist.
pub(crate) fn no_sighting(id: SightingId) -> Error {
    Error::NotFound(format!("there is no sighting {}", id.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_is_an_id_or_unknown() {
        assert_eq!("12".parse::<Who>().unwrap(), Who::Person(PersonId(12)));
        assert_eq!(" Unknown ".parse::<Who>().unwrap(), Who::Unknown);
        for bad in ["0", "-3", "Ada", ""] {
            assert!(bad.parse::<Who>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_audit_detail_names_no_one() {
        let query = SightingQuery {
            since: Some(100),
            camera: Some("door".into()),
            who: Some(Who::Person(PersonId(7))),
            after: Some(SightingId(3)),
            limit: 10,
        };
        assert_eq!(
            query.detail(2),
            "2 sighting(s) read, since 100, camera \"door\", person 7, after sighting 3"
        );
        assert!(
            SightingQuery {
                limit: 0,
                ..query.clone()
            }
            .checked_limit()
            .is_err()
        );
        assert!(
            SightingQuery {
                limit: MAX_PAGE + 1,
                ..query
            }
            .checked_limit()
            .is_err()
        );
    }
}
