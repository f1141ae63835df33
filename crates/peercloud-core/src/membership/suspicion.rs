//! Suspicion and failure: a member that answered no probe is suspected for
//! a while (Lifeguard's dynamic suspicion: from `suspicion_max` for one
//! accuser down to `suspicion_min` as other members confirm it, both
//! growing with the logarithm of the cloud's size); it is declared failed
//! only if it does not refute in time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::table::{Kind, Suspicion};
use super::{Membership, Pending, Timer};
use crate::id::PeerId;
use crate::io::{CallResult, Event, FailureCause, LeftReason, Request, Response};
use crate::member::Member;
use crate::wire::{LeftRequest, Update, UpdateKind, WireCause};

/// How many confirmations bring a suspicion down to its shortest.
const EXPECTED_CONFIRMATIONS: usize = 3;

/// How many last probes a suspicion that ran out gets, one after the
/// other: one is lost about one time in ten at 5% loss each way, which
/// left healthy members evicted in simulated hours at 1,000 peers.
const FINAL_CHECKS: u8 = 2;

impl Membership {
    /// How long a suspicion lasts with `confirmations` other accusers, in
    /// a cloud of this size.
    pub(super) fn suspicion_timeout(&self, confirmations: usize) -> Duration {
        let n = self.members.len() + 1;
        let scale = (n as f64).log10().max(1.0);
        let min = self.config.suspicion_min.mul_f64(scale);
        let max = self.config.suspicion_max.mul_f64(scale).max(min);
        let expected = self.confirmations_needed();
        if expected == 0 {
            return min;
        }
        let done = ((confirmations as f64) + 1.0).ln() / ((expected as f64) + 1.0).ln();
        max.saturating_sub((max - min).mul_f64(done.min(1.0)))
            .max(min)
    }

    /// How many confirmations bring a suspicion down to `suspicion_min`:
    /// [`EXPECTED_CONFIRMATIONS`], or fewer in a cloud too small to have
    /// that many other accusers.
    fn confirmations_needed(&self) -> usize {
        EXPECTED_CONFIRMATIONS.min(self.members.len().saturating_sub(1))
    }

    /// `accuser` suspects `id` at `incarnation` (this peer, when `accuser`
    /// is its own id). A new suspicion starts the clock and is gossiped;
    /// another accuser of a suspicion already held, this peer's own probes
    /// included, is a confirmation: it shortens the suspicion and is
    /// gossiped in turn, so that every member counts it (Lifeguard's
    /// independent confirmations), until it is as short as it gets. Older
    /// incarnations are ignored.
    pub(super) fn suspect(&mut self, now: Instant, id: &PeerId, incarnation: u64, accuser: PeerId) {
        let Some(entry) = self.members.get(id) else {
            return;
        };
        if incarnation < entry.incarnation {
            return;
        }
        match &entry.suspicion {
            Some(held) if held.incarnation > incarnation => {}
            Some(held) if held.incarnation == incarnation => {
                // Past the confirmations that bring it to its shortest, an
                // accuser changes nothing here, and passing it on would
                // change nothing elsewhere: without this bound, a partition
                // of N has every peer hold and gossip up to N/2 accusers of
                // each of N/2 members.
                let full = held.accusers.len() > self.confirmations_needed();
                if !full && !held.accusers.contains(&accuser) {
                    self.confirm(now, id, accuser);
                }
            }
            _ => self.start_suspicion(now, id, incarnation, accuser),
        }
    }

    fn start_suspicion(&mut self, now: Instant, id: &PeerId, incarnation: u64, accuser: PeerId) {
        let timeout = self.suspicion_timeout(0);
        let deadline = now + timeout;
        let Some(entry) = self.members.get_mut(id) else {
            return;
        };
        entry.incarnation = incarnation;
        entry.suspicion = Some(Box::new(Suspicion {
            incarnation,
            started: now,
            deadline,
            accusers: std::collections::BTreeSet::from([accuser.clone()]),
            checking: false,
            final_checks: 0,
        }));
        let member = entry.member.clone();
        // Only a peercloud peer can refute a suspicion; other peers judge
        // an original peer each by their own probes.
        let refutable = entry.kind == Kind::Rust;
        self.version += 1;
        self.timers.schedule(deadline, Timer::Suspicion(id.clone()));
        if refutable {
            self.gossip_suspicion(id, incarnation, accuser);
        }
        self.emit(Event::PeerSuspected(Member::clone(&member)));
    }

