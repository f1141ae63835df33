//! `--on-event CMD`: each membership event runs CMD with the event's JSON
//! line (the object `--json` prints) on stdin and its name and peer in the
//! environment. Events run one at a time, in order, from a bounded queue:
//! a slow command delays later events but loses none until the queue is
//! full; past that, events are dropped, counted and logged. Touches only
//! the processes it starts.

use serde_json::Value;
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::JoinHandle;

use super::script::Script;
use crate::output::Line;

/// How many events may wait for the command: minutes of churn in a
/// large cloud, a few hundred KiB at most.
pub(crate) const QUEUE: usize = 1024;

/// The `--json` event names that run the command: the start and the
/// membership events. Messages have `--exec`.
pub(crate) const EVENTS: [&str; 7] = [
    "joined",
    "alone",
    "peer_joined",
    "peer_suspected",
    "peer_alive",
    "peer_updated",
    "peer_left",
];

/// One event waiting for its run.
#[derive(Debug)]
struct Job {
    name: &'static str,
    env: Vec<(&'static str, String)>,
    json: String,
}

/// The queue in front of the command; dropping it lets the runner finish
/// what is queued and stop.
#[derive(Debug)]
pub(crate) struct EventHook {
    jobs_tx: mpsc::Sender<Job>,
    self_id: String,
    dropped: u64,
}

impl EventHook {
    /// Starts the runner, which runs the command once per queued event.
    pub(crate) fn start(
        script: Script,
        self_id: String,
        capacity: usize,
    ) -> (Self, JoinHandle<()>) {
        let (jobs_tx, jobs_rx) = mpsc::channel(capacity.max(1));
        let runner = tokio::spawn(run_jobs(script, jobs_rx));
        let hook = EventHook {
            jobs_tx,
            self_id,
            dropped: 0,
        };
        (hook, runner)
    }

    /// Queues the command's run for `line` if it is a membership event.
    pub(crate) fn offer(&mut self, line: &Line<'_>) {
        let name = line.name();
        if !EVENTS.contains(&name) {
            return;
        }
        let peer = line.peer().map(|peer| PeerVars {
            id: peer.id(),
            address: peer.address().to_string(),
            data: peer.data(),
        });
        let job = Job {
            name,
            env: event_env(name, peer, &self.self_id),
            json: line.json_text(),
        };
        match self.jobs_tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(job)) => {
                self.dropped += 1;
                tracing::warn!(
                    event = job.name,
                    dropped = self.dropped,
                    "--on-event is behind by {QUEUE} events: {} dropped ({} so far)",
                    job.name,
                    self.dropped
                );
            }
            Err(TrySendError::Closed(_)) => {}
        }
    }

    /// How many events were dropped because the queue was full.
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.dropped
    }
}

async fn run_jobs(script: Script, mut jobs_rx: mpsc::Receiver<Job>) {
    while let Some(job) = jobs_rx.recv().await {
        let mut input = job.json.into_bytes();
        input.push(b'\n');
        if let Err(e) = script.run(&job.env, &input).await {
            tracing::warn!(event = job.name, error = %e, "--on-event failed for {}", job.name);
        }
    }
}

/// What the environment says of an event's peer.
#[derive(Debug)]
struct PeerVars<'a> {
    id: &'a str,
    /// `ip:port` (an IPv6 address in brackets).
    address: String,
    data: &'a Value,
}

/// The environment of an event's run.
fn event_env(name: &str, peer: Option<PeerVars<'_>>, self_id: &str) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("PEERCLOUD_EVENT", name.to_owned()),
        ("PEERCLOUD_SELF_ID", self_id.to_owned()),
    ];
    if let Some(peer) = peer {
        env.push(("PEERCLOUD_PEER_ID", peer.id.to_owned()));
        env.push(("PEERCLOUD_PEER_ADDRESS", peer.address));
        env.push(("PEERCLOUD_PEER_DATA", peer.data.to_string()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, Instant};

    #[test]
    fn an_event_with_a_peer_names_it_in_the_environment() {
        let data = json!({"name": "b"});
        let peer = PeerVars {
            id: "abc",
            address: "127.0.0.1:4000".to_owned(),
            data: &data,
        };
        assert_eq!(
            event_env("peer_joined", Some(peer), "me"),
            [
                ("PEERCLOUD_EVENT", "peer_joined".to_owned()),
                ("PEERCLOUD_SELF_ID", "me".to_owned()),
                ("PEERCLOUD_PEER_ID", "abc".to_owned()),
                ("PEERCLOUD_PEER_ADDRESS", "127.0.0.1:4000".to_owned()),
                ("PEERCLOUD_PEER_DATA", r#"{"name":"b"}"#.to_owned()),
            ]
        );
        assert_eq!(
            event_env("alone", None, "me"),
            [
                ("PEERCLOUD_EVENT", "alone".to_owned()),
                ("PEERCLOUD_SELF_ID", "me".to_owned()),
            ]
        );
    }

    #[tokio::test]
    async fn events_run_one_at_a_time_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        // Each run notes its start and end: interleaved runs would show.
        let command = format!(
            "echo \"start $(cat)\" >> {log}; sleep 0.05; echo end >> {log}",
            log = log.display()
        );
        let script = Script::new(&command, Duration::from_secs(10), "test");
        let (mut hook, runner) = EventHook::start(script, "me".to_owned(), 16);
        for line in [
            Line::Alone,
            Line::Joined {
                via: &address(),
                peers: 2,
            },
            Line::Alone,
        ] {
            hook.offer(&line);
        }
        hook.offer(&Line::Error("not a membership event"));
        drop(hook);
        runner.await.unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                r#"start {"event":"alone"}"#,
                "end",
                r#"start {"event":"joined","peers":2,"via":"127.0.0.1:9"}"#,
                "end",
                r#"start {"event":"alone"}"#,
                "end",
            ]
        );
    }

    #[tokio::test]
    async fn events_past_a_full_queue_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let gate = dir.path().join("gate");
        // Every run waits for the gate file: the queue fills behind it.
        let command = format!(
            "while [ ! -e {gate} ]; do sleep 0.01; done",
            gate = gate.display()
        );
        let script = Script::new(&command, Duration::from_secs(10), "test");
        let (mut hook, runner) = EventHook::start(script, "me".to_owned(), 2);
        for _ in 0..10 {
            hook.offer(&Line::Alone);
        }
        // At most the queue (2) and the one run taken from it were kept.
        let dropped = hook.dropped();
        assert!((7..=8).contains(&dropped), "{dropped} dropped");
        std::fs::write(&gate, b"").unwrap();
        drop(hook);
        let deadline = Instant::now() + Duration::from_secs(20);
        tokio::time::timeout_at(deadline.into(), runner)
            .await
            .expect("the queue drains")
            .unwrap();
    }

    fn address() -> peercloud::Address {
        "127.0.0.1:9".parse().unwrap()
    }
}
