//! A headless Chromium driven through `tests/browser/driver.mjs`
//! (playwright-core from the workspace's `node_modules`, which `npm ci`
//! installs): one JSON command per line, one answer per line, each awaited
//! with a deadline. Touches only the node process it starts (by its pid)
//! and what that process starts.
//!
//! Without Chromium or playwright-core a test gets the reason and skips,
//! unless `PEERCLOUD_REQUIRE_BROWSER` is set (CI sets it): then it fails.

#![allow(dead_code)] // each test file uses a different part of it

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// Where a test that would skip fails instead.
pub(crate) const REQUIRE_VAR: &str = "PEERCLOUD_REQUIRE_BROWSER";

/// The Chromium used (Debian's package puts it there).
const CHROMIUM: &str = "/usr/bin/chromium";

/// How long one command (not counting its own `timeout`) may take.
const COMMAND_DEADLINE: Duration = Duration::from_secs(30);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Why the browser tests cannot run here, or `None`. Panics instead where
/// [`REQUIRE_VAR`] is set.
pub(crate) fn skip_reason() -> Option<String> {
    let reason = if !Path::new(CHROMIUM).exists() {
        Some(format!(
            "no {CHROMIUM} (apt-get install -y chromium installs it)"
        ))
    } else if !workspace().join("node_modules/playwright-core").exists() {
        Some("no node_modules/playwright-core (run `npm ci` at the workspace root)".to_owned())
    } else {
        None
    };
    if let Some(reason) = &reason {
        assert!(
            std::env::var_os(REQUIRE_VAR).is_none(),
            "{REQUIRE_VAR} is set, but the browser test cannot run: {reason}"
        );
    }
    reason
}

/// The driver process and its answers.
pub(crate) struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Receiver<String>,
}

impl Browser {
    /// Starts the driver (and through it Chromium).
    pub(crate) fn start() -> Browser {
        let mut child = Command::new("node")
            .arg(workspace().join("crates/peercloud/tests/browser/driver.mjs"))
            .current_dir(workspace())
            .env("CHROMIUM", CHROMIUM)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (answers_tx, answers) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if answers_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Browser {
            child,
            stdin,
            answers,
        }
    }

    /// Sends one command and returns its answer's value; fails the test on
    /// an error or when no answer comes in time.
    pub(crate) fn command(&mut self, command: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{command}").expect("the command is written");
        stdin.flush().expect("stdin is flushed");
        let extra = Duration::from_millis(command["timeout"].as_u64().unwrap_or(20_000));
        let line = self
            .answers
            .recv_timeout(COMMAND_DEADLINE + extra)
            .unwrap_or_else(|e| panic!("no answer to {command}: {e}"));
        let answer: Value = serde_json::from_str(&line).expect("a JSON answer");
        match answer.get("ok") {
            Some(value) => value.clone(),
            None => panic!("{command} failed: {}", answer["error"]),
        }
    }

    pub(crate) fn goto(&mut self, url: &str) {
        self.command(json!({ "goto": url }));
    }

    /// Waits until `expression` is truthy in the page, at most 20 s; on a
    /// timeout, fails the test with `describe` evaluated in the page.
    pub(crate) fn wait_until(&mut self, what: &str, expression: &str, describe: &str) {
        let command = json!({"wait": expression, "timeout": 20_000});
        let stdin = self.stdin.as_mut().expect("stdin is open");
        writeln!(stdin, "{command}").expect("the command is written");
        stdin.flush().expect("stdin is flushed");
        let line = self
            .answers
            .recv_timeout(COMMAND_DEADLINE + Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("no answer while waiting until {what}: {e}"));
        let answer: Value = serde_json::from_str(&line).expect("a JSON answer");
        if answer.get("ok").is_none() {
            let seen = self.eval(describe);
            panic!(
                "timed out waiting until {what}: {}\nthe page shows {seen}",
                answer["error"]
            );
        }
    }

    pub(crate) fn eval(&mut self, expression: &str) -> Value {
        self.command(json!({ "eval": expression }))
    }

    pub(crate) fn screenshot(&mut self, path: &Path) {
        self.command(json!({ "screenshot": path }));
    }

    /// Errors the page raised or logged so far.
    pub(crate) fn problems(&mut self) -> Value {
        self.command(json!({ "problems": true }))
    }
}

impl Drop for Browser {
    /// Closes stdin, which makes the driver close Chromium and exit; kills
    /// it (by its pid) if it has not within a few seconds.
    fn drop(&mut self) {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
