//! Joining: this peer joining a cloud through its seeds (client side), and
//! other peers joining through this one (server side).

use std::collections::BTreeSet;
use std::time::Instant;

use rand::seq::SliceRandom;
use serde_json::Value;

use super::table::{Candidate, Kind};
use super::{Membership, Pending, Phase, MAX_EARLY_NOTICES};
use crate::error::{CallError, Mismatch, Refusal};
use crate::id::PeerId;
use crate::io::{CallResult, Event, FailureCause, Origin, ReplyToken, Request, Response, Start};
use crate::member::{host_of_remote, Address, Member};
use crate::wire::{JoinReply, JoinRequest, PeerInfo, ServerInfo, DEFAULT_PORT, STATUS_JOINED};

impl Membership {
    /// Starts the peer: tries the seeds in random order, one at a time, and
    /// joins through the first that accepts; with no seed (or none
    /// accepting) it starts a cloud of its own. Either way
    /// [`Event::Started`] follows. Calling it twice does nothing.
    pub fn start(&mut self, now: Instant, mut seeds: Vec<Address>) {
        if !matches!(self.phase, Phase::Idle) {
            return;
        }
        seeds.shuffle(&mut self.rng);
        self.reconnector.begin(&seeds);
        self.phase = Phase::Joining { seeds };
        self.try_next_seed(now);
    }

    fn try_next_seed(&mut self, now: Instant) {
        let Phase::Joining { seeds } = &mut self.phase else {
            return;
        };
        match seeds.pop() {
            Some(seed) => {
                self.reconnector.attempt_started();
                let request = Request::Join(self.join_request());
                let timeout = self.config.join_timeout;
                let pending = Pending::JoinAttempt { seed: seed.clone() };
                self.call(now, seed, request, timeout, pending);
            }
            None => {
                // No seed accepted: no sender of a kept notice can become a
                // member any more.
                self.early.clear();
                self.become_running(now, Start::Alone);
            }
        }
    }

    pub(super) fn on_join_reply(&mut self, now: Instant, seed: Address, result: CallResult) {
        if !matches!(self.phase, Phase::Joining { .. }) {
            return;
        }
        match result {
            Ok(Response::Join(reply)) if reply.status == STATUS_JOINED => {
                self.join_cloud(now, true, seed, reply)
            }
            other => {
                let error = match other {
                    Err(error) => error,
                    Ok(_) => CallError::InvalidReply("a join answer that does not let in".into()),
                };
                self.emit(Event::SeedFailed {
                    seed: seed.clone(),
                    error,
                });
                self.reconnector.attempt_failed(&seed);
                self.try_next_seed(now);
            }
        }
    }

    /// Takes the member list of the cloud a running peer joined through
    /// `seed`, like a start's join but without a second [`Event::Started`].
    pub(super) fn merge_cloud(&mut self, now: Instant, seed: Address, reply: JoinReply) {
        self.join_cloud(now, false, seed, reply);
    }

    /// Adopts the id the seed gave (if free), adds the seed and its members, and
    /// introduces the members this peer knew before to them (the original
    /// overwrote its list here, losing them). With `starting`, the peer
    /// starts running (joined) first.
    fn join_cloud(&mut self, now: Instant, starting: bool, seed: Address, reply: JoinReply) {
        // A seed gives back the id it was sent (this peer always sends
        // one); an id in use here, or the seed's own, comes from a
        // confused seed, and taking it would list this peer as its own
        // member.
        let renamed = reply
            .id
            .filter(|id| *id != self.me.id && !self.id_in_use(id) && *id != reply.server.id);
        if let Some(id) = renamed {
            self.me.id = id;
            self.version += 1;
        }
        let earlier: Vec<Member> = self.members().cloned().collect();
        let server = Candidate {
            member: Member {
                id: reply.server.id,
                host: seed.host.clone(),
                port: seed.port,
                data: crate::wire::share(reply.server.data),
            },
            incarnation: reply.server.incarnation.unwrap_or(0),
            kind: match reply.server.incarnation {
                Some(_) => Kind::Rust,
                None => Kind::Original,
            },
        };
        let mut received: Vec<Candidate> = reply
            .peers
            .into_iter()
            .map(|info| Candidate {
                kind: Kind::of(info.incarnation),
                incarnation: info.incarnation.unwrap_or(0),
                member: Member::from(info),
            })
            .collect();
        received.retain(|c| c.member.id != self.me.id && c.member.id != server.member.id);
        // Started comes first, so that the application hears "joined" before
        // the members it brought.
        if starting {
            let start = Start::Joined {
                via: seed,
                peers: received.len() + 1,
            };
            self.become_running(now, start);
        }
        self.joined_just_now(now, server.kind == Kind::Original);
        let received_members: Vec<Member> = std::iter::once(&server)
            .chain(&received)
            .map(|c| c.member.clone())
            .collect();
        let server_id = server.member.id.clone();
        self.insert_listed(now, server, true);
        for candidate in received {
            self.insert_listed(now, candidate, false);
        }
        // The peer that let this one in is probed first. Its answer's
        // digest tells whether this list is whole, and if not the rest is
        // pulled from it: when many join at once the seed hears of them
        // all first, while the members its answer listed were mostly
        // joining too (in the simulator, 1,000 peers joining at once had
        // whole lists about a second later when they probed those first).
        self.prober.probe_first_in_round(&server_id);
        self.introduce(now, &earlier, &received_members);
        self.replay_early_notices(now);
    }

