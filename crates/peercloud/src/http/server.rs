//! The HTTP server: the protocol's endpoints. Handlers only parse,
//! validate and forward: membership requests go, read by the wire codec
//! that the client and the simulator use too, to the driver; `/status`
//! and `/peers` are read from the published snapshot. `/message` is
//! answered in front of this router (`message.rs`).

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::body::HttpBody;
use axum::extract::{ConnectInfo, Request as HttpRequest, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::post;
use axum::Router;
use futures_util::FutureExt;
use peercloud_core::wire::{decode_request, encode_reply, CodecError};
use peercloud_core::{Origin, PeerId, Refusal, Request, Response};
use tokio::sync::oneshot;

use super::api_error::ApiError;
use super::extract::{LimitedBody, SenderId, StatusBody};
use crate::handler::Handler;
use crate::limits::Limits;
use crate::node::{Input, Link};

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

    /// The way to the cloud: the snapshot, the events, the metrics.
    pub(crate) fn link(&self) -> &Arc<Link> {
        &self.inner.link
    }

    /// The application's message handler.
    pub(crate) fn handler(&self) -> &Handler {
        &self.inner.handler
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
    let counted = routes(state.clone()).layer(middleware::from_fn_with_state(state, count_bytes));
    guarded(counted)
}

/// Counts the body bytes of each request (as its `Content-Length` says)
/// and of each answer (all of ours have a known length).
async fn count_bytes(
    State(state): State<AppState>,
    request: HttpRequest,
    next: Next,
) -> HttpResponse {
    let traffic = &state.inner.link.recorder().server;
    let length = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    traffic.received(length.unwrap_or(0));
    let response = next.run(request).await;
    let sent = response.body().size_hint().exact().unwrap_or(0);
    traffic.sent(usize::try_from(sent).unwrap_or(usize::MAX));
    response
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
        .route("/join", post(membership))
        .route("/joined", post(membership))
        .route("/left", post(membership))
        .route("/status", post(status))
        .route("/peers", post(peers))
        .route("/probe", post(membership))
        .route("/gossip", post(membership))
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

/// `/join`, `/joined`, `/left`, `/probe` and `/gossip`: the body is read
/// by the wire codec (the one the client writes with), handed to the
/// driver, and its reply written back by the codec.
async fn membership(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    uri: Uri,
    SenderId(sender): SenderId,
    LimitedBody(body): LimitedBody,
) -> Result<WireReply, ApiError> {
    let request = decode_request(uri.path(), &body)?;
    let origin = match request {
        // Anyone may ask to join.
        Request::Join(_) => Origin {
            sender,
            remote: remote.ip(),
        },
        _ => notice_origin(sender, remote)?,
    };
    let path = request.path();
    let response = state.membership(origin, request).await?;
    WireReply::to(path, response)
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

/// Anyone may ask. A plain request (an original peer's `{}`, or any body
/// at all: the original ignores it) is answered from the snapshot; a
/// peercloud peer's probe carries gossip, which the driver merges before
/// it answers with its own.
async fn status(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    SenderId(sender): SenderId,
    StatusBody(envelope): StatusBody,
) -> Result<WireReply, ApiError> {
    if envelope.is_empty() || sender.is_none() {
        let status = state.inner.link.snapshot().status.clone();
        return Ok(WireReply(Response::Status(status)));
    }
    let origin = Origin {
        sender,
        remote: remote.ip(),
    };
    let response = state.membership(origin, Request::Status(envelope)).await?;
    WireReply::to("/status", response)
}

/// The member list, for operators and for peers whose lists differ (a
/// Rust-only endpoint): all of it, or what the asker does not hold when
/// it says what it holds. Read by the wire codec, answered from the
/// snapshot.
async fn peers(
    State(state): State<AppState>,
    LimitedBody(body): LimitedBody,
) -> Result<WireReply, ApiError> {
    let request = match decode_request("/peers", &body)? {
        Request::Peers(request) => request,
        other => {
            tracing::error!(
                path = other.path(),
                "the codec read /peers as another request"
            );
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ));
        }
    };
    let reply = state.inner.link.snapshot().peers_reply(&request);
    Ok(WireReply(Response::Peers(reply)))
}

/// A membership reply, written by the wire codec.
struct WireReply(Response);

impl WireReply {
    /// The driver's reply to a request to `path`, which must be the reply
    /// of that request: the client reads it by the path it called.
    fn to(path: &str, response: Response) -> Result<WireReply, ApiError> {
        if response.path() == path {
            Ok(WireReply(response))
        } else {
            tracing::error!(
                path,
                "the driver answered with the reply of another request"
            );
            Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error",
            ))
        }
    }
}

impl IntoResponse for WireReply {
    fn into_response(self) -> HttpResponse {
        let body = encode_reply(&self.0);
        let json = HeaderValue::from_static("application/json");
        ([(CONTENT_TYPE, json)], body).into_response()
    }
}

impl From<CodecError> for ApiError {
    fn from(error: CodecError) -> Self {
        match error {
            CodecError::UnknownPath(path) => {
                ApiError::new(StatusCode::NOT_FOUND, format!("no endpoint POST {path}"))
            }
            other => ApiError::bad_request(other.to_string()),
        }
    }
}
