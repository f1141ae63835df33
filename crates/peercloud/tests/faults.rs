//! Fault tests with real `peercloud run` processes, each on a host of its
//! own in a network namespace: h1, h2 and h3 on one bridge, h4 and h5 on
//! another, all seeded by h1, with the default timing (probes every half second,
//! suspicion before eviction). Links are cut and restored while the test
//! watches each peer's `peer_joined` / `peer_left` lines.
//!
//! The hosts are a `peercloud-testbed` testbed. Touches only the
//! namespaces and processes its testbed creates. Needs root and `ip`
//! (iproute2); without them each test prints why it is skipped and passes
//! (where `PEERCLOUD_REQUIRE_NETNS` is set, it fails instead). Testbeds
//! run one at a time; every wait has a deadline.

#![allow(clippy::unwrap_used)]

#[path = "support/netns_peer.rs"]
mod netns_peer;
#[path = "support/netns_wait.rs"]
mod netns_wait;
#[path = "support/wait.rs"]
mod wait;

use std::ops::Deref;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use netns_peer::NsPeer;
use netns_wait::{hold_for, wait_until};
use peercloud_testbed::{skip_reason, Bridge, Testbed, THREE_TWO};

/// The hosts: three on `br0`, two on `br1`.
const LAYOUT: [(&str, Bridge); 5] = THREE_TWO;

/// How long five fresh peers may take to all know each other.
const FORM: Duration = Duration::from_secs(20);

/// One testbed at a time in this binary, so that the timing of one
/// scenario is not skewed by another's five peers.
static SERIAL: Mutex<()> = Mutex::new(());

/// A testbed, and the lock that keeps it the only one of this binary.
struct Serial {
    // Fields drop in order: the namespaces are gone before the lock is.
    bed: Testbed,
    _serial: MutexGuard<'static, ()>,
}

impl Deref for Serial {
    type Target = Testbed;

    fn deref(&self) -> &Testbed {
        &self.bed
    }
}

/// The testbed, once no other test of this binary holds one, or `None`
/// (after saying why) where namespaces cannot be made.
fn testbed() -> Option<Serial> {
    if let Some(why) = skip_reason() {
        println!("skipped: network namespaces unavailable ({why})");
        return None;
    }
    let serial = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
    let bed = Testbed::new(&LAYOUT).unwrap_or_else(|e| panic!("cannot build the testbed: {e}"));
    Some(Serial {
        bed,
        _serial: serial,
    })
}

/// Starts h1 (its seed is itself: it starts alone), then the others
/// through h1, and waits until every host knows the four others.
fn five_peers(bed: &Testbed) -> Vec<NsPeer> {
    let h1 = bed.host("h1").unwrap();
    let start = Instant::now();
    let peers: Vec<NsPeer> = bed
        .hosts()
        .iter()
        .map(|host| NsPeer::start(host, h1, &[]))
        .collect();
    wait_until(
        &peers,
        start + FORM,
        "every host knows the four others",
        || all_know_all(&peers),
    );
    println!(
        "five peers formed one cloud {:.1?} after h1 started",
        start.elapsed()
    );
    peers
}

/// Whether every peer knows every other one, and no one else.
fn all_know_all(peers: &[NsPeer]) -> bool {
    knows_exactly_its_side(peers, peers)
}

/// Whether every peer of `side` knows the other peers of `side`, and none
/// of the rest of `all`.
fn knows_exactly_its_side(all: &[NsPeer], side: &[NsPeer]) -> bool {
    let in_side = |q: &NsPeer| side.iter().any(|s| s.id == q.id);
    side.iter().all(|p| {
        all.iter()
            .filter(|q| q.id != p.id)
            .all(|q| p.knows(q) == in_side(q))
            && p.members().len() == side.len() - 1
    })
}

