//! Change notifications for an SQLite gallery. SQLite has no LISTEN/NOTIFY, so a thread with a
//! connection of its own asks `PRAGMA data_version`, which changes whenever another connection
//! commits, a few times a second; after a commit, the roster's version says whether it changed
//! who can be named (a last-seen time, an audit entry or a key does not), and the keys'
//! version whether a key was made or revoked.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::base::error::{Error, Result};
use crate::gallery::key::GalleryKey;
use crate::gallery::sqlite::cipher;
use crate::gallery::sqlite::codec::db_error;
use crate::gallery::{ChangeFeed, Teller, Versions};

/// A new enrollment shows up in a running app well within a second.
const POLL: Duration = Duration::from_millis(250);

/// Starts the watching thread; it ends as soon as the returned feed is dropped.
pub(super) fn watch(path: &Path, key: Option<&GalleryKey>) -> Result<ChangeFeed> {
    let conn = cipher::another(path, key)?;
    let seen = Seen::read(&conn).map_err(|e| db_error(path, e))?;
    let (feed, teller) = ChangeFeed::open();
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("gallery-watch".into())
        .spawn(move || poll(&conn, &path, seen, &teller))
        .map_err(|source| Error::Spawn {
            thread: "gallery-watch",
            source,
        })?;
    Ok(feed)
}

/// What the watcher saw last: any commit, and the versions.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Seen {
    commit: i64,
    versions: Versions,
}

impl Seen {
    fn read(conn: &Connection) -> rusqlite::Result<Seen> {
        let commit = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Self::versions(conn, commit)
    }

    fn versions(conn: &Connection, commit: i64) -> rusqlite::Result<Seen> {
        Ok(Seen {
            commit,
            versions: Versions {
                roster: super::roster_version(conn)?,
                keys: super::keys_version(conn)?,
            },
        })
    }

    /// What is seen now: the versions are read only after a commit.
    fn next(self, conn: &Connection) -> rusqlite::Result<Seen> {
        let commit = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if commit == self.commit {
            return Ok(self);
        }
        Self::versions(conn, commit)
    }
}

fn poll(conn: &Connection, path: &Path, mut seen: Seen, teller: &Teller) {
    let mut failing = false;
    while !teller.stopped(POLL) {
        match seen.next(conn) {
            Ok(now) => {
                failing = false;
                let was = std::mem::replace(&mut seen, now);
                if !teller.tell(was.versions, now.versions) {
                    return;
                }
            }
            // A locked or vanished file: say so once, and keep trying.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(
                    "watching for gallery changes: {}",
                    db_error(path, e).report()
                );
            }
            Err(_) => {}
        }
    }
}