    /// Tells `earlier` members and `received` ones about each other, with
    /// a `/joined` notice to each that cannot learn it otherwise: a
    /// peercloud member pulls this peer's list as soon as its digest
    /// differs from its own (see `sync.rs`), so it gets no notices. A
    /// notice to every pair made the merge of two clouds of N/2 cost N²/2
    /// calls at the merging peer alone, and healing a partition, where
    /// many peers merge at once, N³.
    fn introduce(&mut self, now: Instant, earlier: &[Member], received: &[Member]) {
        let pulls = |core: &Self, member: &Member| {
            core.members
                .get(&member.id)
                .is_some_and(|e| e.kind == Kind::Rust)
        };
        let received_ids: BTreeSet<&PeerId> = received.iter().map(|r| &r.id).collect();
        for old in earlier.iter().filter(|o| !received_ids.contains(&o.id)) {
            let old_pulls = pulls(self, old);
            for new in received {
                let new_pulls = pulls(self, new);
                if !old_pulls {
                    let about_new = self.info_of(new);
                    self.notify(now, old.address(), Request::Joined(about_new));
                }
                if !new_pulls {
                    let about_old = self.info_of(old);
                    self.notify(now, new.address(), Request::Joined(about_old));
                }
            }
        }
    }

    /// A member as the wire describes it, with its incarnation if known.
    fn info_of(&self, member: &Member) -> PeerInfo {
        self.members
            .get(&member.id)
            .map_or_else(|| PeerInfo::from(member), |e| e.info())
    }

    pub(super) fn become_running(&mut self, now: Instant, start: Start) {
        self.phase = Phase::Running;
        self.start_probing(now);
        self.start_gossiping(now);
        self.start_reconnecting(now, &start);
        self.emit(Event::Started(start));
    }

    /// Keeps a notice that came, while joining, from a sender not known yet.
    pub(super) fn keep_early_notice(&mut self, sender: PeerId, request: Request) {
        if self.early.len() < MAX_EARLY_NOTICES {
            self.early.push((sender, request));
        }
    }

    fn replay_early_notices(&mut self, now: Instant) {
        for (sender, request) in std::mem::take(&mut self.early) {
            if self.members.contains_key(&sender) {
                self.apply_notice(now, &sender, request);
            }
        }
    }

