//! Tests of anti-entropy: digests in `/status` answers, pulling a list that
//! differs with `/peers`, and checking the members it names.

use super::*;
use crate::wire::{record_hash, Envelope, Held, PeersReply, PeersRequest, Update, UpdateKind};

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
            data: (*server.data).clone(),
            incarnation: None,
        },
        peers: peers.iter().map(PeerInfo::from).collect(),
        lacking: None,
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

/// News that `member` is alive at `incarnation`, with its record.
fn alive(member: &Member, incarnation: u64) -> Update {
    Update {
        ip: Some(member.host.clone()),
        port: Some(member.port),
        data: Some(member.data.clone()),
        ..Update::about(UpdateKind::Alive, member.id.clone(), incarnation)
    }
}

/// How many sends the news of a join (n) and of a refutation (m2 at
/// incarnation 1) that m1 told `p` count once a probe of `p` is answered
/// with `digest` (`own`: `p`'s own).
fn sends_after_an_answer_with(digest: Option<&str>) -> (Option<u32>, Option<u32>) {
    let (mut p, t0, members) = with_two_members();
    let n = member("n", "10.0.0.7:9338");
    let news = Envelope {
        from: None,
        updates: vec![alive(&n, 0), alive(&members[1], 1)],
    };
    p.handle_request(t0, ReplyToken(1), origin("m1"), Request::Gossip(news));
    drain(&mut p);
    let members = [members, vec![n]].concat();
    let digest = digest.map(|d| if d == "own" { p.digest() } else { d.to_owned() });
    probe_answered_with(&mut p, t0 + secs(1), &members, digest);
    (
        p.gossip.times_sent(&pid("n")),
        p.gossip.times_sent(&pid("m2")),
    )
}

