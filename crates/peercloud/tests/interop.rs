//! Interop: Rust peers and peers of the ORIGINAL node.js implementation
//! (`peercloud@0.1.3`, run by `interop/node-peer.js`) in one cloud.
//!
//! Rust peers run in this process on `127.0.0.1:0` with fast probes; node
//! peers are child processes on ports picked by the system (never 9338). A
//! Rust peer that must crash is the `peercloud` binary in a child process
//! (that test needs the default `cli` feature). Every wait is a poll with a
//! deadline that fails with what it saw last.
//!
//! Needs `node` and `npm ci` at the repo root.

#[path = "support/mixed.rs"]
mod mixed;
#[path = "support/node.rs"]
mod node;
#[path = "support/wait.rs"]
mod wait;

#[cfg(feature = "cli")]
use std::process::Stdio;
use std::time::Duration;

use mixed::{
    data_of, node_config, node_member, rust_reply, rust_without, wait_converged, without, RustPeer,
};
use node::{NodeMember, NodePeer, DEADLINE};
use peercloud::{Event, LeftReason, SendError, Start};
use serde_json::{json, Value};
#[cfg(feature = "cli")]
use tokio::io::{AsyncBufReadExt, BufReader};
#[cfg(feature = "cli")]
use tokio::process::{Child, Command};
use tokio::time::{timeout_at, Instant};

