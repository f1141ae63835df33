//! `RunningPeer`: one real `peercloud run --json` process on 127.0.0.1, its
//! stdout lines (each with the time it was read) and its stderr; plus
//! short-lived `peercloud` commands run to their end. Touches only the
//! processes it starts, by their pid, and ports on 127.0.0.1.
//!
//! Every peer is given an explicit `--peer`, so no test touches 9338 or
//! another test's cloud. Every wait has a deadline and fails with what was
//! seen; every child is killed (by its pid) when its guard drops, so a
//! failing test leaves no process behind.

#![allow(dead_code)] // each test file uses a different part of it

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// The `peercloud` binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_peercloud");

/// How long any one condition may take before the test fails, unless the
/// test says otherwise.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// The most lines taken from a pipe in one `drain`: far more than a peer
/// prints between two polls.
const MAX_DRAIN: usize = 100_000;

/// A child process that is killed with SIGKILL when dropped, unless it has
/// already been waited for.
pub(crate) struct Guard {
    pub(crate) child: Child,
    reaped: bool,
}

impl Guard {
    pub(crate) fn spawn(command: &mut Command) -> Guard {
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

    pub(crate) fn signal(&self, signal: Signal) {
        assert!(!self.reaped, "signal to a process already waited for");
        kill(Pid::from_raw(self.child.id() as i32), signal).expect("the signal is sent");
    }

    /// Waits for the exit, at most until the deadline.
    pub(crate) fn wait(&mut self, deadline: Instant) -> Option<ExitStatus> {
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

    /// SIGKILL (a stopped process dies of it too), then reaps it.
    pub(crate) fn kill_now(&mut self) {
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

/// Collects a child's stdout lines (through a channel, each with the time
/// it was read) and its stderr (for failure messages), each on a thread of
/// its own.
pub(crate) struct Pipes {
    lines_rx: Receiver<(Instant, String)>,
    /// Every stdout line read so far.
    pub(crate) seen: Vec<String>,
    /// When each line of `seen` was read.
    pub(crate) seen_at: Vec<Instant>,
    pub(crate) stderr: Arc<Mutex<String>>,
    /// Disconnects when stderr is closed.
    stderr_closed_rx: Receiver<()>,
}

impl Pipes {
    pub(crate) fn of(guard: &mut Guard) -> Pipes {
        let stdout = guard.child.stdout.take().expect("stdout is piped");
        let mut stderr_pipe = guard.child.stderr.take().expect("stderr is piped");
        let (lines_tx, lines_rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send((Instant::now(), line)).is_err() {
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
            seen_at: Vec::new(),
            stderr,
            stderr_closed_rx,
        }
    }

    fn push(&mut self, (at, line): (Instant, String)) {
        self.seen.push(line);
        self.seen_at.push(at);
    }

    /// Takes the lines read so far without waiting.
    pub(crate) fn drain(&mut self) {
        for _ in 0..MAX_DRAIN {
            match self.lines_rx.try_recv() {
                Ok(line) => self.push(line),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return,
            }
        }
    }

    /// Reads stdout and stderr to their ends (the process has exited).
    pub(crate) fn read_to_end(&mut self) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines_rx.recv_timeout(left) {
                Ok(line) => self.push(line),
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
    /// test with everything seen if [`DEADLINE`] passes first.
    pub(crate) fn wait_until(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        self.wait_until_by(Instant::now() + DEADLINE, what, done);
    }

    /// [`Pipes::wait_until`] with a deadline of the caller's.
    pub(crate) fn wait_until_by(
        &mut self,
        deadline: Instant,
        what: &str,
        done: impl Fn(&[String]) -> bool,
    ) {
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines_rx.recv_timeout(left) {
                Ok(line) => self.push(line),
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
    pub(crate) fn events(&self) -> Vec<Value> {
        self.seen
            .iter()
            .map(|line| match serde_json::from_str(line) {
                Ok(value) => value,
                Err(_) => self.fail(&format!("stdout line is not JSON: {line:?}")),
            })
            .collect()
    }

    pub(crate) fn fail(&self, message: &str) -> ! {
        panic!(
            "{message}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.seen.join("\n"),
            self.stderr.lock().unwrap()
        )
    }
}

/// A running `peercloud run --json` process.
pub(crate) struct RunningPeer {
    pub(crate) guard: Guard,
    pub(crate) pipes: Pipes,
    pub(crate) stdin: Option<ChildStdin>,
    pub(crate) id: String,
    pub(crate) port: u16,
}

impl RunningPeer {
    /// Starts a peer on a free port that joins through 127.0.0.1:`seed`
    /// and waits for its `started` line.
    pub(crate) fn start(seed: u16, extra: &[&str]) -> RunningPeer {
        RunningPeer::start_on(0, seed, extra)
    }

    /// Starts a peer on `port` (0: any free port) that joins through
    /// 127.0.0.1:`seed`, and waits for its `started` line.
    pub(crate) fn start_on(port: u16, seed: u16, extra: &[&str]) -> RunningPeer {
        let seed = format!("127.0.0.1:{seed}");
        let port = port.to_string();
        let mut command = Command::new(BIN);
        command
            .args(["run", "--json", "--bind", "127.0.0.1", "--port", &port])
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
    pub(crate) fn start_alone(extra: &[&str]) -> RunningPeer {
        let mut peer = RunningPeer::start(unused_port(), extra);
        peer.expect_event(1, "alone");
        peer
    }

    /// Waits for the event at this index of the output and checks its name.
    pub(crate) fn expect_event(&mut self, index: usize, name: &str) -> Value {
        self.pipes
            .wait_until(&format!("event {index}"), |seen| seen.len() > index);
        let event = self.pipes.events().swap_remove(index);
        if event["event"] != name {
            self.pipes.fail(&format!("event {index} is not {name}"));
        }
        event
    }

    /// Waits for an event with this name for which `matches` holds.
    pub(crate) fn wait_for(&mut self, name: &str, matches: impl Fn(&Value) -> bool) -> Value {
        self.wait_for_by(Instant::now() + DEADLINE, name, matches)
    }

    /// [`RunningPeer::wait_for`] with a deadline of the caller's.
    pub(crate) fn wait_for_by(
        &mut self,
        deadline: Instant,
        name: &str,
        matches: impl Fn(&Value) -> bool,
    ) -> Value {
        let found = |events: &[Value]| {
            events
                .iter()
                .find(|e| e["event"] == name && matches(e))
                .cloned()
        };
        self.pipes
            .wait_until_by(deadline, &format!("a {name} event"), |seen| {
                found(&parse_all(seen)).is_some()
            });
        found(&self.pipes.events()).unwrap()
    }

    /// Waits until it has seen `peer_joined` for every one of these ids.
    pub(crate) fn wait_for_peers(&mut self, ids: &[&str]) {
        let ids: BTreeSet<String> = ids.iter().map(|id| (*id).to_owned()).collect();
        self.pipes
            .wait_until(&format!("peer_joined for {ids:?}"), |seen| {
                ids.is_subset(&joined_ids(&parse_all(seen)))
            });
    }

    /// The events seen so far from the `from`-th line on.
    pub(crate) fn events_since(&self, from: usize) -> Vec<Value> {
        parse_all(self.pipes.seen.get(from..).unwrap_or_default())
    }

    /// The events seen so far, each with the time it was read.
    pub(crate) fn timed_events(&self) -> Vec<(Instant, Value)> {
        self.pipes
            .seen_at
            .iter()
            .zip(&self.pipes.seen)
            .filter_map(|(at, line)| Some((*at, serde_json::from_str(line).ok()?)))
            .collect()
    }

    /// The ids it lists as told by its lines so far: each `peer_joined`
    /// adds one, each `peer_left` takes one away.
    pub(crate) fn members(&self) -> BTreeSet<String> {
        let mut members = BTreeSet::new();
        for event in parse_all(&self.pipes.seen) {
            if event["event"] == "peer_joined" {
                if let Some(id) = event["peer"]["id"].as_str() {
                    members.insert(id.to_owned());
                }
            } else if event["event"] == "peer_left" {
                if let Some(id) = event["id"].as_str() {
                    members.remove(id);
                }
            }
        }
        members
    }

    pub(crate) fn write_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{line}").expect("the line is written");
        stdin.flush().expect("stdin is flushed");
    }

    pub(crate) fn is_running(&mut self) -> bool {
        self.guard.child.try_wait().expect("try_wait").is_none()
    }

    /// Its address, as `peercloud peers` and `status` take it.
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Starts `n` peers: the first alone, the others through it, and waits until
/// every one of them has seen every other one join.
pub(crate) fn cloud_of(n: usize, extra: impl Fn(usize) -> Vec<String>) -> Vec<RunningPeer> {
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

pub(crate) fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

pub(crate) fn parse_all(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

pub(crate) fn joined_ids(events: &[Value]) -> BTreeSet<String> {
    events
        .iter()
        .filter(|e| e["event"] == "peer_joined")
        .filter_map(|e| e["peer"]["id"].as_str().map(str::to_owned))
        .collect()
}

/// A port on 127.0.0.1 that nobody listens on, ever: below the ephemeral
/// range that every test's ports come from. A peer keeps retrying a seed
/// that did not answer (to merge clouds), so a seed port that was free
/// once could later be another test's peer, and the two clouds would merge.
pub(crate) fn unused_port() -> u16 {
    1
}

/// A port free now, for a peer to listen on later (bound, then let go).
pub(crate) fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A short-lived `peercloud` command, run to its end.
pub(crate) struct Finished {
    pub(crate) status: ExitStatus,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

pub(crate) fn run_to_end(args: &[&str]) -> Finished {
    run_command_to_end(Command::new(BIN).args(args))
}

/// [`run_to_end`] for a command the caller prepared (environment, ...).
pub(crate) fn run_command_to_end(command: &mut Command) -> Finished {
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut guard = Guard::spawn(command);
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

/// `peercloud peers ADDRESS --json`: the members a peer lists, as it
/// answers them.
pub(crate) fn peers_of(address: &str) -> Vec<Value> {
    let result = run_to_end(&["peers", address, "--json"]);
    assert!(
        result.status.success(),
        "peers {address}: {}",
        result.stderr
    );
    match serde_json::from_str(&result.stdout) {
        Ok(Value::Array(list)) => list,
        _ => panic!("peers {address} --json: not a list: {}", result.stdout),
    }
}

/// `peercloud status ADDRESS --json`.
pub(crate) fn status_of(address: &str) -> Value {
    let result = run_to_end(&["status", address, "--json"]);
    assert!(
        result.status.success(),
        "status {address}: {}",
        result.stderr
    );
    serde_json::from_str(&result.stdout)
        .unwrap_or_else(|_| panic!("status {address} --json: not JSON: {}", result.stdout))
}
