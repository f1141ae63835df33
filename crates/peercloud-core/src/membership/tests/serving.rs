//! Tests of the server side of `/join`: the joiner's `/status` check, its
//! announcement to the members, and the reply.

use std::collections::BTreeSet;

use super::*;
use crate::error::CallError;

const JOINER_TOKEN: ReplyToken = ReplyToken(41);

/// Server "s" with members b and c, and the time it joined.
fn server() -> (Membership, Instant) {
    let b = member("b", "10.0.0.2:9338");
    let c = member("c", "10.0.0.3:9338");
    joined_core("s", &b, &[c])
}

/// Hands `s` a `/join` from `x` at `::ffff:10.1.2.3`, with no ip nor port,
/// and returns the `/status` check it makes.
fn ask_to_join(s: &mut Membership, now: Instant) -> Sent {
    let request = join_request(Some("x"), None, None);
    s.handle_request(now, JOINER_TOKEN, anonymous("::ffff:10.1.2.3"), request);
    only_call(&drain(s), "/status")
}

/// Asserts that `s` refused the joiner with a refusal matching `expected`,
/// and that nothing else changed.
fn assert_refused(s: &mut Membership, version: u64, expected: fn(&Refusal) -> bool) {
    let reply = only_reply(&drain(s), JOINER_TOKEN);
    assert!(matches!(&reply, Err(r) if expected(r)), "{reply:?}");
    assert_eq!(member_ids(s), ["b", "c"]);
    assert_eq!(s.version(), version);
    assert!(events(s).is_empty());
}

#[test]
fn a_peercloud_joiner_is_checked_for_up_to_half_its_join_wait_and_an_original_within_a_second() {
    for (incarnation, expected) in [
        (None, Config::default().check_timeout),
        (Some(0), Config::default().join_timeout / 2),
        (Some(3), Config::default().join_timeout / 2),
    ] {
        let (mut s, t0) = server();
        let join = Request::Join(JoinRequest {
            id: Some(pid("j")),
            ip: None,
            port: Some(9338),
            data: None,
            incarnation,
        });
        s.handle_request(t0, ReplyToken(1), anonymous("10.0.0.5"), join);
        let check = only_call(&drain(&mut s), "/status");
        assert_eq!(check.timeout, expected, "incarnation {incarnation:?}");
        assert!(expected <= Config::default().join_timeout / 2);
        // The original gives up on its join after a second.
        assert!(incarnation.is_some() || expected < secs(1));
        // Still waiting a moment before the longest check's end...
        s.handle_timeout(t0 + expected - millis(1));
        assert!(
            replies(&drain(&mut s)).is_empty(),
            "incarnation {incarnation:?}"
        );
        // ...and refused at it.
        s.handle_timeout(t0 + expected);
        let refusal = only_reply(&drain(&mut s), ReplyToken(1));
        assert_eq!(
            refusal,
            Err(Refusal::CheckTimedOut),
            "incarnation {incarnation:?}"
        );
    }
}

#[test]
fn a_joiner_is_checked_at_the_inferred_ipv4_and_the_default_port_before_anything_changes() {
    let (mut s, t0) = server();
    let version = s.version();
    let check = ask_to_join(&mut s, t0);
    assert_eq!(
        check.to,
        addr("10.1.2.3:9338"),
        "::ffff:a.b.c.d is recorded as a.b.c.d"
    );
    assert_eq!(check.timeout, Config::default().check_timeout);
    assert_eq!(member_ids(&s), ["b", "c"]);
    assert_eq!(s.version(), version);
    assert!(events(&mut s).is_empty());
}

#[test]
fn a_joiner_is_checked_at_the_ip_and_port_it_gives() {
    let (mut s, t0) = server();
    let request = join_request(Some("x"), Some("192.168.7.5"), Some(4444));
    s.handle_request(t0, JOINER_TOKEN, anonymous("10.1.2.3"), request);
    let check = only_call(&drain(&mut s), "/status");
    assert_eq!(check.to, addr("192.168.7.5:4444"));
}

