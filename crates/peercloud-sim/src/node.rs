//! One simulated peer: its membership, its address, whether it is up,
//! crashed or stalled, what waits for it while it is stalled, the requests
//! it is answering, and what it saw (within bounds).

use std::collections::BTreeMap;
use std::time::Duration;

use peercloud_core::{Address, CallId, CallResult, PeerId, ReplyToken, Request};

use crate::log::EventLog;
use crate::protocol::Protocol;

/// A message on its way.
#[derive(Debug)]
pub(crate) enum Message {
    /// A request from peer `from` (as `sender`) to whatever listens at `to`.
    Request {
        from: usize,
        caller: Caller,
        sender: PeerId,
        to: Address,
        request: Request,
    },
    /// The result of a call, on its way back to peer `to`, and the
    /// length of its body.
    Result {
        to: usize,
        caller: Caller,
        result: CallResult,
        bytes: usize,
    },
}

/// A message that arrived, as its peer's core takes it once the shared
/// processors have read it (at once when there are none).
#[derive(Debug)]
pub(crate) enum Handling {
    /// A request for peer `target`'s process `process` (one that
    /// crashed or restarted meanwhile never sees it).
    Request {
        from: usize,
        caller: Caller,
        sender: PeerId,
        target: usize,
        process: u64,
        request: Request,
        path: &'static str,
    },
    /// The result of a call of peer `to`.
    Result {
        to: usize,
        caller: Caller,
        result: CallResult,
    },
}

/// Who waits for a request's result: one call of one process of the
/// sending peer, or nobody (a request a test injected).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caller {
    /// The sending peer's process (see [`Node::process`]): a result is not
    /// handed to a later process at the same address.
    pub(crate) process: u64,
    /// The call, or `None` when the result is dropped.
    pub(crate) call: Option<CallId>,
}

/// Whether a peer runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Health {
    /// It runs.
    Up,
    /// Its process is gone: connections to its address are refused.
    Crashed,
    /// It is paused: what arrives waits, no timer runs, until it resumes.
    Stalled,
}

/// A request being handled: who waits for its reply.
#[derive(Debug)]
pub(crate) struct Waiting {
    pub(crate) from: usize,
    pub(crate) caller: Caller,
    pub(crate) path: &'static str,
}

/// One peer.
#[derive(Debug)]
pub(crate) struct Node<P> {
    pub(crate) core: P,
    pub(crate) address: Address,
    pub(crate) health: Health,
    /// What arrived while it was stalled, in order.
    pub(crate) held: Vec<Message>,
    /// The wake-up in the simulation's queue that is still valid.
    pub(crate) wake: Option<Duration>,
    /// Whether its timers wait for a processor (see `cpu.rs`): no other
    /// wake-up is due until they have run.
    pub(crate) timers_queued: bool,
    /// What its core emitted: counted, and the last few kept.
    pub(crate) log: EventLog,
    /// The requests its current process is answering, by the token it
    /// was given; dropped with the process, whose replies never come.
    pub(crate) waiting: BTreeMap<ReplyToken, Waiting>,
    /// Whether `start` was called on its current core.
    pub(crate) started: bool,
    /// How many times it was restarted: the results of calls made by an
    /// earlier process are dropped, as its connections died with it
    /// (call ids start afresh with each core, so they would be mixed up).
    pub(crate) process: u64,
}

impl<P: Protocol> Node<P> {
    pub(crate) fn new(core: P, address: Address, keep: usize) -> Self {
        Node {
            core,
            address,
            health: Health::Up,
            held: Vec::new(),
            wake: None,
            timers_queued: false,
            log: EventLog::new(keep),
            waiting: BTreeMap::new(),
            started: false,
            process: 0,
        }
    }

    /// Whether it takes part in the cloud now: started, not crashed, not
    /// closed (a stalled peer is still a member).
    pub(crate) fn is_live(&self) -> bool {
        self.started && self.health != Health::Crashed && !self.core.is_closed()
    }
}
