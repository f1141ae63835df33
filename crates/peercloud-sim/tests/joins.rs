//! Joining and leaving on a simulated LAN: many joins at once, joins
//! through members that are joining themselves, leaves, restarts under a
//! new id, and peers started in any order (before their seeds, through
//! the same seed list, as clouds apart). Every scenario sweeps seeds and
//! names the failing one; `Sim::new(seed, ..)` replays it.

mod support;

use peercloud_core::{Config, Event, LeftReason, Start};
use peercloud_sim::{NetConfig, PeerIndex, Sim};
use support::{
    all_but, assert_full_mesh, cloud_joined_at_once, events_of, everyone, secs, starts_of, SEEDS,
    SETTLE,
};

#[test]
fn twenty_peers_joining_through_one_seed_at_once_form_a_full_mesh() {
    for seed in SEEDS {
        let mut sim = cloud_joined_at_once(seed, 21);
        // Within the burst of joins, before any probe: the notices alone.
        assert_full_mesh(&sim, &everyone(&sim));
        for n in 1..21 {
            let starts = starts_of(&sim, n);
            let [Start::Joined { via, .. }] = starts[..] else {
                panic!("seed {seed}: peer {n} started {starts:?}")
            };
            assert_eq!(via, sim.address(0), "seed {seed}: peer {n}");
        }
        // Probes of healthy peers evict nobody.
        sim.run_for(secs(30));
        assert_full_mesh(&sim, &everyone(&sim));
    }
}

#[test]
fn a_graceful_leave_removes_the_peer_everywhere() {
    for seed in SEEDS {
        let mut sim = cloud_joined_at_once(seed, 8);
        let leaver = 5;
        let gone = sim.id(leaver).clone();
        sim.leave(leaver);
        sim.run_for(SETTLE);
        let last = sim.events(leaver).last().map(|(_, e)| e);
        assert_eq!(last, Some(&Event::Closed), "seed {seed}");
        let stayers = all_but(&sim, leaver);
        assert_full_mesh(&sim, &stayers);
        for &n in &stayers {
            let reasons = sim.left_reasons(n, &gone);
            assert_eq!(reasons, [LeftReason::Left], "seed {seed}: peer {n}");
        }
        sim.run_for(secs(20));
        assert_full_mesh(&sim, &stayers);
    }
}

#[test]
fn a_peer_restarted_at_its_address_under_a_new_id_replaces_its_old_self_everywhere() {
    for seed in SEEDS {
        let mut sim = cloud_joined_at_once(seed, 6);
        let n = 4;
        let old = sim.id(n).clone();
        // It crashes and comes back before anyone noticed, with a new id.
        sim.restart(n, &[0]);
        assert_ne!(*sim.id(n), old);
        sim.run_for(secs(30));
        assert_full_mesh(&sim, &everyone(&sim));
        for other in all_but(&sim, n) {
            let reasons = sim.left_reasons(other, &old);
            assert_eq!(reasons.len(), 1, "seed {seed}: peer {other} {reasons:?}");
        }
    }
}

#[test]
fn peers_that_all_list_the_same_seeds_including_themselves_form_one_cloud() {
    // As in the README: every peer is started with the same list, which
    // holds its own address and one where nobody listens.
    for seed in SEEDS {
        let mut sim = Sim::new(seed, NetConfig::lan());
        let peers: Vec<PeerIndex> = (0..6).map(|_| sim.add_peer()).collect();
        let mut seeds: Vec<_> = peers.iter().map(|&n| sim.address(n).clone()).collect();
        seeds.push("10.9.9.9:9338".parse().unwrap());
        for &n in &peers {
            sim.start_at(n, seeds.clone());
            sim.run_for(SETTLE);
        }
        assert_full_mesh(&sim, &peers);
        assert_eq!(starts_of(&sim, 0), [&Start::Alone], "seed {seed}");
    }
}

/// How long anti-entropy gets to repair lists in these tests: a few probe
/// rounds of a cloud of six at the default one probe a second.
const REPAIR: std::time::Duration = std::time::Duration::from_secs(20);

