//! Extractors whose rejections are our own JSON errors: the request body
//! (with a size limit and a deadline), as bytes or as JSON, and the
//! sender's id header.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header::CONTENT_LENGTH, StatusCode};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use peercloud_core::wire::{Envelope, ID_HEADER};
use peercloud_core::PeerId;
use serde::de::DeserializeOwned;

use super::api_error::ApiError;
use super::server::AppState;

/// A request body, read up to the configured limit and within the body
/// timeout.
pub(crate) struct LimitedBody(pub(crate) Bytes);

impl FromRequest<AppState> for LimitedBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let limit = state.body_limit();
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body is larger than {limit} bytes"),
            )
        };
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64) {
            return Err(too_large());
        }
        read_limited(req.into_body(), limit, state.body_timeout())
            .await
            .map(LimitedBody)
            .map_err(|e| match e {
                ReadError::TooLarge => too_large(),
                ReadError::TooSlow(timeout) => too_slow(timeout),
                ReadError::Broken(why) => ApiError::bad_request(format!("cannot read body: {why}")),
            })
    }
}

/// A JSON body (an application message), read as [`LimitedBody`]. An empty
/// body reads as `{}`, as the original's body parser does.
pub(crate) struct JsonBody<T>(pub(crate) T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let LimitedBody(bytes) = LimitedBody::from_request(req, state).await?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(text).map(JsonBody).map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                ApiError::bad_request(format!("malformed JSON: {e}"))
            } else {
                ApiError::bad_request(format!("invalid request: {e}"))
            }
        })
    }
}

/// The gossip of a `/status` request, which anyone may send with any body:
/// a body that is not an envelope (an original peer's `{}`, or anything
/// else) reads as an empty one, as the original ignores the body.
pub(crate) struct StatusBody(pub(crate) Envelope);

impl FromRequest<AppState> for StatusBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let body = read_limited(req.into_body(), state.body_limit(), state.body_timeout());
        let envelope = match body.await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            // The body is ignored, but not waited for without end.
            Err(ReadError::TooSlow(timeout)) => return Err(too_slow(timeout)),
            Err(_) => Envelope::default(),
        };
        Ok(StatusBody(envelope))
    }
}

enum ReadError {
    TooLarge,
    /// Not all there within this timeout.
    TooSlow(Duration),
    Broken(String),
}

/// Reads a body of at most `limit` bytes that must arrive within `timeout`.
async fn read_limited(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, ReadError> {
    let read = tokio::time::timeout(timeout, Limited::new(body, limit).collect());
    match read.await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ReadError::TooLarge),
        Ok(Err(e)) => Err(ReadError::Broken(e.to_string())),
        Err(_) => Err(ReadError::TooSlow(timeout)),
    }
}

/// The answer to a body that did not arrive in time; the connection is
/// closed after it, since the rest of the body is not read.
fn too_slow(timeout: Duration) -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!("the body did not arrive within {timeout:?}"),
    )
}

/// The `x-peercloud-id` header, if any. A header that is present but not a
/// valid id is a bad request.
pub(crate) struct SenderId(pub(crate) Option<PeerId>);

impl<S: Send + Sync> FromRequestParts<S> for SenderId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(ID_HEADER) else {
            return Ok(SenderId(None));
        };
        let id = value
            .to_str()
            .ok()
            .and_then(|v| PeerId::parse(v).ok())
            .ok_or_else(|| ApiError::bad_request(format!("invalid {ID_HEADER} header")))?;
        Ok(SenderId(Some(id)))
    }
}
