//! Multi-peer scenarios over a tiny in-memory network: every call goes to
//! the target core's `handle_request` and its reply comes back through
//! `handle_response`, both serialised to JSON and back as on the wire.
//! Messages in flight are delivered in an order drawn from a seeded rng, with
//! no latency; time moves only from one core deadline to the next.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{de::DeserializeOwned, Serialize};

use super::*;
use crate::error::CallError;
use crate::io::{LeftReason, Start};
use crate::wire::ErrorBody;

/// One peer of the network.
struct Node {
    core: Membership,
    address: Address,
    crashed: bool,
    events: Vec<Event>,
}

/// A message in flight.
enum Message {
    /// A call on its way to `to`, with the caller's id as its header.
    Request {
        from: usize,
        call: CallId,
        sender: PeerId,
        to: Address,
        request: Request,
    },
    /// The result of `call`, on its way back to the caller `to`.
    Result {
        to: usize,
        call: CallId,
        result: CallResult,
    },
}

struct Net {
    now: Instant,
    nodes: Vec<Node>,
    in_flight: Vec<Message>,
    /// Requests being handled: (server, token) to (caller, call).
    waiting: BTreeMap<(usize, ReplyToken), (usize, CallId)>,
    next_token: u64,
    rng: ChaCha8Rng,
}

