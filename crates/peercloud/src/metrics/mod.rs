//! What a peer has done, as numbers: a [`Metrics`] snapshot taken with
//! [`Cloud::metrics`](crate::Cloud::metrics). The membership's counters
//! come from the core (published by the driver); messages, calls, bytes
//! and latencies are recorded here, by the HTTP edges, in a [`Recorder`]
//! every handle shares.

mod histogram;
mod recorder;

pub use histogram::{Histogram, LATENCY_BUCKETS};
pub use peercloud_core::{Counters, Evictions};
pub(crate) use recorder::{Received, Recorder, Traffic};

/// A snapshot of a peer's metrics: gauges as they are now, counters and
/// histograms since the peer started. See [`Cloud::metrics`](crate::Cloud::metrics).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Metrics {
    /// The members, by state.
    pub members: MemberCounts,
    /// This peer's local health (Lifeguard): 0 when healthy, up to 8 while
    /// it finds itself slow (its timers run late, the helpers it asks to
    /// probe a member do not answer it, it had to refute a suspicion of
    /// itself). Its probes wait `1 + score`
    /// times as long, so that its own slowness is not taken for its
    /// members' failure.
    pub local_health: u32,
    /// What the membership did: probes, suspicions, refutations, joins,
    /// leaves, evictions, data updates.
    pub membership: Counters,
    /// Membership calls this peer made (`/status`, `/probe`, `/gossip`,
    /// `/join`, notices...), by outcome.
    pub calls: CallOutcomes,
    /// Application messages this peer sent (one per peer of a broadcast),
    /// by outcome.
    pub messages_sent: SendOutcomes,
    /// Seconds from sending a message to its reply (or its error).
    pub message_latency: Histogram,
    /// Application messages received, by outcome.
    pub messages_received: ReceiveOutcomes,
    /// Seconds the message handler took to answer a received message.
    pub handler_duration: Histogram,
    /// Broadcasts ([`Cloud::send`](crate::Cloud::send)) made.
    pub broadcasts: u64,
    /// Seconds from the start of a broadcast to its last reply.
    pub broadcast_latency: Histogram,
    /// HTTP body bytes sent: requests as a client, answers as a server.
    pub bytes_sent: u64,
    /// HTTP body bytes received: answers as a client, requests as a server.
    pub bytes_received: u64,
}

/// The members, by state (this peer not counted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemberCounts {
    /// Members in good standing.
    pub alive: u64,
    /// Members that answered no probe and may still refute.
    pub suspected: u64,
}

/// Membership calls by outcome: the [`CallError`](crate::CallError) kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOutcomes {
    /// Answered as expected.
    pub ok: u64,
    /// No answer in time.
    pub timeout: u64,
    /// Nothing listened at the address.
    pub no_listener: u64,
    /// The peer could not be reached otherwise.
    pub unreachable: u64,
    /// Answered with an error status.
    pub refused: u64,
    /// Answered with something that could not be read.
    pub invalid_reply: u64,
    /// The two peers do not trust each other.
    pub unauthorized: u64,
}

/// Messages sent by outcome: the [`SendError`](crate::SendError) kinds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendOutcomes {
    /// A reply came back.
    pub ok: u64,
    /// No reply in time.
    pub timeout: u64,
    /// The peer could not be reached.
    pub unreachable: u64,
    /// The peer refused the message (a status other than a handler's
    /// failure).
    pub refused: u64,
    /// The peer's message handler failed.
    pub handler: u64,
    /// The reply was not JSON.
    pub invalid_reply: u64,
    /// The two peers do not trust each other.
    pub unauthorized: u64,
}

/// Messages received by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReceiveOutcomes {
    /// The handler answered.
    pub ok: u64,
    /// The handler returned an error (the sender got `handler failed`).
    pub handler_failed: u64,
    /// The handler panicked (the sender got `handler failed`).
    pub handler_panicked: u64,
    /// The sender is not a member: refused before the handler.
    pub unknown_sender: u64,
}
