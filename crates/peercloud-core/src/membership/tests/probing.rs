//! Tests of failure detection: probe ticks and rounds, indirect probes
//! through helpers, the refused fast path, suspicion and its timeout, and
//! probes that a stall of this peer voids.

use std::collections::BTreeSet;

use super::*;
use crate::error::CallError;
use crate::io::LeftReason;
use crate::wire::{Envelope, ProbeOutcome, ProbeReply, UpdateKind};

/// Peer "p" with members m1..=mn (at 10.0.0.1..=n), and when it joined.
/// The members are peercloud peers when `rust` (they carry incarnations,
/// so they can help probe), else original peers.
fn with_members(n: u8, rust: bool) -> (Membership, Instant, Vec<Member>) {
    let members: Vec<Member> = (1..=n)
        .map(|i| member(&format!("m{i}"), &format!("10.0.0.{i}:9338")))
        .collect();
    let incarnation = rust.then_some(0);
    let peers = members[1..]
        .iter()
        .map(|m| PeerInfo::of(m, incarnation))
        .collect();
    let (core, t0) = joined_core_as_told("p", &members[0], incarnation, peers);
    (core, t0, members)
}

/// Runs every timer due by `at`, each at its own time as a driver does
/// (run late, they would count as this peer lagging), and returns the one
/// probe they made.
fn tick(core: &mut Membership, at: Instant) -> Sent {
    assert!(core.poll_timeout() <= Some(at));
    for _ in 0..100 {
        match core.poll_timeout() {
            Some(due) if due < at => core.handle_timeout(due),
            _ => break,
        }
    }
    core.handle_timeout(at);
    let probes = calls_to(&drain(core), "/status");
    assert_eq!(probes.len(), 1, "{probes:#?}");
    probes[0].clone()
}

/// The id of the member at `to`.
fn target(members: &[Member], to: &Address) -> String {
    let found = members.iter().find(|m| m.address() == *to);
    found.expect("a probe to a non-member").id.to_string()
}

/// A peercloud peer's answer: its id and incarnation 0.
fn rust_status(id: &str) -> CallResult {
    let mut status = status_of(id);
    if let Ok(Response::Status(s)) = &mut status {
        s.incarnation = Some(0);
    }
    status
}

fn silent() -> CallResult {
    Err(CallError::Timeout)
}

fn probe_reply(outcome: ProbeOutcome) -> CallResult {
    Ok(Response::Probe(ProbeReply {
        outcome,
        envelope: Default::default(),
    }))
}

#[test]
fn each_probe_interval_one_member_is_probed_with_status() {
    let (mut p, t0, members) = with_members(3, false);
    p.handle_timeout(t0 + millis(999));
    assert!(drain(&mut p).is_empty(), "nothing before the tick");

    let probe = tick(&mut p, t0 + secs(1));
    assert!(members.iter().any(|m| m.address() == probe.to));
    assert_eq!(probe.timeout, Config::default().probe_timeout);
    let id = target(&members, &probe.to);
    p.handle_response(t0 + secs(1), probe.call, status_of(&id));
    assert_eq!(p.poll_timeout(), Some(t0 + secs(2)));
}

#[test]
fn with_n_members_every_member_is_probed_in_each_round_of_n_ticks() {
    let (mut p, t0, members) = with_members(5, false);
    let everyone: BTreeSet<String> = members.iter().map(|m| m.id.to_string()).collect();
    let mut at = t0;
    for round in 0..4 {
        let mut probed = BTreeSet::new();
        for _ in 0..5 {
            at += secs(1);
            let probe = tick(&mut p, at);
            let id = target(&members, &probe.to);
            p.handle_response(at, probe.call, status_of(&id));
            probed.insert(id);
        }
        assert_eq!(probed, everyone, "round {round}");
    }
    assert!(events(&mut p).is_empty());
}

