//! Waiting on several `RunningPeer`s at once: until a condition on their
//! lines holds (with a deadline), or checking that one keeps holding for a
//! while. A failure shows what each peer lists and printed. Touches
//! nothing but the peers' pipes and the clock.
//!
//! Needs the `process` and `wait` support modules beside it (as `mod
//! process` and `mod wait`), whose loops bound every wait in time and in
//! count.

#![allow(dead_code)] // each test file uses a different part of it

use std::cell::RefCell;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::process::RunningPeer;
use crate::wait;

/// Reads what every peer printed and polls `done` until it holds; returns
/// how long that took. Fails the test at `deadline`, saying what it waited
/// for and what each peer printed.
pub(crate) fn wait_all(
    peers: &mut [RunningPeer],
    deadline: Instant,
    what: &str,
    done: impl Fn(&[RunningPeer]) -> bool,
) -> Duration {
    // The polls read the pipes, the account of a failure reads them too:
    // one cell lends the peers to both, one at a time.
    let peers = RefCell::new(peers);
    let look = || {
        let mut peers = peers.borrow_mut();
        drain_all(&mut peers);
        done(&peers)
    };
    wait::until_true(deadline, what, || describe(&peers.borrow()), look)
}

/// Reads what every peer printed and checks `holds` every poll for
/// `period`; fails the test as soon as it does not, saying when that was
/// and what each peer printed.
pub(crate) fn hold_all(
    peers: &mut [RunningPeer],
    period: Duration,
    what: &str,
    holds: impl Fn(&[RunningPeer]) -> bool,
) {
    let peers = RefCell::new(peers);
    let look = || {
        let mut peers = peers.borrow_mut();
        drain_all(&mut peers);
        holds(&peers)
    };
    wait::hold(period, what, || describe(&peers.borrow()), look);
}

/// Takes the lines every peer printed so far.
pub(crate) fn drain_all(peers: &mut [RunningPeer]) {
    for peer in peers {
        peer.pipes.drain();
    }
}

/// For each peer: its id and port, the ids it lists, its stdout lines and
/// its stderr.
pub(crate) fn describe(peers: &[RunningPeer]) -> String {
    let mut text = String::new();
    for (i, peer) in peers.iter().enumerate() {
        let _ = writeln!(
            text,
            "=== peer {i}: {} on port {}, lists {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            peer.id,
            peer.port,
            peer.members(),
            peer.pipes.seen.join("\n"),
            peer.pipes
                .stderr
                .lock()
                .map(|s| s.clone())
                .unwrap_or_default(),
        );
    }
    text
}
