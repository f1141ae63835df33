//! `--exec CMD`: each message received runs CMD with the body as JSON on
//! stdin and the sender in the environment; its stdout, as JSON, is the
//! reply. At most `--exec-concurrency` runs at once; the others wait their
//! turn. Touches only the processes it starts.

use std::sync::Arc;
use std::time::Duration;

use peercloud::{HandlerError, Peer};
use serde_json::Value;
use thiserror::Error;
use tokio::sync::{watch, Semaphore};

use super::script::{Script, ScriptError};

/// Why a message got no reply from the command; the sender is told this
/// (status 500, `{"error": "handler failed", "message": ...}`).
#[derive(Debug, Error)]
pub(crate) enum ExecError {
    /// The command failed, timed out or could not start.
    #[error(transparent)]
    Script(#[from] ScriptError),
    /// It exited with status 0 but its stdout is not one JSON value.
    #[error("the handler's output is not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// The peer is shutting down.
    #[error("the peer is shutting down")]
    Closed,
}

/// The message handler that runs a command.
#[derive(Debug, Clone)]
pub(crate) struct Exec {
    script: Script,
    permits: Arc<Semaphore>,
    /// This peer's id, once it has started (empty until then).
    self_id: watch::Receiver<String>,
}

impl Exec {
    pub(crate) fn new(
        command: &str,
        timeout: Duration,
        concurrency: usize,
        self_id: watch::Receiver<String>,
    ) -> Self {
        Exec {
            script: Script::new(command, timeout, "exec"),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            self_id,
        }
    }

    /// Answers one message by running the command.
    pub(crate) async fn answer(&self, from: &Peer, body: &Value) -> Result<Value, ExecError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| ExecError::Closed)?;
        let mut self_id = self.self_id.clone();
        let self_id = self_id
            .wait_for(|id| !id.is_empty())
            .await
            .map_err(|_| ExecError::Closed)?
            .clone();
        let env = message_env(from.id(), from.data(), from.address().to_string(), self_id);
        let input = serde_json::to_vec(body).unwrap_or_default();
        let stdout = self.script.run(&env, &input).await?;
        serde_json::from_slice(&stdout).map_err(ExecError::NotJson)
    }

    /// [`Exec::answer`] as a message handler: an error becomes the
    /// sender's `handler failed` answer, and a line in this peer's log.
    pub(crate) async fn reply(self, from: Peer, body: Value) -> Result<Value, HandlerError> {
        self.answer(&from, &body).await.map_err(|e| {
            tracing::warn!(from = from.id(), error = %e, "--exec failed");
            HandlerError::new(e.to_string())
        })
    }
}

/// The environment of a message's run: who sent it, and who this peer is.
/// `address` is `ip:port` (an IPv6 address in brackets).
fn message_env(
    id: &str,
    data: &Value,
    address: String,
    self_id: String,
) -> Vec<(&'static str, String)> {
    vec![
        ("PEERCLOUD_FROM_ID", id.to_owned()),
        ("PEERCLOUD_FROM_DATA", data.to_string()),
        ("PEERCLOUD_FROM_ADDRESS", address),
        ("PEERCLOUD_SELF_ID", self_id),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_sender_is_described_in_the_environment() {
        let env = message_env(
            "abc",
            &json!({"name": "b"}),
            "[::1]:4000".to_owned(),
            "me".to_owned(),
        );
        assert_eq!(
            env,
            [
                ("PEERCLOUD_FROM_ID", "abc".to_owned()),
                ("PEERCLOUD_FROM_DATA", r#"{"name":"b"}"#.to_owned()),
                ("PEERCLOUD_FROM_ADDRESS", "[::1]:4000".to_owned()),
                ("PEERCLOUD_SELF_ID", "me".to_owned()),
            ]
        );
    }
}
