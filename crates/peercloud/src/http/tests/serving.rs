//! The accept loop over real sockets on loopback: each limit hit
//! (connections in all and per address, the header, body, idle and
//! handshake timeouts), a body over the limit answered `413` however the
//! client sends it, and panics answered `500` with the peer serving on.
//! Strangers connect from 127.0.0.2, so that 127.0.0.1 is another source.
//! Every wait has a deadline; none is a bare sleep.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::post;
use http_body_util::{Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;
use crate::http::connection::{Accept, Plain};
use crate::http::serve;
use crate::http::server::guarded;

/// The longest any expected event may take.
const DEADLINE: Duration = Duration::from_secs(10);

/// A short timeout, for the limit under test.
const SHORT: Duration = Duration::from_millis(300);

fn stranger() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2))
}

fn member_ip() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// `app` served by the real accept loop on 127.0.0.1:0; stops when dropped.
struct Served {
    addr: SocketAddr,
    _stop_tx: oneshot::Sender<()>,
    _task: AbortOnDrop,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn serve_app<A: Accept>(app: App, acceptor: A, limits: Limits) -> Served {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("a local address");
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let stopped = async move {
            let _ = stop_rx.await;
        };
        serve::serve(listener, acceptor, app, &limits, stopped).await;
    });
    Served {
        addr,
        _stop_tx: stop_tx,
        _task: AbortOnDrop(task),
    }
}

/// A test node's routes (and `/boom`, which panics) served under `limits`.
async fn serve_node(limits: Limits) -> (TestNode, Served) {
    let node = TestNode::start_with(echo_handler(), &limits).await;
    let routes = guarded(router(node.state.clone()).route("/boom", post(boom)));
    let app = App::with_router(node.state.clone(), routes);
    let served = serve_app(app, Plain, limits).await;
    (node, served)
}

async fn boom() -> &'static str {
    panic!("a route that panics, for the test")
}

/// A connection to `to` from `from` (any port).
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.bind(SocketAddr::new(from, 0)).expect("bind");
    socket.connect(to).await.expect("connect")
}

/// An HTTP/1.1 client over a connection from `from`, and the task that
/// drives it (it ends when the connection closes).
async fn client_from(from: IpAddr, to: SocketAddr) -> (SendRequest<Full<Bytes>>, JoinHandle<()>) {
    let tcp = connect_from(from, to).await;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    (sender, driver)
}

/// Posts `body` to `path` on `sender`'s connection; the status and the
/// JSON answer.
async fn post_on(sender: &mut SendRequest<Full<Bytes>>, path: &str, body: &str) -> (u16, Value) {
    let request = HttpRequest::post(path)
        .header("host", "peer")
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("a valid request");
    let response = timeout(DEADLINE, sender.send_request(request))
        .await
        .expect("an answer in time")
        .expect("an answer");
    json_of(response).await
}

async fn json_of(response: hyper::Response<Incoming>) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "status {status}: {bytes:?}"
    );
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {bytes:?}"));
    (status, body)
}

/// Whether the server closes `stream` within `within`, whatever it sends
/// first.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    timeout(within, closed).await.is_ok()
}

/// A status request from `from` gets its answer.
async fn status_ok_from(from: IpAddr, to: SocketAddr) {
    let (mut sender, _driver) = client_from(from, to).await;
    let (status, reply) = post_on(&mut sender, "/status", "{}").await;
    assert_eq!(status, 200, "{reply}");
}

#[tokio::test]
async fn a_route_that_panics_answers_a_json_500_and_the_connection_and_peer_serve_on() {
    let (_node, served) = serve_node(Limits::default()).await;
    let (mut sender, _driver) = client_from(member_ip(), served.addr).await;
    for _ in 0..3 {
        let (status, reply) = post_on(&mut sender, "/boom", "{}").await;
        assert_eq!((status, reply), (500, json!({"error": "internal error"})));
        let (status, reply) = post_on(&mut sender, "/status", "{}").await;
        assert_eq!(status, 200, "the same connection serves on: {reply}");
    }
    status_ok_from(member_ip(), served.addr).await;
}

#[tokio::test]
async fn a_source_past_its_connections_is_closed_at_once_while_others_are_served() {
    let limits = Limits {
        max_connections_per_ip: 3,
        ..Limits::default()
    };
    let (_node, served) = serve_node(limits).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let (mut sender, driver) = client_from(stranger(), served.addr).await;
        assert_eq!(post_on(&mut sender, "/status", "{}").await.0, 200);
        held.push((sender, driver));
    }
    let mut excess = connect_from(stranger(), served.addr).await;
    assert!(closed_within(&mut excess, DEADLINE).await, "not closed");
    status_ok_from(member_ip(), served.addr).await;

    // A place freed is a place for the same source again.
    drop(held.pop());
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (mut sender, _driver) = client_from(stranger(), served.addr).await;
        let request = HttpRequest::post("/status")
            .header("host", "peer")
            .body(Full::new(Bytes::from_static(b"{}")))
            .expect("a valid request");
        if timeout(DEADLINE, sender.send_request(request))
            .await
            .is_ok_and(|answer| answer.is_ok())
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed connection's place was never freed"
        );
    }
}

