//! End-to-end tests of the `peercloud` binary: real `peercloud run`
//! processes on 127.0.0.1 and free ports, read through their `--json` lines.
//!
//! Every peer listens on a port the system picks (`--port 0`) and is given
//! an explicit `--peer`, so no test touches 9338 or another test's cloud.
//! Every wait has a deadline and fails with what was seen; every child is
//! killed (by its pid) when its guard drops, so a failing test leaves no
//! process behind.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_peercloud");

/// How long any one condition may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(20);

/// A child process that is killed with SIGKILL when dropped, unless it has
/// already been waited for.
struct Guard {
    child: Child,
    reaped: bool,
}

impl Guard {
    fn spawn(command: &mut Command) -> Guard {
        let child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the peercloud binary starts");
        Guard {
            child,
            reaped: false,
        }
    }

    fn signal(&self, signal: Signal) {
        assert!(!self.reaped, "signal to a process already waited for");
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("the signal is sent");
    }

    /// Waits for the exit, at most until the deadline.
    fn wait(&mut self, deadline: Instant) -> Option<ExitStatus> {
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                self.reaped = true;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill_now(&mut self) {
        if !self.reaped {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// Collects a child's stdout lines (through a channel) and its stderr (for
/// failure messages), each on a thread of its own.
struct Pipes {
    lines_rx: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
    /// Disconnects when stderr is closed.
    stderr_closed_rx: Receiver<()>,
}

impl Pipes {
    fn of(guard: &mut Guard) -> Pipes {
        let stdout = guard.child.stdout.take().expect("stdout is piped");
        let mut stderr_pipe = guard.child.stderr.take().expect("stderr is piped");
        let (lines_tx, lines_rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_sink = stderr.clone();
        let (stderr_closed_tx, stderr_closed_rx) = mpsc::channel::<()>();
        thread::spawn(move || {
            let _closed_on_return = stderr_closed_tx;
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                stderr_sink
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Pipes {
            lines_rx,
            seen: Vec::new(),
            stderr,
            stderr_closed_rx,
        }
    }

    /// Reads stdout and stderr to their ends (the process has exited).
    fn read_to_end(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines_rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => self.fail("stdout stayed open"),
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if let Err(RecvTimeoutError::Timeout) = self.stderr_closed_rx.recv_timeout(left) {
            self.fail("stderr stayed open");
        }
    }

    /// Reads lines until `done` holds for the lines seen so far; fails the
    /// test with everything seen if the deadline passes first.
    fn wait_until(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines_rx.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(RecvTimeoutError::Timeout) => {
                    self.fail(&format!("timed out waiting for {what}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.fail(&format!("stdout closed while waiting for {what}"))
                }
            }
        }
    }

    /// Every line seen so far, parsed as JSON (a line that is not JSON fails
    /// the test: with `--json`, stdout holds JSON lines only).
    fn events(&self) -> Vec<Value> {
        self.seen
            .iter()
            .map(|line| match serde_json::from_str(line) {
                Ok(value) => value,
                Err(_) => self.fail(&format!("stdout line is not JSON: {line:?}")),
            })
            .collect()
    }

    fn fail(&self, message: &str) -> ! {
        panic!(
            "{message}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.seen.join("\n"),
            self.stderr.lock().unwrap()
        )
    }
}

/// A running `peercloud run --json` process.
struct RunningPeer {
    guard: Guard,
    pipes: Pipes,
    stdin: Option<ChildStdin>,
    id: String,
    port: u16,
}

impl RunningPeer {
    /// Starts a peer that joins through 127.0.0.1:`seed` and waits for its
    /// `started` line.
    fn start(seed: u16, extra: &[&str]) -> RunningPeer {
        let seed = format!("127.0.0.1:{seed}");
        let mut command = Command::new(BIN);
        command
            .args(["run", "--json", "--bind", "127.0.0.1", "--port", "0"])
            .args(["--peer", &seed])
            .args(extra);
        let mut guard = Guard::spawn(&mut command);
        let stdin = guard.child.stdin.take();
        let mut pipes = Pipes::of(&mut guard);
        pipes.wait_until("the started event", |seen| !seen.is_empty());
        let started = pipes.events().remove(0);
        if started["event"] != "started" {
            pipes.fail("the first line is not the started event");
        }
        RunningPeer {
            id: started["id"].as_str().unwrap().to_owned(),
            port: u16::try_from(started["port"].as_u64().unwrap()).unwrap(),
            guard,
            pipes,
            stdin,
        }
    }

    /// Starts the first peer of a cloud: its seed is a port nobody listens on.
    fn start_alone(extra: &[&str]) -> RunningPeer {
        let mut peer = RunningPeer::start(unused_port(), extra);
        peer.expect_event(1, "alone");
        peer
    }

    /// Waits for the event at this index of the output and checks its name.
    fn expect_event(&mut self, index: usize, name: &str) -> Value {
        self.pipes
            .wait_until(&format!("event {index}"), |seen| seen.len() > index);
        let event = self.pipes.events().swap_remove(index);
        if event["event"] != name {
            self.pipes.fail(&format!("event {index} is not {name}"));
        }
        event
    }

    /// Waits for an event with this name for which `matches` holds.
    fn wait_for(&mut self, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let found = |events: &[Value]| {
            events
                .iter()
                .find(|e| e["event"] == name && matches(e))
                .cloned()
        };
        self.pipes.wait_until(&format!("a {name} event"), |seen| {
            found(&parse_all(seen)).is_some()
        });
        found(&self.pipes.events()).unwrap()
    }

    /// Waits until it has seen `peer_joined` for every one of these ids.
    fn wait_for_peers(&mut self, ids: &[&str]) {
        let ids: BTreeSet<String> = ids.iter().map(|id| (*id).to_owned()).collect();
        self.pipes
            .wait_until(&format!("peer_joined for {ids:?}"), |seen| {
                ids.is_subset(&joined_ids(&parse_all(seen)))
            });
    }

    fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("the line is written");
        stdin.flush().expect("stdin is flushed");
    }

    fn is_running(&mut self) -> bool {
        self.guard.child.try_wait().expect("try_wait").is_none()
    }
}

/// Starts `n` peers: the first alone, the others through it, and waits until
/// every one of them has seen every other one join.
fn cloud_of(n: usize, extra: impl Fn(usize) -> Vec<String>) -> Vec<RunningPeer> {
    let first = RunningPeer::start_alone(&as_strs(&extra(0)));
    let seed = first.port;
    let mut peers = vec![first];
    for i in 1..n {
        let args = extra(i);
        let mut peer = RunningPeer::start(seed, &as_strs(&args));
        peer.expect_event(1, "joined");
        peers.push(peer);
    }
    let ids: Vec<String> = peers.iter().map(|p| p.id.clone()).collect();
    for peer in &mut peers {
        let others: Vec<&str> = ids
            .iter()
            .filter(|id| **id != peer.id)
            .map(String::as_str)
            .collect();
        peer.wait_for_peers(&others);
    }
    peers
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

fn parse_all(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

fn joined_ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["event"] == "peer_joined")
        .filter_map(|e| e["peer"]["id"].as_str().map(str::to_owned))
        .collect()
}

/// A port that nobody listens on (bound, then let go).
fn unused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A short-lived `peercloud` command, run to its end.
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn run_to_end(args: &[&str]) -> Finished {
    let mut guard = Guard::spawn(Command::new(BIN).args(args));
    drop(guard.child.stdin.take());
    let mut pipes = Pipes::of(&mut guard);
    let Some(status) = guard.wait(Instant::now() + DEADLINE) else {
        pipes.fail(&format!("peercloud {args:?} did not finish in time"));
    };
    pipes.read_to_end();
    let stderr = pipes.stderr.lock().unwrap().clone();
    Finished {
        status,
        stdout: pipes.seen.join("\n"),
        stderr,
    }
}

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
