//! Helpers shared by the scenario files (`mod support;` in each): clouds
//! built the usual ways, the checks scenarios end with, and what peers saw.
//! Each test binary uses only some of them.
#![allow(dead_code)]

use std::time::Duration;

use peercloud_core::{Event, PeerId, Start};
use peercloud_sim::{NetConfig, PeerIndex, Protocol, Sim};

/// The seeds each small scenario is swept over.
pub(crate) const SEEDS: std::ops::Range<u64> = 0..8;

/// How often `run_until` looks at its condition.
pub(crate) const STEP: Duration = Duration::from_millis(100);

/// Long enough for a join's news to reach every peer of a small cloud by
/// gossip (a round every 200 ms on the LAN preset, each to three members,
/// and each message at most 2 ms on [`NetConfig::lan`]), and for a burst
/// of goodbyes to land.
pub(crate) const SETTLE: Duration = Duration::from_secs(1);

pub(crate) fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub(crate) fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A cloud of `size` peers on the LAN: peer 0 alone, then every other one
/// joining through it at the same instant; run for [`SETTLE`].
pub(crate) fn cloud_joined_at_once(seed: u64, size: usize) -> Sim {
    let mut sim = Sim::new(seed, NetConfig::lan());
    let first = sim.add_peer();
    sim.start(first, &[]);
    for _ in 1..size {
        let n = sim.add_peer();
        sim.start(n, &[first]);
    }
    sim.run_for(SETTLE);
    sim
}

/// Every peer added, live or not.
pub(crate) fn everyone(sim: &Sim) -> Vec<PeerIndex> {
    (0..sim.len()).collect()
}

/// Every peer but `but`.
pub(crate) fn all_but(sim: &Sim, but: PeerIndex) -> Vec<PeerIndex> {
    (0..sim.len()).filter(|&n| n != but).collect()
}

/// Asserts that each of `peers` lists every other one, at its address, and
/// nobody else; the message names the seed and who differs.
#[track_caller]
pub(crate) fn assert_full_mesh<P: Protocol>(sim: &Sim<P>, peers: &[PeerIndex]) {
    if let Err(gaps) = sim.converged_among(peers) {
        panic!("{gaps}");
    }
}

/// Who misses whom, for a failure message (empty when converged).
pub(crate) fn gaps<P: Protocol>(sim: &Sim<P>) -> String {
    sim.converged().err().unwrap_or_default()
}

/// What peer `n`'s core emitted, without when.
pub(crate) fn events_of(sim: &Sim, n: PeerIndex) -> Vec<&Event> {
    sim.events(n).iter().map(|(_, e)| e).collect()
}

/// How each start of peer `n` ended.
pub(crate) fn starts_of(sim: &Sim, n: PeerIndex) -> Vec<&Start> {
    let starts = sim.events(n).iter().filter_map(|(_, e)| match e {
        Event::Started(start) => Some(start),
        _ => None,
    });
    starts.collect()
}

/// How many `PeerJoined` and `PeerLeft` events each peer saw after `since`
/// (virtual time).
pub(crate) fn churn_since(sim: &Sim, since: Duration) -> Vec<usize> {
    let churn = |n| {
        let after = sim.events(n).since(since).filter(|(at, _)| *at > since);
        let churned = |(_, e): &&(Duration, Event)| {
            matches!(e, Event::PeerLeft { .. } | Event::PeerJoined(_))
        };
        after.filter(churned).count()
    };
    (0..sim.len()).map(churn).collect()
}

/// Fails the test, saying `what` and each peer's churn, unless no peer
/// saw a member join or leave after `since` (virtual time).
pub(crate) fn assert_no_churn_since(sim: &Sim, since: Duration, what: &str) {
    let churn = churn_since(sim, since);
    assert!(
        churn.iter().all(|&c| c == 0),
        "{what}: joins and leaves per peer after {since:?}: {churn:?}"
    );
}

/// The peers that `observer` saw leave as failed, by id.
pub(crate) fn failed_seen_by(sim: &Sim, observer: PeerIndex) -> Vec<PeerId> {
    sim.failed_seen_by(observer, Duration::ZERO)
}
