//! Waiting on several `RunningPeer`s at once: until a condition on their
//! lines holds (with a deadline), or checking that one keeps holding for a
//! while. A failure shows what each peer lists and printed. Touches
//! nothing but the peers' pipes and the clock.
//!
//! Needs the `process` support module beside it (as `mod process`). Every
//! loop is bounded in time and in count.

#![allow(dead_code)] // each test file uses a different part of it

use std::fmt::Write as _;
use std::thread;
use std::time::{Duration, Instant};

use crate::process::RunningPeer;

/// How often a condition is looked at again.
const POLL: Duration = Duration::from_millis(50);

/// Reads what every peer printed and polls `done` until it holds; returns
/// how long that took. Fails the test at `deadline`, saying what it waited
/// for and what each peer printed.
pub(crate) fn wait_all(
    peers: &mut [RunningPeer],
    deadline: Instant,
    what: &str,
    done: impl Fn(&[RunningPeer]) -> bool,
) -> Duration {
    let start = Instant::now();
    for _ in 0..polls_within(deadline.saturating_duration_since(start)) {
        drain_all(peers);
        if done(peers) {
            return start.elapsed();
        }
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(POLL);
    }
    drain_all(peers);
    if done(peers) {
        return start.elapsed();
    }
    panic!(
        "timed out after {:.1?} waiting until {what}\n{}",
        start.elapsed(),
        describe(peers)
    )
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
    let start = Instant::now();
    let end = start + period;
    for _ in 0..polls_within(period) {
        drain_all(peers);
        if !holds(peers) {
            panic!(
                "after {:.1?} of {period:?}, it no longer holds that {what}\n{}",
                start.elapsed(),
                describe(peers)
            );
        }
        if Instant::now() >= end {
            return;
        }
        thread::sleep(POLL);
    }
}

/// Takes the lines every peer printed so far.
pub(crate) fn drain_all(peers: &mut [RunningPeer]) {
    for peer in peers {
        peer.pipes.drain();
    }
}

/// Enough polls for `period`, and a few more for slow wake-ups; the time
/// check in each loop is what normally ends it.
fn polls_within(period: Duration) -> u128 {
    period.as_millis() / POLL.as_millis() + 10
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
