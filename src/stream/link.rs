//! One Redis connection that outlives Redis restarts: a command that finds Redis down or gone
//! drops the connection; the next one reconnects, no sooner than a backoff that doubles up to
//! a few seconds. Callers go on with their other work meanwhile and never queue for Redis.

use std::time::{Duration, Instant};

use crate::base::address::redacted;
use crate::base::error::Error;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Long enough for a blocking read of [`BLOCK_MS`]; a Redis that hangs is given up after it.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a blocking read waits for entries, so the caller still looks around now and then.
pub(crate) const BLOCK_MS: u64 = 500;
/// How often a continuing outage is logged again.
const REMIND_EVERY: Duration = Duration::from_secs(30);

/// Why a command did not run.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Redis cannot be reached now; it is tried again after the backoff.
    Down,
    /// Redis answered with an error.
    Refused(redis::RedisError),
}

/// A Redis connection for one thread, reconnected as needed.
pub(crate) struct Link {
    client: redis::Client,
    pub(crate) address: String,
    who: &'static str,
    connection: Option<redis::Connection>,
    /// While Redis is down: since when, the next attempt, and the wait after that.
    down_since: Option<Instant>,
    retry_at: Instant,
    backoff: Duration,
    reminded: Instant,
    /// Outages so far, for the counters.
    pub(crate) outages: u64,
}

impl Link {
    /// A link to `url` for `who` (named in the logs); it connects on first use.
    pub(crate) fn new(url: &str, who: &'static str) -> crate::Result<Link> {
        let client = redis::Client::open(url).map_err(|e| Error::Broker {
            service: "Redis",
            address: url.to_owned(),
            message: "not a Redis URL (redis://host:port[/db])".into(),
            source: Some(Box::new(e)),
        })?;
        Ok(Link {
            client,
            // Shown in logs and errors: without its password.
            address: redacted(url),
            who,
            connection: None,
            down_since: None,
            retry_at: Instant::now(),
            backoff: FIRST_BACKOFF,
            reminded: Instant::now(),
            outages: 0,
        })
    }

    /// Connects now, or says why not: for start-up, where an unreachable Redis is worth an
    /// error the user sees.
    pub(crate) fn check(&mut self) -> crate::Result<()> {
        self.run(|c| redis::cmd("PING").query::<String>(c))
            .map(drop)
            .map_err(|failure| Error::Broker {
                service: "Redis",
                address: self.address.clone(),
                message: match failure {
                    Failure::Down => {
                        "cannot connect; is redis-server running there? (README: \"Many cameras\")"
                            .into()
                    }
                    Failure::Refused(e) => e.to_string(),
                },
                source: None,
            })
    }

    /// Whether Redis is reachable as far as this link knows.
    pub(crate) fn is_up(&self) -> bool {
        self.down_since.is_none()
    }

    /// When the next attempt to reconnect is due (now, if connected).
    pub(crate) fn retry_in(&self) -> Duration {
        self.retry_at.saturating_duration_since(Instant::now())
    }

