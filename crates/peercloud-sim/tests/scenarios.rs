//! The fast deterministic suite CI runs: clouds of up to a few hundred
//! peers, several seeds each, and the invariants checked after every
//! scenario: every list converged, no healthy peer evicted for good, every
//! partition healed, a peer that left never brought back. A failure names
//! its seed; `Sim::new(seed, ..)` replays it exactly.

mod support;

use std::time::Duration;

use peercloud_core::Event;
use peercloud_sim::{Latency, NetConfig, PeerIndex, Protocol, Sim};
use support::{failed_seen_by, gaps, secs, STEP};

/// Fewer than the small scenarios': these clouds are large.
const SEEDS: std::ops::Range<u64> = 0..4;

/// `n` peers: three seeds that form a cloud first, then everyone else
/// joining at once through one of them each; run until converged (at most
/// `limit`). Returns the simulation and how long the joins took.
fn cloud(seed: u64, n: usize, net: NetConfig, limit: Duration) -> (Sim, Duration) {
    let mut sim = Sim::new(seed, net);
    sim.join_through_seeds(n, 3);
    let took = sim.run_until(limit, STEP, |s| s.converged().is_ok());
    match took {
        Some(took) => (sim, took),
        None => panic!("{}", gaps(&sim)),
    }
}

#[test]
fn two_hundred_peers_joining_at_once_through_three_seeds_converge() {
    for seed in SEEDS {
        let (sim, took) = cloud(seed, 200, NetConfig::lan(), secs(30));
        println!("seed {seed}: 200 peers converged in {took:?} (simulated)");
        for n in sim.live() {
            assert!(failed_seen_by(&sim, n).is_empty(), "seed {seed}: peer {n}");
        }
    }
}

#[test]
fn a_crashed_peer_is_dropped_by_every_peer_and_nobody_else_is() {
    for seed in SEEDS {
        let (mut sim, _) = cloud(seed, 100, NetConfig::lan(), secs(30));
        sim.run_for(secs(10));
        let gone = sim.id(42).clone();
        sim.crash(42);
        let took = sim.run_until(secs(15), STEP, |s| s.converged().is_ok());
        let Some(took) = took else {
            panic!("{}", gaps(&sim))
        };
        println!("seed {seed}: crash dropped everywhere in {took:?}");
        for n in sim.live() {
            let failed = failed_seen_by(&sim, n);
            assert_eq!(failed, std::slice::from_ref(&gone), "seed {seed}: peer {n}");
        }
    }
}

/// Peers learn of members in much the same order; if each probed them in
/// that order, the whole cloud would probe the same few at a time and a
/// crashed peer could go unprobed for half a minute (it did, at 300 peers,
/// before each peer placed new members at random in its round). SWIM's
/// promise is a detection time that does not grow with the cloud: one
/// probe of the crashed peer within about an interval, the helpers'
/// refusals, and gossip.
#[test]
fn crashes_in_a_cloud_of_three_hundred_are_each_dropped_everywhere_within_seconds() {
    for seed in SEEDS {
        let (mut sim, _) = cloud(seed, 300, NetConfig::lan(), secs(30));
        sim.run_for(secs(90));
        for victim in [17, 123, 201, 288] {
            let gone = sim.id(victim).clone();
            sim.crash(victim);
            let listing = |s: &Sim| s.live().iter().filter(|&&n| s.core(n).lists(&gone)).count();
            let took = sim.run_until(secs(5), STEP, |s| listing(s) == 0);
            assert!(
                took.is_some(),
                "seed {seed}: peer {victim} still listed by {} peers 5 s after its crash",
                listing(&sim)
            );
            println!("seed {seed}: peer {victim} dropped everywhere in {took:?}");
            sim.run_for(secs(5));
        }
    }
}

#[test]
fn a_partition_settles_on_each_side_and_heals_once_the_link_is_back() {
    for seed in SEEDS {
        let (mut sim, _) = cloud(seed, 60, NetConfig::lan(), secs(30));
        let side: Vec<PeerIndex> = (0..36).collect();
        sim.partition(&[&side]);
        sim.run_for(secs(60));
        for &n in &[0, 35, 36, 59] {
            let same_side = |m: PeerIndex| (m < 36) == (n < 36);
            let listed = (0..60).filter(|&m| m != n && sim.lists(n, m)).count();
            let expected = (0..60).filter(|&m| m != n && same_side(m)).count();
            assert_eq!(
                listed, expected,
                "seed {seed}: peer {n} during the partition"
            );
        }
        sim.heal();
        let took = sim.run_until(secs(30), STEP, |s| s.converged().is_ok());
        let Some(took) = took else {
            panic!("{}", gaps(&sim))
        };
        println!("seed {seed}: partition healed in {took:?}");
    }
}

