//! Tests of `/joined` and `/left` notices: who may send them, what they
//! change, and the ones that arrive while this peer is still joining.

use super::*;
use crate::error::CallError;
use crate::io::{LeftReason, Start};
use crate::wire::Ack;

const TOKEN: ReplyToken = ReplyToken(9);

fn added() -> Result<Response, Refusal> {
    Ok(Response::Joined(Ack {
        status: "added".to_owned(),
    }))
}

fn removed() -> Result<Response, Refusal> {
    Ok(Response::Left(Ack {
        status: "removed".to_owned(),
    }))
}

/// Peer "s" with members b and c.
fn peer() -> (Membership, Instant) {
    let b = member("b", "10.0.0.2:9338");
    let c = member("c", "10.0.0.3:9338");
    joined_core("s", &b, &[c])
}

/// Hands `core` one notice and returns its reply (the only action).
fn notice(
    core: &mut Membership,
    now: Instant,
    from: Origin,
    request: Request,
) -> Result<Response, Refusal> {
    core.handle_request(now, TOKEN, from, request);
    only_reply(&drain(core), TOKEN)
}

#[test]
fn a_notice_without_a_sender_is_refused_and_changes_nothing() {
    let (mut s, t0) = peer();
    let version = s.version();
    let d = member("d", "10.0.0.4:9338");
    let from = || anonymous("10.0.0.2");
    assert_eq!(
        notice(&mut s, t0, from(), joined_notice(&d)),
        Err(Refusal::MissingSender)
    );
    assert_eq!(
        notice(&mut s, t0, from(), left_notice("c")),
        Err(Refusal::MissingSender)
    );
    assert_eq!(member_ids(&s), ["b", "c"]);
    assert_eq!(s.version(), version);
    assert!(events(&mut s).is_empty());
}

#[test]
fn a_notice_from_an_unknown_sender_is_refused_and_changes_nothing() {
    let (mut s, t0) = peer();
    let version = s.version();
    let d = member("d", "10.0.0.4:9338");
    let unknown = Err(Refusal::UnknownSender(pid("z")));
    assert_eq!(notice(&mut s, t0, origin("z"), joined_notice(&d)), unknown);
    assert_eq!(notice(&mut s, t0, origin("z"), left_notice("c")), unknown);
    assert_eq!(member_ids(&s), ["b", "c"]);
    assert_eq!(s.version(), version);
    assert!(events(&mut s).is_empty());
}

#[test]
fn a_joined_notice_from_a_member_adds_the_peer() {
    let (mut s, t0) = peer();
    let d = member("d", "10.0.0.4:9338");
    assert_eq!(notice(&mut s, t0, origin("b"), joined_notice(&d)), added());
    assert_eq!(member_ids(&s), ["b", "c", "d"]);
    assert_eq!(events(&mut s), [Event::PeerJoined(d)]);
}

#[test]
fn a_repeated_joined_notice_never_adds_a_second_entry_and_only_a_newer_incarnation_updates_it() {
    let (mut s, t0) = peer();
    let d = member("d", "10.0.0.4:9338");
    assert_eq!(notice(&mut s, t0, origin("b"), joined_notice(&d)), added());
    events(&mut s);
    let changed = Member {
        data: json!({"name": "d", "color": "blue"}).into(),
        ..d.clone()
    };
    // An original peer relays no incarnation: its notice may be stale.
    assert_eq!(
        notice(&mut s, t0, origin("c"), joined_notice(&changed)),
        added()
    );
    assert_eq!(member_ids(&s), ["b", "c", "d"], "no duplicate");
    assert_eq!(s.member(&pid("d")), Some(&d));
    assert!(events(&mut s).is_empty(), "a repeat is no new member");
    // A peercloud peer's notice carries the incarnation: newer wins.
    let newer = Request::Joined(PeerInfo::of(&changed, Some(1)));
    assert_eq!(notice(&mut s, t0, origin("c"), newer), added());
    assert_eq!(member_ids(&s), ["b", "c", "d"]);
    assert_eq!(s.member(&pid("d")), Some(&changed));
    assert_eq!(events(&mut s), [Event::PeerUpdated(changed)]);
}

