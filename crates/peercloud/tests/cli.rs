//! End-to-end tests of the `peercloud` binary: real `peercloud run`
//! processes on 127.0.0.1 and free ports, read through their `--json` lines.
//!
//! Every peer listens on a port the system picks (`--port 0`) and is given
//! an explicit `--peer`, so no test touches 9338 or another test's cloud.
//! Every wait has a deadline and fails with what was seen; every child is
//! killed (by its pid) when its guard drops, so a failing test leaves no
//! process behind. The process helpers are in `support/process.rs`.

#![allow(clippy::unwrap_used)]

#[path = "support/process.rs"]
mod process;

use std::net::TcpListener;
use std::process::Command;
use std::time::Instant;

use nix::sys::signal::Signal;
use serde_json::{json, Value};

use process::{
    cloud_of, peers_of, run_to_end, unused_port, Guard, Pipes, RunningPeer, BIN, DEADLINE,
};

fn data_and_reply(i: usize) -> Vec<String> {
    vec![
        "--data".to_owned(),
        json!({"n": i}).to_string(),
        "--reply".to_owned(),
        json!({"from": i}).to_string(),
    ]
}

#[test]
fn two_peers_make_a_cloud() {
    let mut first = RunningPeer::start_alone(&["--data", r#"{"name":"first"}"#]);
    let mut second = RunningPeer::start(first.port, &["--data", r#"{"name":"second"}"#]);

    let joined = second.expect_event(1, "joined");
    assert_eq!(joined["via"], format!("127.0.0.1:{}", first.port));
    assert_eq!(joined["peers"], 1);
    let seen_by_first = first.wait_for("peer_joined", |e| e["peer"]["id"] == second.id.as_str());
    assert_eq!(
        seen_by_first["peer"],
        json!({"id": second.id, "ip": "127.0.0.1", "port": second.port, "data": {"name": "second"}})
    );
    let seen_by_second = second.wait_for("peer_joined", |e| e["peer"]["id"] == first.id.as_str());
    assert_eq!(seen_by_second["peer"]["data"], json!({"name": "first"}));
    assert_eq!(seen_by_second["peer"]["port"], first.port);
}

#[test]
fn a_stdin_line_is_broadcast_to_every_other_peer_and_their_replies_printed() {
    let mut peers = cloud_of(5, data_and_reply);

    peers[0].write_line(r#"{"message":"hi all"}"#);
    let replies = peers[0].wait_for("replies", |_| true);
    let mut replies = replies["replies"].as_array().unwrap().clone();
    replies.sort_by_key(|r| r["peer"]["n"].as_u64());
    let expected: Vec<Value> = peers[1..]
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"peer": {"n": i + 1}, "id": p.id, "value": {"from": i + 1}}))
        .collect();
    assert_eq!(replies, expected);

    let sender = peers[0].id.clone();
    for peer in &mut peers[1..] {
        let message = peer.wait_for("message", |e| e["from_id"] == sender.as_str());
        assert_eq!(message["from"], json!({"n": 0}));
        assert_eq!(message["body"], json!({"message": "hi all"}));
    }
}

#[test]
fn peers_and_status_describe_a_running_peer() {
    let mut first = RunningPeer::start_alone(&["--data", r#"{"name":"first"}"#]);
    let second = RunningPeer::start(first.port, &["--data", r#"{"name":"second"}"#]);
    first.wait_for_peers(&[&second.id]);
    let address = format!("127.0.0.1:{}", first.port);

    let table = run_to_end(&["peers", &address]);
    assert!(table.status.success(), "{}", table.stderr);
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert!(rows[0].contains(&first.id), "{}", table.stdout);
    assert!(rows[1].starts_with("ID") && rows[1].contains("ADDRESS") && rows[1].contains("DATA"));
    assert!(rows[2].starts_with(&second.id), "{}", table.stdout);
    assert!(rows[2].contains(&format!("127.0.0.1:{}", second.port)));
    assert!(rows[2].ends_with(r#"{"name":"second"}"#));

    let json_list = run_to_end(&["peers", &address, "--json"]);
    assert!(json_list.status.success(), "{}", json_list.stderr);
    let list: Value = serde_json::from_str(&json_list.stdout).unwrap();
    assert_eq!(
        list,
        json!([{"id": second.id, "ip": "127.0.0.1", "port": second.port, "data": {"name": "second"}, "incarnation": 0}])
    );

    let status = run_to_end(&["status", &address]);
    assert!(status.status.success(), "{}", status.stderr);
    assert!(
        status.stdout.contains(&format!("id         {}", first.id)),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("joined     true"),
        "{}",
        status.stdout
    );

    let status = run_to_end(&["status", &address, "--json"]);
    assert!(status.status.success(), "{}", status.stderr);
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    let digest = status["digest"].as_str().unwrap_or_default();
    assert!(digest.starts_with("2-"), "a cloud of two: {digest:?}");
    assert_eq!(
        status,
        json!({"id": first.id, "online": true, "listening": true, "joined": true, "digest": digest, "incarnation": 0})
    );
}

#[test]
fn asking_an_unreachable_peer_fails_with_a_clear_message() {
    let address = format!("127.0.0.1:{}", unused_port());
    for command in ["peers", "status"] {
        let result = run_to_end(&[command, &address]);
        assert_eq!(
            result.status.code(),
            Some(1),
            "{command}: {}",
            result.stderr
        );
        assert!(
            result
                .stderr
                .starts_with(&format!("error: cannot reach {address}")),
            "{}",
            result.stderr
        );
        assert!(result.stdout.is_empty());
    }
}

#[test]
fn a_peer_sent_sigterm_leaves_and_every_other_peer_sees_it_leave() {
    let mut peers = cloud_of(3, |_| vec![]);
    let mut leaving = peers.remove(0);

    leaving.guard.signal(Signal::SIGTERM);
    for peer in &mut peers {
        let left = peer.wait_for("peer_left", |e| e["id"] == leaving.id.as_str());
        assert_eq!(left["reason"], "left", "{left}");
    }
    leaving.wait_for("closed", |_| true);
    let status = leaving.guard.wait(Instant::now() + DEADLINE);
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
}

#[test]
fn every_survivor_sees_a_killed_peer_fail() {
    let mut peers = cloud_of(5, |_| {
        vec!["--probe-interval-ms".to_owned(), "200".to_owned()]
    });
    let mut killed = peers.remove(2);

    killed.guard.kill_now();
    for peer in &mut peers {
        let left = peer.wait_for("peer_left", |e| e["id"] == killed.id.as_str());
        assert_eq!(left["reason"], "failed", "{left}");
    }
}

#[test]
fn invalid_data_json_exits_2_with_a_message() {
    let seed = format!("127.0.0.1:{}", unused_port());
    let result = run_to_end(&[
        "run",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--peer",
        &seed,
        "--data",
        "{oops",
    ]);
    assert_eq!(result.status.code(), Some(2), "{}", result.stderr);
    let first_line = result.stderr.lines().next().unwrap_or_default();
    assert!(
        first_line.starts_with("error:") && first_line.contains("--data"),
        "{}",
        result.stderr
    );
    assert!(first_line.contains("not valid JSON"), "{}", result.stderr);
    assert!(result.stdout.is_empty());
}

#[test]
fn an_invalid_peer_address_exits_2_with_a_message() {
    let result = run_to_end(&[
        "run",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--peer",
        "no-port-here",
    ]);
    assert_eq!(result.status.code(), Some(2), "{}", result.stderr);
    assert!(result.stderr.contains("--peer"), "{}", result.stderr);
    assert!(result.stderr.contains("HOST:PORT"), "{}", result.stderr);
}

#[test]
fn a_taken_explicit_port_exits_1_with_a_clear_message() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let seed = format!("127.0.0.1:{}", unused_port());
    let result = run_to_end(&[
        "run",
        "--json",
        "--bind",
        "127.0.0.1",
        "--port",
        &port,
        "--peer",
        &seed,
    ]);
    assert_eq!(result.status.code(), Some(1), "{}", result.stderr);
    assert_eq!(result.stderr.lines().count(), 1, "{}", result.stderr);
    assert!(
        result
            .stderr
            .starts_with(&format!("error: cannot listen on 127.0.0.1:{port}")),
        "{}",
        result.stderr
    );
    assert!(result.stdout.is_empty(), "{}", result.stdout);
    drop(taken);
}

#[test]
fn a_stdin_line_that_is_not_json_gives_an_error_event_and_the_peer_keeps_working() {
    let mut peers = cloud_of(2, data_and_reply);

    peers[0].write_line("this is not json");
    let error = peers[0].wait_for("error", |_| true);
    assert!(
        error["error"].as_str().unwrap().contains("not JSON"),
        "{error}"
    );

    peers[0].write_line(r#"{"after":"the error"}"#);
    let replies = peers[0].wait_for("replies", |_| true);
    assert_eq!(
        replies["replies"],
        json!([{"peer": {"n": 1}, "id": peers[1].id, "value": {"from": 1}}])
    );
}

#[test]
fn the_end_of_stdin_does_not_stop_the_peer() {
    let mut first = RunningPeer::start_alone(&[]);
    drop(first.stdin.take());

    let second = RunningPeer::start(first.port, &[]);
    first.wait_for_peers(&[&second.id]);
    assert!(first.is_running());
}

#[test]
fn without_json_the_peer_prints_lines_for_humans() {
    let seed = format!("127.0.0.1:{}", unused_port());
    let mut guard = Guard::spawn(Command::new(BIN).args([
        "run",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--peer",
        &seed,
    ]));
    let mut pipes = Pipes::of(&mut guard);
    pipes.wait_until("two lines", |seen| seen.len() >= 2);
    assert!(
        pipes.seen[0].starts_with("started peer "),
        "{:?}",
        pipes.seen
    );
    assert!(pipes.seen[1].starts_with("alone"), "{:?}", pipes.seen);

    guard.signal(Signal::SIGINT);
    pipes.wait_until("the closed line", |seen| {
        seen.iter().any(|l| l.starts_with("closed"))
    });
    let status = guard.wait(Instant::now() + DEADLINE);
    assert!(status.is_some_and(|s| s.success()), "exit: {status:?}");
}

#[test]
fn a_peer_run_with_max_members_1_refuses_a_second_joiner_who_starts_alone() {
    let mut seed = RunningPeer::start_alone(&["--max-members", "1"]);
    let mut first = RunningPeer::start(seed.port, &[]);
    first.expect_event(1, "joined");
    seed.wait_for_peers(&[&first.id]);
    let mut second = RunningPeer::start(seed.port, &[]);
    second.expect_event(1, "alone");
    let listed: Vec<Value> = peers_of(&seed.address())
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(listed, [json!(first.id)], "the full seed took one more");
}

#[test]
fn a_zero_limit_is_a_usage_error() {
    for flag in [
        "--max-members",
        "--max-joins-per-ip-per-minute",
        "--max-connections",
        "--max-connections-per-ip",
    ] {
        let result = run_to_end(&["run", "--port", "0", flag, "0"]);
        assert_eq!(result.status.code(), Some(2), "{flag}: {}", result.stderr);
        assert!(result.stderr.contains(flag), "{flag}: {}", result.stderr);
    }
}
