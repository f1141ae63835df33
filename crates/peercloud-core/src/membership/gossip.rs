//! Gossip between peercloud peers: membership updates ride on probes and
//! their replies (piggyback), and on gossip rounds that send the waiting
//! news to a few random members every `gossip_interval`; each update rides
//! a bounded number of messages, so news reaches everyone in O(log N)
//! rounds at a constant cost per peer, and a cloud with no news sends no
//! rounds. Joins travel this way between peercloud peers (a notice to every
//! member made N joins cost N² calls). Fresh news found here (a joiner, a
//! failure, a refutation) is pushed at once to `gossip_fanout` members,
//! which pass it on; only new data of this peer's own is pushed to every
//! member. Original peers never see any of it.
//!
//! The merge rules are SWIM's: an incarnation only its member raises;
//! `alive` beats `suspect` of a lower incarnation; `suspect` and `failed`
//! about this peer are refuted with a higher incarnation; news about
//! third parties is taken from members only (a member's `alive` about a
//! newcomer as its `/joined` would be); a stranger's news of itself is
//! checked with `/status` before it is added, its news of others dropped.

use std::collections::BTreeMap;
use std::time::Instant;

use super::rounds::{Place, Rounds};
use super::table::{Candidate, Kind};
use super::timers::Timer;
use super::{Membership, Pending};
use crate::error::{CallError, Refusal};
use crate::id::PeerId;
use crate::io::{CallResult, Origin, ReplyToken, Request, Response};
use crate::member::{host_of_remote, Address, Member};
use crate::wire::{Envelope, Update, UpdateKind};

/// The most updates riding on one message besides the accusation about
/// its receiver.
const MAX_PIGGYBACK: usize = 32;

/// Updates waiting to ride on messages, one per member (the newest news),
/// with an index by how often each was sent so that a message takes the
/// least-sent ones without looking at the rest (at thousands of members
/// the queue is long).
#[derive(Debug, Default)]
pub(super) struct Gossip {
    queue: BTreeMap<PeerId, Queued>,
    /// The queued ids by (times sent, order queued): least sent, then
    /// oldest, first.
    order: BTreeMap<(u32, u64), PeerId>,
    next_seq: u64,
    /// The round pushes under way that hold a place in the window.
    rounds: Rounds,
}

#[derive(Debug)]
struct Queued {
    update: Update,
    /// How many messages carried it so far.
    sent: u32,
    /// When it was queued, in queueing order.
    seq: u64,
}

