//! The console: whoisit in a browser, on the same server, port and TLS as the API, for the
//! people who run a site. Pages are rendered here, from templates and assets built into the
//! binary; nothing is loaded from another host and no script runs inline. A key pasted once
//! at `/login` opens a [`session`]; an `admin` key sees and changes everything, a `read` key
//! sees without changing (the buttons are left out, and the API refuses the change anyway: the
//! session's requests reach the same routes, with the key's scopes), a `recognize` key is
//! refused with the scope it needs.

mod admin;
mod camera;
mod drafts;
mod live;
mod pages;
mod people;
pub(crate) mod session;
mod settings;
pub(crate) mod shared;
mod sightings;
mod visitors;

use std::sync::Arc;

use axum::Form;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::gallery::{Actor, ApiKey, Scope};
use crate::service::Auth;
use crate::service::auth::{hash, key_actor, still_allowed};
use crate::service::console::session::Session;
use crate::service::error::ApiError;
use crate::service::state::AppState;

use self::pages::{Nav, esc};

/// The console's pages and assets, with their headers.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(overview))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/live", get(live::page))
        .route("/live/{index}/video", get(live::video))
        .route("/people", get(people::list))
        .route("/people/{id}", get(people::person))
        .route("/people/{id}/thumbnail", get(people::thumbnail))
        .route("/visitors", get(visitors::page))
        .route("/sightings", get(sightings::page))
        .route("/sightings/{id}/crop", get(sightings::crop))
        .route("/enroll", get(people::enroll))
        .route("/enroll/camera/look", post(camera::look))
        .route("/enroll/camera/capture", post(camera::capture))
        .route("/enroll/camera/save", post(camera::save))
        .route("/enroll/camera/start-over", post(camera::start_over))
        .route("/keys", get(admin::keys))
        .route("/audit", get(admin::audit))
        .route("/settings", get(settings::page))
        .route("/console/style.css", get(pages::style))
        .route("/console/console.js", get(pages::script))
        .layer(middleware::from_fn(headers))
}

/// Headers of every console answer: no script but the console's own files, no framing (so
/// no clickjacking), and nothing kept in a cache (the pages show people's names and faces)
/// but the style sheet and the script, which say so themselves.
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; \
             connect-src 'self'; media-src 'self' blob:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Not no-referrer: under it a browser sends `Origin: null` with a form, and the login
    // could not tell its own form from another site's.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Who is looking at a page: a request reaches a console handler that takes it only with a
/// live session whose key may at least read (or on a server without keys); anyone else is
/// sent to the login page.
pub(crate) struct Viewer {
    /// The key's name; `None` on a server without keys (`--no-auth`).
    key: Option<String>,
    /// Whether the viewer may change things.
    admin: bool,
    /// What the viewer's changes must carry; `None` without keys.
    csrf: Option<String>,
    /// The session the viewer came with; `None` without keys.
    session: Option<Session>,
}

impl Viewer {
    /// Whether the viewer may still look: the session still open (not logged out, not
    /// expired) and its key still able to read. Asked again while a video stream stays open.
    pub(crate) async fn still_allowed(&self, state: &Arc<AppState>) -> bool {
        let Some(session) = &self.session else {
            return true;
        };
        state.console.sessions.lasts(session)
            && still_allowed(state, Some(&session.key_hash), Scope::Read).await
    }

    /// Who the audit trail says read or changed something: the key by name, as the API says.
    pub(crate) fn actor(&self) -> Actor {
        key_actor(self.key.as_deref())
    }
}

impl FromRequestParts<Arc<AppState>> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Response> {
        if state.auth == Auth::Off {
            return Ok(Viewer {
                key: None,
                admin: true,
                csrf: None,
                session: None,
            });
        }
        let to_login = || Redirect::to("/login").into_response();
        let Some(session) = state.console.sessions.find(&parts.headers) else {
            return Err(to_login());
        };
        let lookup = session.key_hash.clone();
        let key = state
            .gallery(move |g| g.key_by_hash(&lookup))
            .await
            .map_err(IntoResponse::into_response)?;
        match key {
            Some(key) if key.allows(Scope::Read) => Ok(Viewer {
                admin: key.allows(Scope::Admin),
                key: Some(key.name),
                csrf: Some(session.csrf.clone()),
                session: Some(session),
            }),
            // Revoked since the login: every session of the key ends with it.
            _ => {
                state.console.sessions.close_key(&session.key_hash);
                Err(to_login())
            }
        }
    }
}

