//! `NsPeer`: one `peercloud run --json` process inside a testbed host's
//! namespace, with the members it knows as told by its `peer_joined` and
//! `peer_left` lines. Touches only the processes it starts, by their pid.
//!
//! The hosts come from the `peercloud-testbed` crate. A thread reads its
//! stdout and keeps the member set; another keeps its stderr for failure
//! messages. Every wait has a deadline.

#![allow(dead_code)] // each test file uses a different part of it

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use peercloud_testbed::Host;
use serde_json::Value;

/// The `peercloud` binary under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_peercloud");

/// The port every peer listens on (each host has its own address).
pub(crate) const PORT: u16 = 9338;

/// How long a process may take to print `started`, or a query to finish.
const START_DEADLINE: Duration = Duration::from_secs(20);

/// How often a waiting loop looks again.
const POLL: Duration = Duration::from_millis(50);

/// What a peer's stdout has said so far.
#[derive(Debug, Default)]
struct Seen {
    /// Every line, for failure messages.
    lines: Vec<String>,
    /// Its id, from `started`.
    id: Option<String>,
    /// The members it knows: id to ip.
    members: BTreeMap<String, String>,
    /// Whether it reported `lagged` (then `members` may be wrong).
    lagged: bool,
    /// Whether its stdout has closed (the process has ended).
    closed: bool,
}

impl Seen {
    fn take(&mut self, line: String) {
        if let Ok(event) = serde_json::from_str::<Value>(&line) {
            self.apply(&event);
        }
        self.lines.push(line);
    }

    fn apply(&mut self, event: &Value) {
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        match event["event"].as_str() {
            Some("started") => self.id = Some(text(&event["id"])),
            Some("peer_joined") => {
                let peer = &event["peer"];
                self.members.insert(text(&peer["id"]), text(&peer["ip"]));
            }
            Some("peer_left") => {
                self.members.remove(&text(&event["id"]));
            }
            Some("lagged") => self.lagged = true,
            _ => {}
        }
    }
}

/// A running `peercloud run --json --port 9338 --bind <ip>` in a host's
/// namespace; SIGKILLed (by pid) and reaped when dropped.
pub(crate) struct NsPeer {
    /// The host it runs on.
    pub(crate) host: Host,
    /// Its peer id.
    pub(crate) id: String,
    child: Child,
    seen: Arc<Mutex<Seen>>,
    stderr: Arc<Mutex<String>>,
}

impl NsPeer {
    /// Starts a peer on `host` that joins through `seed`'s address (or
    /// starts alone if nobody answers there), with `extra` flags, and waits
    /// for its `started` line.
    pub(crate) fn start(host: &Host, seed: &Host, extra: &[&str]) -> NsPeer {
        let bind = host.ip().to_string();
        let seed = format!("{}:{PORT}", seed.ip());
        let port = PORT.to_string();
        let mut child = host
            .command(BIN)
            .args(["run", "--json", "--port", &port, "--bind", &bind])
            .args(["--peer", &seed])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start peercloud on {}: {e}", host.name()));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let stderr = Arc::new(Mutex::new(String::new()));
        read_lines(child.stdout.take().expect("stdout is piped"), seen.clone());
        read_all(
            child.stderr.take().expect("stderr is piped"),
            stderr.clone(),
        );
        let mut peer = NsPeer {
            host: host.clone(),
            id: String::new(),
            child,
            seen,
            stderr,
        };
        peer.id = peer.wait_for_id();
        peer
    }

    fn wait_for_id(&self) -> String {
        let deadline = Instant::now() + START_DEADLINE;
        for _ in 0..polls_within(START_DEADLINE) {
            let seen = lock(&self.seen);
            if let Some(id) = &seen.id {
                return id.clone();
            }
            if seen.closed || Instant::now() >= deadline {
                break;
            }
            drop(seen);
            thread::sleep(POLL);
        }
        panic!(
            "{} printed no started line\n{}",
            self.host.name(),
            self.transcript()
        )
    }

    /// The members it knows now, id to ip (a guess if it has `lagged`).
    pub(crate) fn members(&self) -> BTreeMap<String, String> {
        lock(&self.seen).members.clone()
    }

    /// Whether it reported `lagged`: it lost events, so `members` may be
    /// wrong.
    pub(crate) fn lagged(&self) -> bool {
        lock(&self.seen).lagged
    }

    /// Whether it knows this other peer as a member. Panics if it lost
    /// events, since the answer would be a guess.
    pub(crate) fn knows(&self, other: &NsPeer) -> bool {
        let seen = lock(&self.seen);
        assert!(
            !seen.lagged,
            "{} lost events (lagged): its member set is unknown",
            self.host.name()
        );
        seen.members.contains_key(&other.id)
    }

