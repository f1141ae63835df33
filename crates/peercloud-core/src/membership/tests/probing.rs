//! Tests of failure detection: probe ticks, rounds, counting failed probes
//! and evicting.

use std::collections::BTreeSet;

use super::*;
use crate::error::CallError;
use crate::io::LeftReason;

/// Peer "p" with members m1..=mn (at 10.0.0.1..=n), and when it joined.
fn with_members(n: u8) -> (Membership, Instant, Vec<Member>) {
    let members: Vec<Member> = (1..=n)
        .map(|i| member(&format!("m{i}"), &format!("10.0.0.{i}:9338")))
        .collect();
    let (core, t0) = joined_core("p", &members[0], &members[1..]);
    (core, t0, members)
}

/// Runs the probe tick due at `at` and returns the probe it made.
fn tick(core: &mut Membership, at: Instant) -> Sent {
    assert_eq!(core.poll_timeout(), Some(at));
    core.handle_timeout(at);
    only_call(&drain(core), "/status")
}

/// The id of the member at `to`.
fn target(members: &[Member], to: &Address) -> String {
    let found = members.iter().find(|m| m.address() == *to);
    found.expect("a probe to a non-member").id.to_string()
}

fn failed() -> CallResult {
    Err(CallError::Timeout)
}

#[test]
fn each_probe_interval_one_member_is_probed_with_status() {
    let (mut p, t0, members) = with_members(3);
    assert_eq!(p.poll_timeout(), Some(t0 + secs(1)));
    p.handle_timeout(t0 + millis(999));
    assert!(drain(&mut p).is_empty(), "nothing before the tick");

    let probe = tick(&mut p, t0 + secs(1));
    assert!(members.iter().any(|m| m.address() == probe.to));
    assert_eq!(probe.timeout, Config::default().probe_timeout);
    assert_eq!(p.poll_timeout(), Some(t0 + secs(2)));
}

#[test]
fn with_n_members_every_member_is_probed_in_each_round_of_n_ticks() {
    let (mut p, t0, members) = with_members(5);
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
fn one_failed_probe_does_not_evict_and_the_member_is_probed_again_at_the_next_tick() {
    let (mut p, t0, members) = with_members(3);
    let first = tick(&mut p, t0 + secs(1));
    p.handle_response(t0 + secs(1), first.call, failed());
    assert!(drain(&mut p).is_empty());
    assert!(events(&mut p).is_empty());
    assert_eq!(p.members().len(), 3);

    let again = tick(&mut p, t0 + secs(2));
    assert_eq!(again.to, first.to);
    let id = target(&members, &again.to);
    p.handle_response(t0 + secs(2), again.call, status_of(&id));
    assert_eq!(p.members().len(), 3);
    assert!(events(&mut p).is_empty());
}

#[test]
fn a_successful_probe_resets_the_count_of_failed_ones() {
    let (mut p, t0, _) = with_members(1);
    let mut at = t0;
    for answer in [
        failed(),
        status_of("m1"),
        failed(),
        status_of("m1"),
        failed(),
    ] {
        at += secs(1);
        let probe = tick(&mut p, at);
        p.handle_response(at, probe.call, answer);
    }
    assert_eq!(member_ids(&p), ["m1"], "never two failures in a row");
    assert!(events(&mut p).is_empty());
    at += secs(1);
    let probe = tick(&mut p, at);
    p.handle_response(at, probe.call, failed());
    assert_eq!(p.members().len(), 0, "the second in a row evicts");
}

#[test]
fn two_failed_probes_in_a_row_evict_the_member_and_tell_the_others() {
    let (mut p, t0, members) = with_members(3);
    let version = p.version();
    let first = tick(&mut p, t0 + secs(1));
    p.handle_response(t0 + secs(1), first.call, failed());
    let second = tick(&mut p, t0 + secs(2));
    let unreachable = Err(CallError::Unreachable("connection refused".into()));
    p.handle_response(t0 + secs(2), second.call, unreachable);

    let gone = members.iter().find(|m| m.address() == first.to).unwrap();
    let actions = drain(&mut p);
    let told: Vec<Address> = calls_to(&actions, "/left")
        .into_iter()
        .map(|s| s.to)
        .collect();
    let others: Vec<Address> = members
        .iter()
        .filter(|m| m.id != gone.id)
        .map(Member::address)
        .collect();
    assert_eq!(told, others);
    assert!(calls_to(&actions, "/left")
        .iter()
        .all(|s| s.request == left_notice(gone.id.as_str())
            && s.timeout == Config::default().call_timeout));
    assert_eq!(actions.len(), 2);
    assert_eq!(
        events(&mut p),
        [Event::PeerLeft {
            member: gone.clone(),
            reason: LeftReason::Failed { detected_by: None }
        }]
    );
    assert!(p.member(&gone.id).is_none());
    assert_ne!(p.version(), version);
}

#[test]
fn a_status_reply_with_another_id_evicts_at_once() {
    let (mut p, t0, members) = with_members(2);
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
            reason: LeftReason::Failed { detected_by: None }
        }]
    );
}

#[test]
fn a_probe_answered_with_the_wrong_kind_of_reply_counts_as_failed() {
    let (mut p, t0, _) = with_members(1);
    let wrong = || {
        Ok(Response::Left(crate::wire::Ack {
            status: "removed".to_owned(),
        }))
    };
    let first = tick(&mut p, t0 + secs(1));
    p.handle_response(t0 + secs(1), first.call, wrong());
    assert_eq!(p.members().len(), 1);
    let second = tick(&mut p, t0 + secs(2));
    p.handle_response(t0 + secs(2), second.call, wrong());
    assert_eq!(p.members().len(), 0);
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
    let (mut p, t0, members) = with_members(2);
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
    p.handle_response(t0 + secs(1), probe.call, failed());
    assert!(drain(&mut p).is_empty());
    assert!(events(&mut p).is_empty());
    assert_eq!(p.version(), version);
}

#[test]
fn a_new_member_is_probed_within_the_current_round() {
    let (mut p, t0, members) = with_members(3);
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