#[test]
fn a_joined_notice_about_this_peer_is_acknowledged_and_ignored() {
    let (mut s, t0) = peer();
    let version = s.version();
    let me = member("s", "10.0.0.1:9338");
    assert_eq!(notice(&mut s, t0, origin("b"), joined_notice(&me)), added());
    assert_eq!(member_ids(&s), ["b", "c"]);
    assert_eq!(s.version(), version);
    assert!(events(&mut s).is_empty());
}

#[test]
fn a_left_notice_about_this_peer_is_ignored() {
    let (mut s, t0) = peer();
    let version = s.version();
    assert_eq!(notice(&mut s, t0, origin("b"), left_notice("s")), removed());
    assert_eq!(member_ids(&s), ["b", "c"]);
    assert_eq!(s.version(), version);
    assert!(events(&mut s).is_empty());
}

#[test]
fn a_left_notice_from_the_member_itself_is_a_departure() {
    let (mut s, t0) = peer();
    let version = s.version();
    assert_eq!(notice(&mut s, t0, origin("b"), left_notice("b")), removed());
    assert_eq!(member_ids(&s), ["c"]);
    assert_ne!(s.version(), version);
    assert_eq!(
        events(&mut s),
        [Event::PeerLeft {
            member: member("b", "10.0.0.2:9338"),
            reason: LeftReason::Left
        }]
    );
}

/// Sends a `/left` about "c" from "b" and returns the check it caused.
fn accused_by_b(s: &mut Membership, t0: Instant) -> Sent {
    s.handle_request(t0, ReplyToken(9), origin("b"), left_notice("c"));
    let actions = drain(s);
    assert_eq!(replies(&actions), [(ReplyToken(9), removed())]);
    let check = calls_to(&actions, "/status");
    assert_eq!(check.len(), 1, "{actions:#?}");
    assert_eq!(check[0].to, addr("10.0.0.3:9338"));
    check[0].clone()
}

#[test]
fn a_left_notice_about_a_third_member_is_checked_and_a_member_that_answers_stays() {
    let (mut s, t0) = peer();
    let check = accused_by_b(&mut s, t0);
    assert_eq!(member_ids(&s), ["b", "c"], "an accusation is no verdict");
    s.handle_response(t0 + millis(3), check.call, status_of("c"));
    assert_eq!(member_ids(&s), ["b", "c"]);
    assert!(events(&mut s).is_empty());
}

/// A peercloud peer's `/status` answer at `incarnation`.
fn rust_status(id: &str, incarnation: u64) -> CallResult {
    let mut status = status_of(id);
    if let Ok(Response::Status(s)) = &mut status {
        s.incarnation = Some(incarnation);
    }
    status
}

/// The one `/gossip` push among `actions`: to "c", saying first that "b"
/// suspects it at `incarnation` (the accusation it refutes).
fn assert_c_told_of_b(actions: &[Action], incarnation: u64) {
    let pushes = calls_to(actions, "/gossip");
    assert_eq!(pushes.len(), 1, "{actions:#?}");
    assert_eq!(pushes[0].to, addr("10.0.0.3:9338"));
    let Request::Gossip(envelope) = &pushes[0].request else {
        panic!("not gossip: {pushes:#?}");
    };
    let told = &envelope.updates[0];
    assert_eq!(told.kind, crate::wire::UpdateKind::Suspect);
    assert_eq!((told.id.as_str(), told.incarnation), ("c", incarnation));
    assert_eq!(told.by, Some(pid("b")));
}

#[test]
fn a_live_peercloud_member_that_b_accused_is_told_at_the_incarnation_it_answered() {
    let (mut s, t0) = peer();
    let check = accused_by_b(&mut s, t0);
    // c is at incarnation 2, which s did not know: told at 1, it would
    // ignore the accusation.
    s.handle_response(t0 + millis(3), check.call, rust_status("c", 2));
    assert_c_told_of_b(&drain(&mut s), 2);
    assert_eq!(member_ids(&s), ["b", "c"]);
}

