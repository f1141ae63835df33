//! The HTTP client: one client for every outgoing request, membership
//! calls and messages alike, over a bounded pool of keep-alive HTTP/1.1
//! connections of our own (`pool.rs`, `dial.rs`): peers speak HTTP/1.1 to
//! addresses they are given, so proxies and redirects have no place here,
//! and a peer of a large cloud must hold a few idle connections, not one
//! per member it talked to. A private peer's client speaks TLS only
//! (`https`), never falling back to plain HTTP.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{Full, Limited};
use hyper::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, HOST};
use hyper::{Method, Uri};
use peercloud_core::wire::{decode_reply, encode_request, ErrorBody, ID_HEADER};
use peercloud_core::{Address, CallError, CallResult, PeerId, Request};
use serde::Serialize;
use serde_json::Value;

use super::body_buffer;
use super::dial::{DialError, Dialer};
use super::extract::collect;
use super::pool::Pool;
use crate::error::SendError;
use crate::metrics::Traffic;
use crate::security::{classify_failure, Tls};

/// How long an idle connection is kept for reuse: longer than the gaps of
/// a busy exchange, shorter than the gap between two probes of one member
/// in all but the smallest clouds (members x the probe interval), whose
/// connections would otherwise stay open for good, a buffer each.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(3);

/// The most idle connections a client keeps when not told
/// ([`Limits::max_idle_connections`](crate::Limits::max_idle_connections)'s
/// default).
pub(crate) const DEFAULT_MAX_IDLE: usize = 16;

/// The largest reply read from a peer (a `/peers` list of 10,000 members
/// is about 1 MiB); a longer one fails the call instead of filling memory.
pub(crate) const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// The headers every request carries, made once instead of for each
/// request (a name or value from a `&str` is checked byte by byte).
static ID: HeaderName = HeaderName::from_static(ID_HEADER);
static JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The path of every message, parsed once.
static MESSAGE: LazyLock<Uri> = LazyLock::new(|| Uri::from_static("/message"));

/// This peer's id as the `x-peercloud-id` header of its requests, made
/// once per id (the snapshot holds the current one) rather than for each
/// message. Every valid id is a valid header value; if one were not, its
/// requests fail as unreachable, as they did when the header was made
/// for each request.
#[derive(Debug, Clone)]
pub(crate) struct IdHeader(Result<HeaderValue, String>);

impl IdHeader {
    pub(crate) fn of(id: &PeerId) -> Self {
        IdHeader(HeaderValue::from_str(id.as_str()).map_err(|e| e.to_string()))
    }
}

/// Makes membership calls; the driver talks to other peers only through it,
/// so tests can give it a fake.
pub(crate) trait Transport: Clone + Send + Sync + 'static {
    /// Sends `request` to `to` as `from`, and parses the reply.
    fn call(
        &self,
        to: Address,
        from: PeerId,
        request: Request,
        timeout: Duration,
    ) -> impl Future<Output = CallResult> + Send;
}

/// The pooled HTTP client. A private peer's pool is made once: its
/// connections made before a keyring replacement are not reused, since
/// they were authenticated with the keys of their day and the other end
/// may be about to drop the old key.
#[derive(Clone, Debug)]
pub(crate) struct HttpClient {
    pool: Arc<Pool>,
    /// The body bytes of every request and reply, for metrics.
    traffic: Arc<Traffic>,
}

/// The status a private peer answers a plain HTTP request with.
const UPGRADE_REQUIRED: u16 = 426;

/// What a request came back with, before it is read as a given reply.
enum Answer {
    Ok(Bytes),
    Status(u16, Bytes),
}

/// Why a request got no answer at all.
enum NoAnswer {
    Timeout,
    /// The connection was refused: nothing listens there.
    Refused(String),
    Unreachable(String),
    /// The peer and this one do not trust each other.
    Unauthorized(String),
}

impl HttpClient {
    /// An open peer's client: plain HTTP, the default idle pool.
    pub(crate) fn new(connect_timeout: Duration) -> Self {
        Self::with_tls(connect_timeout, None, DEFAULT_MAX_IDLE)
    }

    /// A client that speaks TLS with `tls`'s settings, or plain HTTP
    /// without, keeping at most `max_idle` idle connections.
    pub(crate) fn with_tls(connect_timeout: Duration, tls: Option<&Tls>, max_idle: usize) -> Self {
        let dialer = Dialer::new(connect_timeout, tls);
        HttpClient {
            pool: Arc::new(Pool::new(dialer, max_idle, POOL_IDLE_TIMEOUT)),
            traffic: Arc::default(),
        }
    }

    /// The bytes this client (and its clones) sent and received.
    pub(crate) fn traffic(&self) -> Arc<Traffic> {
        self.traffic.clone()
    }

