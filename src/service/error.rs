//! Every failure answered the same way: the right status and
//! `{"error": {"code": ..., "message": ...}}`, the message saying what to do. A client's
//! mistake is told specifically; a failure of the server (5xx) only generically, with the
//! request's id, under which the router's middleware logs the cause once: causes name files,
//! servers and internals that are no client's business.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::base::error::Error;

/// An error answer.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after_secs: Option<u32>,
    /// What failed inside, for the server's log only.
    cause: Option<String>,
}

/// A server failure's answer, left in the response for the middleware that knows the
/// request's id to finish ([`ApiError::answer`]) and to log its cause.
#[derive(Debug, Clone)]
pub(crate) struct ServerFailure(pub(crate) ApiError);

/// The cause of a failure whose answer is finished already (`/healthz`), for the middleware to
/// log with the request's id.
#[derive(Debug, Clone)]
pub(crate) struct Cause(pub(crate) String);

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable, for programs: `unauthorized`, `forbidden`, `not_found`, `no_route`,
    /// `bad_request`, `bad_image`, `unsupported_media_type`, `too_large`, `name_taken`, `ambiguous`,
    /// `duplicate`, `rejected`, `busy`, `timeout`, `unavailable`, `internal`.
    code: String,
    /// For people: what went wrong and what to do.
    message: String,
    /// With a 5xx answer: the request's id (also the `x-request-id` header), under which the
    /// server logged what failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    request_id: Option<String>,
}

impl ApiError {
    pub(crate) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_secs: None,
            cause: None,
        }
    }

    pub(crate) fn unauthorized(message: &str) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub(crate) fn forbidden(message: &str) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn bad_image(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_image", message)
    }

    /// Every pipeline is busy: try again in a moment.
    pub(crate) fn busy() -> ApiError {
        ApiError::busy_with(
            "every recognition pipeline is busy and the queue is full; retry after a second (config: serve.workers, serve.queue)",
        )
    }

    /// The server has no room for this request now (`message` says which limit): try again in
    /// a second.
    pub(crate) fn busy_with(message: &str) -> ApiError {
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
        }
    }

    /// A client sends faster than its share (`message` says which): again in a second.
    pub(crate) fn too_many(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many", message)
        }
    }

    /// An answer some layer gave without a body of ours (413 from the body limit, 408 from the
    /// timeout, 405, ...), in our format.
    pub(crate) fn from_status(status: StatusCode) -> ApiError {
        let (code, message) = match status {
            StatusCode::PAYLOAD_TOO_LARGE => (
                "too_large",
                "the request body is larger than the server accepts (config: serve.max_body_mb)".to_owned(),
            ),
            StatusCode::REQUEST_TIMEOUT => (
                "timeout",
                "the request took longer than the server allows (config: serve.request_timeout_secs)".to_owned(),
            ),
            StatusCode::METHOD_NOT_ALLOWED => (
                "method_not_allowed",
                "this route does not take that method; see /v1/openapi.json".to_owned(),
            ),
            other => (
                "error",
                other.canonical_reason().unwrap_or("error").to_owned(),
            ),
        };
        ApiError::new(status, code, message)
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// What a person reads.
    pub(crate) fn message(&self) -> &str {
        &self.message
    }

    /// What failed inside, when the server failed: for its log, never for the client.
    pub(crate) fn cause(&self) -> Option<&str> {
        self.cause.as_deref()
    }

    /// What the server's log says of it: the cause, or else the message.
    pub(crate) fn logged(&self) -> &str {
        self.cause().unwrap_or(&self.message)
    }

    /// The answer; a server failure's names the request's id.
    pub(crate) fn answer(self, request_id: Option<&str>) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                request_id: request_id.map(str::to_owned),
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        let (status, code) = match &error {
            Error::InvalidInput(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Error::UnknownPerson(_) | Error::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            Error::NameTaken(_) | Error::KeyNameTaken(_) => (StatusCode::CONFLICT, "name_taken"),
            Error::AmbiguousName { .. } => (StatusCode::CONFLICT, "ambiguous"),
            Error::Photo { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "bad_image"),
            Error::Gallery { .. } => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        if !status.is_server_error() {
            return ApiError::new(status, code, error.report());
        }
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            "the gallery cannot be reached just now; try again shortly, and if it lasts, give \
             the server's operator the request id: its log says what failed"
        } else {
            "the server failed to answer; give its operator the request id: its log says what \
             failed"
        };
        ApiError {
            cause: Some(error.report()),
            ..ApiError::new(status, code, message)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            let mut response = self.status.into_response();
            response.extensions_mut().insert(ServerFailure(self));
            return response;
        }
        // A client's error needs no id: nothing was logged.
        self.answer(None)
    }
}

/// A rejection of one of axum's extractors (JSON, path, query, body) in our format.
macro_rules! from_rejection {
    ($($rejection:ty => $code:literal),* $(,)?) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> ApiError {
                let status = rejection.status();
                let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { $code };
                ApiError::new(status, code, rejection.body_text())
            }
        }
    )*};
}

from_rejection! {
    axum::extract::rejection::JsonRejection => "bad_request",
    axum::extract::rejection::PathRejection => "bad_request",
    axum::extract::rejection::QueryRejection => "bad_request",
    axum::extract::rejection::BytesRejection => "bad_request",
    axum::extract::multipart::MultipartRejection => "bad_request",
    axum::extract::multipart::MultipartError => "bad_request",
}
