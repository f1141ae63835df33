//! Failure detection (SWIM): one member probed with `/status` each probe
//! interval, in shuffled rounds; a member that does not answer is probed
//! through helpers (`/probe`); one that no helper reaches either is
//! suspected, except that a connection refused by its address for this
//! peer and for every helper is taken as proof that its process is gone,
//! and that a member that called this peer while it was probed is not
//! suspected (see [`Prober::heard_from`]).
//! Also the helper's side of `/probe`, and the check of a member that an
//! original peer reported gone.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use super::gossip::Source;
use super::table::Kind;
use super::{Membership, Pending, Timer};
use crate::error::{CallError, Refusal};
use crate::id::PeerId;
use crate::io::{CallResult, FailureCause, Origin, ReplyToken, Request, Response};
use crate::member::Address;
use crate::wire::{Envelope, ProbeOutcome, ProbeReply, ProbeRequest, StatusReply, UpdateKind};

/// How many members at most wait to be probed before the round goes on.
/// A pull names up to 16 members to check (see `sync.rs`), and while
/// lists differ a pull may follow every other probe answer, when one
/// member is probed per interval: unbounded, the queue would grow while a
/// cloud forms and the round would stand still behind it. Short, it is
/// also cheap to look through for a member queued already.
const MAX_NEXT: usize = 32;

/// The probing schedule and the probes under way.
#[derive(Debug, Default)]
pub(super) struct Prober {
    /// Members to probe this round, in random order; the next one is
    /// last.
    round: VecDeque<PeerId>,
    /// Members to probe before the round goes on, the first first: one
    /// whose probe this peer's stall voided, one a list said was missing.
    next: VecDeque<PeerId>,
    /// Members with a direct probe under way (never two at once), and
    /// whether each called this peer since the probe began.
    in_flight: BTreeMap<PeerId, Heard>,
    /// Members being probed through helpers.
    runs: BTreeMap<PeerId, IndirectRun>,
    /// Members being checked after an accusation, and whether each called
    /// this peer since.
    verifying: BTreeMap<PeerId, Heard>,
    /// Members an original peer reported gone while a probe of them was
    /// under way, with that peer: the member is told once it answers.
    accused: BTreeMap<PeerId, PeerId>,
}

/// A member probed through helpers after its direct probe failed.
#[derive(Debug)]
struct IndirectRun {
    /// Helpers that have not answered yet.
    waiting: usize,
    /// Helpers asked.
    asked: usize,
    /// Helpers whose own probe was refused.
    refused: usize,
    /// Helpers that answered at all (whatever they found).
    answered: usize,
    /// Whether the direct probe was refused.
    direct_refused: bool,
    /// Whether this peer stalled meanwhile: the run then proves nothing.
    voided: bool,
    /// Whether the member called this peer since its probe began.
    heard: Heard,
}

/// Whether a member under probe called this peer since the probe began.
/// It lives in the probe's own state, so it ends with the probe: a call
/// heard before a probe, or during another one, spares no later probe.
type Heard = bool;

impl Prober {
    /// A new member takes a random place in what is left of the current
    /// round, and the member that held that place is probed last in it
    /// instead: both are still probed in this round, and the member due
    /// next stays next (the peer that let this one in, after a join).
    ///
    /// Why random: peers learn of new members in much the same order
    /// (the same gossip, lists sorted by id). Had each peer probed them
    /// in the order it learned of them, the whole cloud would probe the
    /// same few members at once and none of the others: with 10,000
    /// members a crashed one went unprobed by every peer for up to 45 s,
    /// where SWIM expects a probe within about one interval.
    pub(super) fn enqueue(&mut self, id: PeerId, rng: &mut impl Rng) {
        self.round.push_front(id);
        // Any place but the last, which is the next member's.
        let place = rng.random_range(0..(self.round.len() - 1).max(1));
        self.round.swap(0, place);
    }

    /// Makes `id` the next member probed, after others put there before;
    /// with [`MAX_NEXT`] waiting already, it waits for its turn in the
    /// round instead.
    pub(super) fn probe_next(&mut self, id: PeerId) {
        if self.next.len() < MAX_NEXT && !self.next.contains(&id) {
            self.next.push_back(id);
        }
    }

    /// Makes `id` the next member of the round probed: its place is
    /// swapped with the next one's, so it is not probed twice this round.
    /// One scan of the round, for a call made once per join.
    pub(super) fn probe_first_in_round(&mut self, id: &PeerId) {
        match self.round.iter().rposition(|queued| queued == id) {
            Some(place) => {
                let last = self.round.len() - 1;
                self.round.swap(place, last);
            }
            None => self.probe_next(id.clone()),
        }
    }

