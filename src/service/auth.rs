//! API keys: made here, shown once, stored as their sha256 in the gallery (so every server on
//! a shared gallery knows them, and a revoked key opens nothing anywhere); checked on every
//! request against the scope its route needs, in memory
//! ([`Keys`](crate::service::keys::Keys)). Also the TLS setup.

use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine as _;
use futures_util::{Stream, StreamExt as _, stream};
use sha2::Digest as _;

use crate::base::error::{Error, Result};
use crate::base::files::read_limited;
use crate::gallery::{Actor, ApiKey, Gallery, Scope};
use crate::service::Auth;
use crate::service::error::ApiError;
use crate::service::state::AppState;

/// A key just made: the secret is shown once and never stored.
pub struct NewKey {
    pub secret: String,
    pub key: ApiKey,
}

/// What every key starts with, so one found in a log or a repository is recognisable.
const PREFIX: &str = "wik_";

/// The stored form of a key: its sha256. Keys are 256 random bits, so a fast hash is enough.
pub(crate) fn hash(secret: &str) -> String {
    hex::encode(sha2::Sha256::digest(secret.trim().as_bytes()))
}

/// Makes a key called `name` with `scopes` and stores its hash, as `actor`.
pub fn create_key(
    gallery: &dyn Gallery,
    name: &str,
    scopes: &[Scope],
    actor: &Actor,
) -> Result<NewKey> {
    if scopes.is_empty() {
        return Err(Error::InvalidInput(
            "give a key at least one --scope: recognize, read or admin".into(),
        ));
    }
    let mut random = [0u8; 32];
    getrandom::fill(&mut random).map_err(|e| Error::NoRandomness(e.to_string()))?;
    let secret = format!(
        "{PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
    );
    let key = gallery.add_key(name, scopes, &hash(&secret), actor)?;
    Ok(NewKey { secret, key })
}

/// The key whose hash this is, if it opens anything: from memory when it is known there,
/// or else from the store, on a blocking thread.
async fn check(state: &Arc<AppState>, hash: &str) -> Result<Option<ApiKey>, ApiError> {
    if let Some(key) = state.keys.known(hash) {
        return Ok(Some(key));
    }
    let (keys, hash) = (state.keys.clone(), hash.to_owned());
    state.gallery(move |g| keys.find(g, &hash)).await
}

