//! The membership state machine: who is in the cloud, kept up to date by
//! joins, notices, SWIM probes with suspicion and refutation, gossip,
//! anti-entropy, reconnects and leaves.
//!
//! It does no I/O and reads no clock: inputs come in through `start`,
//! `handle_request`, `handle_response`, `handle_timeout`, `set_data` and
//! `leave`, each with `now`; what to do comes out of `poll_action`, what
//! happened out of `poll_event`, and when to call `handle_timeout` next out
//! of `poll_timeout`. Each concern lives in its own file below this one.

mod admission;
mod calls;
mod counters;
mod gossip;
mod health;
mod join;
mod leave;
mod members;
mod notice;
mod probe;
mod reconnect;
mod rounds;
mod suspicion;
mod sync;
mod table;
mod timers;
mod update;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::config::Config;
use crate::error::{CallError, Refusal};
use crate::id::PeerId;
use crate::io::{Action, CallId, CallResult, Event, Origin, ReplyToken, Request, Response};
use crate::member::{Address, Host, Member};
use crate::wire::{PeerInfo, PeersReply, PeersRequest, StatusReply};

use self::admission::JoinRate;
use self::calls::{Calls, Outstanding};
use self::gossip::Gossip;
use self::health::Health;
use self::members::Members;
use self::probe::Prober;
use self::reconnect::Reconnector;
use self::sync::Syncer;
use self::table::{Candidate, Entry, Tombstone};
use self::timers::{Timer, Timers};
use self::update::Reintroducer;

pub use self::counters::{Counters, Evictions};
pub use self::table::MemberState;

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
    /// Saying goodbye; closed when every goodbye is answered or the leave
    /// timer fires.
    Leaving,
    /// Done; every input is ignored.
    Closed,
}

/// What an outstanding call was for. Each kind's result goes to its own
/// `on_*` function.
#[derive(Debug)]
enum Pending {
    /// Our `/join` to a seed.
    JoinAttempt { seed: Address },
    /// A joiner's `/status` check; the joiner waits for `token`'s reply.
    JoinCheck {
        token: ReplyToken,
        candidate: Candidate,
        /// Whether the joiner's id was made here (it came without one).
        made_id: bool,
    },
    /// A direct failure-detection probe. `voided` when this peer stalled
    /// while it was under way: its failure says nothing about the target.
    Probe { target: PeerId, voided: bool },
    /// Our `/probe` asking `helper` to probe `target` for us.
    IndirectProbe { target: PeerId, helper: PeerId },
    /// The `/status` call made for another peer's `/probe`, answered on
    /// `token`.
    Relay {
        token: ReplyToken,
        target: PeerId,
        asker: PeerId,
    },
    /// A check of `target` after `accuser` (by a `/left`) said it is gone.
    Verify { target: PeerId, accuser: PeerId },
    /// A `/joined` or `/left` notice; its result is only logged.
    Notice,
    /// A gossip push to `to`; the reply's gossip is merged.
    Push { to: PeerId },
    /// A push of a gossip round to `to`, merged like [`Pending::Push`];
    /// it holds `place` in the window of round pushes until it ends.
    Round { to: PeerId, place: rounds::Place },
    /// A `/left` goodbye sent while leaving.
    Goodbye,
    /// Our `/join` to a seed while running (alone, or to merge clouds).
    Rejoin { seed: Address },
    /// A `/status` to a member declared failed, to see if it is back.
    Reprobe { target: PeerId },
    /// The last probe of a suspected member whose suspicion ran out here,
    /// before it is declared failed.
    FinalCheck { target: PeerId },
    /// Our `/peers` to a member whose digest differs from ours.
    Sync,
    /// The `/status` check of a member learned of second hand.
    SyncCheck { candidate: Candidate },
    /// One of the `/left` that take this peer out of original peers' lists
    /// before it joins them again with new data.
    ReintroLeft,
    /// The `/join` that puts this peer back into original peers' lists.
    ReintroJoin,
    /// A probe or check of a member that was removed while it was under
    /// way: its result says nothing of a member of that id added again
    /// meanwhile, and is ignored.
    Forgotten,
}