    /// Forgets the probes of a member removed. Its place in the round
    /// stays: the round skips ids that are no longer members when it
    /// pops them, and removing it here would scan the round, which made
    /// a partition cost every peer N scans of N ids.
    pub(super) fn forget(&mut self, id: &PeerId) {
        self.in_flight.remove(id);
        self.runs.remove(id);
        self.verifying.remove(id);
        self.accused.remove(id);
    }

    /// Whether a probe of `id` is under way, direct or through helpers.
    fn is_busy(&self, id: &PeerId) -> bool {
        self.in_flight.contains_key(id) || self.runs.contains_key(id)
    }

    /// Notes that member `id` called this peer: a probe of it under way,
    /// or a check after an accusation, then does not end in suspicion.
    ///
    /// Why: a member busy enough to answer late (the seed that a whole
    /// cloud joins through, a peer whose cores are taken) still sends its
    /// own probes and gossip. Suspected for a slow answer by the members
    /// it calls, it had to refute, and in a cloud of 1,000 real peers on
    /// one machine the refutations' gossip slowed others in turn until
    /// dozens of members were suspected at once. A call from it is as
    /// good an answer as the one the probe waited for.
    ///
    /// What it does not hide: a member that can call out but that no one
    /// can reach is still suspected by every peer it does not call while
    /// they probe it, which is almost all of them in any cloud larger than
    /// a few peers. (It hears of that suspicion in the answers to its own
    /// calls and refutes it, with or without this rule.)
    fn heard_from(&mut self, id: &PeerId) {
        if let Some(heard) = self.in_flight.get_mut(id) {
            *heard = true;
        }
        if let Some(run) = self.runs.get_mut(id) {
            run.heard = true;
        }
        if let Some(heard) = self.verifying.get_mut(id) {
            *heard = true;
        }
    }

    pub(super) fn void_runs(&mut self) {
        for run in self.runs.values_mut() {
            run.voided = true;
        }
    }
}

impl Membership {
    /// A request from `sender`, which came from `remote`: if `sender` is a
    /// member under probe and the request came from its host's address,
    /// the probe has heard from it. The address must match, so that only
    /// a process on the member's own host can spare it by naming it as
    /// the sender (in a private cloud, only one that also holds the
    /// cloud's key or a certificate of its CA).
    pub(super) fn note_caller(&mut self, sender: &PeerId, remote: IpAddr) {
        let checking = self.prober.is_busy(sender) || self.prober.verifying.contains_key(sender);
        if !checking {
            return;
        }
        let from_its_host = self
            .members
            .get(sender)
            .is_some_and(|e| e.member.host.ip() == Some(remote.to_canonical()));
        if from_its_host {
            self.prober.heard_from(sender);
        }
    }

    pub(super) fn start_probing(&mut self, now: Instant) {
        let first = now + self.config.probe_interval;
        self.timers.schedule(first, Timer::ProbeTick);
    }

    pub(super) fn on_probe_tick(&mut self, now: Instant) {
        if !self.is_running() {
            return;
        }
        let interval = self.health.scaled(self.config.probe_interval);
        self.timers.schedule(now + interval, Timer::ProbeTick);
        if let Some(target) = self.next_probe_target() {
            self.probe(now, target);
        }
    }

    /// Probes `target` directly, with the gossip it should hear.
    fn probe(&mut self, now: Instant, target: PeerId) {
        let Some(entry) = self.members.get(&target) else {
            return;
        };
        let to = entry.member.address();
        self.prober.in_flight.insert(target.clone(), false);
        let envelope = self.envelope_for(&target, true);
        let timeout = self.health.scaled(self.config.probe_timeout);
        let pending = Pending::Probe {
            target,
            voided: false,
        };
        self.counters.probes_sent += 1;
        self.call(now, to, Request::Status(envelope), timeout, pending);
    }

    /// The next member of the round that is still a member and not being
    /// probed; a new shuffled round starts when one ends.
    fn next_probe_target(&mut self) -> Option<PeerId> {
        while let Some(id) = self.prober.next.pop_front() {
            if self.members.contains_key(&id) && !self.prober.is_busy(&id) {
                return Some(id);
            }
        }
        for _ in 0..2 {
            while let Some(id) = self.prober.round.pop_back() {
                if self.members.contains_key(&id) && !self.prober.is_busy(&id) {
                    return Some(id);
                }
            }
            let mut round: Vec<PeerId> = self.members.keys().cloned().collect();
            round.shuffle(&mut self.rng);
            self.prober.round = round.into();
        }
        None
    }

