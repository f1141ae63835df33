//! One accepted connection's life, in its own task: the pluggable
//! per-connection step ([`Accept`], TLS where there is one) bounded by the
//! handshake timeout, then HTTP/1.1 through hyper with the [`App`] as
//! the service; closed when silent for the idle timeout or when a head
//! takes longer than the header timeout (both kept by `idle.rs`, on one
//! timer, rather than by a timer hyper would arm for every request),
//! gracefully when the server stops; and, after its last answer, a bounded
//! linger that reads and drops what the client still sends, so that a
//! client cut short (a body over the limit) hears its answer instead of a
//! reset.

use std::convert::Infallible;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::timeout;

use super::app::{Answer, App};
use super::idle::{Activity, Deadlines, Expired, Watched};
use super::wake::OwnWake;
use crate::limits::Limits;

/// The step every accepted connection goes through, in its own task,
/// before HTTP: [`Plain`] hands the TCP stream on; a TLS acceptor would
/// make the handshake. `None` closes the connection. It runs under
/// [`Limits::handshake_timeout`], never in the accept loop.
pub(crate) trait Accept: Clone + Send + Sync + 'static {
    /// What HTTP is spoken over.
    type Io: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Prepares one connection from `remote`, or refuses it.
    fn accept(
        &self,
        tcp: TcpStream,
        remote: SocketAddr,
    ) -> impl Future<Output = Option<Self::Io>> + Send;

    /// Ends when the connection must close for a reason of this step's
    /// own (the key its TLS client was authenticated with was removed);
    /// the answer under way is finished first. Never, by default.
    fn revoked(&self, _io: &Self::Io) -> impl Future<Output = ()> + Send + 'static {
        std::future::pending()
    }
}

/// Plain HTTP: the TCP stream as it is.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Plain;

impl Accept for Plain {
    type Io = TcpStream;

    fn accept(
        &self,
        tcp: TcpStream,
        _remote: SocketAddr,
    ) -> impl Future<Output = Option<TcpStream>> + Send {
        std::future::ready(Some(tcp))
    }
}

/// The largest buffer hyper keeps per connection: a request head must fit
/// (longer ones are answered 431), and body reads come in pieces of at
/// most this. hyper's default, about 400 KiB, would let each stranger's
/// connection hold that much.
const MAX_BUFFER: usize = 64 << 10;

/// The longest a connection lingers after its last answer, reading what
/// the client still sends, before it is dropped.
const LINGER_TIME: Duration = Duration::from_secs(5);

/// The most bytes read and dropped while lingering: enough for a client
/// that writes a whole 64 MiB body before it reads the `413` sent after
/// the first megabyte, and a bound on what a client can make this peer
/// read for nothing.
const LINGER_BYTES: usize = 128 << 20;

/// What one connection needs from [`Limits`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    handshake: Duration,
    header: Duration,
    idle: Duration,
}

impl From<&Limits> for Timeouts {
    fn from(limits: &Limits) -> Self {
        Timeouts {
            handshake: limits.handshake_timeout,
            header: limits.header_timeout,
            idle: limits.idle_timeout,
        }
    }
}

/// How serving a connection ended.
enum Ended {
    /// hyper is done with it (the client closed, or it answered and will
    /// not read on: a body left unread, or the server stopping).
    Done,
    /// Silent for the idle timeout with nothing under way, or a head
    /// slower than the header timeout.
    Expired(Expired),
}