#[test]
fn a_silent_member_is_probed_through_helpers_and_one_helper_that_reaches_it_keeps_it() {
    let (mut p, t0, members) = with_members(5, true);
    let probe = tick(&mut p, t0 + secs(1));
    let silent_one = target(&members, &probe.to);
    p.handle_response(t0 + millis(1800), probe.call, silent());
    let asks = calls_to(&drain(&mut p), "/probe");
    assert_eq!(asks.len(), Config::default().indirect_probes);
    let mut helpers = BTreeSet::new();
    for ask in &asks {
        let Request::Probe(body) = &ask.request else {
            unreachable!()
        };
        assert_eq!(body.target.id.as_str(), silent_one);
        helpers.insert(target(&members, &ask.to));
    }
    assert!(!helpers.contains(&silent_one), "never asked of itself");
    assert_eq!(helpers.len(), asks.len(), "three different helpers");

    p.handle_response(t0 + millis(1900), asks[0].call, silent());
    p.handle_response(
        t0 + millis(1900),
        asks[1].call,
        probe_reply(ProbeOutcome::Alive),
    );
    p.handle_response(
        t0 + millis(1900),
        asks[2].call,
        probe_reply(ProbeOutcome::Silent),
    );
    assert!(
        events(&mut p).is_empty(),
        "one helper reached it: no suspicion"
    );
    assert_eq!(p.member_state(&pid(&silent_one)), Some(MemberState::Alive));
}

#[test]
fn a_member_no_probe_reaches_is_suspected_and_failed_when_the_suspicion_runs_out() {
    let (mut p, t0, members) = with_members(3, false);
    let probe = tick(&mut p, t0 + secs(1));
    let gone = members.iter().find(|m| m.address() == probe.to).unwrap();
    let at = t0 + millis(1800);
    p.handle_response(at, probe.call, silent());
    // Original peers cannot help: the direct probe decides.
    assert_eq!(events(&mut p), [Event::PeerSuspected(gone.clone())]);
    assert_eq!(p.member_state(&gone.id), Some(MemberState::Suspected));
    let version = p.version();

    let timeout = p.suspicion_timeout(0);
    assert_eq!(
        timeout,
        Config::default().suspicion_max,
        "one accuser: the longest"
    );
    let mut now = at;
    while now < at + timeout - millis(1) {
        now = p.poll_timeout().unwrap().min(at + timeout - millis(1));
        p.handle_timeout(now);
        for sent in calls_to(&drain(&mut p), "/status") {
            if sent.to != gone.address() {
                let id = target(&members, &sent.to);
                p.handle_response(now, sent.call, status_of(&id));
            }
        }
    }
    assert!(p.member(&gone.id).is_some(), "still a member just before");
    p.handle_timeout(at + timeout);
    // Two last probes of its own first, which fail too.
    let check = only_call(&drain(&mut p), "/status");
    assert_eq!(check.to, gone.address());
    assert!(p.member(&gone.id).is_some(), "still a member while checked");
    p.handle_response(at + timeout + millis(800), check.call, silent());
    let check = only_call(&drain(&mut p), "/status");
    assert_eq!(check.to, gone.address());
    assert!(
        p.member(&gone.id).is_some(),
        "still a member while checked again"
    );
    p.handle_response(at + timeout + millis(1600), check.call, silent());
    let actions = drain(&mut p);
    let told: BTreeSet<Address> = calls_to(&actions, "/left")
        .iter()
        .filter(|s| s.request == left_notice(gone.id.as_str()))
        .map(|s| s.to.clone())
        .collect();
    let others: BTreeSet<Address> = members
        .iter()
        .filter(|m| m.id != gone.id)
        .map(Member::address)
        .collect();
    assert_eq!(told, others, "original peers are told with /left");
    let left = events(&mut p)
        .into_iter()
        .find(|e| matches!(e, Event::PeerLeft { .. }));
    assert_eq!(
        left,
        Some(Event::PeerLeft {
            member: gone.clone(),
            reason: LeftReason::Failed {
                detected_by: None,
                cause: FailureCause::Silent
            }
        })
    );
    assert!(p.member(&gone.id).is_none());
    assert_ne!(p.version(), version);
}

#[test]
fn an_original_peer_that_answers_again_is_no_longer_suspected() {
    let (mut p, t0, members) = with_members(1, false);
    let first = tick(&mut p, t0 + secs(1));
    p.handle_response(t0 + secs(1), first.call, silent());
    assert_eq!(events(&mut p), [Event::PeerSuspected(members[0].clone())]);
    let again = tick(&mut p, t0 + secs(2));
    p.handle_response(t0 + secs(2), again.call, status_of("m1"));
    assert_eq!(events(&mut p), [Event::PeerAlive(members[0].clone())]);
    assert_eq!(p.member_state(&pid("m1")), Some(MemberState::Alive));
}

