//! A model of the original implementation's membership rules (the npm
//! package `peercloud@0.1.3`), as a sans-IO state machine of the same
//! shape as the core, so that the simulator runs it on the same network,
//! faults and codec and its figures stand beside peercloud's. Touches no
//! clock and no socket.
//!
//! What it models, from `reference-behaviour.md` and the package's README:
//! - **Join, client side**: the seeds are tried one at a time in random
//!   order, each `/join` given up after 1 s; the first reply whose status
//!   is `"joined"` wins: its `id` is adopted, its `peers` *become* the list
//!   (whatever was listed before is overwritten) and the seed is added at
//!   the address dialled. No seed: a cloud of its own. Never tried again.
//! - **Join, server side**: an id that is its own or listed is refused;
//!   otherwise the joiner's `/status` is checked (1 s); if it answers with
//!   the joiner's id, `/joined` goes to every entry of the list, the
//!   joiner is appended, and the reply carries the list without it.
//! - **`/joined`**: accepted only from a listed sender; appended without
//!   de-duplication. **`/left {id}`**: accepted only from a listed sender;
//!   every entry with that id is removed. A notice that fails is lost:
//!   nothing is retried, nothing re-synchronises lists.
//! - **Failure detection**: every 5 s (a fixed interval from its start),
//!   if the list is not empty, one entry drawn at random is asked for its
//!   `/status`; an error, no answer within 1 s or another id removes it
//!   at once and sends `/left {id}` to every other entry. One missed probe
//!   is enough; the evicted peer is not told and never rejoins.
//! - **`/status`** answers anyone with `{id, online, listening, joined}`.
//! - **Leaving**: `/left` with its own id to every entry, then the list is
//!   cleared and the peer is closed.
//!
//! What it leaves out: `/message` and broadcasts (application traffic,
//! not membership); joins without an id (the simulator's peers always send
//! one); ids and data not validated beyond the codec's own checks; the
//! exact HTTP statuses (the original answers 404 and 500 where this model
//! gives the core's [`Refusal`]s, which the simulator turns into other
//! non-2xx statuses: to the original's client every non-2xx is the same
//! failure); keep-alive connections and the 1 s timeout of the *server*
//! side (only calls time out here); what node does when a probed entry was
//! removed while its probe was under way (here: nothing more).
//!
//! A probe that fails when the same id is listed twice removes both
//! entries, as a `/left` about it does.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use peercloud_core::wire::{
    Ack, JoinReply, JoinRequest, LeftRequest, PeerInfo, ServerInfo, StatusReply, DEFAULT_PORT,
    STATUS_ADDED, STATUS_JOINED, STATUS_REMOVED,
};
use peercloud_core::{
    Action, Address, CallError, CallId, CallResult, Event, FailureCause, Host, Identity,
    LeftReason, Member, Origin, PeerId, Refusal, ReplyToken, Request, Response, Start,
};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::protocol::Protocol;

/// The original's timings. The defaults are the package's; tests may
/// shorten them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalConfig {
    /// How often one entry is probed: 5 s.
    pub probe_interval: Duration,
    /// How long its client waits for any answer: 1 s.
    pub request_timeout: Duration,
}

impl Default for OriginalConfig {
    fn default() -> Self {
        OriginalConfig {
            probe_interval: Duration::from_secs(5),
            request_timeout: Duration::from_secs(1),
        }
    }
}

/// Where the peer is in its life.
#[derive(Debug)]
enum Phase {
    Idle,
    /// Trying seeds; the next one is last.
    Joining {
        seeds: Vec<Address>,
    },
    Running,
    Closed,
}

/// What an outstanding call is for.
#[derive(Debug)]
enum Pending {
    /// Its own `/join` to a seed.
    Join { seed: Address },
    /// The `/status` check of a joiner, who waits on `token`.
    Check { token: ReplyToken, joiner: Member },
    /// A failure-detection probe of one entry.
    Probe { target: Member },
    /// A `/joined` or `/left` notice, or a goodbye: its result is ignored.
    Notice,
}

/// What is due at a deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The probe interval.
    Tick,
    /// A call got no answer in time.
    Call(CallId),
}

