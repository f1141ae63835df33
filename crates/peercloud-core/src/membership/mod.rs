//! The membership state machine: who is in the cloud, kept up to date by
//! joins, `/joined` and `/left` notices, probes and leaves.
//!
//! It does no I/O and reads no clock: inputs come in through `start`,
//! `handle_request`, `handle_response`, `handle_timeout` and `leave`, each
//! with `now`; what to do comes out of `poll_action`, what happened out of
//! `poll_event`, and when to call `handle_timeout` next out of `poll_timeout`.
//! Each input's handling lives in its own file below this one.

mod join;
mod leave;
mod notice;
mod probe;
mod rejoin;
mod sync;

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::config::Config;
use crate::error::Refusal;
use crate::id::PeerId;
use crate::io::{Action, CallId, CallResult, Event, Origin, ReplyToken, Request, Response};
use crate::member::{Address, Host, Member};
use crate::wire::{PeersReply, StatusReply};

use self::probe::Prober;
use self::rejoin::Rejoiner;
use self::sync::Syncer;

/// Who this peer is.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Its id (a seed may replace it when it joins).
    pub id: PeerId,
    /// The port it listens on.
    pub port: u16,
    /// The host other peers should use for it, sent as `ip` when it joins;
    /// `None` lets the seed infer it from the connection.
    pub advertise: Option<Host>,
    /// Its data.
    pub data: Value,
}

/// Where this peer is in its life.
#[derive(Debug)]
enum Phase {
    /// Created; `start` not called yet.
    Idle,
    /// Trying seeds one after the other (`seeds` holds the ones left, the
    /// next last).
    Joining { seeds: Vec<Address> },
    /// A member of a cloud (maybe a cloud of one).
    Running,
    /// Saying goodbye; closed when every goodbye is answered or at `deadline`.
    Leaving { deadline: Instant },
    /// Done; every input is ignored.
    Closed,
}

/// What an outstanding call was for.
#[derive(Debug)]
enum Pending {
    /// Our `/join` to a seed.
    JoinAttempt { seed: Address },
    /// A joiner's `/status` check; the joiner waits for `token`'s reply.
    JoinCheck {
        token: ReplyToken,
        candidate: Member,
        /// Whether the joiner's id was made here (it came without one).
        made_id: bool,
    },
    /// A failure-detection probe.
    Probe { target: PeerId },
    /// A `/joined` or `/left` notice; its result is only logged.
    Notice,
    /// A `/left` goodbye sent while leaving.
    Goodbye,
    /// Our `/join` to a seed while running without members.
    Rejoin { seed: Address },
    /// Our `/peers` to a member whose digest differs from ours.
    Sync,
    /// The `/status` check of a member learned of by a sync.
    SyncCheck { candidate: Member },
}

/// The most `/joined` and `/left` notices kept while joining.
const MAX_EARLY_NOTICES: usize = 1024;

/// The membership of one peer. See the module documentation.
///
/// ```
/// use std::time::Instant;
/// use peercloud_core::{Action, Config, Event, Identity, Membership, PeerId, Start};
/// use serde_json::json;
///
/// let me = Identity {
///     id: PeerId::parse("a").unwrap(),
///     port: 9338,
///     advertise: None,
///     data: json!({"name": "a"}),
/// };
/// let mut core = Membership::new(me, Config::default(), 7);
/// let now = Instant::now();
/// core.start(now, vec!["127.0.0.1:9339".parse().unwrap()]);
/// // The core asks for a /join call to the seed...
/// let Some(Action::Call { call, request, .. }) = core.poll_action() else { panic!() };
/// assert_eq!(request.path(), "/join");
/// // ...and, when that call fails, starts a cloud of its own.
/// core.handle_response(now, call, Err(peercloud_core::CallError::Timeout));
/// assert_eq!(core.poll_event(), Some(Event::Started(Start::Alone)));
/// ```
#[derive(Debug)]
pub struct Membership {
    me: Identity,
    config: Config,
    phase: Phase,
    members: BTreeMap<PeerId, Member>,
    pending: BTreeMap<CallId, Pending>,
    next_call: u64,
    rng: ChaCha8Rng,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    prober: Prober,
    /// Trying the seeds again while the peer has no member.
    rejoiner: Rejoiner,
    /// Pulling member lists that differ from ours.
    syncer: Syncer,
    /// Notices received while joining, from senders not known yet.
    early: Vec<(PeerId, Request)>,
    /// Bumped on every change of `members` or of `me.id`.
    version: u64,
}

impl Membership {
    /// A peer that is not started yet. `rng_seed` seeds every random choice
    /// (seed order, probe order, ids made for joiners), so runs replay.
    pub fn new(me: Identity, config: Config, rng_seed: u64) -> Self {
        Membership {
            me,
            config,
            phase: Phase::Idle,
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            next_call: 0,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            prober: Prober::default(),
            rejoiner: Rejoiner::default(),
            syncer: Syncer::default(),
            early: Vec::new(),
            version: 0,
        }
    }

