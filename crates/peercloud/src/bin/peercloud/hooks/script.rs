//! Running one hook command: `sh -c CMD` in a process group of its own,
//! with bytes on its stdin and variables in its environment; its stdout is
//! kept (bounded), its stderr logged (bounded), and the whole group is
//! killed when its time runs out or the run is dropped. Touches only the
//! processes it starts.

use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

/// The most bytes of stdout kept: a reply larger than a peer takes by
/// default (1 MiB) could not be sent anyway.
pub(crate) const STDOUT_LIMIT: usize = 1024 * 1024;

/// The most bytes of stderr logged per run; the rest is read and dropped,
/// so a chatty command neither blocks nor floods the log.
pub(crate) const STDERR_LIMIT: usize = 4096;

/// A command run through `sh -c`, with a time limit per run.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    command: Arc<str>,
    timeout: Duration,
    /// Names the hook in log lines (`exec`, `on-event`).
    hook: &'static str,
}

/// Why a run gave no output to use.
#[derive(Debug, Error)]
pub(crate) enum ScriptError {
    /// `sh` could not be started; nothing ran.
    #[error("cannot start the handler: {0}")]
    Spawn(#[source] io::Error),
    /// It ran and exited with a non-zero status.
    #[error("the handler exited with status {0}")]
    Exited(i32),
    /// It was killed by a signal (not by us).
    #[error("the handler was killed by signal {0}")]
    Signalled(i32),
    /// It ran out of time; its process group was killed.
    #[error("the handler did not finish within {} ms and was killed", .0.as_millis())]
    TimedOut(Duration),
    /// It wrote more than [`STDOUT_LIMIT`] bytes on stdout; it was killed.
    #[error("the handler wrote more than {limit} bytes on stdout and was killed")]
    OutputTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Its pipes or its exit status could not be read.
    #[error("cannot read the handler's output: {0}")]
    Io(#[source] io::Error),
}

impl Script {
    pub(crate) fn new(command: &str, timeout: Duration, hook: &'static str) -> Self {
        Script {
            command: command.into(),
            timeout,
            hook,
        }
    }

    /// Runs the command once with `input` on stdin and `env` added to the
    /// environment, and returns its stdout if it exits with status 0.
    pub(crate) async fn run(
        &self,
        env: &[(&str, String)],
        input: &[u8],
    ) -> Result<Vec<u8>, ScriptError> {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&*self.command)
            .envs(env.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Its own group, so that a timeout kills what it started too.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(ScriptError::Spawn)?;
        // Declared after `child`, so dropped before it: the group is killed
        // while its leader is not reaped yet and its id cannot be reused.
        let mut group = GroupKill::of(&child);
        let outcome = tokio::time::timeout(self.timeout, talk(&mut child, input)).await;
        let (status, stdout, stderr) = match outcome {
            Err(_) => return Err(ScriptError::TimedOut(self.timeout)),
            Ok(result) => result?,
        };
        // Exited: what it left running in the background is its own affair.
        group.disarm();
        self.log_stderr(&stderr);
        check(status)?;
        Ok(stdout)
    }

    fn log_stderr(&self, stderr: &Stderr) {
        let text = String::from_utf8_lossy(&stderr.kept);
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            tracing::warn!(hook = self.hook, "handler stderr: {line}");
        }
        if stderr.dropped > 0 {
            tracing::warn!(
                hook = self.hook,
                dropped = stderr.dropped,
                "handler stderr: {} more bytes not logged",
                stderr.dropped
            );
        }
    }
}

/// Writes stdin, reads stdout and stderr, and waits for the exit, all at
/// once: a command that writes before it reads must not block on a full
/// pipe.
async fn talk(
    child: &mut Child,
    input: &[u8],
) -> Result<(ExitStatus, Vec<u8>, Stderr), ScriptError> {
    let stdin = child.stdin.take();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let write = async {
        if let Some(mut stdin) = stdin {
            // A command that does not read its stdin closes the pipe early:
            // that is its right, not an error.
            let _ = stdin.write_all(input).await;
        }
        Ok::<(), ScriptError>(())
    };
    let (_, stdout, stderr) = tokio::try_join!(write, read_stdout(stdout), read_stderr(stderr))?;
    let status = child.wait().await.map_err(ScriptError::Io)?;
    Ok((status, stdout, stderr))
}

async fn read_stdout(pipe: Option<impl AsyncRead + Unpin>) -> Result<Vec<u8>, ScriptError> {
    let mut kept = Vec::new();
    if let Some(pipe) = pipe {
        let limit = STDOUT_LIMIT as u64;
        pipe.take(limit + 1)
            .read_to_end(&mut kept)
            .await
            .map_err(ScriptError::Io)?;
        if kept.len() > STDOUT_LIMIT {
            return Err(ScriptError::OutputTooLarge {
                limit: STDOUT_LIMIT,
            });
        }
    }
    Ok(kept)
}

/// What was read of stderr: the first [`STDERR_LIMIT`] bytes, and how many
/// more were dropped.
#[derive(Debug, Default)]
struct Stderr {
    kept: Vec<u8>,
    dropped: u64,
}

async fn read_stderr(pipe: Option<impl AsyncRead + Unpin>) -> Result<Stderr, ScriptError> {
    let mut stderr = Stderr::default();
    if let Some(mut pipe) = pipe {
        let mut buf = [0u8; 4096];
        loop {
            let n = pipe.read(&mut buf).await.map_err(ScriptError::Io)?;
            if n == 0 {
                break;
            }
            let room = STDERR_LIMIT.saturating_sub(stderr.kept.len()).min(n);
            stderr.kept.extend_from_slice(&buf[..room]);
            stderr.dropped += (n - room) as u64;
        }
    }
    Ok(stderr)
}

fn check(status: ExitStatus) -> Result<(), ScriptError> {
    if status.success() {
        return Ok(());
    }
    if let Some(code) = status.code() {
        return Err(ScriptError::Exited(code));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return Err(ScriptError::Signalled(signal));
        }
    }
    Err(ScriptError::Exited(-1))
}

