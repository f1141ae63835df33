//! `App`: what every connection's requests are answered by. `POST
//! /message` goes straight to its own route (`message.rs`); every other
//! request goes to the axum router, with the remote address it needs to
//! infer a joiner's. Answers have a body of either kind ([`AnswerBody`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::{Body, HttpBody};
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use axum::response::Response;
use axum::{BoxError, Router};
use bytes::Bytes;
use futures_util::future::{Either, FutureExt};
use http_body_util::Full;
use hyper::body::{Frame, SizeHint};
use tower::Service;

use super::message;
use super::server::{router, AppState};

/// The peer's endpoints: the message route in front of the router.
#[derive(Clone)]
pub(crate) struct App {
    state: AppState,
    router: Router,
}

/// An answer of the app.
pub(crate) type Answer = axum::http::Response<AnswerBody>;

/// An answer's body: a message's reply as the bytes written for it (no
/// box of its own: an allocation of every message), any other answer as
/// the router's boxed body.
pub(crate) enum AnswerBody {
    Bytes(Full<Bytes>),
    Router(Body),
}

impl AnswerBody {
    /// An answer made by axum (the router's, or an error's).
    pub(crate) fn of(response: Response) -> Answer {
        response.map(AnswerBody::Router)
    }
}

impl HttpBody for AnswerBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.get_mut() {
            AnswerBody::Bytes(bytes) => Pin::new(bytes)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            AnswerBody::Router(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            AnswerBody::Bytes(bytes) => bytes.is_end_stream(),
            AnswerBody::Router(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            AnswerBody::Bytes(bytes) => bytes.size_hint(),
            AnswerBody::Router(body) => body.size_hint(),
        }
    }
}

/// The path answered in front of the router.
const MESSAGE: &str = "/message";

impl App {
    /// The peer's endpoints over `state`: the message route, and the
    /// router of all the others.
    pub(crate) fn new(state: AppState) -> Self {
        App::with_router(state.clone(), router(state))
    }

    /// The message route in front of `router`, which answers every other
    /// request (tests give one with more routes, or their own connection
    /// info).
    pub(crate) fn with_router(state: AppState, router: Router) -> Self {
        App { state, router }
    }

    /// Answers one request. `remote`, where it came from, is given to the
    /// router as `ConnectInfo`; without it, the router must have its own.
    pub(crate) fn answer<B>(
        &self,
        mut request: Request<B>,
        remote: Option<SocketAddr>,
    ) -> impl Future<Output = Answer> + Send + 'static
    where
        B: HttpBody<Data = bytes::Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        // The router matches the path alone, query or not, and `POST` only.
        if request.method() == Method::POST && request.uri().path() == MESSAGE {
            return Either::Left(message::answer(self.state.clone(), request));
        }
        if let Some(remote) = remote {
            request.extensions_mut().insert(ConnectInfo(remote));
        }
        let answer = self.router.clone().call(request);
        Either::Right(answer.map(|response| match response {
            Ok(response) => AnswerBody::of(response),
            Err(never) => match never {},
        }))
    }
}

/// For callers that give the router its connection info themselves
/// (`MockConnectInfo`) and send requests with `oneshot`.
#[cfg(test)]
impl<B> Service<Request<B>> for App
where
    B: HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::BoxFuture<'static, Result<Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        Box::pin(
            self.answer(request, None)
                .map(|answer| Ok(answer.map(Body::new))),
        )
    }
}
