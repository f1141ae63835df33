//! Real peers on 127.0.0.1 under their [`Limits`]: a stranger on 127.0.0.2
//! holding a thousand idle or half-open connections while the members keep
//! probing and messaging each other, and the core's limits (joins per
//! address per minute, members) reached through the builder. Every wait has
//! a deadline; none is a bare sleep.

#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use futures_util::FutureExt;
use peercloud::{Cloud, Config, Event, Events, Limits, Start};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::{timeout, Instant};

/// The longest any condition may take to come true.
const DEADLINE: Duration = Duration::from_secs(10);

/// How many connections the stranger opens.
const STRANGER_CONNECTIONS: usize = 1000;

/// How long the members talk while the stranger holds its connections:
/// dozens of probe rounds at [`fast`]'s interval, and well within the
/// idle timeout that ends the stranger's connections the peer took.
const TALK_FOR: Duration = Duration::from_secs(3);

/// Probes every 100 ms with a WAN's patience (tests share two cores).
fn fast() -> Config {
    Config {
        probe_interval: Duration::from_millis(100),
        ..Config::new_wan()
    }
}

fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn seed_of(cloud: &Cloud) -> String {
    format!("127.0.0.1:{}", cloud.port())
}

/// Starts a peer named `name` whose handler answers `{"by": name}`.
async fn start(name: &str, seeds: &[String], limits: Limits) -> Cloud {
    let me = name.to_owned();
    Cloud::builder()
        .listener(local_listener())
        .seeds(seeds.iter().cloned())
        .data(json!({ "name": name }))
        .membership(fast())
        .limits(limits)
        .on_message(move |_, _| std::future::ready(Ok(json!({ "by": me }))))
        .start()
        .await
        .unwrap_or_else(|e| panic!("{name} did not start: {e}"))
}

fn peer_ids(cloud: &Cloud) -> BTreeSet<String> {
    cloud.peers().iter().map(|p| p.id().to_owned()).collect()
}

/// Waits until every peer lists exactly every other one.
async fn wait_for_mesh(clouds: &[&Cloud]) {
    let describe = || {
        let lists: Vec<_> = clouds.iter().map(|c| (c.id(), peer_ids(c))).collect();
        format!("{lists:#?}")
    };
    wait::mesh(clouds, Instant::now() + DEADLINE, describe).await;
}

/// Makes sure this process may hold the stranger's sockets, the peers'
/// own and theirs for the stranger, with room to spare.
fn raise_open_file_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let wanted = 4 * STRANGER_CONNECTIONS as u64;
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < wanted {
        assert!(
            hard >= wanted,
            "the hard open-file limit {hard} is under {wanted}"
        );
        setrlimit(Resource::RLIMIT_NOFILE, wanted, hard).expect("setrlimit");
    }
}

/// A connection to `to` from 127.0.0.2, the stranger's address.
async fn connect_as_stranger(to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 0))
        .expect("bind 127.0.0.2");
    socket.connect(to).await.expect("connect")
}

/// What a stranger's connection sends, then it says nothing more.
fn opening(n: usize) -> &'static [u8] {
    match n % 3 {
        // Idle: not a byte.
        0 => b"",
        // Half a head.
        1 => b"POST /join HTTP/1.1\r\nhost: peer\r\ncontent-",
        // A whole head, and a tenth of the body it announces.
        _ => b"POST /join HTTP/1.1\r\nhost: peer\r\ncontent-length: 100\r\n\r\n{\"id\":",
    }
}

