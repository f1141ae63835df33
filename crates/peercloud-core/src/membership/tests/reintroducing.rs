//! Tests of new data towards original peers: this peer takes itself out of
//! their lists (`/left` about itself, `rejoining`) and joins one of them
//! again, never while the `/joined` notices of its last join may still be
//! on their way, and never twice where once carries the newest data.

use super::*;
use crate::wire::JoinRequest;

/// Peer "s", which joined through original peer "n1" and learned of "n2"
/// from it (both plain members). Returns them too.
fn joined_through_an_original() -> (Membership, Instant, Member, Member) {
    let n1 = member("n1", "10.0.0.1:9338");
    let n2 = member("n2", "10.0.0.2:9338");
    let (s, t0) = joined_core("s", &n1, std::slice::from_ref(&n2));
    (s, t0, n1, n2)
}

fn data(v: u64) -> Value {
    json!({"name": "s", "v": v})
}

/// The `/left` calls among `actions` by which "s" steps out to step in
/// again.
fn rejoining_lefts(actions: &[Action]) -> Vec<Sent> {
    calls_to(actions, "/left")
        .into_iter()
        .filter(|sent| {
            matches!(&sent.request, Request::Left(left) if left.id == pid("s") && left.rejoining)
        })
        .collect()
}

/// The body of a `/join` call.
fn join_body(sent: &Sent) -> &JoinRequest {
    match &sent.request {
        Request::Join(join) => join,
        other => panic!("not a join: {other:#?}"),
    }
}

/// Answers every `/left` of `lefts` at `now`; returns what follows.
fn answer_lefts(s: &mut Membership, now: Instant, lefts: &[Sent]) -> Vec<Action> {
    let removed = || {
        Ok(Response::Left(crate::wire::Ack {
            status: "removed".to_owned(),
        }))
    };
    for left in lefts {
        s.handle_response(now, left.call, removed());
    }
    drain(s)
}

/// Runs every timer of `s` up to `until`; returns the calls made.
fn run_until(s: &mut Membership, until: Instant) -> Vec<Action> {
    let mut made = Vec::new();
    for _ in 0..10_000 {
        match s.poll_timeout() {
            Some(at) if at <= until => {
                s.handle_timeout(at);
                made.extend(drain(s));
            }
            _ => break,
        }
    }
    made
}

#[test]
fn data_changed_again_before_the_join_goes_out_rides_on_that_join_alone() {
    let (mut s, t0, n1, n2) = joined_through_an_original();
    let t = t0 + secs(1);
    s.set_data(t, data(1));
    let lefts = rejoining_lefts(&drain(&mut s));
    let to: Vec<Address> = lefts.iter().map(|l| l.to.clone()).collect();
    assert_eq!(to, [n1.address(), n2.address()]);
    s.set_data(t, data(2));
    assert!(
        drain(&mut s).is_empty(),
        "the round under way will carry it"
    );

    let join = only_call(&answer_lefts(&mut s, t, &lefts), "/join");
    assert_eq!(join.to, n1.address(), "the member known as an original");
    assert_eq!(join_body(&join).data, Some(data(2)));
    s.handle_response(t, join.call, join_reply("s", &n1, &[n2]));
    assert!(
        drain(&mut s).is_empty(),
        "no second round: {:#?}",
        s.poll_action()
    );
    let later = run_until(&mut s, t + secs(10));
    assert!(rejoining_lefts(&later).is_empty(), "{later:#?}");
}

#[test]
fn data_changed_after_the_join_went_out_waits_until_the_originals_notices_of_it_landed() {
    let (mut s, t0, n1, n2) = joined_through_an_original();
    let t = t0 + secs(1);
    s.set_data(t, data(1));
    let lefts = rejoining_lefts(&drain(&mut s));
    let join = only_call(&answer_lefts(&mut s, t, &lefts), "/join");
    assert_eq!(join_body(&join).data, Some(data(1)));
    s.set_data(t, data(2));
    assert!(drain(&mut s).is_empty(), "not while the join is out");

    // n1 sends its /joined notices about s, then answers; a /left that
    // overtook one would be undone by it, and the next join would add s a
    // second time there.
    let answered = t + millis(10);
    s.handle_response(
        answered,
        join.call,
        join_reply("s", &n1, std::slice::from_ref(&n2)),
    );
    assert!(rejoining_lefts(&drain(&mut s)).is_empty());
    let early = run_until(&mut s, answered + millis(999));
    assert!(rejoining_lefts(&early).is_empty(), "{early:#?}");
    let lefts = rejoining_lefts(&run_until(&mut s, answered + secs(1)));
    let to: Vec<Address> = lefts.iter().map(|l| l.to.clone()).collect();
    assert_eq!(to, [n1.address(), n2.address()]);
    let join = only_call(&answer_lefts(&mut s, answered + secs(1), &lefts), "/join");
    assert_eq!(join_body(&join).data, Some(data(2)));
}

#[test]
fn a_peer_just_admitted_by_an_original_waits_before_it_steps_out_of_the_lists() {
    let (mut s, t0, n1, n2) = joined_through_an_original();
    s.set_data(t0, data(1));
    assert!(rejoining_lefts(&drain(&mut s)).is_empty());
    let early = run_until(&mut s, t0 + millis(999));
    assert!(rejoining_lefts(&early).is_empty(), "{early:#?}");
    let lefts = rejoining_lefts(&run_until(&mut s, t0 + secs(1)));
    let to: Vec<Address> = lefts.iter().map(|l| l.to.clone()).collect();
    assert_eq!(to, [n1.address(), n2.address()]);
}

#[test]
fn a_member_a_probe_shows_to_be_a_peercloud_peer_hears_the_new_data_it_missed_at_once() {
    // "r" came in n1's list, without an incarnation: its kind is unknown,
    // so the push of the new data skipped it.
    let n1 = member("n1", "10.0.0.1:9338");
    let r = member("r", "10.0.0.2:9338");
    let (mut s, t0) = joined_core("s", &n1, std::slice::from_ref(&r));
    let t = t0 + secs(1);
    s.set_data(t, data(1));
    let set = drain(&mut s);
    assert!(calls_to(&set, "/gossip").is_empty(), "{set:#?}");
    let mut pushed = Vec::new();
    for _ in 0..10 {
        let Some(at) = s.poll_timeout() else { break };
        s.handle_timeout(at);
        let probe = calls_to(&drain(&mut s), "/status")
            .into_iter()
            .find(|sent| sent.to == r.address());
        let Some(probe) = probe else { continue };
        let mut answer = status_of("r");
        if let Ok(Response::Status(status)) = &mut answer {
            status.incarnation = Some(0);
        }
        s.handle_response(at, probe.call, answer);
        pushed = calls_to(&drain(&mut s), "/gossip");
        break;
    }
    assert_eq!(
        pushed.len(),
        1,
        "one push to r after its probe: {pushed:#?}"
    );
    assert_eq!(pushed[0].to, r.address());
    let Request::Gossip(envelope) = &pushed[0].request else {
        panic!("not gossip: {:#?}", pushed[0]);
    };
    let news = &envelope.updates[0];
    assert_eq!((news.id.as_str(), news.incarnation), ("s", 1));
    assert_eq!(news.data.as_deref(), Some(&data(1)));
}
