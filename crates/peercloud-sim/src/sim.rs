//! The simulation: peers, the heap of what happens next (deliveries,
//! wake-ups, the ends of stalls) ordered by virtual time, the faults in
//! force, and what the network carried. How a message travels is in
//! `deliver.rs`; what can be asked of a simulation without running it, in
//! `view.rs`.

use std::cmp::Ordering;
use std::collections::{BTreeSet, BinaryHeap};
use std::time::{Duration, Instant};

use peercloud_core::{Action, Address, Config, Identity, Membership, PeerId, Request};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use crate::bytes::ByteCount;
use crate::cpu::{Cpu, Work};
use crate::deliver::{address_of, Delivery};
use crate::log::DEFAULT_KEEP;
use crate::net::NetConfig;
use crate::node::{Caller, Handling, Health, Message, Node};
use crate::original::Original;
use crate::protocol::Protocol;

/// A peer of the simulation, by the order it was added.
pub type PeerIndex = usize;

/// What the network carried since the last [`Sim::reset_stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests sent (delivered or not).
    pub requests: u64,
    /// Bytes of request and reply bodies (headers not counted).
    pub bytes: u64,
    /// Messages the network lost.
    pub lost: u64,
    /// Processor time spent on messages and timers, when the peers share
    /// processors ([`Sim::share_processors`]).
    pub processor_time: Duration,
}

/// Something due at a virtual time.
#[derive(Debug)]
pub(crate) enum Happening {
    /// Boxed: messages are large beside the other happenings, and the
    /// heap moves its entries.
    Deliver(Box<Message>),
    /// A message the shared processors have read: its peer's core takes
    /// it now (see `cpu.rs`).
    Read(Box<Handling>),
    /// The peer's core asked to be woken up now.
    Wake(usize),
    /// The peer's timer runs now, late by the wait for a processor (see
    /// `cpu.rs`).
    Woken(usize),
    /// The peer's stall ends.
    Resume(usize),
}

/// A happening in the heap: the earliest first, ties in the order they
/// were scheduled (so that a run replays).
#[derive(Debug)]
struct Scheduled {
    at: Duration,
    seq: u64,
    happening: Happening,
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: `BinaryHeap` pops its greatest entry.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

/// A simulated cloud whose peers follow the rules of `P`: the real core
/// by default, or [`Original`], the model of the original. See the crate
/// documentation.
#[derive(Debug)]
pub struct Sim<P: Protocol = Membership> {
    seed: u64,
    /// The instant virtual time counts from (the cores take instants).
    base: Instant,
    pub(crate) now: Duration,
    pub(crate) net: NetConfig,
    config: P::Config,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) nodes: Vec<Node<P>>,
    queue: BinaryHeap<Scheduled>,
    next_seq: u64,
    pub(crate) next_token: u64,
    /// How many events each peer keeps (see [`Sim::keep_events`]).
    keep: usize,
    /// Single broken links, as (lower, higher) peers.
    pub(crate) cut: BTreeSet<(usize, usize)>,
    /// Each peer's side of a partition (all 0 when there is none).
    pub(crate) sides: Vec<u32>,
    pub(crate) stats: Stats,
    /// How messages travel (see [`Sim::set_delivery`]).
    pub(crate) delivery: Delivery,
    /// Counts typed messages' bytes (see [`Delivery::Typed`]).
    pub(crate) byte_count: ByteCount,
    /// The processors the peers share, if they do.
    pub(crate) cpu: Option<Cpu>,
}

impl Sim<Membership> {
    /// An empty simulation over `net`, every random choice drawn from `seed`.
    /// Peers get the default (LAN) membership config.
    pub fn new(seed: u64, net: NetConfig) -> Self {
        Sim::with_config(seed, net, Config::default())
    }

    /// Like [`Sim::new`], with this membership config for every peer.
    pub fn with_config(seed: u64, net: NetConfig, config: Config) -> Self {
        Sim::with_protocol(seed, net, config)
    }

