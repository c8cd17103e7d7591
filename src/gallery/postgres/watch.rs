//! Change notifications for a PostgreSQL gallery: every write sends `NOTIFY` in its own
//! transaction, and a thread with a connection of its own `LISTEN`s, so a change made on one
//! machine reaches every other within a moment, without re-reading whole tables to find out.

use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, NoTls};

use crate::base::error::{Error, Result};
use crate::gallery::postgres::CHANNEL;
use crate::gallery::{ChangeFeed, Changed};

/// How often the thread looks up from waiting, to notice that nobody listens any more.
const TICK: Duration = Duration::from_millis(250);

/// Starts the listening thread; it ends as soon as the returned feed is dropped.
pub(super) fn watch(url: &str, location: &str) -> Result<ChangeFeed> {
    let mut client = listen(url).map_err(|e| super::db_error(location, e))?;
    let seen = version(&mut client).map_err(|e| super::db_error(location, e))?;
    let (tx, changes) = crossbeam_channel::bounded(1);
    let (stop, stopped) = crossbeam_channel::bounded(0);
    let (url, location) = (url.to_owned(), location.to_owned());
    std::thread::Builder::new()
        .name("gallery-listen".into())
        .spawn(move || run(client, seen, &url, &location, &tx, &stopped))
        .map_err(|source| Error::Spawn {
            thread: "gallery-listen",
            source,
        })?;
    Ok(ChangeFeed::new(changes, stop))
}

fn listen(url: &str) -> std::result::Result<Client, postgres::Error> {
    let mut client = Client::connect(url, NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    Ok(client)
}

/// The roster's version (see `Gallery::roster_version`).
fn version(client: &mut Client) -> std::result::Result<i64, postgres::Error> {
    client
        .query_one("SELECT version FROM roster", &[])?
        .try_get(0)
}

fn run(
    mut client: Client,
    mut seen: i64,
    url: &str,
    location: &str,
    tx: &Sender<Changed>,
    stopped: &Receiver<()>,
) {
    loop {
        if let Err(RecvTimeoutError::Disconnected) = stopped.recv_timeout(Duration::ZERO) {
            return;
        }
        let next = client.notifications().timeout_iter(TICK).next();
        // A notice is only a hint; the version says whether the roster changed since.
        let now = match next {
            Ok(Some(_)) => version(&mut client),
            other => other.map(|_| seen),
        };
        match now {
            Ok(now) => {
                let changed = now != seen;
                seen = now;
                // A full channel already says "reload"; a closed one means nobody listens.
                if changed && let Err(TrySendError::Disconnected(_)) = tx.try_send(Changed) {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(
                    "listening for gallery changes on {location}: {}; reconnecting",
                    super::db_error(location, e).report()
                );
                let now;
                (client, now) = loop {
                    if let Err(RecvTimeoutError::Disconnected) =
                        stopped.recv_timeout(Duration::from_secs(1))
                    {
                        return;
                    }
                    if let Ok(mut client) = listen(url)
                        && let Ok(now) = version(&mut client)
                    {
                        break (client, now);
                    }
                };
                // Changes made while disconnected sent notices nobody heard: the version
                // tells.
                let changed = now != seen;
                seen = now;
                if changed && let Err(TrySendError::Disconnected(_)) = tx.try_send(Changed) {
                    return;
                }
            }
        }
    }
}
