//! Tests of gossip's merge rules: incarnations, refutation, confirmations,
//! first-hand and second-hand news, and what strangers may say.

use std::collections::BTreeSet;
use std::time::Duration;

use super::*;
use crate::wire::{Envelope, Update, UpdateKind};

/// Peer "p" in a cloud of peercloud peers m1..=m3 (incarnation 0).
fn rust_cloud() -> (Membership, Instant) {
    let members: Vec<Member> = (1..=3)
        .map(|i| member(&format!("m{i}"), &format!("10.0.0.{i}:9338")))
        .collect();
    let peers = members[1..]
        .iter()
        .map(|m| PeerInfo::of(m, Some(0)))
        .collect();
    joined_core_as_told("p", &members[0], Some(0), peers)
}

/// Hands `p` a `/gossip` from `sender` holding `updates`; returns what it
/// did.
fn gossip(p: &mut Membership, at: Instant, sender: &str, updates: Vec<Update>) -> Vec<Action> {
    let envelope = Envelope {
        from: None,
        updates,
    };
    p.handle_request(at, ReplyToken(7), origin(sender), Request::Gossip(envelope));
    drain(p)
}

fn alive(id: &str, incarnation: u64, data: Value) -> Update {
    let at = member(id, "10.0.0.9:9338");
    Update {
        ip: Some(at.host),
        port: Some(at.port),
        data: Some(data.into()),
        ..Update::about(UpdateKind::Alive, pid(id), incarnation)
    }
}

fn about(kind: UpdateKind, id: &str, incarnation: u64, by: &str) -> Update {
    Update {
        by: Some(pid(by)),
        ..Update::about(kind, pid(id), incarnation)
    }
}

/// The updates about `id` in the `/gossip` pushes among `actions`, by
/// receiver.
fn pushed_about(actions: &[Action], id: &str) -> Vec<(Address, Update)> {
    calls_to(actions, "/gossip")
        .into_iter()
        .flat_map(|sent| {
            let Request::Gossip(envelope) = sent.request else {
                return Vec::new();
            };
            envelope
                .updates
                .into_iter()
                .filter(|u| u.id.as_str() == id)
                .map(|u| (sent.to.clone(), u))
                .collect()
        })
        .collect()
}

#[test]
fn a_suspicion_of_this_peer_is_refuted_with_a_higher_incarnation_told_to_every_member() {
    let (mut p, t0) = rust_cloud();
    let actions = gossip(
        &mut p,
        t0,
        "m1",
        vec![about(UpdateKind::Suspect, "p", 0, "m2")],
    );
    assert_eq!(p.incarnation(), 1);
    let pushed = pushed_about(&actions, "p");
    assert_eq!(pushed.len(), 3, "{actions:#?}");
    for (_, update) in &pushed {
        assert_eq!((update.kind, update.incarnation), (UpdateKind::Alive, 1));
    }
    // The reply to the accusation itself carries the refutation too.
    let reply = replies(&actions);
    let Some((_, Ok(Response::Gossip(back)))) = reply.first() else {
        panic!("no gossip reply: {reply:?}")
    };
    assert!(back
        .updates
        .iter()
        .any(|u| u.id == pid("p") && u.incarnation == 1));
}

#[test]
fn an_accusation_of_an_older_incarnation_is_not_refuted_again_but_its_sender_hears_the_refutation()
{
    let (mut p, t0) = rust_cloud();
    gossip(
        &mut p,
        t0,
        "m1",
        vec![about(UpdateKind::Suspect, "p", 0, "m2")],
    );
    // m3 missed the refutation: its suspicion would never end.
    for kind in [UpdateKind::Suspect, UpdateKind::Failed] {
        let actions = gossip(&mut p, t0, "m3", vec![about(kind, "p", 0, "m2")]);
        assert_eq!(p.incarnation(), 1, "{kind:?}");
        let pushed = pushed_about(&actions, "p");
        assert_eq!(pushed.len(), 1, "{kind:?}: {actions:#?}");
        let (to, update) = &pushed[0];
        assert_eq!(*to, addr("10.0.0.3:9338"), "to the accuser");
        assert_eq!((update.kind, update.incarnation), (UpdateKind::Alive, 1));
        assert_eq!(
            update.data.as_deref(),
            Some(&data_of("p")),
            "the whole record"
        );
    }
    // Old news that accuses nobody, or a stranger's accusation, asks for
    // nothing.
    for (kind, sender) in [(UpdateKind::Alive, "m3"), (UpdateKind::Suspect, "x9")] {
        let actions = gossip(&mut p, t0, sender, vec![about(kind, "p", 0, sender)]);
        assert!(
            pushed_about(&actions, "p").is_empty(),
            "{kind:?} from {sender}: {actions:#?}"
        );
    }
    assert_eq!(p.incarnation(), 1);
}

