//! What goes into and comes out of a gallery, whichever store keeps it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::base::error::{Error, Result};
pub use crate::base::identity::PersonId;
use crate::base::identity::{EmbedderId, Embedding};
use crate::vision::matcher::threshold_problem;
use crate::vision::pose::Pose;

/// Long enough for any real name, short enough for a label on screen.
pub const MAX_NAME_CHARS: usize = 100;

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A stored face's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct FaceId(pub i64);

/// A face to add, with what is known of its quality.
#[derive(Debug, Clone)]
pub struct NewFace {
    pub embedder: EmbedderId,
    pub embedding: Embedding,
    /// Where it came from: a photo's path, or a frame of a source.
    pub source: String,
    pub source_sha256: Option<String>,
    pub confidence: f32,
    /// The shorter side of the detected face box, in pixels.
    pub face_px: i32,
    /// Variance of the Laplacian of the face (higher is sharper).
    pub sharpness: f32,
    /// The head's pose, from the landmarks; `None` when they gave none.
    pub pose: Option<Pose>,
    pub image_png: Option<Vec<u8>>,
}

/// One person as `people list` shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonSummary {
    pub id: PersonId,
    pub name: String,
    pub faces: usize,
    /// The poses their faces show, each once, in `Pose` order (faces enrolled before poses
    /// were recorded show none).
    pub poses: Vec<Pose>,
    pub created: i64,
    pub last_seen: Option<i64>,
    /// Their own threshold (`calibrate --per-person`), if they have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_threshold: Option<OwnThreshold>,
}

/// A person's own threshold: the largest distance still taken as them. Distances of one
/// embedder say nothing about another's, so it is used only with the embedder it was
/// calibrated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnThreshold {
    pub threshold: f32,
    pub embedder: EmbedderId,
}

impl OwnThreshold {
    /// A stored pair of columns; both are set or neither.
    pub(crate) fn from_columns(
        threshold: Option<f32>,
        embedder: Option<String>,
    ) -> Option<OwnThreshold> {
        Some(OwnThreshold {
            threshold: threshold?,
            embedder: EmbedderId::new(embedder?),
        })
    }

    /// Why it cannot be stored, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if let Some(problem) = threshold_problem(self.threshold) {
            return Some(format!("a threshold {problem}"));
        }
        (!self.embedder.is_known()).then(|| {
            format!(
                "a threshold for {:?}, an embedder this whoisit does not know",
                self.embedder.as_str()
            )
        })
    }
}

/// Sets a person's own threshold, or clears it (`own: None`).
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdChange {
    pub person: PersonId,
    pub own: Option<OwnThreshold>,
}

/// Refuses the whole batch before anything is written when one change cannot be stored.
pub(crate) fn check_threshold_changes(changes: &[ThresholdChange]) -> Result<()> {
    for change in changes {
        if let Some(problem) = change.own.as_ref().and_then(OwnThreshold::problem) {
            return Err(Error::InvalidInput(format!(
                "person {}: {problem}; nothing was changed",
                change.person.0
            )));
        }
    }
    Ok(())
}

/// The audit trail's words for faces enrolled for person `id`.
pub(crate) fn enrolled_detail(id: i64, faces: usize) -> String {
    if faces == 0 {
        format!("person {id}: created with no faces")
    } else {
        format!("person {id}: {faces} face(s) added")
    }
}

/// The audit trail's words for a rename of person `id` (the names stay out of it).
pub(crate) fn renamed_detail(id: PersonId) -> String {
    format!("person {}: renamed", id.0)
}

/// The audit trail's words for the removal of person `id` with what they had.
pub(crate) fn removed_detail(id: PersonId, removed: &Removed) -> String {
    format!(
        "person {}: removed with {} face(s), {} embedding(s), {} crop(s)",
        id.0, removed.faces, removed.embeddings, removed.images
    )
}

/// The audit trail's words for the removal of one face.
pub(crate) fn face_removed_detail(person: PersonId, face: FaceId) -> String {
    format!("person {}: face {} removed", person.0, face.0)
}

/// The audit trail's words for an import of `faces` faces of `people` people.
pub(crate) fn imported_detail(faces: usize, people: usize) -> String {
    format!("{faces} face(s) of {people} people imported")
}

/// The audit trail's words for a key made (`scopes` as stored) or revoked (`None`).
pub(crate) fn key_detail(name: &str, scopes: Option<&str>) -> String {
    match scopes {
        Some(scopes) => format!("key {name} ({scopes})"),
        None => format!("key {name}"),
    }
}

/// No face has the id `face`.
pub(crate) fn no_face_id(face: FaceId) -> Error {
    Error::NotFound(format!("no face has the id {}", face.0))
}

/// The audit trail's words for a change of person `id`'s own threshold.
pub(crate) fn threshold_detail(id: i64, was: Option<f32>, own: Option<&OwnThreshold>) -> String {
    let was = was.map_or_else(|| "none".to_owned(), |t| format!("{t:.3}"));
    match own {
        Some(own) => format!(
            "person {id}: own threshold {:.3} for {} (was {was})",
            own.threshold, own.embedder
        ),
        None => format!("person {id}: own threshold cleared (was {was})"),
    }
}