    /// Gives peer `n` new data.
    pub fn set_data(&mut self, n: PeerIndex, data: serde_json::Value) {
        let now = self.instant();
        self.nodes[n].core.set_data(now, data);
        self.collect(n);
    }
}

impl Sim<Original> {
    /// Like [`Sim::new`], every peer following the original's rules (see
    /// [`Original`]).
    pub fn original(seed: u64, net: NetConfig) -> Self {
        Sim::with_protocol(seed, net, Default::default())
    }
}

impl<P: Protocol> Sim<P> {
    /// An empty simulation over `net` whose peers follow `P` with
    /// `config`, every random choice drawn from `seed`.
    pub fn with_protocol(seed: u64, net: NetConfig, config: P::Config) -> Self {
        #[allow(clippy::disallowed_methods)]
        let base = Instant::now();
        Sim {
            seed,
            base,
            now: Duration::ZERO,
            net,
            config,
            rng: ChaCha8Rng::seed_from_u64(seed),
            nodes: Vec::new(),
            queue: BinaryHeap::new(),
            next_seq: 0,
            next_token: 0,
            keep: DEFAULT_KEEP,
            cut: BTreeSet::new(),
            sides: Vec::new(),
            stats: Stats::default(),
            delivery: Delivery::Wire,
            byte_count: ByteCount::default(),
            cpu: None,
        }
    }

    /// The seed this run replays from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Each peer keeps its last `keep` events (at least one) from now on,
    /// and counts all of them ([`crate::EventLog`]); [`DEFAULT_KEEP`]
    /// unless told otherwise. A large run that only counts keeps few.
    pub fn keep_events(&mut self, keep: usize) {
        self.keep = keep.max(1);
        for node in &mut self.nodes {
            node.log.set_keep(self.keep);
        }
    }

    /// Adds a peer (not started yet) at its own address.
    pub fn add_peer(&mut self) -> PeerIndex {
        let n = self.nodes.len();
        let core = self.fresh_core(n);
        self.nodes.push(Node::new(core, address_of(n), self.keep));
        self.sides.push(0);
        n
    }

    fn fresh_core(&mut self, n: usize) -> P {
        let identity = Identity {
            id: PeerId::from_random_bytes(self.rng.random()),
            port: address_of(n).port,
            advertise: Some(address_of(n).host),
            data: json!({ "peer": n }),
        };
        P::create(identity, &self.config, self.rng.random())
    }

    /// Starts peer `n`, joining through `seeds` (none: a cloud of its own).
    pub fn start(&mut self, n: PeerIndex, seeds: &[PeerIndex]) {
        let addresses = seeds.iter().map(|&s| address_of(s)).collect();
        self.start_at(n, addresses);
    }

    /// Starts peer `n` with seeds given as addresses (where nobody may
    /// listen).
    pub fn start_at(&mut self, n: PeerIndex, seeds: Vec<Address>) {
        let now = self.instant();
        self.nodes[n].started = true;
        self.nodes[n].core.start(now, seeds);
        self.collect(n);
    }

    /// The usual large start: `seeds` peers form a cloud (the first alone,
    /// the others through it, given a second), then peers join until there
    /// are `size`, all at once, each through one of the seeds in turn.
    /// Returns the seeds; run the simulation to let the joins happen.
    pub fn join_through_seeds(&mut self, size: usize, seeds: usize) -> Vec<PeerIndex> {
        let seeds: Vec<PeerIndex> = (0..seeds.max(1)).map(|_| self.add_peer()).collect();
        self.start(seeds[0], &[]);
        for &s in &seeds[1..] {
            self.start(s, &seeds[..1]);
        }
        self.run_for(Duration::from_secs(1));
        for i in seeds.len()..size {
            let p = self.add_peer();
            self.start(p, &[seeds[i % seeds.len()]]);
        }
        seeds
    }

