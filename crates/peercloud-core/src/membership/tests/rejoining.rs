//! Tests of rejoining: a running peer without members tries its seeds
//! again, and never a seed that turned out to be itself.

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

#[test]
fn a_lone_peer_tries_its_seed_again_every_rejoin_interval() {
    let (mut p, t0) = alone_with_seed("10.0.0.1:9338");
    let interval = Config::default().rejoin_interval;
    let made = run_until(&mut p, t0 + interval);
    assert_eq!(made.len(), 1, "{made:#?}");
    let (at, join) = &made[0];
    assert_eq!(*at, t0 + interval);
    assert_eq!(join.to, addr("10.0.0.1:9338"));
    let Request::Join(body) = &join.request else {
        panic!("not a join")
    };
    assert_eq!(body.id, Some(pid("p")));
    // No second attempt while the first is under way...
    let join_timeout = Config::default().join_timeout;
    assert!(run_until(&mut p, t0 + interval + join_timeout - millis(1)).is_empty());
    // ...which ends at its deadline: the next tick tries again.
    let made = run_until(&mut p, t0 + interval * 3);
    assert_eq!(made.len(), 1, "{made:#?}");
    assert_eq!(made[0].1.to, addr("10.0.0.1:9338"));
}

#[test]
fn a_successful_rejoin_adds_the_cloud_without_a_second_start() {
    let (mut p, t0) = alone_with_seed("10.0.0.1:9338");
    let interval = Config::default().rejoin_interval;
    let (_, join) = run_until(&mut p, t0 + interval).remove(0);
    let (seed, other) = (member("s", "10.0.0.1:9338"), member("o", "10.0.0.2:9338"));
    p.handle_response(
        t0 + interval,
        join.call,
        join_reply("p", &seed, std::slice::from_ref(&other)),
    );
    assert_eq!(member_ids(&p), ["o", "s"]);
    assert_eq!(
        events(&mut p),
        [Event::PeerJoined(seed), Event::PeerJoined(other)]
    );
    // With members, no more attempts: only probes.
    let made = run_until(&mut p, t0 + interval * 4);
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
    let interval = Config::default().rejoin_interval;
    let made = run_until(&mut p, t0 + interval);
    let (at, rejoin) = made
        .into_iter()
        .find(|(_, sent)| sent.request.path() == "/join")
        .expect("a try of the seed");
    let seed = member("s", "10.0.0.1:9338");
    p.handle_response(at, rejoin.call, join_reply("j", &seed, &[]));
    assert_eq!(p.id(), &pid("p"));
    assert_eq!(member_ids(&p), ["j", "s"]);
}