#[tokio::test]
async fn past_the_connections_in_all_anyone_is_closed_at_once() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let (_node, served) = serve_node(limits).await;
    let (mut first, _d1) = client_from(stranger(), served.addr).await;
    assert_eq!(post_on(&mut first, "/status", "{}").await.0, 200);
    let other = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let (mut second, _d2) = client_from(other, served.addr).await;
    assert_eq!(post_on(&mut second, "/status", "{}").await.0, 200);
    let mut third = connect_from(member_ip(), served.addr).await;
    assert!(closed_within(&mut third, DEADLINE).await, "not closed");
}

#[tokio::test]
async fn a_silent_or_half_sent_head_is_closed_after_the_header_timeout() {
    let limits = Limits {
        header_timeout: SHORT,
        idle_timeout: Duration::from_secs(600),
        ..Limits::default()
    };
    let (_node, served) = serve_node(limits).await;
    let mut silent = connect_from(stranger(), served.addr).await;
    let mut half = connect_from(stranger(), served.addr).await;
    half.write_all(b"POST /status HTTP/1.1\r\nhost: peer\r\n")
        .await
        .expect("write");
    assert!(
        closed_within(&mut silent, DEADLINE).await,
        "silent one open"
    );
    assert!(
        closed_within(&mut half, DEADLINE).await,
        "half-sent one open"
    );
    status_ok_from(member_ip(), served.addr).await;
}

