//! Tests of the counters: each moves once the drained actions and events of
//! a scenario show that the thing it counts happened.

use super::*;
use crate::error::CallError;
use crate::wire::{Envelope, ProbeOutcome, ProbeReply, Update, UpdateKind};

/// Peer "p" with peercloud members m1..=mn (at 10.0.0.1..=n).
fn rust_members(n: u8) -> (Membership, Instant, Vec<Member>) {
    let members: Vec<Member> = (1..=n)
        .map(|i| member(&format!("m{i}"), &format!("10.0.0.{i}:9338")))
        .collect();
    let peers = members[1..]
        .iter()
        .map(|m| PeerInfo::of(m, Some(0)))
        .collect();
    let (core, t0) = joined_core_as_told("p", &members[0], Some(0), peers);
    (core, t0, members)
}

/// Runs the timers due at `at`; returns the one probe made and the id of
/// its target.
fn probe_at(p: &mut Membership, at: Instant, members: &[Member]) -> (Sent, String) {
    p.handle_timeout(at);
    let probe = calls_to(&drain(p), "/status").remove(0);
    let id = members
        .iter()
        .find(|m| m.address() == probe.to)
        .unwrap()
        .id
        .to_string();
    (probe, id)
}

fn acked(id: &str) -> CallResult {
    let mut status = status_of(id);
    if let Ok(Response::Status(s)) = &mut status {
        s.incarnation = Some(0);
    }
    status
}

fn probe_reply(outcome: ProbeOutcome) -> CallResult {
    Ok(Response::Probe(ProbeReply {
        outcome,
        envelope: Default::default(),
    }))
}

fn gossip(p: &mut Membership, at: Instant, sender: &str, update: Update) {
    let envelope = Envelope {
        from: None,
        updates: vec![update],
    };
    p.handle_request(at, ReplyToken(7), origin(sender), Request::Gossip(envelope));
    drain(p);
    events(p);
}

#[test]
fn the_members_a_join_brings_are_counted_as_joins() {
    let (p, _, _) = rust_members(3);
    assert_eq!(p.counters().joins, 3);
    assert_eq!(p.counters().probes_sent, 0);
}

#[test]
fn direct_and_indirect_probes_are_counted_with_their_outcomes() {
    let (mut p, t0, members) = rust_members(4);
    let (probe, id) = probe_at(&mut p, t0 + secs(1), &members);
    p.handle_response(t0 + secs(1), probe.call, acked(&id));
    assert_eq!(
        (p.counters().probes_sent, p.counters().probes_acked),
        (1, 1)
    );

    let (probe, _) = probe_at(&mut p, t0 + secs(2), &members);
    p.handle_response(t0 + secs(2), probe.call, Err(CallError::Timeout));
    let asks = calls_to(&drain(&mut p), "/probe");
    assert_eq!(asks.len(), 3);
    assert_eq!(p.counters().probes_failed, 1);
    assert_eq!(p.counters().indirect_probes_sent, 3);
    p.handle_response(t0 + secs(2), asks[0].call, probe_reply(ProbeOutcome::Alive));
    assert_eq!(p.counters().indirect_probes_acked, 1);
    assert_eq!(p.counters().suspicions, 0, "a helper reached it");
}

#[test]
fn a_member_refused_everywhere_is_counted_as_evicted_by_refusal() {
    let (mut p, t0, members) = rust_members(4);
    let (probe, _) = probe_at(&mut p, t0 + secs(1), &members);
    p.handle_response(t0 + secs(1), probe.call, Err(CallError::NoListener));
    for ask in calls_to(&drain(&mut p), "/probe") {
        p.handle_response(t0 + secs(1), ask.call, probe_reply(ProbeOutcome::Refused));
    }
    assert!(events(&mut p)
        .iter()
        .any(|e| matches!(e, Event::PeerLeft { .. })));
    let evictions = &p.counters().evictions;
    assert_eq!((evictions.refused, evictions.silent), (1, 0));
    assert_eq!(p.counters().leaves, 0);
}

#[test]
fn a_silent_member_is_counted_as_suspected_then_evicted_as_silent() {
    let (mut p, t0, members) = rust_members(1);
    let (probe, _) = probe_at(&mut p, t0 + secs(1), &members);
    p.handle_response(t0 + secs(1), probe.call, Err(CallError::Timeout));
    assert_eq!(events(&mut p), [Event::PeerSuspected(members[0].clone())]);
    assert_eq!(p.counters().suspicions, 1);

    // Nothing answers from now on: every call times out.
    let end = t0 + secs(1) + Config::default().suspicion_max;
    while let Some(due) = p.poll_timeout().filter(|due| *due <= end) {
        p.handle_timeout(due);
        drain(&mut p);
    }
    assert!(p.member(&members[0].id).is_none());
    assert_eq!(p.counters().evictions.silent, 1);
}

#[test]
fn refuting_a_suspicion_of_this_peer_is_counted() {
    let (mut p, t0, _) = rust_members(3);
    let accusation = Update {
        by: Some(pid("m2")),
        ..Update::about(UpdateKind::Suspect, pid("p"), 0)
    };
    gossip(&mut p, t0, "m1", accusation);
    assert_eq!(p.incarnation(), 1);
    assert_eq!(p.counters().refutations, 1);
}

#[test]
fn goodbyes_and_data_updates_are_counted() {
    let (mut p, t0, members) = rust_members(3);
    let new_data = Update {
        ip: Some(members[1].host.clone()),
        port: Some(members[1].port),
        data: Some(json!({"name": "m2", "v": 2}).into()),
        ..Update::about(UpdateKind::Alive, pid("m2"), 1)
    };
    gossip(&mut p, t0, "m2", new_data);
    assert_eq!(p.counters().data_updates, 1);

    p.handle_request(t0, ReplyToken(8), origin("m3"), left_notice("m3"));
    drain(&mut p);
    assert!(events(&mut p)
        .iter()
        .any(|e| matches!(e, Event::PeerLeft { .. })));
    assert_eq!(p.counters().leaves, 1);
    assert_eq!(p.counters().evictions, Evictions::default());
}
