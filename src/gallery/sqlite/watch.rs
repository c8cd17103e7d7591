//! Change notifications for an SQLite gallery. SQLite has no LISTEN/NOTIFY, so a thread with a
//! connection of its own asks `PRAGMA data_version`, which changes whenever another connection
//! commits, a few times a second; after a commit, the roster's version says whether it changed
//! who can be named (a last-seen time, an audit entry or a key does not).

use std::path::Path;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use rusqlite::Connection;

use crate::base::error::{Error, Result};
use crate::gallery::key::GalleryKey;
use crate::gallery::sqlite::cipher;
use crate::gallery::sqlite::codec::db_error;
use crate::gallery::{ChangeFeed, Changed};

/// A new enrollment shows up in a running app well within a second.
const POLL: Duration = Duration::from_millis(250);

/// Starts the watching thread; it ends as soon as the returned feed is dropped.
pub(super) fn watch(path: &Path, key: Option<&GalleryKey>) -> Result<ChangeFeed> {
    let conn = cipher::another(path, key)?;
    let seen = Seen::read(&conn).map_err(|e| db_error(path, e))?;
    let (tx, changes) = crossbeam_channel::bounded(1);
    let (stop, stopped) = crossbeam_channel::bounded(0);
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("gallery-watch".into())
        .spawn(move || poll(&conn, &path, seen, &tx, &stopped))
        .map_err(|source| Error::Spawn {
            thread: "gallery-watch",
            source,
        })?;
    Ok(ChangeFeed::new(changes, stop))
}

/// What the watcher saw last: any commit, and the roster's version.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Seen {
    commit: i64,
    roster: i64,
}

impl Seen {
    fn read(conn: &Connection) -> rusqlite::Result<Seen> {
        Ok(Seen {
            commit: conn.query_row("PRAGMA data_version", [], |r| r.get(0))?,
            roster: super::roster_version(conn)?,
        })
    }

    /// What is seen now: the roster's version is read only after a commit.
    fn next(self, conn: &Connection) -> rusqlite::Result<Seen> {
        let commit = conn.query_row("PRAGMA data_version", [], |r| r.get(0))?;
        if commit == self.commit {
            return Ok(self);
        }
        Ok(Seen {
            commit,
            roster: super::roster_version(conn)?,
        })
    }
}

fn poll(
    conn: &Connection,
    path: &Path,
    mut seen: Seen,
    tx: &Sender<Changed>,
    stopped: &Receiver<()>,
) {
    let mut failing = false;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(POLL) {
        match seen.next(conn) {
            Ok(now) => {
                failing = false;
                let changed = now.roster != seen.roster;
                seen = now;
                if changed {
                    // A full channel already says "reload"; a closed one means nobody listens.
                    if let Err(TrySendError::Disconnected(_)) = tx.try_send(Changed) {
                        return;
                    }
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