    pub(super) fn on_probe_reply(
        &mut self,
        now: Instant,
        target: PeerId,
        voided: bool,
        result: CallResult,
    ) {
        let heard = self.prober.in_flight.remove(&target).unwrap_or(false);
        let acked = matches!(&result, Ok(Response::Status(s)) if s.id.as_ref() == Some(&target));
        if acked {
            self.counters.probes_acked += 1;
        } else {
            self.counters.probes_failed += 1;
        }
        if !self.members.contains_key(&target) || !self.is_running() {
            return;
        }
        match result {
            Ok(Response::Status(status)) if status.id.as_ref() == Some(&target) => {
                self.health.better();
                self.on_answer(now, &target, status);
            }
            Ok(Response::Status(status)) => {
                // Someone else answers at that address: the member is gone
                // for sure, no need to ask again.
                let cause = FailureCause::Replaced { by: status.id };
                self.declare_failed(now, &target, cause, None);
            }
            _ if voided => self.prober.probe_next(target),
            Err(CallError::NoListener) => self.probe_through_helpers(now, target, true, heard),
            _ => self.probe_through_helpers(now, target, false, heard),
        }
    }

    /// A member answered a probe with its id: its kind shows, its gossip
    /// is merged, its list compared, and it is told of an original peer's
    /// accusation that came meanwhile.
    fn on_answer(&mut self, now: Instant, target: &PeerId, status: StatusReply) {
        let mut found_rust = false;
        let answered_at = status.incarnation.unwrap_or(0);
        if let Some(entry) = self.members.get_mut(target) {
            let kind = match status.incarnation {
                Some(_) => Kind::Rust,
                None => Kind::Original,
            };
            found_rust = kind == Kind::Rust && entry.kind != Kind::Rust;
            entry.kind = kind;
        }
        self.clear_plain_suspicion(target);
        let source = Source::Reply { replier: target };
        self.merge_envelope(now, status.gossip, source, None);
        self.compare_digest(now, target, status.digest.as_deref());
        if found_rust {
            self.tell_news_of_me(now, target);
        }
        if let Some(accuser) = self.prober.accused.remove(target) {
            self.tell_accused(now, target, accuser, answered_at);
        }
    }

    /// A member just found to be a peercloud peer missed the pushes of
    /// this peer's news about itself (new data, a refutation) while its
    /// kind was unknown (a member learned of through an original peer):
    /// it hears the newest now rather than at some later probe.
    fn tell_news_of_me(&mut self, now: Instant, target: &PeerId) {
        if self.incarnation == 0 {
            return;
        }
        let Some(to) = self.members.get(target).map(|e| e.member.address()) else {
            return;
        };
        let update = self.self_update();
        self.push(now, target.clone(), to, update);
    }

    /// Asks up to `indirect_probes` peercloud members to probe `target`;
    /// with none to ask, the direct probe decides alone. `heard`: the
    /// member called this peer during the direct probe.
    fn probe_through_helpers(&mut self, now: Instant, target: PeerId, refused: bool, heard: Heard) {
        let helpers = self.pick_helpers(&target);
        if helpers.is_empty() {
            return self.conclude_probe(now, target, refused, heard);
        }
        let Some(info) = self.members.get(&target).map(|e| e.info()) else {
            return;
        };
        self.prober.runs.insert(
            target.clone(),
            IndirectRun {
                waiting: helpers.len(),
                asked: helpers.len(),
                refused: 0,
                answered: 0,
                direct_refused: refused,
                voided: false,
                heard,
            },
        );
        // The helper probes, then answers: give it the time of both.
        let timeout = self.health.scaled(self.config.probe_timeout) * 2;
        self.counters.indirect_probes_sent += helpers.len() as u64;
        for (helper, to) in helpers {
            let envelope = self.envelope_for(&helper, true);
            let request = Request::Probe(ProbeRequest {
                target: info.clone(),
                envelope,
            });
            let pending = Pending::IndirectProbe {
                target: target.clone(),
                helper,
            };
            self.call(now, to, request, timeout, pending);
        }
    }