#[test]
fn a_member_suspected_by_a_member_is_suspected_here_and_its_newer_alive_ends_it() {
    let (mut p, t0) = rust_cloud();
    gossip(
        &mut p,
        t0,
        "m1",
        vec![about(UpdateKind::Suspect, "m2", 0, "m1")],
    );
    assert_eq!(p.member_state(&pid("m2")), Some(MemberState::Suspected));
    assert!(matches!(events(&mut p)[..], [Event::PeerSuspected(_)]));

    let newer = json!({"name": "m2", "v": 2});
    gossip(&mut p, t0, "m2", vec![alive("m2", 1, newer.clone())]);
    assert_eq!(p.member_state(&pid("m2")), Some(MemberState::Alive));
    let refreshed = Member {
        data: newer.into(),
        ..member("m2", "10.0.0.9:9338")
    };
    assert_eq!(
        events(&mut p),
        [
            Event::PeerAlive(refreshed.clone()),
            Event::PeerUpdated(refreshed)
        ]
    );
}

#[test]
fn news_of_an_older_or_equal_incarnation_changes_nothing() {
    let (mut p, t0) = rust_cloud();
    gossip(&mut p, t0, "m1", vec![alive("m2", 3, json!({"v": 3}))]);
    events(&mut p);
    let version = p.version();
    gossip(&mut p, t0, "m3", vec![alive("m2", 2, json!({"v": 2}))]);
    gossip(
        &mut p,
        t0,
        "m3",
        vec![alive("m2", 3, json!({"v": "other"}))],
    );
    gossip(
        &mut p,
        t0,
        "m3",
        vec![about(UpdateKind::Suspect, "m2", 2, "m3")],
    );
    assert_eq!(p.member(&pid("m2")).unwrap().data, json!({"v": 3}).into());
    assert_eq!(p.member_state(&pid("m2")), Some(MemberState::Alive));
    assert_eq!(p.version(), version);
    assert!(events(&mut p).is_empty());
}

#[test]
fn each_member_that_confirms_a_suspicion_makes_it_shorter() {
    let (p, _) = rust_cloud();
    let lone = p.suspicion_timeout(0);
    let confirmed = p.suspicion_timeout(1);
    let many = p.suspicion_timeout(5);
    assert!(
        lone > confirmed && confirmed >= many,
        "{lone:?} {confirmed:?} {many:?}"
    );
    assert_eq!(lone, Config::default().suspicion_max);
    assert_eq!(many, Config::default().suspicion_min);
}

#[test]
fn a_late_confirmation_ends_a_suspicion_at_once_and_is_not_taken_for_a_stall() {
    // No probes of p's own: the accusers are m1 and m2 alone.
    let (mut p, t0) = gossiping_cloud();
    gossip(
        &mut p,
        t0,
        "m1",
        vec![about(UpdateKind::Suspect, "m3", 0, "m1")],
    );
    assert_eq!(p.member_state(&pid("m3")), Some(MemberState::Suspected));
    // Past the shortest a confirmation could make it, not yet at the
    // longest; p has handled every timer due so far.
    let late = t0 + p.suspicion_timeout(1) + secs(1);
    assert!(late < t0 + p.suspicion_timeout(0));
    run_to(&mut p, late);
    p.handle_timeout(late);
    drain(&mut p);
    gossip(
        &mut p,
        late,
        "m2",
        vec![about(UpdateKind::Suspect, "m3", 0, "m2")],
    );
    assert_eq!(p.poll_timeout(), Some(late), "it runs out now");
    // The next input, 150 ms later, finds no timer long overdue: no stall,
    // no lag (a deadline set in the past would be over a second overdue).
    gossip(&mut p, late + millis(150), "m1", vec![]);
    assert_eq!(p.health(), 0, "not taken for a stall");
    p.handle_timeout(late + millis(150));
    let checks = calls_to(&drain(&mut p), "/status");
    assert_eq!(checks.len(), 1, "the final check of m3: {checks:#?}");
    assert_eq!(checks[0].to, addr("10.0.0.3:9338"));
}

