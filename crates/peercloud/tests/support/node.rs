//! `NodePeer`: one peer of the ORIGINAL node.js implementation
//! (`peercloud@0.1.3`), run by `interop/node-peer.js` as a child process and
//! driven over its JSON-lines stdin/stdout. Touches only the child it spawned.
//!
//! Every read has a deadline; a failure says what the child printed last,
//! including its stderr.

#![allow(dead_code)] // each test file uses a different part of it

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};
use tokio::time::{timeout_at, Instant};

/// How long any one wait on a node peer may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// The repository root, where `interop/` and `node_modules/` live.
pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A port that was free a moment ago on 127.0.0.1 (never 9338 by luck alone:
/// the system picks it).
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// One member as a node peer lists it: `ip` and `port` exactly as the
/// original stores them (`port` may be a number or a string).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeMember {
    pub(crate) id: String,
    pub(crate) ip: String,
    pub(crate) port: Value,
    pub(crate) data: Value,
}

impl NodeMember {
    fn from_json(value: &Value) -> NodeMember {
        NodeMember {
            id: value["id"].as_str().unwrap_or_default().to_owned(),
            ip: value["ip"].as_str().unwrap_or_default().to_owned(),
            port: value["port"].clone(),
            data: value["data"].clone(),
        }
    }

    /// The port as a number, whichever way it was stored.
    pub(crate) fn port_number(&self) -> Option<u16> {
        match &self.port {
            Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// A running original peer.
pub(crate) struct NodePeer {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
    stderr: Arc<Mutex<String>>,
    /// `message` lines read while waiting for a command's answer.
    messages: VecDeque<Value>,
    /// Its id, from the `ready` line.
    pub(crate) id: String,
    /// The port it listens on.
    pub(crate) port: u16,
    /// Whether it joined a cloud (false: it started alone).
    pub(crate) joined: bool,
}

impl NodePeer {
    /// Starts a node peer and waits for it to be ready. `config` is the
    /// harness config; a missing or zero `port` is replaced by a free one,
    /// so that no test ever touches 9338 (and if another socket took that
    /// port meanwhile, a fresh one is tried).
    pub(crate) async fn start(name: &str, mut config: Value) -> NodePeer {
        check_installed();
        let pick_port = config["port"].as_u64().unwrap_or(0) == 0;
        for _ in 0..3 {
            if pick_port {
                config["port"] = json!(free_port());
            }
            let mut peer = NodePeer::spawn(name, &config);
            let first = peer.read_line("ready").await;
            match first["event"].as_str() {
                Some("ready") => {
                    peer.ready(&first);
                    return peer;
                }
                Some("error") if pick_port && first["error"]["code"] == "EADDRINUSE" => continue,
                _ => peer.fail(&format!("did not start: {first}")),
            }
        }
        panic!("node peer {name}: every port tried was taken");
    }

    fn spawn(name: &str, config: &Value) -> NodePeer {
        let mut child = Command::new("node")
            .arg("interop/node-peer.js")
            .arg(config.to_string())
            .current_dir(repo_root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot run `node` ({e}): install node.js, then run npm ci at the repo root")
            });
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            tokio::spawn(collect(pipe, stderr.clone()));
        }
        NodePeer {
            name: name.to_owned(),
            child,
            stdin,
            stdout,
            stderr,
            messages: VecDeque::new(),
            id: String::new(),
            port: 0,
            joined: false,
        }
    }

    fn ready(&mut self, ready: &Value) {
        self.id = ready["id"].as_str().expect("ready has an id").to_owned();
        self.port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .expect("ready has a port");
        self.joined = ready["joined"].as_bool().unwrap_or(false);
    }

    /// Its member list, now.
    pub(crate) async fn peers(&mut self) -> Vec<NodeMember> {
        let answer = self.command(json!({"cmd": "peers"}), "peers").await;
        answer["peers"]
            .as_array()
            .map(|peers| peers.iter().map(NodeMember::from_json).collect())
            .unwrap_or_default()
    }

    /// Polls its list (a node peer has no way to wait on it) until `done`
    /// holds, failing after [`DEADLINE`] with the last list seen. Returns
    /// that list.
    pub(crate) async fn wait_for_peers(
        &mut self,
        what: &str,
        done: impl Fn(&[NodeMember]) -> bool,
    ) -> Vec<NodeMember> {
        let what = format!("node peer {}: {what}", self.name);
        let deadline = Instant::now() + DEADLINE;
        let peer = tokio::sync::Mutex::new(self);
        let look = || async {
            let mut peer = peer.lock().await;
            let peers = peer.peers().await;
            match done(&peers) {
                true => Ok(peers),
                false => Err(peers),
            }
        };
        crate::wait::until_async(deadline, &what, look).await
    }

    /// Broadcasts a message (the proxy's `send`); the answer line, with
    /// `error` (every result, if any failed) or `replies`.
    pub(crate) async fn broadcast(&mut self, body: Value) -> Value {
        self.command(json!({"cmd": "broadcast", "body": body}), "broadcast")
            .await
    }

    /// Sends a message to one member; the answer line, with `error` or
    /// `reply`.
    pub(crate) async fn send(&mut self, id: &str, body: Value) -> Value {
        self.command(json!({"cmd": "send", "id": id, "body": body}), "sent")
            .await
    }

    /// Makes it evict a member the way it evicts after a failed probe
    /// (the package's own `check`, dialling the member at `dead_port`):
    /// it drops the member and broadcasts `/left {id}` to every peer it
    /// still lists. Returns once that broadcast is done.
    pub(crate) async fn evict(&mut self, id: &str, dead_port: u16) {
        let command = json!({"cmd": "evict", "id": id, "port": dead_port});
        let answer = self.command(command, "evicted").await;
        if answer["result"]["online"] != json!(false) {
            self.fail(&format!("did not evict {id}: {answer}"));
        }
    }

    /// The next message its handler received (`{from, from_id, body}`).
    pub(crate) async fn next_message(&mut self) -> Value {
        if let Some(message) = self.messages.pop_front() {
            return message;
        }
        self.read_event("message").await
    }

    /// Leaves the way the original does (telling nobody, see WIRE.md 1.6)
    /// and waits for the process to exit.
    pub(crate) async fn close(mut self) {
        self.command(json!({"cmd": "close"}), "closed").await;
        let status = timeout_at(Instant::now() + DEADLINE, self.child.wait()).await;
        assert!(
            matches!(status, Ok(Ok(s)) if s.success()),
            "node peer {} did not exit cleanly after close: {status:?}",
            self.name
        );
    }

    /// Crashes it: SIGKILL to this child only, then reaps it.
    pub(crate) async fn kill(&mut self) {
        self.child.start_kill().expect("SIGKILL the node peer");
        let _ = timeout_at(Instant::now() + DEADLINE, self.child.wait()).await;
    }

    async fn command(&mut self, command: Value, answer: &str) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        let line = format!("{command}\n");
        if let Err(e) = stdin.write_all(line.as_bytes()).await {
            self.fail(&format!("cannot write {command}: {e}"));
        }
        self.answer(answer).await
    }

