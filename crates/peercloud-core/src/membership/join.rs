//! Joining: this peer joining a cloud through its seeds (client side), and
//! other peers joining through this one (server side).

use std::time::Instant;

use rand::seq::SliceRandom;
use serde_json::Value;

use super::{Membership, Pending, Phase, MAX_EARLY_NOTICES};
use crate::error::{CallError, Mismatch, Refusal};
use crate::io::{CallResult, Event, Origin, ReplyToken, Request, Response, Start};
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
        self.rejoiner.begin(&seeds);
        self.phase = Phase::Joining { seeds };
        self.try_next_seed(now);
    }

    fn try_next_seed(&mut self, now: Instant) {
        let Phase::Joining { seeds } = &mut self.phase else {
            return;
        };
        match seeds.pop() {
            Some(seed) => {
                self.rejoiner.attempt_started();
                let request = Request::Join(self.join_request());
                let timeout = self.config.join_timeout;
                self.call(
                    seed.clone(),
                    request,
                    timeout,
                    Pending::JoinAttempt { seed },
                );
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
                self.adopt_cloud(now, seed, reply)
            }
            _ => {
                self.rejoiner.attempt_failed(&seed);
                self.try_next_seed(now);
            }
        }
    }

    /// Takes the seed's member list. Members this peer accepted while it was
    /// joining are kept and introduced to the cloud, so that no join is lost
    /// (the original overwrote its list here).
    fn adopt_cloud(&mut self, now: Instant, seed: Address, reply: JoinReply) {
        self.join_cloud(Some(now), seed, reply);
    }

    /// Takes the member list of the cloud a running peer joined through
    /// `seed`, like [`adopt_cloud`](Self::adopt_cloud) but without a
    /// second [`Event::Started`].
    pub(super) fn merge_cloud(&mut self, seed: Address, reply: JoinReply) {
        self.join_cloud(None, seed, reply);
    }

    /// Adopts the id the seed gave, adds the seed and its members, and
    /// introduces the members this peer knew before to them. With
    /// `starting`, the peer starts running (joined) first.
    fn join_cloud(&mut self, starting: Option<Instant>, seed: Address, reply: JoinReply) {
        if let Some(id) = reply.id.filter(|id| *id != self.me.id) {
            self.me.id = id;
            self.version += 1;
        }
        let earlier: Vec<Member> = self.members.values().cloned().collect();
        let server = Member {
            id: reply.server.id,
            host: seed.host.clone(),
            port: seed.port,
            data: reply.server.data,
        };
        let mut received = vec![server];
        received.extend(reply.peers.into_iter().map(Member::from));
        received.retain(|m| m.id != self.me.id);
        // Started comes first, so that the application hears "joined" before
        // the members it brought.
        if let Some(now) = starting {
            self.become_running(
                now,
                Start::Joined {
                    via: seed,
                    peers: received.len(),
                },
            );
        }
        for member in &received {
            self.insert_member(member.clone());
        }
        self.introduce(&earlier, &received);
        self.replay_early_notices();
    }

    /// Tells `earlier` members and `received` ones about each other.
    fn introduce(&mut self, earlier: &[Member], received: &[Member]) {
        for old in earlier
            .iter()
            .filter(|o| !received.iter().any(|r| r.id == o.id))
        {
            for new in received {
                self.notify(old.address(), Request::Joined(PeerInfo::from(new)));
                self.notify(new.address(), Request::Joined(PeerInfo::from(old)));
            }
        }
    }

    fn become_running(&mut self, now: Instant, start: Start) {
        self.phase = Phase::Running;
        self.prober.begin(now, self.config.probe_interval);
        self.schedule_rejoin(now);
        self.emit(Event::Started(start));
    }

    /// Keeps a notice that came, while joining, from a sender not known yet.
    pub(super) fn keep_early_notice(&mut self, sender: crate::PeerId, request: Request) {
        if self.early.len() < MAX_EARLY_NOTICES {
            self.early.push((sender, request));
        }
    }

    fn replay_early_notices(&mut self) {
        for (sender, request) in std::mem::take(&mut self.early) {
            if self.members.contains_key(&sender) {
                self.apply_notice(&sender, request);
            }
        }
    }

    /// Server side of `/join`: refuses a taken id, else checks the joiner's
    /// `/status` before anything changes.
    pub(super) fn on_join_request(
        &mut self,
        _now: Instant,
        token: ReplyToken,
        origin: Origin,
        join: JoinRequest,
    ) {
        if matches!(self.phase, Phase::Leaving { .. } | Phase::Closed) {
            return self.reply(token, Err(Refusal::ShuttingDown));
        }
        if join.id.as_ref() == Some(&self.me.id) && origin.sender.as_ref() == Some(&self.me.id) {
            // This peer's own join: one of its seeds is itself.
            self.rejoiner.note_own_join();
        }
        let made_id = join.id.is_none();
        let id = match join.id {
            Some(id) => id,
            None => self.random_id(),
        };
        if self.id_in_use(&id) {
            return self.reply(token, Err(Refusal::IdInUse(id.to_string())));
        }
        let candidate = Member {
            id,
            host: join.ip.unwrap_or_else(|| host_of_remote(origin.remote)),
            port: join.port.unwrap_or(DEFAULT_PORT),
            data: join
                .data
                .unwrap_or_else(|| Value::Object(Default::default())),
        };
        let timeout = self.config.check_timeout;
        let to = candidate.address();
        let pending = Pending::JoinCheck {
            token,
            candidate,
            made_id,
        };
        self.call(to, Request::Status, timeout, pending);
    }

    /// An id is in use if it is ours, a member's, or a joiner's being checked.
    pub(super) fn id_in_use(&self, id: &crate::PeerId) -> bool {
        *id == self.me.id
            || self.members.contains_key(id)
            || self
                .pending
                .values()
                .any(|p| matches!(p, Pending::JoinCheck { candidate, .. } if candidate.id == *id))
    }

    /// The joiner's check passed if it answered with its id, or, when the id
    /// was made here, without one (the protocol lets a peer that has no id
    /// yet answer without it).
    pub(super) fn on_join_check(
        &mut self,
        token: ReplyToken,
        candidate: Member,
        made_id: bool,
        result: CallResult,
    ) {
        let verdict = match result {
            Ok(Response::Status(status)) if status.id.as_ref() == Some(&candidate.id) => Ok(()),
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
        if matches!(self.phase, Phase::Leaving { .. } | Phase::Closed) {
            return self.reply(token, Err(Refusal::ShuttingDown));
        }
        if candidate.id == self.me.id || self.members.contains_key(&candidate.id) {
            return self.reply(token, Err(Refusal::IdInUse(candidate.id.to_string())));
        }
        self.admit(token, candidate);
    }

    /// Announces the checked joiner to every member, adds it, and answers it
    /// with the list it did not know (the members without itself).
    fn admit(&mut self, token: ReplyToken, joiner: Member) {
        let peers: Vec<PeerInfo> = self.members.values().map(PeerInfo::from).collect();
        let notice = PeerInfo::from(&joiner);
        let addresses: Vec<Address> = self.members.values().map(Member::address).collect();
        for to in addresses {
            self.notify(to, Request::Joined(notice.clone()));
        }
        let reply = JoinReply {
            status: STATUS_JOINED.to_owned(),
            id: Some(joiner.id.clone()),
            ip: Some(joiner.host.clone()),
            port: Some(joiner.port),
            server: ServerInfo {
                id: self.me.id.clone(),
                data: self.me.data.clone(),
            },
            peers,
        };
        self.insert_member(joiner);
        self.reply(token, Ok(Response::Join(reply)));
    }

    /// Sends a fire-and-forget `/joined` or `/left` notice.
    pub(super) fn notify(&mut self, to: Address, request: Request) {
        let timeout = self.config.call_timeout;
        self.call(to, request, timeout, Pending::Notice);
    }
}
