//! The Live page: each of the server's own cameras as video with boxes and names (MJPEG to a
//! plain `img`), and its sightings as they happen (the script follows `GET /v1/events`).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;

use crate::service::console::Viewer;
use crate::service::console::pages::{self, Nav, esc};
use crate::service::error::ApiError;
use crate::service::state::AppState;

/// Sightings from before the page shown on it, at most.
const RECENT: usize = 50;

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
                         <div class=\"seen\"><h3>Sightings</h3>\
                         <ol class=\"sightings\" data-camera=\"{camera}\" aria-live=\"polite\">\
                         </ol></div></div></section>"
                )
            })
            .collect();
        // The sightings kept from before the page, for the script to show first: a new
        // client of /v1/events only gets those that come after it connects.
        let (kept, _) = state.events.subscribe(Some(0));
        let recent = &kept[kept.len().saturating_sub(RECENT)..];
        let recent = serde_json::to_string(recent).unwrap_or_else(|_| "[]".to_owned());
        format!(
            "<p id=\"live-status\" role=\"status\" data-live data-recent=\"{recent}\">Waiting for \
             sightings…</p>{cameras}\
             <p>At most {viewers} browsers watch the video at once (serve.live_viewers).</p>",
            recent = esc(&recent),
            viewers = video.max_viewers()
        )
    };
    pages::page(&viewer, Nav::Live, "Live", &main)
}

/// Camera `index`'s drawn frames as `multipart/x-mixed-replace`, while a seat is free.
pub(crate) async fn video(
    State(state): State<Arc<AppState>>,
    _viewer: Viewer,
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
    let mut response = Body::from_stream(parts).into_response();
    if let Ok(value) =
        HeaderValue::from_str(&format!("multipart/x-mixed-replace; boundary={BOUNDARY}"))
    {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
