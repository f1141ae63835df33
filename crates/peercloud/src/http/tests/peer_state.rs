//! `Peer::state` and `Peer::last_contact` as members come and go.

use super::*;
use crate::peer::PeerState;

/// The member `id` as a `Peer` handle, from the published snapshot.
fn peer(node: &TestNode, id: &str) -> Peer {
    let id = peercloud_core::PeerId::parse(id).expect("a valid test id");
    let member = node.link.snapshot().member(&id).cloned().expect("a member");
    Peer::new(member, node.link.clone())
}

#[tokio::test]
async fn a_member_that_answered_its_join_check_is_alive_with_a_last_contact() {
    let (node, app) = node().await;
    let before = std::time::Instant::now();
    join_member(&node, &app, "a", 4001).await;
    let a = peer(&node, "a");
    assert_eq!(a.state(), PeerState::Alive);
    let contact = a.last_contact().expect("its /status check was answered");
    assert!(contact >= before, "the contact is the check's answer");
}

#[tokio::test]
async fn a_member_that_left_is_left_and_its_contact_forgotten() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    join_member(&node, &app, "b", 4002).await;
    let a = peer(&node, "a");
    let (status, reply) = send(&app, post_json("/left", Some("a"), json!({"id": "a"}))).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    node.wait_for_members(&["b"]).await;
    assert_eq!(a.state(), PeerState::Left);
    assert_eq!(a.last_contact(), None);
    assert_eq!(peer(&node, "b").state(), PeerState::Alive);
}

#[test]
fn states_print_in_lowercase() {
    let names: Vec<String> = [PeerState::Alive, PeerState::Suspected, PeerState::Left]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["alive", "suspected", "left"]);
}