/// Serves one connection from `remote` until it ends; `stop_rx` turns
/// true when the server stops.
pub(crate) async fn run<A: Accept>(
    tcp: TcpStream,
    remote: SocketAddr,
    acceptor: A,
    app: App,
    timeouts: Timeouts,
    mut stop_rx: watch::Receiver<bool>,
) {
    // Small requests and answers: never wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let io = match timeout(timeouts.handshake, acceptor.accept(tcp, remote)).await {
        Ok(Some(io)) => io,
        Ok(None) => return tracing::debug!(%remote, "connection refused by the accept step"),
        Err(_) => return tracing::debug!(%remote, "connection closed: handshake timed out"),
    };
    let mut revoked = pin!(acceptor.revoked(&io));
    let mut stop = pin!(stop_rx.wait_for(|stop| *stop));
    let activity = Activity::new();
    let mut deadlines = Deadlines::new(activity.clone(), timeouts.idle, timeouts.header);
    let io = TokioIo::new(Watched::new(io, activity.clone()));
    let mut conn = http1::Builder::new()
        .max_buf_size(MAX_BUFFER)
        .serve_connection(io, service(app, remote, activity));
    let own_wake = OwnWake::new();
    let mut stopping = false;
    let ended = poll_fn(|cx| loop {
        // Polled as a future, hyper shuts the sending side down once done
        // (`poll_without_shutdown` would not, but needs every answer's
        // future to be `Unpin`: a box for each request).
        if let Poll::Ready(done) = Pin::new(&mut conn).poll(cx) {
            return Poll::Ready(done.map(|()| Ended::Done));
        }
        // The deadlines, the stop and the revocation only when one of
        // them woke the task, not at each of the connection's reads.
        let Some(mut own) = own_wake.woken(cx) else {
            return Poll::Pending;
        };
        if let Poll::Ready(expired) = deadlines.poll_expired(&mut own) {
            return Poll::Ready(Ok(Ended::Expired(expired)));
        }
        if !stopping
            && (stop.as_mut().poll(&mut own).is_ready()
                || revoked.as_mut().poll(&mut own).is_ready())
        {
            // Answers the request under way, if any, then ends.
            stopping = true;
            Pin::new(&mut conn).graceful_shutdown();
            continue;
        }
        return Poll::Pending;
    })
    .await;
    match ended {
        Ok(Ended::Done) => linger(conn.into_parts().io.into_inner().into_inner()).await,
        // Nothing was under way nor arrived: closing loses nothing.
        Ok(Ended::Expired(Expired::Silent)) => tracing::trace!(%remote, "connection closed: idle"),
        // A head too slow: closed without an answer, as hyper's header
        // timeout did.
        Ok(Ended::Expired(Expired::HeadTooSlow)) => {
            tracing::debug!(%remote, "connection closed: the request head timed out")
        }
        // A head malformed, a broken connection: close at once.
        Err(e) => tracing::debug!(%remote, error = %e, "connection closed"),
    }
}

/// The app as hyper's service for one connection: each request is
/// answered knowing the remote address and counts as activity while under
/// way.
fn service(
    app: App,
    remote: SocketAddr,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<Request<Incoming>, Response = Answer, Error = Infallible, Future: Send>
{
    service_fn(move |request: Request<Incoming>| {
        let busy = activity.begin();
        let answer = app.answer(request, Some(remote));
        async move {
            let response = answer.await;
            drop(busy);
            Ok(response)
        }
    })
}

/// After the last answer, hyper having closed the sending side (the
/// client reads the answer to the end, then sees the close), reads and
/// drops what the client still sends until it closes too, within
/// [`LINGER_TIME`] and [`LINGER_BYTES`]. Closing with unread bytes would
/// send a reset, and a client still sending (its body was answered `413`
/// before it was read) may then lose the answer it had not read yet.
async fn linger<I: AsyncRead + Unpin>(mut io: I) {
    let drain = async {
        // Most connections end with the client's close, read here at once:
        // the buffer (64 KiB, zeroed, at every close of a busy peer) is
        // made only for a client that still sends.
        let mut first = [0u8; 1];
        let mut drained = match io.read(&mut first).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut buf = vec![0u8; 64 << 10];
        while drained < LINGER_BYTES {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => drained += n,
            }
        }
    };
    let _ = timeout(LINGER_TIME, drain).await;
}
