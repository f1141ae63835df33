//! `App`: what every connection's requests are answered by. `POST
//! /message` goes straight to its own route (`message.rs`); every other
//! request goes to the axum router, with the remote address it needs to
//! infer a joiner's.

use std::future::Future;
use std::net::SocketAddr;

use axum::body::HttpBody;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request};
use axum::response::Response;
use axum::{BoxError, Router};
use futures_util::future::{Either, FutureExt};
use tower::Service;

use super::message;
use super::server::{router, AppState};

/// The peer's endpoints: the message route in front of the router.
#[derive(Clone)]
pub(crate) struct App {
    state: AppState,
    router: Router,
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
    ) -> impl Future<Output = Response> + Send + 'static
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
            Ok(response) => response,
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
        Box::pin(self.answer(request, None).map(Ok))
    }
}
