//! Change notifications for an SQLite gallery. SQLite has no LISTEN/NOTIFY, so a thread with a
//! connection of its own asks `PRAGMA data_version`, which changes whenever another connection
//! commits, a few times a second.

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
    let version = data_version(&conn).map_err(|e| db_error(path, e))?;
    let (tx, changes) = crossbeam_channel::bounded(1);
    let (stop, stopped) = crossbeam_channel::bounded(0);
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("gallery-watch".into())
        .spawn(move || poll(&conn, &path, version, &tx, &stopped))
        .map_err(|source| Error::Spawn {
            thread: "gallery-watch",
            source,
        })?;
    Ok(ChangeFeed::new(changes, stop))
}

fn data_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA data_version", [], |r| r.get(0))
}

fn poll(
    conn: &Connection,
    path: &Path,
    mut version: i64,
    tx: &Sender<Changed>,
    stopped: &Receiver<()>,
) {
    let mut failing = false;
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(POLL) {
        match data_version(conn) {
            Ok(now) => {
                failing = false;
                if now != version {
                    version = now;
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
