//! The API keys in memory, kept current by the gallery's change feed.

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use crate::base::error::{Error, Result};
use crate::gallery::{ApiKey, Gallery, KeyTable};

/// The API keys, kept in memory so that a request's key is checked without asking the store:
/// read on first use, and dropped whenever the store reports that a key was made or revoked,
/// through this server or any other process or machine (its change feed; within a second).
/// A key that is not found is checked against the keys' version, so that a key made a moment
/// ago opens at once.
pub(crate) struct Keys {
    state: RwLock<Known>,
}

#[derive(Default)]
struct Known {
    /// Counts the times the table was dropped: a table read before the last drop is stale.
    drops: u64,
    table: Option<KeyTable>,
}

impl Keys {
    /// Nothing known yet, and the store's reports of changed keys followed for as long as the
    /// returned keys are kept.
    pub(crate) fn follow(gallery: &dyn Gallery) -> Result<Arc<Keys>> {
        let keys = Arc::new(Keys {
            state: RwLock::new(Known::default()),
        });
        let feed = gallery.watch()?;
        let followed: Weak<Keys> = Arc::downgrade(&keys);
        std::thread::Builder::new()
            .name("keys-follow".into())
            .spawn(move || {
                loop {
                    match feed.keys().recv_timeout(Duration::from_secs(1)) {
                        Ok(_) => match followed.upgrade() {
                            Some(keys) => keys.forget(),
                            None => return,
                        },
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                            if followed.strong_count() == 0 {
                                return;
                            }
                        }
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                    }
                }
            })
            .map_err(|source| Error::Spawn {
                thread: "keys-follow",
                source,
            })?;
        Ok(keys)
    }

    /// Drops what is known: the next check reads the keys again.
    pub(crate) fn forget(&self) {
        let mut known = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known.drops += 1;
        known.table = None;
    }

    /// The key of `hash` as known in memory: `None` when that takes the store.
    pub(crate) fn known(&self, hash: &str) -> Option<ApiKey> {
        let known = self
            .state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        known.table.as_ref()?.by_hash.get(hash).cloned()
    }

    /// The key whose hash this is, if it opens anything: from memory, or else from `gallery`
    /// (blocking: call it off the async threads).
    pub(crate) fn find(&self, gallery: &dyn Gallery, hash: &str) -> Result<Option<ApiKey>> {
        let drops = {
            let known = self
                .state
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(table) = &known.table {
                if let Some(key) = table.by_hash.get(hash) {
                    return Ok(Some(key.clone()));
                }
                if gallery.keys_version()? == table.version {
                    return Ok(None);
                }
            }
            known.drops
        };
        let table = gallery.key_table()?;
        let found = table.by_hash.get(hash).cloned();
        let mut known = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // A drop while the table was read means it may hold a key revoked meanwhile.
        if known.drops == drops {
            known.table = Some(table);
        }
        Ok(found)
    }
}