    /// Whether it is still running (its stdout is open).
    pub(crate) fn is_running(&self) -> bool {
        !lock(&self.seen).closed
    }

    /// The ids `peercloud peers <ip>:9338 --json`, run in the host's
    /// namespace, lists: what the peer says over HTTP, not its events.
    pub(crate) fn listed(&self) -> Result<Vec<String>, String> {
        let address = format!("{}:{PORT}", self.host.ip());
        let mut command = self.host.command(BIN);
        command.args(["peers", &address, "--json"]);
        let stdout = run_to_end(command, START_DEADLINE)?;
        let list: Vec<Value> = serde_json::from_str(&stdout)
            .map_err(|e| format!("`peercloud peers` printed no JSON list ({e}): {stdout}"))?;
        let ids = list.iter().map(|p| p["id"].as_str().map(str::to_owned));
        ids.collect::<Option<_>>()
            .ok_or_else(|| format!("a listed peer has no id: {stdout}"))
    }

    /// Whether `peercloud status <host ip>:9338`, run in this peer's
    /// namespace, gets an answer: a check that the testbed's links are as
    /// the test means them to be.
    pub(crate) fn can_reach(&self, host: &Host) -> bool {
        let address = format!("{}:{PORT}", host.ip());
        let mut command = self.host.command(BIN);
        command.args(["status", &address, "--json"]);
        run_to_end(command, START_DEADLINE).is_ok()
    }

    /// SIGSTOPs the process: it answers nothing and sends nothing.
    pub(crate) fn pause(&self) {
        self.signal(Signal::SIGSTOP);
    }

    /// SIGCONTs the process after `pause`.
    pub(crate) fn resume(&self) {
        self.signal(Signal::SIGCONT);
    }

    fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(pid_of(&self.child)), signal)
            .unwrap_or_else(|e| panic!("{signal} to {}: {e}", self.host.name()));
    }

    /// Its stdout and stderr so far, for failure messages.
    pub(crate) fn transcript(&self) -> String {
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.host.name(),
            lock(&self.seen).lines.join("\n"),
            self.host.name(),
            lock(&self.stderr)
        )
    }
}

impl Drop for NsPeer {
    fn drop(&mut self) {
        // SIGKILL wakes a stopped process too; wait() reaps it, so the pid
        // is never signalled again once it could be reused.
        let _ = kill(Pid::from_raw(pid_of(&self.child)), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn pid_of(child: &Child) -> i32 {
    i32::try_from(child.id()).expect("a pid fits in i32")
}

/// Reads stdout lines into `seen` until the pipe closes.
fn read_lines(stdout: impl Read + Send + 'static, seen: Arc<Mutex<Seen>>) {
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            lock(&seen).take(line);
        }
        lock(&seen).closed = true;
    });
}

/// Appends everything read from `pipe` to `sink` until the pipe closes.
fn read_all(mut pipe: impl Read + Send + 'static, sink: Arc<Mutex<String>>) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            lock(&sink).push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
}

/// Runs a short command to its end (killed, by pid, at the deadline): its
/// stdout if it succeeded, else a sentence with its stderr.
fn run_to_end(mut command: Command, within: Duration) -> Result<String, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {command:?}: {e}"))?;
    let stdout = Arc::new(Mutex::new(String::new()));
    let stderr = Arc::new(Mutex::new(String::new()));
    let readers = [
        read_all(
            child.stdout.take().expect("stdout is piped"),
            stdout.clone(),
        ),
        read_all(
            child.stderr.take().expect("stderr is piped"),
            stderr.clone(),
        ),
    ];
    let deadline = Instant::now() + within;
    let mut status = None;
    for _ in 0..polls_within(within) {
        status = child.try_wait().map_err(|e| e.to_string())?;
        if status.is_some() || Instant::now() >= deadline {
            break;
        }
        thread::sleep(POLL);
    }
    let Some(status) = status else {
        let _ = kill(Pid::from_raw(pid_of(&child)), Signal::SIGKILL);
        let _ = child.wait();
        return Err(format!("{command:?} took more than {within:?}"));
    };
    // The pipes closed with the process: the readers are at their end.
    for reader in readers {
        let _ = reader.join();
    }
    if status.success() {
        Ok(lock(&stdout).clone())
    } else {
        Err(format!("{command:?} failed ({status}): {}", lock(&stderr)))
    }
}

/// Enough polls for `period`, and a few more for slow wake-ups; the time
/// check in each loop is what normally ends it.
fn polls_within(period: Duration) -> u128 {
    period.as_millis() / POLL.as_millis() + 10
}

/// Locks, whether or not a panicking thread poisoned the lock.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
