//! End-to-end tests of the admin listener (`run --admin`) and `peercloud
//! send`: real processes on 127.0.0.1 and free ports, as in `cli.rs`.
//! Every wait has a deadline; every child is killed (by its pid) when its
//! guard drops.

#![allow(clippy::unwrap_used)]

#[path = "support/admin.rs"]
mod admin;
#[path = "support/process.rs"]
mod process;
#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::time::Instant;

use serde_json::{json, Value};

use admin::{get_json, start_with_admin};
use nix::sys::signal::Signal;
use process::{run_to_end, unused_port, RunningPeer, DEADLINE};

/// A cloud of three: `first` alone, then `second` and `third` through it;
/// `second` has an admin listener, whose address is returned. Returns once
/// `second` knows both others.
fn three_peers() -> (Vec<RunningPeer>, String) {
    three_peers_with(&[])
}

/// [`three_peers`], with more flags for the one with the admin listener.
fn three_peers_with(admin_extra: &[&str]) -> (Vec<RunningPeer>, String) {
    let first = RunningPeer::start_alone(&["--data", r#"{"n":0}"#, "--reply", r#"{"from":0}"#]);
    let mut args = vec!["--data", r#"{"n":1}"#, "--reply", r#"{"from":1}"#];
    args.extend_from_slice(admin_extra);
    let (mut second, admin) = start_with_admin(first.port, &args);
    let third = RunningPeer::start(
        first.port,
        &["--data", r#"{"n":2}"#, "--reply", r#"{"from":2}"#],
    );
    second.wait_for_peers(&[&first.id, &third.id]);
    (vec![first, second, third], admin)
}

fn replies_by_id(answer: &Value) -> BTreeMap<String, Value> {
    answer["replies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_owned(), r["value"].clone()))
        .collect()
}

#[test]
fn send_through_a_peers_admin_listener_gets_the_replies_of_the_two_others() {
    let (mut peers, admin) = three_peers();

    let sent = run_to_end(&["send", &admin, r#"{"hello":"all"}"#, "--json"]);
    assert!(sent.status.success(), "{}", sent.stderr);
    let answer: Value = serde_json::from_str(&sent.stdout).unwrap();
    let expected: BTreeMap<String, Value> = [
        (peers[0].id.clone(), json!({"from": 0})),
        (peers[2].id.clone(), json!({"from": 2})),
    ]
    .into();
    assert_eq!(replies_by_id(&answer), expected);
    let sender = peers[1].id.clone();
    for i in [0, 2] {
        let message = peers[i].wait_for("message", |e| e["from_id"] == sender.as_str());
        assert_eq!(message["body"], json!({"hello": "all"}));
    }

    let table = run_to_end(&["send", &admin, "42"]);
    assert!(table.status.success(), "{}", table.stderr);
    let rows: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "a title and two replies: {}", table.stdout);
    assert!(rows[0].starts_with("ID") && rows[0].ends_with("REPLY"));
    for i in [0, 2] {
        let row = rows.iter().find(|r| r.starts_with(&peers[i].id)).unwrap();
        assert!(row.ends_with(&format!(r#"{{"from":{i}}}"#)), "{row}");
    }
}

#[test]
fn send_with_to_reaches_that_member_only_and_an_unknown_id_exits_1() {
    let (mut peers, admin) = three_peers();
    let to = peers[2].id.clone();

    let sent = run_to_end(&["send", &admin, r#""just you""#, "--to", &to, "--json"]);
    assert!(sent.status.success(), "{}", sent.stderr);
    let answer: Value = serde_json::from_str(&sent.stdout).unwrap();
    assert_eq!(
        answer,
        json!({"replies": [{"peer": {"n": 2}, "id": to, "value": {"from": 2}}]})
    );
    peers[2].wait_for("message", |e| e["body"] == "just you");

    let unknown = run_to_end(&["send", &admin, "1", "--to", "nobody"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(unknown.stdout.is_empty(), "{}", unknown.stdout);
    assert!(
        unknown
            .stderr
            .contains(r#"404 Not Found: no member has the id "nobody""#),
        "{}",
        unknown.stderr
    );
    // Nothing went to the first peer: the first message it gets is the
    // one sent to it next.
    let marker = run_to_end(&["send", &admin, r#""marker""#, "--to", &peers[0].id]);
    assert!(marker.status.success(), "{}", marker.stderr);
    let first = peers[0].wait_for("message", |_| true);
    assert_eq!(first["body"], "marker");
}

#[test]
fn send_to_an_unreachable_admin_address_exits_1_and_bad_json_exits_2() {
    let nobody = format!("127.0.0.1:{}", unused_port());
    let unreachable = run_to_end(&["send", &nobody, "{}"]);
    assert_eq!(unreachable.status.code(), Some(1));
    assert!(
        unreachable.stderr.starts_with(&format!(
            "error: cannot reach the admin listener at {nobody}: Connection refused"
        )),
        "{}",
        unreachable.stderr
    );

    let bad = run_to_end(&["send", &nobody, "{not json"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(bad.stderr.contains("not valid JSON"), "{}", bad.stderr);
}

#[test]
fn a_taken_admin_address_exits_1_before_joining() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let seed = format!("127.0.0.1:{}", unused_port());
    let result = run_to_end(&[
        "run",
        "--json",
        "--bind",
        "127.0.0.1",
        "--port",
        "0",
        "--peer",
        &seed,
        "--admin",
        &addr,
    ]);
    assert_eq!(result.status.code(), Some(1));
    assert!(
        result.stdout.is_empty(),
        "nothing started: {}",
        result.stdout
    );
    assert!(
        result
            .stderr
            .contains(&format!("cannot listen on --admin {addr}")),
        "{}",
        result.stderr
    );
}

/// The state `/api/members` gives the member `id`.
fn state_of(admin: &str, id: &str) -> Value {
    let (status, members) = get_json(admin, "/api/members");
    assert_eq!(status, 200, "{members}");
    members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .map_or(Value::Null, |m| m["state"].clone())
}

#[test]
fn members_shows_a_stopped_peer_as_suspected_then_drops_it() {
    let (mut peers, admin) = three_peers();
    let stopped = peers[2].id.clone();
    assert_eq!(state_of(&admin, &stopped), "alive");
    peers[2].guard.signal(Signal::SIGSTOP);
    // Polled: the API has no way to wait. Each change of state is noted.
    let seen = std::cell::RefCell::new(Vec::new());
    let gone = || {
        let state = state_of(&admin, &stopped);
        let mut seen = seen.borrow_mut();
        if seen.last() != Some(&state) {
            seen.push(state);
        }
        seen.last() == Some(&Value::Null)
    };
    let describe = || format!("states seen: {:?}", seen.borrow());
    wait::until_true(
        Instant::now() + DEADLINE * 2,
        "it is dropped",
        describe,
        gone,
    );
    assert_eq!(
        seen.into_inner(),
        [json!("alive"), json!("suspected"), Value::Null]
    );
    peers[2].guard.kill_now();
}

#[test]
fn a_member_that_does_not_reply_is_an_error_row_in_a_broadcast_and_exit_1_with_to() {
    let (mut peers, admin) = three_peers_with(&["--message-timeout-ms", "300"]);
    let silent = peers[2].id.clone();
    peers[2].guard.signal(Signal::SIGSTOP);

    let broadcast = run_to_end(&["send", &admin, "1"]);
    assert!(broadcast.status.success(), "{}", broadcast.stderr);
    let row = broadcast
        .stdout
        .lines()
        .find(|r| r.starts_with(&silent))
        .unwrap_or_else(|| panic!("no row for {silent}: {}", broadcast.stdout));
    assert!(row.contains("error: no reply from"), "{row}");
    let answered = broadcast
        .stdout
        .lines()
        .find(|r| r.starts_with(&peers[0].id));
    assert!(
        answered.unwrap().ends_with(r#"{"from":0}"#),
        "{}",
        broadcast.stdout
    );

    let to = run_to_end(&["send", &admin, "1", "--to", &silent]);
    assert_eq!(to.status.code(), Some(1), "{}", to.stdout);
    assert!(to.stdout.is_empty(), "{}", to.stdout);
    assert!(
        to.stderr.contains(&format!(
            "answered 502 Bad Gateway: member {silent} did not reply: no reply from"
        )),
        "{}",
        to.stderr
    );
    peers[2].guard.kill_now();
}
