//! `POST /message`, the one request every application exchange makes,
//! answered in front of the router: the sender's header, the body (under
//! the limits), its JSON, the sender's membership in the snapshot, the
//! application's handler and its JSON reply, in the order and with the
//! answers the router's extractors gave, without the router's boxed
//! services and middleware futures on the way (they were most of the
//! allocations of an answered message).

use std::panic::AssertUnwindSafe;

use axum::body::HttpBody;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::IntoResponse;
use axum::BoxError;
use futures_util::FutureExt;
use http_body_util::Full;
use peercloud_core::{PeerId, Refusal};
use serde_json::Value;

use super::api_error::ApiError;
use super::app::{Answer, AnswerBody};
use super::body_buffer;
use super::extract::{declared_length, invalid_sender, json_body, read_body, sender_name};
use super::server::AppState;
use crate::event::Event;
use crate::metrics::Received;
use crate::peer::Peer;

/// Answers a `POST /message` as the router's layers would: its body bytes
/// (as `Content-Length` declares them) and its answer's are counted, and a
/// panic anywhere in it is a JSON `500` for this request only.
pub(crate) async fn answer<B>(state: AppState, request: Request<B>) -> Answer
where
    B: HttpBody<Data = bytes::Bytes>,
    B::Error: Into<BoxError>,
{
    let traffic = &state.link().recorder().server;
    let declared = declared_length(request.headers());
    traffic.received(declared.and_then(|n| usize::try_from(n).ok()).unwrap_or(0));
    match AssertUnwindSafe(message(&state, request, declared))
        .catch_unwind()
        .await
    {
        Ok(answer) => {
            let response = answer.unwrap_or_else(|e| AnswerBody::of(e.into_response()));
            let sent = response.body().size_hint().exact().unwrap_or(0);
            traffic.sent(usize::try_from(sent).unwrap_or(usize::MAX));
            response
        }
        Err(_) => {
            tracing::error!(path = "/message", "a request handler panicked");
            internal_error()
        }
    }
}

fn internal_error() -> Answer {
    AnswerBody::of(
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
    )
}

/// The message itself: a malformed header, then the body, then a missing
/// or unknown sender are refused, in that order.
async fn message<B>(
    state: &AppState,
    request: Request<B>,
    declared: Option<u64>,
) -> Result<Answer, ApiError>
where
    B: HttpBody<Data = bytes::Bytes>,
    B::Error: Into<BoxError>,
{
    // The head is kept for the sender's name, which is checked here but
    // looked up (and made into an id only if unknown) after the body.
    let (head, body) = request.into_parts();
    let sender = sender_name(&head.headers)?;
    let bytes = read_body(body, declared, state).await?;
    let body: Value = json_body(&bytes)?;
    let sender = sender.ok_or(Refusal::MissingSender)?;
    let link = state.link();
    let recorder = link.recorder();
    let Some(member) = link.snapshot().member_named(sender).cloned() else {
        recorder.message_received(Received::UnknownSender, None);
        let sender = PeerId::parse(sender).map_err(|_| invalid_sender())?;
        return Err(Refusal::UnknownSender(sender).into());
    };
    let from = Peer::new(member, link.clone());
    link.emit_with(|| Event::MessageReceived {
        from: from.clone(),
        body: body.clone(),
    });
    // A panicking handler must not take the connection down with it: the
    // call goes inside the caught future, so that a handler that panics
    // before it returns its future is caught too.
    let started = tokio::time::Instant::now();
    let answer = AssertUnwindSafe(async { (state.handler())(from, body).await })
        .catch_unwind()
        .await;
    let took = Some(started.elapsed());
    match answer {
        Ok(Ok(reply)) => {
            recorder.message_received(Received::Ok, took);
            Ok(json_reply(&reply))
        }
        Ok(Err(e)) => {
            recorder.message_received(Received::HandlerFailed, took);
            tracing::debug!(error = %e, "message handler failed");
            Err(ApiError::handler_failed(e.message()))
        }
        Err(_) => {
            recorder.message_received(Received::HandlerPanicked, took);
            tracing::error!("message handler panicked");
            Err(ApiError::handler_failed("the handler panicked"))
        }
    }
}

/// The handler's reply as a `200` with a JSON body, the bytes axum's
/// `Json` would write.
fn json_reply(reply: &Value) -> Answer {
    // Writing a `Value` cannot fail: its maps have string keys.
    let Ok(bytes) = body_buffer::json(reply) else {
        return internal_error();
    };
    let mut response = Answer::new(AnswerBody::Bytes(Full::new(bytes)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
