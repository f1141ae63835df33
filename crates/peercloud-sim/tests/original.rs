//! The model of the original's rules ([`Original`]): one probe of one
//! random member every 5 s, eviction on one failed probe, notices to every
//! member and nothing that repairs a list. The state machine is driven by
//! hand where a rule is exact, and in small simulated clouds (seeds swept,
//! failing seed named) where it shows in a whole cloud.

mod support;

use std::time::{Duration, Instant};

use peercloud_core::wire::{JoinReply, PeerInfo, ServerInfo, StatusReply};
use peercloud_core::{
    Action, Address, CallError, Event, FailureCause, Identity, LeftReason, PeerId, Request,
    Response,
};
use peercloud_sim::{NetConfig, Original, OriginalConfig, PeerIndex, Protocol, Sim};
use serde_json::json;
use support::{secs, SEEDS};

fn address(n: u8) -> Address {
    format!("10.0.0.{n}:9338").parse().expect("an address")
}

fn id(name: &str) -> PeerId {
    PeerId::parse(name).expect("an id")
}

fn info(name: &str, n: u8) -> PeerInfo {
    PeerInfo {
        id: id(name),
        ip: address(n).host,
        port: 9338,
        data: json!({}).into(),
        incarnation: None,
    }
}

/// Every call the peer wants made now, as (path, to).
fn calls(peer: &mut Original) -> Vec<(Request, Address, peercloud_core::CallId)> {
    let mut calls = Vec::new();
    while let Some(action) = peer.poll_action() {
        if let Action::Call {
            call, to, request, ..
        } = action
        {
            calls.push((request, to, call));
        }
    }
    calls
}

/// An original peer `me` that joined through `seed` (10.0.0.1), whose
/// reply listed b, c and d: four entries. Returns it and the join time.
fn joined_peer() -> (Original, Instant) {
    let me = Identity {
        id: id("me"),
        port: 9338,
        advertise: None,
        data: json!({}),
    };
    let mut peer = Original::new(me, OriginalConfig::default(), 1);
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    peer.start(t0, vec![address(1)]);
    let [(Request::Join(_), to, call)] = &calls(&mut peer)[..] else {
        panic!("one /join first")
    };
    assert_eq!(*to, address(1));
    let reply = JoinReply {
        status: "joined".into(),
        id: None,
        ip: None,
        port: None,
        server: ServerInfo {
            id: id("seed"),
            data: json!({}),
            incarnation: None,
        },
        peers: vec![info("b", 2), info("c", 3), info("d", 4)],
    };
    peer.handle_response(t0, *call, Ok(Response::Join(reply)));
    assert_eq!(peer.member_count(), 4);
    (peer, t0)
}

#[test]
fn an_original_peer_probes_one_member_every_5_s_and_nothing_else() {
    let (mut peer, t0) = joined_peer();
    assert_eq!(peer.poll_timeout(), Some(t0 + secs(5)));
    for tick in 1..=10 {
        let now = t0 + secs(5 * tick);
        peer.handle_timeout(now);
        let calls = calls(&mut peer);
        let [(Request::Status(_), _, call)] = &calls[..] else {
            panic!("tick {tick}: {calls:?}")
        };
        let status = StatusReply {
            id: peer
                .peers()
                .iter()
                .find(|m| m.address() == calls[0].1)
                .map(|m| m.id.clone()),
            online: true,
            listening: true,
            joined: true,
            digest: None,
            incarnation: None,
            gossip: Default::default(),
        };
        peer.handle_response(now, *call, Ok(Response::Status(status)));
        assert!(peer.poll_action().is_none(), "tick {tick}: nothing more");
        assert_eq!(peer.poll_timeout(), Some(now + secs(5)));
    }
    assert_eq!(peer.member_count(), 4, "answered probes evict nobody");
}

#[test]
fn one_failed_probe_evicts_the_member_and_tells_every_other_member() {
    let (mut peer, t0) = joined_peer();
    while peer.poll_event().is_some() {}
    let now = t0 + secs(5);
    peer.handle_timeout(now);
    let [(Request::Status(_), probed, call)] = &calls(&mut peer)[..] else {
        panic!("one probe")
    };
    let gone = peer
        .peers()
        .iter()
        .find(|m| m.address() == *probed)
        .unwrap()
        .id
        .clone();
    // No answer within the client's 1 s: one miss is enough.
    peer.handle_timeout(now + Duration::from_millis(999));
    assert!(peer.poll_action().is_none(), "not before the timeout");
    peer.handle_timeout(now + secs(1));
    let Some(Event::PeerLeft { member, reason }) = peer.poll_event() else {
        panic!("evicted at once")
    };
    assert_eq!(member.id, gone);
    assert!(matches!(
        reason,
        LeftReason::Failed {
            detected_by: None,
            cause: FailureCause::Silent
        }
    ));
    assert!(!peer.lists(&gone));
    let notices = calls(&mut peer);
    assert_eq!(notices.len(), 3, "one /left to each of the three others");
    for (request, to, _) in &notices {
        assert!(matches!(request, Request::Left(left) if left.id == gone));
        assert_ne!(to, probed);
    }
    // A late answer changes nothing: the peer is gone for good.
    peer.handle_response(now + secs(2), *call, Err(CallError::NoListener));
    assert!(peer.poll_action().is_none());
}

