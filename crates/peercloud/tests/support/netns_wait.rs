//! Waiting on a set of `NsPeer`s: until a condition holds (with a deadline),
//! or checking that one keeps holding for a while. A failure lists what each
//! host knows. Touches nothing but the clock.
//!
//! Needs the `netns_peer` support module beside it (as `mod netns_peer`).
//! Every loop is bounded in time and in count.

#![allow(dead_code)] // each test file uses a different part of it

use std::fmt::Write as _;
use std::thread;
use std::time::{Duration, Instant};

use crate::netns_peer::NsPeer;

/// How often a condition is looked at again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `done` until it holds, and returns how long that took; fails the
/// test at `deadline`, saying what it waited for and what each host knows.
pub(crate) fn wait_until(
    peers: &[NsPeer],
    deadline: Instant,
    what: &str,
    done: impl Fn() -> bool,
) -> Duration {
    let start = Instant::now();
    for _ in 0..polls_within(deadline.saturating_duration_since(start)) {
        if done() {
            return start.elapsed();
        }
        if Instant::now() >= deadline {
            break;
        }
        thread::sleep(POLL);
    }
    if done() {
        return start.elapsed();
    }
    panic!(
        "timed out after {:.1?} waiting until {what}\n{}",
        start.elapsed(),
        describe(peers)
    )
}

/// Checks `holds` every poll for `period`; fails the test as soon as it
/// does not, saying when that was and what each host knows.
pub(crate) fn hold_for(peers: &[NsPeer], period: Duration, what: &str, holds: impl Fn() -> bool) {
    let start = Instant::now();
    let end = start + period;
    for _ in 0..polls_within(period) {
        if !holds() {
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

/// Enough polls for `period`, and a few more for slow wake-ups; the time
/// check in each loop is what normally ends it.
fn polls_within(period: Duration) -> u128 {
    period.as_millis() / POLL.as_millis() + 10
}

/// One line per host: the hosts it knows (by name; unknown ids as they
/// are), or that it has stopped.
pub(crate) fn describe(peers: &[NsPeer]) -> String {
    let mut text = String::from("what each host knows:");
    for peer in peers {
        let mut known: Vec<String> = peer.members().keys().map(|id| name_of(peers, id)).collect();
        known.sort();
        let state = match (peer.is_running(), peer.lagged()) {
            (false, _) => " (ended)",
            (true, true) => " (lagged: may be wrong)",
            (true, false) => "",
        };
        let _ = write!(
            text,
            "\n  {} ({}){state}: [{}]",
            peer.host.name(),
            peer.host.ip(),
            known.join(", ")
        );
    }
    text
}

/// The host name of the peer with this id, or the id itself.
fn name_of(peers: &[NsPeer], id: &str) -> String {
    peers
        .iter()
        .find(|p| p.id == id)
        .map_or_else(|| id.to_owned(), |p| p.host.name().to_owned())
}