#[test]
fn a_checked_joiner_is_announced_to_every_member_added_and_answered_with_the_others() {
    let (mut s, t0) = server();
    let check = ask_to_join(&mut s, t0);
    s.handle_response(t0 + millis(5), check.call, status_of("x"));

    let actions = drain(&mut s);
    let x = Member {
        data: json!({}).into(),
        ..member("x", "10.1.2.3:9338")
    };
    let announced = joined_notice(&x);
    assert_eq!(
        notices(&actions),
        [
            (addr("10.0.0.2:9338"), announced.clone()),
            (addr("10.0.0.3:9338"), announced),
        ]
    );
    let expected = JoinReply {
        status: "joined".to_owned(),
        id: Some(pid("x")),
        ip: Some(Host::parse("10.1.2.3").unwrap()),
        port: Some(9338),
        server: ServerInfo {
            id: pid("s"),
            data: data_of("s"),
            incarnation: Some(0),
        },
        peers: vec![
            PeerInfo::from(&member("b", "10.0.0.2:9338")),
            PeerInfo::from(&member("c", "10.0.0.3:9338")),
        ],
    };
    assert_eq!(actions.len(), 3);
    assert_eq!(
        actions[2],
        Action::Reply {
            token: JOINER_TOKEN,
            reply: Ok(Response::Join(expected))
        },
        "the reply comes after the announcements"
    );
    assert_eq!(member_ids(&s), ["b", "c", "x"]);
    assert_eq!(s.member(&pid("x")), Some(&x));
    assert_eq!(events(&mut s), [Event::PeerJoined(x)]);
}

#[test]
fn a_joiner_answering_its_check_with_another_id_is_refused() {
    let (mut s, t0) = server();
    let version = s.version();
    let check = ask_to_join(&mut s, t0);
    s.handle_response(t0, check.call, status_of("someone-else"));
    assert_refused(&mut s, version, |r| matches!(r, Refusal::CheckFailed(_)));
}

#[test]
fn a_joiner_whose_check_times_out_is_refused_with_check_timed_out() {
    let (mut s, t0) = server();
    let version = s.version();
    let check = ask_to_join(&mut s, t0);
    s.handle_response(t0 + secs(2), check.call, Err(CallError::Timeout));
    assert_refused(&mut s, version, |r| *r == Refusal::CheckTimedOut);
}

#[test]
fn an_unreachable_joiner_is_refused_with_check_failed() {
    let (mut s, t0) = server();
    let version = s.version();
    let check = ask_to_join(&mut s, t0);
    let refused = Err(CallError::Unreachable("connection refused".into()));
    s.handle_response(t0, check.call, refused);
    assert_refused(&mut s, version, |r| matches!(r, Refusal::CheckFailed(_)));
}

#[test]
fn a_join_with_our_id_or_a_members_id_is_refused_as_id_in_use_without_a_check() {
    for taken in ["s", "b"] {
        let (mut s, t0) = server();
        let version = s.version();
        let request = join_request(Some(taken), None, None);
        s.handle_request(t0, JOINER_TOKEN, anonymous("10.1.2.3"), request);
        assert_refused(&mut s, version, |r| matches!(r, Refusal::IdInUse(_)));
    }
}

#[test]
fn a_second_join_with_the_id_of_a_joiner_being_checked_is_refused_as_id_in_use() {
    let (mut s, t0) = server();
    let version = s.version();
    let check = ask_to_join(&mut s, t0);
    let again = join_request(Some("x"), Some("10.6.6.6"), None);
    s.handle_request(t0, ReplyToken(42), anonymous("10.6.6.6"), again);
    assert_eq!(
        only_reply(&drain(&mut s), ReplyToken(42)),
        Err(Refusal::IdInUse(pid("x")))
    );
    assert_eq!(s.version(), version);
    // The first joiner is still admitted once its check passes.
    s.handle_response(t0, check.call, status_of("x"));
    assert!(matches!(
        replies(&drain(&mut s))[..],
        [(JOINER_TOKEN, Ok(Response::Join(_)))]
    ));
    assert_eq!(member_ids(&s), ["b", "c", "x"]);
}

