//! Tests of rejoining: a running peer without members tries its seeds
//! again, and never a seed that turned out to be itself.

use std::collections::BTreeSet;

use super::*;
use crate::io::Start;

/// A core "p" whose only seed did not answer: it runs alone.
fn alone_with_seed(seed: &str) -> (Membership, Instant) {
    let t0 = base();
    let mut p = core("p", 9338);
    p.start(t0, vec![addr(seed)]);
    let join = only_call(&drain(&mut p), "/join");
    p.handle_response(t0, join.call, Err(crate::error::CallError::Timeout));
    assert_eq!(
        events(&mut p),
        [
            Event::SeedFailed {
                seed: addr(seed),
                error: crate::error::CallError::Timeout
            },
            Event::Started(Start::Alone)
        ]
    );
    (p, t0)
}

/// Advances `p` through every deadline up to `until`, collecting calls.
fn run_until(p: &mut Membership, until: Instant) -> Vec<(Instant, Sent)> {
    let mut made = Vec::new();
    for _ in 0..10_000 {
        match p.poll_timeout() {
            Some(at) if at <= until => {
                p.handle_timeout(at);
                made.extend(calls(&drain(p)).into_iter().map(|c| (at, c)));
            }
            _ => break,
        }
    }
    made
}

/// Advances `p` through its deadlines after `from` until it sends a
/// `/join` (within two rejoin intervals), and stops there.
fn next_join(p: &mut Membership, from: Instant) -> (Instant, Sent) {
    let until = from + Config::default().rejoin_interval * 2;
    for _ in 0..10_000 {
        let at = p.poll_timeout().filter(|at| *at <= until);
        let at = at.expect("a try of the seed");
        p.handle_timeout(at);
        if let Some(join) = calls(&drain(p))
            .into_iter()
            .find(|sent| sent.request.path() == "/join")
        {
            return (at, join);
        }
    }
    panic!("no try of the seed in 10,000 steps")
}

#[test]
fn a_lone_peer_tries_its_seed_again_soon_then_less_often_up_to_every_rejoin_interval() {
    use rand::SeedableRng;
    let interval = Config::default().rejoin_interval;
    // An eighth, a quarter, a half, then the whole interval, for good.
    let expected = [8, 4, 2, 1, 1, 1];
    let mut first_waits = BTreeSet::new();
    for seed in 0..16u64 {
        let (mut p, t0) = alone_with_seed("10.0.0.1:9338");
        p.rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // The tick set at the start was drawn with the core's own seed.
        let (mut last, join) = next_join(&mut p, t0);
        p.handle_response(last, join.call, Err(crate::error::CallError::Timeout));
        for (n, divisor) in expected.into_iter().enumerate().skip(1) {
            let (at, join) = next_join(&mut p, last);
            assert_eq!(join.to, addr("10.0.0.1:9338"));
            let (wait, base) = (at - last, interval / divisor);
            assert!(
                wait >= base.mul_f64(0.75) && wait <= base.mul_f64(1.25),
                "seed {seed}, try {n}: {wait:?} after the last, not about {base:?}"
            );
            if n == 1 {
                first_waits.insert(wait);
            }
            p.handle_response(at, join.call, Err(crate::error::CallError::Timeout));
            last = at;
        }
    }
    assert!(first_waits.len() > 8, "not jittered: {first_waits:?}");
}

#[test]
fn a_lone_peer_waits_for_its_try_under_way_to_end_before_the_next() {
    let (mut p, t0) = alone_with_seed("10.0.0.1:9338");
    let (at, join) = next_join(&mut p, t0);
    let Request::Join(body) = &join.request else {
        panic!("not a join")
    };
    assert_eq!(body.id, Some(pid("p")));
    // No second attempt while the first is under way...
    let join_timeout = Config::default().join_timeout;
    let made = run_until(&mut p, at + join_timeout - millis(1));
    assert!(
        made.iter().all(|(_, c)| c.request.path() != "/join"),
        "{made:#?}"
    );
    // ...which ends at its deadline: a later tick tries again.
    let (_, again) = next_join(&mut p, at + join_timeout);
    assert_eq!(again.to, addr("10.0.0.1:9338"));
}

#[test]
fn a_successful_rejoin_adds_the_cloud_without_a_second_start() {
    let (mut p, t0) = alone_with_seed("10.0.0.1:9338");
    let (at, join) = next_join(&mut p, t0);
    let (seed, other) = (member("s", "10.0.0.1:9338"), member("o", "10.0.0.2:9338"));
    p.handle_response(
        at,
        join.call,
        join_reply("p", &seed, std::slice::from_ref(&other)),
    );
    assert_eq!(member_ids(&p), ["o", "s"]);
    assert_eq!(
        events(&mut p),
        [Event::PeerJoined(seed), Event::PeerJoined(other)]
    );
    // With members, no more attempts: only probes.
    let made = run_until(&mut p, at + Config::default().rejoin_interval * 4);
    assert!(
        made.iter().all(|(_, c)| c.request.path() == "/status"),
        "{made:#?}"
    );
}

#[test]
fn a_seed_that_is_this_peer_itself_is_never_tried_again() {
    let t0 = base();
    let mut p = core("p", 9338);
    p.start(t0, vec![addr("127.0.0.1:9338")]);
    let join = only_call(&drain(&mut p), "/join");
    // The join arrives at this very peer, which refuses its own id...
    let Request::Join(body) = join.request.clone() else {
        panic!("not a join")
    };
    p.handle_request(t0, ReplyToken(1), origin("p"), Request::Join(body));
    let refusal = only_reply(&drain(&mut p), ReplyToken(1));
    assert_eq!(refusal, Err(Refusal::IdInUse(pid("p"))));
    p.handle_response(
        t0,
        join.call,
        Err(crate::error::CallError::Refused {
            status: 409,
            body: String::new(),
        }),
    );
    assert!(matches!(
        events(&mut p).as_slice(),
        [Event::SeedFailed { .. }, Event::Started(Start::Alone)]
    ));
    // ...so it is not tried again: the peer only ticks for probes.
    let made = run_until(&mut p, t0 + Config::default().rejoin_interval * 4);
    assert!(made.is_empty(), "{made:#?}");
}

#[test]
fn a_peer_started_without_seeds_never_tries_to_rejoin() {
    let (mut p, t0) = alone_core("p");
    assert!(run_until(&mut p, t0 + secs(60)).is_empty());
}

#[test]
fn a_seed_that_names_this_peer_after_a_member_is_not_followed() {
    // Found by the fuzz tests: a merge's reply naming this peer after one
    // of its members made this peer its own member.
    let (mut p, t0) = alone_with_seed("10.0.0.1:9338");
    let join = join_request(Some("j"), None, Some(9338));
    p.handle_request(t0, ReplyToken(1), anonymous("10.0.0.5"), join);
    let check = only_call(&drain(&mut p), "/status");
    p.handle_response(t0, check.call, status_of("j"));
    drain(&mut p);
    let (at, rejoin) = next_join(&mut p, t0);
    let seed = member("s", "10.0.0.1:9338");
    p.handle_response(at, rejoin.call, join_reply("j", &seed, &[]));
    assert_eq!(p.id(), &pid("p"));
    assert_eq!(member_ids(&p), ["j", "s"]);
}
