//! The local health score, as `Cloud::metrics` reports it.

use super::*;

#[tokio::test]
async fn a_peer_that_refutes_a_suspicion_of_itself_reports_a_worse_local_health() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    assert_eq!(node.link.recorder().snapshot().local_health, 0);

    let suspicion =
        json!({"updates": [{"kind": "suspect", "id": NODE_ID, "incarnation": 0, "by": "a"}]});
    let (status, reply) = send(&app, post_json("/gossip", Some("a"), suspicion)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");

    // The driver publishes the score before it answers, and nothing has
    // made this peer better since (no probe of it was answered).
    assert_eq!(node.link.recorder().snapshot().local_health, 1);
}
