//! One simulated peer: its core, its address, whether it is up, crashed
//! or stalled, what waits for it while it is stalled, and what it saw.

use std::time::Duration;

use peercloud_core::{Address, CallId, CallResult, Event, Membership, PeerId, Request};

/// A message on its way.
#[derive(Debug)]
pub(crate) enum Message {
    /// A call from peer `from` (as `sender`) to whatever listens at `to`.
    Request {
        from: usize,
        call: CallId,
        sender: PeerId,
        to: Address,
        request: Request,
    },
    /// The result of `call`, on its way back to its caller `to`.
    Result {
        to: usize,
        call: CallId,
        result: CallResult,
    },
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
        }
    }

    /// Whether it takes part in the cloud now: started, not crashed, not
    /// closed (a stalled peer is still a member).
    pub(crate) fn is_live(&self) -> bool {
        self.started && self.health != Health::Crashed && !self.core.is_closed()
    }
}