impl Gossip {
    /// Queues an update, replacing older news about the same member.
    pub(super) fn queue(&mut self, update: Update) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let id = update.id.clone();
        if let Some(old) = self.queue.insert(
            id.clone(),
            Queued {
                update,
                sent: 0,
                seq,
            },
        ) {
            self.order.remove(&(old.sent, old.seq));
        }
        self.order.insert((0, seq), id);
    }

    /// The least-sent updates, at most [`MAX_PIGGYBACK`], leaving out news
    /// about `skip`; each is dropped after `limit` sends.
    fn take(&mut self, limit: u32, skip: Option<&PeerId>) -> Vec<Update> {
        let mut chosen = Vec::with_capacity(MAX_PIGGYBACK);
        for (&key, id) in &self.order {
            if chosen.len() == MAX_PIGGYBACK {
                break;
            }
            if Some(id) != skip {
                chosen.push(key);
            }
        }
        let mut updates = Vec::with_capacity(chosen.len());
        for key in chosen {
            let Some(id) = self.order.remove(&key) else {
                continue;
            };
            let Some(queued) = self.queue.get(&id) else {
                continue;
            };
            updates.push(queued.update.clone());
            self.count_send(id, limit);
        }
        updates
    }

    /// Counts one more send of the news waiting about `id`, whose place
    /// in `order` the caller took out: it goes back in at its new count,
    /// or leaves the queue once sent `limit` times.
    fn count_send(&mut self, id: PeerId, limit: u32) {
        let Some(queued) = self.queue.get_mut(&id) else {
            return;
        };
        queued.sent += 1;
        if queued.sent >= limit {
            self.queue.remove(&id);
        } else {
            self.order.insert((queued.sent, queued.seq), id);
        }
    }

    /// News waiting here, heard again from a member: counted as one more
    /// send of it, as if this peer had sent it (rumor mongering with
    /// feedback). In a burst of joins every peer hears each one from
    /// several others, and sending it the full number of times as well
    /// made a thousand joins cost each peer hundreds of messages after
    /// every list was whole; news heard once is sent as before.
    ///
    /// Only joins are counted so (the caller sees to it): a suspicion, a
    /// refutation or new data keeps every send it has. Fewer sends of
    /// those cost healthy peers their place at 5% loss, where a refutation
    /// that reached one peer too few let a suspicion run out (false
    /// evictions in the simulator's hour at a thousand peers); a join that
    /// reaches too few is still found by the next pull.
    pub(super) fn heard_again(&mut self, update: &Update, limit: u32) {
        let Some(queued) = self.queue.get(&update.id) else {
            return;
        };
        if (queued.update.kind, queued.update.incarnation) != (update.kind, update.incarnation) {
            return;
        }
        self.order.remove(&(queued.sent, queued.seq));
        self.count_send(update.id.clone(), limit);
    }

    /// A member showed it knows every member this peer knows (its digest
    /// is this peer's): each join waiting here is news to nobody there,
    /// and counts as one more send, as if heard again from it (see
    /// [`Gossip::heard_again`]). After a thousand joins at once, every
    /// list whole, the joins still waiting filled every message for
    /// seconds; with this, the 5 s after a simulated cloud of a thousand
    /// is whole carry 8% fewer bytes, 25% fewer on two modelled cores. A
    /// peer that still lacks a member finds it by its next pull.
    pub(super) fn known_by_one_more(&mut self, limit: u32) {
        let joins: Vec<(u32, u64)> = self
            .order
            .iter()
            .filter(|(_, id)| self.queue.get(*id).is_some_and(|q| is_join(&q.update)))
            .map(|(&key, _)| key)
            .collect();
        for key in joins {
            if let Some(id) = self.order.remove(&key) {
                self.count_send(id, limit);
            }
        }
    }

    /// How many messages carried the news waiting about `id`, if any.
    #[cfg(test)]
    pub(super) fn times_sent(&self, id: &PeerId) -> Option<u32> {
        self.queue.get(id).map(|queued| queued.sent)
    }

    /// Whether no update waits.
    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Forgets the round pushes under way: their calls were dropped.
    pub(super) fn forget_rounds(&mut self) {
        self.rounds = Rounds::default();
    }

    /// The window of round pushes, for the invariants' checks.
    #[cfg(test)]
    pub(super) fn rounds(&self) -> &Rounds {
        &self.rounds
    }
}

/// Whether `update` is news of a join: a member alive at its first
/// incarnation (a refutation or new data raises it).
pub(super) fn is_join(update: &Update) -> bool {
    update.kind == UpdateKind::Alive && update.incarnation == 0
}

/// Where an envelope came from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Source<'a> {
    /// A request from `sender` (it called us; its address is not checked).
    Request { sender: &'a PeerId },
    /// The reply of `replier`, reached at its listed address: what it says
    /// of itself is first hand.
    Reply { replier: &'a PeerId },
}

impl Source<'_> {
    fn peer(&self) -> &PeerId {
        match self {
            Source::Request { sender } => sender,
            Source::Reply { replier } => replier,
        }
    }
}

impl Membership {
    /// How many messages carry each update: `gossip_retransmits` times the
    /// logarithm of the cloud's size, rounded up.
    pub(super) fn retransmit_limit(&self) -> u32 {
        let n = (self.members.len() + 2) as f64;
        self.config.gossip_retransmits * (n.log10().ceil() as u32).max(1)
    }

    /// This peer, alive at its incarnation, as gossip says it.
    pub(super) fn self_update(&self) -> Update {
        Update {
            ip: self.me.advertise.clone(),
            port: Some(self.me.port),
            data: Some(self.my_data.clone()),
            ..Update::about(UpdateKind::Alive, self.me.id.clone(), self.incarnation)
        }
    }

    /// The gossip for a message to `to`: what this peer holds against `to`
    /// first (so that it can refute at once), then the least-sent news.
    /// Original peers and unknown ones get an empty envelope.
    pub(super) fn envelope_for(&mut self, to: &PeerId, with_from: bool) -> Envelope {
        let kind = match (self.members.get(to), self.tombstones.get(to)) {
            (Some(entry), _) => entry.kind,
            (None, Some(tomb)) => tomb.kind,
            (None, None) => Kind::Unknown,
        };
        if kind != Kind::Rust {
            return Envelope::default();
        }
        let mut updates = Vec::new();
        if let Some(accusation) = self.accusation_against(to) {
            updates.push(accusation);
        }
        let limit = self.retransmit_limit();
        updates.extend(self.gossip.take(limit, Some(to)));
        Envelope {
            from: with_from.then(|| self.self_update()),
            updates,
        }
    }