#[test]
fn an_answer_with_this_peers_digest_counts_as_one_more_send_of_each_join_only() {
    let (join, refutation) = sends_after_an_answer_with(None);
    let join = join.expect("the join waits to be sent");
    let refutation = refutation.expect("the refutation waits to be sent");
    assert_eq!(
        sends_after_an_answer_with(Some("own")),
        (Some(join + 1), Some(refutation)),
        "the member knows every member this peer knows: the join is news to nobody there"
    );
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
fn a_different_digest_pulls_the_list_and_adds_the_members_it_lists_in_one_call() {
    let (mut p, t0, members) = with_two_members();
    let at = t0 + secs(1);
    let (after, probed) = probe_answered_with(&mut p, at, &members, Some("9-0".into()));
    let pull = only_call(&after, "/peers");
    assert_eq!(pull.to, probed.address());
    events(&mut p);

    let (n1, n2) = (member("n1", "10.0.0.7:9338"), member("n2", "10.0.0.8:9338"));
    let listed = [
        members[0].clone(),
        members[1].clone(),
        n1.clone(),
        n2.clone(),
        member("p", "10.0.0.99:9338"),
    ];
    p.handle_response(at, pull.call, peers_reply(&probed, &listed));
    assert_eq!(member_ids(&p), ["m1", "m2", "n1", "n2"], "never itself");
    assert_eq!(
        events(&mut p),
        [Event::PeerJoined(n1), Event::PeerJoined(n2)]
    );
    assert!(
        drain(&mut p).is_empty(),
        "no check, and a member learned by sync is not announced"
    );
}

#[test]
fn a_listed_member_at_a_members_place_is_checked_and_an_impostor_is_not_added() {
    let (mut p, t0, members) = with_two_members();
    let at = t0 + secs(1);
    let (after, probed) = probe_answered_with(&mut p, at, &members, Some("9-0".into()));
    let pull = only_call(&after, "/peers");
    let other = if probed.id == members[0].id {
        &members[1]
    } else {
        &members[0]
    };
    let impostor = member("n1", &other.address().to_string());
    p.handle_response(at, pull.call, peers_reply(&probed, &[impostor]));
    let check = only_call(&drain(&mut p), "/status");
    assert_eq!(check.to, other.address());
    p.handle_response(at, check.call, status_of("someone-else"));
    assert_eq!(member_ids(&p), ["m1", "m2"]);
}

#[test]
fn a_huge_list_is_taken_in_one_pull_up_to_the_member_limit() {
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
    assert!(calls_to(&drain(&mut p), "/status").is_empty());
    assert_eq!(p.members().len(), Config::default().max_members);
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
    p.handle_request(
        t0,
        ReplyToken(5),
        anonymous("10.7.7.7"),
        Request::Peers(Default::default()),
    );
    let Ok(Response::Peers(reply)) = only_reply(&drain(&mut p), ReplyToken(5)) else {
        panic!("not a peers reply")
    };
    assert_eq!(reply.server.id, pid("p"));
    let listed: Vec<PeerInfo> = members.iter().map(PeerInfo::from).collect();
    assert_eq!(reply.peers, listed);
}

#[test]
fn while_the_list_is_still_changing_a_differing_digest_waits_for_quiet_or_overdue() {
    let wait = u64::from(super::super::sync::MAX_WAIT_ANSWERS);
    assert!(wait >= 2, "a busy list waits at least one probe");
    let (mut p, t0, mut members) = with_two_members();
    // A first pull is made at once, and answered with nothing new. The
    // member's list differs and is no longer than this peer's.
    let at = t0 + secs(1);
    let (after, probed) = probe_answered_with(&mut p, at, &members, Some("2-0".into()));
    let pull = only_call(&after, "/peers");
    p.handle_response(at, pull.call, peers_reply(&probed, &members));
    // Then news keeps arriving, one before each probe (a second apart).
    for n in 2..2 + wait {
        let newcomer = member(&format!("n{n}"), &format!("10.0.1.{n}:9338"));
        p.handle_request(
            t0 + secs(n),
            ReplyToken(n),
            origin("m1"),
            joined_notice(&newcomer),
        );
        drain(&mut p);
        members.push(newcomer);
        let (after, _) = probe_answered_with(&mut p, t0 + secs(n), &members, Some("2-0".into()));
        let overdue = n > wait;
        let pulls = calls_to(&after, "/peers").len();
        assert_eq!(
            pulls,
            usize::from(overdue),
            "at {n} s: a pull only once overdue while news still arrives: {after:#?}"
        );
        if let Some(pull) = calls_to(&after, "/peers").first() {
            p.handle_response(t0 + secs(n), pull.call, peers_reply(&probed, &members));
        }
    }
    // A quiet list pulls at the next differing digest.
    let quiet_at = t0 + secs(3 + wait);
    let (after, _) = probe_answered_with(&mut p, quiet_at, &members, Some("2-0".into()));
    only_call(&after, "/peers");
}

#[test]
fn an_answer_counting_more_members_than_this_peer_knows_pulls_while_news_still_arrives() {
    // After a first pull, news arrives before the next probe: the list is
    // not quiet, and one answer since the pull is not overdue. With
    // itself, this peer then knows 4.
    let after_news = |answered: &str| {
        let (mut p, t0, members) = with_two_members();
        let at = t0 + secs(1);
        let (after, probed) = probe_answered_with(&mut p, at, &members, Some("2-0".into()));
        let pull = only_call(&after, "/peers");
        p.handle_response(at, pull.call, peers_reply(&probed, &members));
        let newcomer = member("n2", "10.0.1.2:9338");
        let notice = joined_notice(&newcomer);
        p.handle_request(t0 + secs(2), ReplyToken(2), origin("m1"), notice);
        drain(&mut p);
        let (after, _) = probe_answered_with(&mut p, t0 + secs(2), &members, Some(answered.into()));
        calls_to(&after, "/peers").len()
    };
    assert_eq!(
        after_news("4-1"),
        0,
        "as many members as this peer knows: it waits"
    );
    assert_eq!(after_news("3-1"), 0, "fewer: it waits");
    assert_eq!(after_news("5-1"), 1, "more: it pulls at once");
}

#[test]
fn a_member_the_pulled_list_lacks_is_probed_next() {
    let members: Vec<Member> = (1..=6)
        .map(|i| member(&format!("m{i}"), &format!("10.0.0.{i}:9338")))
        .collect();
    // Two cores alike (same rng seed): one pulls a list that lacks a
    // member, the other a whole one.
    let run = |lacking: Option<&PeerId>| {
        let (mut p, t0) = joined_core("p", &members[0], &members[1..]);
        let at = t0 + secs(1);
        let (after, probed) = probe_answered_with(&mut p, at, &members, Some("9-0".into()));
        let pull = only_call(&after, "/peers");
        let listed: Vec<Member> = members
            .iter()
            .filter(|m| Some(&m.id) != lacking)
            .cloned()
            .collect();
        p.handle_response(at, pull.call, peers_reply(&probed, &listed));
        p.handle_timeout(t0 + secs(2));
        (probed, only_call(&drain(&mut p), "/status").to)
    };
    let (probed, natural) = run(None);
    let lacking = members
        .iter()
        .find(|m| m.address() != natural && m.id != probed.id)
        .unwrap();
    let (_, next) = run(Some(&lacking.id));
    assert_eq!(next, lacking.address(), "probed next, not {natural}");
}

#[test]
fn a_pulled_list_in_any_order_or_with_repeats_is_taken_as_the_same_list() {
    use rand::seq::{IndexedRandom, SliceRandom};
    use rand::SeedableRng;

    let members: Vec<Member> = (1..=6)
        .map(|i| member(&format!("m{i}"), &format!("10.0.0.{i}:9338")))
        .collect();
    let new: Vec<Member> = (1..=4)
        .map(|i| member(&format!("n{i}"), &format!("10.0.1.{i}:9338")))
        .collect();
    // The list lacks m4 and names four members this peer does not know.
    let listed: Vec<Member> = members
        .iter()
        .filter(|m| m.id.as_str() != "m4")
        .chain(&new)
        .cloned()
        .collect();
    // What the pull leaves: the members, the events, the next probe.
    let run = |listed: &[Member]| {
        let (mut p, t0) = joined_core("p", &members[0], &members[1..]);
        let at = t0 + secs(1);
        let (after, probed) = probe_answered_with(&mut p, at, &members, Some("9-0".into()));
        let pull = only_call(&after, "/peers");
        events(&mut p);
        p.handle_response(at, pull.call, peers_reply(&probed, listed));
        let joined = events(&mut p);
        p.handle_timeout(t0 + secs(2));
        let next = only_call(&drain(&mut p), "/status").to;
        (member_ids(&p), joined, next)
    };
    let (ids, joined, next) = run(&listed);
    assert_eq!(
        ids,
        ["m1", "m2", "m3", "m4", "m5", "m6", "n1", "n2", "n3", "n4"]
    );
    assert_eq!(joined.len(), 4, "{joined:#?}");
    assert_eq!(next, members[3].address(), "m4, which the list lacks");
    for seed in 0..32 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut shuffled = listed.clone();
        shuffled.extend(listed.choose_multiple(&mut rng, 3).cloned());
        shuffled.shuffle(&mut rng);
        let (s_ids, s_joined, s_next) = run(&shuffled);
        assert_eq!(s_ids, ids, "seed {seed}");
        assert_eq!(s_joined, joined, "seed {seed}: events in the order of ids");
        assert_eq!(s_next, next, "seed {seed}");
    }
}

