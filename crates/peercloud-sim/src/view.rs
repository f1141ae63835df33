//! What can be asked of a simulation between runs: ids, addresses, what
//! each peer lists and saw, and whether the lists agree. Reads only.
//!
//! Whether lists agree is asked every tenth of a simulated second while a
//! scenario waits, so it must stay cheap for thousands of peers: a count
//! first (a list of the wrong length cannot be whole), and only then a
//! walk of each list beside the sorted expectation.

use std::time::Duration;

use peercloud_core::{Address, Event, LeftReason, Member, PeerId};

use crate::log::EventLog;
use crate::protocol::Protocol;
use crate::sim::{PeerIndex, Sim};

/// How many entries differ from a full mesh, over all peers looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListGaps {
    /// Entries a peer should list and does not.
    pub missing: usize,
    /// Entries a peer lists and should not: a peer not among those looked
    /// at, a wrong address, a duplicate, itself.
    pub extra: usize,
    /// How many entries a full mesh has (`n * (n - 1)`).
    pub expected: usize,
}

impl<P: Protocol> Sim<P> {
    /// Peer `n`'s id now.
    pub fn id(&self, n: PeerIndex) -> &PeerId {
        self.nodes[n].core.id()
    }

    /// Where peer `n` listens (its address, whether it runs or not).
    pub fn address(&self, n: PeerIndex) -> &Address {
        &self.nodes[n].address
    }

    /// Peer `n`'s membership, to look at.
    pub fn core(&self, n: PeerIndex) -> &P {
        &self.nodes[n].core
    }

    /// What peer `n`'s membership emitted: counts of everything and the
    /// last events with when (see [`Sim::keep_events`]).
    pub fn events(&self, n: PeerIndex) -> &EventLog {
        &self.nodes[n].log
    }

    /// The members peer `observer` declared failed (or heard were) from
    /// `since` on, by id.
    ///
    /// # Panics
    ///
    /// If the peer's log forgot events from `since` on (see
    /// [`EventLog::since`]); [`crate::EventCounts::failed`] counts them all.
    pub fn failed_seen_by(&self, observer: PeerIndex, since: Duration) -> Vec<PeerId> {
        let failed = self
            .events(observer)
            .since(since)
            .filter_map(|(_, e)| match e {
                Event::PeerLeft {
                    member,
                    reason: LeftReason::Failed { .. },
                } => Some(member.id.clone()),
                _ => None,
            });
        failed.collect()
    }

    /// Why peer `n` saw the member with id `gone` leave, each time it did
    /// (usually once or never), in order.
    ///
    /// # Panics
    ///
    /// If the peer's log forgot any event (see [`EventLog::since`]).
    pub fn left_reasons(&self, n: PeerIndex, gone: &PeerId) -> Vec<LeftReason> {
        let left = self
            .events(n)
            .since(Duration::ZERO)
            .filter_map(|(_, event)| match event {
                Event::PeerLeft { member, reason } if member.id == *gone => Some(reason.clone()),
                _ => None,
            });
        left.collect()
    }

    /// How many peers were added.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether no peer was added.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Whether peer `a` lists peer `b`'s current id.
    pub fn lists(&self, a: PeerIndex, b: PeerIndex) -> bool {
        self.core(a).lists(self.id(b))
    }

    /// The live peers: started, not crashed, not closed.
    pub fn live(&self) -> Vec<PeerIndex> {
        (0..self.nodes.len())
            .filter(|&n| self.nodes[n].is_live())
            .collect()
    }

    /// Whether every live peer lists exactly every other live peer, at its
    /// address; else who misses or has whom.
    pub fn converged(&self) -> Result<(), String> {
        self.converged_among(&self.live())
    }