/// A cloud of four, then two peers joining at once, x through peer 1 and y
/// through peer 2; whether each ends up knowing the other. The notices
/// alone can lose one of them (as with the original); the digests in probe
/// answers find and repair the difference.
fn concurrent_joiners_meet(seed: u64) -> bool {
    let mut sim = cloud_joined_at_once(seed, 4);
    let (x, y) = (sim.add_peer(), sim.add_peer());
    sim.start(x, &[1]);
    sim.start(y, &[2]);
    sim.run_for(REPAIR);
    sim.lists(x, y) && sim.lists(y, x)
}

#[test]
fn peers_joining_at_once_through_different_members_learn_of_each_other() {
    let missed: Vec<u64> = (0..50).filter(|&s| !concurrent_joiners_meet(s)).collect();
    assert!(missed.is_empty(), "never met with seeds {missed:?}");
}

/// A cloud of four, then j joining through peer 0 while x joins through j
/// at the same instant; whether all six end up in one full mesh. (j's
/// introductions of x are refused by members that have not heard of j
/// yet; anti-entropy repairs that.)
fn joiner_of_a_joiner_is_known_everywhere(seed: u64) -> bool {
    let mut sim = cloud_joined_at_once(seed, 4);
    let (j, x) = (sim.add_peer(), sim.add_peer());
    sim.start(j, &[0]);
    sim.start(x, &[j]);
    sim.run_for(REPAIR);
    (0..6).all(|n| sim.core(n).members().len() == 5)
}

#[test]
fn a_peer_accepted_by_a_joining_peer_becomes_known_to_the_whole_cloud() {
    let missed: Vec<u64> = (0..50)
        .filter(|&s| !joiner_of_a_joiner_is_known_everywhere(s))
        .collect();
    assert!(
        missed.is_empty(),
        "not known everywhere with seeds {missed:?}"
    );
}

#[test]
fn a_peer_started_before_its_seed_joins_it_when_it_comes_up() {
    for seed in SEEDS {
        let mut sim = Sim::new(seed, NetConfig::lan());
        let (first, late) = (sim.add_peer(), sim.add_peer());
        // `first` is not up yet: its address refuses connections.
        sim.start(late, &[first]);
        sim.run_for(SETTLE);
        assert!(
            matches!(
                events_of(&sim, late).as_slice(),
                [
                    Event::SeedFailed {
                        error: peercloud_core::CallError::NoListener,
                        ..
                    },
                    Event::Started(Start::Alone)
                ]
            ),
            "seed {seed}: {:?}",
            events_of(&sim, late)
        );
        sim.run_for(secs(3));
        sim.start(first, &[]);
        // Its tries come every rejoin interval, give or take a quarter.
        sim.run_for(Config::default().rejoin_interval.mul_f64(1.25) + secs(1));
        assert_full_mesh(&sim, &[first, late]);
        let starts = starts_of(&sim, late).len();
        assert_eq!(starts, 1, "seed {seed}: a rejoin is not a second start");
    }
}

#[test]
fn clouds_formed_apart_merge_once_a_seed_of_one_is_up() {
    for seed in SEEDS {
        // b starts alone (its seed, a, is down), then c joins b; a comes up
        // alone and d joins a. b keeps trying its seed although it has a
        // member: the two clouds merge.
        let mut sim = Sim::new(seed, NetConfig::lan());
        let [a, b, c, d] = [(); 4].map(|_| sim.add_peer());
        sim.start(b, &[a]);
        sim.run_for(SETTLE);
        sim.start(c, &[b]);
        sim.run_for(SETTLE);
        sim.start(a, &[]);
        sim.start(d, &[a]);
        sim.run_for(SETTLE);
        // Two clouds: c joined b, d joined a, which started alone. (b,
        // alone until c came, tries its seed again within seconds, so the
        // merge may be under way already.)
        assert!(
            matches!(starts_of(&sim, c)[..], [Start::Joined { .. }]),
            "seed {seed}"
        );
        assert!(
            matches!(starts_of(&sim, a)[..], [Start::Alone]),
            "seed {seed}"
        );
        assert!(
            matches!(starts_of(&sim, d)[..], [Start::Joined { .. }]),
            "seed {seed}"
        );
        sim.run_for(Config::default().reconnect_interval * 2 + secs(10));
        assert_full_mesh(&sim, &[a, b, c, d]);
    }
}
