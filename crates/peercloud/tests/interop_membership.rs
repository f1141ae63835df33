//! Interop of the membership with peers of the ORIGINAL node.js
//! implementation (`peercloud@0.1.3`, run by `interop/node-peer.js`): new
//! data of a Rust peer, which original peers only take through a leave and
//! a join, and an original peer's eviction of a live Rust peer, which the
//! Rust peers undo.
//!
//! The same harness as `interop.rs`: Rust peers in this process on
//! `127.0.0.1:0` with fast probes, node peers as child processes with their
//! own failure detection off (a test evicts on purpose), every wait a poll
//! with a deadline that fails with what it saw last.
//!
//! Needs `node` and `npm ci` at the repo root.

#[path = "support/mixed.rs"]
mod mixed;
#[path = "support/node.rs"]
mod node;
#[path = "support/wait.rs"]
mod wait;

use std::time::Duration;

use mixed::{data_of, node_config, wait_converged, RustPeer, POLL};
use node::{free_port, NodeMember, NodePeer};
use peercloud::{Event, Events, Peer};
use serde_json::{json, Value};
use tokio::time::{sleep, timeout, timeout_at, Instant};

/// How soon every original peer must list a Rust peer's new data.
const ORIGINALS_WITHIN: Duration = Duration::from_secs(5);

/// How soon every Rust peer must have seen it.
const RUST_WITHIN: Duration = Duration::from_secs(2);

/// How soon a live Rust peer an original peer evicted must be back in every
/// original peer's list.
const BACK_WITHIN: Duration = Duration::from_secs(10);

/// How long the lists are watched once they are right, for a late notice
/// that would spoil them: the original gives each notice 1 s.
const STEADY: Duration = Duration::from_millis(1500);

/// Who starts the cloud.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// r1 alone, n1 via r1, r2 via n1, n2 via r2.
    RustFirst,
    /// n1 alone, r1 via n1, n2 via r1, r2 via n2.
    NodeFirst,
}

/// A converged cloud of two Rust peers and two node peers.
struct Mixed {
    r1: RustPeer,
    r2: RustPeer,
    n1: NodePeer,
    n2: NodePeer,
}

impl Mixed {
    async fn start(order: Order) -> Mixed {
        let mut mixed = match order {
            Order::RustFirst => {
                let r1 = RustPeer::start("r1", &[]).await;
                let n1 = NodePeer::start("n1", node_config("n1", &[r1.cloud.port()], 0)).await;
                let r2 = RustPeer::start("r2", &[n1.port]).await;
                let n2 = NodePeer::start("n2", node_config("n2", &[r2.cloud.port()], 0)).await;
                Mixed { r1, r2, n1, n2 }
            }
            Order::NodeFirst => {
                let n1 = NodePeer::start("n1", node_config("n1", &[], 0)).await;
                let r1 = RustPeer::start("r1", &[n1.port]).await;
                let n2 = NodePeer::start("n2", node_config("n2", &[r1.cloud.port()], 0)).await;
                let r2 = RustPeer::start("r2", &[n2.port]).await;
                Mixed { r1, r2, n1, n2 }
            }
        };
        mixed.converge().await;
        mixed
    }

    /// Waits until every peer lists every other peer, once.
    async fn converge(&mut self) {
        wait_converged(&[&self.r1, &self.r2], &mut [&mut self.n1, &mut self.n2]).await;
    }
}

/// The entries a node peer holds for `id`.
fn entries<'a>(peers: &'a [NodeMember], id: &str) -> Vec<&'a NodeMember> {
    peers.iter().filter(|p| p.id == id).collect()
}

/// Whether a Rust peer lists `id` once, with `data`.
fn rust_lists(peers: &[Peer], id: &str, data: &Value) -> bool {
    let held: Vec<&Peer> = peers.iter().filter(|p| p.id() == id).collect();
    held.len() == 1 && held[0].data() == data
}

/// Polls the node peers until each lists `id` exactly once with `data`,
/// up to `deadline`; no list may ever hold `id` twice meanwhile. Returns
/// when the last of them was seen right.
async fn nodes_list_once(
    nodes: &mut [&mut NodePeer],
    id: &str,
    data: &Value,
    deadline: Instant,
) -> Instant {
    loop {
        let mut right = 0;
        let mut lists = Vec::new();
        for node in nodes.iter_mut() {
            let peers = node.peers().await;
            let held = entries(&peers, id);
            assert!(
                held.len() <= 1,
                "node peer {} lists {id} {} times: {peers:#?}",
                node.id,
                held.len()
            );
            if held.len() == 1 && held[0].data == *data {
                right += 1;
            }
            lists.push(peers);
        }
        if right == nodes.len() {
            return Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "not every node peer lists {id} once with {data}; their lists: {lists:#?}"
        );
        sleep(POLL).await;
    }
}

/// Waits, up to `deadline`, for a [`Event::PeerUpdated`] about `id` with
/// `data`; returns when it came.
async fn updated(events: &mut Events, id: &str, data: &Value, deadline: Instant) -> Instant {
    loop {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::PeerUpdated(peer))) if peer.id() == id && peer.data() == data => {
                return Instant::now();
            }
            Ok(Some(_)) => continue,
            other => panic!("no PeerUpdated of {id} with {data} in time: {other:?}"),
        }
    }
}