    /// One more member suspects `id`: the suspicion gets shorter, and the
    /// others hear of this accuser too.
    ///
    /// A suspicion shortened to a deadline already past runs out now, not
    /// at that deadline: a timer set in the past would look overdue to
    /// the next input, which takes an overdue timer for a stall of this
    /// peer. In a partition every peer hears late confirmations of many
    /// suspicions; each looked like a stall, the local health of every
    /// peer went to its worst, probes slowed ninefold, and a member on
    /// the other side stayed listed for over a minute.
    fn confirm(&mut self, now: Instant, id: &PeerId, accuser: PeerId) {
        let Some(suspicion) = self.members.get_mut(id).and_then(|e| e.suspicion.as_mut()) else {
            return;
        };
        suspicion.accusers.insert(accuser.clone());
        let (count, started, incarnation) = (
            suspicion.accusers.len() - 1,
            suspicion.started,
            suspicion.incarnation,
        );
        let deadline = (started + self.suspicion_timeout(count)).max(now);
        let Some(suspicion) = self.members.get_mut(id).and_then(|e| e.suspicion.as_mut()) else {
            return;
        };
        if deadline < suspicion.deadline {
            suspicion.deadline = deadline;
            self.timers.schedule(deadline, Timer::Suspicion(id.clone()));
        }
        if self.members.get(id).is_some_and(|e| e.kind == Kind::Rust) {
            self.gossip_suspicion(id, incarnation, accuser);
        }
    }

    fn gossip_suspicion(&mut self, id: &PeerId, incarnation: u64, accuser: PeerId) {
        self.gossip.queue(Update {
            by: Some(accuser),
            ..Update::about(UpdateKind::Suspect, id.clone(), incarnation)
        });
    }

    /// An original peer, which cannot refute, answered a probe: its
    /// suspicion ends here.
    pub(super) fn clear_plain_suspicion(&mut self, id: &PeerId) {
        let Some(entry) = self.members.get_mut(id).filter(|e| e.kind != Kind::Rust) else {
            return;
        };
        if entry.suspicion.take().is_some() {
            let member = entry.member.clone();
            self.version += 1;
            self.emit(Event::PeerAlive(Member::clone(&member)));
        }
    }

    /// A suspicion timer fired: if the suspicion still stands and has run
    /// out (a refuted or extended one has no business here), this peer
    /// probes the member once more itself, the accusation riding on the
    /// probe, and declares it failed only if that fails too, twice (see
    /// [`Membership::on_final_check`]).
    ///
    /// Its refutation is gossip, which reaches every member only with a
    /// high probability: a peer that missed it (a few times in a thousand
    /// refutations under loss) would declare a healthy member failed. The
    /// check costs one or two probes per suspicion that runs out here, and
    /// delays a real failure by two probe timeouts at most.
    pub(super) fn on_suspicion_timeout(&mut self, now: Instant, id: &PeerId) {
        if !self.is_running() {
            return;
        }
        let ran_out = self
            .members
            .get(id)
            .and_then(|e| e.suspicion.as_ref())
            .is_some_and(|s| s.deadline <= now && !s.checking);
        if ran_out {
            self.final_check(now, id);
        }
    }

    /// Sends one last probe of a suspected member, the accusation riding
    /// on it.
    fn final_check(&mut self, now: Instant, id: &PeerId) {
        let Some(entry) = self.members.get_mut(id) else {
            return;
        };
        let to = entry.member.address();
        let Some(suspicion) = entry.suspicion.as_mut() else {
            return;
        };
        suspicion.checking = true;
        suspicion.final_checks += 1;
        let envelope = self.envelope_for(id, true);
        let timeout = self.health.scaled(self.config.probe_timeout);
        let pending = Pending::FinalCheck { target: id.clone() };
        self.call(now, to, Request::Status(envelope), timeout, pending);
    }