/// One original peer. See the module documentation for its rules.
#[derive(Debug)]
pub struct Original {
    me: Identity,
    config: OriginalConfig,
    phase: Phase,
    /// The list, in the order entries were added, duplicates kept.
    peers: Vec<Member>,
    /// How many entries each listed id has, to answer "is it listed"
    /// without a scan.
    listed: BTreeMap<PeerId, usize>,
    pending: BTreeMap<CallId, (Pending, (Instant, u64))>,
    /// Every deadline, first due first; ties in the order they were set.
    timers: BTreeMap<(Instant, u64), Timer>,
    next_seq: u64,
    next_call: u64,
    rng: ChaCha8Rng,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
}

impl Original {
    /// A peer that is not started yet.
    pub fn new(me: Identity, config: OriginalConfig, rng_seed: u64) -> Self {
        Original {
            me,
            config,
            phase: Phase::Idle,
            peers: Vec::new(),
            listed: BTreeMap::new(),
            pending: BTreeMap::new(),
            timers: BTreeMap::new(),
            next_seq: 0,
            next_call: 0,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
            actions: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The list as it is, duplicates included.
    pub fn peers(&self) -> &[Member] {
        &self.peers
    }

    fn schedule(&mut self, at: Instant, timer: Timer) -> (Instant, u64) {
        let key = (at, self.next_seq);
        self.next_seq += 1;
        self.timers.insert(key, timer);
        key
    }

    fn call(&mut self, now: Instant, to: Address, request: Request, what: Pending) {
        let call = CallId(self.next_call);
        self.next_call += 1;
        let timeout = self.config.request_timeout;
        let deadline = self.schedule(now + timeout, Timer::Call(call));
        self.pending.insert(call, (what, deadline));
        self.actions.push_back(Action::Call {
            call,
            to,
            request,
            timeout,
        });
    }

    fn reply(&mut self, token: ReplyToken, reply: Result<Response, Refusal>) {
        self.actions.push_back(Action::Reply { token, reply });
    }

    fn add(&mut self, member: Member) {
        *self.listed.entry(member.id.clone()).or_default() += 1;
        self.events.push_back(Event::PeerJoined(member.clone()));
        self.peers.push(member);
    }

    /// Removes every entry with `id`; the first one removed, if any.
    fn remove_all(&mut self, id: &PeerId) -> Option<Member> {
        self.listed.remove(id)?;
        let at = self.peers.iter().position(|m| m.id == *id)?;
        let first = self.peers.remove(at);
        self.peers.retain(|m| m.id != *id);
        Some(first)
    }

    /// Sends `request` to every entry, results ignored.
    fn tell_all(&mut self, now: Instant, request: &Request) {
        let to: Vec<Address> = self.peers.iter().map(Member::address).collect();
        for address in to {
            self.call(now, address, request.clone(), Pending::Notice);
        }
    }

    fn is_listed_sender(&self, origin: &Origin) -> Result<PeerId, Refusal> {
        let sender = origin.sender.clone().ok_or(Refusal::MissingSender)?;
        if self.listed.contains_key(&sender) {
            Ok(sender)
        } else {
            Err(Refusal::UnknownSender(sender))
        }
    }

    fn try_next_seed(&mut self, now: Instant) {
        let Phase::Joining { seeds } = &mut self.phase else {
            return;
        };
        match seeds.pop() {
            Some(seed) => {
                let join = JoinRequest {
                    id: Some(self.me.id.clone()),
                    ip: self.me.advertise.clone(),
                    port: Some(self.me.port),
                    data: Some(self.me.data.clone()),
                    incarnation: None,
                };
                let what = Pending::Join { seed: seed.clone() };
                self.call(now, seed, Request::Join(join), what);
            }
            None => self.run(now, Start::Alone),
        }
    }

    fn run(&mut self, now: Instant, start: Start) {
        self.phase = Phase::Running;
        let first = now + self.config.probe_interval;
        self.schedule(first, Timer::Tick);
        self.events.push_back(Event::Started(start));
    }

    fn on_join_reply(&mut self, now: Instant, seed: Address, result: CallResult) {
        let reply = match result {
            Ok(Response::Join(reply)) if reply.status == STATUS_JOINED => reply,
            _ => return self.try_next_seed(now),
        };
        if let Some(id) = reply.id {
            self.me.id = id;
        }
        // The reply's list replaces whatever was listed (a joiner admitted
        // meanwhile is lost), then the seed is added where it was dialled.
        self.peers.clear();
        self.listed.clear();
        let server = Member {
            id: reply.server.id,
            host: seed.host.clone(),
            port: seed.port,
            data: reply.server.data.into(),
        };
        let start = Start::Joined {
            via: seed,
            peers: reply.peers.len() + 1,
        };
        self.run(now, start);
        for info in reply.peers {
            self.add(Member::from(info));
        }
        self.add(server);
    }

    fn on_join_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        join: JoinRequest,
    ) {
        let id = match join.id {
            Some(id) => id,
            None => PeerId::from_random_bytes(self.rng.random()),
        };
        if id == self.me.id || self.listed.contains_key(&id) {
            return self.reply(token, Err(Refusal::IdInUse(id)));
        }
        let joiner = Member {
            id,
            host: join.ip.unwrap_or_else(|| Host::from_ip(origin.remote)),
            port: join.port.unwrap_or(DEFAULT_PORT),
            data: join
                .data
                .unwrap_or_else(|| Value::Object(Default::default()))
                .into(),
        };
        let to = joiner.address();
        let check = Request::Status(Default::default());
        self.call(now, to, check, Pending::Check { token, joiner });
    }

    fn on_check(&mut self, now: Instant, token: ReplyToken, joiner: Member, result: CallResult) {
        match result {
            Ok(Response::Status(status)) if status.id.as_ref() == Some(&joiner.id) => {}
            Err(CallError::Timeout) => return self.reply(token, Err(Refusal::CheckTimedOut)),
            other => {
                let why = format!("{other:?}");
                return self.reply(token, Err(Refusal::CheckFailed(why)));
            }
        }
        let notice = Request::Joined(PeerInfo::of(&joiner, None));
        self.tell_all(now, &notice);
        let reply = JoinReply {
            status: STATUS_JOINED.to_owned(),
            id: Some(joiner.id.clone()),
            ip: Some(joiner.host.clone()),
            port: Some(joiner.port),
            server: ServerInfo {
                id: self.me.id.clone(),
                data: self.me.data.clone(),
                incarnation: None,
            },
            peers: self.peers.iter().map(PeerInfo::from).collect(),
        };
        self.add(joiner);
        self.reply(token, Ok(Response::Join(reply)));
    }

    fn on_tick(&mut self, now: Instant, due: Instant) {
        // A fixed interval, whatever the last probe became.
        self.schedule(due + self.config.probe_interval, Timer::Tick);
        if self.peers.is_empty() {
            return;
        }
        let target = self.peers[self.rng.random_range(0..self.peers.len())].clone();
        let to = target.address();
        self.call(
            now,
            to,
            Request::Status(Default::default()),
            Pending::Probe { target },
        );
    }

    fn on_probe_result(&mut self, now: Instant, target: Member, result: CallResult) {
        let cause = match result {
            Ok(Response::Status(status)) if status.id.as_ref() == Some(&target.id) => return,
            Ok(Response::Status(status)) => FailureCause::Replaced { by: status.id },
            Err(CallError::NoListener) => FailureCause::Refused,
            _ => FailureCause::Silent,
        };
        let Some(member) = self.remove_all(&target.id) else {
            return;
        };
        let reason = LeftReason::Failed {
            detected_by: None,
            cause,
        };
        self.events.push_back(Event::PeerLeft { member, reason });
        self.tell_all(now, &Request::Left(LeftRequest::new(target.id)));
    }

    fn on_joined(&mut self, token: ReplyToken, origin: Origin, info: PeerInfo) {
        if let Err(refusal) = self.is_listed_sender(&origin) {
            return self.reply(token, Err(refusal));
        }
        self.add(Member::from(info));
        let ack = Ack {
            status: STATUS_ADDED.to_owned(),
        };
        self.reply(token, Ok(Response::Joined(ack)));
    }

    fn on_left(&mut self, token: ReplyToken, origin: Origin, left: LeftRequest) {
        let sender = match self.is_listed_sender(&origin) {
            Ok(sender) => sender,
            Err(refusal) => return self.reply(token, Err(refusal)),
        };
        if let Some(member) = self.remove_all(&left.id) {
            // The original cannot tell a goodbye from an accusation but by
            // who sends it; its events are the simulator's, so they say.
            let reason = if left.id == sender {
                LeftReason::Left
            } else {
                LeftReason::Failed {
                    detected_by: Some(sender),
                    cause: FailureCause::Reported,
                }
            };
            self.events.push_back(Event::PeerLeft { member, reason });
        }
        let ack = Ack {
            status: STATUS_REMOVED.to_owned(),
        };
        self.reply(token, Ok(Response::Left(ack)));
    }

    fn status(&self) -> StatusReply {
        StatusReply {
            id: Some(self.me.id.clone()),
            online: true,
            listening: true,
            joined: !self.peers.is_empty(),
            digest: None,
            incarnation: None,
            gossip: Default::default(),
        }
    }
}

impl Protocol for Original {
    type Config = OriginalConfig;

