//! Tests of data updates: peercloud members are told by gossip, original
//! members by stepping out of their lists and joining one of them again.

use super::*;
use crate::wire::{LeftRequest, UpdateKind};

/// Peer "p" joined through original peer o1 that lists original o2 and
/// peercloud peer r (incarnation 0).
fn mixed_cloud() -> (Membership, Instant) {
    let peers = vec![
        PeerInfo::from(&member("o2", "10.0.0.2:9338")),
        PeerInfo::of(&member("r", "10.0.0.3:9338"), Some(0)),
    ];
    joined_core_as_told("p", &member("o1", "10.0.0.1:9338"), None, peers)
}

#[test]
fn new_data_raises_the_incarnation_and_is_pushed_to_peercloud_members_only() {
    let (mut p, t0) = mixed_cloud();
    p.set_data(t0, json!({"v": 2}));
    assert_eq!(p.incarnation(), 1);
    assert_eq!(p.identity().data, json!({"v": 2}));
    let actions = drain(&mut p);
    let pushes = calls_to(&actions, "/gossip");
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].to, addr("10.0.0.3:9338"));
    let Request::Gossip(envelope) = &pushes[0].request else {
        unreachable!()
    };
    let news = &envelope.updates[0];
    assert_eq!((news.kind, news.incarnation), (UpdateKind::Alive, 1));
    assert_eq!(news.data.as_deref(), Some(&json!({"v": 2})));
}

#[test]
fn original_members_see_new_data_through_a_leave_and_a_join() {
    let (mut p, t0) = mixed_cloud();
    // Long after the join, whose notices have landed (see `reintroducing`).
    let t0 = t0 + secs(5);
    p.handle_timeout(t0);
    drain(&mut p);
    p.set_data(t0, json!({"v": 2}));
    let actions = drain(&mut p);
    let lefts = calls_to(&actions, "/left");
    let stepping_out = Request::Left(LeftRequest {
        rejoining: true,
        ..LeftRequest::new(pid("p"))
    });
    let told: Vec<Address> = lefts.iter().map(|s| s.to.clone()).collect();
    assert_eq!(told, [addr("10.0.0.1:9338"), addr("10.0.0.2:9338")]);
    assert!(lefts.iter().all(|s| s.request == stepping_out));
    assert!(
        calls_to(&actions, "/join").is_empty(),
        "not before both answered"
    );

    p.handle_response(t0, lefts[0].call, Err(crate::error::CallError::Timeout));
    assert!(drain(&mut p).is_empty());
    p.handle_response(
        t0,
        lefts[1].call,
        Ok(Response::Left(crate::wire::Ack {
            status: "removed".to_owned(),
        })),
    );
    let join = only_call(&drain(&mut p), "/join");
    let Request::Join(body) = &join.request else {
        unreachable!()
    };
    assert_eq!(body.id, Some(pid("p")));
    assert_eq!(body.data, Some(json!({"v": 2})));
    assert!(join.to == addr("10.0.0.1:9338") || join.to == addr("10.0.0.2:9338"));
}

#[test]
fn a_stepping_out_goodbye_does_not_remove_a_peercloud_member() {
    let (mut p, t0) = mixed_cloud();
    let stepping_out = Request::Left(LeftRequest {
        rejoining: true,
        ..LeftRequest::new(pid("r"))
    });
    p.handle_request(t0, ReplyToken(4), origin("r"), stepping_out);
    drain(&mut p);
    assert_eq!(member_ids(&p), ["o1", "o2", "r"]);
    assert!(events(&mut p).is_empty());
}

#[test]
fn the_same_data_again_changes_nothing() {
    let (mut p, t0) = mixed_cloud();
    let data = p.identity().data.clone();
    let version = p.version();
    p.set_data(t0, data);
    assert_eq!(p.incarnation(), 0);
    assert_eq!(p.version(), version);
    assert!(drain(&mut p).is_empty());
}