#[test]
fn a_joiner_whose_id_was_taken_during_its_check_is_refused_as_id_in_use() {
    let (mut s, t0) = server();
    let check = ask_to_join(&mut s, t0);
    // Meanwhile another member admitted a peer with the same id.
    let other_x = member("x", "10.0.0.24:9338");
    s.handle_request(t0, ReplyToken(7), origin("b"), joined_notice(&other_x));
    drain(&mut s);
    events(&mut s);
    let version = s.version();
    s.handle_response(t0, check.call, status_of("x"));
    assert_eq!(
        only_reply(&drain(&mut s), JOINER_TOKEN),
        Err(Refusal::IdInUse(pid("x")))
    );
    assert_eq!(s.member(&pid("x")), Some(&other_x));
    assert_eq!(s.version(), version);
}

#[test]
fn a_join_without_an_id_is_admitted_under_an_id_made_for_it_when_its_status_has_no_id() {
    let (mut s, t0) = server();
    s.handle_request(
        t0,
        JOINER_TOKEN,
        anonymous("10.1.2.3"),
        join_request(None, None, None),
    );
    let check = only_call(&drain(&mut s), "/status");
    assert_eq!(check.to, addr("10.1.2.3:9338"));
    // A joiner that has no id yet answers its check without one, as the
    // protocol allows; the original refused it, peercloud admits it under
    // the id made for it.
    let no_id = Ok(Response::Status(StatusReply {
        id: None,
        online: true,
        listening: true,
        joined: false,
        digest: None,
        incarnation: None,
        gossip: Default::default(),
    }));
    s.handle_response(t0, check.call, no_id);
    let actions = drain(&mut s);
    let Some(Ok(Response::Join(reply))) = actions.iter().find_map(|a| match a {
        Action::Reply { token, reply } if *token == JOINER_TOKEN => Some(reply.clone()),
        _ => None,
    }) else {
        panic!("the joiner was not admitted: {actions:?}")
    };
    let made = reply
        .id
        .expect("the reply carries the id made for the joiner");
    assert!(s.member(&made).is_some());
}

#[test]
fn a_joiner_that_gave_an_id_must_answer_its_check_with_it() {
    let (mut s, t0) = server();
    let check = ask_to_join(&mut s, t0);
    let no_id = Ok(Response::Status(StatusReply {
        id: None,
        online: true,
        listening: true,
        joined: false,
        digest: None,
        incarnation: None,
        gossip: Default::default(),
    }));
    s.handle_response(t0, check.call, no_id);
    let reply = only_reply(&drain(&mut s), JOINER_TOKEN);
    assert!(matches!(reply, Err(Refusal::CheckFailed(_))), "{reply:?}");
}

#[test]
fn two_joiners_checked_at_once_are_both_admitted_and_the_second_learns_of_the_first() {
    let (mut s, t0) = alone_core("s");
    let x_join = join_request(Some("x"), None, None);
    s.handle_request(t0, ReplyToken(1), anonymous("10.0.0.24"), x_join);
    let y_join = join_request(Some("y"), None, None);
    s.handle_request(t0, ReplyToken(2), anonymous("10.0.0.25"), y_join);
    let checks = calls_to(&drain(&mut s), "/status");
    assert_eq!(checks.len(), 2);

    s.handle_response(t0, checks[0].call, status_of("x"));
    let Ok(Response::Join(to_x)) = only_reply(&drain(&mut s), ReplyToken(1)) else {
        panic!("x was not admitted")
    };
    assert!(to_x.peers.is_empty());

    s.handle_response(t0, checks[1].call, status_of("y"));
    let actions = drain(&mut s);
    let y = Member {
        data: json!({}).into(),
        ..member("y", "10.0.0.25:9338")
    };
    assert_eq!(
        notices(&actions),
        [(addr("10.0.0.24:9338"), joined_notice(&y))]
    );
    let Ok(Response::Join(to_y)) = replies(&actions).remove(0).1 else {
        panic!("y was not admitted")
    };
    let peers: Vec<_> = to_y.peers.iter().map(|p| p.id.to_string()).collect();
    assert_eq!(peers, ["x"]);
    assert_eq!(member_ids(&s), ["x", "y"]);
}

#[test]
fn status_is_answered_to_anyone_with_our_id() {
    let (mut s, t0) = server();
    s.handle_request(
        t0,
        ReplyToken(3),
        anonymous("10.7.7.7"),
        Request::Status(Default::default()),
    );
    let Ok(Response::Status(status)) = only_reply(&drain(&mut s), ReplyToken(3)) else {
        panic!("not a status reply")
    };
    assert_eq!(status.id, Some(pid("s")));
    assert!(status.online && status.listening && status.joined);
    let digest = status.digest.expect("peercloud peers send their digest");
    assert!(
        digest.starts_with(&format!("{}-", s.members().len() + 1)),
        "{digest}"
    );
}

