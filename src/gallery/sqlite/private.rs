//! Faces are biometric data: the gallery's folder is 0700 and its files 0600, whatever the
//! umask, including for galleries made by an earlier whoisit.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;

use crate::base::error::{Error, Result};

/// Creates `dir` (and its parents) 0700, or makes an existing one 0700.
pub(super) fn folder(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::write(dir, e))?;
    restrict(dir, 0o700);
    Ok(())
}

/// Creates the database file 0600 if it is missing, before SQLite opens it: SQLite gives the
/// -wal and -shm files the database file's mode.
pub(super) fn create(path: &Path) -> Result<()> {
    if !path.exists() {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::write(path, e))?;
    }
    Ok(())
}

/// Makes an existing gallery file and its -wal and -shm 0600, once it is known to be a gallery
/// (a file that is not is left exactly as it was).
pub(super) fn tighten(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let file = Path::new(&name);
        if file.exists() {
            restrict(file, 0o600);
        }
    }
}

/// Sets `mode` unless the path has it. Failing (a file owned by someone else, a read-only
/// mount) is said, but does not keep whoisit from reading the gallery.
fn restrict(path: &Path, mode: u32) {
    let current = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o777);
    if current.is_ok_and(|m| m == mode) {
        return;
    }
    if let Err(e) = std::fs::set_permissions(path, Permissions::from_mode(mode)) {
        tracing::warn!(
            "cannot make {} private (mode {mode:o}): {e}; whoever can read it can read the faces",
            path.display()
        );
    }
}
