//! Every wait of the tests: until a condition holds, failing the test at a
//! deadline with what it waited for and what the test can show of the
//! state; or checking that a condition keeps holding for a while. Library
//! peers are waited on through their member list's watch (no polling);
//! what has no way to be waited on (a process's pipes, a file, an HTTP
//! endpoint, metrics) is polled. Every loop is bounded in time and in
//! count. Touches nothing but the clock and what its callers hand it.

#![allow(dead_code)] // each test file uses a different part of it

use std::future::Future;
use std::time::{Duration, Instant};

use peercloud::{Cloud, Peer};

/// How often a polled condition is looked at again.
pub(crate) const POLL: Duration = Duration::from_millis(20);

/// Enough polls for `period`, and a few more for slow wake-ups; the time
/// check in each loop is what normally ends it.
fn polls_within(period: Duration) -> u128 {
    period.as_millis() / POLL.as_millis() + 10
}

/// Polls `done` until it gives a value, and returns it with how long that
/// took. Fails the test at `deadline`, saying `what` it waited for and
/// what `describe` shows then.
pub(crate) fn until<T>(
    deadline: Instant,
    what: &str,
    describe: impl Fn() -> String,
    mut done: impl FnMut() -> Option<T>,
) -> (T, Duration) {
    let start = Instant::now();
    for _ in 0..polls_within(deadline.saturating_duration_since(start)) {
        if let Some(value) = done() {
            return (value, start.elapsed());
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(POLL);
    }
    if let Some(value) = done() {
        return (value, start.elapsed());
    }
    panic!(
        "timed out after {:.1?} waiting until {what}\n{}",
        start.elapsed(),
        describe()
    )
}

/// [`until`] for a condition that is true or false.
pub(crate) fn until_true(
    deadline: Instant,
    what: &str,
    describe: impl Fn() -> String,
    mut done: impl FnMut() -> bool,
) -> Duration {
    until(deadline, what, describe, || done().then_some(())).1
}

/// Checks `holds` every poll for `period`; fails the test as soon as it
/// does not, saying when that was and what `describe` shows then.
pub(crate) fn hold(
    period: Duration,
    what: &str,
    describe: impl Fn() -> String,
    mut holds: impl FnMut() -> bool,
) {
    let start = Instant::now();
    let end = start + period;
    for _ in 0..polls_within(period) {
        if !holds() {
            panic!(
                "after {:.1?} of {period:?}, it no longer holds that {what}\n{}",
                start.elapsed(),
                describe()
            );
        }
        if Instant::now() >= end {
            return;
        }
        std::thread::sleep(POLL);
    }
}

/// [`until`] for a condition that is looked at asynchronously (a command
/// to another process, a read of metrics): polls `done` until it gives a
/// value. Fails the test at `deadline` with `what` and the last state
/// `done` reported.
pub(crate) async fn until_async<T, S, F>(
    deadline: tokio::time::Instant,
    what: &str,
    mut done: impl FnMut() -> F,
) -> T
where
    F: Future<Output = Result<T, S>>,
    S: std::fmt::Debug,
{
    let start = tokio::time::Instant::now();
    let mut last = None;
    for _ in 0..polls_within(deadline.saturating_duration_since(start)) {
        match done().await {
            Ok(value) => return value,
            Err(state) => last = Some(state),
        }
        if tokio::time::Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "timed out after {:.1?} waiting until {what}; last seen: {last:#?}",
        start.elapsed()
    )
}

/// Waits on `cloud`'s member list, without polling, until `done` holds
/// for it; returns the list. Fails the test at `deadline` with `what` and
/// the list then.
pub(crate) async fn peers_until(
    cloud: &Cloud,
    deadline: tokio::time::Instant,
    what: &str,
    done: impl FnMut(&[Peer]) -> bool,
) -> Vec<Peer> {
    let mut watch = cloud.watch_peers();
    match tokio::time::timeout_at(deadline, watch.wait_for(done)).await {
        Ok(Ok(peers)) => peers,
        Ok(Err(stopped)) => panic!("{} {stopped} while waiting until {what}", cloud.id()),
        Err(_) => panic!(
            "timed out waiting until {what}; {} lists {:#?}",
            cloud.id(),
            cloud.peers()
        ),
    }
}

/// Waits until every cloud of `clouds` lists exactly every other one
/// (each on its watch, then all again, until all hold at one moment).
/// Fails the test at `deadline` with `describe`'s account of the gaps.
pub(crate) async fn mesh(
    clouds: &[&Cloud],
    deadline: tokio::time::Instant,
    describe: impl Fn() -> String,
) {
    let ids: Vec<String> = clouds.iter().map(|c| c.id()).collect();
    let complete = |cloud: &Cloud, peers: &[Peer]| {
        let mut listed: Vec<&str> = peers.iter().map(Peer::id).collect();
        listed.sort_unstable();
        let mut others: Vec<&str> = ids
            .iter()
            .map(String::as_str)
            .filter(|&id| id != cloud.id())
            .collect();
        others.sort_unstable();
        listed == others
    };
    // Each round waits for the clouds one by one; a round ends with all of
    // them complete unless one lost a member meanwhile. Bounded by the
    // deadline, and by a count for the unlikely churn.
    for _ in 0..polls_within(deadline.saturating_duration_since(tokio::time::Instant::now())) {
        for &cloud in clouds {
            let mut watch = cloud.watch_peers();
            let wait = watch.wait_for(|peers| complete(cloud, peers));
            if !matches!(tokio::time::timeout_at(deadline, wait).await, Ok(Ok(_))) {
                panic!(
                    "no full mesh of {} peers in time:\n{}",
                    clouds.len(),
                    describe()
                );
            }
        }
        if clouds.iter().all(|c| complete(c, &c.peers())) {
            return;
        }
    }
    panic!("no full mesh of {} peers:\n{}", clouds.len(), describe());
}