    /// Kills peer `n`: its address refuses connections from now on, and
    /// the requests it was answering are never answered.
    pub fn crash(&mut self, n: PeerIndex) {
        let node = &mut self.nodes[n];
        node.health = Health::Crashed;
        node.held.clear();
        node.waiting.clear();
    }

    /// Runs a new process for peer `n` at its address, under a new id, and
    /// starts it with `seeds`.
    pub fn restart(&mut self, n: PeerIndex, seeds: &[PeerIndex]) {
        let core = self.fresh_core(n);
        let node = &mut self.nodes[n];
        node.core = core;
        node.health = Health::Up;
        node.held.clear();
        node.waiting.clear();
        node.wake = None;
        node.timers_queued = false;
        node.started = false;
        node.process += 1;
        self.start(n, seeds);
    }

    /// Pauses peer `n` for `span` from now.
    pub fn stall(&mut self, n: PeerIndex, span: Duration) {
        if self.nodes[n].health == Health::Up {
            self.nodes[n].health = Health::Stalled;
            let at = self.now + span;
            self.schedule(at, Happening::Resume(n));
        }
    }

    /// Peer `n` leaves the cloud properly.
    pub fn leave(&mut self, n: PeerIndex) {
        let now = self.instant();
        self.nodes[n].core.leave(now);
        self.collect(n);
    }

    /// Sends `request` from peer `from` to peer `to` as `from`'s driver
    /// would send a call (with its id, over the same network and faults),
    /// though `from`'s core made no such call: its result is dropped. For
    /// news that a core would not send by itself now (a false accusation,
    /// late gossip).
    pub fn inject(&mut self, from: PeerIndex, to: PeerIndex, request: Request) {
        let sender = self.id(from).clone();
        self.inject_as(from, sender, to, request);
    }

    /// Like [`Sim::inject`], with any id in its `x-peercloud-id`: a
    /// stranger at `from`'s address forging a member's word.
    pub fn inject_as(&mut self, from: PeerIndex, sender: PeerId, to: PeerIndex, request: Request) {
        self.stats.requests += 1;
        let caller = Caller {
            process: self.nodes[from].process,
            call: None,
        };
        let message = Message::Request {
            from,
            caller,
            sender,
            to: address_of(to),
            request,
        };
        self.send(message);
    }

    /// Splits the peers: each group is a side, the peers in no group
    /// another; messages between sides are lost.
    pub fn partition(&mut self, groups: &[&[PeerIndex]]) {
        self.sides.iter_mut().for_each(|side| *side = 0);
        for (g, group) in groups.iter().enumerate() {
            for &n in *group {
                self.sides[n] = g as u32 + 1;
            }
        }
    }

    /// Breaks the link between `a` and `b` only.
    pub fn cut(&mut self, a: PeerIndex, b: PeerIndex) {
        self.cut.insert((a.min(b), a.max(b)));
    }

    /// Ends every partition and repairs every broken link.
    pub fn heal(&mut self) {
        self.cut.clear();
        self.sides.iter_mut().for_each(|side| *side = 0);
    }

