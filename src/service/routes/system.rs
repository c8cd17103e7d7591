//! Health, metrics, the OpenAPI document and the live events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt as _, stream};
use serde::{Deserialize, Serialize};
use tokio_stream::wrappers::BroadcastStream;
use utoipa::ToSchema;

use crate::gallery::Scope;
use crate::service::auth::{Allowed, ToRead, still_allowed, while_allowed};
use crate::service::error::{ApiError, Cause, ErrorBody};
use crate::service::events::Event;
use crate::service::metrics::Gauges;
use crate::service::routes::QueryOf;
use crate::service::state::AppState;

/// Whether the server can answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// `ok`, or `unavailable` with the reason in `problem`.
    status: &'static str,
    /// Recognition pipelines with their models loaded.
    workers: usize,
    embedder: String,
    /// People in the gallery (null when it cannot be reached).
    people: Option<usize>,
    problem: Option<String>,
}

/// Whether the models are loaded and the gallery reachable. Needs no key.
#[utoipa::path(get, path = "/healthz", tag = "system",
    responses((status = 200, body = Health), (status = 503, description = "The gallery cannot be reached", body = Health)))]
pub(crate) async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let people = state.gallery(|g| g.people().map(|p| p.len())).await;
    let (status, people, failure) = match people {
        Ok(n) => (StatusCode::OK, Some(n), None),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, None, Some(e)),
    };
    let health = Health {
        status: if status == StatusCode::OK {
            "ok"
        } else {
            "unavailable"
        },
        workers: state.pool.workers(),
        embedder: state.embedder.to_string(),
        people,
        problem: failure.as_ref().map(|e| e.message().to_owned()),
    };
    let mut response = (status, Json(health)).into_response();
    if let Some(cause) = failure.as_ref().and_then(ApiError::cause) {
        response.extensions_mut().insert(Cause(cause.to_owned()));
    }
    response
}

/// Counters in Prometheus' text format: requests by route and status, latency histograms,
/// faces, the roster's size, the queue.
#[utoipa::path(get, path = "/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn metrics(
    State(state): State<Arc<AppState>>,
    _allowed: Allowed<ToRead>,
) -> Result<impl IntoResponse, ApiError> {
    let roster = state.roster.snapshot();
    let (people, faces) = (roster.people(), roster.faces());
    let text = state.metrics.render(&Gauges {
        people,
        faces,
        queued: state.pool.queued(),
        workers: state.pool.workers(),
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}

/// This document. Needs no key.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "system",
    responses((status = 200, description = "The OpenAPI 3 document", content_type = "application/json")))]
pub(crate) async fn openapi_json() -> Json<&'static utoipa::openapi::OpenApi> {
    Json(super::openapi_document())
}

/// Live sightings from the server's own sources (`whoisit serve --source S`), as Server-Sent
/// Events: `person_seen` and `unknown_seen`, each once per change of a track (its `change`:
/// appeared, named, renamed, left), as its sighting is recorded (with `sightings.record` on):
/// never once per frame. Reconnect with `Last-Event-ID` to get what was missed (from a buffer of
/// serve.events_buffer events); `after` does the same on a first connection (the console's Live
/// page follows on from the events it was rendered with).
#[utoipa::path(get, path = "/v1/events", tag = "events",
    params(("Last-Event-ID" = Option<u64>, Header, maximum = 9_223_372_036_854_775_807_u64, nullable = false,
        description = "The id of the last event received"),
        ("after" = Option<u64>, Query, maximum = 9_223_372_036_854_775_807_u64, nullable = false,
        description = "Start after this event id, as Last-Event-ID does (which wins when both are sent)")),
    responses((status = 200, description = "text/event-stream of events", content_type = "text/event-stream", body = Event),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = ["read"])))]
pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    allowed: Allowed<ToRead>,
    headers: HeaderMap,
    QueryOf(query): QueryOf<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let last = match headers.get("last-event-id").map(|v| v.to_str()) {
        None => query
            .after
            .map(|after| {
                u64::try_from(after)
                    .map_err(|_| ApiError::bad_request(format!("after={after} is not an event id")))
            })
            .transpose()?,
        // Event ids stay within the document's int64.
        Some(Ok(text)) => Some(
            text.trim()
                .parse::<i64>()
                .ok()
                .and_then(|id| u64::try_from(id).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("Last-Event-ID {text:?} is not an event id"))
                })?,
        ),
        Some(Err(_)) => return Err(ApiError::bad_request("Last-Event-ID is not text")),
    };
    let (missed, live) = state.events.subscribe(last);
    let live = BroadcastStream::new(live).filter_map(|event| async move {
        match event {
            Ok(event) => Some(event),
            Err(lagged) => {
                tracing::warn!("a slow events client missed some: {lagged}");
                None
            }
        }
    });
    let events = Box::pin(stream::iter(missed).chain(live));
    let hash = allowed.hash;
    let checked = while_allowed(
        events,
        move || {
            let (state, hash) = (state.clone(), hash.clone());
            async move { still_allowed(&state, hash.as_deref(), Scope::Read).await }
        },
        "an events stream",
    )
    .map(|event| Ok(sse(&event)));
    Ok(Sse::new(checked).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventsQuery {
    after: Option<i64>,
}

fn sse(event: &Event) -> SseEvent {
    let frame = SseEvent::default()
        .id(event.id.to_string())
        .event(event.kind.as_str());
    match frame.clone().json_data(event) {
        Ok(frame) => frame,
        // An event is plain data; if it ever failed to serialise, say so rather than vanish.
        Err(e) => frame.data(format!("{{\"error\":\"{e}\"}}")),
    }
}
