//! Child processes of the orchestrator. Each [`Proc`] is a guard: dropping
//! it (on success, on error, or while a panic unwinds) kills its child with
//! SIGKILL. Its stdout is read as JSON lines, each stamped with the moment
//! it arrived, so that a slow reader does not skew the times. Touches only
//! the processes it started, by their handles.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::{timeout, timeout_at, Instant};

use crate::Result;

/// How many of the last stderr lines are kept, to explain a failure.
const STDERR_TAIL: usize = 12;

/// How long `kill -STOP` or `kill -CONT` may take.
const SIGNAL_WITHIN: Duration = Duration::from_secs(5);

/// One line a child printed, parsed, with the moment it was read.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// When the orchestrator read it.
    pub(crate) at: Instant,
    /// The JSON object (a line that is not JSON becomes `{"event":"text"}`).
    pub(crate) value: Value,
}

impl Line {
    /// Its `event` field.
    pub(crate) fn event(&self) -> &str {
        self.value["event"].as_str().unwrap_or_default()
    }
}

/// A running child process, killed when dropped.
pub(crate) struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines_rx: mpsc::UnboundedReceiver<Line>,
    /// Lines read while waiting for another one.
    pending: VecDeque<Line>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl Proc {
    /// Starts `command` with piped stdio; it is killed when the guard drops.
    pub(crate) fn spawn(name: impl Into<String>, mut command: Command) -> Result<Proc> {
        let name = name.into();
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| format!("{name}: cannot start: {e}"))?;
        let (lines_tx, lines_rx) = mpsc::unbounded_channel();
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(read_stdout(stdout, lines_tx));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(keep_stderr(err, stderr.clone()));
        }
        Ok(Proc {
            name,
            stdin: child.stdin.take(),
            child,
            lines_rx,
            pending: VecDeque::new(),
            stderr,
        })
    }

    /// Its name in the reports.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Its process id, while it runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Waits for the next line whose `event` is `event`; other lines are
    /// kept for [`drain`](Self::drain). An `error` line is a failure.
    pub(crate) async fn expect(&mut self, event: &str, within: Duration) -> Result<Line> {
        if let Some(i) = self.pending.iter().position(|l| l.event() == event) {
            if let Some(line) = self.pending.remove(i) {
                return Ok(line);
            }
        }
        let deadline = Instant::now() + within;
        loop {
            match timeout_at(deadline, self.lines_rx.recv()).await {
                Ok(Some(line)) if line.event() == event => return Ok(line),
                Ok(Some(line)) if line.event() == "error" => {
                    return Err(self.failure(&format!("said {}", line.value)))
                }
                Ok(Some(line)) => self.pending.push_back(line),
                Ok(None) => return Err(self.failure(&format!("exited before {event:?}"))),
                Err(_) => return Err(self.failure(&format!("no {event:?} within {within:?}"))),
            }
        }
    }

    /// Sends a command line and waits for its answer.
    pub(crate) async fn command(
        &mut self,
        command: &Value,
        answer: &str,
        within: Duration,
    ) -> Result<Value> {
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.failure("has no stdin"));
        };
        let mut bytes = command.to_string().into_bytes();
        bytes.push(b'\n');
        if let Err(e) = stdin.write_all(&bytes).await {
            return Err(self.failure(&format!("refused a command: {e}")));
        }
        let line = self.expect(answer, within).await?;
        match line.value.get("error") {
            Some(error) if !error.is_null() => Err(self.failure(&format!("failed: {error}"))),
            _ => Ok(line.value),
        }
    }

    /// Every line read so far and not yet taken, oldest first. Never waits.
    pub(crate) fn drain(&mut self) -> Vec<Line> {
        while let Ok(line) = self.lines_rx.try_recv() {
            self.pending.push_back(line);
        }
        self.pending.drain(..).collect()
    }

    /// Kills it now with SIGKILL, as `kill -9` does.
    pub(crate) fn kill(&mut self) -> Result<()> {
        self.child
            .start_kill()
            .map_err(|e| format!("{}: cannot kill: {e}", self.name).into())
    }

    /// Kills it with SIGKILL and waits, up to `within`, until it has
    /// exited: nothing of it is left where it ran (a testbed's namespace
    /// about to be deleted). The guard is gone after, so its pid is never
    /// signalled again.
    pub(crate) async fn end(mut self, within: Duration) {
        let _ = self.child.start_kill();
        let _ = timeout(within, self.child.wait()).await;
    }

    /// Stops it with SIGSTOP, as a process that hangs (a long pause, a
    /// machine that stalls): its sockets stay open, and the kernel still
    /// accepts connections for it, which nobody answers until
    /// [`resume`](Self::resume).
    pub(crate) async fn pause(&mut self) -> Result<()> {
        self.signal("STOP").await
    }

    /// Lets it run again with SIGCONT after [`pause`](Self::pause).
    pub(crate) async fn resume(&mut self) -> Result<()> {
        self.signal("CONT").await
    }

    /// Sends a signal with `kill -SIGNAL PID`. The pid is this child's: the
    /// child is never waited for while the guard lives, so its pid cannot
    /// have been reused by another process.
    async fn signal(&mut self, signal: &str) -> Result<()> {
        let Some(pid) = self.pid() else {
            return Err(self.failure(&format!("exited before SIG{signal}")));
        };
        let mut kill = Command::new("kill");
        kill.arg(format!("-{signal}"))
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match timeout(SIGNAL_WITHIN, kill.status()).await {
            Ok(Ok(status)) if status.success() => Ok(()),
            Ok(Ok(status)) => Err(self.failure(&format!("kill -{signal} {pid}: {status}"))),
            Ok(Err(e)) => Err(self.failure(&format!("kill -{signal} {pid}: {e}"))),
            Err(_) => Err(self.failure(&format!("kill -{signal} {pid} hung"))),
        }
    }

    /// An error about this child, with what it last said on stderr.
    pub(crate) fn failure(&mut self, what: &str) -> crate::Error {
        let status = match self.child.try_wait() {
            Ok(Some(status)) => format!(" ({status})"),
            _ => String::new(),
        };
        let tail = self
            .stderr
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join(" | "))
            .unwrap_or_default();
        let tail = if tail.is_empty() {
            String::new()
        } else {
            format!("; stderr: {tail}")
        };
        format!("{} {what}{status}{tail}", self.name).into()
    }
}

async fn read_stdout(stdout: tokio::process::ChildStdout, lines_tx: mpsc::UnboundedSender<Line>) {
    let mut lines = BufReader::new(stdout).lines();
    while let Ok(Some(text)) = lines.next_line().await {
        let at = Instant::now();
        let value = serde_json::from_str::<Value>(&text)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({"event": "text", "text": text}));
        if lines_tx.send(Line { at, value }).is_err() {
            return;
        }
    }
}

async fn keep_stderr(stderr: tokio::process::ChildStderr, tail: Arc<Mutex<VecDeque<String>>>) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(text)) = lines.next_line().await {
        if let Ok(mut tail) = tail.lock() {
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(text);
        }
    }
}
