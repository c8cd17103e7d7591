//! Encryption at rest with SQLCipher: every page of the file and of its write-ahead log is
//! AES-256 encrypted under the gallery key. A file without a key is plain SQLite, so a gallery
//! can be encrypted, and decrypted, in place.

use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode};

use crate::base::error::{Error, Result};
use crate::gallery::key::GalleryKey;
use crate::gallery::sqlite::codec::{db_error, gallery_error};

/// What the first bytes of a gallery file say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// Missing or empty: a gallery yet to be created.
    New,
    /// Plain SQLite (its header is readable).
    Plain,
    /// Anything else: encrypted, or not a database at all; only a key can tell.
    Opaque,
}

/// What the file at `path` is, from its header.
pub(crate) fn kind(path: &Path) -> Result<FileKind> {
    let mut header = [0_u8; 16];
    let read = match File::open(path) {
        Ok(mut file) => file.read(&mut header).map_err(|e| Error::read(path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(Error::read(path, e)),
    };
    Ok(match read {
        0 => FileKind::New,
        _ if &header == b"SQLite format 3\0" => FileKind::Plain,
        _ => FileKind::Opaque,
    })
}

/// A connection to the gallery file at `path`, keyed when a key is given, and proven to read:
/// a wrong or missing key is said as such, never taken for an empty gallery.
pub(super) fn connect(path: &Path, key: Option<&GalleryKey>) -> Result<Connection> {
    let kind = kind(path)?;
    opened(path, key, kind)
}

/// One more connection to the gallery file at `path`, which [`connect`] opened in this process
/// and which is still open: its header is not read again, since closing a file handle of our
/// own on it would drop the locks SQLite holds on it for the whole process (POSIX locks are
/// per process), and another process could then take the log from under this one.
pub(super) fn another(path: &Path, key: Option<&GalleryKey>) -> Result<Connection> {
    // What the first connection proved the file to be.
    let kind = if key.is_some() {
        FileKind::Opaque
    } else {
        FileKind::Plain
    };
    opened(path, key, kind)
}

/// A connection to `path`, of `kind` as far as is known, keyed and proven to read.
fn opened(path: &Path, key: Option<&GalleryKey>, kind: FileKind) -> Result<Connection> {
    let conn = Connection::open(path).map_err(|e| db_error(path, e))?;
    // SQLCipher would print its own lines on stderr for a wrong key; the error says it better.
    conn.pragma_update(None, "cipher_log_level", "NONE")
        .map_err(|e| db_error(path, e))?;
    if let Some(key) = key {
        conn.pragma_update(None, "key", &*key.sqlcipher())
            .map_err(|e| db_error(path, e))?;
    }
    // Reading a page is what fails on a file that is not SQLite, or not with this key: do it
    // before changing anything, so such a file is reported and left exactly as it was.
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())) {
        Ok(()) => Ok(conn),
        Err(e) if e.sqlite_error_code() == Some(ErrorCode::NotADatabase) => {
            Err(unreadable(path, kind, key.is_some(), e))
        }
        Err(e) => Err(db_error(path, e)),
    }
}

fn unreadable(path: &Path, kind: FileKind, keyed: bool, e: rusqlite::Error) -> Error {
    let message = match (kind, keyed) {
        (FileKind::Plain, true) => {
            "is not encrypted, but a key was given. To encrypt it: `whoisit gallery encrypt \
             --key-file FILE`; to use it as it is, give no key. Nothing was changed"
        }
        (FileKind::Opaque, true) => {
            "cannot be read with this key: the key is not the one it was encrypted with, or the \
             file is not a whoisit gallery. Nothing was changed"
        }
        (_, false) => {
            "is encrypted, or is not a whoisit gallery (not an SQLite database): if it is \
             encrypted, give its key with --key-file FILE (or WHOISIT_KEY_FILE, or \
             WHOISIT_KEY); if not, move it aside to start a new gallery. Nothing was changed"
        }
        (FileKind::New, true) => return db_error(path, e),
    };
    let mut error = gallery_error(path, message);
    if let Error::Gallery { source, .. } = &mut error {
        *source = Some(Box::new(e));
    }
    error
}

/// Rewrites the gallery file at `path` from the key `from` to the key `to` (either may be
/// none: plain). Refused while another process has the gallery open, since it would go on
/// writing to the old file. A crash at any point leaves either the old file or the new one,
/// whole. The old file's bytes are overwritten with zeros before it is let go, which is as far
/// as a program can go: an SSD or a copy-on-write file system may keep old blocks.
pub(crate) fn convert(
    path: &Path,
    from: Option<&GalleryKey>,
    to: Option<&GalleryKey>,
) -> Result<()> {
    let next = sibling(path, ".converting");
    remove_if_present(&next)?;
    super::private::create(&next)?;
    {
        let conn = connect(path, from)?;
        let db = |e| db_error(path, e);
        alone(&conn, path)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(db)?;
        let target = next.to_string_lossy();
        let key = to.map(GalleryKey::sqlcipher);
        conn.execute(
            "ATTACH DATABASE ?1 AS target KEY ?2",
            rusqlite::params![target, key.as_deref().map_or("", |k| k.as_str())],
        )
        .map_err(db)?;
        conn.query_row("SELECT sqlcipher_export('target')", [], |_| Ok(()))
            .map_err(db)?;
        conn.pragma_update(Some("target"), "user_version", version)
            .map_err(db)?;
        conn.execute("DETACH DATABASE target", []).map_err(db)?;
    }
    // The new file is whole (SQLite synced it); the old one, closed, had its log folded in.
    let mut old = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| Error::write(path, e))?;
    for suffix in ["-wal", "-shm"] {
        remove_if_present(&sibling(path, suffix))?;
    }
    std::fs::rename(&next, path).map_err(|e| Error::write(path, e))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::write(dir, e))?;
    }
    wipe(&mut old).map_err(|e| Error::write(path, e))
}