    /// What this peer holds against `id`: a suspicion, its failure, or its
    /// departure.
    fn accusation_against(&self, id: &PeerId) -> Option<Update> {
        if let Some(entry) = self.members.get(id) {
            let suspicion = entry.suspicion.as_ref()?;
            return Some(Update {
                by: Some(self.me.id.clone()),
                ..Update::about(UpdateKind::Suspect, id.clone(), suspicion.incarnation)
            });
        }
        // A member that left and still talks did not leave: its goodbye
        // was forged or stale. Told so, it refutes like any accusation.
        let tomb = self.tombstones.get(id)?;
        let kind = if tomb.left {
            UpdateKind::Left
        } else {
            UpdateKind::Failed
        };
        Some(Update {
            by: Some(self.me.id.clone()),
            ..Update::about(kind, id.clone(), tomb.incarnation)
        })
    }

    /// Merges the gossip of a request or a reply.
    pub(super) fn merge_envelope(
        &mut self,
        now: Instant,
        envelope: Envelope,
        source: Source<'_>,
        remote: Option<std::net::IpAddr>,
    ) {
        if !self.is_running() {
            return;
        }
        if let Some(mut from) = envelope.from.filter(|f| f.id == *source.peer()) {
            if from.ip.is_none() {
                from.ip = remote.map(host_of_remote);
            }
            self.apply_update(now, from, source);
        }
        for update in envelope.updates {
            self.apply_update(now, update, source);
        }
    }

    /// Applies one update, by SWIM's rules (see the module documentation).
    fn apply_update(&mut self, now: Instant, update: Update, source: Source<'_>) {
        if update.id == self.me.id {
            return self.about_me(now, update, source);
        }
        let from_member = self.members.contains_key(source.peer());
        match update.kind {
            UpdateKind::Alive => self.on_alive(now, update, source),
            UpdateKind::Suspect if from_member && self.is_refutable(&update.id) => {
                let accuser = update.by.unwrap_or_else(|| source.peer().clone());
                self.suspect(now, &update.id, update.incarnation, accuser);
            }
            UpdateKind::Failed if from_member => {
                let known = self.members.get(&update.id).map(|e| e.incarnation);
                if known.is_some_and(|inc| update.incarnation >= inc) {
                    let by = update.by.unwrap_or_else(|| source.peer().clone());
                    let cause = super::suspicion::cause_of(update.cause);
                    self.declare_failed(now, &update.id, cause, Some(by));
                }
            }
            UpdateKind::Left if from_member => {
                let known = self.members.get(&update.id).map(|e| e.incarnation);
                if known.is_some_and(|inc| update.incarnation >= inc) {
                    self.member_left(now, &update.id);
                }
            }
            _ => {}
        }
    }

    fn is_refutable(&self, id: &PeerId) -> bool {
        self.members.get(id).is_some_and(|e| e.kind == Kind::Rust)
    }

    /// An alive update about a third party: newer news of a member is
    /// taken; a member not listed (or failed at an older incarnation) is
    /// added if the news is first hand, else checked first.
    fn on_alive(&mut self, now: Instant, update: Update, source: Source<'_>) {
        if self
            .members
            .get(&update.id)
            .is_some_and(|e| update.incarnation <= e.incarnation)
        {
            // Old news here. If it is a join waiting in this peer's
            // queue, a member passing it on is one more carrier of it
            // (see `Gossip::heard_again`).
            if is_join(&update) && self.members.contains_key(source.peer()) {
                let limit = self.retransmit_limit();
                self.gossip.heard_again(&update, limit);
            }
            return;
        }
        let known = self.members.get(&update.id);
        let fallback = known
            .map(|e| e.member.clone())
            .or_else(|| self.tombstones.get(&update.id).map(|t| t.member.clone()));
        let (Some(host), Some(port)) = (
            update
                .ip
                .clone()
                .or_else(|| fallback.as_ref().map(|m| m.host.clone())),
            update.port.or_else(|| fallback.as_ref().map(|m| m.port)),
        ) else {
            return;
        };
        let data = update
            .data
            .clone()
            .or_else(|| fallback.as_ref().map(|m| m.data.clone()))
            .unwrap_or_else(|| std::sync::Arc::new(serde_json::Value::Object(Default::default())));
        let candidate = Candidate {
            member: Member {
                id: update.id.clone(),
                host,
                port,
                data,
            },
            incarnation: update.incarnation,
            kind: Kind::Rust,
        };
        if let Some(entry) = known {
            if update.incarnation > entry.incarnation {
                self.refresh_member(candidate);
            }
            return;
        }
        if let Some(tomb) = self.tombstones.get(&update.id) {
            if update.incarnation <= tomb.incarnation {
                return;
            }
        }
        // A member's word is taken, as its `/joined` notice is (it checked
        // the joiner, or heard of it from a member that did): checking
        // each newcomer with `/status` would cost every peer one call per
        // join. A stranger's word about itself is checked first; its word
        // about others is dropped, not checked one by one: in a burst of
        // joins every newcomer's gossip is a stranger's, and a check of
        // each entry of each of its messages was most of a large cloud's
        // calls while it formed. That news comes again from members (each
        // passes it on several times), and a pull fills any gap.
        let first_hand = matches!(source, Source::Reply { replier } if *replier == update.id);
        let from_member = self.members.contains_key(source.peer());
        if first_hand || from_member {
            self.insert_member(now, candidate, first_hand);
        } else if update.id == *source.peer() {
            self.check_candidate(now, candidate);
        }
    }

