//! The HTTP server: one route per protocol endpoint. Handlers only parse,
//! validate and forward: membership requests go to the driver, `/status`
//! and `/peers` are read from the published snapshot, and `/message` goes to
//! the application's handler.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request as HttpRequest, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::FutureExt;
use peercloud_core::wire::{
    Ack, Envelope, JoinReply, JoinRequest, LeftRequest, PeerInfo, PeersReply, ProbeReply,
    ProbeRequest, StatusReply,
};
use peercloud_core::{Origin, PeerId, Refusal, Request, Response};
use serde_json::Value;
use tokio::sync::oneshot;

use super::api_error::ApiError;
use super::extract::{JsonBody, SenderId, StatusBody};
use crate::event::Event;
use crate::handler::Handler;
use crate::limits::Limits;
use crate::node::{Input, Link};
use crate::peer::Peer;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    inner: Arc<Shared>,
}

struct Shared {
    link: Arc<Link>,
    handler: Handler,
    body_limit: usize,
    body_timeout: Duration,
}

impl AppState {
    /// What the handlers share; bodies are read under `limits`.
    pub(crate) fn new(link: Arc<Link>, handler: Handler, limits: &Limits) -> Self {
        AppState {
            inner: Arc::new(Shared {
                link,
                handler,
                body_limit: limits.body_limit,
                body_timeout: limits.body_timeout,
            }),
        }
    }

    /// The largest body read.
    pub(crate) fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// How long a body may take to arrive.
    pub(crate) fn body_timeout(&self) -> Duration {
        self.inner.body_timeout
    }

    /// Hands a membership request to the driver and waits for its reply.
    async fn membership(&self, origin: Origin, request: Request) -> Result<Response, ApiError> {
        let (reply_tx, reply_rx) = oneshot::channel();
        let input = Input::Request {
            origin,
            request: Box::new(request),
            reply_tx,
        };
        if !self.inner.link.input(input).await {
            return Err(ApiError::shutting_down());
        }
        match reply_rx.await {
            Ok(reply) => reply.map_err(ApiError::from),
            Err(_) => Err(ApiError::shutting_down()),
        }
    }
}

/// The peer's routes, guarded against panics. Serve it with
/// [`serve`](super::serve::serve) (or with a `ConnectInfo<SocketAddr>`
/// extension some other way) so that joiners' addresses can be inferred.
pub(crate) fn router(state: AppState) -> Router {
    guarded(routes(state))
}

/// Answers a request whose handling panicked with a JSON `500`, on every
/// route: the panic ends that request only, and the peer and the
/// connection serve on.
pub(crate) fn guarded(routes: Router) -> Router {
    routes.layer(middleware::from_fn(catch_panic))
}

async fn catch_panic(request: HttpRequest, next: Next) -> HttpResponse {
    let path = request.uri().path().to_owned();
    // The route's extractors and handler all run inside this future, so a
    // panic anywhere in them is caught here.
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(path, "a request handler panicked");
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/join", post(join))
        .route("/joined", post(joined))
        .route("/left", post(left))
        .route("/status", post(status))
        .route("/message", post(message))
        .route("/peers", post(peers))
        .route("/probe", post(probe))
        .route("/gossip", post(gossip))
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .with_state(state)
}

/// Unknown paths and non-POST methods: 404, as the original answers, but JSON.
async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no endpoint {method} {}", uri.path()),
    )
}

async fn join(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    SenderId(sender): SenderId,
    JsonBody(join): JsonBody<JoinRequest>,
) -> Result<Json<JoinReply>, ApiError> {
    let origin = Origin {
        sender,
        remote: remote.ip(),
    };
    match state.membership(origin, Request::Join(join)).await? {
        Response::Join(reply) => Ok(Json(reply)),
        _ => Err(unexpected()),
    }
}

async fn joined(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    SenderId(sender): SenderId,
    JsonBody(info): JsonBody<PeerInfo>,
) -> Result<Json<Ack>, ApiError> {
    let origin = notice_origin(sender, remote)?;
    match state.membership(origin, Request::Joined(info)).await? {
        Response::Joined(ack) => Ok(Json(ack)),
        _ => Err(unexpected()),
    }
}