    /// Whether each of `peers` lists exactly the others of `peers` (their
    /// current ids, at their addresses) and nobody else: a full mesh of
    /// them, such as one side of a partition; else who misses or has whom.
    pub fn converged_among(&self, peers: &[PeerIndex]) -> Result<(), String> {
        let expected = self.expected(peers);
        // A list of the wrong length differs for sure, and counting is cheap:
        // while any does, only those are counted as differing, and the walks
        // of whole lists (N² entries in all, looked at every tenth of a
        // simulated second at 10,000 peers) wait until every length is right.
        let miscounted = |n: PeerIndex| self.nodes[n].core.member_count() + 1 != expected.len();
        let any_miscounted = peers.iter().any(|&n| miscounted(n));
        let mut differ = 0;
        let mut shown = Vec::new();
        for &n in peers {
            let whole = if any_miscounted {
                !miscounted(n)
            } else {
                self.gaps_of(n, &expected) == (0, 0)
            };
            if whole {
                continue;
            }
            differ += 1;
            // The details cost a walk of the list: for the first few only.
            if shown.len() < 10 {
                let (missing, extra) = self.gaps_of(n, &expected);
                shown.push(format!("peer {n}: {missing} missing, {extra} extra"));
            }
        }
        if differ == 0 {
            return Ok(());
        }
        Err(format!(
            "seed {}: {differ} of {} peers differ at {:?}: {}",
            self.seed(),
            peers.len(),
            self.now,
            shown.join("; ")
        ))
    }

    /// How far the lists of `peers` are from a full mesh of them, entry
    /// by entry.
    pub fn list_gaps(&self, peers: &[PeerIndex]) -> ListGaps {
        let expected = self.expected(peers);
        let mut gaps = ListGaps {
            expected: peers.len() * peers.len().saturating_sub(1),
            ..ListGaps::default()
        };
        for &n in peers {
            let (missing, extra) = self.gaps_of(n, &expected);
            gaps.missing += missing;
            gaps.extra += extra;
        }
        gaps
    }

    /// The ids and addresses of `peers`, sorted by id.
    fn expected(&self, peers: &[PeerIndex]) -> Vec<(&PeerId, &Address)> {
        let mut expected: Vec<_> = peers
            .iter()
            .map(|&n| (self.id(n), &self.nodes[n].address))
            .collect();
        expected.sort_unstable();
        expected
    }

    /// What peer `n` misses of `expected` (sorted by id), and what it
    /// lists besides: one walk of both in id order.
    fn gaps_of(&self, n: PeerIndex, expected: &[(&PeerId, &Address)]) -> (usize, usize) {
        let core = &self.nodes[n].core;
        let me = core.id();
        let mut listed: Vec<&Member> = core.members().collect();
        // Usually sorted already (the core keeps its list by id), which
        // this sort finds in one pass.
        listed.sort_by(|a, b| a.id.cmp(&b.id));
        let (mut i, mut missing, mut extra) = (0, 0, 0);
        for member in listed {
            while i < expected.len() && *expected[i].0 < member.id {
                missing += usize::from(expected[i].0 != me);
                i += 1;
            }
            match expected.get(i) {
                Some((id, at)) if **id == member.id && *id != me => {
                    i += 1;
                    extra += usize::from(member.host != at.host || member.port != at.port);
                }
                _ => extra += 1,
            }
        }
        missing += expected[i.min(expected.len())..]
            .iter()
            .filter(|(id, _)| *id != me)
            .count();
        (missing, extra)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{NetConfig, Sim};

    #[test]
    fn a_whole_mesh_has_no_gaps_and_a_crashed_peer_is_missed_by_nobody() {
        let mut sim = Sim::new(3, NetConfig::lan());
        sim.join_through_seeds(12, 3);
        sim.run_for(Duration::from_secs(5));
        assert_eq!(sim.converged(), Ok(()));
        let all: Vec<usize> = (0..12).collect();
        let gaps = sim.list_gaps(&all);
        assert_eq!((gaps.missing, gaps.extra, gaps.expected), (0, 0, 132));
        // Looked at without peer 11, each of the eleven others lists it as
        // an extra.
        let without: Vec<usize> = (0..11).collect();
        let gaps = sim.list_gaps(&without);
        assert_eq!((gaps.missing, gaps.extra), (0, 11));
        assert!(sim.converged_among(&without).is_err());
    }
}
