//! Tests of anti-entropy: digests in `/status` answers, pulling a list that
//! differs with `/peers`, and checking the members it names.

use super::*;
use crate::wire::PeersReply;

/// Peer "p" that joined through m1, which listed m2; everything drained.
fn with_two_members() -> (Membership, Instant, Vec<Member>) {
    let members = vec![member("m1", "10.0.0.1:9338"), member("m2", "10.0.0.2:9338")];
    let (core, t0) = joined_core("p", &members[0], &members[1..]);
    (core, t0, members)
}

/// A probe answer from `id` carrying `digest`.
fn status_with_digest(id: &str, digest: Option<String>) -> CallResult {
    Ok(Response::Status(StatusReply {
        id: Some(pid(id)),
        online: true,
        listening: true,
        joined: true,
        digest,
        incarnation: Some(0),
        gossip: Default::default(),
    }))
}

/// Runs the next probe tick and answers its probe with `digest`; returns
/// what the core did next and which member it probed.
fn probe_answered_with(
    p: &mut Membership,
    at: Instant,
    members: &[Member],
    digest: Option<String>,
) -> (Vec<Action>, Member) {
    p.handle_timeout(at);
    let probe = only_call(&drain(p), "/status");
    let target = members.iter().find(|m| m.address() == probe.to).unwrap();
    p.handle_response(
        at,
        probe.call,
        status_with_digest(target.id.as_str(), digest),
    );
    (drain(p), target.clone())
}

fn peers_reply(server: &Member, peers: &[Member]) -> CallResult {
    Ok(Response::Peers(PeersReply {
        server: ServerInfo {
            id: server.id.clone(),
            data: server.data.clone(),
            incarnation: None,
        },
        peers: peers.iter().map(PeerInfo::from).collect(),
    }))
}

#[test]
fn the_digest_depends_on_the_members_and_not_on_the_order_they_came_in() {
    let (a, b, c) = (
        member("a", "10.0.0.1:1"),
        member("b", "10.0.0.2:1"),
        member("c", "10.0.0.3:1"),
    );
    let (x, _) = joined_core("me", &a, &[b.clone(), c.clone()]);
    let (y, _) = joined_core("me", &c, &[b.clone(), a.clone()]);
    assert_eq!(x.digest(), y.digest());
    assert!(x.digest().starts_with("4-"), "{}", x.digest());
    let (z, _) = joined_core("me", &a, std::slice::from_ref(&b));
    assert_ne!(x.digest(), z.digest());
    // The same list seen from another member of it has the same digest.
    let (w, _) = joined_core("a", &member("me", "10.0.0.9:1"), &[b, c]);
    assert_eq!(x.digest(), w.digest());
}

#[test]
fn an_equal_digest_or_none_at_all_asks_for_nothing() {
    let (mut p, t0, members) = with_two_members();
    let own = Some(p.digest());
    let (after, _) = probe_answered_with(&mut p, t0 + secs(1), &members, own);
    assert!(after.is_empty(), "{after:#?}");
    // Original peers send no digest, and have no /peers to ask.
    let (after, _) = probe_answered_with(&mut p, t0 + secs(2), &members, None);
    assert!(after.is_empty(), "{after:#?}");
}

#[test]
fn a_different_digest_pulls_the_list_and_adds_the_members_that_answer() {
    let (mut p, t0, members) = with_two_members();
    let at = t0 + secs(1);
    let (after, probed) = probe_answered_with(&mut p, at, &members, Some("9-0".into()));
    let pull = only_call(&after, "/peers");
    assert_eq!(pull.to, probed.address());

    let (alive, dead) = (member("n1", "10.0.0.7:9338"), member("n2", "10.0.0.8:9338"));
    let listed = [
        members[0].clone(),
        members[1].clone(),
        alive.clone(),
        dead.clone(),
        member("p", "10.0.0.99:9338"),
    ];
    p.handle_response(at, pull.call, peers_reply(&probed, &listed));
    let checks = calls_to(&drain(&mut p), "/status");
    let checked: Vec<Address> = checks.iter().map(|c| c.to.clone()).collect();
    assert_eq!(
        checked,
        [alive.address(), dead.address()],
        "only unknown members, never itself"
    );
    assert_eq!(checks[0].timeout, Config::default().check_timeout);
    events(&mut p);

    p.handle_response(at, checks[0].call, status_of("n1"));
    p.handle_response(at, checks[1].call, Err(crate::error::CallError::Timeout));
    assert_eq!(member_ids(&p), ["m1", "m2", "n1"]);
    assert_eq!(events(&mut p), [Event::PeerJoined(alive)]);
    assert!(
        drain(&mut p).is_empty(),
        "a member learned by sync is not announced"
    );
}