#[test]
fn a_refused_probe_that_every_helper_confirms_fails_the_member_at_once() {
    let (mut p, t0, members) = with_members(4, true);
    let probe = tick(&mut p, t0 + secs(1));
    let gone = members.iter().find(|m| m.address() == probe.to).unwrap();
    p.handle_response(t0 + secs(1), probe.call, Err(CallError::NoListener));
    let asks = calls_to(&drain(&mut p), "/probe");
    assert_eq!(asks.len(), 3);
    for ask in &asks {
        p.handle_response(t0 + secs(1), ask.call, probe_reply(ProbeOutcome::Refused));
    }
    let actions = drain(&mut p);
    assert_eq!(
        events(&mut p),
        [Event::PeerLeft {
            member: gone.clone(),
            reason: LeftReason::Failed {
                detected_by: None,
                cause: FailureCause::Refused
            }
        }]
    );
    // Every other peercloud member hears it at once, by a gossip push.
    let pushed: BTreeSet<Address> = calls_to(&actions, "/gossip")
        .into_iter()
        .filter(|s| match &s.request {
            Request::Gossip(envelope) => envelope
                .updates
                .iter()
                .any(|u| u.kind == UpdateKind::Failed && u.id == gone.id),
            _ => false,
        })
        .map(|s| s.to)
        .collect();
    assert_eq!(pushed.len(), 3, "{actions:#?}");
    assert!(!pushed.contains(&gone.address()));
}

#[test]
fn a_refused_probe_that_a_helper_does_not_confirm_only_suspects() {
    let (mut p, t0, members) = with_members(4, true);
    let probe = tick(&mut p, t0 + secs(1));
    let gone = members.iter().find(|m| m.address() == probe.to).unwrap();
    p.handle_response(t0 + secs(1), probe.call, Err(CallError::NoListener));
    let asks = calls_to(&drain(&mut p), "/probe");
    p.handle_response(
        t0 + secs(1),
        asks[0].call,
        probe_reply(ProbeOutcome::Refused),
    );
    p.handle_response(
        t0 + secs(1),
        asks[1].call,
        probe_reply(ProbeOutcome::Refused),
    );
    p.handle_response(t0 + secs(1), asks[2].call, silent());
    assert_eq!(events(&mut p), [Event::PeerSuspected(gone.clone())]);
}

#[test]
fn a_status_reply_with_another_id_fails_the_member_at_once_as_replaced() {
    let (mut p, t0, members) = with_members(2, false);
    let probe = tick(&mut p, t0 + secs(1));
    let gone = members.iter().find(|m| m.address() == probe.to).unwrap();
    p.handle_response(t0 + secs(1), probe.call, status_of("a-newcomer"));
    let kept = members.iter().find(|m| m.id != gone.id).unwrap();
    assert_eq!(
        notices(&drain(&mut p)),
        [(kept.address(), left_notice(gone.id.as_str()))]
    );
    assert_eq!(
        events(&mut p),
        [Event::PeerLeft {
            member: gone.clone(),
            reason: LeftReason::Failed {
                detected_by: None,
                cause: FailureCause::Replaced {
                    by: Some(pid("a-newcomer"))
                }
            }
        }]
    );
}

#[test]
fn a_failure_found_here_in_a_large_cloud_goes_at_once_to_a_few_members_and_rides_on_gossip() {
    let (mut p, t0, members) = with_members(9, true);
    let probe = tick(&mut p, t0 + secs(1));
    let gone = members.iter().find(|m| m.address() == probe.to).unwrap();
    let mut replaced = status_of("a-newcomer");
    if let Ok(Response::Status(s)) = &mut replaced {
        s.incarnation = Some(0);
    }
    p.handle_response(t0 + secs(1), probe.call, replaced);
    let actions = drain(&mut p);
    let told: Vec<Address> = calls_to(&actions, "/gossip")
        .into_iter()
        .filter(|sent| match &sent.request {
            Request::Gossip(envelope) => envelope
                .updates
                .iter()
                .any(|u| u.id == gone.id && u.kind == UpdateKind::Failed),
            _ => false,
        })
        .map(|sent| sent.to)
        .collect();
    let fanout = Config::default().gossip_fanout;
    assert_eq!(told.len(), fanout, "a few members, not all 8: {told:?}");
    assert!(!told.contains(&gone.address()));
    assert!(notices(&actions).is_empty(), "no original member to notify");
    // The next probe carries it on.
    let next = tick(&mut p, t0 + secs(2));
    let Request::Status(envelope) = &next.request else {
        panic!("a probe: {next:?}")
    };
    assert!(envelope.updates.iter().any(|u| u.id == gone.id));
}