    /// Up to `indirect_probes` helpers for a probe of `target`: peercloud
    /// members other than `target`, not suspected, picked at random.
    ///
    /// Drawn from the table a few at a time, not from a list of every
    /// member that fits: that list cost O(N) per failed probe, and in a
    /// partition of thousands every probe of the other side fails. Only
    /// when the draws find too few (a small cloud, or one of mostly
    /// original or suspected members) is every member looked at.
    fn pick_helpers(&mut self, target: &PeerId) -> Vec<(PeerId, Address)> {
        let wanted = self.config.indirect_probes;
        let fits = |e: &super::table::Entry| {
            e.kind == Kind::Rust && e.member.id != *target && e.suspicion.is_none()
        };
        let mut chosen: Vec<(PeerId, Address)> = Vec::with_capacity(wanted);
        // Bounded: eight draws per helper wanted.
        for _ in 0..wanted.saturating_mul(8) {
            if chosen.len() == wanted {
                return chosen;
            }
            let Some(id) = self.members.random(&mut self.rng) else {
                break;
            };
            let Some(entry) = self.members.get(id).filter(|e| fits(e)) else {
                continue;
            };
            if chosen.iter().all(|(c, _)| c != id) {
                chosen.push((id.clone(), entry.member.address()));
            }
        }
        if chosen.len() == wanted {
            return chosen;
        }
        let candidates: Vec<(PeerId, Address)> = self
            .members
            .values()
            .filter(|e| fits(e))
            .map(|e| (e.member.id.clone(), e.member.address()))
            .collect();
        candidates
            .choose_multiple(&mut self.rng, wanted)
            .cloned()
            .collect()
    }

    pub(super) fn on_indirect_reply(
        &mut self,
        now: Instant,
        target: PeerId,
        helper: PeerId,
        result: CallResult,
    ) {
        let outcome = match result {
            Ok(Response::Probe(reply)) => {
                let source = Source::Reply { replier: &helper };
                self.merge_envelope(now, reply.envelope, source, None);
                Some(reply.outcome)
            }
            _ => None,
        };
        let Some(run) = self.prober.runs.get_mut(&target) else {
            return;
        };
        run.waiting = run.waiting.saturating_sub(1);
        run.answered += usize::from(outcome.is_some());
        match outcome {
            Some(ProbeOutcome::Alive) => {
                self.prober.runs.remove(&target);
                self.counters.indirect_probes_acked += 1;
                return;
            }
            Some(ProbeOutcome::Refused) => run.refused += 1,
            Some(ProbeOutcome::Replaced) => {
                self.prober.runs.remove(&target);
                let cause = FailureCause::Replaced { by: None };
                return self.declare_failed(now, &target, cause, None);
            }
            Some(ProbeOutcome::Silent) | None => {}
        }
        if run.waiting > 0 {
            return;
        }
        let refused = run.direct_refused && run.refused == run.asked;
        let voided = run.voided;
        let heard = run.heard;
        let unheard = run.asked.saturating_sub(run.answered);
        self.prober.runs.remove(&target);
        if unheard > 0 && !voided {
            // A helper that does not answer this peer either (not even to
            // say the target is silent) points at this peer's own
            // trouble rather than the target's: each one counts against
            // its health, as Lifeguard's missed nacks do. A run that only
            // some helpers answered used to count for nothing.
            self.health
                .worse(u32::try_from(unheard).unwrap_or(u32::MAX));
        }
        if voided {
            self.prober.probe_next(target);
        } else {
            self.conclude_probe(now, target, refused, heard);
        }
    }

    /// No probe reached `target`: refused everywhere, it failed; else it
    /// is suspected, unless it called this peer meanwhile. A refusal
    /// everywhere outweighs a call: nothing listens at its address now.
    fn conclude_probe(&mut self, now: Instant, target: PeerId, refused: bool, heard: Heard) {
        if !self.is_running() {
            return;
        }
        if refused {
            return self.declare_failed(now, &target, FailureCause::Refused, None);
        }
        if heard {
            self.counters.suspicions_spared += 1;
            return;
        }
        let Some(incarnation) = self.members.get(&target).map(|e| e.incarnation) else {
            return;
        };
        let me = self.me.id.clone();
        self.suspect(now, &target, incarnation, me);
    }