/// The original dials what it stored: an IPv4 joiner is `::ffff:127.0.0.1`
/// when node listens dual-stack (the usual case), `127.0.0.1` otherwise.
fn assert_loopback_as_node_records_it(ip: &str) {
    assert!(
        ip == "::ffff:127.0.0.1" || ip == "127.0.0.1",
        "node recorded a loopback joiner as {ip:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_peer_joins_a_node_cloud_and_they_list_and_message_each_other() {
    let mut n1 = NodePeer::start("n1", node_config("n1", &[], 0)).await;
    assert!(!n1.joined, "n1 started alone");
    let mut r1 = RustPeer::start("r1", &[n1.port]).await;

    match r1.cloud.start_outcome() {
        Start::Joined { via, peers } => {
            assert_eq!(via.to_string(), format!("127.0.0.1:{}", n1.port));
            assert_eq!(*peers, 1, "r1 learned of n1 only");
        }
        other => panic!("r1 did not join n1's cloud: {other:?}"),
    }
    let peers = r1.cloud.peers();
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert_eq!(peers[0].id(), n1.id);
    assert_eq!((peers[0].ip(), peers[0].port()), ("127.0.0.1", n1.port));
    assert_eq!(peers[0].data(), &data_of("n1", "node"));

    let r1_id = r1.id();
    let listed = n1
        .wait_for_peers("lists r1", |p| p.len() == 1 && p[0].id == r1_id)
        .await;
    let seen = node_member(&listed, &r1_id);
    println!("n1 recorded r1 as ip {:?} port {}", seen.ip, seen.port);
    assert_loopback_as_node_records_it(&seen.ip);
    assert_eq!(seen.port_number(), Some(r1.cloud.port()));
    assert_eq!(seen.data, data_of("r1", "rust"));

    // n1 can reach r1 at the address it recorded.
    let answer = n1.send(&r1_id, json!({"hello": "r1"})).await;
    assert_eq!(answer["error"], Value::Null, "{answer}");
    assert_eq!(answer["reply"], rust_reply("r1", &json!({"hello": "r1"})));
    let got = r1.next_message().await;
    assert_eq!(
        (got.from_id.as_str(), &got.from_data),
        (n1.id.as_str(), &data_of("n1", "node"))
    );
    assert_eq!(got.body, json!({"hello": "r1"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_peer_joins_a_rust_cloud_and_both_lists_show_each_other() {
    let r1 = RustPeer::start("r1", &[]).await;
    let mut events = r1.cloud.events();
    assert_eq!(r1.cloud.start_outcome(), &Start::Alone);

    let mut n1 = NodePeer::start("n1", node_config("n1", &[r1.cloud.port()], 0)).await;
    // The original reports `joined` only once the seed accepted it, and a
    // Rust seed answers only after checking the joiner's /status.
    assert!(n1.joined, "n1 was not accepted by r1");

    let n1_id = n1.id.clone();
    let listed = n1.wait_for_peers("lists r1", |p| p.len() == 1).await;
    let seen = node_member(&listed, &r1.id());
    assert_eq!(seen.ip, "127.0.0.1", "the seed is recorded as dialled");
    assert_eq!(seen.port_number(), Some(r1.cloud.port()));
    assert_eq!(seen.data, data_of("r1", "rust"));

    let peers = r1
        .wait_for_peers("lists n1", |p| p.len() == 1 && p[0].id() == n1_id)
        .await;
    assert_eq!((peers[0].ip(), peers[0].port()), ("127.0.0.1", n1.port));
    assert_eq!(peers[0].data(), &data_of("n1", "node"));

    let deadline = Instant::now() + DEADLINE;
    loop {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::PeerJoined(peer))) => {
                assert_eq!(peer.id(), n1_id);
                break;
            }
            Ok(Some(_)) => continue,
            other => panic!("r1 saw no PeerJoined for n1: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_cloud_converges_when_a_rust_peer_starts_it() {
    // R1 alone, N1 via R1, R2 via N1, N2 via R2.
    let r1 = RustPeer::start("r1", &[]).await;
    let mut n1 = NodePeer::start("n1", node_config("n1", &[r1.cloud.port()], 0)).await;
    let r2 = RustPeer::start("r2", &[n1.port]).await;
    let mut n2 = NodePeer::start("n2", node_config("n2", &[r2.cloud.port()], 0)).await;
    assert!(n1.joined && n2.joined);

    wait_converged(&[&r1, &r2], &mut [&mut n1, &mut n2]).await;
    // r1 learned of r2 from n1's /joined, which carries node's spelling of
    // r2's address: r1 must be able to reach it.
    let r2_in_r1 = r1.cloud.peer(&r2.id()).expect("r1 knows r2");
    println!(
        "r1 knows r2 (told by n1) as {}:{}",
        r2_in_r1.ip(),
        r2_in_r1.port()
    );
    let reply = r2_in_r1.send(json!({"ping": 1})).await;
    assert_eq!(reply, Ok(rust_reply("r2", &json!({"ping": 1}))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_cloud_converges_when_a_node_peer_starts_it() {
    // N1 alone, R1 via N1, N2 via R1, R2 via N2.
    let mut n1 = NodePeer::start("n1", node_config("n1", &[], 0)).await;
    let r1 = RustPeer::start("r1", &[n1.port]).await;
    let mut n2 = NodePeer::start("n2", node_config("n2", &[r1.cloud.port()], 0)).await;
    let r2 = RustPeer::start("r2", &[n2.port]).await;
    assert!(n2.joined);

    wait_converged(&[&r1, &r2], &mut [&mut n1, &mut n2]).await;
    for peer in r2.cloud.peers() {
        println!(
            "r2 knows {} as {}:{}",
            peer.data()["name"],
            peer.ip(),
            peer.port()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_and_single_messages_carry_data_and_replies_both_ways() {
    let mut r1 = RustPeer::start("r1", &[]).await;
    let mut n1 = NodePeer::start("n1", node_config("n1", &[r1.cloud.port()], 0)).await;
    let mut r2 = RustPeer::start("r2", &[n1.port]).await;
    let mut n2 = NodePeer::start("n2", node_config("n2", &[r2.cloud.port()], 0)).await;
    wait_converged(&[&r1, &r2], &mut [&mut n1, &mut n2]).await;

    // Rust broadcast: every handler runs with r1's data, every reply returns.
    let replies = r1.cloud.send(json!({"round": 1})).await;
    assert_eq!(replies.len(), 3);
    for reply in replies.iter() {
        let name = reply.peer.data()["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let expected = if name.starts_with('n') {
            json!({"reply_from": name})
        } else {
            rust_reply(&name, &json!({"round": 1}))
        };
        assert_eq!(reply.result, Ok(expected), "reply of {name}");
    }
    for n in [&mut n1, &mut n2] {
        let got = n.next_message().await;
        assert_eq!(got["from"], data_of("r1", "rust"), "{got}");
        assert_eq!(got["from_id"], json!(r1.id()));
        assert_eq!(got["body"], json!({"round": 1}));
    }
    let got = r2.next_message().await;
    assert_eq!((got.from_id, got.body), (r1.id(), json!({"round": 1})));

    // Node broadcast: Rust handlers see n1's data, n1 gets their replies.
    let answer = n1.broadcast(json!({"round": 2})).await;
    assert_eq!(answer["error"], Value::Null, "{answer}");
    let mut replies: Vec<(String, Value)> = answer["replies"]
        .as_array()
        .expect("replies")
        .iter()
        .map(|r| {
            (
                r["peer"]["name"].as_str().unwrap_or_default().to_owned(),
                r["value"].clone(),
            )
        })
        .collect();
    replies.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        replies,
        vec![
            ("n2".to_owned(), json!({"reply_from": "n2"})),
            ("r1".to_owned(), rust_reply("r1", &json!({"round": 2}))),
            ("r2".to_owned(), rust_reply("r2", &json!({"round": 2}))),
        ]
    );
    for r in [&mut r1, &mut r2] {
        let got = r.next_message().await;
        assert_eq!(got.from_id, n1.id);
        assert_eq!(got.from_data, data_of("n1", "node"));
        assert_eq!(got.body, json!({"round": 2}));
    }
    assert_eq!(n2.next_message().await["from_id"], json!(n1.id));

    // One message each way.
    let to_n2 = r1.cloud.peer(&n2.id).expect("r1 knows n2");
    assert_eq!(
        to_n2.send(json!({"single": "r1"})).await,
        Ok(json!({"reply_from": "n2"}))
    );
    let got = n2.next_message().await;
    assert_eq!(
        (&got["from"], &got["body"]),
        (&data_of("r1", "rust"), &json!({"single": "r1"}))
    );

    let answer = n2.send(&r2.id(), json!({"single": "n2"})).await;
    assert_eq!(answer["error"], Value::Null, "{answer}");
    assert_eq!(answer["reply"], rust_reply("r2", &json!({"single": "n2"})));
    let got = r2.next_message().await;
    assert_eq!(
        (got.from_id, got.from_data),
        (n2.id.clone(), data_of("n2", "node"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_errors_are_seen_as_failures_on_both_sides() {
    let r1 = RustPeer::start("r1", &[]).await;
    let mut config = node_config("n1", &[r1.cloud.port()], 0);
    config["reply_error"] = json!({"code": "APPERR"});
    let mut n1 = NodePeer::start("n1", config).await;
    r1.wait_for_peers("lists n1", |p| p.len() == 1).await;

    // A node handler error is a 500 HTML page: refused, status 500.
    match r1.cloud.send_to(&n1.id, json!({"x": 1})).await {
        Err(SendError::Refused {
            status: 500, body, ..
        }) => {
            println!("n1's handler error reached r1 as 500 with body {body}");
        }
        other => panic!("expected Refused with status 500, got {other:?}"),
    }
    let replies = r1.cloud.send(json!({"x": 2})).await;
    assert!(!replies.all_ok());
    assert!(matches!(
        replies.errors().next(),
        Some((_, SendError::Refused { status: 500, .. }))
    ));

    // A Rust handler error is an error for node: status 500, our JSON body.
    let answer = n1.send(&r1.id(), json!({"fail": true})).await;
    println!("r1's handler error reached n1 as {}", answer["error"]);
    assert_eq!(answer["reply"], Value::Null);
    assert_eq!(answer["error"]["statusCode"], json!(500), "{answer}");
    assert_eq!(
        answer["error"]["body"]["message"],
        json!("r1 refuses"),
        "{answer}"
    );

    let answer = n1.broadcast(json!({"fail": true})).await;
    assert_eq!(answer["replies"], Value::Null, "{answer}");
    assert_eq!(
        answer["error"][0]["peer"],
        data_of("r1", "rust"),
        "{answer}"
    );
    assert_eq!(
        answer["error"][0]["error"]["statusCode"],
        json!(500),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_peer_disappears_from_every_list() {
    // The node survivor does not probe: it can only learn of the crash from
    // the /left that a Rust peer broadcasts when it evicts the dead peer.
    let r1 = RustPeer::start("r1", &[]).await;
    let r2 = RustPeer::start("r2", &[r1.cloud.port()]).await;
    let mut n1 = NodePeer::start("n1", node_config("n1", &[r1.cloud.port()], 0)).await;
    let mut n2 = NodePeer::start("n2", node_config("n2", &[r2.cloud.port()], 0)).await;
    wait_converged(&[&r1, &r2], &mut [&mut n1, &mut n2]).await;

    let mut events = r1.cloud.events();
    n2.kill().await;
    let killed = Instant::now();
    r1.wait_for_peers("dropped n2", rust_without(n2.id.clone()))
        .await;
    r2.wait_for_peers("dropped n2", rust_without(n2.id.clone()))
        .await;
    let rust_done = killed.elapsed();
    n1.wait_for_peers("dropped n2", without(n2.id.clone()))
        .await;
    println!(
        "killed n2: Rust peers dropped it within {rust_done:?}, n1 (not probing) within {:?}",
        killed.elapsed()
    );
    let deadline = Instant::now() + DEADLINE;
    loop {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::PeerLeft { peer, reason })) if peer.id() == n2.id => {
                assert!(matches!(reason, LeftReason::Failed { .. }), "{reason:?}");
                break;
            }
            Ok(Some(_)) => continue,
            other => panic!("r1 saw no PeerLeft for n2: {other:?}"),
        }
    }
    wait_converged(&[&r1, &r2], &mut [&mut n1]).await;
}

#[cfg(feature = "cli")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_rust_peer_disappears_from_every_list() {
    // N1 alone, R1 via N1, N2 via N1, then a Rust peer in a child process
    // (the `peercloud` binary) via N2. Node peers probe every 300 ms here.
    let mut n1 = NodePeer::start("n1", node_config("n1", &[], 300)).await;
    let r1 = RustPeer::start("r1", &[n1.port]).await;
    let mut n2 = NodePeer::start("n2", node_config("n2", &[n1.port], 300)).await;
    let mut child = RustChild::start(n2.port).await;
    let child_id = child.id.clone();
    let has_child = |p: &[NodeMember]| p.len() == 3 && p.iter().any(|m| m.id == child_id);
    let listed = n1.wait_for_peers("lists the child", has_child).await;
    // The binary runs with --bind 127.0.0.1, so it advertises that address.
    println!(
        "n1 recorded the child as ip {:?}",
        node_member(&listed, &child_id).ip
    );
    n2.wait_for_peers("lists the child", has_child).await;
    r1.wait_for_peers("lists the child", |p| {
        p.len() == 3 && p.iter().any(|m| m.id() == child_id)
    })
    .await;

    child.kill().await;
    let killed = Instant::now();
    n1.wait_for_peers("dropped the child", without(child_id.clone()))
        .await;
    n2.wait_for_peers("dropped the child", without(child_id.clone()))
        .await;
    let nodes_done = killed.elapsed();
    r1.wait_for_peers("dropped the child", rust_without(child_id.clone()))
        .await;
    println!(
        "killed the Rust child: node peers dropped it within {nodes_done:?}, r1 within {:?}",
        killed.elapsed()
    );
    wait_converged(&[&r1], &mut [&mut n1, &mut n2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_peer_that_closes_disappears_from_node_lists_at_once() {
    // Node probes are off: only our /left can make them drop r1.
    let mut n1 = NodePeer::start("n1", node_config("n1", &[], 0)).await;
    let r1 = RustPeer::start("r1", &[n1.port]).await;
    let mut n2 = NodePeer::start("n2", node_config("n2", &[r1.cloud.port()], 0)).await;
    let r2 = RustPeer::start("r2", &[n2.port]).await;
    wait_converged(&[&r1, &r2], &mut [&mut n1, &mut n2]).await;
    let mut events = r2.cloud.events();

    let r1_id = r1.id();
    let closing = Instant::now();
    r1.cloud.close().await;
    let closed = closing.elapsed();
    n1.wait_for_peers("dropped r1", without(r1_id.clone()))
        .await;
    n2.wait_for_peers("dropped r1", without(r1_id.clone()))
        .await;
    let nodes_done = closing.elapsed();
    r2.wait_for_peers("dropped r1", rust_without(r1_id.clone()))
        .await;
    println!("r1 closed in {closed:?}; node peers had dropped it after {nodes_done:?}");
    // close() waits for the goodbyes to be acknowledged, so the lists are
    // already right when it returns (the bound only guards against a probe
    // having done the work).
    assert!(nodes_done < Duration::from_secs(3), "took {nodes_done:?}");
    let deadline = Instant::now() + DEADLINE;
    loop {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::PeerLeft { peer, reason })) if peer.id() == r1_id => {
                assert_eq!(reason, LeftReason::Left, "r2 was told by r1 itself");
                break;
            }
            Ok(Some(_)) => continue,
            other => panic!("r2 saw no PeerLeft for r1: {other:?}"),
        }
    }
    wait_converged(&[&r2], &mut [&mut n1, &mut n2]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_peer_that_closes_tells_nobody_and_is_dropped_by_rust_probes() {
    let r1 = RustPeer::start("r1", &[]).await;
    let n1 = NodePeer::start("n1", node_config("n1", &[r1.cloud.port()], 0)).await;
    let n1_id = n1.id.clone();
    r1.wait_for_peers("lists n1", |p| p.len() == 1).await;
    let mut events = r1.cloud.events();

    n1.close().await;
    let closed = Instant::now();
    r1.wait_for_peers("dropped n1", rust_without(n1_id.clone()))
        .await;
    println!("n1 closed; r1 probed it away within {:?}", closed.elapsed());
    let deadline = Instant::now() + DEADLINE;
    loop {
        match timeout_at(deadline, events.recv()).await {
            Ok(Some(Event::PeerLeft { peer, reason })) if peer.id() == n1_id => {
                // Not `Left`: the original's close() sends no /left (WIRE.md 1.6).
                assert!(
                    matches!(
                        reason,
                        LeftReason::Failed {
                            detected_by: None,
                            ..
                        }
                    ),
                    "{reason:?}"
                );
                break;
            }
            Ok(Some(_)) => continue,
            other => panic!("r1 saw no PeerLeft for n1: {other:?}"),
        }
    }
}

/// A Rust peer in a child process: the `peercloud` binary
/// (`peercloud run --json`), so that it can be SIGKILLed like a crash.
#[cfg(feature = "cli")]
struct RustChild {
    child: Child,
    id: String,
}

#[cfg(feature = "cli")]
impl RustChild {
    async fn start(seed_port: u16) -> RustChild {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peercloud"))
            .args(["run", "--json", "--bind", "127.0.0.1", "--port", "0"])
            .args(["--peer", &format!("127.0.0.1:{seed_port}")])
            .args(["--probe-interval-ms", "200"])
            .args(["--data", &data_of("child", "rust").to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("run the peercloud binary");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let deadline = Instant::now() + DEADLINE;
        loop {
            let line = match timeout_at(deadline, lines.next_line()).await {
                Ok(Ok(Some(line))) => line,
                other => panic!("the peercloud binary printed no `started` line: {other:?}"),
            };
            let line: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("`peercloud run --json` printed {line:?}: {e}"));
            if line["event"] == "started" {
                let id = line["id"].as_str().expect("started has an id").to_owned();
                return RustChild { child, id };
            }
        }
    }

    async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL the child peer");
        let _ = timeout_at(Instant::now() + DEADLINE, self.child.wait()).await;
    }
}