    /// News about this peer: an accusation at its incarnation (or above)
    /// is refuted with a higher one; one below it comes from a member
    /// that missed the last refutation, which is told it.
    fn about_me(&mut self, now: Instant, update: Update, source: Source<'_>) {
        if self.is_leaving() {
            return;
        }
        if update.incarnation < self.incarnation {
            if matches!(update.kind, UpdateKind::Suspect | UpdateKind::Failed) {
                self.correct_stale_view(now, source.peer());
            }
            return;
        }
        if update.kind == UpdateKind::Alive && update.incarnation == self.incarnation {
            return;
        }
        // An original peer that evicted this peer tells nobody; a member
        // that heard of it passes it on as a suspicion by that peer.
        let by_original = update
            .by
            .as_ref()
            .and_then(|by| self.members.get(by))
            .is_some_and(|e| e.kind != Kind::Rust);
        // A replier that holds this peer failed is not a member here
        // either (a partition seen from both sides): tell it too.
        let accuser = match source {
            Source::Reply { replier } if !self.members.contains_key(replier) => self
                .tombstones
                .get(replier)
                .map(|t| (replier.clone(), t.member.address())),
            _ => None,
        };
        self.refute(now, update.incarnation, accuser);
        if by_original || update.kind == UpdateKind::Failed {
            self.reintroduce(now);
        }
    }

    /// A member that accuses this peer at an older incarnation missed its
    /// refutation (gossip reaches every member only with a high
    /// probability): its suspicion would stand, since this peer does not
    /// refute what it refuted already, and the member's checks of this
    /// peer would be answered without a word that ends it, until two of
    /// them were lost and it declared this peer failed (the simulator's
    /// 5% loss did so). Sending it this peer's record at its incarnation
    /// ends the suspicion there, as the refutation would have.
    fn correct_stale_view(&mut self, now: Instant, accuser: &PeerId) {
        let Some(to) = self
            .members
            .get(accuser)
            .filter(|e| e.kind == Kind::Rust)
            .map(|e| e.member.address())
        else {
            return;
        };
        let update = self.self_update();
        self.push(now, accuser.clone(), to, update);
    }

    /// Raises this peer's incarnation above `accused` and tells a few
    /// members at once (and `also`, an accuser that is not a member), who
    /// pass it on by gossip: it reaches every member in O(log N) rounds,
    /// well within the shortest suspicion (`suspicion_min` times log10 N).
    /// A push to every member made each refutation cost N calls, and a
    /// healed partition, where every peer refutes, N².
    ///
    /// The number stops at `u64::MAX`: a real peer raises it once per
    /// refutation or data change and never gets there, but anyone can
    /// send an accusation at `u64::MAX`, which must neither panic (debug
    /// builds) nor wrap to 0 (release builds, where the peer could never
    /// refute again).
    pub(super) fn refute(&mut self, now: Instant, accused: u64, also: Option<(PeerId, Address)>) {
        self.incarnation = self.incarnation.max(accused).saturating_add(1);
        self.version += 1;
        self.health.worse(1);
        self.counters.refutations += 1;
        let update = self.self_update();
        self.gossip.queue(update.clone());
        self.spread_now(now, &update, None);
        if let Some((id, to)) = also {
            self.push(now, id, to, update);
        }
    }