    /// The final check of a suspected member: no answer, or another peer
    /// at its address, [`FINAL_CHECKS`] times in a row, and it is declared
    /// failed; an answer, and it is alive. Its reply's gossip is merged,
    /// which refutes the suspicion if the member heard of it (the probe
    /// told it); a member that answers without refuting (it cannot, or it
    /// did not hear) is suspected afresh rather than failed.
    pub(super) fn on_final_check(&mut self, now: Instant, target: PeerId, result: CallResult) {
        let checks = self
            .members
            .get(&target)
            .and_then(|e| e.suspicion.as_ref())
            .filter(|s| s.checking)
            .map(|s| s.final_checks);
        let Some(checks) = checks.filter(|_| self.is_running()) else {
            return;
        };
        let status = match result {
            Ok(Response::Status(status)) if status.id.as_ref() == Some(&target) => status,
            _ if checks < FINAL_CHECKS => return self.final_check(now, &target),
            _ => return self.declare_failed(now, &target, FailureCause::Silent, None),
        };
        self.clear_plain_suspicion(&target);
        let source = super::gossip::Source::Reply { replier: &target };
        self.merge_envelope(now, status.gossip, source, None);
        let timeout = self.suspicion_timeout(0);
        let Some(suspicion) = self
            .members
            .get_mut(&target)
            .and_then(|e| e.suspicion.as_mut())
        else {
            return;
        };
        suspicion.checking = false;
        suspicion.final_checks = 0;
        suspicion.started = now;
        suspicion.deadline = now + timeout;
        self.timers
            .schedule(now + timeout, Timer::Suspicion(target));
    }

    /// Removes a failed member. When this peer found it (`detected_by` is
    /// `None`), it tells the cloud at once: gossip pushed to a few
    /// peercloud members (which pass it on, as every member that declares
    /// it failed does: a push to every member from each of them made a
    /// partition of N cost N³ messages), `/left` to every original member
    /// (original peers know no other way).
    pub(super) fn declare_failed(
        &mut self,
        now: Instant,
        id: &PeerId,
        cause: FailureCause,
        detected_by: Option<PeerId>,
    ) {
        let Some(entry) = self.remove_member(now, id, false) else {
            return;
        };
        let update = Update {
            by: Some(detected_by.clone().unwrap_or_else(|| self.me.id.clone())),
            cause: Some(wire_cause(&cause)),
            ..Update::about(UpdateKind::Failed, id.clone(), entry.incarnation)
        };
        self.gossip.queue(update.clone());
        if detected_by.is_none() {
            self.spread_now(now, &update, None);
            let plain: Vec<_> = self
                .members
                .values()
                .filter(|e| e.kind != Kind::Rust)
                .map(|e| e.member.address())
                .collect();
            for to in plain {
                self.notify(now, to, Request::Left(LeftRequest::new(id.clone())));
            }
        }
        self.emit(Event::PeerLeft {
            member: Arc::unwrap_or_clone(entry.member),
            reason: LeftReason::Failed { detected_by, cause },
        });
    }
}

/// The cause as gossip carries it.
fn wire_cause(cause: &FailureCause) -> WireCause {
    match cause {
        FailureCause::Refused => WireCause::Refused,
        FailureCause::Replaced { .. } => WireCause::Replaced,
        FailureCause::Silent | FailureCause::Reported => WireCause::Silent,
    }
}

/// The cause gossip told.
pub(super) fn cause_of(wire: Option<WireCause>) -> FailureCause {
    match wire {
        Some(WireCause::Refused) => FailureCause::Refused,
        Some(WireCause::Replaced) => FailureCause::Replaced { by: None },
        Some(WireCause::Silent) | None => FailureCause::Silent,
    }
}