#[test]
fn a_member_answering_with_another_id_is_not_added() {
    let (mut p, t0, members) = with_two_members();
    let at = t0 + secs(1);
    let (after, probed) = probe_answered_with(&mut p, at, &members, Some("9-0".into()));
    let pull = only_call(&after, "/peers");
    let impostor = member("n1", "10.0.0.7:9338");
    p.handle_response(at, pull.call, peers_reply(&probed, &[impostor]));
    let check = only_call(&drain(&mut p), "/status");
    p.handle_response(at, check.call, status_of("someone-else"));
    assert_eq!(member_ids(&p), ["m1", "m2"]);
}

#[test]
fn a_huge_list_starts_a_bounded_number_of_checks_and_one_pull_at_a_time() {
    let (mut p, t0, members) = with_two_members();
    let at = t0 + secs(1);
    let (after, probed) = probe_answered_with(&mut p, at, &members, Some("9-0".into()));
    let pull = only_call(&after, "/peers");
    // While the pull is under way, another differing digest pulls nothing.
    let (after, _) = probe_answered_with(&mut p, t0 + secs(2), &members, Some("9-1".into()));
    assert!(after.is_empty(), "{after:#?}");

    let many: Vec<Member> = (0..5000)
        .map(|i| {
            member(
                &format!("x{i}"),
                &format!("10.1.{}.{}:9338", i / 250, i % 250),
            )
        })
        .collect();
    p.handle_response(at, pull.call, peers_reply(&probed, &many));
    let checks = calls_to(&drain(&mut p), "/status");
    assert_eq!(checks.len(), super::super::sync::MAX_SYNC_CHECKS);
}

#[test]
fn a_failed_or_refused_pull_changes_nothing_and_a_later_probe_pulls_again() {
    let (mut p, t0, members) = with_two_members();
    let (after, _) = probe_answered_with(&mut p, t0 + secs(1), &members, Some("9-0".into()));
    let pull = only_call(&after, "/peers");
    let refused = Err(crate::error::CallError::Refused {
        status: 404,
        body: "{\"error\":\"no such endpoint\"}".into(),
    });
    p.handle_response(t0 + secs(1), pull.call, refused);
    assert!(drain(&mut p).is_empty());
    assert_eq!(member_ids(&p), ["m1", "m2"]);
    let (after, _) = probe_answered_with(&mut p, t0 + secs(2), &members, Some("9-0".into()));
    only_call(&after, "/peers");
}

#[test]
fn peers_is_answered_with_this_peer_and_its_members() {
    let (mut p, t0, members) = with_two_members();
    p.handle_request(t0, ReplyToken(5), anonymous("10.7.7.7"), Request::Peers);
    let Ok(Response::Peers(reply)) = only_reply(&drain(&mut p), ReplyToken(5)) else {
        panic!("not a peers reply")
    };
    assert_eq!(reply.server.id, pid("p"));
    let listed: Vec<PeerInfo> = members.iter().map(PeerInfo::from).collect();
    assert_eq!(reply.peers, listed);
}

#[test]
fn while_the_list_is_still_changing_a_differing_digest_waits_for_quiet() {
    let (mut p, t0, mut members) = with_two_members();
    // A first pull is made at once, and answered with nothing new.
    let at = t0 + secs(1);
    let (after, probed) = probe_answered_with(&mut p, at, &members, Some("9-0".into()));
    let pull = only_call(&after, "/peers");
    p.handle_response(at, pull.call, peers_reply(&probed, &members));
    // Then notices keep arriving, one before each probe.
    for n in 2..5u64 {
        let newcomer = member(&format!("n{n}"), &format!("10.0.1.{n}:9338"));
        p.handle_request(
            t0 + secs(n),
            ReplyToken(n),
            origin("m1"),
            joined_notice(&newcomer),
        );
        drain(&mut p);
        members.push(newcomer);
        let (after, _) = probe_answered_with(&mut p, t0 + secs(n), &members, Some("9-0".into()));
        assert!(
            after.is_empty(),
            "no pull while notices still arrive: {after:#?}"
        );
    }
    // A second with no change: now the difference is worth a pull.
    let (after, _) = probe_answered_with(&mut p, t0 + secs(5), &members, Some("9-0".into()));
    only_call(&after, "/peers");
}