#[test]
fn a_list_quiet_since_the_last_probe_pulls_however_the_answers_jitter() {
    let (mut p, t0, mut members) = with_two_members();
    // Answers come a few milliseconds after each probe, by latency.
    let answer = |p: &mut Membership, tick: Instant, late: Duration, members: &[Member]| {
        p.handle_timeout(tick);
        let probe = only_call(&drain(p), "/status");
        let target = members.iter().find(|m| m.address() == probe.to).unwrap();
        let status = status_with_digest(target.id.as_str(), Some("2-0".into()));
        p.handle_response(tick + late, probe.call, status);
        (drain(p), target.clone())
    };
    // The first differing digest pulls at once; the list holds nothing new.
    let (after, probed) = answer(&mut p, t0 + secs(1), millis(5), &members);
    let pull = only_call(&after, "/peers");
    p.handle_response(
        t0 + secs(1) + millis(5),
        pull.call,
        peers_reply(&probed, &members),
    );
    // News comes in before the next probe: that answer does not pull.
    let newcomer = member("n1", "10.0.1.1:9338");
    let notice = joined_notice(&newcomer);
    p.handle_request(t0 + millis(1500), ReplyToken(1), origin("m1"), notice);
    drain(&mut p);
    members.push(newcomer);
    let (after, _) = answer(&mut p, t0 + secs(2), millis(2), &members);
    assert!(calls_to(&after, "/peers").is_empty(), "{after:#?}");
    // The next answer comes a hair less than an interval later: the list
    // did not change between the two, which is what quiet means.
    let (after, _) = answer(&mut p, t0 + secs(3), millis(1), &members);
    only_call(&after, "/peers");
}