/// A value as the other side reads it after JSON encoding.
fn over_the_wire<T: Serialize + DeserializeOwned>(value: &T) -> T {
    let text = serde_json::to_string(value).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn request_over_the_wire(request: &Request) -> Request {
    match request {
        Request::Join(body) => Request::Join(over_the_wire(body)),
        Request::Joined(body) => Request::Joined(over_the_wire(body)),
        Request::Left(body) => Request::Left(over_the_wire(body)),
        Request::Status => Request::Status,
        Request::Peers => Request::Peers,
    }
}

fn reply_over_the_wire(reply: Result<Response, Refusal>) -> CallResult {
    match reply {
        Ok(Response::Join(body)) => Ok(Response::Join(over_the_wire(&body))),
        Ok(Response::Joined(body)) => Ok(Response::Joined(over_the_wire(&body))),
        Ok(Response::Left(body)) => Ok(Response::Left(over_the_wire(&body))),
        Ok(Response::Status(body)) => Ok(Response::Status(over_the_wire(&body))),
        Ok(Response::Peers(body)) => Ok(Response::Peers(over_the_wire(&body))),
        Err(refusal) => {
            let body = ErrorBody {
                error: refusal.to_string(),
            };
            Err(CallError::Refused {
                status: 409,
                body: serde_json::to_string(&body).unwrap(),
            })
        }
    }
}

impl Net {
    fn new(seed: u64) -> Self {
        Net {
            now: base(),
            nodes: Vec::new(),
            in_flight: Vec::new(),
            waiting: BTreeMap::new(),
            next_token: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Adds peer `n`, named "peer-n", at 10.0.0.n:9338 (not started).
    fn add(&mut self) -> usize {
        let n = self.nodes.len();
        let name = format!("peer-{n}");
        let rng_seed = self.rng.random();
        self.nodes.push(Node {
            core: Membership::new(identity(&name, 9338), Config::default(), rng_seed),
            address: self.address(n),
            crashed: false,
            events: Vec::new(),
        });
        n
    }

    fn address(&self, n: usize) -> Address {
        addr(&format!("10.0.0.{n}:9338"))
    }

    fn start(&mut self, n: usize, seeds: Vec<Address>) {
        self.nodes[n].core.start(self.now, seeds);
        self.collect(n);
    }

    /// Takes node `n`'s actions into the network and its events into its log.
    fn collect(&mut self, n: usize) {
        while let Some(action) = self.nodes[n].core.poll_action() {
            match action {
                Action::Call {
                    call, to, request, ..
                } => self.in_flight.push(Message::Request {
                    from: n,
                    call,
                    sender: self.nodes[n].core.id().clone(),
                    to,
                    request,
                }),
                Action::Reply { token, reply } => {
                    let (to, call) = self.waiting.remove(&(n, token)).unwrap();
                    let result = reply_over_the_wire(reply);
                    self.in_flight.push(Message::Result { to, call, result });
                }
            }
        }
        let node = &mut self.nodes[n];
        node.events
            .extend(std::iter::from_fn(|| node.core.poll_event()));
    }

    fn deliver(&mut self, message: Message) {
        match message {
            Message::Request {
                from,
                call,
                sender,
                to,
                request,
            } => {
                let target = self.nodes.iter().position(|n| n.address == to);
                let Some(target) = target.filter(|t| !self.nodes[*t].crashed) else {
                    let result = Err(CallError::Unreachable(format!("{to} is down")));
                    return self.in_flight.push(Message::Result {
                        to: from,
                        call,
                        result,
                    });
                };
                let token = ReplyToken(self.next_token);
                self.next_token += 1;
                self.waiting.insert((target, token), (from, call));
                let origin = Origin {
                    sender: Some(sender),
                    remote: self.nodes[from].address.host.ip().unwrap(),
                };
                let request = request_over_the_wire(&request);
                let now = self.now;
                self.nodes[target]
                    .core
                    .handle_request(now, token, origin, request);
                self.collect(target);
            }
            Message::Result { to, call, result } => {
                if !self.nodes[to].crashed {
                    self.nodes[to].core.handle_response(self.now, call, result);
                    self.collect(to);
                }
            }
        }
    }

    /// Delivers messages, in random order, until none is in flight.
    fn settle(&mut self) {
        for _ in 0..1_000_000 {
            if self.in_flight.is_empty() {
                return;
            }
            let pick = self.rng.random_range(..self.in_flight.len());
            let message = self.in_flight.swap_remove(pick);
            self.deliver(message);
        }
        panic!("the network never settled");
    }

    /// Runs every deadline up to `now + span`, settling after each.
    fn run_for(&mut self, span: Duration) {
        let end = self.now + span;
        loop {
            self.settle();
            let live = self.nodes.iter().filter(|n| !n.crashed);
            let next = live.filter_map(|n| n.core.poll_timeout()).min();
            match next {
                Some(at) if at <= end => {
                    self.now = at;
                    for n in 0..self.nodes.len() {
                        let node = &mut self.nodes[n];
                        if !node.crashed && node.core.poll_timeout() <= Some(at) {
                            node.core.handle_timeout(at);
                            self.collect(n);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn id(&self, n: usize) -> PeerId {
        self.nodes[n].core.id().clone()
    }

    /// Asserts that each of `alive` knows every other one, at its address,
    /// and nobody else.
    fn assert_full_mesh(&self, alive: &[usize]) {
        for &n in alive {
            let core = &self.nodes[n].core;
            let known: BTreeMap<PeerId, Address> = core
                .members()
                .map(|m| (m.id.clone(), m.address()))
                .collect();
            let expected: BTreeMap<PeerId, Address> = alive
                .iter()
                .filter(|&&o| o != n)
                .map(|&o| (self.id(o), self.nodes[o].address.clone()))
                .collect();
            assert_eq!(known, expected, "peer-{n}'s members");
        }
    }

    /// The reasons for which node `n` saw `gone` leave.
    fn left_reasons(&self, n: usize, gone: &PeerId) -> Vec<LeftReason> {
        let events = self.nodes[n].events.iter();
        let reasons = events.filter_map(|event| match event {
            Event::PeerLeft { member, reason } if member.id == *gone => Some(reason.clone()),
            _ => None,
        });
        reasons.collect()
    }
}

/// A cloud of `size` peers that all joined through peer 0 at the same
/// instant, settled.
fn cloud_joined_at_once(size: usize, seed: u64) -> Net {
    let mut net = Net::new(seed);
    let first = net.add();
    net.start(first, vec![]);
    let seed_address = net.address(first);
    for _ in 1..size {
        let n = net.add();
        net.start(n, vec![seed_address.clone()]);
    }
    net.settle();
    net
}

#[test]
fn twenty_peers_joining_through_one_seed_at_once_form_a_full_mesh() {
    for seed in 0..8 {
        let mut net = cloud_joined_at_once(21, seed);
        let everyone: Vec<usize> = (0..21).collect();
        net.assert_full_mesh(&everyone);
        for node in &net.nodes[1..] {
            let started = node.events.iter().find(|e| matches!(e, Event::Started(_)));
            let Some(Event::Started(Start::Joined { via, .. })) = started else {
                panic!("net seed {seed}: {started:?}")
            };
            assert_eq!(*via, net.address(0));
        }
        // Probes of healthy peers evict nobody.
        net.run_for(secs(30));
        net.assert_full_mesh(&everyone);
    }
}

#[test]
fn a_crashed_peer_is_dropped_by_every_survivor_after_probes() {
    for seed in 0..8 {
        let mut net = cloud_joined_at_once(8, seed);
        let crashed = 3;
        net.nodes[crashed].crashed = true;
        let gone = net.id(crashed);
        // Seven members each: probed once per round of seven ticks, twice
        // in a row once it fails; 30 s is ample.
        net.run_for(secs(30));
        let survivors: Vec<usize> = (0..8).filter(|&n| n != crashed).collect();
        net.assert_full_mesh(&survivors);
        for &n in &survivors {
            let reasons = net.left_reasons(n, &gone);
            assert_eq!(reasons.len(), 1, "net seed {seed}, peer-{n}: {reasons:?}");
            assert!(matches!(reasons[0], LeftReason::Failed { .. }));
        }
    }
}

#[test]
fn a_graceful_leave_removes_the_peer_everywhere() {
    for seed in 0..8 {
        let mut net = cloud_joined_at_once(8, seed);
        let leaver = 5;
        let gone = net.id(leaver);
        let now = net.now;
        net.nodes[leaver].core.leave(now);
        net.collect(leaver);
        net.settle();
        assert_eq!(net.nodes[leaver].events.last(), Some(&Event::Closed));
        let stayers: Vec<usize> = (0..8).filter(|&n| n != leaver).collect();
        net.assert_full_mesh(&stayers);
        for &n in &stayers {
            assert_eq!(net.left_reasons(n, &gone), [LeftReason::Left], "peer-{n}");
        }
        net.run_for(secs(20));
        net.assert_full_mesh(&stayers);
    }
}

#[test]
fn a_peer_restarted_at_its_address_under_a_new_id_replaces_its_old_self_everywhere() {
    for seed in 0..8 {
        let mut net = cloud_joined_at_once(6, seed);
        let n = 4;
        let old = net.id(n);
        // It crashes and comes back before anyone noticed, with a new id.
        let fresh = identity("peer-4-again", 9338);
        net.nodes[n].core = Membership::new(fresh, Config::default(), seed);
        net.nodes[n].events.clear();
        net.start(n, vec![net.address(0)]);
        net.run_for(secs(30));
        net.assert_full_mesh(&[0, 1, 2, 3, 4, 5]);
        for other in [0, 1, 2, 3, 5] {
            let reasons = net.left_reasons(other, &old);
            assert_eq!(
                reasons.len(),
                1,
                "net seed {seed}, peer-{other}: {reasons:?}"
            );
        }
    }
}

#[test]
fn peers_that_all_list_the_same_seeds_including_themselves_form_one_cloud() {
    // As in the README: every peer is started with the same list, which
    // holds its own address and one where nobody listens.
    let mut net = Net::new(3);
    let mut seeds: Vec<Address> = (0..6).map(|n| net.address(n)).collect();
    seeds.push(addr("10.0.0.99:9338"));
    for _ in 0..6 {
        let n = net.add();
        net.start(n, seeds.clone());
        net.settle();
    }
    net.assert_full_mesh(&[0, 1, 2, 3, 4, 5]);
    assert_eq!(net.nodes[0].events[0], Event::Started(Start::Alone));
}

#[test]
fn the_network_replays_from_its_seed() {
    let logs = |seed| {
        let mut net = cloud_joined_at_once(10, seed);
        net.nodes[4].crashed = true;
        net.run_for(secs(20));
        let logs: Vec<Vec<Event>> = net.nodes.into_iter().map(|n| n.events).collect();
        logs
    };
    assert_eq!(logs(11), logs(11));
}

/// How long anti-entropy gets to repair lists in these tests: a few probe
/// rounds of a cloud of six at the default one probe a second.
const REPAIR: Duration = Duration::from_secs(20);

/// A cloud of four, then two peers joining at once, x through peer-1 and y
/// through peer-2; whether each ends up knowing the other. The notices alone
/// lose one of them in about one run in three (as with the original); the
/// digests in probe answers find and repair the difference.
fn concurrent_joiners_meet(seed: u64) -> bool {
    let mut net = cloud_joined_at_once(4, seed);
    let (x, y) = (net.add(), net.add());
    let (via_x, via_y) = (net.address(1), net.address(2));
    net.start(x, vec![via_x]);
    net.start(y, vec![via_y]);
    net.settle();
    net.run_for(REPAIR);
    let knows = |a: usize, b: usize| net.nodes[a].core.member(&net.id(b)).is_some();
    knows(x, y) && knows(y, x)
}

#[test]
fn peers_joining_at_once_through_different_members_learn_of_each_other() {
    let missed: Vec<u64> = (0..50).filter(|&s| !concurrent_joiners_meet(s)).collect();
    assert!(missed.is_empty(), "never met with net seeds {missed:?}");
}

/// A cloud of four, then j joining through peer-0 while x joins through j
/// at the same instant; whether all six end up in one full mesh. (j's
/// introductions of x are refused by members that have not heard of j yet;
/// anti-entropy repairs that.)
fn joiner_of_a_joiner_is_known_everywhere(seed: u64) -> bool {
    let mut net = cloud_joined_at_once(4, seed);
    let (j, x) = (net.add(), net.add());
    let (via_j, via_x) = (net.address(0), net.address(j));
    net.start(j, vec![via_j]);
    net.start(x, vec![via_x]);
    net.settle();
    net.run_for(REPAIR);
    (0..6).all(|n| net.nodes[n].core.members().len() == 5)
}

#[test]
fn a_peer_accepted_by_a_joining_peer_becomes_known_to_the_whole_cloud() {
    let missed: Vec<u64> = (0..50)
        .filter(|&s| !joiner_of_a_joiner_is_known_everywhere(s))
        .collect();
    assert!(
        missed.is_empty(),
        "not known everywhere with net seeds {missed:?}"
    );
}

#[test]
fn a_member_dropped_by_mistake_comes_back_and_a_dead_one_does_not() {
    for seed in 0..8 {
        let mut net = cloud_joined_at_once(5, seed);
        // peer-0 tells peer-1 that peer-2 failed, which is false...
        let false_notice = Request::Left(LeftRequest { id: net.id(2) });
        let origin = Origin {
            sender: Some(net.id(0)),
            remote: ip("10.0.0.0"),
        };
        let now = net.now;
        net.nodes[1]
            .core
            .handle_request(now, ReplyToken(u64::MAX), origin, false_notice);
        net.nodes[1].core.poll_action();
        net.collect(1);
        assert!(net.nodes[1].core.member(&net.id(2)).is_none());
        // ...and peer-4 crashes for real.
        net.nodes[4].crashed = true;
        net.run_for(secs(30));
        net.assert_full_mesh(&[0, 1, 2, 3]);
        let back = net.nodes[1].events.iter().rev().find_map(|e| match e {
            Event::PeerJoined(m) if m.id == net.id(2) => Some(m.address()),
            _ => None,
        });
        assert_eq!(back, Some(net.address(2)), "net seed {seed}");
    }
}

#[test]
fn a_peer_started_before_its_seed_joins_it_when_it_comes_up() {
    let mut net = Net::new(5);
    let (seed, late) = (net.add(), net.add());
    net.nodes[seed].crashed = true; // not up yet
    net.start(late, vec![net.address(seed)]);
    net.settle();
    assert_eq!(net.nodes[late].events, [Event::Started(Start::Alone)]);
    net.run_for(secs(3));
    net.nodes[seed].crashed = false;
    net.start(seed, vec![]);
    net.run_for(Config::default().rejoin_interval + secs(1));
    net.assert_full_mesh(&[seed, late]);
    let started = net.nodes[late].events.iter();
    let started = started.filter(|e| matches!(e, Event::Started(_))).count();
    assert_eq!(started, 1, "a rejoin is not a second start");
}

#[test]
fn a_peer_with_members_does_not_rejoin_its_seeds() {
    // b starts alone (its seed, a, is down), then c joins b. When a comes
    // up, b has a member, so it does not rejoin: it only retries its seeds
    // while alone. (Merging two clouds is for a later issue.)
    let mut net = Net::new(9);
    let (a, b, c) = (net.add(), net.add(), net.add());
    net.nodes[a].crashed = true;
    net.start(b, vec![net.address(a)]);
    net.settle();
    net.start(c, vec![net.address(b)]);
    net.settle();
    net.nodes[a].crashed = false;
    net.start(a, vec![]);
    net.run_for(secs(20));
    net.assert_full_mesh(&[b, c]);
    assert_eq!(net.nodes[a].core.members().len(), 0);
}