#[test]
fn a_failure_told_by_a_member_removes_the_member_and_names_who_found_it() {
    let (mut p, t0) = rust_cloud();
    let mut failed = about(UpdateKind::Failed, "m3", 0, "m2");
    failed.cause = Some(crate::wire::WireCause::Refused);
    gossip(&mut p, t0, "m1", vec![failed]);
    assert_eq!(member_ids(&p), ["m1", "m2"]);
    assert_eq!(
        events(&mut p),
        [Event::PeerLeft {
            member: member("m3", "10.0.0.3:9338"),
            reason: crate::io::LeftReason::Failed {
                detected_by: Some(pid("m2")),
                cause: FailureCause::Refused,
            }
        }]
    );
}

#[test]
fn a_strangers_news_about_others_changes_nothing() {
    let (mut p, t0) = rust_cloud();
    let version = p.version();
    gossip(
        &mut p,
        t0,
        "stranger",
        vec![
            about(UpdateKind::Failed, "m1", 5, "stranger"),
            about(UpdateKind::Suspect, "m2", 5, "stranger"),
            about(UpdateKind::Left, "m3", 5, "stranger"),
        ],
    );
    assert_eq!(member_ids(&p), ["m1", "m2", "m3"]);
    assert_eq!(p.version(), version);
}

#[test]
fn a_member_heard_of_from_a_member_is_added_and_passed_on() {
    let (mut p, t0) = rust_cloud();
    let actions = gossip(&mut p, t0, "m1", vec![alive("new", 0, json!({}))]);
    assert_eq!(member_ids(&p), ["m1", "m2", "m3", "new"]);
    assert!(
        calls_to(&actions, "/status").is_empty(),
        "taken without a check"
    );
    // The next message to a member carries the news on.
    let probe = {
        p.handle_timeout(t0 + secs(1));
        calls_to(&drain(&mut p), "/status")
    };
    let Request::Status(envelope) = &probe[0].request else {
        panic!("a probe: {probe:?}")
    };
    assert!(envelope.updates.iter().any(|u| u.id == pid("new")));
}

#[test]
fn a_stranger_is_checked_before_it_is_added_and_its_news_of_others_is_dropped() {
    let (mut p, t0) = rust_cloud();
    let mut other = alive("new", 0, json!({}));
    other.ip = Some(member("new", "10.0.0.8:9338").host);
    let actions = gossip(
        &mut p,
        t0,
        "stranger",
        vec![alive("stranger", 0, json!({})), other.clone()],
    );
    assert_eq!(member_ids(&p), ["m1", "m2", "m3"], "not yet");
    // One check, of the stranger itself: not one per entry of its news.
    let check = calls_to(&actions, "/status");
    assert_eq!(check.len(), 1, "{check:?}");
    assert_eq!(check[0].to, addr("10.0.0.9:9338"));
    let mut answer = status_of("stranger");
    if let Ok(Response::Status(status)) = &mut answer {
        status.incarnation = Some(0);
    }
    p.handle_response(t0, check[0].call, answer);
    assert_eq!(member_ids(&p), ["m1", "m2", "m3", "stranger"]);
    // A member now, its word about others is taken.
    let actions = gossip(&mut p, t0, "stranger", vec![other]);
    assert!(calls_to(&actions, "/status").is_empty(), "{actions:#?}");
    assert_eq!(member_ids(&p), ["m1", "m2", "m3", "new", "stranger"]);
}

#[test]
fn a_strangers_news_of_a_third_party_is_neither_taken_nor_checked() {
    let (mut p, t0) = rust_cloud();
    let version = p.version();
    let actions = gossip(&mut p, t0, "stranger", vec![alive("new", 0, json!({}))]);
    assert!(calls_to(&actions, "/status").is_empty(), "{actions:#?}");
    assert_eq!(member_ids(&p), ["m1", "m2", "m3"]);
    assert_eq!(p.version(), version);
}

#[test]
fn a_member_that_left_is_not_brought_back_by_news_of_the_incarnation_it_left_at() {
    let (mut p, t0) = rust_cloud();
    p.handle_request(t0, ReplyToken(3), origin("m2"), left_notice("m2"));
    drain(&mut p);
    let actions = gossip(&mut p, t0, "m1", vec![alive("m2", 0, json!({}))]);
    assert!(calls_to(&actions, "/status").is_empty(), "{actions:#?}");
    assert_eq!(member_ids(&p), ["m1", "m3"]);
}

