//! Request bodies in flight, bounded: each within `serve.max_body_mb` (the router's limit
//! layers), all together within `serve.body_budget_mb`. A body is read only when its handler
//! asks for it, after the key and its scope were checked from the headers, so a client without
//! a valid key costs no memory however large the body it announces. What a refused request
//! still sends is read and thrown away, never held, so the client reads its answer instead of
//! a broken pipe.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body::{Body as _, Frame, SizeHint};
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::service::error::ApiError;

/// The memory every request body in flight may take together.
#[derive(Clone)]
pub(crate) struct BodyBudget {
    bytes: Arc<Semaphore>,
}

impl BodyBudget {
    pub(crate) fn new(bytes: usize) -> BodyBudget {
        BodyBudget {
            bytes: Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
        }
    }

    /// `bytes` more of the budget, at once or not at all: a request never waits for memory
    /// another holds, so requests cannot hold parts of the budget while waiting for each other.
    fn take(&self, bytes: usize) -> Option<OwnedSemaphorePermit> {
        let bytes = u32::try_from(bytes).ok()?;
        self.bytes.clone().try_acquire_many_owned(bytes).ok()
    }
}

/// What one request holds of the budget, until its answer is made.
#[derive(Default)]
struct Held {
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    /// The budget had no room for the rest of the body.
    refused: AtomicBool,
}

impl Held {
    fn add(&self, permit: OwnedSemaphorePermit) {
        if let Ok(mut held) = self.permit.lock() {
            match held.as_mut() {
                Some(mine) => mine.merge(permit),
                None => *held = Some(permit),
            }
        }
    }
}

/// What the metering of bodies needs of the server's state.
#[derive(Clone)]
pub(crate) struct BodyRules {
    pub(crate) budget: BodyBudget,
    pub(crate) max_body_bytes: usize,
    pub(crate) request_timeout: Duration,
}

/// The answer when the budget has no room: try again shortly.
fn over_budget() -> ApiError {
    ApiError::busy_with(
        "the server holds as many request bodies as it allows at once; retry after a second \
         (config: serve.body_budget_mb)",
    )
}

/// Meters every request body against the budget and holds what it read until the answer is
/// made. The budget is taken when the handler first reads the body, after the key was checked:
/// a body that announces its length reserves it whole before a byte is read, a chunked one
/// takes the budget as its bytes arrive; without room, the answer is 503 at once.
pub(crate) async fn meter_bodies(
    State(state): State<BodyRules>,
    request: Request,
    next: Next,
) -> Response {
    let held = Arc::new(Held::default());
    // A client that waits for `100 Continue` sends nothing unless the body is read: a refused
    // request's body is then never sent, and there is nothing to throw away.
    let waits_to_send = request
        .headers()
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let announced = announced_length(request.headers()).unwrap_or(0);
    let (parts, body) = request.into_parts();
    let metered = Metered {
        inner: Some(body),
        announced,
        reserved: 0,
        read: 0,
        held: held.clone(),
        budget: state.budget,
        drain: (!waits_to_send).then_some(Drain {
            bytes: state.max_body_bytes,
            time: state.request_timeout,
        }),
    };
    let response = next
        .run(Request::from_parts(parts, Body::new(metered)))
        .await;
    if held.refused.load(Ordering::Relaxed) {
        return over_budget().into_response();
    }
    // The body's bytes are gone with the handler: the budget is free again.
    drop(held);
    response
}

fn announced_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// How much of an unread body is read and thrown away after the answer.
#[derive(Clone, Copy)]
struct Drain {
    bytes: usize,
    time: Duration,
}

/// A request body that counts what it reads against the budget, and whose unread rest is
/// thrown away after the answer rather than left in the socket (where it would make the
/// connection's close a reset, and the client lose the answer).
struct Metered {
    inner: Option<Body>,
    /// The length the request announced (Content-Length), reserved at the first read.
    announced: usize,
    /// Bytes of the budget this request holds.
    reserved: usize,
    read: usize,
    held: Arc<Held>,
    budget: BodyBudget,
    drain: Option<Drain>,
}

/// The budget had no room for the body: the middleware answers 503.
#[derive(Debug, thiserror::Error)]
#[error("the server has no room for this request body now (serve.body_budget_mb)")]
struct NoRoom;

impl Metered {
    /// Holds `total` bytes of the budget in all, or says there is no room.
    fn reserve(&mut self, total: usize) -> bool {
        let Some(permit) = self.budget.take(total.saturating_sub(self.reserved)) else {
            return false;
        };
        self.reserved = total;
        self.held.add(permit);
        true
    }
}

impl http_body::Body for Metered {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if this.inner.is_none() {
            return Poll::Ready(None);
        }
        let wanted = this.read.max(this.announced);
        if wanted > this.reserved && !this.reserve(wanted) {
            this.held.refused.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(axum::Error::new(NoRoom))));
        }
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = match Pin::new(inner).poll_frame(cx) {
            Poll::Ready(None) => {
                // Read to its end: nothing left to throw away.
                this.inner = None;
                return Poll::Ready(None);
            }
            other => other,
        };
        if let Poll::Ready(Some(Ok(frame))) = &frame
            && let Some(data) = frame.data_ref()
        {
            this.read = this.read.saturating_add(data.len());
            if this.read > this.reserved && !this.reserve(this.read) {
                this.held.refused.store(true, Ordering::Relaxed);
                return Poll::Ready(Some(Err(axum::Error::new(NoRoom))));
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner
            .as_ref()
            .is_none_or(http_body::Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), http_body::Body::size_hint)
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        let (Some(body), Some(drain)) = (self.inner.take(), self.drain) else {
            return;
        };
        if body.is_end_stream() {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(throw_away(body, drain));
        }
    }
}

/// How long a refused request's client may pause while it still sends its body: one that
/// stops (it announced a body and waits for the answer) is let go after this.
const DRAIN_PAUSE: Duration = Duration::from_secs(2);

/// Reads what a client still sends of a body nobody wants, holding one frame at a time, for
/// at most `drain`'s bytes and time, and while the client keeps sending; then the connection
/// closes.
async fn throw_away(mut body: Body, drain: Drain) {
    let mut left = drain.bytes;
    let read = tokio::time::timeout(drain.time, async {
        while let Ok(Some(Ok(frame))) = tokio::time::timeout(DRAIN_PAUSE, body.frame()).await {
            let len = frame.data_ref().map_or(0, Bytes::len);
            if len > left {
                return;
            }
            left -= len;
        }
    })
    .await;
    if read.is_err() {
        tracing::debug!("stopped reading a refused request's body: it took too long");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_is_taken_whole_or_not_at_all_and_given_back() {
        let budget = BodyBudget::new(100);
        let first = budget.take(60).unwrap();
        assert!(budget.take(50).is_none());
        let second = budget.take(40).unwrap();
        drop(first);
        assert!(budget.take(60).is_some());
        drop(second);
    }
}