#[test]
fn a_probe_answered_with_the_wrong_kind_of_reply_counts_as_failed() {
    let (mut p, t0, members) = with_members(1, false);
    let wrong = Ok(Response::Left(crate::wire::Ack {
        status: "removed".to_owned(),
    }));
    let first = tick(&mut p, t0 + secs(1));
    p.handle_response(t0 + secs(1), first.call, wrong);
    assert_eq!(events(&mut p), [Event::PeerSuspected(members[0].clone())]);
}

#[test]
fn a_probe_that_times_out_is_failed_by_its_own_deadline() {
    let (mut p, t0, members) = with_members(1, false);
    let probe = tick(&mut p, t0 + secs(1));
    let deadline = t0 + secs(1) + probe.timeout;
    assert_eq!(p.poll_timeout(), Some(deadline), "the call's deadline");
    p.handle_timeout(deadline);
    assert_eq!(events(&mut p), [Event::PeerSuspected(members[0].clone())]);
    // A result that comes after the deadline is ignored.
    let version = p.version();
    p.handle_response(deadline + millis(1), probe.call, status_of("m1"));
    assert_eq!(p.version(), version);
}

#[test]
fn a_probe_under_way_while_this_peer_stalled_does_not_count() {
    let (mut p, t0, members) = with_members(1, false);
    let probe = tick(&mut p, t0 + secs(1));
    // The process was paused for 10 s: everything is overdue at once.
    let resumed = t0 + secs(11);
    p.handle_timeout(resumed);
    assert!(events(&mut p).is_empty(), "no suspicion from a stall");
    assert_eq!(p.member_state(&pid("m1")), Some(MemberState::Alive));
    assert!(p.health.score() > 0, "a stall makes this peer more patient");
    let again = calls_to(&drain(&mut p), "/status");
    assert_eq!(again.len(), 1, "{again:#?}");
    assert_eq!(again[0].to, members[0].address(), "probed again");
    assert!(
        again[0].timeout > probe.timeout,
        "probes are more patient after a stall"
    );
}

#[test]
fn a_timer_run_over_a_quarter_of_a_probe_timeout_late_makes_this_peer_more_patient() {
    // The test config: probe timeout 800 ms (a lag past 200 ms), probe
    // interval 1 s (a stall past 1 s).
    let cases = [
        (0, 0),
        (150, 0),
        (200, 0),
        (201, 1),
        (450, 1),
        (1000, 1),
        (1001, 2),
    ];
    for (late, health) in cases {
        let (mut p, t0, members) = with_members(3, false);
        let first = tick(&mut p, t0 + secs(1));
        let id = target(&members, &first.to);
        p.handle_response(t0 + secs(1), first.call, status_of(&id));
        assert_eq!(p.poll_timeout(), Some(t0 + secs(2)), "the next tick");
        let at = t0 + secs(2) + millis(late);
        // Two inputs find the same late timer: it counts once.
        p.handle_request(
            at,
            ReplyToken(5),
            origin("m1"),
            Request::Status(Envelope::default()),
        );
        p.handle_timeout(at);
        assert_eq!(p.health(), health, "a tick {late} ms late");
        let probe = calls_to(&drain(&mut p), "/status");
        let expected = Config::default().probe_timeout * (1 + health);
        assert_eq!(probe.len(), 1, "a tick {late} ms late: {probe:#?}");
        assert_eq!(probe[0].timeout, expected, "a tick {late} ms late");
    }
}

#[test]
fn a_peer_alone_keeps_its_tick_but_probes_nobody() {
    let (mut p, t0) = alone_core("p");
    p.handle_timeout(t0 + secs(1));
    assert!(drain(&mut p).is_empty());
    assert_eq!(p.poll_timeout(), Some(t0 + secs(2)));
}

