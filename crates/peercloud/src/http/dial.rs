//! Opening one client connection to a peer: TCP (with the connect
//! timeout), TLS for a private peer, then the HTTP/1.1 handshake, whose
//! connection task is spawned on tokio. The pool (`pool.rs`) decides when
//! to dial; this file only dials.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use peercloud_core::Address;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::security::{classify_failure, Tls};

/// What TLS 1.3 negotiates on top of: HTTP/1.1, as the server offers.
const ALPN: &[u8] = b"http/1.1";

/// Our end of one HTTP/1.1 connection: requests go in, answers come out.
pub(crate) type Sender = SendRequest<Full<Bytes>>;

/// Opens connections: plain TCP for an open peer, TLS only for a private
/// one (never falling back to plain).
#[derive(Clone, Debug)]
pub(crate) struct Dialer {
    connect_timeout: Duration,
    tls: Option<DialTls>,
}

#[derive(Clone, Debug)]
struct DialTls {
    /// The client settings with HTTP/1.1 as ALPN.
    config: Arc<ClientConfig>,
    tls: Tls,
}

/// Why no connection could be opened.
#[derive(Debug)]
pub(crate) enum DialError {
    /// Nothing answered within the connect timeout.
    Timeout,
    /// The connection was refused: nothing listens there.
    Refused(String),
    /// The peer and this one do not trust each other (TLS failed).
    Unauthorized(String),
    /// Anything else: no route, a name that does not resolve, a reset.
    Unreachable(String),
}

impl Dialer {
    pub(crate) fn new(connect_timeout: Duration, tls: Option<&Tls>) -> Self {
        let tls = tls.map(|tls| {
            let mut config = ClientConfig::clone(&tls.client);
            config.alpn_protocols = vec![ALPN.to_vec()];
            DialTls {
                config: Arc::new(config),
                tls: tls.clone(),
            }
        });
        Dialer {
            connect_timeout,
            tls,
        }
    }

    /// How many times the keyring was replaced (0 for open peers and
    /// certificates): a connection made before a replacement is not reused.
    pub(crate) fn generation(&self) -> u64 {
        self.tls
            .as_ref()
            .and_then(|dial| dial.tls.keys.as_ref())
            .map_or(0, |keys| keys.generation())
    }

    /// Opens a connection to `to` and spawns its task.
    pub(crate) async fn dial(&self, to: &Address) -> Result<Sender, DialError> {
        let stream = self.connect(to).await?;
        match &self.tls {
            None => handshake(stream).await,
            Some(dial) => {
                let name = server_name(to)?;
                let stream = TlsConnector::from(dial.config.clone())
                    .connect(name, stream)
                    .await
                    .map_err(tls_failure)?;
                handshake(stream).await
            }
        }
    }

    async fn connect(&self, to: &Address) -> Result<TcpStream, DialError> {
        let connect = async {
            match to.host.ip() {
                Some(ip) => TcpStream::connect((ip, to.port)).await,
                None => TcpStream::connect((to.host.as_str(), to.port)).await,
            }
        };
        let stream = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| DialError::Timeout)?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    DialError::Refused(format!("cannot connect to {to}: {e}"))
                }
                std::io::ErrorKind::TimedOut => DialError::Timeout,
                _ => DialError::Unreachable(format!("cannot connect to {to}: {e}")),
            })?;
        // Small requests and replies: never wait for Nagle.
        stream
            .set_nodelay(true)
            .map_err(|e| DialError::Unreachable(format!("cannot set up the socket: {e}")))?;
        Ok(stream)
    }
}

async fn handshake<S>(stream: S) -> Result<Sender, DialError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| DialError::Unreachable(format!("HTTP handshake failed: {e}")))?;
    // The task ends when the peer closes the connection or when every
    // sender is dropped (evicted from the pool, or its request gave up).
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::trace!("client connection ended: {e}");
        }
    });
    Ok(sender)
}

/// The name TLS is asked for; the pinned-key and CA verifiers do not check
/// it (peers are known by key, not name), but rustls wants one.
fn server_name(to: &Address) -> Result<ServerName<'static>, DialError> {
    match to.host.ip() {
        Some(ip) => Ok(ServerName::IpAddress(ip.into())),
        None => ServerName::try_from(to.host.as_str().to_owned())
            .map_err(|e| DialError::Unreachable(format!("invalid host {}: {e}", to.host))),
    }
}

/// A failed TLS handshake is unauthorized when rustls says why; an I/O
/// failure during it (a reset) leaves the peer unreachable.
fn tls_failure(e: std::io::Error) -> DialError {
    let rustls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls {
        Some(tls) => DialError::Unauthorized(classify_failure(tls)),
        None => DialError::Unreachable(format!("TLS handshake failed: {e}")),
    }
}