/// Why `threshold` cannot be the site threshold, as an error that says nothing was changed.
pub(crate) fn check_site_threshold(threshold: Option<f32>) -> Result<()> {
    match threshold.and_then(threshold_problem) {
        Some(problem) => Err(Error::InvalidInput(format!(
            "the site threshold {problem}; nothing was changed"
        ))),
        None => Ok(()),
    }
}

/// The audit trail's words for the site threshold of `embedder` set (or cleared) over `was`.
pub(crate) fn site_threshold_detail(
    embedder: &EmbedderId,
    was: Option<f32>,
    now: Option<f32>,
) -> String {
    let shown = |t: Option<f32>| t.map_or_else(|| "the config's".to_owned(), |t| format!("{t:.3}"));
    format!(
        "site threshold for {embedder}: {} (was {})",
        shown(now),
        shown(was)
    )
}

impl PersonSummary {
    /// How many of the guided poses their faces cover, e.g. "front,left,right (3/4)".
    pub fn pose_report(&self) -> String {
        let guided = Pose::GUIDED
            .iter()
            .filter(|p| self.poses.contains(p))
            .count();
        let names: Vec<&str> = self.poses.iter().map(|p| p.as_str()).collect();
        let names = if names.is_empty() {
            "unknown".to_owned()
        } else {
            names.join(",")
        };
        format!("{names} ({guided}/{})", Pose::GUIDED.len())
    }
}

/// A pose as a store keeps it; a name this whoisit does not know reads as unknown.
pub(crate) fn pose_from_column(value: Option<&str>) -> Option<Pose> {
    value.and_then(|p| p.parse().ok())
}

/// Poses as a store aggregates them ("left,front,left"): each once, in order; names this
/// whoisit does not know are dropped.
pub(crate) fn poses_from_list(list: Option<&str>) -> Vec<Pose> {
    let mut poses: Vec<Pose> = list
        .unwrap_or_default()
        .split(',')
        .filter_map(|p| p.parse().ok())
        .collect();
    poses.sort_unstable();
    poses.dedup();
    poses
}

/// Nobody has the id `id`.
pub(crate) fn no_person(id: PersonId) -> Error {
    Error::NotFound(format!("nobody has the id {} (see GET /v1/people)", id.0))
}

/// `person` has no face `face`.
pub(crate) fn no_face(person: PersonId, face: FaceId) -> Error {
    Error::NotFound(format!("person {} has no face {}", person.0, face.0))
}

/// No key is called `name`.
pub(crate) fn no_key(name: &str) -> Error {
    Error::NotFound(format!(
        "no API key is called {name:?} (see `whoisit keys list`)"
    ))
}

/// A key called `name` exists already.
pub(crate) fn key_taken(name: &str) -> Error {
    Error::KeyNameTaken(name.to_owned())
}

/// One stored face, without its embeddings or crop.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaceSummary {
    pub id: FaceId,
    /// When it was enrolled, in seconds since the Unix epoch.
    pub captured: i64,
    /// Where it came from: a photo's path, a frame of a source, an upload.
    pub source: String,
    /// The detector's confidence in the face.
    pub confidence: f32,
    /// The shorter side of the face box, in pixels.
    pub face_px: i32,
    /// Variance of the Laplacian of the face (higher is sharper).
    pub sharpness: f32,
    /// The head's pose; `None` for a face enrolled before poses were recorded.
    pub pose: Option<Pose>,
    /// Whether its crop is stored (config `keep_images`).
    pub has_image: bool,
}

/// What `people remove` deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub faces: usize,
    pub embeddings: usize,
    pub images: usize,
}

/// A face stored without an embedding for some embedder.
pub struct FaceToEmbed {
    pub id: FaceId,
    pub person: String,
    pub image_png: Option<Vec<u8>>,
}

/// What an API key may do. `admin` may do everything; `read` and `recognize` are separate, so
/// a door controller that recognizes cannot list the roster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Send photos to be recognized; follow the live events.
    Recognize,
    /// List people and faces, fetch crops.
    Read,
    /// Enroll, rename and remove people and faces; everything else too.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Recognize, Scope::Read, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Recognize => "recognize",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Scope {
    type Err = Error;

    fn from_str(s: &str) -> Result<Scope> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                Error::InvalidInput(format!("{s:?} is no scope; give recognize, read or admin"))
            })
    }
}

/// Every API key by its hash, with the keys' version they were read at: what a server keeps
/// in memory to check a request's key without asking the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyTable {
    pub version: i64,
    pub by_hash: std::collections::HashMap<String, ApiKey>,
}

/// An API key as stored: its name and scopes, never the key itself (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created: i64,
}

