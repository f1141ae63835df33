//! The published snapshot: members that did not change are shared with the
//! previous one, not copied, and are still found by id.

use peercloud_core::PeerId;

use super::*;

#[tokio::test]
async fn a_new_snapshot_shares_the_members_that_did_not_change() {
    let (node, app) = node().await;
    join_member(&node, &app, "b", 4002).await;
    let before = node.link.snapshot();
    // Ordered before b: the walk over both lists must still pair them.
    join_member(&node, &app, "a", 4001).await;
    join_member(&node, &app, "c", 4003).await;
    let after = node.link.snapshot();
    let id = |id: &str| PeerId::parse(id).expect("an id");
    let (b_before, b_after) = (before.member(&id("b")), after.member(&id("b")));
    assert!(
        Arc::ptr_eq(b_before.expect("b before"), b_after.expect("b after")),
        "b was copied"
    );
    for (name, port) in [("a", 4001), ("b", 4002), ("c", 4003)] {
        let member = after.member(&id(name)).expect("a member");
        assert_eq!(member.port, port);
    }
    assert!(after.member(&id("d")).is_none());
    assert!(before.member(&id("a")).is_none());
}
