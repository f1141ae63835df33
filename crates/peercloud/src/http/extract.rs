//! Extractors whose rejections are our own JSON errors: the request body
//! (with a size limit and a deadline), as bytes or as JSON, and the
//! sender's id header; and the same readings as functions, for the
//! `/message` route that is answered in front of the router.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use axum::body::HttpBody;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header::CONTENT_LENGTH, HeaderMap, HeaderName, StatusCode};
use axum::BoxError;
use bytes::{Bytes, BytesMut};
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
        let declared = declared_length(req.headers());
        read_body(req.into_body(), declared, state)
            .await
            .map(LimitedBody)
    }
}

/// The length a request's `Content-Length` declares, if it is a number.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads a body of at most the body limit, within the body timeout: one
/// whose `declared` length is over the limit is refused before a byte of
/// it is read.
pub(crate) async fn read_body<B>(
    body: B,
    declared: Option<u64>,
    state: &AppState,
) -> Result<Bytes, ApiError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limit = state.body_limit();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body is larger than {limit} bytes"),
        )
    };
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    read_limited(body, limit, state.body_timeout())
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => too_large(),
            ReadError::TooSlow(timeout) => too_slow(timeout),
            ReadError::Broken(why) => ApiError::bad_request(format!("cannot read body: {why}")),
        })
}

/// A JSON body (an application message). An empty body reads as `{}`, as
/// the original's body parser does.
pub(crate) fn json_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(text).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            ApiError::bad_request(format!("malformed JSON: {e}"))
        } else {
            ApiError::bad_request(format!("invalid request: {e}"))
        }
    })
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
async fn read_limited<B>(body: B, limit: usize, timeout: Duration) -> Result<Bytes, ReadError>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut read = pin!(collect(Limited::new(body, limit)));
    // A small body is nearly always whole when its head is read: its
    // deadline's timer (a clock read, and a timer armed and dropped) is
    // set only for one that is not, from the moment that is known.
    let read = match poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
        Poll::Ready(read) => read,
        Poll::Pending => match tokio::time::timeout(timeout, read).await {
            Ok(read) => read,
            Err(_) => return Err(ReadError::TooSlow(timeout)),
        },
    };
    match read {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ReadError::TooLarge),
        Err(e) => Err(ReadError::Broken(e.to_string())),
    }
}

/// The data of a body, trailers dropped. A body of one frame (a small
/// message, as nearly all are) is that frame's bytes, not a copy. The
/// client reads replies with it too.
pub(crate) async fn collect<B: HttpBody<Data = Bytes>>(body: B) -> Result<Bytes, B::Error> {
    let mut body = std::pin::pin!(body);
    let mut first = Bytes::new();
    let mut more: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        match &mut more {
            Some(more) => more.extend_from_slice(&data),
            None if first.is_empty() => first = data,
            None => {
                let mut joined = BytesMut::with_capacity(first.len() + data.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                more = Some(joined);
            }
        }
    }
    Ok(more.map_or(first, BytesMut::freeze))
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
        sender_of(&parts.headers).map(SenderId)
    }
}

/// The id header's name, made once: looked up by a `&str`, it would be
/// parsed again for every request.
static SENDER: HeaderName = HeaderName::from_static(ID_HEADER);

/// The sender a request's `x-peercloud-id` header names, if it has one;
/// one that is not a valid id is a bad request.
pub(crate) fn sender_of(headers: &HeaderMap) -> Result<Option<PeerId>, ApiError> {
    let Some(name) = sender_name(headers)? else {
        return Ok(None);
    };
    PeerId::parse(name).map(Some).map_err(|_| invalid_sender())
}

/// The same, as the header's string, checked as an id but not copied: a
/// message's sender is looked up by it.
pub(crate) fn sender_name(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(&SENDER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|v| PeerId::check(v).is_ok())
        .map(Some)
        .ok_or_else(invalid_sender)
}

/// The answer to an `x-peercloud-id` header that is not an id.
pub(crate) fn invalid_sender() -> ApiError {
    ApiError::bad_request(format!("invalid {ID_HEADER} header"))
}
