//! The roles the orchestrator starts as child processes of this binary.
//! Each prints JSON lines on stdout (`{"event":"ready",...}` first), reads
//! JSON commands on stdin, and exits as soon as stdin ends, so that nothing
//! outlives the orchestrator.

pub(crate) mod ceiling;
pub(crate) mod load;
pub(crate) mod peer;
pub(crate) mod swarm;

use std::future::Future;
use std::io::Write;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The message every benchmark sends, as the original's clients would.
pub(crate) const BODY: &[u8] = br#"{"hello":"peer"}"#;

/// The reply every server gives, the original's default.
pub(crate) const REPLY: &[u8] = br#"{"status":"received"}"#;

/// The runtime of every role: tokio's default multi-threaded one, as
/// `#[tokio::main]` builds it.
pub(crate) fn runtime() -> crate::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Writes one JSON line on stdout; a parent that went away ends the process.
pub(crate) fn emit(line: &Value) {
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(0);
    }
}

/// Answers each command line on stdin with one line, in order, until stdin
/// ends. A line that is not a JSON object gets a `bad_command` answer.
pub(crate) async fn serve_commands<F, Fut>(mut answer: F)
where
    F: FnMut(Value) -> Fut,
    Fut: Future<Output = Value>,
{
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim().is_empty() {
            continue;
        }
        let reply = match serde_json::from_str::<Value>(&line) {
            Ok(command) if command.is_object() => answer(command).await,
            _ => json!({"event": "bad_command", "error": format!("not a JSON object: {line}")}),
        };
        emit(&reply);
    }
}

/// The answer to a command this role does not know.
pub(crate) fn unknown(command: &Value) -> Value {
    json!({"event": "bad_command", "error": format!("unknown command {}", command["cmd"])})
}