async fn left(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    SenderId(sender): SenderId,
    JsonBody(left): JsonBody<LeftRequest>,
) -> Result<Json<Ack>, ApiError> {
    let origin = notice_origin(sender, remote)?;
    match state.membership(origin, Request::Left(left)).await? {
        Response::Left(ack) => Ok(Json(ack)),
        _ => Err(unexpected()),
    }
}

/// `/joined`, `/left`, `/probe` and `/gossip` need a sender; refusing a
/// missing one here saves the driver a hop.
fn notice_origin(sender: Option<PeerId>, remote: SocketAddr) -> Result<Origin, ApiError> {
    match sender {
        Some(sender) => Ok(Origin {
            sender: Some(sender),
            remote: remote.ip(),
        }),
        None => Err(Refusal::MissingSender.into()),
    }
}

/// Anyone may ask. A plain request (an original peer's `{}`) is answered
/// from the snapshot; a peercloud peer's probe carries gossip, which the
/// driver merges before it answers with its own.
async fn status(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    SenderId(sender): SenderId,
    StatusBody(envelope): StatusBody,
) -> Result<Json<StatusReply>, ApiError> {
    if envelope.is_empty() || sender.is_none() {
        return Ok(Json(state.inner.link.snapshot().status.clone()));
    }
    let origin = Origin {
        sender,
        remote: remote.ip(),
    };
    match state.membership(origin, Request::Status(envelope)).await? {
        Response::Status(reply) => Ok(Json(reply)),
        _ => Err(unexpected()),
    }
}

/// An indirect probe asked by a member (a peercloud extension).
async fn probe(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    SenderId(sender): SenderId,
    JsonBody(probe): JsonBody<ProbeRequest>,
) -> Result<Json<ProbeReply>, ApiError> {
    let origin = notice_origin(sender, remote)?;
    match state.membership(origin, Request::Probe(probe)).await? {
        Response::Probe(reply) => Ok(Json(reply)),
        _ => Err(unexpected()),
    }
}

/// Gossip pushed by a peer (a peercloud extension).
async fn gossip(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    SenderId(sender): SenderId,
    JsonBody(envelope): JsonBody<Envelope>,
) -> Result<Json<Envelope>, ApiError> {
    let origin = notice_origin(sender, remote)?;
    match state.membership(origin, Request::Gossip(envelope)).await? {
        Response::Gossip(reply) => Ok(Json(reply)),
        _ => Err(unexpected()),
    }
}

/// The member list, for operators (a Rust-only endpoint).
async fn peers(State(state): State<AppState>) -> Json<PeersReply> {
    Json(state.inner.link.snapshot().peers_reply())
}

/// An application message from a member, handed to the message handler.
async fn message(
    State(state): State<AppState>,
    SenderId(sender): SenderId,
    JsonBody(body): JsonBody<Value>,
) -> Result<Json<Value>, ApiError> {
    let sender = sender.ok_or(Refusal::MissingSender)?;
    let link = &state.inner.link;
    let member = link
        .snapshot()
        .member(&sender)
        .cloned()
        .ok_or(Refusal::UnknownSender(sender))?;
    let from = Peer::new(member, link.clone());
    link.emit_with(|| Event::MessageReceived {
        from: from.clone(),
        body: body.clone(),
    });
    // A panicking handler must not take the connection down with it: the
    // call goes inside the caught future, so that a handler that panics
    // before it returns its future is caught too.
    match AssertUnwindSafe(async { (state.inner.handler)(from, body).await })
        .catch_unwind()
        .await
    {
        Ok(Ok(reply)) => Ok(Json(reply)),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "message handler failed");
            Err(ApiError::handler_failed(e.message()))
        }
        Err(_) => {
            tracing::error!("message handler panicked");
            Err(ApiError::handler_failed("the handler panicked"))
        }
    }
}

fn unexpected() -> ApiError {
    tracing::error!("the driver answered with the reply of another request");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}
