//! The server's accept loop: takes connections from a bound listener, lets
//! through the gate only as many as [`Limits`] allows (closing the others
//! at once), and serves each in its own task ([`connection::run`]), so that
//! nothing one connection does (a slow handshake, a silent client) holds up
//! the loop. On shutdown it stops accepting, asks every connection to end
//! after its answer, and waits for them; dropping it drops them all.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};

use super::app::App;
use super::connection::{self, Accept, Timeouts};
use super::gate::{Full, Gate};
use crate::limits::Limits;

/// How long the loop waits after a failed accept that is not one
/// connection's own failure (out of file descriptors, of memory), so as
/// not to spin while the system has none to give.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` resolves, then until every
/// connection has ended. Each accepted connection goes through `acceptor`
/// (in its own task) before HTTP.
pub(crate) async fn serve<A: Accept>(
    listener: TcpListener,
    acceptor: A,
    app: App,
    limits: &Limits,
    shutdown: impl Future<Output = ()>,
) {
    let gate = Gate::new(limits.max_connections, limits.max_connections_per_ip);
    let timeouts = Timeouts::from(limits);
    let (stop_tx, stop_rx) = watch::channel(false);
    // Owns every connection's task: dropping the server aborts them.
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(ended) = connections.join_next() => log_panic(ended),
            accepted = listener.accept() => match accepted {
                Ok((tcp, remote)) => match gate.enter(remote.ip()) {
                    Ok(pass) => {
                        let run = connection::run(
                            tcp,
                            remote,
                            acceptor.clone(),
                            app.clone(),
                            timeouts,
                            stop_rx.clone(),
                        );
                        connections.spawn(async move {
                            run.await;
                            drop(pass);
                        });
                    }
                    Err(full) => refuse(tcp, remote, full),
                },
                Err(e) => on_accept_error(e).await,
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    while let Some(ended) = connections.join_next().await {
        log_panic(ended);
    }
}

/// Closes a connection the gate has no room for, at once: it has sent
/// nothing yet, so the client sees an orderly close.
fn refuse(tcp: TcpStream, remote: SocketAddr, full: Full) {
    match full {
        Full::Source => tracing::debug!(%remote, "connection refused: too many from its address"),
        Full::Total => tracing::debug!(%remote, "connection refused: too many open"),
    }
    drop(tcp);
}

/// One connection's failure (it was reset before it was accepted) is
/// nothing; anything else is the system's, and is waited out.
async fn on_accept_error(e: io::Error) {
    let its_own = matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    );
    if !its_own {
        tracing::warn!(error = %e, "cannot accept connections; trying again shortly");
        tokio::time::sleep(ACCEPT_BACKOFF).await;
    }
}

/// A connection's task that panicked ended that connection only.
fn log_panic(ended: Result<(), JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            tracing::error!("a connection's task panicked");
        }
    }
}
