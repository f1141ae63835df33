//! The ceiling: a bare hyper server (`ceiling-server`) and a pooled hyper
//! client (`ceiling-client`) in two processes, exchanging the same small
//! JSON POST as the peers over keep-alive connections, with nothing else
//! around it: no routing, no JSON parsing, no membership. What peercloud
//! does on top of this is the cost of being a peer.

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

use super::load::{self, closed_loop, Window};
use super::{emit, runtime, serve_commands, unknown, BODY, REPLY};
use crate::Result;

/// How long one request may take, as a peer's message timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The id header the peers send, sent here too so the bytes match.
const SENDER: &str = "00000000-0000-4000-8000-000000000000";

/// Serves on 127.0.0.1 (a port the system picks) until stdin ends.
pub(crate) fn server_main() -> Result<()> {
    runtime()?.block_on(serve())
}

async fn serve() -> Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    emit(&json!({"event": "ready", "port": listener.local_addr()?.port()}));
    tokio::spawn(accept(listener));
    // Nothing is read from stdin; its end is the signal to stop.
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    std::process::exit(0)
}

async fn accept(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, most likely: let some close.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(reply))
                .await;
        });
    }
}

/// Reads the whole body, answers the fixed reply.
async fn reply(
    request: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, Infallible> {
    let _ = request.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(REPLY)));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// Measures against the ceiling server on `port`, on command, until stdin
/// ends. Answers `unicast {inflight, warmup_ms, ms, requests}` like a peer
/// does.
pub(crate) fn client_main(port: u16) -> Result<()> {
    let uri: Uri = format!("http://127.0.0.1:{port}/message").parse()?;
    runtime()?.block_on(async move {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        emit(&json!({"event": "ready", "port": port}));
        serve_commands(|command| answer(client.clone(), uri.clone(), command)).await;
        std::process::exit(0)
    })
}

type Pooled = Client<HttpConnector, Full<Bytes>>;

async fn answer(client: Pooled, uri: Uri, command: Value) -> Value {
    if command["cmd"].as_str() != Some("unicast") {
        return unknown(&command);
    }
    let window = Window::from_command(&command);
    closed_loop("unicast", load::inflight(&command), window, move || {
        post(client.clone(), uri.clone())
    })
    .await
}

/// One POST, read to the end; whether it succeeded.
async fn post(client: Pooled, uri: Uri) -> bool {
    let mut request = Request::new(Full::new(Bytes::from_static(BODY)));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.insert("x-peercloud-id", HeaderValue::from_static(SENDER));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    let exchange = async {
        let response = client.request(request).await.ok()?;
        let ok = response.status().is_success();
        response.into_body().collect().await.ok()?;
        Some(ok)
    };
    matches!(
        tokio::time::timeout(REQUEST_TIMEOUT, exchange).await,
        Ok(Some(true))
    )
}