    fn create(identity: Identity, config: &OriginalConfig, rng_seed: u64) -> Self {
        Original::new(identity, config.clone(), rng_seed)
    }

    fn id(&self) -> &PeerId {
        &self.me.id
    }

    fn start(&mut self, now: Instant, mut seeds: Vec<Address>) {
        if !matches!(self.phase, Phase::Idle) {
            return;
        }
        seeds.shuffle(&mut self.rng);
        self.phase = Phase::Joining { seeds };
        self.try_next_seed(now);
    }

    fn leave(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Closed) {
            return;
        }
        let me = self.me.id.clone();
        self.tell_all(now, &Request::Left(LeftRequest::new(me)));
        self.peers.clear();
        self.listed.clear();
        self.timers.clear();
        self.pending.clear();
        self.phase = Phase::Closed;
        self.events.push_back(Event::Closed);
    }

    fn handle_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        request: Request,
    ) {
        if matches!(self.phase, Phase::Closed) {
            // Its server is closed: any answer is a failure to the caller.
            return self.reply(token, Err(Refusal::ShuttingDown));
        }
        match request {
            Request::Join(join) => self.on_join_request(now, token, origin, join),
            Request::Joined(info) => self.on_joined(token, origin, info),
            Request::Left(left) => self.on_left(token, origin, left),
            Request::Status(_) => self.reply(token, Ok(Response::Status(self.status()))),
            // peercloud's own endpoints: the original answers 404, as it
            // does an unknown sender; the core's refusals have no 404.
            Request::Peers(_) | Request::Probe(_) | Request::Gossip(_) => {
                let sender = origin.sender.unwrap_or_else(|| self.me.id.clone());
                self.reply(token, Err(Refusal::UnknownSender(sender)))
            }
        }
    }

    fn handle_response(&mut self, now: Instant, call: CallId, result: CallResult) {
        let Some((what, deadline)) = self.pending.remove(&call) else {
            return;
        };
        self.timers.remove(&deadline);
        self.on_result(now, what, result);
    }

    fn handle_timeout(&mut self, now: Instant) {
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let ((due, _), timer) = entry.remove_entry();
            match timer {
                Timer::Tick => self.on_tick(now, due),
                Timer::Call(call) => {
                    if let Some((what, _)) = self.pending.remove(&call) {
                        self.on_result(now, what, Err(CallError::Timeout));
                    }
                }
            }
        }
    }

    fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.timers.keys().next().map(|(at, _)| *at)
    }

    fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    fn lists(&self, id: &PeerId) -> bool {
        self.listed.contains_key(id)
    }

    fn members(&self) -> impl Iterator<Item = &Member> {
        self.peers.iter()
    }

    fn member_count(&self) -> usize {
        self.peers.len()
    }
}

impl Original {
    fn on_result(&mut self, now: Instant, what: Pending, result: CallResult) {
        match what {
            Pending::Join { seed } => {
                if matches!(self.phase, Phase::Joining { .. }) {
                    self.on_join_reply(now, seed, result);
                }
            }
            Pending::Check { token, joiner } => self.on_check(now, token, joiner, result),
            Pending::Probe { target } => self.on_probe_result(now, target, result),
            Pending::Notice => {}
        }
    }
}