/// Kills a run's process group when dropped, unless disarmed: on a timeout,
/// and when the run itself is dropped (the sender went away).
struct GroupKill {
    group: Option<u32>,
}

impl GroupKill {
    fn of(child: &Child) -> Self {
        GroupKill { group: child.id() }
    }

    fn disarm(&mut self) {
        self.group = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(group) = self.group.take().and_then(|id| i32::try_from(id).ok()) {
            use nix::sys::signal::{killpg, Signal};
            use nix::unistd::Pid;
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn script(command: &str) -> Script {
        Script::new(command, Duration::from_secs(10), "test")
    }

    #[tokio::test]
    async fn stdin_reaches_the_command_and_its_stdout_comes_back() {
        let out = script("tr a-z A-Z").run(&[], b"hello").await.unwrap();
        assert_eq!(out, b"HELLO");
    }

    #[tokio::test]
    async fn the_environment_is_given_to_the_command() {
        let env = [("PEERCLOUD_TEST_VALUE", "42".to_owned())];
        let out = script("printf %s \"$PEERCLOUD_TEST_VALUE\"")
            .run(&env, b"")
            .await
            .unwrap();
        assert_eq!(out, b"42");
    }

    #[tokio::test]
    async fn a_non_zero_exit_is_an_error_with_its_status() {
        let error = script("echo '{}'; exit 3").run(&[], b"").await.unwrap_err();
        assert!(matches!(error, ScriptError::Exited(3)), "{error:?}");
        assert_eq!(error.to_string(), "the handler exited with status 3");
    }

    #[tokio::test]
    async fn a_command_that_ignores_its_stdin_still_answers() {
        let input = vec![b'x'; 1024 * 1024];
        let out = script("echo done").run(&[], &input).await.unwrap();
        assert_eq!(out, b"done\n");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child.pid");
        // The background sleep is a grandchild: only a group kill reaches it.
        let command = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let slow = Script::new(&command, Duration::from_millis(300), "test");
        let started = Instant::now();
        let error = slow.run(&[], b"").await.unwrap_err();
        assert!(matches!(error, ScriptError::TimedOut(_)), "{error:?}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) {
            assert!(Instant::now() < deadline, "the grandchild {pid} lives on");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn stdout_past_the_limit_is_refused() {
        let command = format!("head -c {} /dev/zero", STDOUT_LIMIT + 10);
        let error = script(&command).run(&[], b"").await.unwrap_err();
        assert!(
            matches!(error, ScriptError::OutputTooLarge { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_chatty_stderr_neither_blocks_nor_fails_the_run() {
        let command = "head -c 200000 /dev/zero >&2; echo ok";
        let out = script(command).run(&[], b"").await.unwrap();
        assert_eq!(out, b"ok\n");
    }

    /// Whether a process of this id exists and is not a zombie.
    fn alive(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }
}