    /// Runs everything due in the next `span` of virtual time.
    pub fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        while self.queue.peek().is_some_and(|next| next.at <= end) {
            let Some(Scheduled { at, happening, .. }) = self.queue.pop() else {
                break;
            };
            self.now = at;
            self.happen(happening);
        }
        self.now = end;
    }

    /// Runs until `done` holds (looked at every `step`), at most `limit`;
    /// returns how long it took, or `None`.
    pub fn run_until(
        &mut self,
        limit: Duration,
        step: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        let start = self.now;
        while self.now - start <= limit {
            if done(self) {
                return Some(self.now - start);
            }
            self.run_for(step);
        }
        None
    }

    /// What the network carried since the last reset.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Starts counting afresh.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// How many happenings wait in the queue (messages on their way,
    /// wake-ups, ends of stalls): the simulator's own load.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn instant(&self) -> Instant {
        self.base + self.now
    }

    pub(crate) fn schedule(&mut self, at: Duration, happening: Happening) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.queue.push(Scheduled { at, seq, happening });
    }

    fn happen(&mut self, happening: Happening) {
        match happening {
            Happening::Deliver(message) => self.deliver(*message),
            Happening::Read(handling) => self.handle(*handling),
            Happening::Wake(n) => self.wake(n),
            Happening::Woken(n) => self.run_timers(n),
            Happening::Resume(n) => self.resume(n),
        }
    }

    fn wake(&mut self, n: usize) {
        let now = self.instant();
        let node = &mut self.nodes[n];
        if node.wake != Some(self.now) || node.health != Health::Up {
            return;
        }
        node.wake = None;
        match self.done_at(Work::Timer) {
            Some(at) => {
                self.nodes[n].timers_queued = true;
                self.schedule(at, Happening::Woken(n));
            }
            None => {
                self.nodes[n].core.handle_timeout(now);
                self.collect(n);
            }
        }
    }

    /// Peer `n`'s timers, run after a wait for a processor.
    fn run_timers(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        if !node.timers_queued || node.health != Health::Up {
            return;
        }
        node.timers_queued = false;
        let now = self.instant();
        self.nodes[n].core.handle_timeout(now);
        self.collect(n);
    }

    fn resume(&mut self, n: usize) {
        let node = &mut self.nodes[n];
        if node.health != Health::Stalled {
            return;
        }
        node.health = Health::Up;
        node.wake = None;
        node.timers_queued = false;
        let held = std::mem::take(&mut node.held);
        for message in held {
            self.deliver(message);
        }
        self.collect(n);
    }

    /// Takes peer `n`'s actions into the network, its events into its log,
    /// and (re)schedules its wake-up.
    pub(crate) fn collect(&mut self, n: usize) {
        while let Some(action) = self.nodes[n].core.poll_action() {
            match action {
                Action::Call {
                    call, to, request, ..
                } => {
                    self.stats.requests += 1;
                    let caller = Caller {
                        process: self.nodes[n].process,
                        call: Some(call),
                    };
                    let sender = self.nodes[n].core.id().clone();
                    let message = Message::Request {
                        from: n,
                        caller,
                        sender,
                        to,
                        request,
                    };
                    self.send(message);
                }
                Action::Reply { token, reply } => {
                    let Some(waiting) = self.nodes[n].waiting.remove(&token) else {
                        continue;
                    };
                    let (result, bytes) = self.reply_over_the_wire(waiting.path, reply);
                    self.answer(waiting.from, waiting.caller, result, bytes);
                }
            }
        }
        let now = self.now;
        let node = &mut self.nodes[n];
        while let Some(event) = node.core.poll_event() {
            node.log.push(now, event);
        }
        let due = node
            .core
            .poll_timeout()
            .map(|at| at.saturating_duration_since(self.base).max(now));
        if due.is_some() && due != node.wake && !node.timers_queued {
            node.wake = due;
            if let Some(at) = due {
                self.schedule(at, Happening::Wake(n));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use peercloud_core::wire::LeftRequest;
    use peercloud_core::LeftReason;

    use super::*;

    #[test]
    fn an_injected_request_is_served_as_if_its_sender_had_sent_it() {
        let mut sim = Sim::new(1, NetConfig::lan());
        let (a, b) = (sim.add_peer(), sim.add_peer());
        sim.start(a, &[]);
        sim.start(b, &[a]);
        sim.run_for(Duration::from_millis(300));
        assert!(sim.lists(a, b));
        // b's goodbye, though its core is not leaving (and gets no reply).
        let b_id = sim.id(b).clone();
        sim.inject(b, a, Request::Left(LeftRequest::new(b_id.clone())));
        sim.run_for(Duration::from_millis(10));
        assert_eq!(sim.left_reasons(a, &b_id), [LeftReason::Left]);
        assert!(!sim.core(b).is_closed());
    }
}
