//! What goes into and comes out of a gallery, whichever store keeps it.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::base::error::{Error, Result};
use crate::base::identity::{EmbedderId, Embedding};

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
    pub image_png: Option<Vec<u8>>,
}

/// One person as `people list` shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonSummary {
    pub name: String,
    pub faces: usize,
    pub created: i64,
    pub last_seen: Option<i64>,
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

/// What `gallery check` found; empty problems mean a healthy gallery.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub people: usize,
    pub faces: usize,
    pub embeddings: usize,
    pub problems: Vec<String>,
}

/// A name is trimmed, non-empty, at most `MAX_NAME_CHARS`, and has no control characters;
/// it is kept in Unicode's composed form (NFC), so the same name typed or read from a file
/// name is one person.
pub fn validate_name(name: &str) -> Result<String> {
    use unicode_normalization::UnicodeNormalization as _;
    let name: String = name.trim().nfc().collect();
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
    }
}
