//! The router: every route with the scope it needs, the limits every request passes (body
//! size, time), the counters, and the OpenAPI document generated from the same handlers.

mod audit;
mod keys;
mod people;
mod recognize;
pub(crate) mod settings;
pub(crate) mod sightings;
mod system;
pub(crate) mod upload;
pub(crate) mod visitors;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::service::bodies::{BodyRules, meter_bodies};
use crate::service::console;
use crate::service::error::{ApiError, Cause, ErrorBody, ServerFailure};
use crate::service::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "whoisit",
        description = "Face recognition as a service: send a photo, get who is in it; manage the \
                       roster of enrolled people and their faces; follow live sightings and read past \
                       ones; group unknown faces into visitors and enroll or dismiss them; correct a wrong \
                       name (not this person), merge two people, move a face; preview and set the \
                       site's threshold. Every \
                       route but /healthz and /v1/openapi.json needs an API key \
                       (`whoisit keys create`) sent as `Authorization: Bearer KEY`, with the \
                       scope the route names: recognize, read or admin (admin may do all)."
    ),
    modifiers(&BearerKeys),
    components(schemas(ErrorBody))
)]
struct ApiDoc;

struct BearerKeys;

impl utoipa::Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every documented route, with its handlers.
fn documented() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(recognize::recognize))
        .routes(routes!(people::list_people, people::create_person))
        .routes(routes!(
            people::get_person,
            people::rename_person,
            people::delete_person
        ))
        .routes(routes!(people::list_faces, people::add_face))
        .routes(routes!(people::delete_face))
        .routes(routes!(people::face_image))
        .routes(routes!(people::not_this_face))
        .routes(routes!(people::move_face))
        .routes(routes!(people::merge_person))
        .routes(routes!(audit::audit))
        .routes(routes!(sightings::list_sightings))
        .routes(routes!(sightings::not_this_person))
        .routes(routes!(visitors::list_visitors))
        .routes(routes!(visitors::visitor_face_image))
        .routes(routes!(visitors::enroll_visitor))
        .routes(routes!(visitors::dismiss_visitor))
        .routes(routes!(keys::list_keys, keys::make_key))
        .routes(routes!(keys::revoke_key))
        .routes(routes!(settings::get_settings))
        .routes(routes!(settings::preview_threshold))
        .routes(routes!(settings::set_threshold))
        .routes(routes!(system::events))
        .routes(routes!(system::healthz))
        .routes(routes!(system::metrics))
        .routes(routes!(system::openapi_json))
}

/// The OpenAPI 3 document of the API, as `GET /v1/openapi.json` serves it.
pub fn openapi_document() -> &'static utoipa::openapi::OpenApi {
    static DOCUMENT: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| documented().split_for_parts().1)
}

/// The whole application: routes, then (inside out) the body limits and budget, the timeout
/// and the counting of every answer.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let (routes, _) = documented().split_for_parts();
    routes
        .merge(console::routes())
        .fallback(no_route)
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        // Bodies are read by the handlers, after the key (FromRequestParts runs first).
        .layer(middleware::from_fn_with_state(
            BodyRules {
                budget: state.body_budget.clone(),
                max_body_bytes: state.max_body_bytes,
                request_timeout: state.request_timeout,
            },
            meter_bodies,
        ))
        // Refuses a declared Content-Length over the limit before reading a byte of it.
        .layer(RequestBodyLimitLayer::new(state.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            state.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        // A span per request, and its answer and time at debug level (`-v`); paths carry ids,
        // never names.
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn no_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        "there is no such route; see /v1/openapi.json",
    )
}

/// The header naming each request's id: in every answer, in the body of a 5xx, and in the log
/// line of what failed.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A fresh request id: 64 random bits in hex, or a process-wide count if the system gives no
/// random bytes (ids only need to tell log lines apart).
fn request_id() -> String {
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = getrandom::u64()
        .unwrap_or_else(|_| COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    format!("{id:016x}")
}

/// Gives every request an id, logs the cause of a server failure once under it, finishes
/// the failures' answers (the layers' 413, 408, 405 get the same JSON error body as the
/// handlers'; a 5xx names the id), and counts every answer by route and status.
async fn observe(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let id = request_id();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status();
    // JSON errors of the API, or the console's pages, which say what failed in words.
    let ours = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| {
            t.as_bytes().starts_with(b"application/json") || t.as_bytes().starts_with(b"text/html")
        });
    let failure = response.extensions_mut().remove::<ServerFailure>();
    let cause = response.extensions_mut().remove::<Cause>();
    let error = match failure {
        Some(ServerFailure(error)) => Some(error),
        None if (status.is_client_error() || status.is_server_error()) && !ours => {
            Some(ApiError::from_status(status))
        }
        None => None,
    };
    let cause = error
        .as_ref()
        .and_then(|e| e.cause().map(str::to_owned))
        .or(cause.map(|Cause(cause)| cause));
    if let Some(cause) = cause {
        tracing::error!(request_id = %id, route = %route, status = status.as_u16(), "{cause}");
    }
    if let Some(error) = error {
        response = error.answer(status.is_server_error().then_some(id.as_str()));
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    state
        .metrics
        .request(&route, status.as_u16(), started.elapsed().as_secs_f64());
    response
}

/// A path parameter, refused in our format when it is not a number.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct PathOf<T>(pub(crate) T);

/// A JSON body, refused in our format when it does not parse.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct JsonOf<T>(pub(crate) T);

/// Query parameters, refused in our format when they do not parse.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct QueryOf<T>(pub(crate) T);