    /// Server side of `/join`: refuses a source over its join rate, a
    /// taken id, or a joiner the cloud has no room for; else checks the
    /// joiner's `/status` before anything changes.
    pub(super) fn on_join_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        join: JoinRequest,
    ) {
        if self.is_leaving() {
            return self.reply(token, Err(Refusal::ShuttingDown));
        }
        if let Err(refusal) = self.admit_join_rate(now, origin.remote) {
            return self.reply(token, Err(refusal));
        }
        if join.id.as_ref() == Some(&self.me.id) && origin.sender.as_ref() == Some(&self.me.id) {
            // This peer's own join: one of its seeds is itself.
            self.reconnector.note_own_join();
        }
        let made_id = join.id.is_none();
        let id = match join.id {
            Some(id) => id,
            None => self.random_id(),
        };
        if self.id_in_use(&id) {
            return self.reply(token, Err(Refusal::IdInUse(id)));
        }
        let candidate = Candidate {
            member: Member {
                id: id.clone(),
                host: join.ip.unwrap_or_else(|| host_of_remote(origin.remote)),
                port: join.port.unwrap_or(DEFAULT_PORT),
                data: crate::wire::share(
                    join.data
                        .unwrap_or_else(|| Value::Object(Default::default())),
                ),
            },
            incarnation: join.incarnation.unwrap_or(0),
            kind: Kind::of(join.incarnation),
        };
        if let Err(refusal) = self.admit_size(&candidate.member, self.checking.len()) {
            return self.reply(token, Err(refusal));
        }
        let timeout = self.check_time(candidate.kind);
        let to = candidate.member.address();
        self.checking.insert(id);
        let pending = Pending::JoinCheck {
            token,
            candidate,
            made_id,
        };
        self.call(
            now,
            to,
            Request::Status(Default::default()),
            timeout,
            pending,
        );
    }

    /// How long the check of a joiner of this kind (as its `/join` tells
    /// it) may take. An original joiner gives up on its `/join` after a
    /// second, so its check must end before. A peercloud joiner waits
    /// `join_timeout` (its own; this peer's stands for it): half of it,
    /// when that is longer, lets a seed that a thousand peers join at once
    /// check them all, where the short check turned hundreds away to
    /// start alone.
    fn check_time(&self, joiner: Kind) -> std::time::Duration {
        match joiner {
            Kind::Rust => self.config.check_timeout.max(self.config.join_timeout / 2),
            // A joiner that sends no incarnation may be an original.
            Kind::Original | Kind::Unknown => self.config.check_timeout,
        }
    }

    /// An id is in use if it is ours, a member's, or one being checked.
    pub(super) fn id_in_use(&self, id: &PeerId) -> bool {
        *id == self.me.id || self.members.contains_key(id) || self.checking.contains(id)
    }

    /// The joiner's check passed if it answered with its id, or, when the id
    /// was made here, without one (the protocol lets a peer that has no id
    /// yet answer without it).
    pub(super) fn on_join_check(
        &mut self,
        now: Instant,
        token: ReplyToken,
        mut candidate: Candidate,
        made_id: bool,
        result: CallResult,
    ) {
        self.checking.remove(&candidate.member.id);
        let verdict = match result {
            Ok(Response::Status(status)) if status.id.as_ref() == Some(&candidate.member.id) => {
                // Its answer tells what it speaks: only peercloud peers
                // answer with an incarnation.
                candidate.kind = match status.incarnation {
                    Some(_) => Kind::Rust,
                    None => Kind::Original,
                };
                Ok(())
            }
            Ok(Response::Status(status)) if made_id && status.id.is_none() => Ok(()),
            Ok(Response::Status(status)) => Err(Refusal::CheckFailed(
                Mismatch(status.id.as_ref().map(|id| id.as_str())).to_string(),
            )),
            Ok(_) => Err(Refusal::CheckFailed("unexpected reply".into())),
            Err(CallError::Timeout) => Err(Refusal::CheckTimedOut),
            Err(e) => Err(Refusal::CheckFailed(e.to_string())),
        };
        if let Err(refusal) = verdict {
            return self.reply(token, Err(refusal));
        }
        if self.is_leaving() {
            return self.reply(token, Err(Refusal::ShuttingDown));
        }
        if self.id_in_use(&candidate.member.id) {
            return self.reply(token, Err(Refusal::IdInUse(candidate.member.id)));
        }
        // Members learned of while the joiner was checked may have filled
        // the table.
        if let Err(refusal) = self.admit_size(&candidate.member, 0) {
            return self.reply(token, Err(refusal));
        }
        self.admit(now, token, candidate);
    }

    /// Announces the checked joiner to every member, adds it, and answers it
    /// with the list it did not know (the members without itself).
    fn admit(&mut self, now: Instant, token: ReplyToken, joiner: Candidate) {
        // A member listed at the joiner's place is its former self (it
        // answered its check there under a new id): gone before the
        // joiner hears of it or anyone is told of the joiner.
        let former = self.members.at_place(&joiner.member).cloned();
        if let Some(old) = former {
            let cause = FailureCause::Replaced {
                by: Some(joiner.member.id.clone()),
            };
            self.declare_failed(now, &old, cause, None);
        }
        let peers = self.peer_infos();
        let incarnation = (joiner.kind == Kind::Rust).then_some(joiner.incarnation);
        let notice = PeerInfo::of(&joiner.member, incarnation);
        // Original peers hear of the joiner by `/joined`, as the protocol
        // has it. peercloud members hear of a peercloud joiner by gossip
        // (its alive update, queued as it is added): a notice to every
        // member made N joins cost N² calls, where gossip batches them.
        // Gossip speaks of peercloud peers only, so an original joiner is
        // announced to everyone by notice.
        let by_gossip = joiner.kind == Kind::Rust;
        let addresses: Vec<Address> = self
            .members
            .values()
            .filter(|e| !by_gossip || e.kind != Kind::Rust)
            .map(|e| e.member.address())
            .collect();
        for to in addresses {
            self.notify(now, to, Request::Joined(notice.clone()));
        }
        let reply = JoinReply {
            status: STATUS_JOINED.to_owned(),
            id: Some(joiner.member.id.clone()),
            ip: Some(joiner.member.host.clone()),
            port: Some(joiner.member.port),
            server: ServerInfo {
                id: self.me.id.clone(),
                data: self.me.data.clone(),
                incarnation: Some(self.incarnation),
            },
            peers,
        };
        let id = joiner.member.id.clone();
        if self.insert_member(now, joiner, true) {
            // In a small cloud every member hears of the joiner about as
            // soon as it hears of them.
            if let Some(update) = self
                .members
                .get(&id)
                .filter(|e| e.kind == Kind::Rust)
                .map(|e| e.alive_update())
            {
                self.spread_now(now, &update, Some(&id));
            }
        }
        self.reply(token, Ok(Response::Join(reply)));
    }

    /// Sends a fire-and-forget `/joined` or `/left` notice.
    pub(super) fn notify(&mut self, now: Instant, to: Address, request: Request) {
        let timeout = self.config.call_timeout;
        self.call(now, to, request, timeout, Pending::Notice);
    }

    /// What this peer sends to a seed.
    pub(super) fn join_request(&self) -> JoinRequest {
        JoinRequest {
            id: Some(self.me.id.clone()),
            ip: self.me.advertise.clone(),
            port: Some(self.me.port),
            data: Some(self.me.data.clone()),
            incarnation: Some(self.incarnation),
        }
    }
}
