//! The Live page: each of the server's own cameras as video with boxes and names (MJPEG to a
//! plain `img`), who is in view now, and its sightings as they happen (the script follows
//! `GET /v1/events` on from the events the page was rendered with). The video ends as soon as
//! the viewer's session ends or its key is revoked.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;

use crate::service::auth::while_allowed;
use crate::service::console::Viewer;
use crate::service::console::pages::{self, Nav, esc};
use crate::service::error::ApiError;
use crate::service::events::Event;
use crate::service::state::AppState;

/// Sightings from before the page shown on it, at most: the last few changes.
const RECENT: usize = 10;

/// The parts' boundary in the MJPEG stream.
const BOUNDARY: &str = "whoisit-frame";

/// Every camera of the server, its video beside its sightings.
pub(crate) async fn page(State(state): State<Arc<AppState>>, viewer: Viewer) -> Response {
    let sources = &state.console.sources;
    let main = if sources.is_empty() {
        "<p>This server runs no camera of its own: start it with <code>whoisit serve --source \
         demo</code> (or a camera index, a file, an RTSP URL) for live video and sightings.</p>"
            .to_owned()
    } else {
        let video = &state.console.video;
        let cameras: String = sources
            .iter()
            .enumerate()
            .map(|(index, camera)| {
                let camera = esc(camera);
                let picture = if video.max_viewers() == 0 {
                    "<p>The live video is off on this server (serve.live_viewers is 0).</p>"
                        .to_owned()
                } else {
                    format!(
                        "<img class=\"video\" src=\"/live/{index}/video\" \
                         alt=\"Live video of {camera}, each face boxed with its name\">"
                    )
                };
                format!(
                    "<section class=\"camera\" aria-labelledby=\"camera-{index}\">\
                       <h2 id=\"camera-{index}\">{camera}</h2>\
                       <div class=\"live\">{picture}\
                         <div class=\"seen\"><h3>In view</h3>\
                         <ul class=\"in-view\" data-camera=\"{camera}\" aria-live=\"polite\">\
                         </ul><h3>Sightings</h3>\
                         <ol class=\"sightings\" data-camera=\"{camera}\" aria-live=\"polite\">\
                         </ol></div></div></section>"
                )
            })
            .collect();
        // Who is in view and the last changes, for the script to show at once (the stream
        // only tells changes), and the id it follows on from, so none is missed or repeated.
        let now = state.events.now(RECENT);
        let json =
            |events: &[Event]| serde_json::to_string(events).unwrap_or_else(|_| "[]".to_owned());
        format!(
            "<p id=\"live-status\" role=\"status\" data-live data-after=\"{after}\" \
             data-in-view=\"{in_view}\" data-recent=\"{recent}\">Waiting for sightings…</p>\
             {cameras}\
             <p>At most {viewers} browsers watch the video at once (serve.live_viewers).</p>",
            after = now.after,
            in_view = esc(&json(&now.in_view)),
            recent = esc(&json(&now.recent)),
            viewers = video.max_viewers()
        )
    };
    pages::page(&viewer, Nav::Live, "Live", &main)
}

/// Camera `index`'s drawn frames as `multipart/x-mixed-replace`, while a seat is free, and
/// only while the viewer's session lasts and its key may read: biometric video stops at
/// once on logout, expiry or revocation.
pub(crate) async fn video(
    State(state): State<Arc<AppState>>,
    viewer: Viewer,
    Path(index): Path<usize>,
) -> Response {
    let video = state.console.video.clone();
    let Some(frames) = video.watch(index) else {
        return (StatusCode::NOT_FOUND, "This server has no such camera.").into_response();
    };
    let Some(seat) = video.sit() else {
        return ApiError::busy_with(&format!(
            "{} browsers already watch the live video, as many as serve.live_viewers allows; \
             close one of them, or raise the setting",
            video.max_viewers()
        ))
        .into_response();
    };
    // Each frame as the camera's drawing thread sends it; a slow browser gets the newest one
    // when it is ready for the next, never a queue.
    let parts = stream::unfold((frames, seat), |(mut frames, seat)| async move {
        loop {
            if frames.changed().await.is_err() {
                return None;
            }
            let jpeg = frames.borrow_and_update().clone();
            if let Some(jpeg) = jpeg {
                let mut part = format!(
                    "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
                    jpeg.len()
                )
                .into_bytes();
                part.extend_from_slice(&jpeg);
                part.extend_from_slice(b"\r\n");
                return Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(part)),
                    (frames, seat),
                ));
            }
        }
    });
    let viewer = Arc::new(viewer);
    let parts = while_allowed(
        Box::pin(parts),
        move || {
            let (state, viewer) = (state.clone(), viewer.clone());
            async move { viewer.still_allowed(&state).await }
        },
        "a live video stream",
    );
    let mut response = Body::from_stream(parts).into_response();
    if let Ok(value) =
        HeaderValue::from_str(&format!("multipart/x-mixed-replace; boundary={BOUNDARY}"))
    {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
