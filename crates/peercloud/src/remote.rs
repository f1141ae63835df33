//! `Remote`: asking a running peer about itself from outside its cloud
//! (`/status`, `/peers`), through the library's own client, as
//! `peercloud status` and `peercloud peers` do. Touches the network only.

use std::time::Duration;

use peercloud_core::wire::{PeersReply, StatusReply};
use peercloud_core::{Address, CallError, PeerId, Request, Response};
use thiserror::Error;

use crate::http::client::{HttpClient, Transport, DEFAULT_MAX_IDLE};
use crate::security::{Security, Tls, TlsSetupError};

/// How long connecting to the peer may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Why asking a peer failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum QueryError {
    /// No answer in time.
    #[error("{peer} did not answer within {after:?}")]
    Timeout {
        /// The peer asked.
        peer: String,
        /// How long it was given.
        after: Duration,
    },
    /// Nothing listens there: the connection was refused.
    #[error("cannot reach {peer}: connection refused (nothing listens there)")]
    NoListener {
        /// The peer asked.
        peer: String,
    },
    /// It could not be reached (no route, reset, a name that does not
    /// resolve).
    #[error("cannot reach {peer}: {reason}")]
    Unreachable {
        /// The peer asked.
        peer: String,
        /// What went wrong.
        reason: String,
    },
    /// It and this client do not trust each other: it is private and
    /// this client has no key (or the wrong one), or the other way round.
    #[error("{peer} and this client do not trust each other: {reason}")]
    Unauthorized {
        /// The peer asked.
        peer: String,
        /// Which side refused, and the likely cause.
        reason: String,
    },
    /// It has no such endpoint: `/peers` exists on Rust peers only.
    #[error("{peer} has no {path} endpoint (only Rust peers have it; an original node.js peer?)")]
    NoSuchEndpoint {
        /// The peer asked.
        peer: String,
        /// The endpoint.
        path: &'static str,
    },
    /// It answered with an error status.
    #[error("{peer} answered {path} with status {status}: {body}")]
    Refused {
        /// The peer asked.
        peer: String,
        /// The endpoint.
        path: &'static str,
        /// The HTTP status.
        status: u16,
        /// The start of its body.
        body: String,
    },
    /// Its answer is not what the endpoint answers.
    #[error("{peer} sent an invalid {path} answer: {reason}")]
    InvalidReply {
        /// The peer asked.
        peer: String,
        /// The endpoint.
        path: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// A running peer, asked from outside its cloud.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let peer = peercloud::Remote::new("127.0.0.1:9338".parse()?);
/// let status = peer.status().await?;
/// println!("{:?} knows other peers: {}", status.id, status.joined);
/// for member in peer.peers().await?.peers {
///     println!("{} at {}:{}", member.id, member.ip, member.port);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Remote {
    address: Address,
    client: HttpClient,
    timeout: Duration,
    /// The id its requests carry: made for this handle, no member's.
    id: PeerId,
}

impl Remote {
    /// A handle on the peer at `address`: 5 s to answer, 2 s to connect.
    pub fn new(address: Address) -> Self {
        Remote {
            address,
            client: HttpClient::new(CONNECT_TIMEOUT),
            timeout: Duration::from_secs(5),
            id: PeerId::from_random_bytes(rand::random()),
        }
    }

    /// Asks a private peer: the client speaks TLS with `security`'s key
    /// or certificates, as the peer's members do. With
    /// [`Security::Open`], plain HTTP.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
    /// let keys = peercloud::Keyring::read("/etc/peercloud/keys")?;
    /// let peer = peercloud::Remote::new("10.0.0.1:9338".parse()?)
    ///     .security(&peercloud::Security::Key(keys))?;
    /// println!("{} members", peer.peers().await?.peers.len());
    /// # Ok(()) }
    /// ```
    pub fn security(mut self, security: &Security) -> Result<Self, TlsSetupError> {
        let tls = Tls::new(security)?;
        self.client = HttpClient::with_tls(CONNECT_TIMEOUT, tls.as_ref(), DEFAULT_MAX_IDLE);
        Ok(self)
    }

    /// How long the peer may take to answer.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// What the peer says of itself (`POST /status`).
    pub async fn status(&self) -> Result<StatusReply, QueryError> {
        match self.ask(Request::Status(Default::default())).await? {
            Response::Status(status) => Ok(status),
            _ => Err(self.invalid("/status", "not a status answer")),
        }
    }

    /// The members the peer knows (`POST /peers`, Rust peers only).
    pub async fn peers(&self) -> Result<PeersReply, QueryError> {
        match self.ask(Request::Peers(Default::default())).await? {
            Response::Peers(peers) => Ok(peers),
            _ => Err(self.invalid("/peers", "not a member list")),
        }
    }

    async fn ask(&self, request: Request) -> Result<Response, QueryError> {
        let path = request.path();
        let peer = self.address.to_string();
        let call = self
            .client
            .call(self.address.clone(), self.id.clone(), request, self.timeout);
        call.await.map_err(|e| match e {
            CallError::Timeout => QueryError::Timeout {
                peer,
                after: self.timeout,
            },
            CallError::NoListener => QueryError::NoListener { peer },
            CallError::Refused { status: 404, .. } if path == "/peers" => {
                QueryError::NoSuchEndpoint { peer, path }
            }
            CallError::Refused { status, body } => QueryError::Refused {
                peer,
                path,
                status,
                body: body.chars().take(200).collect(),
            },
            CallError::InvalidReply(reason) => QueryError::InvalidReply { peer, path, reason },
            CallError::Unauthorized(reason) => QueryError::Unauthorized { peer, reason },
            other => QueryError::Unreachable {
                peer,
                reason: other.to_string(),
            },
        })
    }

    fn invalid(&self, path: &'static str, reason: &str) -> QueryError {
        QueryError::InvalidReply {
            peer: self.address.to_string(),
            path,
            reason: reason.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server on loopback that answers every request with `head` (an
    /// HTTP status line and headers) and `body`.
    async fn answering(head: &'static str, body: &'static str) -> Address {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("an address").to_string();
        tokio::spawn(async move {
            for _ in 0..4 {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let mut request = [0u8; 4096];
                let _ = socket.read(&mut request).await;
                let reply = format!("{head}\r\ncontent-length: {}\r\n\r\n{body}", body.len());
                let _ = socket.write_all(reply.as_bytes()).await;
            }
        });
        address.parse().expect("an address")
    }

    #[tokio::test]
    async fn an_original_peer_without_a_member_list_is_told_apart() {
        let to = answering("HTTP/1.1 404 Not Found\r\nconnection: close", "<html>").await;
        let error = Remote::new(to).peers().await.expect_err("no /peers");
        assert!(
            matches!(error, QueryError::NoSuchEndpoint { path: "/peers", .. }),
            "{error}"
        );
    }

    #[tokio::test]
    async fn an_answer_that_is_not_a_status_is_an_invalid_reply() {
        let to = answering("HTTP/1.1 200 OK\r\nconnection: close", "[1,2]").await;
        let error = Remote::new(to).status().await.expect_err("not a status");
        assert!(matches!(error, QueryError::InvalidReply { .. }), "{error}");
    }
}