    /// Reads lines until the one for `event`, keeping `message` lines aside.
    async fn answer(&mut self, event: &str) -> Value {
        loop {
            let line = self.read_line(event).await;
            match line["event"].as_str() {
                Some(e) if e == event => return line,
                Some("message") => self.messages.push_back(line),
                _ => self.fail(&format!("expected a {event:?} line, got {line}")),
            }
        }
    }

    async fn read_event(&mut self, event: &str) -> Value {
        let line = self.read_line(event).await;
        if line["event"] != event {
            self.fail(&format!("expected a {event:?} line, got {line}"));
        }
        line
    }

    async fn read_line(&mut self, waiting_for: &str) -> Value {
        let deadline = Instant::now() + DEADLINE;
        match timeout_at(deadline, self.stdout.next_line()).await {
            Ok(Ok(Some(line))) => serde_json::from_str(&line).unwrap_or_else(|e| {
                self.fail(&format!("printed a line that is not JSON ({e}): {line}"))
            }),
            Ok(Ok(None)) => self.fail(&format!("exited while waiting for {waiting_for:?}")),
            Ok(Err(e)) => self.fail(&format!("cannot read its stdout: {e}")),
            Err(_) => self.fail(&format!("no {waiting_for:?} line within {DEADLINE:?}")),
        }
    }

    fn fail(&mut self, why: &str) -> ! {
        let status = self.child.try_wait().ok().flatten();
        let stderr = self.stderr.lock().map(|s| s.clone()).unwrap_or_default();
        panic!(
            "node peer {}: {why}\n  exit status: {status:?}\n  stderr:\n{stderr}",
            self.name
        );
    }
}

/// Keeps what the child writes to stderr, for failure messages.
async fn collect(mut pipe: ChildStderr, sink: Arc<Mutex<String>>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = pipe.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if let Ok(mut text) = sink.lock() {
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

/// Fails at once, and clearly, when the original package is not installed.
fn check_installed() {
    let package = repo_root().join("node_modules/peercloud/package.json");
    assert!(
        package.is_file(),
        "{} is missing: run npm ci at the repo root (the interop tests run the original \
         node.js peercloud@0.1.3 beside the Rust peers)",
        package.display()
    );
}
