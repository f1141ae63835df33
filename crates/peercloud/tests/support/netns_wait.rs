//! Waiting on a set of `NsPeer`s: until a condition holds (with a deadline),
//! or checking that one keeps holding for a while. A failure lists what each
//! host knows. Touches nothing but the clock.
//!
//! Needs the `netns_peer` and `wait` support modules beside it (as `mod
//! netns_peer` and `mod wait`), whose loops bound every wait in time and
//! in count.

#![allow(dead_code)] // each test file uses a different part of it

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::netns_peer::NsPeer;
use crate::wait;

/// Polls `done` until it holds, and returns how long that took; fails the
/// test at `deadline`, saying what it waited for and what each host knows.
pub(crate) fn wait_until(
    peers: &[NsPeer],
    deadline: Instant,
    what: &str,
    done: impl Fn() -> bool,
) -> Duration {
    wait::until_true(deadline, what, || describe(peers), done)
}

/// Checks `holds` every poll for `period`; fails the test as soon as it
/// does not, saying when that was and what each host knows.
pub(crate) fn hold_for(peers: &[NsPeer], period: Duration, what: &str, holds: impl Fn() -> bool) {
    wait::hold(period, what, || describe(peers), holds);
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
