//! The `Recorder`: lock-free counters the HTTP edges bump as messages,
//! calls and bytes go by, and the membership's numbers as the driver last
//! published them. Touches nothing but its own atomics and one mutex.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peercloud_core::{CallError, CallResult, Counters};
use serde_json::Value;

use super::histogram::Recording;
use super::{CallOutcomes, MemberCounts, Metrics, ReceiveOutcomes, SendOutcomes};
use crate::error::SendError;

/// Body bytes one side of the HTTP layer sent and received.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    sent: AtomicU64,
    received: AtomicU64,
}

impl Traffic {
    pub(crate) fn sent(&self, bytes: usize) {
        self.sent.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.received.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// Outcomes counted by index; each kind of outcome names its indices.
#[derive(Debug)]
struct Tally<const N: usize>([AtomicU64; N]);

impl<const N: usize> Default for Tally<N> {
    fn default() -> Self {
        Tally(std::array::from_fn(|_| AtomicU64::new(0)))
    }
}

impl<const N: usize> Tally<N> {
    fn add(&self, index: usize) {
        self.0[index].fetch_add(1, Ordering::Relaxed);
    }

    fn get(&self, index: usize) -> u64 {
        self.0[index].load(Ordering::Relaxed)
    }
}

/// Everything recorded for one peer.
#[derive(Debug)]
pub(crate) struct Recorder {
    /// The client's bytes (shared with the client, which counts them).
    client: Arc<Traffic>,
    /// The server's bytes.
    pub(crate) server: Traffic,
    calls: Tally<7>,
    sent: Tally<7>,
    received: Tally<4>,
    message_latency: Recording,
    handler_duration: Recording,
    broadcasts: AtomicU64,
    broadcast_latency: Recording,
    /// The membership's numbers, as last published by the driver.
    membership: Mutex<(MemberCounts, Counters)>,
    /// The local health score, as last published by the driver.
    local_health: AtomicU32,
}

/// What became of a received message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Received {
    Ok,
    HandlerFailed,
    HandlerPanicked,
    UnknownSender,
}

impl Recorder {
    pub(crate) fn new(client: Arc<Traffic>) -> Self {
        Recorder {
            client,
            server: Traffic::default(),
            calls: Tally::default(),
            sent: Tally::default(),
            received: Tally::default(),
            message_latency: Recording::default(),
            handler_duration: Recording::default(),
            broadcasts: AtomicU64::new(0),
            broadcast_latency: Recording::default(),
            membership: Mutex::new(Default::default()),
            local_health: AtomicU32::new(0),
        }
    }

    /// A membership call's result.
    pub(crate) fn call(&self, result: &CallResult) {
        let index = match result {
            Ok(_) => 0,
            Err(CallError::Timeout) => 1,
            Err(CallError::NoListener) => 2,
            Err(CallError::Unreachable(_)) => 3,
            Err(CallError::Refused { .. }) => 4,
            Err(CallError::InvalidReply(_)) => 5,
            Err(CallError::Unauthorized(_)) => 6,
            // Kinds added to the core later count as unreachable.
            Err(_) => 3,
        };
        self.calls.add(index);
    }

    /// A message sent, its outcome and how long the reply took.
    pub(crate) fn message_sent(&self, reply: &Result<Value, SendError>, took: Duration) {
        let index = match reply {
            Ok(_) => 0,
            Err(SendError::Timeout { .. }) => 1,
            Err(SendError::Refused { .. }) => 3,
            Err(SendError::Handler { .. }) => 4,
            Err(SendError::InvalidReply { .. }) => 5,
            Err(SendError::Unauthorized { .. }) => 6,
            // Unreachable, and kinds the client never makes.
            Err(_) => 2,
        };
        self.sent.add(index);
        self.message_latency.observe(took);
    }