#[test]
fn an_accusation_that_comes_while_the_member_is_probed_is_told_once_the_probe_answers() {
    let (mut s, _) = peer();
    let mut probe = None;
    for _ in 0..10 {
        let Some(at) = s.poll_timeout() else { break };
        s.handle_timeout(at);
        let to_c = calls_to(&drain(&mut s), "/status")
            .into_iter()
            .find(|sent| sent.to == addr("10.0.0.3:9338"));
        if let Some(sent) = to_c {
            probe = Some((at, sent));
            break;
        }
    }
    let (at, probe) = probe.expect("c is probed within a round");
    s.handle_request(at, ReplyToken(9), origin("b"), left_notice("c"));
    let actions = drain(&mut s);
    assert_eq!(
        replies(&actions),
        [(ReplyToken(9), removed())],
        "the probe under way checks c already: {actions:#?}"
    );
    assert!(calls(&actions).is_empty(), "{actions:#?}");
    s.handle_response(at + millis(3), probe.call, rust_status("c", 0));
    assert_c_told_of_b(&drain(&mut s), 0);
}

#[test]
fn a_left_notice_about_a_third_member_whose_port_refuses_removes_it_as_refused() {
    let (mut s, t0) = peer();
    let check = accused_by_b(&mut s, t0);
    s.handle_response(t0 + millis(3), check.call, Err(CallError::NoListener));
    assert_eq!(member_ids(&s), ["b"]);
    assert_eq!(
        events(&mut s),
        [Event::PeerLeft {
            member: member("c", "10.0.0.3:9338"),
            reason: LeftReason::Failed {
                detected_by: None,
                cause: FailureCause::Refused,
            }
        }]
    );
}

#[test]
fn a_left_notice_about_an_unknown_peer_is_acknowledged_and_changes_nothing() {
    let (mut s, t0) = peer();
    let version = s.version();
    assert_eq!(notice(&mut s, t0, origin("b"), left_notice("q")), removed());
    assert_eq!(s.version(), version);
    assert!(events(&mut s).is_empty());
}

#[test]
fn notices_from_the_seed_that_arrive_before_its_join_reply_are_applied_after_it() {
    let t0 = base();
    let mut j = core("j", 9338);
    let s = member("s", "10.0.0.1:9338");
    let (b, c) = (member("b", "10.0.0.2:9338"), member("c", "10.0.0.3:9338"));
    let (d, e) = (member("d", "10.0.0.4:9338"), member("e", "10.0.0.5:9338"));
    j.start(t0, vec![s.address()]);
    let join = only_call(&drain(&mut j), "/join");

    // The seed's broadcasts overtake its reply; "z" is no member at all.
    assert_eq!(notice(&mut j, t0, origin("s"), joined_notice(&d)), added());
    assert_eq!(notice(&mut j, t0, origin("s"), left_notice("c")), removed());
    assert_eq!(notice(&mut j, t0, origin("z"), joined_notice(&e)), added());
    assert_eq!(j.members().len(), 0);
    assert!(events(&mut j).is_empty());

    j.handle_response(t0, join.call, join_reply("j", &s, &[b.clone(), c.clone()]));
    // The kept /left about c is an accusation: c is checked, not dropped.
    assert_eq!(member_ids(&j), ["b", "c", "d", "s"]);
    let checks = calls_to(&drain(&mut j), "/status");
    assert_eq!(checks.len(), 1);
    assert_eq!(checks[0].to, c.address());
    assert_eq!(
        events(&mut j),
        [
            Event::Started(Start::Joined {
                via: s.address(),
                peers: 3
            }),
            Event::PeerJoined(s.clone()),
            Event::PeerJoined(b),
            Event::PeerJoined(c.clone()),
            Event::PeerJoined(d),
        ]
    );
}

#[test]
fn notices_kept_while_joining_are_dropped_when_no_seed_accepts() {
    let t0 = base();
    let mut j = core("j", 9338);
    let s = member("s", "10.0.0.1:9338");
    j.start(t0, vec![s.address()]);
    let join = only_call(&drain(&mut j), "/join");
    let d = member("d", "10.0.0.4:9338");
    assert_eq!(notice(&mut j, t0, origin("s"), joined_notice(&d)), added());
    j.handle_response(t0, join.call, Err(crate::error::CallError::Timeout));
    assert!(matches!(
        events(&mut j).as_slice(),
        [Event::SeedFailed { .. }, Event::Started(Start::Alone)]
    ));
    assert_eq!(j.members().len(), 0);
    assert!(j.early.is_empty(), "nothing is kept that can never apply");
    // Once running, the seed is an unknown sender like any other.
    assert_eq!(
        notice(&mut j, t0, origin("s"), joined_notice(&d)),
        Err(Refusal::UnknownSender(pid("s")))
    );
}