/// Holds one stranger's connection; ends (true) once the peer closes it.
fn hold(mut stream: TcpStream) -> JoinHandle<bool> {
    tokio::spawn(async move {
        let mut buf = [0u8; 256];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
}

/// Events that would mean the stranger kept members apart.
fn trouble(events: &mut Events) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(Some(event)) = events.recv().now_or_never() {
        match event {
            Event::PeerSuspected(peer) => seen.push(format!("suspected {}", peer.data())),
            Event::PeerLeft { peer, reason } => {
                seen.push(format!("{} left: {reason:?}", peer.data()))
            }
            _ => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_idle_or_half_open_connections_from_one_stranger_do_not_stop_members_talking() {
    raise_open_file_limit();
    let a = start("a", &[], Limits::default()).await;
    let b = start("b", &[seed_of(&a)], Limits::default()).await;
    let c = start("c", &[seed_of(&a)], Limits::default()).await;
    wait_for_mesh(&[&a, &b, &c]).await;
    let mut events: Vec<Events> = [&a, &b, &c].iter().map(|p| p.events()).collect();
    for stream in &mut events {
        trouble(stream);
    }

    let mut held = Vec::new();
    for n in 0..STRANGER_CONNECTIONS {
        let mut stream = connect_as_stranger(a.local_addr()).await;
        // A connection the peer closed at once may refuse the bytes.
        let _ = stream.write_all(opening(n)).await;
        held.push(hold(stream));
    }

    let until = Instant::now() + TALK_FOR;
    let mut rounds = 0;
    while Instant::now() < until {
        let replies = a.send(json!({ "round": rounds })).await;
        let by: BTreeSet<String> = replies
            .iter()
            .map(|r| match &r.result {
                Ok(reply) => reply["by"].as_str().unwrap_or_default().to_owned(),
                Err(e) => panic!("round {rounds}: {} did not answer: {e}", r.peer.data()),
            })
            .collect();
        let expected = BTreeSet::from(["b".to_owned(), "c".to_owned()]);
        assert_eq!(by, expected, "round {rounds}");
        for (from, to) in [(&b, &a), (&c, &a), (&b, &c)] {
            let reply = timeout(DEADLINE, from.send_to(&to.id(), json!({})))
                .await
                .expect("an answer in time")
                .unwrap_or_else(|e| panic!("round {rounds}: {e}"));
            assert_eq!(reply["by"], to.data()["name"]);
        }
        rounds += 1;
    }

    let closed = held.iter().filter(|h| h.is_finished()).count();
    let excess = STRANGER_CONNECTIONS - Limits::default().max_connections_per_ip;
    assert!(
        closed >= excess,
        "the stranger's {excess} connections past its limit were closed at once; only {closed} are"
    );
    for (name, stream) in ["a", "b", "c"].iter().zip(&mut events) {
        let seen = trouble(stream);
        assert!(seen.is_empty(), "{name} saw, in {rounds} rounds: {seen:?}");
    }
    wait_for_mesh(&[&a, &b, &c]).await;
    for hold in held {
        hold.abort();
    }
    for peer in [a, b, c] {
        peer.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_past_the_rate_of_its_address_is_refused_and_nothing_changes() {
    let mut limits = Limits::default();
    limits.max_joins_per_ip_per_minute = 1;
    let seed = start("seed", &[], limits).await;
    let first = start("first", &[seed_of(&seed)], Limits::default()).await;
    assert!(matches!(first.start_outcome(), Start::Joined { .. }));
    let second = start("second", &[seed_of(&seed)], Limits::default()).await;
    assert_eq!(
        second.start_outcome(),
        &Start::Alone,
        "the seed took a second join from 127.0.0.1 within the minute"
    );
    assert_eq!(peer_ids(&seed), BTreeSet::from([first.id()]));
    assert_eq!(peer_ids(&first), BTreeSet::from([seed.id()]));
    assert!(second.peers().is_empty());
    for peer in [second, first, seed] {
        peer.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_to_a_full_cloud_is_refused_and_nothing_changes() {
    let mut limits = Limits::default();
    limits.max_members = 1;
    let seed = start("seed", &[], limits).await;
    let first = start("first", &[seed_of(&seed)], Limits::default()).await;
    assert!(matches!(first.start_outcome(), Start::Joined { .. }));
    let second = start("second", &[seed_of(&seed)], Limits::default()).await;
    assert_eq!(
        second.start_outcome(),
        &Start::Alone,
        "the full seed took one more"
    );
    assert_eq!(peer_ids(&seed), BTreeSet::from([first.id()]));
    assert!(second.peers().is_empty());
    for peer in [second, first, seed] {
        peer.close().await;
    }
}