    /// A message received, what became of it and how long its handler took.
    pub(crate) fn message_received(&self, outcome: Received, took: Option<Duration>) {
        self.received.add(outcome as usize);
        if let Some(took) = took {
            self.handler_duration.observe(took);
        }
    }

    /// A broadcast, from its start to its last reply.
    pub(crate) fn broadcast(&self, took: Duration) {
        self.broadcasts.fetch_add(1, Ordering::Relaxed);
        self.broadcast_latency.observe(took);
    }

    /// The membership's numbers, now.
    pub(crate) fn publish_membership(&self, members: MemberCounts, counters: &Counters) {
        if let Ok(mut membership) = self.membership.lock() {
            *membership = (members, counters.clone());
        }
    }

    /// The local health score, now.
    pub(crate) fn publish_local_health(&self, score: u32) {
        self.local_health.store(score, Ordering::Relaxed);
    }

    /// Everything, now.
    pub(crate) fn snapshot(&self) -> Metrics {
        let (members, membership) = match self.membership.lock() {
            Ok(membership) => membership.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Metrics {
            members,
            local_health: self.local_health.load(Ordering::Relaxed),
            membership,
            calls: self.calls(),
            messages_sent: self.sent(),
            message_latency: self.message_latency.snapshot(),
            messages_received: self.received(),
            handler_duration: self.handler_duration.snapshot(),
            broadcasts: load(&self.broadcasts),
            broadcast_latency: self.broadcast_latency.snapshot(),
            bytes_sent: load(&self.client.sent) + load(&self.server.sent),
            bytes_received: load(&self.client.received) + load(&self.server.received),
        }
    }

    fn calls(&self) -> CallOutcomes {
        let c = &self.calls;
        CallOutcomes {
            ok: c.get(0),
            timeout: c.get(1),
            no_listener: c.get(2),
            unreachable: c.get(3),
            refused: c.get(4),
            invalid_reply: c.get(5),
            unauthorized: c.get(6),
        }
    }

    fn sent(&self) -> SendOutcomes {
        let s = &self.sent;
        SendOutcomes {
            ok: s.get(0),
            timeout: s.get(1),
            unreachable: s.get(2),
            refused: s.get(3),
            handler: s.get(4),
            invalid_reply: s.get(5),
            unauthorized: s.get(6),
        }
    }

    fn received(&self) -> ReceiveOutcomes {
        let r = &self.received;
        ReceiveOutcomes {
            ok: r.get(Received::Ok as usize),
            handler_failed: r.get(Received::HandlerFailed as usize),
            handler_panicked: r.get(Received::HandlerPanicked as usize),
            unknown_sender: r.get(Received::UnknownSender as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_outcome_is_counted_under_its_own_name() {
        let recorder = Recorder::new(Arc::new(Traffic::default()));
        recorder.call(&Err(CallError::NoListener));
        recorder.call(&Err(CallError::Timeout));
        let handler_failed = Err(SendError::Handler {
            peer: "p".to_owned(),
            message: "m".to_owned(),
        });
        recorder.message_sent(&handler_failed, Duration::from_millis(3));
        recorder.message_received(Received::UnknownSender, None);
        recorder.message_received(Received::Ok, Some(Duration::from_millis(1)));
        recorder.server.sent(10);
        recorder.client.received(5);
        let metrics = recorder.snapshot();
        assert_eq!(
            (
                metrics.calls.no_listener,
                metrics.calls.timeout,
                metrics.calls.ok
            ),
            (1, 1, 0)
        );
        assert_eq!(
            (metrics.messages_sent.handler, metrics.messages_sent.ok),
            (1, 0)
        );
        assert_eq!(metrics.message_latency.count, 1);
        assert_eq!(metrics.messages_received.unknown_sender, 1);
        assert_eq!(metrics.messages_received.ok, 1);
        assert_eq!(metrics.handler_duration.count, 1);
        assert_eq!((metrics.bytes_sent, metrics.bytes_received), (10, 5));
    }
}
