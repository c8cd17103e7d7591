//! SQLite's error codes turned into what the user should do.

use std::path::Path;

use crate::base::error::Error;

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
            "is damaged; save what can be read with `whoisit gallery export --salvage FILE`, then move it aside and `whoisit gallery import FILE`"
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