    /// The pool, for tests that look at what it holds.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    async fn post(
        &self,
        to: &Address,
        uri: Uri,
        from: &IdHeader,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Answer, NoAnswer> {
        let id = from.0.clone().map_err(NoAnswer::Unreachable)?;
        self.traffic.sent(body.len());
        let mut request = hyper::Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(ID.clone(), id);
        headers.insert(CONTENT_TYPE, JSON.clone());
        headers.insert(ACCEPT, JSON.clone());
        // The timeout covers the whole exchange, the reply's body included.
        let exchange = async {
            let mut checkout = self.pool.get(to).await.map_err(dial_failure)?;
            request.headers_mut().insert(HOST, checkout.host.clone());
            let response = match checkout.sender.try_send_request(request).await {
                Ok(response) => response,
                Err(mut e) => {
                    // A reused connection that closed before it took the
                    // request (the other end timed it out) gives it back:
                    // once more, on a new one. A request it took may have
                    // been acted on: not again.
                    let unsent = e.take_message().filter(|_| checkout.reused);
                    let Some(mut request) = unsent else {
                        return Err(no_answer(e.into_error()));
                    };
                    checkout = self.pool.fresh(to).await.map_err(dial_failure)?;
                    request.headers_mut().insert(HOST, checkout.host.clone());
                    checkout
                        .sender
                        .send_request(request)
                        .await
                        .map_err(no_answer)?
                }
            };
            let status = response.status();
            let bytes = collect(Limited::new(response.into_body(), MAX_REPLY_BYTES))
                .await
                .map_err(|e| NoAnswer::Unreachable(format!("cannot read the reply: {e}")))?;
            self.traffic.received(bytes.len());
            // Read whole: the connection is free for the next request.
            self.pool.put(to, checkout);
            Ok(if status.is_success() {
                Answer::Ok(bytes)
            } else {
                Answer::Status(status.as_u16(), bytes)
            })
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(NoAnswer::Timeout))
    }

    /// Sends a message (`POST /message`) whose body is already encoded.
    pub(crate) async fn message(
        &self,
        to: &Address,
        from: &IdHeader,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Value, SendError> {
        let peer = || to.to_string();
        match self.post(to, MESSAGE.clone(), from, body, timeout).await {
            Ok(Answer::Ok(bytes)) => {
                parse_reply(&bytes).map_err(|reason| SendError::InvalidReply {
                    peer: peer(),
                    reason,
                })
            }
            Ok(Answer::Status(UPGRADE_REQUIRED, _)) => Err(SendError::Unauthorized {
                peer: peer(),
                reason: private_peer_refused(),
            }),
            Ok(Answer::Status(status, bytes)) => Err(refusal(peer(), status, &bytes)),
            Err(NoAnswer::Unauthorized(reason)) => Err(SendError::Unauthorized {
                peer: peer(),
                reason,
            }),
            Err(NoAnswer::Timeout) => Err(SendError::Timeout {
                peer: peer(),
                after: timeout,
            }),
            Err(NoAnswer::Refused(reason) | NoAnswer::Unreachable(reason)) => {
                Err(SendError::Unreachable {
                    peer: peer(),
                    reason,
                })
            }
        }
    }
}

impl Transport for HttpClient {
    async fn call(
        &self,
        to: Address,
        from: PeerId,
        request: Request,
        timeout: Duration,
    ) -> CallResult {
        let path = request.path();
        let body = Bytes::from(encode_request(&request));
        let from = IdHeader::of(&from);
        let uri = Uri::from_static(path);
        let bytes = match self.post(&to, uri, &from, body, timeout).await {
            Ok(Answer::Ok(bytes)) => bytes,
            Ok(Answer::Status(UPGRADE_REQUIRED, _)) => {
                return Err(CallError::Unauthorized(private_peer_refused()))
            }
            Ok(Answer::Status(status, bytes)) => {
                return Err(CallError::Refused {
                    status,
                    body: String::from_utf8_lossy(&bytes).chars().take(512).collect(),
                })
            }
            Err(NoAnswer::Timeout) => return Err(CallError::Timeout),
            Err(NoAnswer::Refused(_)) => return Err(CallError::NoListener),
            Err(NoAnswer::Unreachable(reason)) => return Err(CallError::Unreachable(reason)),
            Err(NoAnswer::Unauthorized(reason)) => return Err(CallError::Unauthorized(reason)),
        };
        decode_reply(path, &bytes).map_err(|e| CallError::InvalidReply(e.to_string()))
    }
}

fn private_peer_refused() -> String {
    "it belongs to a private cloud and speaks TLS only, and this side has no key".to_owned()
}

/// Encodes a body once, so a broadcast serialises it once for every peer;
/// in the thread's reused buffer (`body_buffer.rs`).
pub(crate) fn encode<T: Serialize + ?Sized>(body: &T) -> Bytes {
    // Serialising a `Value` or one of our wire structs cannot fail: their
    // maps have string keys.
    body_buffer::json(body).unwrap_or_else(|_| Bytes::from_static(b"{}"))
}

/// A 2xx reply must be JSON; an empty one counts as `{}`.
fn parse_reply(bytes: &[u8]) -> Result<Value, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Default::default()));
    }
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// Reads a non-2xx answer: our own peers say `handler failed` for a handler
/// error; anything else is a refusal with the body as JSON or as text.
fn refusal(peer: String, status: u16, bytes: &[u8]) -> SendError {
    let body = serde_json::from_slice::<Value>(bytes).unwrap_or_else(|_| {
        Value::String(String::from_utf8_lossy(bytes).chars().take(2048).collect())
    });
    if status == 500 {
        if let Ok(error) = serde_json::from_value::<ErrorBody>(body.clone()) {
            if error.error == crate::http::HANDLER_FAILED {
                let message = body["message"].as_str().unwrap_or_default().to_owned();
                return SendError::Handler { peer, message };
            }
        }
    }
    SendError::Refused { peer, status, body }
}