#[test]
fn a_late_probe_result_for_a_member_that_left_meanwhile_is_ignored() {
    let (mut p, t0, members) = with_members(2, false);
    let probe = tick(&mut p, t0 + secs(1));
    let gone = target(&members, &probe.to);
    p.handle_request(
        t0 + secs(1),
        ReplyToken(1),
        origin(&gone),
        left_notice(&gone),
    );
    drain(&mut p);
    events(&mut p);
    let version = p.version();
    p.handle_response(t0 + secs(1), probe.call, silent());
    assert!(drain(&mut p).is_empty());
    assert!(events(&mut p).is_empty());
    assert_eq!(p.version(), version);
}

#[test]
fn a_new_member_is_probed_within_the_current_round() {
    let (mut p, t0, members) = with_members(3, false);
    let newcomer = member("new", "10.0.0.50:9338");
    p.handle_request(t0, ReplyToken(1), origin("m1"), joined_notice(&newcomer));
    drain(&mut p);
    let mut all = members.clone();
    all.push(newcomer.clone());
    let mut probed = Vec::new();
    for n in 1..=4 {
        let at = t0 + secs(n);
        let probe = tick(&mut p, at);
        let id = target(&all, &probe.to);
        p.handle_response(at, probe.call, status_of(&id));
        probed.push(id);
    }
    assert!(probed.contains(&"new".to_owned()), "{probed:?}");
}

/// Peers learn of new members in much the same order. Each probes them
/// in an order of its own, or the whole cloud probes the same few members
/// at once and leaves a crashed one unprobed for long. Members learned one
/// after the other are each probed once in the round, and the one learned
/// last comes anywhere in it: across seeds, in its first half about as
/// often as in its second.
#[test]
fn members_learned_one_after_the_other_are_probed_in_an_order_of_each_peers_own() {
    use rand::SeedableRng;
    let n = 40;
    let seeds = 0..32u64;
    let mut last_probed_early = 0;
    for seed in seeds.clone() {
        let (mut p, t0, seed_member) = with_members(1, true);
        p.rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let learned: Vec<Member> = (1..=n)
            .map(|i| member(&format!("n{i}"), &format!("10.0.1.{i}:9338")))
            .collect();
        for newcomer in &learned {
            p.handle_request(t0, ReplyToken(1), origin("m1"), joined_notice(newcomer));
        }
        drain(&mut p);
        let mut all = seed_member.clone();
        all.extend(learned.iter().cloned());
        let mut probed = Vec::new();
        for tick_number in 1..=all.len() as u64 {
            let at = t0 + secs(tick_number);
            let probe = tick(&mut p, at);
            let id = target(&all, &probe.to);
            p.handle_response(at, probe.call, status_of(&id));
            probed.push(id);
        }
        let once: BTreeSet<&String> = probed.iter().collect();
        assert_eq!(once.len(), all.len(), "seed {seed}: {probed:?}");
        let last = format!("n{n}");
        let place = probed.iter().position(|id| *id == last);
        if place.is_some_and(|place| place < all.len() / 2) {
            last_probed_early += 1;
        }
    }
    let runs = seeds.count();
    assert!(
        (runs / 4..=runs * 3 / 4).contains(&last_probed_early),
        "the member learned last was probed in the first half of the round in {last_probed_early} of {runs} seeds"
    );
}

/// A peer that just joined probes the peer that let it in first, whatever
/// else that peer's answer listed or it heard of since: when many join at
/// once, the seed is the one that heard of them all, and its digest tells
/// the joiner whether to pull the rest from it.
#[test]
fn a_peer_that_joined_probes_the_peer_that_let_it_in_first() {
    let seed = member("s", "10.0.0.1:9338");
    let others: Vec<Member> = (2..=30)
        .map(|i| member(&format!("m{i}"), &format!("10.0.0.{i}:9338")))
        .collect();
    for rng_seed in 0..16u64 {
        let t0 = base();
        let mut p = Membership::new(identity("p", 9338), test_config(), rng_seed);
        p.start(t0, vec![seed.address()]);
        let join = only_call(&drain(&mut p), "/join");
        p.handle_response(t0, join.call, join_reply("p", &seed, &others));
        for i in 1..=10 {
            let newcomer = member(&format!("n{i}"), &format!("10.0.1.{i}:9338"));
            p.handle_request(t0, ReplyToken(i), origin("s"), joined_notice(&newcomer));
        }
        drain(&mut p);
        let probe = tick(&mut p, t0 + secs(1));
        assert_eq!(probe.to, seed.address(), "rng seed {rng_seed}");
    }
}

