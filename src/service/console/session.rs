//! Console sessions: a key pasted once at the login page opens a session, remembered by an
//! HttpOnly, SameSite=Strict cookie (Secure under TLS) that expires after
//! `serve.console_session_hours`. The table lives in this process's memory: a restart ends
//! every session, and people paste their key again. A session holds only the hash of its key,
//! which is looked up again on every request, so a revoked key ends its sessions at once.
//!
//! Every change made through a session (any method but GET and HEAD) carries the session's
//! CSRF token, in the `X-CSRF-Token` header (the console's script) or the form field `csrf`
//! (its forms); a page of another site can neither read the token nor, with SameSite=Strict,
//! send the cookie.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine as _;
use sha2::Digest as _;

use crate::base::error::Error;
use crate::service::error::ApiError;

/// The cookie's name.
const COOKIE: &str = "whoisit_session";

/// The header the console's script sends the CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// Sessions open at once, at most: a console has a handful of users, and the table must not
/// grow without bound whoever logs in.
const MAX_SESSIONS: usize = 1000;

/// An open session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The sha256 of its cookie's value: its place in the table.
    id: String,
    /// The hash of the key it was opened with.
    pub(crate) key_hash: String,
    /// What every change made through it must carry.
    pub(crate) csrf: String,
    expires: Instant,
}

impl Session {
    /// What names the session in the table, and what lives with it (a camera's draft): no
    /// usable token.
    pub(crate) fn id(&self) -> &str {
        &self.id
    }
}

/// The open sessions of this process.
pub(crate) struct Sessions {
    lifetime: Duration,
    /// Whether the cookie is marked Secure (the server speaks HTTPS).
    secure: bool,
    /// By the sha256 of the cookie's value, so the table holds no usable token.
    table: Mutex<HashMap<String, Session>>,
}

/// 256 random bits, URL-safe.
fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|_| ApiError::from(Error::Internal("the system gives no random bytes")))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

fn digest(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// Whether two tokens are equal, in a time that does not tell how much of them matched.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of the session cookie a request carries.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// Whether a request with `method` changes something, and so must carry the CSRF token.
pub(crate) fn changes(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD)
}