/// Watches every list for [`STEADY`]: each node peer and Rust peer `rust`
/// keep listing `id` exactly once with `data`.
async fn stays(nodes: &mut [&mut NodePeer], rust: &RustPeer, id: &str, data: &Value) {
    let until = Instant::now() + STEADY;
    while Instant::now() < until {
        for node in nodes.iter_mut() {
            let peers = node.peers().await;
            let held = entries(&peers, id);
            assert!(
                held.len() == 1 && held[0].data == *data,
                "node peer {} no longer lists {id} once with {data}: {peers:#?}",
                node.id
            );
        }
        let peers = rust.cloud.peers();
        assert!(
            rust_lists(&peers, id, data),
            "rust peer {} no longer lists {id} once with {data}: {peers:#?}",
            rust.name
        );
        sleep(POLL).await;
    }
}

/// The events the stream holds now, without waiting for more.
async fn events_now(events: &mut Events) -> Vec<Event> {
    let mut now = Vec::new();
    while let Ok(Some(event)) = timeout(Duration::ZERO, events.recv()).await {
        now.push(event);
    }
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_data_of_a_rust_peer_reaches_original_peers_once_and_rust_peers_at_once() {
    for order in [Order::RustFirst, Order::NodeFirst] {
        let mut m = Mixed::start(order).await;
        let (id, name) = (m.r2.id(), m.r2.name.clone());
        let mut events = m.r1.cloud.events();

        // One update.
        let v1 = json!({"name": name, "lang": "rust", "v": 1});
        let set = Instant::now();
        m.r2.cloud
            .set_data(v1.clone())
            .await
            .expect("r2 takes new data");
        let nodes = &mut [&mut m.n1, &mut m.n2];
        let (rust_at, nodes_at) = tokio::join!(
            updated(&mut events, &id, &v1, set + RUST_WITHIN),
            nodes_list_once(nodes, &id, &v1, set + ORIGINALS_WITHIN)
        );
        let peers = m.r1.cloud.peers();
        assert!(rust_lists(&peers, &id, &v1), "r1's list: {peers:#?}");
        println!(
            "{order:?}: r2's new data reached r1 after {:?}, both node peers after {:?}",
            rust_at - set,
            nodes_at - set
        );
        stays(nodes, &m.r1, &id, &v1).await;

        // Two updates, the second before the first reached anyone.
        let (v2, v3) = (
            json!({"name": name, "lang": "rust", "v": 2}),
            json!({"name": name, "lang": "rust", "v": 3}),
        );
        let set = Instant::now();
        m.r2.cloud.set_data(v2).await.expect("r2 takes new data");
        m.r2.cloud
            .set_data(v3.clone())
            .await
            .expect("r2 takes new data");
        let (rust_at, nodes_at) = tokio::join!(
            updated(&mut events, &id, &v3, set + RUST_WITHIN),
            nodes_list_once(nodes, &id, &v3, set + ORIGINALS_WITHIN)
        );
        println!(
            "{order:?}: two updates in a row: the newest reached r1 after {:?}, both node peers after {:?}",
            rust_at - set,
            nodes_at - set
        );
        stays(nodes, &m.r1, &id, &v3).await;
        m.converge().await;
        assert_eq!(m.r2.cloud.data(), v3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_original_peers_eviction_of_a_live_rust_peer_is_undone() {
    for order in [Order::NodeFirst, Order::RustFirst] {
        let mut m = Mixed::start(order).await;
        let accused = m.r2.id();
        let data = data_of("r2", "rust");
        let mut events = m.r1.cloud.events();

        // n1 drops r2 as after a failed probe, and tells n2 and r1.
        let evicted = Instant::now();
        m.n1.evict(&accused, free_port()).await;
        let told = evicted.elapsed();
        let deadline = evicted + BACK_WITHIN;
        let back_at = loop {
            let peers = m.r1.cloud.peers();
            assert!(
                rust_lists(&peers, &accused, &data),
                "{order:?}: r1 dropped r2 on the word of n1: {peers:#?}"
            );
            let mut back = 0;
            let mut lists = Vec::new();
            for node in [&mut m.n1, &mut m.n2] {
                let peers = node.peers().await;
                let held = entries(&peers, &accused);
                assert!(
                    held.len() <= 1,
                    "{order:?}: node peer {} lists r2 twice: {peers:#?}",
                    node.id
                );
                back += held.len();
                lists.push(peers);
            }
            if back == 2 {
                break Instant::now();
            }
            assert!(
                Instant::now() < deadline,
                "{order:?}: r2 is not back in both node lists after {BACK_WITHIN:?}: {lists:#?}"
            );
            sleep(POLL).await;
        };
        println!(
            "{order:?}: n1 evicted r2 and told the others in {told:?}; r2 was back in both node lists after {:?}",
            back_at - evicted
        );
        stays(&mut [&mut m.n1, &mut m.n2], &m.r1, &accused, &data).await;
        m.converge().await;
        let gone = events_now(&mut events)
            .await
            .into_iter()
            .find(|e| matches!(e, Event::PeerLeft { peer, .. } if peer.id() == accused));
        assert!(gone.is_none(), "{order:?}: r1 saw r2 leave: {gone:?}");
    }
}