#[test]
fn five_hosts_on_two_bridges_form_one_cloud() {
    let Some(bed) = testbed() else { return };
    let peers = five_peers(&bed);

    // Each peer is known at its host's --bind address, and what each one
    // answers over HTTP agrees with its events.
    for peer in &peers {
        for other in peers.iter().filter(|q| q.id != peer.id) {
            let ip = peer.members().get(&other.id).cloned();
            assert_eq!(
                ip,
                Some(other.host.ip().to_string()),
                "{} knows {} at",
                peer.host.name(),
                other.host.name()
            );
        }
        let mut listed = peer.listed().unwrap();
        listed.sort();
        let mut others: Vec<String> = peers
            .iter()
            .filter(|q| q.id != peer.id)
            .map(|q| q.id.clone())
            .collect();
        others.sort();
        assert_eq!(listed, others, "`peercloud peers` on {}", peer.host.name());
    }
}

#[test]
fn a_host_that_goes_silent_is_dropped_everywhere_within_15_s() {
    let Some(bed) = testbed() else { return };
    let peers = five_peers(&bed);
    let (h5, rest) = peers.split_last().unwrap();

    bed.isolate(&h5.host).unwrap();
    let took = wait_until(
        &peers,
        Instant::now() + Duration::from_secs(15),
        "h1..h4 have all dropped the silent h5",
        || rest.iter().all(|p| !p.knows(h5)),
    );
    println!("h1..h4 dropped the silent h5 {took:.1?} after its link went down");
    assert!(
        knows_exactly_its_side(&peers, rest),
        "only h5 was dropped\n{}",
        netns_wait::describe(&peers)
    );
}

/// Each side drops the other; once the link is back, each peer's retries
/// of the members it declared failed (and of its seed) bring the sides
/// together again.
#[test]
fn a_three_two_partition_heals_once_the_link_is_back() {
    let Some(bed) = testbed() else { return };
    let peers = five_peers(&bed);
    let (left, right) = peers.split_at(3);

    bed.cut_bridge_link().unwrap();
    let took = wait_until(
        &peers,
        Instant::now() + Duration::from_secs(30),
        "h1..h3 and h4..h5 have each dropped the other side",
        || knows_exactly_its_side(&peers, left) && knows_exactly_its_side(&peers, right),
    );
    println!("each side dropped the other {took:.1?} after the cut");

    bed.restore_bridge_link().unwrap();
    let restored = Instant::now();
    let (h1, h4) = (&peers[0], &peers[3]);
    wait_until(
        &peers,
        restored + Duration::from_secs(5),
        "h1 reaches h4 again through the restored link",
        || h1.can_reach(&h4.host),
    );
    wait_until(
        &peers,
        restored + Duration::from_secs(20),
        "every host knows the four others again after the link came back",
        || all_know_all(&peers),
    );
    println!(
        "the partition healed {:.1?} after the link came back",
        restored.elapsed()
    );
}

/// Suspicion and indirect probes: h1 and h4 each find the other through
/// the peers that still reach it, so nobody is evicted.
#[test]
fn one_broken_pair_link_evicts_nobody() {
    let Some(bed) = testbed() else { return };
    let peers = five_peers(&bed);
    let (h1, h2, h4, h5) = (&peers[0], &peers[1], &peers[3], &peers[4]);

    bed.break_pair(&h1.host, &h4.host).unwrap();
    // The break is real, and only between h1 and h4.
    assert!(!h1.can_reach(&h4.host), "h1 still reaches h4");
    assert!(!h4.can_reach(&h1.host), "h4 still reaches h1");
    assert!(h2.can_reach(&h4.host), "h2 no longer reaches h4");
    assert!(h1.can_reach(&h5.host), "h1 no longer reaches h5");

    hold_for(
        &peers,
        Duration::from_secs(30),
        "every host knows the four others while h1 and h4 cannot talk",
        || all_know_all(&peers),
    );
    bed.repair_pair(&h1.host, &h4.host).unwrap();
    assert!(h1.can_reach(&h4.host), "h1 reaches h4 again");
}