#[test]
fn this_peers_own_accusation_confirms_a_suspicion_heard_from_another_and_is_passed_on() {
    let (mut p, t0) = rust_cloud();
    gossip(
        &mut p,
        t0,
        "m1",
        vec![about(UpdateKind::Suspect, "m2", 0, "m1")],
    );
    let alone = p
        .members
        .get(&pid("m2"))
        .unwrap()
        .suspicion
        .clone()
        .unwrap();
    assert_eq!(alone.deadline, t0 + p.suspicion_timeout(0));
    // This peer's own probe of m2 fails too (nobody it asked reached it).
    let me = p.id().clone();
    p.suspect(t0, &pid("m2"), 0, me);
    let both = p
        .members
        .get(&pid("m2"))
        .unwrap()
        .suspicion
        .clone()
        .unwrap();
    assert_eq!(
        both.deadline,
        t0 + p.suspicion_timeout(1),
        "one confirmation"
    );
    assert!(both.deadline < alone.deadline);
    // The next message to m3 carries this peer's own accusation.
    let envelope = p.envelope_for(&pid("m3"), true);
    let passed_on = envelope
        .updates
        .iter()
        .find(|u| u.id == pid("m2"))
        .expect("news about m2");
    assert_eq!(
        (passed_on.kind, passed_on.by.as_ref()),
        (UpdateKind::Suspect, Some(&pid("p")))
    );
}

#[test]
fn a_suspicion_at_its_shortest_takes_no_more_accusers_and_passes_none_on() {
    let (mut p, t0) = rust_cloud();
    let accusations = |ids: &[&str]| {
        ids.iter()
            .map(|by| about(UpdateKind::Suspect, "m2", 0, by))
            .collect()
    };
    // Three members: two confirmations bring it down to its shortest.
    gossip(&mut p, t0, "m1", accusations(&["m1", "m3", "p"]));
    let shortest = t0 + p.suspicion_timeout(2);
    assert_eq!(shortest, t0 + p.suspicion_timeout(usize::MAX));
    let held = |p: &Membership| {
        p.members
            .get(&pid("m2"))
            .unwrap()
            .suspicion
            .clone()
            .unwrap()
    };
    assert_eq!(held(&p).deadline, shortest);
    assert_eq!(held(&p).accusers.len(), 3);
    // What waits to be passed on about m2 is the last confirmation.
    let waiting = |p: &mut Membership| {
        p.envelope_for(&pid("m3"), true)
            .updates
            .into_iter()
            .find(|u| u.id == pid("m2"))
            .and_then(|u| u.by)
    };
    let before = waiting(&mut p);
    assert_eq!(before, Some(pid("p")));
    gossip(&mut p, t0, "m1", accusations(&["m4", "m5"]));
    assert_eq!(held(&p).accusers.len(), 3, "no more accusers are held");
    assert_eq!(held(&p).deadline, shortest);
    assert_ne!(waiting(&mut p), Some(pid("m5")), "and none is passed on");
}

#[test]
fn a_member_that_said_goodbye_but_still_talks_is_told_it_left() {
    let (mut p, t0) = rust_cloud();
    // A goodbye in m2's name (forged, or from an earlier life).
    p.handle_request(t0, ReplyToken(3), origin("m2"), left_notice("m2"));
    drain(&mut p);
    assert_eq!(member_ids(&p), ["m1", "m3"]);
    // m2 goes on probing this peer.
    let probe = Envelope {
        from: Some(alive("m2", 0, json!({}))),
        updates: vec![],
    };
    p.handle_request(t0, ReplyToken(4), origin("m2"), Request::Status(probe));
    let reply = only_reply(&drain(&mut p), ReplyToken(4));
    let Ok(Response::Status(status)) = reply else {
        panic!("{reply:?}")
    };
    let told = &status.gossip.updates[0];
    assert_eq!((told.kind, &told.id), (UpdateKind::Left, &pid("m2")));
}

#[test]
fn a_goodbye_this_peer_never_said_is_refuted() {
    let (mut p, t0) = rust_cloud();
    let actions = gossip(
        &mut p,
        t0,
        "m1",
        vec![about(UpdateKind::Left, "p", 0, "m1")],
    );
    assert_eq!(p.incarnation(), 1);
    assert_eq!(pushed_about(&actions, "p").len(), 3);
}

