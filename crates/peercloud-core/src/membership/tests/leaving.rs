//! Tests of `leave`: goodbyes, closing, and what a leaving peer refuses.

use super::*;
use crate::error::CallError;

/// Peer "s" with members b and c.
fn peer() -> (Membership, Instant) {
    let b = member("b", "10.0.0.2:9338");
    let c = member("c", "10.0.0.3:9338");
    joined_core("s", &b, &[c])
}

/// Leaves at `at` and returns the goodbyes sent.
fn leave(core: &mut Membership, at: Instant) -> Vec<Sent> {
    core.leave(at);
    let actions = drain(core);
    let goodbyes = calls_to(&actions, "/left");
    assert_eq!(goodbyes.len(), actions.len(), "only goodbyes: {actions:#?}");
    goodbyes
}

#[test]
fn leaving_says_goodbye_with_our_id_to_every_member_and_forgets_them() {
    let (mut s, t0) = peer();
    let version = s.version();
    let at = t0 + secs(3);
    let goodbyes = leave(&mut s, at);
    let to: Vec<Address> = goodbyes.iter().map(|g| g.to.clone()).collect();
    assert_eq!(to, [addr("10.0.0.2:9338"), addr("10.0.0.3:9338")]);
    for goodbye in &goodbyes {
        assert_eq!(goodbye.request, left_notice("s"));
        assert_eq!(goodbye.timeout, Config::default().leave_timeout);
    }
    assert_eq!(s.members().len(), 0);
    assert_ne!(s.version(), version);
    assert!(
        events(&mut s).is_empty(),
        "not closed before the goodbyes end"
    );
    assert!(!s.is_closed());
    assert!(!s.status().online);
    assert_eq!(s.poll_timeout(), Some(at + Config::default().leave_timeout));
}

#[test]
fn leaving_closes_once_every_goodbye_is_answered_well_or_not() {
    let (mut s, t0) = peer();
    let goodbyes = leave(&mut s, t0);
    let removed = Ok(Response::Left(crate::wire::Ack {
        status: "removed".to_owned(),
    }));
    s.handle_response(t0, goodbyes[0].call, removed);
    assert!(events(&mut s).is_empty());
    let gone = Err(CallError::Unreachable("connection reset".into()));
    s.handle_response(t0, goodbyes[1].call, gone);
    assert_eq!(events(&mut s), [Event::Closed]);
    assert!(s.is_closed());
    assert_eq!(s.poll_timeout(), None);
    assert!(drain(&mut s).is_empty());
}

#[test]
fn leaving_closes_at_the_deadline_when_goodbyes_go_unanswered() {
    let (mut s, t0) = peer();
    let goodbyes = leave(&mut s, t0);
    s.handle_response(t0, goodbyes[0].call, Err(CallError::Timeout));
    let deadline = t0 + Config::default().leave_timeout;
    s.handle_timeout(deadline - millis(1));
    assert!(events(&mut s).is_empty());
    s.handle_timeout(deadline);
    assert_eq!(events(&mut s), [Event::Closed]);
    assert!(s.is_closed());
    assert_eq!(s.poll_timeout(), None);
    // The goodbye answered after closing is forgotten.
    s.handle_response(deadline, goodbyes[1].call, Err(CallError::Timeout));
    assert!(events(&mut s).is_empty());
    assert!(drain(&mut s).is_empty());
}

#[test]
fn leaving_with_no_members_closes_at_once() {
    let (mut s, t0) = alone_core("s");
    assert!(leave(&mut s, t0).is_empty());
    assert_eq!(events(&mut s), [Event::Closed]);
    assert!(s.is_closed());
}

#[test]
fn leaving_twice_does_nothing_more() {
    let (mut s, t0) = peer();
    leave(&mut s, t0);
    assert!(leave(&mut s, t0 + secs(1)).is_empty());
    assert_eq!(s.poll_timeout(), Some(t0 + Config::default().leave_timeout));
}

#[test]
fn joiners_waiting_for_their_check_are_refused_as_shutting_down() {
    let (mut s, t0) = peer();
    let join = join_request(Some("x"), None, None);
    s.handle_request(t0, ReplyToken(5), anonymous("10.0.0.24"), join);
    let check = only_call(&drain(&mut s), "/status");
    s.leave(t0);
    let actions = drain(&mut s);
    assert_eq!(
        replies(&actions),
        [(ReplyToken(5), Err(Refusal::ShuttingDown))]
    );
    assert_eq!(calls_to(&actions, "/left").len(), 2);
    // The check's late result neither answers again nor admits.
    s.handle_response(t0, check.call, status_of("x"));
    assert!(drain(&mut s).is_empty());
    assert_eq!(s.members().len(), 0);
}

#[test]
fn requests_while_leaving_and_after_closing_are_refused_as_shutting_down() {
    let (mut s, t0) = peer();
    let goodbyes = leave(&mut s, t0);
    for closed in [false, true] {
        if closed {
            for goodbye in &goodbyes {
                s.handle_response(t0, goodbye.call, Err(CallError::Timeout));
            }
            assert!(s.is_closed());
        }
        let d = member("d", "10.0.0.4:9338");
        let requests = [
            (anonymous("10.0.0.4"), join_request(Some("d"), None, None)),
            (origin("b"), joined_notice(&d)),
            (origin("b"), left_notice("c")),
        ];
        for (from, request) in requests {
            s.handle_request(t0, ReplyToken(1), from, request);
            assert_eq!(
                only_reply(&drain(&mut s), ReplyToken(1)),
                Err(Refusal::ShuttingDown)
            );
        }
        s.handle_request(
            t0,
            ReplyToken(2),
            anonymous("10.0.0.4"),
            Request::Status(Default::default()),
        );
        let Ok(Response::Status(status)) = only_reply(&drain(&mut s), ReplyToken(2)) else {
            panic!("no status")
        };
        assert!(!status.online, "a leaving peer says it is going offline");
        assert_eq!(s.members().len(), 0);
    }
}

#[test]
fn leaving_while_joining_closes_and_ignores_the_join_reply() {
    let t0 = base();
    let mut j = core("j", 9338);
    let seed = member("s", "10.0.0.1:9338");
    j.start(t0, vec![seed.address()]);
    let join = only_call(&drain(&mut j), "/join");
    j.leave(t0);
    assert_eq!(events(&mut j), [Event::Closed]);
    j.handle_response(t0, join.call, join_reply("j", &seed, &[]));
    assert!(events(&mut j).is_empty());
    assert!(drain(&mut j).is_empty());
    assert_eq!(j.members().len(), 0);
}
