//! HTTP tests of every endpoint: the real app (the message route and the
//! router) in front of the real core
//! and driver, whose calls to other peers go to a scripted fake transport.
//! Requests go in with `oneshot`; the remote address comes from
//! `MockConnectInfo`. Every answer must be JSON. The helpers are here, the
//! tests in one file per group of endpoints below this one; `serving` runs
//! the real accept loop over loopback sockets, and `fuzz` feeds them all
//! arbitrary requests.

mod fuzz;
mod health;
mod join;
mod message;
mod notices;
mod peer_state;
mod routes;
mod serving;
mod snapshot;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{Method, Request as HttpRequest, StatusCode};
use bytes::Bytes;
use futures_util::stream;
use http_body_util::BodyExt;
use peercloud_core::wire::{PeerInfo, ID_HEADER};
use peercloud_core::{Address, CallError, LeftReason, Request};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::server::router;
use super::{App, HANDLER_FAILED};
use crate::error::HandlerError;
use crate::event::Event;
use crate::handler::Handler;
use crate::limits::Limits;
use crate::node::testing::{Script, TestNode, NODE_ID};
use crate::peer::Peer;

/// The body limit of test nodes.
const LIMIT: usize = 1024;

/// Where joiners connect from: an IPv4 peer as a dual-stack socket reports
/// it, `::ffff:127.0.0.1`.
fn mapped_loopback() -> SocketAddr {
    SocketAddr::new(IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()), 50_000)
}

/// Echoes the sender and the body; `{"fail": msg}` fails with `msg`;
/// `{"panic": "later"}` panics inside the handler's future, `{"panic":
/// "at once"}` while making it.
fn echo_handler() -> Handler {
    Arc::new(|from: Peer, body: Value| {
        if body["panic"] == "at once" {
            panic!("test handler panics before its future");
        }
        Box::pin(async move {
            if body["panic"] == "later" {
                panic!("test handler panics in its future");
            }
            if let Some(message) = body["fail"].as_str() {
                return Err(HandlerError::new(message));
            }
            Ok(json!({ "from": from.id(), "data": from.data(), "got": body }))
        })
    })
}

async fn node() -> (TestNode, App) {
    let node = TestNode::start(echo_handler(), LIMIT).await;
    let app = app_of(&node);
    (node, app)
}

/// The app of `node`, whose router sees every request come from
/// [`mapped_loopback`].
fn app_of(node: &TestNode) -> App {
    let routes = router(node.state.clone()).layer(MockConnectInfo(mapped_loopback()));
    App::with_router(node.state.clone(), routes)
}

/// Like [`node`], under these limits.
async fn node_with(limits: &Limits) -> (TestNode, App) {
    let node = TestNode::start_with(echo_handler(), limits).await;
    let app = app_of(&node);
    (node, app)
}

fn addr(address: &str) -> Address {
    address.parse().expect("a valid test address")
}

fn post(path: &str, sender: Option<&str>, body: impl Into<Body>) -> HttpRequest<Body> {
    let mut request = HttpRequest::post(path).header(CONTENT_TYPE, "application/json");
    if let Some(sender) = sender {
        request = request.header(ID_HEADER, sender);
    }
    request.body(body.into()).expect("a valid request")
}

fn post_json(path: &str, sender: Option<&str>, body: Value) -> HttpRequest<Body> {
    post(path, sender, body.to_string())
}

/// Sends one request; checks that the answer is JSON, and returns it.
async fn send(app: &App, request: HttpRequest<Body>) -> (StatusCode, Value) {
    let what = format!("{} {}", request.method(), request.uri());
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "content type of the answer to {what} ({status})"
    );
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("the answer to {what} is not JSON ({e}): {bytes:?}"));
    (status, body)
}

/// Makes `id` a member listening on 127.0.0.1:`port`, through `/join`.
async fn join_member(node: &TestNode, app: &App, id: &str, port: u16) -> Value {
    node.transport
        .status_answers(&addr(&format!("127.0.0.1:{port}")), Some(id));
    let body = json!({"id": id, "ip": null, "port": port, "data": {"name": id}});
    let (status, reply) = send(app, post_json("/join", None, body)).await;
    assert_eq!(status, StatusCode::OK, "join of {id}: {reply}");
    reply
}

fn error_of(body: &Value) -> &str {
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
}