/// A `/peers` answer from a peer that knows the extension: the members
/// `peers` this peer lacks, and the hashes it sent that `server` lacks.
fn partial_reply(server: &Member, peers: &[Member], lacking: Held) -> CallResult {
    let Ok(Response::Peers(mut reply)) = peers_reply(server, peers) else {
        unreachable!("peers_reply makes a /peers answer")
    };
    reply.lacking = Some(lacking);
    Ok(Response::Peers(reply))
}

#[test]
fn a_pull_names_each_record_this_peer_holds_its_own_included() {
    let (mut p, t0, members) = with_two_members();
    let (after, _) = probe_answered_with(&mut p, t0 + secs(1), &members, Some("9-0".into()));
    let pull = only_call(&after, "/peers");
    let Request::Peers(PeersRequest { have: Some(have) }) = &pull.request else {
        panic!("a pull that names nothing: {pull:#?}")
    };
    let held = [pid("p"), members[0].id.clone(), members[1].id.clone()];
    assert_eq!(*have, Held::new(held.iter().map(|id| record_hash(id, 0))));
}

#[test]
fn an_answer_that_names_what_it_lacks_has_those_probed_next_and_no_member_for_being_unlisted() {
    let members: Vec<Member> = (1..=6)
        .map(|i| member(&format!("m{i}"), &format!("10.0.0.{i}:9338")))
        .collect();
    // Cores alike (same rng seed), each answered otherwise; the members
    // probed in the four ticks after the pull.
    let run = |answer: &dyn Fn(&Member) -> CallResult| {
        let (mut p, t0) = joined_core("p", &members[0], &members[1..]);
        let at = t0 + secs(1);
        let (after, probed) = probe_answered_with(&mut p, at, &members, Some("9-0".into()));
        let pull = only_call(&after, "/peers");
        p.handle_response(at, pull.call, answer(&probed));
        let next: Vec<PeerId> = (2..6)
            .map(|s| {
                let own = Some(p.digest());
                let (after, target) = probe_answered_with(&mut p, t0 + secs(s), &members, own);
                assert!(after.is_empty(), "{after:#?}");
                target.id
            })
            .collect();
        (probed, next)
    };
    let refused = |_: &Member| {
        Err(crate::error::CallError::Refused {
            status: 503,
            body: "{}".into(),
        })
    };
    let (probed, natural) = run(&refused);
    // Listing nothing, it tells nothing of the members it does not list.
    let (_, next) = run(&|server| partial_reply(server, &[], Held::default()));
    assert_eq!(next, natural);
    let lacked = members
        .iter()
        .find(|m| m.id != natural[0] && m.id != probed.id)
        .unwrap();
    let lacking = Held::new([record_hash(&lacked.id, 0)]);
    let (_, next) = run(&|server| partial_reply(server, &[], lacking.clone()));
    assert_eq!(next[0], lacked.id, "probed next, not {}", natural[0]);
    // Lacked as this peer holds it, but listed: held there otherwise.
    let listed = std::slice::from_ref(lacked);
    let (_, next) = run(&|server| partial_reply(server, listed, lacking.clone()));
    assert_eq!(next, natural, "{} is held there", lacked.id);
}

#[test]
fn peers_asked_with_what_the_asker_holds_is_answered_with_the_rest() {
    let (mut p, t0, members) = with_two_members();
    let stranger = 0x0123_4567_89ab_cdef;
    let have = Held::new([record_hash(&members[0].id, 0), stranger]);
    let request = Request::Peers(PeersRequest { have: Some(have) });
    p.handle_request(t0, ReplyToken(5), anonymous("10.7.7.7"), request);
    let Ok(Response::Peers(reply)) = only_reply(&drain(&mut p), ReplyToken(5)) else {
        panic!("not a peers reply")
    };
    assert_eq!(reply.peers, [PeerInfo::from(&members[1])]);
    assert_eq!(reply.lacking, Some(Held::new([stranger])));
}
