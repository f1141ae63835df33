//! The server side of a private peer's connections: a TLS handshake, or,
//! for a client that speaks plain HTTP, one clear refusal.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::tls::{classify_failure, Tls};
use super::verify::SharedKeys;
use crate::http::connection::Accept;

/// The first byte of every TLS connection (a handshake record).
const TLS_HANDSHAKE: u8 = 0x16;

/// How much of a plain client's request is read (and dropped) after the
/// refusal, so that closing does not reset the connection before the
/// client reads the answer.
const PLAIN_DRAIN_BYTES: usize = 64 * 1024;

/// The answer to a plain HTTP client: 426 Upgrade Required (RFC 2817), the
/// status that says "this resource speaks another protocol", with a JSON
/// body of the usual error shape. It names no member and no id.
const PLAIN_REFUSAL_BODY: &str = concat!(
    r#"{"error":"private cloud","message":"this peer belongs to a private cloud "#,
    r#"and speaks TLS only: start with the cloud's key (--key-file) or certificates"}"#
);

/// Accepts a private peer's connections.
#[derive(Clone)]
pub(crate) struct TlsAccept {
    acceptor: TlsAcceptor,
    /// The keyring in key mode, whose replacement may end connections.
    keys: Option<Arc<SharedKeys>>,
    /// How long a connection may take to say hello and finish its
    /// handshake.
    timeout: Duration,
    log: Arc<RefusalLog>,
}

impl TlsAccept {
    pub(crate) fn new(tls: &Tls, timeout: Duration) -> Self {
        TlsAccept {
            acceptor: TlsAcceptor::from(tls.server.clone()),
            keys: tls.keys.clone(),
            timeout,
            log: Arc::new(RefusalLog::default()),
        }
    }

    /// Runs the handshake of one connection; `None` when it failed, was
    /// refused, or took too long (each said in the log).
    pub(crate) async fn handshake(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
    ) -> Option<TlsStream<TcpStream>> {
        let mut first = [0u8; 1];
        match tokio::time::timeout(self.timeout, tcp.peek(&mut first)).await {
            Ok(Ok(1)) => {}
            _ => return None,
        }
        if first[0] != TLS_HANDSHAKE {
            self.log.refused(
                remote,
                "it speaks plain HTTP (an open peer, or a client with no key)",
            );
            refuse_plain(tcp, self.timeout).await;
            return None;
        }
        match tokio::time::timeout(self.timeout, self.acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                let why = match e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                {
                    Some(tls) => classify_failure(tls),
                    None => e.to_string(),
                };
                self.log.refused(remote, &why);
                None
            }
            Err(_) => None,
        }
    }
}

impl TlsAccept {
    /// Ends when the keyring no longer accepts the key `stream`'s client
    /// was authenticated with (its key was removed): the connection is
    /// then closed, so a removed key does not outlive its removal on a
    /// busy connection. Never ends in certificate mode.
    pub(crate) fn distrusted(
        &self,
        stream: &TlsStream<TcpStream>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        let keys = self.keys.clone();
        let cert = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|certs| certs.first())
            .map(|cert| cert.clone().into_owned());
        async move {
            let (Some(keys), Some(cert)) = (keys, cert) else {
                return std::future::pending().await;
            };
            let mut replacements = keys.replacements();
            // Bounded by the life of the connection: each turn waits for a
            // replacement of the keyring.
            loop {
                if keys.current().accepts(&cert).is_none() {
                    return;
                }
                if replacements.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }
}

impl Accept for TlsAccept {
    type Io = TlsStream<TcpStream>;

    fn accept(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
    ) -> impl std::future::Future<Output = Option<Self::Io>> + Send {
        self.handshake(tcp, remote)
    }

    fn revoked(&self, io: &Self::Io) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.distrusted(io)
    }
}

/// Answers a plain HTTP client with the refusal, then reads what it sent
/// (bounded in bytes and time) before closing, so that it sees the answer
/// rather than a reset.
async fn refuse_plain(mut tcp: TcpStream, timeout: Duration) {
    let answer = format!(
        "HTTP/1.1 426 Upgrade Required\r\nupgrade: TLS/1.3\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{}",
        PLAIN_REFUSAL_BODY.len(),
        PLAIN_REFUSAL_BODY
    );
    let exchange = async {
        tcp.write_all(answer.as_bytes()).await?;
        tcp.shutdown().await?;
        let mut sink = [0u8; 4096];
        let mut drained = 0;
        while drained < PLAIN_DRAIN_BYTES {
            match tcp.read(&mut sink).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(timeout, exchange).await;
}

/// Says why connections were refused, at most one line a second: a
/// stranger knocking many times a second must not flood the log.
#[derive(Default)]
struct RefusalLog {
    last_second: AtomicU64,
    quiet: AtomicU64,
}

impl RefusalLog {
    fn refused(&self, remote: SocketAddr, why: &str) {
        let second = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if self.last_second.swap(second, Ordering::Relaxed) == second {
            self.quiet.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let quiet = self.quiet.swap(0, Ordering::Relaxed);
        if quiet > 0 {
            tracing::warn!(%remote, also_refused = quiet, "refused a connection: {why}");
        } else {
            tracing::warn!(%remote, "refused a connection: {why}");
        }
    }
}