#[test]
fn a_helper_probes_the_target_and_answers_what_it_found() {
    let (mut h, t0, _) = with_members(2, true);
    // News the helper has to pass on: a member m2 told it of.
    let news = crate::wire::Update {
        ip: Some(addr("10.0.0.9:9338").host),
        port: Some(9338),
        ..crate::wire::Update::about(UpdateKind::Alive, pid("n9"), 0)
    };
    let envelope = crate::wire::Envelope {
        from: None,
        updates: vec![news],
    };
    h.handle_request(t0, ReplyToken(9), origin("m2"), Request::Gossip(envelope));
    drain(&mut h);
    for (answer, expected) in [
        (rust_status("m2"), ProbeOutcome::Alive),
        (Err(CallError::NoListener), ProbeOutcome::Refused),
        (silent(), ProbeOutcome::Silent),
        (rust_status("other"), ProbeOutcome::Replaced),
    ] {
        let ask = Request::Probe(crate::wire::ProbeRequest {
            target: PeerInfo::from(&member("m2", "10.0.0.2:9338")),
            envelope: Default::default(),
        });
        h.handle_request(t0, ReplyToken(5), origin("m1"), ask);
        let relay = only_call(&drain(&mut h), "/status");
        assert_eq!(relay.to, addr("10.0.0.2:9338"));
        h.handle_response(t0, relay.call, answer);
        let reply = replies(&drain(&mut h));
        let Some((ReplyToken(5), Ok(Response::Probe(found)))) = reply.first() else {
            panic!("no probe reply: {reply:?}")
        };
        assert_eq!(found.outcome, expected);
        if expected == ProbeOutcome::Alive {
            let news = found.envelope.updates.iter().any(|u| u.id == pid("n9"));
            assert!(news, "the answer carries news for the asker: {found:?}");
        }
    }
}

#[test]
fn a_stranger_cannot_make_this_peer_probe_for_it() {
    let (mut h, t0, _) = with_members(2, true);
    let ask = Request::Probe(crate::wire::ProbeRequest {
        target: PeerInfo::from(&member("m2", "10.0.0.2:9338")),
        envelope: Default::default(),
    });
    h.handle_request(t0, ReplyToken(5), origin("stranger"), ask);
    assert_eq!(
        only_reply(&drain(&mut h), ReplyToken(5)),
        Err(Refusal::UnknownSender(pid("stranger")))
    );
}

#[test]
fn each_helper_that_does_not_answer_this_peer_makes_it_more_patient() {
    // Lifeguard's missed nacks: a helper that answers, even to say the
    // member is silent, shows the trouble is the member's; one that does
    // not answer either points at this peer.
    for answering in 0..=3 {
        let (mut p, t0, _) = with_members(4, true);
        let probe = tick(&mut p, t0 + secs(1));
        p.handle_response(t0 + secs(1), probe.call, silent());
        let asks = calls_to(&drain(&mut p), "/probe");
        assert_eq!(asks.len(), 3);
        for (i, ask) in asks.iter().enumerate() {
            let reply = if i < answering {
                probe_reply(ProbeOutcome::Silent)
            } else {
                silent()
            };
            p.handle_response(t0 + secs(2), ask.call, reply);
        }
        assert_eq!(
            p.health.score(),
            3 - answering as u32,
            "{answering} of 3 helpers answered"
        );
    }
}

#[test]
fn a_probe_of_a_member_that_left_and_came_back_says_nothing_of_it() {
    // Found by the fuzz tests: a member removed and added again while a
    // probe of it was under way was probed twice at once, and the old
    // probe's timeout counted against the member's new life.
    let (mut p, t0, members) = with_members(3, false);
    let old = tick(&mut p, t0 + secs(1));
    let id = target(&members, &old.to);
    let other = members.iter().find(|m| m.id.as_str() != id).unwrap();
    p.handle_request(t0 + secs(1), ReplyToken(1), origin(&id), left_notice(&id));
    let again = joined_notice(&member(&id, &old.to.to_string()));
    p.handle_request(
        t0 + secs(1),
        ReplyToken(2),
        origin(other.id.as_str()),
        again,
    );
    drain(&mut p);
    events(&mut p);
    p.handle_response(t0 + secs(1), old.call, silent());
    assert!(drain(&mut p).is_empty(), "no helper asked, nothing told");
    assert_eq!(p.member_state(&pid(&id)), Some(MemberState::Alive));
    assert!(events(&mut p).is_empty());
}