fn dial_failure(e: DialError) -> NoAnswer {
    match e {
        DialError::Timeout => NoAnswer::Timeout,
        DialError::Refused(reason) => NoAnswer::Refused(reason),
        DialError::Unauthorized(reason) => NoAnswer::Unauthorized(reason),
        DialError::Unreachable(reason) => NoAnswer::Unreachable(reason),
    }
}

/// A failed exchange: a connect timeout counts as a timeout, a refused
/// connection as refused, a failed TLS handshake as unauthorized; anything
/// else makes the peer unreachable, with the whole chain of causes as the
/// reason (hyper's own message alone is terse: "client error (Connect)").
fn no_answer(e: impl std::error::Error) -> NoAnswer {
    let mut reason = e.to_string();
    let mut kind = None;
    let mut source = e.source();
    while let Some(inner) = source {
        // An I/O error hides the error it wraps from `source()`, and the
        // TLS connector wraps its I/O error in another.
        let mut candidate = Some(inner);
        while let Some(error) = candidate {
            if let Some(tls) = error.downcast_ref::<rustls::Error>() {
                return NoAnswer::Unauthorized(classify_failure(tls));
            }
            candidate = error.downcast_ref::<std::io::Error>().and_then(|io| {
                kind = Some(io.kind());
                io.get_ref()
                    .map(|wrapped| wrapped as &(dyn std::error::Error + 'static))
            });
        }
        reason = format!("{reason}: {inner}");
        source = inner.source();
    }
    match kind {
        Some(std::io::ErrorKind::TimedOut) => NoAnswer::Timeout,
        Some(std::io::ErrorKind::ConnectionRefused) => NoAnswer::Refused(reason),
        _ => NoAnswer::Unreachable(reason),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server on loopback that answers its first request with `status`
    /// and a body of `len` bytes of `fill`; returns its address.
    async fn one_answer(status: &'static str, fill: u8, len: usize) -> Address {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("an address").to_string();
        tokio::spawn(async move {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = socket.read(&mut request).await;
            let head = format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            let chunk = vec![fill; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len());
                if socket.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                left -= n;
            }
        });
        address.parse().expect("an address")
    }

    fn me() -> PeerId {
        PeerId::parse("me").expect("an id")
    }

    #[tokio::test]
    async fn a_reply_over_the_limit_fails_the_call_instead_of_filling_memory() {
        let to = one_answer("200 OK", b' ', MAX_REPLY_BYTES + 1).await;
        let client = HttpClient::new(Duration::from_secs(1));
        let result = client
            .call(
                to,
                me(),
                Request::Status(Default::default()),
                Duration::from_secs(10),
            )
            .await;
        match result {
            Err(CallError::Unreachable(why)) => assert!(why.contains("reply"), "{why}"),
            other => panic!("expected a failed call, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_refusal_keeps_its_status_and_a_bounded_body() {
        let to = one_answer("404 Not Found", b'x', 10_000).await;
        let client = HttpClient::new(Duration::from_secs(1));
        let result = client
            .call(
                to,
                me(),
                Request::Peers(Default::default()),
                Duration::from_secs(5),
            )
            .await;
        match result {
            Err(CallError::Refused { status, body }) => {
                assert_eq!(status, 404);
                assert_eq!(body.len(), 512);
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod refused_tests {
    use super::*;

    #[tokio::test]
    async fn a_port_where_nothing_listens_is_told_apart_as_no_listener() {
        // Bind, learn the port, close: nothing listens there now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let to: Address = format!("127.0.0.1:{port}").parse().expect("an address");
        let client = HttpClient::new(Duration::from_secs(1));
        let me = PeerId::parse("me").expect("an id");
        let result = client
            .call(
                to,
                me,
                Request::Status(Default::default()),
                Duration::from_secs(2),
            )
            .await;
        assert_eq!(result, Err(CallError::NoListener));
    }
}