    /// This peer's id.
    pub fn id(&self) -> &PeerId {
        &self.me.id
    }

    /// This peer's identity.
    pub fn identity(&self) -> &Identity {
        &self.me
    }

    /// The other members, ordered by id.
    pub fn members(&self) -> impl ExactSizeIterator<Item = &Member> {
        self.members.values()
    }

    /// One member by id.
    pub fn member(&self, id: &PeerId) -> Option<&Member> {
        self.members.get(id)
    }

    /// A number that changes whenever the member list or this peer's id
    /// changes, so a driver knows when to publish a new snapshot.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether the peer has finished leaving (or never started and left).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// What `/status` answers.
    pub fn status(&self) -> StatusReply {
        StatusReply {
            id: Some(self.me.id.clone()),
            online: !matches!(self.phase, Phase::Leaving { .. } | Phase::Closed),
            listening: true,
            joined: !self.members.is_empty(),
            digest: Some(self.digest()),
        }
    }

    /// What `/peers` answers: this peer and every member it knows.
    pub fn peers_reply(&self) -> PeersReply {
        PeersReply::of(&self.me.id, &self.me.data, self.members.values())
    }

    /// Handles a membership request from another peer. Its reply comes out
    /// of `poll_action` as [`Action::Reply`] with the same `token`, at once
    /// or (for `/join`, which checks the joiner first) after a call.
    pub fn handle_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        request: Request,
    ) {
        match request {
            Request::Join(join) => self.on_join_request(now, token, origin, join),
            Request::Joined(info) => self.on_joined_request(token, origin, info),
            Request::Left(left) => self.on_left_request(token, origin, left),
            Request::Status => self.reply(token, Ok(Response::Status(self.status()))),
            Request::Peers => self.reply(token, Ok(Response::Peers(self.peers_reply()))),
        }
    }

    /// Hands back the result of a call made for an [`Action::Call`].
    /// Results of unknown or forgotten calls are ignored.
    pub fn handle_response(&mut self, now: Instant, call: CallId, result: CallResult) {
        let Some(pending) = self.pending.remove(&call) else {
            return;
        };
        match pending {
            Pending::JoinAttempt { seed } => self.on_join_reply(now, seed, result),
            Pending::JoinCheck {
                token,
                candidate,
                made_id,
            } => self.on_join_check(token, candidate, made_id, result),
            Pending::Probe { target } => self.on_probe_reply(now, target, result),
            Pending::Notice => {}
            Pending::Goodbye => self.on_goodbye_answered(),
            Pending::Rejoin { seed } => self.on_rejoin_reply(now, seed, result),
            Pending::Sync => self.on_sync_reply(result),
            Pending::SyncCheck { candidate } => self.on_sync_check(candidate, result),
        }
    }

    /// Runs whatever is due at `now`: probes, attempts to rejoin, and the
    /// end of a leave.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.phase {
            Phase::Running => {
                self.on_rejoin_tick(now);
                self.on_probe_tick(now);
            }
            Phase::Leaving { deadline } if now >= deadline => self.finish_leaving(),
            _ => {}
        }
    }

    /// The next action for the driver, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When `handle_timeout` must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Running => match (self.prober.next_tick(), self.rejoiner.next_attempt()) {
                (Some(tick), Some(attempt)) => Some(tick.min(attempt)),
                (tick, attempt) => tick.or(attempt),
            },
            Phase::Leaving { deadline } => Some(deadline),
            _ => None,
        }
    }

    /// Queues a call and remembers what it was for.
    fn call(&mut self, to: Address, request: Request, timeout: Duration, pending: Pending) {
        let call = CallId(self.next_call);
        self.next_call += 1;
        self.pending.insert(call, pending);
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

    fn emit(&mut self, event: Event) {
        self.events.push_back(event);
    }

    /// Adds or updates a member; returns whether it was new.
    fn insert_member(&mut self, member: Member) -> bool {
        if member.id == self.me.id {
            return false;
        }
        self.version += 1;
        match self.members.insert(member.id.clone(), member.clone()) {
            Some(_) => false,
            None => {
                self.prober.enqueue(member.id.clone());
                self.emit(Event::PeerJoined(member));
                true
            }
        }
    }

    fn remove_member(&mut self, id: &PeerId) -> Option<Member> {
        let member = self.members.remove(id)?;
        self.version += 1;
        self.prober.forget(id);
        Some(member)
    }

    fn random_id(&mut self) -> PeerId {
        PeerId::from_random_bytes(self.rng.random())
    }

    /// Who may send notices: a member, or, while joining, anyone (kept
    /// until the join tells whether the sender is a member).
    fn check_sender(&self, origin: &Origin) -> Result<PeerId, Refusal> {
        let sender = origin.sender.clone().ok_or(Refusal::MissingSender)?;
        if self.members.contains_key(&sender) || matches!(self.phase, Phase::Joining { .. }) {
            Ok(sender)
        } else {
            Err(Refusal::UnknownSender(sender.to_string()))
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