#[test]
fn an_accusation_at_the_highest_incarnation_is_refuted_without_overflow() {
    // Found by the fuzz tests: anyone's gossip at u64::MAX made the
    // refutation overflow (a panic in debug builds, 0 in release).
    let (mut p, t0) = rust_cloud();
    let actions = gossip(
        &mut p,
        t0,
        "stranger",
        vec![about(UpdateKind::Suspect, "p", u64::MAX, "m1")],
    );
    assert_eq!(p.incarnation(), u64::MAX);
    for (_, update) in pushed_about(&actions, "p") {
        assert_eq!(
            (update.kind, update.incarnation),
            (UpdateKind::Alive, u64::MAX)
        );
    }
    // New data at the top stays at the top rather than wrapping.
    p.set_data(t0, json!({"new": 1}));
    assert_eq!(p.incarnation(), u64::MAX);
}

#[test]
fn a_member_said_to_move_onto_another_members_place_stays_where_it_was() {
    // Found by the fuzz tests: a newer record moved a member onto the
    // place of another, and two entries listed one address.
    let (mut p, t0) = rust_cloud();
    let onto_m3 = Update {
        ip: Some(Host::parse("10.0.0.3").unwrap()),
        ..alive("m2", 1, json!({"moved": true}))
    };
    gossip(&mut p, t0, "m1", vec![onto_m3]);
    let m2 = p.member(&pid("m2")).unwrap();
    assert_eq!(m2.address(), addr("10.0.0.2:9338"));
    assert_eq!(
        m2.data,
        json!({"moved": true}).into(),
        "the rest of the news is taken"
    );
    assert_eq!(
        p.member(&pid("m3")).unwrap().address(),
        addr("10.0.0.3:9338")
    );
    // Once the place is free, the member's next news moves it.
    gossip(
        &mut p,
        t0,
        "m1",
        vec![about(UpdateKind::Left, "m3", 0, "m3")],
    );
    let again = Update {
        ip: Some(Host::parse("10.0.0.3").unwrap()),
        ..alive("m2", 2, json!({}))
    };
    gossip(&mut p, t0, "m1", vec![again]);
    assert_eq!(
        p.member(&pid("m2")).unwrap().address(),
        addr("10.0.0.3:9338")
    );
}

/// Peer "p" with gossip rounds every 100 ms to two members, probes an hour
/// apart (so that only rounds send news), in a cloud of peercloud peers
/// m1..=m4 and an original peer o5.
fn gossiping_cloud() -> (Membership, Instant) {
    let config = Config {
        probe_interval: Duration::from_secs(3600),
        gossip_interval: Duration::from_millis(100),
        gossip_fanout: 2,
        ..test_config()
    };
    let members: Vec<Member> = (1..=5)
        .map(|i| {
            let id = if i == 5 {
                "o5".to_owned()
            } else {
                format!("m{i}")
            };
            member(&id, &format!("10.0.0.{i}:9338"))
        })
        .collect();
    let peers = members[1..]
        .iter()
        .map(|m| PeerInfo::of(m, (m.id.as_str() != "o5").then_some(0)))
        .collect();
    joined_as_told_with(config, "p", &members[0], Some(0), peers)
}

#[test]
fn a_refutation_goes_at_once_to_a_few_members_and_on_with_the_next_round() {
    use rand::SeedableRng;
    for seed in 0..16u64 {
        let (mut p, t0) = gossiping_cloud();
        p.rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let actions = gossip(
            &mut p,
            t0,
            "m1",
            vec![about(UpdateKind::Suspect, "p", 0, "m2")],
        );
        assert_eq!(p.incarnation(), 1, "seed {seed}");
        let at_once = pushed_about(&actions, "p");
        assert_eq!(at_once.len(), 2, "the fanout, seed {seed}: {actions:#?}");
        assert!(
            at_once.iter().all(|(to, _)| *to != addr("10.0.0.5:9338")),
            "not to the original peer, seed {seed}"
        );
        p.handle_timeout(t0 + millis(100));
        let next_round = pushed_about(&drain(&mut p), "p");
        assert!(
            next_round
                .iter()
                .any(|(_, u)| (u.kind, u.incarnation) == (UpdateKind::Alive, 1)),
            "seed {seed}: {next_round:?}"
        );
    }
}