impl Sessions {
    pub(crate) fn new(lifetime: Duration, secure: bool) -> Sessions {
        Sessions {
            lifetime,
            secure,
            table: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // The table stays whole whatever panicked while holding it: every change is one call.
        self.table
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a session for the key of `key_hash`: the `Set-Cookie` value that carries it.
    pub(crate) fn open(&self, key_hash: String) -> Result<String, ApiError> {
        let token = random_token()?;
        let session = Session {
            id: digest(&token),
            key_hash,
            csrf: random_token()?,
            expires: Instant::now() + self.lifetime,
        };
        let mut table = self.table();
        let now = Instant::now();
        table.retain(|_, s| s.expires > now);
        if table.len() >= MAX_SESSIONS {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                format!(
                    "{MAX_SESSIONS} console sessions are open; log out of one, or wait until \
                     one expires (serve.console_session_hours)"
                ),
            ));
        }
        table.insert(session.id.clone(), session);
        let secure = if self.secure { "; Secure" } else { "" };
        Ok(format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            self.lifetime.as_secs()
        ))
    }

    /// The session a request's cookie names, while it lasts.
    pub(crate) fn find(&self, headers: &HeaderMap) -> Option<Session> {
        let key = digest(cookie(headers)?);
        let mut table = self.table();
        match table.get(&key) {
            Some(session) if session.expires > Instant::now() => Some(session.clone()),
            Some(_) => {
                table.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Whether `session` is still open: not logged out, expired, or ended with its key.
    pub(crate) fn lasts(&self, session: &Session) -> bool {
        self.is_open(&session.id)
    }

    /// Whether the session of `id` ([`Session::id`]) is still open.
    pub(crate) fn is_open(&self, id: &str) -> bool {
        self.table()
            .get(id)
            .is_some_and(|s| s.expires > Instant::now())
    }

    /// Ends the session a request's cookie names; the `Set-Cookie` value that clears it.
    pub(crate) fn close(&self, headers: &HeaderMap) -> String {
        if let Some(token) = cookie(headers) {
            self.table().remove(&digest(token));
        }
        let secure = if self.secure { "; Secure" } else { "" };
        format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
    }

    /// Ends every session opened with the key of `key_hash` (the key was revoked).
    pub(crate) fn close_key(&self, key_hash: &str) {
        self.table().retain(|_, s| s.key_hash != key_hash);
    }

    /// The key hash of the request's session, for a request of the API that carries no key:
    /// `None` when it carries no session cookie either; refused when the session has ended,
    /// or when the request changes something without the session's CSRF token.
    pub(crate) fn credential(
        &self,
        method: &Method,
        headers: &HeaderMap,
    ) -> Option<Result<String, ApiError>> {
        cookie(headers)?;
        let Some(session) = self.find(headers) else {
            return Some(Err(ApiError::unauthorized(
                "the console session has ended (it expired, the server restarted, or you \
                 logged out); log in again with your key",
            )));
        };
        if changes(method) {
            let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
            if !sent.is_some_and(|sent| same(sent, &session.csrf)) {
                return Some(Err(ApiError::forbidden(
                    "this change carries no valid CSRF token for the console session: reload \
                     the console's page and try again",
                )));
            }
        }
        Some(Ok(session.key_hash))
    }
}

/// Whether `sent` is the session's CSRF token.
pub(crate) fn csrf_matches(session: &Session, sent: &str) -> bool {
    same(sent, &session.csrf)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    // By its full path: tests/layers.rs reads a file's `super` as its parent module's.
    use crate::service::console::session::*;

    fn with_cookie(set_cookie: &str) -> HeaderMap {
        let pair = set_cookie.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {pair}")).unwrap(),
        );
        headers
    }

    #[test]
    fn a_session_lasts_its_lifetime_and_changes_need_its_token() {
        let sessions = Sessions::new(Duration::from_millis(300), true);
        let set = sessions.open("hash-of-key".into()).unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
        assert!(set.contains("Secure"));
        let mut headers = with_cookie(&set);
        let session = sessions.find(&headers).unwrap();
        assert_eq!(session.key_hash, "hash-of-key");
        assert!(matches!(
            sessions.credential(&Method::GET, &headers),
            Some(Ok(h)) if h == "hash-of-key"
        ));
        assert!(matches!(
            sessions.credential(&Method::DELETE, &headers),
            Some(Err(_))
        ));
        headers.insert(CSRF_HEADER, HeaderValue::from_str("forged").unwrap());
        assert!(matches!(
            sessions.credential(&Method::POST, &headers),
            Some(Err(_))
        ));
        headers.insert(CSRF_HEADER, HeaderValue::from_str(&session.csrf).unwrap());
        assert!(matches!(
            sessions.credential(&Method::POST, &headers),
            Some(Ok(_))
        ));
        assert!(
            sessions
                .credential(&Method::GET, &HeaderMap::new())
                .is_none()
        );
        assert!(sessions.lasts(&session));
        std::thread::sleep(Duration::from_millis(400));
        assert!(
            !sessions.lasts(&session),
            "an open video stream ends with it"
        );
        assert!(sessions.find(&headers).is_none());
        assert!(matches!(
            sessions.credential(&Method::GET, &headers),
            Some(Err(_))
        ));
    }

    #[test]
    fn logout_and_revocation_end_sessions() {
        let sessions = Sessions::new(Duration::from_secs(60), false);
        let first = with_cookie(&sessions.open("a".into()).unwrap());
        let second = with_cookie(&sessions.open("b".into()).unwrap());
        let (watching_first, watching_second) = (
            sessions.find(&first).unwrap(),
            sessions.find(&second).unwrap(),
        );
        let cleared = sessions.close(&first);
        assert!(!sessions.lasts(&watching_first) && sessions.lasts(&watching_second));
        assert!(cleared.contains("Max-Age=0") && !cleared.contains("Secure"));
        assert!(sessions.find(&first).is_none());
        assert!(sessions.find(&second).is_some());
        sessions.close_key("b");
        assert!(sessions.find(&second).is_none());
        assert!(!sessions.lasts(&watching_second));
    }
}