#[tokio::test]
async fn a_head_trickled_in_byte_by_byte_is_closed_after_the_header_timeout() {
    // Bytes come more often than the idle timeout, so only the header
    // timeout can close it.
    let limits = Limits {
        header_timeout: 2 * SHORT,
        idle_timeout: SHORT,
        ..Limits::default()
    };
    let (_node, served) = serve_node(limits).await;
    let tcp = connect_from(stranger(), served.addr).await;
    let (mut read, mut write) = tcp.into_split();
    let trickle = tokio::spawn(async move {
        let head = b"POST /status HTTP/1.1\r\nhost: peer\r\n".iter();
        for byte in head.chain(std::iter::repeat(&b'x')) {
            if write.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(SHORT / 6).await;
        }
    });
    let mut buf = [0u8; 1024];
    let closed = async {
        loop {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    assert!(
        timeout(DEADLINE, closed).await.is_ok(),
        "a trickled head kept its connection"
    );
    trickle.abort();
    status_ok_from(member_ip(), served.addr).await;
}

#[tokio::test]
async fn a_connection_idle_after_its_answer_is_closed_after_the_idle_timeout() {
    let limits = Limits {
        idle_timeout: SHORT,
        ..Limits::default()
    };
    let (_node, served) = serve_node(limits).await;
    let (mut sender, driver) = client_from(stranger(), served.addr).await;
    assert_eq!(post_on(&mut sender, "/status", "{}").await.0, 200);
    timeout(DEADLINE, driver)
        .await
        .expect("the server closed the idle connection")
        .expect("the client's task ended");
    let mut silent = connect_from(stranger(), served.addr).await;
    assert!(closed_within(&mut silent, DEADLINE).await, "never spoke");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408_and_the_connection_closed() {
    let limits = Limits {
        body_timeout: SHORT,
        ..Limits::default()
    };
    let (_node, served) = serve_node(limits).await;
    for path in ["/join", "/status", "/message"] {
        let mut tcp = connect_from(stranger(), served.addr).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: peer\r\ncontent-type: application/json\r\n\
             content-length: 100\r\n\r\n{{\"id\": "
        );
        tcp.write_all(head.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        timeout(DEADLINE, tcp.read_to_end(&mut answer))
            .await
            .expect("answered and closed in time")
            .expect("read");
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(
            answer.ends_with(r#"{"error":"the body did not arrive within 300ms"}"#),
            "{path}: {answer}"
        );
    }
}

/// How a test client sends a 64 MiB body.
#[derive(Debug, Clone, Copy)]
enum Upload {
    /// hyper's client, which reads the answer while it still sends.
    Streamed { declared: bool },
    /// Writes the whole request first, then reads (what a simple client or
    /// a script does): the hardest case, since the answer comes long
    /// before the client looks for it.
    WriteThenRead { declared: bool },
}

const BIG: usize = 64 << 20;
const CHUNK: usize = 1 << 20;

async fn upload(to: SocketAddr, how: Upload) -> (u16, Value) {
    match how {
        Upload::Streamed { declared } => streamed(to, declared).await,
        Upload::WriteThenRead { declared } => write_then_read(to, declared).await,
    }
}

async fn streamed(to: SocketAddr, declared: bool) -> (u16, Value) {
    let tcp = connect_from(member_ip(), to).await;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let chunk = Bytes::from(vec![b' '; CHUNK]);
    let frames = (0..BIG / CHUNK).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone())));
    let mut request = HttpRequest::post("/message")
        .header("host", "peer")
        .header(CONTENT_TYPE, "application/json");
    if declared {
        request = request.header(CONTENT_LENGTH, BIG);
    }
    let body = StreamBody::new(stream::iter(frames));
    let request = request.body(body).expect("a valid request");
    let response = timeout(DEADLINE, sender.send_request(request))
        .await
        .expect("an answer in time")
        .unwrap_or_else(|e| panic!("no answer, declared {declared}: {e:?}"));
    json_of(response).await
}

async fn write_then_read(to: SocketAddr, declared: bool) -> (u16, Value) {
    let mut tcp = connect_from(member_ip(), to).await;
    let framing = if declared {
        format!("content-length: {BIG}")
    } else {
        "transfer-encoding: chunked".to_owned()
    };
    let head = format!(
        "POST /message HTTP/1.1\r\nhost: peer\r\ncontent-type: application/json\r\n{framing}\r\n\r\n"
    );
    let mut request = head.into_bytes();
    let chunk = vec![b' '; CHUNK];
    for _ in 0..BIG / CHUNK {
        if !declared {
            request.extend_from_slice(format!("{CHUNK:x}\r\n").as_bytes());
        }
        request.extend_from_slice(&chunk);
        if !declared {
            request.extend_from_slice(b"\r\n");
        }
    }
    if !declared {
        request.extend_from_slice(b"0\r\n\r\n");
    }
    let sent = timeout(DEADLINE, tcp.write_all(&request)).await;
    assert!(
        matches!(sent, Ok(Ok(()))),
        "the whole body could not be sent (declared {declared}): {sent:?}"
    );
    let mut answer = Vec::new();
    timeout(DEADLINE, tcp.read_to_end(&mut answer))
        .await
        .expect("answered and closed in time")
        .unwrap_or_else(|e| panic!("reading the answer (declared {declared}): {e}"));
    parse_answer(&answer)
}

/// The status and JSON body of a raw HTTP/1.1 answer with a length.
fn parse_answer(answer: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {text}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status: {head}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    (status, body)
}

#[tokio::test]
async fn a_64_mib_body_always_gets_its_json_413_however_the_client_sends_it() {
    let (_node, served) = serve_node(Limits::default()).await;
    // A body at the limit is read whole, in pieces of hyper's buffer.
    let (mut sender, _driver) = client_from(member_ip(), served.addr).await;
    let at_limit = " ".repeat(crate::DEFAULT_BODY_LIMIT);
    assert_eq!(post_on(&mut sender, "/status", &at_limit).await.0, 200);
    let ways = [
        Upload::Streamed { declared: false },
        Upload::Streamed { declared: true },
        Upload::WriteThenRead { declared: false },
        Upload::WriteThenRead { declared: true },
    ];
    for run in 0..3 {
        for how in ways {
            let (status, reply) = upload(served.addr, how).await;
            assert_eq!(status, 413, "run {run}, {how:?}: {reply}");
            assert_eq!(
                reply,
                json!({"error": "body is larger than 1048576 bytes"}),
                "run {run}, {how:?}"
            );
        }
    }
    status_ok_from(member_ip(), served.addr).await;
}

/// Plain connections from 127.0.0.1; from anywhere else, an accept step
/// that never finishes (a TLS handshake a stranger started and left).
#[derive(Debug, Clone, Copy)]
struct StallStrangers;

impl Accept for StallStrangers {
    type Io = TcpStream;

    async fn accept(&self, tcp: TcpStream, remote: SocketAddr) -> Option<TcpStream> {
        if remote.ip() != member_ip() {
            std::future::pending::<()>().await;
        }
        Some(tcp)
    }
}

/// Refuses every connection in its accept step.
#[derive(Debug, Clone, Copy)]
struct RefuseAll;

impl Accept for RefuseAll {
    type Io = TcpStream;

    fn accept(
        &self,
        _tcp: TcpStream,
        _remote: SocketAddr,
    ) -> impl Future<Output = Option<TcpStream>> + Send {
        std::future::ready(None)
    }
}

#[tokio::test]
async fn an_unfinished_accept_step_is_closed_after_the_handshake_timeout_and_holds_up_nobody() {
    let node = TestNode::start(echo_handler(), LIMIT).await;
    let limits = Limits {
        handshake_timeout: SHORT,
        ..Limits::default()
    };
    let served = serve_app(App::new(node.state.clone()), StallStrangers, limits).await;
    let mut stalled = connect_from(stranger(), served.addr).await;
    status_ok_from(member_ip(), served.addr).await;
    assert!(closed_within(&mut stalled, DEADLINE).await, "never closed");

    let refusing = serve_app(App::new(node.state.clone()), RefuseAll, Limits::default()).await;
    let mut refused = connect_from(member_ip(), refusing.addr).await;
    assert!(closed_within(&mut refused, DEADLINE).await, "not closed");
}