#[test]
fn a_gossip_round_sends_waiting_news_to_a_few_peercloud_members_and_nothing_without_news() {
    for seed in 0..16u64 {
        let (mut p, t0) = gossiping_cloud();
        let round = |p: &mut Membership, at: Instant| {
            assert_eq!(
                p.poll_timeout(),
                Some(at),
                "seed {seed}: rounds every 100 ms"
            );
            p.handle_timeout(at);
            drain(p)
        };
        let quiet = round(&mut p, t0 + Duration::from_millis(100));
        assert!(
            quiet.is_empty(),
            "seed {seed}: no news, no calls: {quiet:?}"
        );

        // m1 tells of a newcomer: news to pass on.
        gossip(
            &mut p,
            t0,
            "m1",
            vec![alive("new", 0, json!({"seed": seed}))],
        );
        let sent = round(&mut p, t0 + Duration::from_millis(200));
        let to: BTreeSet<Address> = calls_to(&sent, "/gossip")
            .into_iter()
            .map(|c| c.to)
            .collect();
        assert!(
            !to.is_empty() && to.len() <= 2,
            "seed {seed}: at most the fanout: {to:?}"
        );
        assert!(
            !to.contains(&addr("10.0.0.5:9338")),
            "seed {seed}: never an original peer"
        );
        let told = pushed_about(&sent, "new");
        assert_eq!(told.len(), to.len(), "seed {seed}: every round carries it");
        assert_eq!(sent.len(), to.len(), "seed {seed}: nothing else: {sent:?}");
    }
}

#[test]
fn a_gossip_round_goes_to_no_more_members_than_earlier_rounds_left_room_for() {
    use rand::SeedableRng;
    for seed in 0..16u64 {
        let (mut p, t0) = gossiping_cloud();
        p.rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut other = alive("other", 0, json!({}));
        other.ip = Some(member("other", "10.0.0.8:9338").host);
        gossip(&mut p, t0, "m1", vec![alive("new", 0, json!({})), other]);
        let round = |p: &mut Membership, ms: u64| {
            p.handle_timeout(t0 + millis(ms));
            calls_to(&drain(p), "/gossip")
        };
        let first = round(&mut p, 100);
        assert_eq!(first.len(), 2, "seed {seed}: the fanout: {first:?}");
        // Neither push answered: no room for another round.
        let held = round(&mut p, 200);
        assert!(held.is_empty(), "seed {seed}: {held:?}");
        let answer = Ok(Response::Gossip(Envelope::default()));
        p.handle_response(t0 + millis(250), first[0].call, answer);
        let one = round(&mut p, 300);
        assert_eq!(one.len(), 1, "seed {seed}: one place freed: {one:?}");
        assert!(round(&mut p, 400).is_empty(), "seed {seed}: full again");
        // The other first push times out at its deadline, which frees
        // its place as an answer would.
        let deadline = 100 + Config::new_lan().call_timeout.as_millis() as u64;
        let before = round(&mut p, deadline - 100);
        assert!(before.is_empty(), "seed {seed}: {before:?}");
        // Fresh news, in case the first ran out of retransmits meanwhile.
        let mut third = alive("third", 0, json!({}));
        third.ip = Some(member("third", "10.0.0.7:9338").host);
        gossip(&mut p, t0 + millis(deadline - 50), "m1", vec![third]);
        let mut after = round(&mut p, deadline);
        after.extend(round(&mut p, deadline + 100));
        assert_eq!(after.len(), 1, "seed {seed}: {after:?}");
    }
}

#[test]
fn a_lost_round_push_frees_its_place_once_later_pushes_are_answered_quickly() {
    use rand::SeedableRng;
    for seed in 0..16u64 {
        let (mut p, t0) = gossiping_cloud();
        p.rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        // Fresh news of two joiners before every round, so that each has
        // something for any member whatever ran out of retransmits (news
        // of a member is not sent to it).
        let round = |p: &mut Membership, ms: u64| {
            let news = [1, 2].map(|x| {
                let mut news = alive(&format!("j{x}at{ms}"), 0, json!({}));
                let at = format!("10.0.{x}.{}:9338", ms / 100);
                news.ip = Some(member("j", &at).host);
                news
            });
            gossip(p, t0 + millis(ms - 10), "m1", news.into());
            p.handle_timeout(t0 + millis(ms));
            calls_to(&drain(p), "/gossip")
        };
        let answer = |p: &mut Membership, sent: &Sent, ms: u64| {
            let reply = Ok(Response::Gossip(Envelope::default()));
            p.handle_response(t0 + millis(ms), sent.call, reply);
        };
        let first = round(&mut p, 100);
        assert_eq!(first.len(), 2, "seed {seed}: {first:?}");
        // The second push of the first round is lost; the first is
        // answered in 5 ms.
        answer(&mut p, &first[0], 105);
        let second = round(&mut p, 200);
        assert_eq!(second.len(), 1, "seed {seed}: the lost one still held");
        // Answered in 5 ms, 105 ms after the lost one was sent: not yet
        // twice the round trip and an interval.
        answer(&mut p, &second[0], 205);
        let third = round(&mut p, 300);
        assert_eq!(third.len(), 1, "seed {seed}: {third:?}");
        // 205 ms after the lost one: presumed lost, its place free long
        // before its call times out.
        answer(&mut p, &third[0], 305);
        let fourth = round(&mut p, 400);
        assert_eq!(fourth.len(), 2, "seed {seed}: the whole fanout again");
    }
}