/// Peer "p" with 120 members m1..=m120: those below `rust_below` are
/// peercloud peers, the rest original ones; m2 to m9 are suspected.
fn mixed_cloud(rust_below: u32) -> (Membership, Instant, Vec<Member>) {
    let members: Vec<Member> = (1..=120u32)
        .map(|i| member(&format!("m{i}"), &format!("10.0.0.{i}:9338")))
        .collect();
    let info = |i: usize, m: &Member| PeerInfo::of(m, (i + 1 < rust_below as usize).then_some(0));
    let peers = members
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, m)| info(i, m))
        .collect();
    let (mut core, t0) = joined_core_as_told("p", &members[0], Some(0), peers);
    for i in 2..=9 {
        let suspicion = crate::wire::Update {
            by: Some(pid("m1")),
            ..crate::wire::Update::about(UpdateKind::Suspect, pid(&format!("m{i}")), 0)
        };
        let envelope = crate::wire::Envelope {
            from: None,
            updates: vec![suspicion],
        };
        core.handle_request(t0, ReplyToken(9), origin("m1"), Request::Gossip(envelope));
    }
    drain(&mut core);
    (core, t0, members)
}

#[test]
fn helpers_are_distinct_unsuspected_peercloud_members_other_than_the_target() {
    use rand::SeedableRng;
    let number = |id: &str| id[1..].parse::<u32>().unwrap();
    // Clouds of peercloud peers only (helpers drawn at random), of a
    // third of them, and of four (too few to draw: every member looked at).
    for (rust_below, seeds) in [(121, 0..32u64), (40, 0..32), (5, 0..32)] {
        for seed in seeds {
            let (mut p, t0, members) = mixed_cloud(rust_below);
            p.rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let fits = |id: &str| number(id) < rust_below && !(2..=9).contains(&number(id));
            let at = t0 + secs(1);
            let probe = tick(&mut p, at);
            let probed = target(&members, &probe.to);
            p.handle_response(at + millis(800), probe.call, silent());
            let asks = calls_to(&drain(&mut p), "/probe");
            let helpers: Vec<String> = asks.iter().map(|a| target(&members, &a.to)).collect();
            let fitting = (1..=120u32)
                .map(|i| format!("m{i}"))
                .filter(|id| *id != probed && fits(id))
                .count();
            let wanted = Config::default().indirect_probes.min(fitting);
            let context = format!("seed {seed}, rust below {rust_below}: {probed} {helpers:?}");
            assert_eq!(helpers.len(), wanted, "{context}");
            assert!(helpers.iter().all(|h| fits(h) && *h != probed), "{context}");
            let distinct: BTreeSet<&String> = helpers.iter().collect();
            assert_eq!(distinct.len(), helpers.len(), "{context}");
        }
    }
}

/// A `/status` call from member `id`, made from `remote`.
fn call_from(p: &mut Membership, at: Instant, id: &str, remote: &str) {
    let from = Origin {
        sender: Some(pid(id)),
        remote: ip(remote),
    };
    let status = Request::Status(Envelope::default());
    p.handle_request(at, ReplyToken(9), from, status);
}

/// When, in a failed probe of one member, that member calls this peer.
#[derive(Debug, Clone, Copy, PartialEq)]
enum CallAt {
    Never,
    /// Before the probe began (while an earlier probe of it was under way,
    /// which the member answered).
    EarlierProbe,
    /// While the direct probe waited.
    Direct,
    /// While the helpers probed it.
    Helpers,
}

