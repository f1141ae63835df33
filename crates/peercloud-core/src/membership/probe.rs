//! Failure detection: members are probed with `/status` in shuffled rounds;
//! one that fails `probe_failures` probes in a row is evicted and its
//! eviction is announced with `/left`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;

use super::{Membership, Pending};
use crate::error::Mismatch;
use crate::id::PeerId;
use crate::io::{CallResult, Event, LeftReason, Request, Response};
use crate::wire::LeftRequest;

/// The probing schedule and each member's run of failed probes.
#[derive(Debug, Default)]
pub(super) struct Prober {
    next_tick: Option<Instant>,
    interval: Duration,
    /// Members to probe this round; the next one is last.
    round: Vec<PeerId>,
    /// Members whose last probes failed, and how many in a row.
    failures: BTreeMap<PeerId, u32>,
    /// Members with a probe under way (never two at once to one member).
    in_flight: BTreeMap<PeerId, ()>,
}

impl Prober {
    pub(super) fn begin(&mut self, now: Instant, interval: Duration) {
        self.interval = interval;
        self.next_tick = Some(now + interval);
    }

    pub(super) fn next_tick(&self) -> Option<Instant> {
        self.next_tick
    }

    /// A new member is probed last in the current round (the round pops
    /// from its end), so it never delays the re-probe of a failed member.
    pub(super) fn enqueue(&mut self, id: PeerId) {
        self.round.insert(0, id);
    }

    pub(super) fn forget(&mut self, id: &PeerId) {
        self.round.retain(|r| r != id);
        self.failures.remove(id);
        self.in_flight.remove(id);
    }
}

impl Membership {
    pub(super) fn on_probe_tick(&mut self, now: Instant) {
        let Some(tick) = self.prober.next_tick else {
            return;
        };
        if now < tick {
            return;
        }
        self.prober.next_tick = Some(now + self.prober.interval);
        if let Some(target) = self.next_probe_target() {
            let to = self.members[&target].address();
            self.prober.in_flight.insert(target.clone(), ());
            let timeout = self.config.probe_timeout;
            self.call(to, Request::Status, timeout, Pending::Probe { target });
        }
    }

    /// The next member of the round that is still a member and not being
    /// probed; a new shuffled round starts when one ends.
    fn next_probe_target(&mut self) -> Option<PeerId> {
        for _ in 0..2 {
            while let Some(id) = self.prober.round.pop() {
                if self.members.contains_key(&id) && !self.prober.in_flight.contains_key(&id) {
                    return Some(id);
                }
            }
            let mut round: Vec<PeerId> = self.members.keys().cloned().collect();
            round.shuffle(&mut self.rng);
            self.prober.round = round;
        }
        None
    }

    pub(super) fn on_probe_reply(&mut self, now: Instant, target: PeerId, result: CallResult) {
        self.prober.in_flight.remove(&target);
        if !self.members.contains_key(&target) {
            return;
        }
        let failure = match result {
            Ok(Response::Status(status)) if status.id.as_ref() == Some(&target) => {
                self.compare_digest(now, &target, status.digest.as_deref());
                None
            }
            Ok(Response::Status(status)) => {
                // Someone else answers at that address: the member is gone
                // for sure, no need to ask again.
                let why = Mismatch(status.id.as_ref().map(|id| id.as_str()));
                return self.evict(&target, &why.to_string());
            }
            Ok(_) => Some("unexpected reply".to_owned()),
            Err(e) => Some(e.to_string()),
        };
        match failure {
            None => {
                self.prober.failures.remove(&target);
            }
            Some(why) => {
                let count = self.prober.failures.entry(target.clone()).or_insert(0);
                *count += 1;
                if *count >= self.config.probe_failures {
                    self.evict(&target, &why);
                } else {
                    // Ask again at the next tick, before anyone else.
                    self.prober.round.push(target);
                }
            }
        }
    }

    /// Removes a failed member and tells every other member.
    fn evict(&mut self, target: &PeerId, _why: &str) {
        let Some(member) = self.remove_member(target) else {
            return;
        };
        let notice = LeftRequest { id: target.clone() };
        let addresses: Vec<_> = self.members.values().map(|m| m.address()).collect();
        for to in addresses {
            self.notify(to, Request::Left(notice.clone()));
        }
        self.emit(Event::PeerLeft {
            member,
            reason: LeftReason::Failed { detected_by: None },
        });
    }
}