/// Runs `p`'s gossip rounds until one sends nothing, answering each push
/// at once with nothing when `answer`, and counts the messages that
/// carried news of `id`; `None` if the rounds never went quiet.
fn carried_until_quiet(p: &mut Membership, t0: Instant, id: &str, answer: bool) -> Option<usize> {
    let mut carried = 0;
    // Bounded: news rides a bounded number of messages.
    for n in 1..=200u32 {
        let at = t0 + Duration::from_millis(100) * n;
        p.handle_timeout(at);
        let sent = drain(p);
        carried += pushed_about(&sent, id).len();
        if sent.is_empty() {
            return Some(carried);
        }
        for call in calls_to(&sent, "/gossip").into_iter().filter(|_| answer) {
            p.handle_response(at, call.call, Ok(Response::Gossip(Envelope::default())));
        }
    }
    None
}

#[test]
fn news_stops_after_its_retransmits_and_rounds_go_quiet() {
    let limit = Config::new_lan().gossip_retransmits as usize;
    for answer in [false, true] {
        let (mut p, t0) = gossiping_cloud();
        gossip(&mut p, t0, "m1", vec![alive("new", 0, json!({}))]);
        let carried = carried_until_quiet(&mut p, t0, "new", answer);
        assert!(
            carried.is_some(),
            "answered {answer}: the rounds went quiet"
        );
        let carried = carried.unwrap();
        assert!(
            carried >= 1 && carried <= limit,
            "answered {answer}: carried {carried} times"
        );
    }
}

/// How many messages carry `news` that `p` heard from m1 (and then again
/// from each of `echoes`), every push answered at once, until the rounds
/// go quiet.
fn times_news_is_carried(news: &Update, echoes: &[&str]) -> usize {
    let (mut p, t0) = gossiping_cloud();
    gossip(&mut p, t0, "m1", vec![news.clone()]);
    for echo in echoes {
        gossip(&mut p, t0, echo, vec![news.clone()]);
    }
    let carried = carried_until_quiet(&mut p, t0, news.id.as_str(), true);
    carried.expect("the rounds went quiet")
}

#[test]
fn a_join_heard_again_from_a_member_is_sent_once_less() {
    let join = alive("new", 0, json!({}));
    // One of the sends is the answer to m1's own push.
    let alone = times_news_is_carried(&join, &[]);
    assert_eq!(alone, Config::new_lan().gossip_retransmits as usize - 1);
    // m2's push counts as one, the answer to it as another.
    let echoed = times_news_is_carried(&join, &["m2"]);
    assert_eq!(echoed, alone - 2);
    // A stranger passing it on counts for nothing (nor is it answered
    // with news).
    let by_stranger = times_news_is_carried(&join, &["stranger"]);
    assert_eq!(by_stranger, alone);
}

#[test]
fn a_refutation_or_new_data_heard_again_is_still_sent_its_full_number_of_times() {
    // m4 at incarnation 1: a refutation of a suspicion, or new data.
    let news = alive("m4", 1, json!({"v": 2}));
    let alone = times_news_is_carried(&news, &[]);
    assert!(alone > 0);
    let echoed = times_news_is_carried(&news, &["m2", "m3"]);
    // Heard again, it is not counted as sent: it goes out as often as
    // news heard once (less only the answers to the echoes' pushes).
    assert_eq!(echoed + 2, alone, "alone {alone}, echoed {echoed}");
}

/// Runs `p` to `until`, dropping whatever it sends on the way.
fn run_to(p: &mut Membership, until: Instant) {
    for _ in 0..10_000 {
        match p.poll_timeout() {
            Some(next) if next < until => {
                p.handle_timeout(next);
                drain(p);
            }
            _ => break,
        }
    }
}