impl Pending {
    /// The member the call probes or checks (directly, through a helper,
    /// or after an accusation), if it does.
    fn probed(&self) -> Option<&PeerId> {
        match self {
            Pending::Probe { target, .. }
            | Pending::IndirectProbe { target, .. }
            | Pending::Verify { target, .. }
            | Pending::FinalCheck { target } => Some(target),
            _ => None,
        }
    }
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
/// // ...and, when that call fails, says so and starts a cloud of its own.
/// core.handle_response(now, call, Err(peercloud_core::CallError::Timeout));
/// assert!(matches!(core.poll_event(), Some(Event::SeedFailed { .. })));
/// assert_eq!(core.poll_event(), Some(Event::Started(Start::Alone)));
/// ```
#[derive(Debug)]
pub struct Membership {
    me: Identity,
    /// `me.data`, shared by every update about this peer: each probe and
    /// gossip message carries one, which copied the whole value (an
    /// allocation per string, array and object in it) for every message.
    my_data: std::sync::Arc<Value>,
    /// This peer's incarnation: only it raises it, to refute a suspicion
    /// or to announce new data.
    incarnation: u64,
    config: Config,
    phase: Phase,
    members: Members,
    /// Members that left or failed, remembered for a while.
    tombstones: BTreeMap<PeerId, Tombstone>,
    pending: Calls,
    timers: Timers,
    next_call: u64,
    rng: ChaCha8Rng,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    prober: Prober,
    /// Seeds and failed members tried again.
    reconnector: Reconnector,
    /// Pulling member lists that differ from ours.
    syncer: Syncer,
    gossip: Gossip,
    health: Health,
    reintro: Reintroducer,
    /// Ids under a `/status` check (joiners and members learned second
    /// hand), so that one id is never checked twice at once.
    checking: BTreeSet<PeerId>,
    /// Notices received while joining, from senders not known yet.
    early: Vec<(PeerId, Request)>,
    /// Goodbyes not answered yet, while leaving.
    goodbyes: usize,
    /// The `/join` requests taken from each source address, for
    /// [`Config::max_joins_per_ip_per_minute`].
    join_rate: JoinRate,
    /// Bumped on every change of `members`, of `me` or of the incarnation.
    version: u64,
    /// What it has done so far, for metrics.
    counters: Counters,
}

impl Membership {
    /// A peer that is not started yet. `rng_seed` seeds every random choice
    /// (seed order, probe order, helpers, jitter, ids made for joiners), so
    /// runs replay. `config` should have passed [`Config::validate`].
    pub fn new(me: Identity, config: Config, rng_seed: u64) -> Self {
        Membership {
            my_data: std::sync::Arc::new(me.data.clone()),
            me,
            incarnation: 0,
            config,
            phase: Phase::Idle,
            members: Members::default(),
            tombstones: BTreeMap::new(),
            pending: Calls::default(),
            timers: Timers::default(),
            next_call: 0,
            rng: ChaCha8Rng::seed_from_u64(rng_seed),
            actions: VecDeque::new(),
            events: VecDeque::new(),
            prober: Prober::default(),
            reconnector: Reconnector::default(),
            syncer: Syncer::default(),
            gossip: Gossip::default(),
            health: Health::default(),
            reintro: Reintroducer::default(),
            checking: BTreeSet::new(),
            early: Vec::new(),
            goodbyes: 0,
            join_rate: JoinRate::default(),
            version: 0,
            counters: Counters::default(),
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

    /// This peer's incarnation.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The other members, ordered by id. Suspected members are members.
    pub fn members(&self) -> impl ExactSizeIterator<Item = &Member> {
        self.members.values().map(|e| &*e.member)
    }

    /// The other members, ordered by id, each with its state and, for a
    /// peercloud peer, its incarnation (original peers have none): what a
    /// published view of the members needs, in one pass.
    pub fn member_records(
        &self,
    ) -> impl ExactSizeIterator<Item = (&Arc<Member>, MemberState, Option<u64>)> {
        self.members
            .values()
            .map(|e| (&e.member, e.state(), e.wire_incarnation()))
    }

    /// One member by id.
    pub fn member(&self, id: &PeerId) -> Option<&Member> {
        self.members.get(id).map(|e| &*e.member)
    }

    /// This peer's local health (Lifeguard): 0 when healthy, higher while
    /// it finds itself slow; probe intervals and timeouts are stretched by
    /// `1 + health`.
    pub fn health(&self) -> u32 {
        self.health.score()
    }

    /// Whether a member is alive or suspected; `None` for a non-member.
    pub fn member_state(&self, id: &PeerId) -> Option<MemberState> {
        self.members.get(id).map(Entry::state)
    }

    /// A number that changes whenever the member list, a member's state,
    /// this peer's id, data or incarnation changes, so a driver knows when
    /// to publish a new snapshot.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether the peer has finished leaving (or never started and left).
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// What `/status` answers to a request without gossip.
    pub fn status(&self) -> StatusReply {
        StatusReply {
            id: Some(self.me.id.clone()),
            online: !matches!(self.phase, Phase::Leaving | Phase::Closed),
            listening: true,
            joined: !self.members.is_empty(),
            digest: Some(self.digest()),
            incarnation: Some(self.incarnation),
            gossip: Default::default(),
        }
    }

    /// What `/peers` answers: this peer and every member it knows, or
    /// those the asker does not hold when it said what it holds.
    pub fn peers_reply(&self, request: &PeersRequest) -> PeersReply {
        let members = self
            .members
            .values()
            .map(|e| (&*e.member, e.wire_incarnation(), e.record_hash()));
        let (id, data) = (&self.me.id, &self.me.data);
        PeersReply::answer(id, self.incarnation, data, members, request)
    }

    /// The members as the wire describes them, with incarnations for
    /// peercloud peers.
    fn peer_infos(&self) -> Vec<PeerInfo> {
        self.members.values().map(Entry::info).collect()
    }

    /// Handles a membership request from another peer. Its reply comes out
    /// of `poll_action` as [`Action::Reply`] with the same `token`, at once
    /// or (for `/join` and `/probe`, which call another peer first) later.
    pub fn handle_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        request: Request,
    ) {
        self.observe(now);
        if let Some(sender) = &origin.sender {
            self.note_caller(sender, origin.remote);
        }
        match request {
            Request::Join(join) => self.on_join_request(now, token, origin, join),
            Request::Joined(info) => self.on_joined_request(now, token, origin, info),
            Request::Left(left) => self.on_left_request(now, token, origin, left),
            Request::Status(envelope) => self.on_status_request(now, token, origin, envelope),
            Request::Peers(peers) => {
                let reply = self.peers_reply(&peers);
                self.reply(token, Ok(Response::Peers(reply)));
            }
            Request::Probe(probe) => self.on_probe_request(now, token, origin, probe),
            Request::Gossip(envelope) => self.on_gossip_request(now, token, origin, envelope),
        }
    }

    /// Hands back the result of a call made for an [`Action::Call`].
    /// Results of unknown, timed-out or forgotten calls are ignored.
    pub fn handle_response(&mut self, now: Instant, call: CallId, result: CallResult) {
        self.observe(now);
        let Some(outstanding) = self.pending.remove(call) else {
            return;
        };
        self.timers.cancel(outstanding.deadline);
        self.on_result(now, outstanding.what, result);
    }

    /// Sends each call's result to the function for its kind.
    fn on_result(&mut self, now: Instant, what: Pending, result: CallResult) {
        match what {
            Pending::JoinAttempt { seed } => self.on_join_reply(now, seed, result),
            Pending::JoinCheck {
                token,
                candidate,
                made_id,
            } => self.on_join_check(now, token, candidate, made_id, result),
            Pending::Probe { target, voided } => self.on_probe_reply(now, target, voided, result),
            Pending::IndirectProbe { target, helper } => {
                self.on_indirect_reply(now, target, helper, result)
            }
            Pending::Relay {
                token,
                target,
                asker,
            } => self.on_relay_reply(now, token, target, asker, result),
            Pending::Verify { target, accuser } => {
                self.on_verify_reply(now, target, accuser, result)
            }
            Pending::Notice | Pending::Forgotten => {}
            Pending::Push { to } => self.on_push_reply(now, to, result),
            Pending::Round { to, place } => self.on_round_reply(now, to, place, result),
            Pending::Goodbye => self.on_goodbye_answered(),
            Pending::Rejoin { seed } => self.on_rejoin_reply(now, seed, result),
            Pending::Reprobe { target } => self.on_reprobe_reply(now, target, result),
            Pending::FinalCheck { target } => self.on_final_check(now, target, result),
            Pending::Sync => self.on_sync_reply(now, result),
            Pending::SyncCheck { candidate } => self.on_sync_check(now, candidate, result),
            Pending::ReintroLeft => self.on_reintro_left(now),
            Pending::ReintroJoin => self.on_reintro_join(now, result),
        }
    }

    /// Runs whatever is due at `now`: probes, suspicions that ran out,
    /// calls that got no answer in time, reconnects, the end of a leave.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.observe(now);
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::ProbeTick => self.on_probe_tick(now),
                Timer::GossipTick => self.on_gossip_tick(now),
                Timer::Reconnect => self.on_reconnect_tick(now),
                Timer::Suspicion(id) => self.on_suspicion_timeout(now, &id),
                Timer::Call(call) => {
                    if let Some(outstanding) = self.pending.remove(call) {
                        self.on_result(now, outstanding.what, Err(CallError::Timeout));
                    }
                }
                Timer::Leave => {
                    if matches!(self.phase, Phase::Leaving) {
                        self.finish_leaving();
                    }
                }
                Timer::Reintroduce => self.on_reintroduce_timer(now),
            }
        }
    }

    /// The next action for the driver, if any.
    pub fn poll_action(&mut self) -> Option<Action> {
        pop_and_shrink(&mut self.actions)
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        pop_and_shrink(&mut self.events)
    }

    /// When `handle_timeout` must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Closed) {
            return None;
        }
        self.timers.next()
    }

    /// Notices that this peer is behind (a pause, a stalled VM, a starved
    /// process): a timer that should have fired a while ago. See
    /// [`Membership::notice_lateness`].
    fn observe(&mut self, now: Instant) {
        if let Some(due) = self.timers.next() {
            self.notice_lateness(now, due);
        }
    }

    /// Queues a call, remembers what it was for, and sets its deadline:
    /// every call gets exactly one result, its own or a timeout.
    fn call(
        &mut self,
        now: Instant,
        to: Address,
        request: Request,
        timeout: Duration,
        what: Pending,
    ) {
        let call = CallId(self.next_call);
        self.next_call += 1;
        let deadline = self.timers.schedule(now + timeout, Timer::Call(call));
        self.pending.insert(call, Outstanding { what, deadline });
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
        self.counters.count(&event);
        self.events.push_back(event);
    }

    fn random_id(&mut self) -> PeerId {
        PeerId::from_random_bytes(self.rng.random())
    }

    /// `base` give or take a quarter, so that peers started together do
    /// not act in step.
    fn jittered(&mut self, base: Duration) -> Duration {
        let factor = self.rng.random_range(0.75..1.25);
        base.mul_f64(factor)
    }

    fn is_running(&self) -> bool {
        matches!(self.phase, Phase::Running)
    }

    fn is_leaving(&self) -> bool {
        matches!(self.phase, Phase::Leaving | Phase::Closed)
    }

    /// Who may send notices: a member, or, while joining, anyone (kept
    /// until the join tells whether the sender is a member).
    fn check_sender(&self, origin: &Origin) -> Result<PeerId, Refusal> {
        let sender = origin.sender.clone().ok_or(Refusal::MissingSender)?;
        if self.members.contains_key(&sender) || matches!(self.phase, Phase::Joining { .. }) {
            Ok(sender)
        } else {
            Err(Refusal::UnknownSender(sender))
        }
    }
}

/// The room a drained queue of actions or events keeps.
const KEPT_QUEUE_ROOM: usize = 64;

/// Pops the front of `queue`; once it is empty, gives back the room past
/// [`KEPT_QUEUE_ROOM`]. Joining a cloud of thousands queues an event per
/// member at once, and a queue keeps the room of its longest burst: at
/// thousands of peers in the simulator, that room was the largest thing a
/// peer held after its member table.
fn pop_and_shrink<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let next = queue.pop_front();
    if next.is_none() && queue.capacity() > KEPT_QUEUE_ROOM {
        queue.shrink_to(KEPT_QUEUE_ROOM);
    }
    next
}

#[cfg(test)]
pub(crate) mod tests;