    /// Pushes `update` to every peercloud member at once.
    pub(super) fn push_to_all(&mut self, now: Instant, update: &Update) {
        let targets: Vec<(PeerId, Address)> = self
            .members
            .values()
            .filter(|e| e.kind == Kind::Rust && e.member.id != update.id)
            .map(|e| (e.member.id.clone(), e.member.address()))
            .collect();
        for (id, to) in targets {
            self.push(now, id, to, update.clone());
        }
    }

    pub(super) fn start_gossiping(&mut self, now: Instant) {
        let first = now + self.config.gossip_interval;
        self.timers.schedule(first, Timer::GossipTick);
    }

    /// A gossip round: the news waiting in the queue goes to up to
    /// `gossip_fanout` peercloud members picked at random. With no news,
    /// nothing is sent.
    ///
    /// A round goes only to as many members as the window of round pushes
    /// has room for (see `rounds.rs`): a peer (or a cloud) too busy to
    /// answer within the interval then gossips as fast as it is answered,
    /// rather than piling up calls that time out and hold a connection
    /// each; in a cloud of a thousand forming in one process, half the
    /// pushes timed out and the process ran out of file descriptors.
    /// Answered within the interval, as on any healthy network, and with
    /// lost pushes presumed lost once later ones are answered, every round
    /// goes to the full fanout.
    pub(super) fn on_gossip_tick(&mut self, now: Instant) {
        if !self.is_running() {
            return;
        }
        let next = now + self.config.gossip_interval;
        self.timers.schedule(next, Timer::GossipTick);
        let room = self.gossip.rounds.room(self.config.gossip_fanout);
        if self.gossip.is_empty() || room == 0 {
            return;
        }
        let mut targets = self.gossip_targets(None);
        targets.truncate(room);
        for id in targets {
            let Some(to) = self.members.get(&id).map(|e| e.member.address()) else {
                continue;
            };
            let envelope = self.envelope_for(&id, true);
            if envelope.updates.is_empty() {
                continue;
            }
            let timeout = self.config.call_timeout;
            let place = self.gossip.rounds.take(now);
            let pending = Pending::Round { to: id, place };
            self.call(now, to, Request::Gossip(envelope), timeout, pending);
        }
    }

    /// A round push ended: its place in the window is free, and an answer
    /// frees those of pushes it shows were lost.
    pub(super) fn on_round_reply(
        &mut self,
        now: Instant,
        to: PeerId,
        place: Place,
        result: CallResult,
    ) {
        let answered = matches!(result, Ok(_) | Err(CallError::Refused { .. }));
        let interval = self.config.gossip_interval;
        self.gossip.rounds.ended(now, place, answered, interval);
        self.on_push_reply(now, to, result);
    }

    /// Up to `gossip_fanout` peercloud members picked at random, never
    /// `skip`.
    fn gossip_targets(&mut self, skip: Option<&PeerId>) -> Vec<PeerId> {
        let fanout = self.config.gossip_fanout;
        let is_target =
            |e: &&super::table::Entry| e.kind == Kind::Rust && Some(&e.member.id) != skip;
        if self.members.len() <= fanout + 1 {
            // A small cloud: every member, not a random few of them.
            let all = self.members.values().filter(is_target);
            return all.map(|e| e.member.id.clone()).take(fanout).collect();
        }
        let mut chosen: Vec<PeerId> = Vec::with_capacity(fanout);
        // Bounded: in a cloud of mostly original peers, or of fewer
        // members than the fanout, a round goes to fewer.
        for _ in 0..fanout.saturating_mul(3) {
            if chosen.len() == fanout {
                break;
            }
            let Some(id) = self.members.random(&mut self.rng) else {
                break;
            };
            let is_rust = self.members.get(id).is_some_and(|e| e.kind == Kind::Rust);
            if is_rust && Some(id) != skip && !chosen.contains(id) {
                chosen.push(id.clone());
            }
        }
        chosen
    }

    /// Fresh news found here (a joiner admitted, a failure detected, a
    /// refutation) goes at once to `gossip_fanout` random members (every
    /// member of a small cloud) rather than at the next round; they pass it
    /// on like any news. `skip` is a member not to send it to (the joiner itself).
    pub(super) fn spread_now(&mut self, now: Instant, update: &Update, skip: Option<&PeerId>) {
        for id in self.gossip_targets(skip) {
            if let Some(to) = self.members.get(&id).map(|e| e.member.address()) {
                self.push(now, id, to, update.clone());
            }
        }
    }