/// The final check of `id` that `p` sends when its suspicion runs out
/// at `deadline`: a `/status` to the member, telling it of the suspicion.
fn final_check(p: &mut Membership, deadline: Instant, id: &str, address: &str) -> Sent {
    run_to(p, deadline);
    p.handle_timeout(deadline);
    let checks: Vec<Sent> = calls_to(&drain(p), "/status");
    assert_eq!(checks.len(), 1, "{checks:#?}");
    let check = checks.into_iter().next().unwrap();
    assert_eq!(check.to, addr(address));
    let Request::Status(envelope) = &check.request else {
        panic!("{check:#?}");
    };
    assert!(
        envelope
            .updates
            .iter()
            .any(|u| u.id.as_str() == id && u.kind == UpdateKind::Suspect),
        "the accusation rides on it: {envelope:#?}"
    );
    assert_eq!(p.member_state(&pid(id)), Some(MemberState::Suspected));
    check
}

/// `p` suspects m2 on m1's word and runs to the end of that suspicion: its
/// final check of m2, sent at `deadline`.
fn m2_suspected_to_its_final_check() -> (Membership, Instant, Sent) {
    let (mut p, t0) = gossiping_cloud();
    gossip(
        &mut p,
        t0,
        "m1",
        vec![about(UpdateKind::Suspect, "m2", 0, "m1")],
    );
    events(&mut p);
    let deadline = t0 + p.suspicion_timeout(0);
    let check = final_check(&mut p, deadline, "m2", "10.0.0.2:9338");
    (p, deadline, check)
}

#[test]
fn a_member_whose_refutation_missed_this_peer_answers_its_final_check_and_stays() {
    let (mut p, deadline, check) = m2_suspected_to_its_final_check();
    // The member heard of the suspicion from the check and refutes it in
    // its answer.
    let refuted = Ok(Response::Status(StatusReply {
        id: Some(pid("m2")),
        online: true,
        listening: true,
        joined: true,
        digest: None,
        incarnation: Some(1),
        gossip: Envelope {
            from: None,
            updates: vec![Update {
                ip: Some(Host::parse("10.0.0.2").unwrap()),
                port: Some(9338),
                data: Some(data_of("m2").into()),
                ..Update::about(UpdateKind::Alive, pid("m2"), 1)
            }],
        },
    }));
    p.handle_response(deadline + millis(3), check.call, refuted);
    assert_eq!(p.member_state(&pid("m2")), Some(MemberState::Alive));
    assert!(matches!(events(&mut p)[..], [Event::PeerAlive(_)]));
}

#[test]
fn a_member_that_answers_its_final_check_without_refuting_is_suspected_afresh_then_checked_again() {
    let (mut p, deadline, check) = m2_suspected_to_its_final_check();
    p.handle_response(deadline, check.call, status_of("m2"));
    assert!(events(&mut p).is_empty(), "neither failed nor alive");
    // Its suspicion starts over; this time the check goes unanswered.
    let again = deadline + p.suspicion_timeout(0);
    run_to(&mut p, again - millis(1));
    assert_eq!(p.member_state(&pid("m2")), Some(MemberState::Suspected));
    let check = final_check(&mut p, again, "m2", "10.0.0.2:9338");
    p.handle_response(
        again + millis(800),
        check.call,
        Err(crate::CallError::Timeout),
    );
    // A lost check is not the last word: a second one goes at once, and
    // only its failure too fails the member.
    let second = only_call(&drain(&mut p), "/status");
    assert_eq!(second.to, addr("10.0.0.2:9338"));
    assert_eq!(p.member_state(&pid("m2")), Some(MemberState::Suspected));
    p.handle_response(
        again + millis(1600),
        second.call,
        Err(crate::CallError::Timeout),
    );
    assert_eq!(p.member_state(&pid("m2")), None);
    assert!(
        events(&mut p)
            .iter()
            .any(|e| matches!(e, Event::PeerLeft { member, .. } if member.id.as_str() == "m2")),
        "declared failed"
    );
}

#[test]
fn a_member_whose_first_final_check_is_lost_answers_the_second_and_stays() {
    let (mut p, deadline, check) = m2_suspected_to_its_final_check();
    p.handle_response(
        deadline + millis(800),
        check.call,
        Err(crate::CallError::Timeout),
    );
    let second = only_call(&drain(&mut p), "/status");
    p.handle_response(deadline + millis(801), second.call, status_of("m2"));
    assert!(
        p.member_state(&pid("m2")).is_some(),
        "a member that answers is not failed"
    );
    assert!(events(&mut p).is_empty());
}