impl ApiKey {
    /// Whether the key may do what `needed` allows.
    pub fn allows(&self, needed: Scope) -> bool {
        self.scopes
            .iter()
            .any(|&scope| scope == needed || scope == Scope::Admin)
    }

    /// Scopes as stored: comma-separated.
    pub(crate) fn scopes_text(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A stored row; scopes this whoisit does not know are dropped, never widened.
    pub(crate) fn from_row(name: String, scopes: &str, created: i64) -> ApiKey {
        let mut scopes: Vec<Scope> = scopes.split(',').filter_map(|s| s.parse().ok()).collect();
        scopes.sort_unstable();
        scopes.dedup();
        ApiKey {
            name,
            scopes,
            created,
        }
    }
}

/// A key's name: like a person's, but short and plain, as it appears in logs.
pub fn validate_key_name(name: &str) -> Result<String> {
    let name = name.trim();
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    if name.is_empty() || name.len() > 64 || !name.chars().all(plain) {
        return Err(Error::InvalidInput(format!(
            "invalid key name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(name.to_owned())
}

/// What `gallery check` found; empty problems mean a healthy gallery.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub people: usize,
    pub faces: usize,
    pub embeddings: usize,
    /// People with no face yet (a state the service creates): reported, not a problem.
    pub without_faces: usize,
    pub problems: Vec<String>,
}

/// A name as it is stored and compared: trimmed, in Unicode's composed form (NFC), so the
/// same name typed, pasted or read from a file name (often decomposed) is one person. Every
/// path that takes a name (add, rename, forget, threshold, the API, import) goes through it.
pub fn normalized_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    name.trim().nfc().collect()
}

/// Characters that show nothing, or change the order others are shown in: a name holding one
/// could look like another ("Barack\u{200B}Obama") or show differently from what it is (a
/// right-to-left override). Unicode's format characters (Cf), and the Hangul fillers, which
/// render blank; as ranges, so that the API's document can state them too.
const INVISIBLE: [(char, char); 24] = [
    ('\u{AD}', '\u{AD}'),
    ('\u{600}', '\u{605}'),
    ('\u{61C}', '\u{61C}'),
    ('\u{6DD}', '\u{6DD}'),
    ('\u{70F}', '\u{70F}'),
    ('\u{890}', '\u{891}'),
    ('\u{8E2}', '\u{8E2}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Control characters (`char::is_control`: Unicode's Cc), as ranges.
const CONTROL: [(char, char); 2] = [('\u{0}', '\u{1F}'), ('\u{7F}', '\u{9F}')];

/// Whether `c` is one of [`INVISIBLE`].
fn is_invisible(c: char) -> bool {
    INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// The names [`validate_name`] accepts, as a regular expression (for the API's document):
/// at least one character that is not a space, none of them control, invisible or bidi
/// control characters. The characters stand as themselves, so the pattern reads the same in
/// every regex dialect.
pub fn name_pattern() -> String {
    let refused: String = CONTROL
        .iter()
        .chain(&INVISIBLE)
        .map(|&(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect();
    format!("^[^{refused}]*[^\\s{refused}][^{refused}]*$")
}

/// A name is [`normalized_name`], non-empty, at most `MAX_NAME_CHARS`, and has no control,
/// invisible or bidi control characters.
pub fn validate_name(name: &str) -> Result<String> {
    let name = normalized_name(name);
    let name = name.as_str();
    let invalid = |why: String| Err(Error::InvalidInput(format!("invalid name: {why}")));
    if name.is_empty() {
        return invalid("it is empty".into());
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return invalid(format!(
            "it has {chars} characters, at most {MAX_NAME_CHARS} are allowed"
        ));
    }
    if name.chars().any(char::is_control) {
        return invalid("it contains control characters".into());
    }
    if let Some(c) = name.chars().find(|&c| is_invisible(c)) {
        return invalid(format!(
            "it contains U+{:04X}, an invisible or text-direction character: type the name \
             without it",
            u32::from(c)
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_composed_and_free_of_control_characters() {
        let composed = validate_name(" Caf\u{e9} ").unwrap();
        assert_eq!(composed, "Caf\u{e9}");
        assert_eq!(validate_name("Cafe\u{301}").unwrap(), composed);
        for bad in ["", "  ", "a\tb", "a\nb"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_name(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
        for hidden in [
            "Barack\u{200B}Obama",
            "\u{202E}amabO",
            "Ada\u{FEFF}",
            "A\u{2066}b",
        ] {
            let err = validate_name(hidden).unwrap_err().to_string();
            assert!(
                err.contains("invisible or text-direction"),
                "{hidden:?}: {err}"
            );
        }
        // Letters with marks, and scripts written right to left, are names.
        for fine in [
            "Jos\u{e9}",
            "\u{645}\u{62d}\u{645}\u{62f}",
            "\u{674E}\u{5C0F}\u{9F8D}",
        ] {
            assert_eq!(validate_name(fine).unwrap(), fine);
        }
        assert_eq!(normalized_name(" Jose\u{301} "), "Jos\u{e9}");
    }
}
