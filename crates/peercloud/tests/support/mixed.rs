//! Rust peers beside original ones, for the interop test files: an
//! in-process Rust peer ([`RustPeer`]), the node peers' harness config, and
//! waits on every list with a deadline. Touches only the peers it starts.
//! Needs the `node` and `wait` support modules beside it.

#![allow(dead_code)] // each test file uses a different part of it

use std::collections::BTreeSet;
use std::time::Duration;

use peercloud::{Cloud, Config, HandlerError, Peer};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::{timeout_at, Instant};

use crate::node::{NodeMember, NodePeer, DEADLINE};

pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Fast membership timing, so failures are found within a second or two.
pub(crate) fn fast() -> Config {
    Config {
        probe_interval: Duration::from_millis(200),
        ..Config::new_lan()
    }
}

pub(crate) fn data_of(name: &str, lang: &str) -> Value {
    json!({"name": name, "lang": lang})
}

/// What a Rust peer's handler answers.
pub(crate) fn rust_reply(name: &str, body: &Value) -> Value {
    json!({"reply_from": name, "echo": body})
}

/// Harness config for a node peer. Its own failure detection is off unless
/// a test needs it: a node peer evicts on ONE probe slower than 1 s, which a
/// loaded CI machine could cause for a healthy peer.
pub(crate) fn node_config(name: &str, seeds: &[u16], check_interval_ms: u64) -> Value {
    json!({
        "peers": seeds.iter().map(|p| json!({"ip": "127.0.0.1", "port": p})).collect::<Vec<_>>(),
        "data": data_of(name, "node"),
        "reply": {"reply_from": name},
        "check_interval_ms": check_interval_ms,
    })
}

/// A message as a Rust handler received it.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) from_id: String,
    pub(crate) from_data: Value,
    pub(crate) body: Value,
}

/// An in-process Rust peer whose handler records every message and answers
/// [`rust_reply`], or fails when the body has `"fail": true`.
pub(crate) struct RustPeer {
    pub(crate) name: String,
    pub(crate) cloud: Cloud,
    messages: mpsc::UnboundedReceiver<Received>,
}

impl RustPeer {
    pub(crate) async fn start(name: &str, seeds: &[u16]) -> RustPeer {
        let (messages_tx, messages) = mpsc::unbounded_channel();
        let me = name.to_owned();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let cloud = Cloud::builder()
            .listener(listener)
            .seeds(seeds.iter().map(|p| format!("127.0.0.1:{p}")))
            .data(data_of(name, "rust"))
            .membership(fast())
            .on_message(move |from: Peer, body: Value| {
                let me = me.clone();
                let _ = messages_tx.send(Received {
                    from_id: from.id().to_owned(),
                    from_data: from.data().clone(),
                    body: body.clone(),
                });
                async move {
                    if body["fail"] == json!(true) {
                        return Err(HandlerError::new(format!("{me} refuses")));
                    }
                    Ok(rust_reply(&me, &body))
                }
            })
            .start()
            .await
            .unwrap_or_else(|e| panic!("rust peer {name} did not start: {e}"));
        RustPeer {
            name: name.to_owned(),
            cloud,
            messages,
        }
    }

    pub(crate) fn id(&self) -> String {
        self.cloud.id()
    }

    /// Waits on its list (its watch, no polling) until `done` holds; fails
    /// after [`DEADLINE`] with the last list seen. Returns that list.
    pub(crate) async fn wait_for_peers(
        &self,
        what: &str,
        done: impl FnMut(&[Peer]) -> bool,
    ) -> Vec<Peer> {
        let what = format!("rust peer {}: {what}", self.name);
        crate::wait::peers_until(&self.cloud, Instant::now() + DEADLINE, &what, done).await
    }

    pub(crate) async fn next_message(&mut self) -> Received {
        match timeout_at(Instant::now() + DEADLINE, self.messages.recv()).await {
            Ok(Some(received)) => received,
            Ok(None) => panic!("rust peer {}: its handler is gone", self.name),
            Err(_) => panic!("rust peer {}: no message within {DEADLINE:?}", self.name),
        }
    }
}

/// The ids in a list, and whether there were duplicates.
pub(crate) fn id_set<'a>(ids: impl Iterator<Item = &'a str>) -> (BTreeSet<String>, usize) {
    let ids: Vec<&str> = ids.collect();
    (ids.iter().map(|s| s.to_string()).collect(), ids.len())
}

/// Waits until every peer lists exactly every other peer, once.
pub(crate) async fn wait_converged(rust: &[&RustPeer], nodes: &mut [&mut NodePeer]) {
    let all: BTreeSet<String> = rust
        .iter()
        .map(|r| r.id())
        .chain(nodes.iter().map(|n| n.id.clone()))
        .collect();
    assert_eq!(all.len(), rust.len() + nodes.len(), "ids are unique");
    for r in rust {
        let mut others = all.clone();
        others.remove(&r.id());
        r.wait_for_peers("lists every other peer once", |peers| {
            id_set(peers.iter().map(|p| p.id())) == (others.clone(), others.len())
        })
        .await;
    }
    for n in nodes.iter_mut() {
        let mut others = all.clone();
        others.remove(&n.id);
        n.wait_for_peers("lists every other peer once", |peers| {
            id_set(peers.iter().map(|p| p.id.as_str())) == (others.clone(), others.len())
        })
        .await;
    }
}

pub(crate) fn node_member<'a>(peers: &'a [NodeMember], id: &str) -> &'a NodeMember {
    peers
        .iter()
        .find(|p| p.id == id)
        .unwrap_or_else(|| panic!("{id} is not in {peers:#?}"))
}

pub(crate) fn without(id: String) -> impl Fn(&[NodeMember]) -> bool {
    move |peers| !peers.iter().any(|p| p.id == id)
}

pub(crate) fn rust_without(id: String) -> impl Fn(&[Peer]) -> bool {
    move |peers| !peers.iter().any(|p| p.id() == id)
}