#[test]
fn loss_and_stalls_evict_no_healthy_peer() {
    for seed in SEEDS {
        let net = NetConfig {
            latency: Latency::Tailed {
                typical: Duration::from_millis(1),
                tail: Duration::from_millis(300),
                tail_share: 0.01,
            },
            loss: 0.05,
        };
        let (mut sim, _) = cloud(seed, 40, net, secs(60));
        // For ten simulated minutes, a peer stalls for 1 to 3 s every 5 s.
        for round in 0..120u64 {
            let n = ((round * 7 + seed) % 40) as PeerIndex;
            sim.stall(n, Duration::from_millis(1000 + (round * 173) % 2000));
            sim.run_for(secs(5));
        }
        sim.run_for(secs(10));
        for n in sim.live() {
            let failed = failed_seen_by(&sim, n);
            assert!(
                failed.is_empty(),
                "seed {seed}: peer {n} evicted {failed:?}"
            );
        }
        sim.converged().unwrap();
    }
}

#[test]
fn a_peer_that_left_is_never_brought_back() {
    for seed in SEEDS {
        let (mut sim, _) = cloud(seed, 50, NetConfig::lan().with_loss(0.02), secs(60));
        let gone = sim.id(7).clone();
        sim.leave(7);
        sim.run_for(secs(120));
        sim.converged().unwrap();
        for n in sim.live() {
            let back = sim.events(n).iter().any(|(at, e)| {
                *at > Duration::from_secs(2)
                    && matches!(e, Event::PeerJoined(m) if m.id == gone)
                    && sim.core(n).member(&gone).is_some()
            });
            assert!(!back, "seed {seed}: peer {n} brought it back");
        }
    }
}

#[test]
fn a_peer_restarted_at_its_address_replaces_its_old_entry_everywhere() {
    for seed in SEEDS {
        let (mut sim, _) = cloud(seed, 30, NetConfig::lan(), secs(30));
        let old = sim.id(12).clone();
        sim.crash(12);
        sim.run_for(Duration::from_millis(300));
        sim.restart(12, &[0]);
        let took = sim.run_until(secs(20), STEP, |s| s.converged().is_ok());
        assert!(took.is_some(), "{}", gaps(&sim));
        for n in sim.live() {
            assert!(sim.core(n).member(&old).is_none(), "seed {seed}: peer {n}");
        }
    }
}

#[test]
fn clouds_formed_apart_merge_when_one_meets_the_others_seed() {
    for seed in SEEDS {
        let mut sim = Sim::new(seed, NetConfig::lan());
        let a: Vec<PeerIndex> = (0..10).map(|_| sim.add_peer()).collect();
        let b: Vec<PeerIndex> = (0..6).map(|_| sim.add_peer()).collect();
        // a[0]'s seed is b[0], down at first: a forms alone.
        sim.start(a[0], &[b[0]]);
        for &p in &a[1..] {
            sim.start(p, &[a[0]]);
        }
        sim.run_for(secs(10));
        sim.start(b[0], &[]);
        for &p in &b[1..] {
            sim.start(p, &[b[0]]);
        }
        let took = sim.run_until(secs(30), STEP, |s| s.converged().is_ok());
        let Some(took) = took else {
            panic!("{}", gaps(&sim))
        };
        println!("seed {seed}: merged {took:?} after the second cloud started");
    }
}

#[test]
fn a_run_replays_exactly_from_its_seed() {
    let run = |seed| {
        let (mut sim, _) = cloud(seed, 30, NetConfig::lan().with_loss(0.05), secs(60));
        sim.crash(5);
        sim.stall(9, secs(3));
        sim.run_for(secs(30));
        let logs: Vec<String> = (0..sim.len())
            .map(|n| format!("{:?}", sim.events(n)))
            .collect();
        (logs, sim.stats())
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).0, run(12).0, "another seed, another run");
}