    /// The helper's side of `/probe`: probes the target for a member and
    /// answers with what it found.
    pub(super) fn on_probe_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        probe: ProbeRequest,
    ) {
        if self.is_leaving() {
            return self.reply(token, Err(Refusal::ShuttingDown));
        }
        let sender = match origin.sender.clone() {
            Some(sender) if self.members.contains_key(&sender) => sender,
            Some(sender) => return self.reply(token, Err(Refusal::UnknownSender(sender))),
            None => return self.reply(token, Err(Refusal::MissingSender)),
        };
        let source = Source::Request { sender: &sender };
        self.merge_envelope(now, probe.envelope, source, Some(origin.remote));
        let target = probe.target;
        let envelope = if self.members.contains_key(&target.id) {
            self.envelope_for(&target.id, true)
        } else {
            Envelope::default()
        };
        let to = Address::new(target.ip, target.port);
        let timeout = self.health.scaled(self.config.probe_timeout);
        let pending = Pending::Relay {
            token,
            target: target.id,
            asker: sender,
        };
        self.call(now, to, Request::Status(envelope), timeout, pending);
    }

    pub(super) fn on_relay_reply(
        &mut self,
        now: Instant,
        token: ReplyToken,
        target: PeerId,
        asker: PeerId,
        result: CallResult,
    ) {
        let outcome = match result {
            Ok(Response::Status(status)) if status.id.as_ref() == Some(&target) => {
                if self.members.contains_key(&target) {
                    self.on_answer(now, &target, status);
                }
                ProbeOutcome::Alive
            }
            Ok(Response::Status(_)) => ProbeOutcome::Replaced,
            Err(CallError::NoListener) => ProbeOutcome::Refused,
            _ => ProbeOutcome::Silent,
        };
        // The answer carries news for the asker, as every answer does.
        let envelope = self.envelope_for(&asker, false);
        self.reply(token, Ok(Response::Probe(ProbeReply { outcome, envelope })));
    }

    /// `accuser` (an original peer, by `/left`) says `target` is gone:
    /// this peer checks for itself before it believes it. A probe of
    /// `target` under way checks it already: its answer (see `on_answer`)
    /// tells `target` of the accusation, as the check's answer does.
    pub(super) fn verify(&mut self, now: Instant, target: &PeerId, accuser: PeerId) {
        if !self.members.contains_key(target) || self.prober.verifying.contains_key(target) {
            return;
        }
        if self.prober.is_busy(target) {
            self.prober.accused.insert(target.clone(), accuser);
            return;
        }
        let Some(entry) = self.members.get(target) else {
            return;
        };
        let to = entry.member.address();
        self.prober.verifying.insert(target.clone(), false);
        let envelope = self.envelope_for(target, true);
        let timeout = self.health.scaled(self.config.probe_timeout);
        let pending = Pending::Verify {
            target: target.clone(),
            accuser,
        };
        self.call(now, to, Request::Status(envelope), timeout, pending);
    }

    pub(super) fn on_verify_reply(
        &mut self,
        now: Instant,
        target: PeerId,
        accuser: PeerId,
        result: CallResult,
    ) {
        let heard = self.prober.verifying.remove(&target).unwrap_or(false);
        if !self.members.contains_key(&target) || !self.is_running() {
            return;
        }
        match result {
            Ok(Response::Status(status)) if status.id.as_ref() == Some(&target) => {
                self.prober.accused.insert(target.clone(), accuser);
                self.on_answer(now, &target, status);
            }
            Ok(Response::Status(status)) => {
                let cause = FailureCause::Replaced { by: status.id };
                self.declare_failed(now, &target, cause, None);
            }
            Err(CallError::NoListener) => self.probe_through_helpers(now, target, true, heard),
            _ => self.probe_through_helpers(now, target, false, heard),
        }
    }

    /// Tells a live peercloud member that `accuser` dropped it, so that it
    /// puts itself back into the original peers' lists. The accusation is
    /// at the incarnation it just `answered_at` if that is newer than the
    /// one known here: the member ignores one about an older incarnation.
    fn tell_accused(&mut self, now: Instant, target: &PeerId, accuser: PeerId, answered_at: u64) {
        let Some(entry) = self.members.get(target).filter(|e| e.kind == Kind::Rust) else {
            return;
        };
        let to = entry.member.address();
        let incarnation = entry.incarnation.max(answered_at);
        let update = crate::wire::Update {
            by: Some(accuser),
            ..crate::wire::Update::about(UpdateKind::Suspect, target.clone(), incarnation)
        };
        self.push(now, target.clone(), to, update);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: usize) -> PeerId {
        PeerId::parse(&format!("m{n}")).expect("a valid id")
    }

    #[test]
    fn members_to_probe_next_wait_once_each_and_at_most_max_next_of_them() {
        let mut prober = Prober::default();
        for n in 0..MAX_NEXT * 3 {
            prober.probe_next(id(n % (MAX_NEXT * 2)));
            prober.probe_next(id(n % (MAX_NEXT * 2)));
        }
        let queued: Vec<PeerId> = prober.next.iter().cloned().collect();
        let first: Vec<PeerId> = (0..MAX_NEXT).map(id).collect();
        assert_eq!(queued, first, "the first ones, once each, in order");
    }
}