/// Takes the file for this connection alone until it closes, or says that someone else has it
/// open: in WAL mode every open connection holds a shared lock, so an exclusive one is only
/// granted to the last, and in exclusive locking mode it is kept once taken.
fn alone(conn: &Connection, path: &Path) -> Result<()> {
    let db = |e| db_error(path, e);
    conn.busy_timeout(Duration::from_millis(500)).map_err(db)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(db)?;
    let taken = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        })
        .and_then(|busy| conn.execute_batch("BEGIN EXCLUSIVE; COMMIT").map(|()| busy));
    match taken {
        Ok(0) => Ok(()),
        Ok(_) => Err(in_use(path)),
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
            ) =>
        {
            Err(in_use(path))
        }
        Err(e) => Err(db(e)),
    }
}

fn in_use(path: &Path) -> Error {
    gallery_error(
        path,
        "is open in another whoisit (the window, `serve`, a recognizer): stop it, then try \
         again. Nothing was changed",
    )
}

fn wipe(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(0))?;
    let zeros = vec![0_u8; 1 << 16];
    let mut left = len;
    while left > 0 {
        let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::write(path, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gallery::Gallery as _;
    use crate::gallery::sqlite::SqliteGallery;
    use crate::gallery::sqlite::fixtures::{Secret, add, face, images};

    fn sha(path: &Path) -> String {
        crate::vision::photo::sha256(&std::fs::read(path).unwrap())
    }

    #[test]
    fn an_encrypted_gallery_shows_nothing_and_opens_only_with_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let key = GalleryKey::generate().unwrap();
        let secret = Secret::new();
        let g = SqliteGallery::open(dir.path(), Some(&key)).unwrap();
        add(&g, "Ann", std::slice::from_ref(&secret.face)).unwrap();
        assert_eq!(secret.found_in(dir.path()), Vec::<&str>::new());
        drop(g);
        let file = SqliteGallery::file(dir.path());
        assert_eq!(kind(&file).unwrap(), FileKind::Opaque);
        let before = sha(&file);

        let error = |key: Option<&GalleryKey>| {
            SqliteGallery::open(dir.path(), key)
                .err()
                .unwrap()
                .to_string()
        };
        assert!(error(None).contains("is encrypted"), "{}", error(None));
        let wrong = GalleryKey::generate().unwrap();
        let phrase = GalleryKey::parse("a passphrase, not the key", "test").unwrap();
        for other in [&wrong, &phrase] {
            let message = error(Some(other));
            assert!(
                message.contains("cannot be read with this key"),
                "{message}"
            );
        }
        assert_eq!(sha(&file), before, "a failed open changed the file");

        let g = SqliteGallery::open(dir.path(), Some(&key)).unwrap();
        assert_eq!(g.people().unwrap()[0].name, "Ann");
        assert_eq!(
            images(&g, "Ann").unwrap(),
            std::slice::from_ref(&secret.crop)
        );
    }

    #[test]
    fn a_gallery_is_encrypted_and_decrypted_in_place_and_a_plain_one_refuses_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let secret = Secret::new();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        add(&g, "Ann", &[secret.face.clone(), face(0.2, "b")]).unwrap();
        let key = GalleryKey::parse("twelve chars or more", "test").unwrap();
        // While another connection has it open, it is left alone.
        let busy = SqliteGallery::encrypt(dir.path(), &key).unwrap_err();
        assert!(
            busy.to_string().contains("is open in another whoisit"),
            "{busy}"
        );
        let message = SqliteGallery::open(dir.path(), Some(&key))
            .err()
            .unwrap()
            .to_string();
        assert!(
            message.contains("is not encrypted, but a key was given"),
            "{message}"
        );
        drop(g);

        SqliteGallery::encrypt(dir.path(), &key).unwrap();
        assert_eq!(secret.found_in(dir.path()), Vec::<&str>::new());
        assert!(SqliteGallery::needs_key(dir.path()).unwrap());
        assert!(SqliteGallery::open(dir.path(), None).is_err());
        let g = SqliteGallery::open(dir.path(), Some(&key)).unwrap();
        assert_eq!(g.people().unwrap()[0].faces, 2);
        drop(g);
        let again = SqliteGallery::encrypt(dir.path(), &key).unwrap_err();
        assert!(again.to_string().contains("already encrypted"), "{again}");

        SqliteGallery::decrypt(dir.path(), &key).unwrap();
        let g = SqliteGallery::open(dir.path(), None).unwrap();
        assert_eq!(
            images(&g, "Ann").unwrap(),
            std::slice::from_ref(&secret.crop)
        );
        add(&g, "Bob", &[face(0.4, "c")]).unwrap();
        assert_eq!(g.people().unwrap().len(), 2);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains("converting"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}
