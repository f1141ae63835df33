//! One simulated peer: its core, its address, whether it is up, crashed
//! or stalled, what waits for it while it is stalled, and what it saw.

use std::time::Duration;

use peercloud_core::{Address, CallId, CallResult, Event, Membership, PeerId, Request};

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
    /// The result of a call, on its way back to peer `to`.
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

/// One peer.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) core: Membership,
    pub(crate) address: Address,
    pub(crate) health: Health,
    /// What arrived while it was stalled, in order.
    pub(crate) held: Vec<Message>,
    /// The wake-up in the simulation's queue that is still valid.
    pub(crate) wake: Option<Duration>,
    /// What its core emitted, with when.
    pub(crate) events: Vec<(Duration, Event)>,
    /// Whether `start` was called on its current core.
    pub(crate) started: bool,
    /// How many times it was restarted: the results of calls made by an
    /// earlier process are dropped, as its connections died with it
    /// (call ids start afresh with each core, so they would be mixed up).
    pub(crate) process: u64,
}

impl Node {
    pub(crate) fn new(core: Membership, address: Address) -> Self {
        Node {
            core,
            address,
            health: Health::Up,
            held: Vec::new(),
            wake: None,
            events: Vec::new(),
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