/// Probes one of four peercloud members (helpers or not, by `helpers`),
/// fails the probe, the helpers too, and has the member call this peer
/// from `remote` at `when`. Returns what happened to the member, and the
/// suspicions spared.
fn failed_probe_with_a_call(
    when: CallAt,
    remote: impl Fn(&Member) -> String,
    helpers: bool,
    refused: bool,
) -> (Vec<Event>, Option<MemberState>, u64) {
    let (mut p, t0, members) = with_members(4, helpers);
    let mut at = t0 + secs(1);
    let probe = tick(&mut p, at);
    let id = target(&members, &probe.to);
    let m = members.iter().find(|m| m.id.as_str() == id).unwrap();
    let calls = |p: &mut Membership, now: Instant, stage: CallAt| {
        if when == stage {
            call_from(p, now, &id, &remote(m));
        }
    };
    let probe = if when == CallAt::EarlierProbe {
        // A round of four ticks probes every member once: answer all of
        // them, and probe the member again in the next round.
        calls(&mut p, at, CallAt::EarlierProbe);
        p.handle_response(at, probe.call, rust_status(&id));
        let mut again = None;
        for _ in 0..2 * members.len() {
            at += secs(1);
            let next = tick(&mut p, at);
            if next.to == m.address() {
                again = Some(next);
                break;
            }
            let other = target(&members, &next.to);
            p.handle_response(at, next.call, rust_status(&other));
        }
        again.expect("the member probed again within two rounds")
    } else {
        probe
    };
    drain(&mut p);
    events(&mut p);
    calls(&mut p, at, CallAt::Direct);
    let direct = if refused {
        Err(CallError::NoListener)
    } else {
        silent()
    };
    p.handle_response(at + millis(800), probe.call, direct);
    let asks = calls_to(&drain(&mut p), "/probe");
    assert_eq!(asks.len(), if helpers { 3 } else { 0 });
    calls(&mut p, at + millis(900), CallAt::Helpers);
    let found = if refused {
        ProbeOutcome::Refused
    } else {
        ProbeOutcome::Silent
    };
    for ask in &asks {
        p.handle_response(at + secs(1), ask.call, probe_reply(found));
    }
    drain(&mut p);
    let state = p.member_state(&m.id);
    (events(&mut p), state, p.counters().suspicions_spared)
}

#[test]
fn a_member_that_calls_this_peer_from_its_address_while_probed_is_not_suspected() {
    let own_address = |m: &Member| m.host.to_string();
    for helpers in [true, false] {
        let stages: &[CallAt] = if helpers {
            &[CallAt::Direct, CallAt::Helpers]
        } else {
            &[CallAt::Direct]
        };
        for &when in stages {
            let case = format!("helpers {helpers}, call {when:?}");
            let (events, state, spared) =
                failed_probe_with_a_call(when, own_address, helpers, false);
            assert!(events.is_empty(), "{case}: {events:?}");
            assert_eq!(state, Some(MemberState::Alive), "{case}");
            assert_eq!(spared, 1, "{case}");
        }
    }
}

#[test]
fn a_call_spares_only_the_probe_under_way_and_only_from_the_members_own_address() {
    let own_address = |m: &Member| m.host.to_string();
    let mapped = |m: &Member| format!("::ffff:{}", m.host);
    let elsewhere = |_: &Member| "10.9.9.9".to_owned();
    type Remote = fn(&Member) -> String;
    let cases: [(&str, CallAt, Remote, bool); 4] = [
        ("no call", CallAt::Never, own_address, false),
        (
            "a call before the probe",
            CallAt::EarlierProbe,
            own_address,
            false,
        ),
        (
            "a call from another address",
            CallAt::Direct,
            elsewhere,
            false,
        ),
        ("an IPv4-mapped address", CallAt::Direct, mapped, true),
    ];
    for (case, when, remote, spared) in cases {
        let (events, state, count) = failed_probe_with_a_call(when, remote, true, false);
        if spared {
            assert!(events.is_empty(), "{case}: {events:?}");
            assert_eq!(state, Some(MemberState::Alive), "{case}");
        } else {
            assert!(
                matches!(events.as_slice(), [Event::PeerSuspected(_)]),
                "{case}: {events:?}"
            );
            assert_eq!(state, Some(MemberState::Suspected), "{case}");
        }
        assert_eq!(count, u64::from(spared), "{case}");
    }
}

#[test]
fn a_member_refused_everywhere_fails_even_if_it_called_while_probed() {
    let own_address = |m: &Member| m.host.to_string();
    let (events, state, spared) = failed_probe_with_a_call(CallAt::Direct, own_address, true, true);
    assert!(
        matches!(
            events.as_slice(),
            [Event::PeerLeft {
                reason: LeftReason::Failed {
                    cause: FailureCause::Refused,
                    ..
                },
                ..
            }]
        ),
        "{events:?}"
    );
    assert_eq!(state, None);
    assert_eq!(spared, 0);
}