#[test]
fn a_joiner_at_a_members_place_replaces_it_and_never_hears_of_its_former_self() {
    let (mut s, t0) = server();
    // c restarted at its address under a new id, "c2".
    let request = join_request(Some("c2"), Some("10.0.0.3"), Some(9338));
    s.handle_request(t0, JOINER_TOKEN, anonymous("10.0.0.3"), request);
    let check = only_call(&drain(&mut s), "/status");
    s.handle_response(t0, check.call, status_of("c2"));
    let actions = drain(&mut s);
    let Some((_, Ok(Response::Join(reply)))) = replies(&actions).pop() else {
        panic!("no join reply: {actions:#?}")
    };
    let listed: Vec<&str> = reply.peers.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(listed, ["b"], "the reply does not list c, its former self");
    let told: Vec<Address> = notices(&actions)
        .into_iter()
        .filter(|(_, n)| matches!(n, Request::Joined(_)))
        .map(|(to, _)| to)
        .collect();
    assert_eq!(told, [addr("10.0.0.2:9338")], "nobody tells c2 of itself");
    assert_eq!(member_ids(&s), ["b", "c2"]);
}

#[test]
fn a_joiner_is_announced_by_gossip_to_peercloud_members_and_by_notice_to_original_ones() {
    let (b, c, o) = (
        member("b", "10.0.0.2:9338"),
        member("c", "10.0.0.3:9338"),
        member("o", "10.0.0.4:9338"),
    );
    let peers = vec![PeerInfo::of(&c, Some(0)), PeerInfo::of(&o, None)];
    let (mut s, t0) = joined_core_as_told("s", &b, Some(0), peers);
    let check = ask_to_join(&mut s, t0);
    let mut answer = status_of("x");
    if let Ok(Response::Status(status)) = &mut answer {
        status.incarnation = Some(0);
    }
    s.handle_response(t0 + millis(5), check.call, answer);

    let actions = drain(&mut s);
    let x = Member {
        data: json!({}).into(),
        ..member("x", "10.1.2.3:9338")
    };
    let notified: Vec<Address> = notices(&actions).into_iter().map(|(to, _)| to).collect();
    assert_eq!(
        notified,
        [o.address()],
        "only the original peer gets /joined"
    );
    let gossiped: BTreeSet<Address> = calls_to(&actions, "/gossip")
        .into_iter()
        .filter(|sent| match &sent.request {
            Request::Gossip(envelope) => envelope.updates.first().is_some_and(|u| {
                u.id == x.id
                    && u.kind == crate::wire::UpdateKind::Alive
                    && u.ip == Some(x.host.clone())
            }),
            _ => false,
        })
        .map(|sent| sent.to)
        .collect();
    assert_eq!(
        gossiped,
        BTreeSet::from([b.address(), c.address()]),
        "a small cloud's peercloud members hear of the joiner at once"
    );
    assert!(
        matches!(
            actions.last(),
            Some(Action::Reply {
                token: JOINER_TOKEN,
                reply: Ok(Response::Join(_))
            })
        ),
        "the reply comes after the announcements"
    );
    assert_eq!(member_ids(&s), ["b", "c", "o", "x"]);
}

#[test]
fn an_original_joiner_is_announced_to_every_member_by_notice() {
    let (b, c) = (member("b", "10.0.0.2:9338"), member("c", "10.0.0.3:9338"));
    let peers = vec![PeerInfo::of(&c, Some(0))];
    let (mut s, t0) = joined_core_as_told("s", &b, Some(0), peers);
    let check = ask_to_join(&mut s, t0);
    // An original peer's status has no incarnation.
    s.handle_response(t0 + millis(5), check.call, status_of("x"));
    let actions = drain(&mut s);
    let notified: BTreeSet<Address> = notices(&actions).into_iter().map(|(to, _)| to).collect();
    assert_eq!(notified, BTreeSet::from([b.address(), c.address()]));
    assert!(
        calls_to(&actions, "/gossip").is_empty(),
        "gossip speaks of peercloud peers only"
    );
}