/// The key a request carries: `Authorization: Bearer KEY`, or `X-API-Key: KEY`.
fn presented(parts: &Parts) -> Option<&str> {
    let header = |name| parts.headers.get(name).and_then(|v| v.to_str().ok());
    header("authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .or_else(|| header("x-api-key"))
        .map(str::trim)
}

/// The scope a route needs, as a type, so a handler says it in its signature.
pub(crate) trait Needs: Send + Sync {
    const SCOPE: Scope;
}

pub(crate) struct ToRecognize;
pub(crate) struct ToRead;
pub(crate) struct ToAdmin;

impl Needs for ToRecognize {
    const SCOPE: Scope = Scope::Recognize;
}
impl Needs for ToRead {
    const SCOPE: Scope = Scope::Read;
}
impl Needs for ToAdmin {
    const SCOPE: Scope = Scope::Admin;
}

/// Proof that the request may do what `N` needs: a handler that takes it is only reached
/// with a valid key of that scope (401 without one, 403 with one of another scope).
pub(crate) struct Allowed<N: Needs> {
    /// The key's name, for the log; `None` without authentication.
    pub(crate) key: Option<String>,
    /// The key's hash, to check it is still valid later (an open event stream); `None`
    /// without authentication.
    pub(crate) hash: Option<String>,
    /// Whether the request may do what only admins may (also: without authentication).
    pub(crate) admin: bool,
    _needs: PhantomData<N>,
}

impl<N: Needs> Allowed<N> {
    /// Who the audit trail says made the change: the key by name.
    pub(crate) fn actor(&self) -> Actor {
        key_actor(self.key.as_deref())
    }
}

/// The audit trail's name for what a key (`None` on a server without keys) did.
pub(crate) fn key_actor(key: Option<&str>) -> Actor {
    Actor::api_key(key.unwrap_or("(no auth)"))
}

impl<N: Needs> FromRequestParts<Arc<AppState>> for Allowed<N> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        if state.auth == Auth::Off {
            return Ok(Allowed {
                key: None,
                hash: None,
                admin: true,
                _needs: PhantomData,
            });
        }
        // A key in the request, or else the console's session (whose changes carry its
        // CSRF token): both name a key, whose scopes decide.
        let hashed = match presented(parts) {
            Some(secret) => hash(secret),
            None => match state
                .console
                .sessions
                .credential(&parts.method, &parts.headers)
            {
                Some(session) => session?,
                None => {
                    return Err(ApiError::unauthorized(
                        "this needs an API key: send `Authorization: Bearer KEY` (make one with `whoisit keys create`)",
                    ));
                }
            },
        };
        let Some(key) = check(state, &hashed).await? else {
            return Err(ApiError::unauthorized(
                "the API key is not valid: it was revoked, or never made",
            ));
        };
        if !key.allows(N::SCOPE) {
            return Err(ApiError::forbidden(&format!(
                "the key {:?} may not do this: it needs the scope {}, the key has {}",
                key.name,
                N::SCOPE,
                key.scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        Ok(Allowed {
            admin: key.allows(Scope::Admin),
            key: Some(key.name),
            hash: Some(hashed),
            _needs: PhantomData,
        })
    }
}

/// Whether the key of `hash` still opens what `scope` needs (always, without authentication):
/// asked again while an event stream stays open, so a revoked key's streams end. A gallery
/// that cannot be reached says no.
pub(crate) async fn still_allowed(state: &Arc<AppState>, hash: Option<&str>, scope: Scope) -> bool {
    let Some(hash) = hash else {
        return true;
    };
    check(state, hash)
        .await
        .is_ok_and(|key| key.is_some_and(|k| k.allows(scope)))
}

/// How often an open stream's right to go on is asked again while nothing comes.
const RECHECK: Duration = Duration::from_secs(1);

/// `items` while `allowed()` says yes: asked before each item and every [`RECHECK`] while none
/// comes, so a stream of events or video ends at once when its key is revoked (here or on
/// another server of the gallery) or its console session ends. `what` names the stream in
/// the log.
pub(crate) fn while_allowed<S, F, Fut>(
    items: S,
    allowed: F,
    what: &'static str,
) -> impl Stream<Item = S::Item> + Send
where
    S: Stream<Item: Send> + Unpin + Send,
    F: Fn() -> Fut + Send,
    Fut: Future<Output = bool> + Send,
{
    stream::unfold((items, allowed), move |(mut items, allowed)| async move {
        loop {
            let next = tokio::select! {
                item = items.next() => Some(item),
                () = tokio::time::sleep(RECHECK) => None,
            };
            if !allowed().await {
                tracing::info!("{what} ends: its key was revoked or its session ended");
                return None;
            }
            match next {
                Some(Some(item)) => return Some((item, (items, allowed))),
                Some(None) => return None,
                None => {}
            }
        }
    })
}

/// A certificate chain is a few kilobytes: anything far bigger is not one.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// The server's TLS settings from PEM files.
pub(crate) async fn tls_config(
    cert: &Path,
    key: &Path,
) -> Result<axum_server::tls_rustls::RustlsConfig> {
    // Either process-wide provider will do; ring is the one built in. A second call finds it
    // installed already, which is fine.
    let _installed = rustls::crypto::ring::default_provider().install_default();
    let limit = "a PEM certificate chain or key is at most 1 MiB";
    let (cert_pem, key_pem) = (
        read_limited(cert, MAX_PEM_BYTES, limit)?,
        read_limited(key, MAX_PEM_BYTES, limit)?,
    );
    axum_server::tls_rustls::RustlsConfig::from_pem(cert_pem, key_pem)
        .await
        .map_err(|e| {
            Error::InvalidInput(format!(
                "cannot use the TLS certificate {} and key {}: {e}; give PEM files (certificate chain, then private key)",
                cert.display(),
                key.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_stored_only_as_its_hash_and_opens_by_its_scopes() {
        let dir = tempfile::tempdir().unwrap();
        let gallery = crate::gallery::SqliteGallery::open(dir.path(), None).unwrap();
        let made = create_key(&gallery, "frontdesk", &[Scope::Recognize], &Actor::cli()).unwrap();
        assert!(made.secret.starts_with(PREFIX) && made.secret.len() > 40);
        let bytes = std::fs::read(dir.path().join("gallery.sqlite3")).unwrap_or_default();
        let wal = std::fs::read(dir.path().join("gallery.sqlite3-wal")).unwrap_or_default();
        for file in [&bytes, &wal] {
            assert!(
                !file
                    .windows(made.secret.len())
                    .any(|w| w == made.secret.as_bytes())
            );
        }
        let found = gallery.key_by_hash(&hash(&made.secret)).unwrap().unwrap();
        assert!(found.allows(Scope::Recognize));
        assert!(!found.allows(Scope::Read));
        assert!(gallery.key_by_hash(&hash("wik_guess")).unwrap().is_none());
        assert!(create_key(&gallery, "frontdesk", &[Scope::Read], &Actor::cli()).is_err());
        assert!(create_key(&gallery, "no scopes", &[], &Actor::cli()).is_err());
        gallery.revoke_key("frontdesk", &Actor::cli()).unwrap();
        assert!(gallery.key_by_hash(&hash(&made.secret)).unwrap().is_none());
        assert!(gallery.revoke_key("frontdesk", &Actor::cli()).is_err());
    }
}