#[test]
fn a_seed_tells_every_member_of_each_joiner_and_nothing_else() {
    for seed in SEEDS {
        let mut sim = Sim::original(seed, NetConfig::lan());
        let first = sim.add_peer();
        sim.start(first, &[]);
        sim.run_for(Duration::from_millis(100));
        sim.reset_stats();
        // One at a time, before the first probe tick: the k-th joiner costs
        // its /join, the seed's /status check of it, and a /joined to each
        // of the k - 1 members the seed lists besides it.
        for _ in 0..5 {
            let p = sim.add_peer();
            sim.start(p, &[first]);
            sim.run_for(Duration::from_millis(100));
        }
        assert_eq!(sim.stats().requests, 5 * 2 + (1 + 2 + 3 + 4), "seed {seed}");
        support::assert_full_mesh(&sim, &(0..6).collect::<Vec<_>>());
    }
}

#[test]
fn a_cloud_of_originals_probes_one_member_per_peer_every_5_s() {
    for seed in SEEDS {
        let mut sim = Sim::original(seed, NetConfig::lan());
        let first = sim.add_peer();
        sim.start(first, &[]);
        for _ in 0..5 {
            let p = sim.add_peer();
            sim.start(p, &[first]);
            sim.run_for(Duration::from_millis(100));
        }
        sim.run_for(secs(10));
        sim.reset_stats();
        sim.run_for(secs(50));
        assert_eq!(sim.stats().requests, 6 * 10, "seed {seed}");
        support::assert_full_mesh(&sim, &(0..6).collect::<Vec<_>>());
    }
}

/// Peers 0 to 5 joined one at a time; the link between 0 and 5 broken for
/// 200 s. Returns the one of the pair every other peer dropped.
fn dropped_behind_a_broken_link(seed: u64) -> Option<PeerIndex> {
    let mut sim = Sim::original(seed, NetConfig::lan());
    let first = sim.add_peer();
    sim.start(first, &[]);
    for _ in 0..5 {
        let p = sim.add_peer();
        sim.start(p, &[first]);
        sim.run_for(Duration::from_millis(100));
    }
    sim.cut(0, 5);
    sim.run_for(secs(200));
    let others = [1, 2, 3, 4];
    let dropped: Vec<PeerIndex> = [0, 5]
        .into_iter()
        .filter(|&p| others.iter().all(|&o| !sim.lists(o, p)))
        .collect();
    match dropped[..] {
        [p] => {
            let gone = sim.id(p).clone();
            let accuser = sim.id(5 - p).clone();
            for o in others {
                let reasons = sim.left_reasons(o, &gone);
                let told = LeftReason::Failed {
                    detected_by: Some(accuser.clone()),
                    cause: FailureCause::Reported,
                };
                assert_eq!(reasons, [told], "seed {seed}: peer {o}");
            }
            Some(p)
        }
        _ => None,
    }
}

#[test]
fn one_broken_link_gets_a_healthy_peer_dropped_by_every_other_member_for_good() {
    for seed in SEEDS {
        let dropped = dropped_behind_a_broken_link(seed);
        assert!(dropped.is_some(), "seed {seed}: exactly one of 0 and 5");
    }
}

/// A cloud of four joined one at a time, then x joining through 1 and y
/// through 2 at once; whether each lists the other 60 s later.
fn concurrent_joiners_meet(seed: u64) -> bool {
    let mut sim = Sim::original(seed, NetConfig::lan());
    let first = sim.add_peer();
    sim.start(first, &[]);
    for _ in 0..3 {
        let p = sim.add_peer();
        sim.start(p, &[first]);
        sim.run_for(Duration::from_millis(100));
    }
    let (x, y) = (sim.add_peer(), sim.add_peer());
    sim.start(x, &[1]);
    sim.start(y, &[2]);
    sim.run_for(secs(60));
    sim.lists(x, y) && sim.lists(y, x)
}

#[test]
fn originals_joining_at_once_through_different_members_can_miss_each_other_for_good() {
    // The weakness peercloud's digests repair (the same scenario in
    // joins.rs meets for every seed).
    let missed: Vec<u64> = (0..20).filter(|&s| !concurrent_joiners_meet(s)).collect();
    println!("never met with seeds {missed:?}");
    assert!(!missed.is_empty(), "no seed of 20 showed the weakness");
}

#[test]
fn a_run_of_originals_replays_exactly_from_its_seed() {
    let run = |seed| {
        let mut sim = Sim::original(seed, NetConfig::lan().with_loss(0.05));
        sim.join_through_seeds(30, 3);
        sim.run_for(secs(60));
        let logs: Vec<String> = (0..sim.len())
            .map(|n| format!("{:?}", sim.events(n)))
            .collect();
        (logs, sim.stats())
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).0, run(12).0, "another seed, another run");
}
