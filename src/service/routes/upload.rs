//! A photo in a request: the raw body as `image/jpeg` or `image/png`, or the field `image` of
//! a `multipart/form-data` form. Checked before any pixel is decoded: a JPEG or PNG by its
//! first bytes, whole (a cut JPEG decodes grey without an error), within the body limit.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};

use crate::base::image::Encoding;
use crate::service::error::ApiError;
use crate::service::state::AppState;

/// The bytes of an uploaded JPEG or PNG.
pub(crate) struct Upload(pub(crate) Vec<u8>);

const HOW: &str = "send the photo as the body with Content-Type image/jpeg or image/png, or as \
                   multipart/form-data with the photo in the field `image`";

impl FromRequest<Arc<AppState>> for Upload {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &Arc<AppState>) -> Result<Upload, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let bytes = if content_type.starts_with("multipart/form-data") {
            image_field(Multipart::from_request(request, state).await?).await?
        } else if content_type.starts_with("image/jpeg") || content_type.starts_with("image/png") {
            Bytes::from_request(request, state).await?.into()
        } else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "a photo cannot be sent as {:?}: {HOW}",
                    if content_type.is_empty() {
                        "no Content-Type"
                    } else {
                        &content_type
                    }
                ),
            ));
        };
        check(&bytes)?;
        Ok(Upload(bytes))
    }
}

async fn image_field(mut form: Multipart) -> Result<Vec<u8>, ApiError> {
    while let Some(field) = form.next_field().await? {
        if field.name() == Some("image") {
            return Ok(field.bytes().await?.into());
        }
    }
    Err(ApiError::bad_request(format!(
        "the form has no field `image`: {HOW}"
    )))
}

fn check(bytes: &[u8]) -> Result<(), ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_image(format!("the body is empty: {HOW}")));
    }
    let Some(encoding) = Encoding::sniff(bytes) else {
        return Err(ApiError::bad_image(format!(
            "the body is not a JPEG or PNG image: {HOW}"
        )));
    };
    if !encoding.is_complete(bytes) {
        return Err(ApiError::bad_image(
            "the image is truncated: it stops before its end marker; send the whole file",
        ));
    }
    Ok(())
}
