//! Running totals of what the membership did: probes and their outcomes,
//! suspicions, refutations, joins, leaves, evictions, data updates. Plain
//! numbers, moved where the core already decides those things; the driver
//! reads them with [`Membership::counters`]. Touches nothing else.

use super::Membership;
use crate::io::{Event, FailureCause, LeftReason};

/// What this peer's membership has done since it was made. Every field
/// only grows.
///
/// ```
/// use std::time::Instant;
/// use peercloud_core::{Config, Identity, Membership, PeerId};
///
/// let me = Identity { id: PeerId::parse("a").unwrap(), port: 9338, advertise: None, data: serde_json::json!({}) };
/// let mut core = Membership::new(me, Config::default(), 1);
/// core.start(Instant::now(), vec![]);
/// assert_eq!(core.counters().probes_sent, 0);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Direct probes (`/status` with gossip) sent to members.
    pub probes_sent: u64,
    /// Direct probes the member itself answered.
    pub probes_acked: u64,
    /// Direct probes that got no answer from the member: no reply in
    /// time, a refused connection, another peer at its address, or a probe
    /// voided by a stall of this peer.
    pub probes_failed: u64,
    /// Indirect probes (`/probe`) sent to helpers after a failed direct
    /// probe.
    pub indirect_probes_sent: u64,
    /// Failed direct probes that a helper then found alive.
    pub indirect_probes_acked: u64,
    /// Probes that reached the member neither directly nor through
    /// helpers, but did not suspect it: it called this peer meanwhile.
    pub suspicions_spared: u64,
    /// Members that became suspected here ([`Event::PeerSuspected`]).
    pub suspicions: u64,
    /// Suspected members that refuted their suspicion ([`Event::PeerAlive`]).
    pub members_alive_again: u64,
    /// Times this peer refuted a suspicion or a failure of itself by
    /// raising its incarnation.
    pub refutations: u64,
    /// Members that joined ([`Event::PeerJoined`]).
    pub joins: u64,
    /// Members that left by saying goodbye.
    pub leaves: u64,
    /// Members removed after failing, by cause.
    pub evictions: Evictions,
    /// Members whose data changed ([`Event::PeerUpdated`]).
    pub data_updates: u64,
}

/// Members removed after failing, by [`FailureCause`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evictions {
    /// Nothing listened at its address.
    pub refused: u64,
    /// No answer through its suspicion.
    pub silent: u64,
    /// Another peer answers at its address.
    pub replaced: u64,
    /// An original peer reported it gone and it did not answer.
    pub reported: u64,
}

impl Counters {
    /// Counts what an event says happened.
    pub(super) fn count(&mut self, event: &Event) {
        match event {
            Event::PeerJoined(_) => self.joins += 1,
            Event::PeerSuspected(_) => self.suspicions += 1,
            Event::PeerAlive(_) => self.members_alive_again += 1,
            Event::PeerUpdated(_) => self.data_updates += 1,
            Event::PeerLeft { reason, .. } => self.count_left(reason),
            _ => {}
        }
    }

    fn count_left(&mut self, reason: &LeftReason) {
        let cause = match reason {
            LeftReason::Failed { cause, .. } => cause,
            LeftReason::Left => return self.leaves += 1,
        };
        let evictions = &mut self.evictions;
        match cause {
            FailureCause::Refused => evictions.refused += 1,
            FailureCause::Silent => evictions.silent += 1,
            FailureCause::Replaced { .. } => evictions.replaced += 1,
            FailureCause::Reported => evictions.reported += 1,
        }
    }
}

impl Membership {
    /// What this peer's membership has done since it was made.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
}
