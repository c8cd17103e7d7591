//! How values are stored in SQLite: vectors as little-endian f32 blobs, and SQLite's error
//! codes turned into what the user should do.

use std::path::Path;

use crate::base::error::Error;
use crate::base::identity::{DIM, Embedding};

pub(super) fn to_blob(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The embedding in `blob`, or `None` if it is not `DIM` numbers.
pub(super) fn from_blob(blob: &[u8]) -> Option<Embedding> {
    (blob.len() == DIM * 4).then(|| {
        Embedding(
            blob.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    })
}

/// A gallery error about the file at `path`, in words.
pub(super) fn gallery_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Gallery {
        location: path.display().to_string(),
        message: message.into(),
        source: None,
    }
}

/// SQLite's error, with what the user should do about it; SQLite's own words stay as the cause.
pub(super) fn db_error(path: &Path, error: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode;
    let message = match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => {
            "is not a whoisit gallery (not an SQLite database); move it aside to start a new gallery, nothing was changed"
        }
        Some(ErrorCode::DatabaseCorrupt) => {
            "is damaged; restore it from a `whoisit gallery export` file, or move it aside to start a new one"
        }
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            "is busy (locked) in another process for too long; try again"
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
            "cannot be opened for writing; check the data dir's permissions"
        }
        _ => "the database refused the operation",
    };
    Error::Gallery {
        location: path.display().to_string(),
        message: message.into(),
        source: Some(Box::new(error)),
    }
}