#[test]
fn a_joiner_accepted_while_joining_is_kept_and_introduced_to_the_cloud() {
    let t0 = base();
    let mut j = core("j", 9338);
    let s = member("s", "10.0.0.1:9338");
    let b = member("b", "10.0.0.2:9338");
    j.start(t0, vec![s.address()]);
    let join = only_call(&drain(&mut j), "/join");

    // x joins through j while j's own join is under way.
    let x_join = join_request(Some("x"), None, None);
    j.handle_request(t0, TOKEN, anonymous("10.0.0.24"), x_join);
    let check = only_call(&drain(&mut j), "/status");
    j.handle_response(t0, check.call, status_of("x"));
    let Ok(Response::Join(to_x)) = only_reply(&drain(&mut j), TOKEN) else {
        panic!("x was not admitted")
    };
    assert_eq!(to_x.server.id, pid("j"));
    assert!(to_x.peers.is_empty());
    let x = Member {
        data: json!({}).into(),
        ..member("x", "10.0.0.24:9338")
    };
    assert_eq!(events(&mut j), [Event::PeerJoined(x.clone())]);

    j.handle_response(t0, join.call, join_reply("j", &s, std::slice::from_ref(&b)));
    assert_eq!(member_ids(&j), ["b", "s", "x"], "x is kept");
    let mut sent = notices(&drain(&mut j));
    sent.sort_by_key(|(to, request)| (to.clone(), format!("{request:?}")));
    let mut expected = vec![
        (x.address(), joined_notice(&s)),
        (s.address(), joined_notice(&x)),
        (x.address(), joined_notice(&b)),
        (b.address(), joined_notice(&x)),
    ];
    expected.sort_by_key(|(to, request)| (to.clone(), format!("{request:?}")));
    assert_eq!(sent, expected);
    assert_eq!(
        events(&mut j),
        [
            Event::Started(Start::Joined {
                via: s.address(),
                peers: 2
            }),
            Event::PeerJoined(s.clone()),
            Event::PeerJoined(b),
        ]
    );
}

#[test]
fn a_merge_sends_notices_only_to_members_that_do_not_pull_lists() {
    let t0 = base();
    let mut j = core("j", 9338);
    let s = member("s", "10.0.0.1:9338");
    j.start(t0, vec![s.address()]);
    let join = only_call(&drain(&mut j), "/join");

    // x, a peercloud peer, joins through j while j's own join is under way.
    let x_join = Request::Join(JoinRequest {
        incarnation: Some(0),
        ..match join_request(Some("x"), None, None) {
            Request::Join(join) => join,
            _ => unreachable!(),
        }
    });
    j.handle_request(t0, TOKEN, anonymous("10.0.0.24"), x_join);
    let check = only_call(&drain(&mut j), "/status");
    let Ok(Response::Status(mut x_status)) = status_of("x") else {
        unreachable!()
    };
    x_status.incarnation = Some(0);
    j.handle_response(t0, check.call, Ok(Response::Status(x_status)));
    assert!(matches!(
        only_reply(&drain(&mut j), TOKEN),
        Ok(Response::Join(_))
    ));

    // The seed's cloud: b speaks peercloud (an incarnation), o does not.
    let b = member("b", "10.0.0.2:9338");
    let o = member("o", "10.0.0.3:9338");
    let Ok(Response::Join(mut reply)) = join_reply("j", &s, &[b.clone(), o.clone()]) else {
        unreachable!()
    };
    reply.server.incarnation = Some(0);
    reply.peers[0].incarnation = Some(0);
    j.handle_response(t0, join.call, Ok(Response::Join(reply)));
    assert_eq!(member_ids(&j), ["b", "o", "s", "x"]);

    // x pulls j's list once their digests differ, and so do s and b: only
    // o, which cannot, is told about x.
    let sent: Vec<(Address, String)> = notices(&drain(&mut j))
        .into_iter()
        .map(|(to, request)| match request {
            Request::Joined(info) => (to, info.id.to_string()),
            other => panic!("not a /joined notice: {other:?}"),
        })
        .collect();
    assert_eq!(sent, [(o.address(), "x".to_owned())]);
}
