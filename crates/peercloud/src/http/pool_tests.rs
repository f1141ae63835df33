//! The client's idle pool on loopback, counted from the server's side:
//! reuse, the cap, the order of eviction, the idle timeout, a connection
//! the server closed, and never more connections than requests in flight.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use peercloud_core::{Address, PeerId};
use tokio::net::TcpListener;
use tokio::sync::{watch, Barrier};

use super::client::{HttpClient, IdHeader};

/// A server that answers `{}` and counts its connections: how many it
/// accepted, how many are open. `kill()` closes every connection open at
/// that moment without a word, as a peer that timed them out would.
struct Server {
    address: Address,
    accepted: Arc<AtomicUsize>,
    open: watch::Receiver<usize>,
    kills: watch::Sender<u64>,
}

impl Server {
    async fn start(barrier: Option<Arc<Barrier>>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let accepted = Arc::new(AtomicUsize::new(0));
        let (open_tx, open) = watch::channel(0usize);
        let (kills, kills_rx) = watch::channel(0u64);
        let counter = accepted.clone();
        tokio::spawn(async move {
            // Bounded: no test makes more than a few dozen connections.
            for _ in 0..256 {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                open_tx.send_modify(|n| *n += 1);
                let (open_tx, barrier) = (open_tx.clone(), barrier.clone());
                let mut kills = kills_rx.clone();
                kills.mark_unchanged();
                tokio::spawn(async move {
                    let service = service_fn(move |_request| {
                        let barrier = barrier.clone();
                        async move {
                            if let Some(barrier) = barrier {
                                barrier.wait().await;
                            }
                            let body = Full::new(Bytes::from_static(b"{}"));
                            Ok::<_, Infallible>(hyper::Response::new(body))
                        }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = kills.changed() => {}
                    }
                    open_tx.send_modify(|n| *n -= 1);
                });
            }
        });
        Server {
            address: address.parse().expect("an address"),
            accepted,
            open,
            kills,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Waits until exactly `n` of its connections are open.
    async fn open_becomes(&self, n: usize) {
        let mut open = self.open.clone();
        let waited = tokio::time::timeout(Duration::from_secs(5), open.wait_for(|o| *o == n)).await;
        assert!(
            waited.is_ok(),
            "{} connections open, expected {n}",
            *self.open.borrow()
        );
    }

    fn kill(&self) {
        self.kills.send_modify(|k| *k += 1);
    }
}

async fn send(client: &HttpClient, to: &Server) {
    let me = IdHeader::of(&PeerId::parse("tester").expect("an id"));
    let reply = client
        .message(
            &to.address,
            &me,
            Bytes::from_static(b"{}"),
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(reply.expect("a reply"), serde_json::json!({}));
}

fn client(max_idle: usize) -> HttpClient {
    HttpClient::with_tls(Duration::from_secs(1), None, max_idle)
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let server = Server::start(None).await;
    let client = client(16);
    for _ in 0..5 {
        send(&client, &server).await;
    }
    assert_eq!(server.accepted(), 1);
    assert_eq!(client.pool().idle(), 1);
}

#[tokio::test]
async fn after_a_burst_at_most_the_cap_stay_open() {
    const BURST: usize = 10;
    // Every answer waits until all ten requests are in: ten connections.
    let server = Server::start(Some(Arc::new(Barrier::new(BURST)))).await;
    let client = client(4);
    let burst = (0..BURST).map(|_| send(&client, &server));
    futures_util::future::join_all(burst).await;
    assert_eq!(server.accepted(), BURST);
    assert_eq!(client.pool().idle(), 4);
    server.open_becomes(4).await;
}

#[tokio::test]
async fn the_least_recently_used_idle_connection_is_closed_first() {
    let (a, b, c) = (
        Server::start(None).await,
        Server::start(None).await,
        Server::start(None).await,
    );
    let client = client(2);
    send(&client, &a).await;
    send(&client, &b).await;
    send(&client, &c).await;
    // a went idle first: it makes room for c.
    a.open_becomes(0).await;
    b.open_becomes(1).await;
    c.open_becomes(1).await;
    // b used again is now more recent than c: a's new connection evicts c.
    send(&client, &b).await;
    send(&client, &a).await;
    c.open_becomes(0).await;
    b.open_becomes(1).await;
    a.open_becomes(1).await;
    assert_eq!((a.accepted(), b.accepted(), c.accepted()), (2, 1, 1));
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start(None).await;
    let client = client(16);
    send(&client, &server).await;
    // From here on no I/O until the timeout: time can be driven.
    tokio::time::pause();
    tokio::time::advance(Duration::from_millis(2900)).await;
    assert_eq!(client.pool().idle(), 1, "closed before its time");
    tokio::time::advance(Duration::from_millis(200)).await;
    // The reaper runs once woken; give it turns, a bounded number.
    for _ in 0..100 {
        if client.pool().idle() == 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(client.pool().idle(), 0, "kept past its time");
    tokio::time::resume();
    server.open_becomes(0).await;
    send(&client, &server).await;
    assert_eq!(server.accepted(), 2);
}

#[tokio::test]
async fn a_connection_the_server_closed_is_not_reused() {
    let server = Server::start(None).await;
    let client = client(16);
    send(&client, &server).await;
    server.kill();
    server.open_becomes(0).await;
    send(&client, &server).await;
    assert_eq!(server.accepted(), 2);
    send(&client, &server).await;
    assert_eq!(server.accepted(), 2, "the new connection is reused");
}

#[tokio::test]
async fn no_more_connections_than_requests_in_flight() {
    const IN_FLIGHT: usize = 8;
    let server = Server::start(None).await;
    let client = client(16);
    let loops = (0..IN_FLIGHT).map(|_| async {
        for _ in 0..25 {
            send(&client, &server).await;
        }
    });
    futures_util::future::join_all(loops).await;
    assert!(server.accepted() <= IN_FLIGHT, "{}", server.accepted());
}

#[tokio::test]
async fn a_cap_of_zero_reuses_nothing() {
    let server = Server::start(None).await;
    let client = client(0);
    for _ in 0..3 {
        send(&client, &server).await;
    }
    assert_eq!(server.accepted(), 3);
    server.open_becomes(0).await;
}
