//! Change notifications for a PostgreSQL gallery: every write sends `NOTIFY` in its own
//! transaction, and a thread with a connection of its own `LISTEN`s, so a change made on one
//! machine reaches every other within a moment, without re-reading whole tables to find out.

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, NoTls};

use crate::base::error::{Error, Result};
use crate::gallery::postgres::CHANNEL;
use crate::gallery::{ChangeFeed, Teller, Versions, sql};

/// How often the thread looks up from waiting, to notice that nobody listens any more.
const TICK: Duration = Duration::from_millis(250);

/// Starts the listening thread; it ends as soon as the returned feed is dropped.
pub(super) fn watch(url: &str, location: &str) -> Result<ChangeFeed> {
    let mut client = listen(url).map_err(|e| super::db_error(location, e))?;
    let seen = versions(&mut client).map_err(|e| super::db_error(location, e))?;
    let (feed, teller) = ChangeFeed::open();
    let (url, location) = (url.to_owned(), location.to_owned());
    std::thread::Builder::new()
        .name("gallery-listen".into())
        .spawn(move || run(client, seen, &url, &location, &teller))
        .map_err(|source| Error::Spawn {
            thread: "gallery-listen",
            source,
        })?;
    Ok(feed)
}

fn listen(url: &str) -> std::result::Result<Client, postgres::Error> {
    let mut client = Client::connect(url, NoTls)?;
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    Ok(client)
}

/// The roster's version (see `Gallery::roster_version`) and the keys'.
fn versions(client: &mut Client) -> std::result::Result<Versions, postgres::Error> {
    let one = |client: &mut Client, sql: &str| client.query_one(sql, &[])?.try_get(0);
    Ok(Versions {
        roster: one(client, sql::ROSTER_VERSION)?,
        keys: one(client, sql::KEY_VERSION)?,
    })
}

fn run(mut client: Client, mut seen: Versions, url: &str, location: &str, teller: &Teller) {
    loop {
        if teller.stopped(Duration::ZERO) {
            return;
        }
        let next = client.notifications().timeout_iter(TICK).next();
        // A notice is only a hint; the versions say what changed since.
        let now = match next {
            Ok(Some(_)) => versions(&mut client),
            other => other.map(|_| seen),
        };
        let now = match now {
            Ok(now) => now,
            Err(e) => {
                tracing::warn!(
                    "listening for gallery changes on {location}: {}; reconnecting",
                    super::db_error(location, e).report()
                );
                // Changes made while disconnected sent notices nobody heard: the versions
                // tell.
                let Some(reconnected) = reconnect(url, teller) else {
                    return;
                };
                let now;
                (client, now) = reconnected;
                now
            }
        };
        let was = std::mem::replace(&mut seen, now);
        if !teller.tell(was, now) {
            return;
        }
    }
}

/// A listening connection again, with the versions as it found them; `None` once nobody
/// listens any more.
fn reconnect(url: &str, teller: &Teller) -> Option<(Client, Versions)> {
    loop {
        if teller.stopped(Duration::from_secs(1)) {
            return None;
        }
        if let Ok(mut client) = listen(url)
            && let Ok(now) = versions(&mut client)
        {
            return Some((client, now));
        }
    }
}