    /// Runs `command` on the connection, connecting first if needed.
    pub(crate) fn run<T>(
        &mut self,
        command: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, Failure> {
        let connection = self.connection()?;
        match command(connection) {
            Ok(value) => Ok(value),
            // A signal (Ctrl+C, SIGTERM) cut a blocking read short: the connection is in an
            // unknown state, but Redis is fine; the next command connects again at once.
            Err(e) if is_interrupted(&e) => {
                self.connection = None;
                Err(Failure::Down)
            }
            Err(e) if is_lost(&e) => {
                self.lost(&e.to_string());
                Err(Failure::Down)
            }
            Err(e) => Err(Failure::Refused(e)),
        }
    }

    fn connection(&mut self) -> Result<&mut redis::Connection, Failure> {
        if self.connection.is_none() {
            if Instant::now() < self.retry_at {
                return Err(Failure::Down);
            }
            let connected = self
                .client
                .get_connection_with_timeout(CONNECT_TIMEOUT)
                .and_then(|c| {
                    c.set_read_timeout(Some(READ_TIMEOUT))?;
                    c.set_write_timeout(Some(READ_TIMEOUT))?;
                    Ok(c)
                });
            match connected {
                Ok(c) => {
                    if let Some(since) = self.down_since.take() {
                        tracing::info!(
                            "{}: Redis at {} is back after {:.1} s; resuming",
                            self.who,
                            self.address,
                            since.elapsed().as_secs_f64()
                        );
                    }
                    self.backoff = FIRST_BACKOFF;
                    self.connection = Some(c);
                }
                Err(e) => {
                    self.lost(&e.to_string());
                    return Err(Failure::Down);
                }
            }
        }
        self.connection.as_mut().ok_or(Failure::Down)
    }

    fn lost(&mut self, why: &str) {
        self.connection = None;
        let now = Instant::now();
        if self.down_since.is_none() {
            self.down_since = Some(now);
            self.reminded = now;
            self.outages += 1;
            tracing::warn!(
                "{}: Redis at {} is unreachable ({why}); going on without it and retrying",
                self.who,
                self.address
            );
        } else if self.reminded.elapsed() >= REMIND_EVERY {
            self.reminded = now;
            tracing::warn!(
                "{}: Redis at {} still unreachable after {:.0} s ({why}); retrying",
                self.who,
                self.address,
                self.down_since.map_or(0.0, |s| s.elapsed().as_secs_f64())
            );
        }
        self.retry_at = now + self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// Whether an error means the connection is gone (Redis stopped, restarted, unreachable), as
/// opposed to Redis refusing one command.
fn is_lost(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal() || e.is_timeout()
}

fn is_interrupted(e: &redis::RedisError) -> bool {
    let mut cause = std::error::Error::source(e);
    while let Some(inner) = cause {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return io.kind() == std::io::ErrorKind::Interrupted;
        }
        cause = inner.source();
    }
    // The io::Error is not always exposed as a source; its message is.
    e.to_string().contains("os error 4")
}

/// Adds an entry of `fields` to `stream`, which Redis keeps about `max` entries long (trimming
/// the oldest); the entry's id.
pub(crate) fn add(
    link: &mut Link,
    stream: &str,
    max: usize,
    fields: &[(&'static str, Vec<u8>)],
) -> Result<String, Failure> {
    link.run(|c| {
        redis::cmd("XADD")
            .arg(stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(max)
            .arg("*")
            .arg(fields)
            .query::<String>(c)
    })
}

/// Whether Redis refused because the stream or its consumer group does not exist (yet, or no
/// longer: a restarted Redis keeps nothing).
pub(crate) fn is_no_group(failure: &Failure) -> bool {
    matches!(failure, Failure::Refused(e) if e.code() == Some("NOGROUP"))
}

/// Makes the consumer group `group` on `stream` (and the stream) unless it exists. New groups
/// start at the stream's beginning, so work added before any worker started is done.
pub(crate) fn ensure_group(
    link: &mut Link,
    stream: &str,
    group: &str,
    from: &str,
) -> Result<(), Failure> {
    match link.run(|c| {
        redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(stream)
            .arg(group)
            .arg(from)
            .arg("MKSTREAM")
            .query::<()>(c)
    }) {
        Err(Failure::Refused(e)) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}

/// Who reads: a consumer of a group (XREADGROUP), or anyone (XREAD).
pub(crate) enum Reader<'a> {
    Group { group: &'a str, consumer: &'a str },
    Anyone,
}

/// Up to `count` entries of `stream` after `from` (for a group, ">" is its new entries),
/// waiting up to [`BLOCK_MS`] for the first.
pub(crate) fn read(
    link: &mut Link,
    reader: &Reader<'_>,
    stream: &str,
    from: &str,
    count: usize,
) -> Result<Vec<redis::streams::StreamId>, Failure> {
    let mut command = match reader {
        Reader::Group { group, consumer } => {
            let mut c = redis::cmd("XREADGROUP");
            c.arg("GROUP").arg(*group).arg(*consumer);
            c
        }
        Reader::Anyone => redis::cmd("XREAD"),
    };
    command
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(BLOCK_MS)
        .arg("STREAMS")
        .arg(stream)
        .arg(from);
    let reply = link.run(|c| command.query::<Option<redis::streams::StreamReadReply>>(c))?;
    Ok(reply
        .into_iter()
        .flat_map(|r| r.keys)
        .flat_map(|k| k.ids)
        .collect())
}