    /// Pushes `update`, with the usual piggyback, to one peer.
    pub(super) fn push(&mut self, now: Instant, to_id: PeerId, to: Address, update: Update) {
        let mut envelope = self.envelope_for(&to_id, true);
        envelope.updates.retain(|u| u.id != update.id);
        envelope.updates.insert(0, update);
        let timeout = self.config.call_timeout;
        let pending = Pending::Push { to: to_id };
        self.call(now, to, Request::Gossip(envelope), timeout, pending);
    }

    pub(super) fn on_push_reply(&mut self, now: Instant, to: PeerId, result: CallResult) {
        if let Ok(Response::Gossip(envelope)) = result {
            self.merge_envelope(now, envelope, Source::Reply { replier: &to }, None);
        }
    }

    /// `/gossip` from anyone with an id: a member's news is merged, a
    /// stranger's only as far as it concerns itself (checked before it is
    /// added) and this peer (refuted).
    pub(super) fn on_gossip_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        envelope: Envelope,
    ) {
        if self.is_leaving() {
            return self.reply(token, Err(Refusal::ShuttingDown));
        }
        let Some(sender) = origin.sender.clone() else {
            return self.reply(token, Err(Refusal::MissingSender));
        };
        let source = Source::Request { sender: &sender };
        self.merge_envelope(now, envelope, source, Some(origin.remote));
        let reply = self.envelope_for(&sender, false);
        self.reply(token, Ok(Response::Gossip(reply)));
    }

    /// `/status` with gossip (a peercloud peer's probe): merged like
    /// `/gossip`, and answered with this peer's status and gossip.
    pub(super) fn on_status_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        envelope: Envelope,
    ) {
        let mut status = self.status();
        if let Some(sender) = origin.sender.clone().filter(|_| !envelope.is_empty()) {
            let source = Source::Request { sender: &sender };
            self.merge_envelope(now, envelope, source, Some(origin.remote));
            status = self.status();
            status.gossip = self.envelope_for(&sender, false);
        }
        self.reply(token, Ok(Response::Status(status)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(id: &str) -> Update {
        Update::about(UpdateKind::Alive, PeerId::parse(id).unwrap(), 1)
    }

    #[test]
    fn each_update_rides_a_bounded_number_of_times_least_sent_first() {
        let mut gossip = Gossip::default();
        gossip.queue(update("a"));
        let first = gossip.take(2, None);
        gossip.queue(update("b"));
        let second = gossip.take(2, None);
        assert_eq!(first.len(), 1);
        assert_eq!(second[0].id.as_str(), "b", "the least sent goes first");
        assert_eq!(second.len(), 2);
        let third = gossip.take(2, None);
        assert_eq!(third.len(), 1, "a was sent twice and dropped");
        assert_eq!(third[0].id.as_str(), "b");
        assert!(gossip.take(2, None).is_empty());
    }

    #[test]
    fn news_heard_again_counts_as_sent_but_other_news_of_the_member_does_not() {
        let mut gossip = Gossip::default();
        gossip.queue(update("a"));
        gossip.queue(update("b"));
        // The same news of a, heard again: one send of three left.
        gossip.heard_again(&update("a"), 3);
        // News of b at another incarnation, or of another kind, is not
        // the news waiting here.
        let mut newer = update("b");
        newer.incarnation = 2;
        gossip.heard_again(&newer, 3);
        gossip.heard_again(&Update::about(UpdateKind::Suspect, newer.id.clone(), 1), 3);
        let taken = gossip.take(3, None);
        assert_eq!(taken[0].id.as_str(), "b", "b, sent least, first");
        gossip.heard_again(&update("a"), 3);
        // a: heard twice, sent once; b: sent once.
        let taken = gossip.take(3, None);
        assert_eq!(
            taken.iter().map(|u| u.id.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        assert!(gossip.take(3, None).iter().all(|u| u.id.as_str() == "b"));
        assert!(gossip.is_empty(), "every piece ran out");
    }

    #[test]
    fn news_about_the_receiver_is_left_out_of_the_piggyback() {
        let mut gossip = Gossip::default();
        gossip.queue(update("a"));
        gossip.queue(update("b"));
        let a = PeerId::parse("a").unwrap();
        let taken = gossip.take(5, Some(&a));
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].id.as_str(), "b");
    }
}