/// Whether a form was sent from a page of this server: a browser names the page's origin in
/// `Origin` on every POST; one naming another host is another site's form (a login CSRF).
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.to_str().ok().and_then(|o| {
        o.strip_prefix("http://")
            .or_else(|| o.strip_prefix("https://"))
    });
    host.is_some() && origin_host == host
}

async fn login_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.auth == Auth::Off || state.console.sessions.find(&headers).is_some() {
        return Redirect::to("/").into_response();
    }
    pages::login(StatusCode::OK, None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    key: String,
}

/// Opens a session for a key that may read, or says which key is needed.
async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return pages::login(
            StatusCode::FORBIDDEN,
            Some(
                "This login was sent from a page of another site; log in from this server's own page.",
            ),
        );
    }
    let secret = form.key.trim().to_owned();
    if secret.is_empty() {
        return pages::login(
            StatusCode::BAD_REQUEST,
            Some(
                "Paste an API key: make one with `whoisit keys create --name NAME --scope admin`.",
            ),
        );
    }
    let hashed = hash(&secret);
    let lookup = hashed.clone();
    let key: Option<ApiKey> = match state.gallery(move |g| g.key_by_hash(&lookup)).await {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let Some(key) = key else {
        return pages::login(
            StatusCode::UNAUTHORIZED,
            Some("This key is not valid: it was revoked, or never made."),
        );
    };
    if !key.allows(Scope::Read) {
        let refusal = format!(
            "The key \"{}\" may only recognize photos. The console needs a key with the scope \
             read (to look) or admin (to change too): make one with `whoisit keys create --name \
             NAME --scope read` (or --scope admin).",
            key.name
        );
        return pages::login(StatusCode::FORBIDDEN, Some(&refusal));
    }
    match state.console.sessions.open(hashed) {
        Ok(cookie) => {
            tracing::info!(key = %key.name, "console session opened");
            let mut response = Redirect::to("/").into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the session (only with its CSRF token: another site cannot log a user out).
async fn logout(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Some(session) = state.console.sessions.find(&headers) else {
        return Redirect::to("/login").into_response();
    };
    if !session::csrf_matches(&session, &form.csrf) {
        return ApiError::forbidden(
            "this logout carries no valid CSRF token; use the console's own Log out button",
        )
        .into_response();
    }
    let cleared = state.console.sessions.close(&headers);
    state.console.drafts.forget(session.id());
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = HeaderValue::from_str(&cleared) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// The first page: what this server holds and runs.
async fn overview(State(state): State<Arc<AppState>>, viewer: Viewer) -> Response {
    let people = match state.gallery(|g| g.people()).await {
        Ok(people) => people,
        Err(e) => return pages::failed(&viewer, Nav::Overview, e),
    };
    let faces: usize = people.iter().map(|p| p.faces).sum();
    let sources = if state.console.sources.is_empty() {
        "<p>This server runs no camera of its own (start it with <code>whoisit serve \
         --source SOURCE</code> for live video and sightings).</p>"
            .to_owned()
    } else {
        let items: String = state
            .console
            .sources
            .iter()
            .map(|s| format!("<li>{}</li>", esc(s)))
            .collect();
        format!("<p>Cameras of this server:</p><ul>{items}</ul>")
    };
    let scope = if viewer.admin {
        "You may look and change (an admin key)."
    } else {
        "You may look, not change (a read key)."
    };
    let main = format!(
        "<section class=\"cards\" aria-label=\"Summary\">\
           <div class=\"card\"><span class=\"figure\">{people}</span> people enrolled</div>\
           <div class=\"card\"><span class=\"figure\">{faces}</span> faces</div>\
           <div class=\"card\"><span class=\"figure\">{threshold:.2}</span> threshold</div>\
         </section>\
         <p>{scope} Recognition uses the embedder <code>{embedder}</code>.</p>{sources}",
        people = people.len(),
        threshold = state.roster.threshold(),
        embedder = esc(&state.embedder.to_string()),
    );
    pages::page(&viewer, Nav::Overview, "Overview", &main)
}
