//! `/joined` and `/left`: who may send them, what is refused as invalid,
//! and what the valid ones change.

use super::*;

#[tokio::test]
async fn notices_without_a_sender_header_are_refused_with_400() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let joined = json!({"id": "c", "ip": "10.0.0.3", "port": 4003});
    let (status, reply) = send(&app, post_json("/joined", None, joined)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(error_of(&reply).contains(ID_HEADER), "{reply}");
    let (status, reply) = send(&app, post_json("/left", None, json!({"id": "a"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(error_of(&reply).contains(ID_HEADER), "{reply}");
    assert_eq!(node.member_ids(), ["a"]);
}

#[tokio::test]
async fn notices_from_an_unknown_sender_are_refused_with_403() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let joined = json!({"id": "c", "ip": "10.0.0.3", "port": 4003});
    let (status, reply) = send(&app, post_json("/joined", Some("stranger"), joined)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert!(
        error_of(&reply).contains("unknown sender id stranger"),
        "{reply}"
    );
    let left = post_json("/left", Some("stranger"), json!({"id": "a"}));
    let (status, reply) = send(&app, left).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert_eq!(node.member_ids(), ["a"]);
}

#[tokio::test]
async fn a_sender_header_that_is_not_an_id_is_refused_with_400() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let long = "x".repeat(200);
    let (status, reply) = send(&app, post_json("/left", Some(&long), json!({"id": "a"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(error_of(&reply).contains(ID_HEADER), "{reply}");
    assert_eq!(node.member_ids(), ["a"]);
}

#[tokio::test]
async fn malformed_or_invalid_notices_are_refused_with_400_and_change_nothing() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let cases = [
        ("/joined", r#"{"id":"c","ip":"10.0.0.3""#, "malformed JSON"),
        (
            "/joined",
            r#"{"id":"c","ip":"10.0.0.3","port":"http"}"#,
            "port",
        ),
        ("/joined", r#"{"id":"c","ip":"10.0.0.3","port":0}"#, "port"),
        ("/joined", r#"{"id":"c","ip":"a/b","port":4003}"#, "ip"),
        ("/joined", r#"{"id":"","ip":"10.0.0.3","port":4003}"#, "id"),
        ("/joined", r#"{"ip":"10.0.0.3","port":4003}"#, "id"),
        ("/joined", r#"{"id":"c","port":4003}"#, "ip"),
        ("/left", r#"{"id":"a""#, "malformed JSON"),
        ("/left", r#"{"id":""}"#, "id"),
        ("/left", r#"{}"#, "id"),
        ("/left", r#"{"id":7}"#, "invalid"),
    ];
    for (path, body, says) in cases {
        let (status, reply) = send(&app, post(path, Some("a"), body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {reply}");
        assert!(error_of(&reply).contains(says), "{path} {body}: {reply}");
    }
    assert_eq!(node.member_ids(), ["a"]);
}

#[tokio::test]
async fn a_valid_joined_adds_the_peer_and_a_valid_left_removes_it() {
    let (mut node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let joined = json!({"id": "c", "ip": "::ffff:10.0.0.3", "port": "9338", "data": {"k": 1}});
    let (status, reply) = send(&app, post_json("/joined", Some("a"), joined)).await;
    assert_eq!(
        (status, reply),
        (StatusCode::OK, json!({"status": "added"}))
    );
    assert_eq!(
        node.member("c"),
        Some(json!({"id": "c", "ip": "::ffff:10.0.0.3", "port": 9338, "data": {"k": 1}}))
    );

    // a reports that c failed (c's port refuses when checked), then says
    // goodbye itself.
    let refused = Script::answer(Err(peercloud_core::CallError::NoListener));
    node.transport
        .script(&addr("[::ffff:10.0.0.3]:9338"), "/status", refused);
    let (status, reply) = send(&app, post_json("/left", Some("a"), json!({"id": "c"}))).await;
    assert_eq!(
        (status, reply),
        (StatusCode::OK, json!({"status": "removed"}))
    );
    node.wait_for_members(&["a"]).await;
    let (status, reply) = send(&app, post_json("/left", Some("a"), json!({"id": "a"}))).await;
    assert_eq!(
        (status, reply),
        (StatusCode::OK, json!({"status": "removed"}))
    );
    assert!(node.member_ids().is_empty());

    let reasons: Vec<(String, LeftReason)> = node
        .drain_events()
        .into_iter()
        .filter_map(|e| match e {
            Event::PeerLeft { peer, reason } => Some((peer.id().to_owned(), reason)),
            _ => None,
        })
        .collect();
    let checked_here = LeftReason::Failed {
        detected_by: None,
        cause: peercloud_core::FailureCause::Refused,
    };
    assert_eq!(
        reasons,
        [
            ("c".to_owned(), checked_here),
            ("a".to_owned(), LeftReason::Left),
        ]
    );
}

/// An acknowledgement must not run ahead of the published member list: a
/// peer that got `{"status":"removed"}` (say, from `close`) and then asks
/// for the list must not find the member still there. Members with large
/// data make the snapshot slow to build, and the test thread reads it as
/// soon as the answer arrives, while the driver runs on a worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_acknowledged_only_once_the_published_list_shows_them() {
    let node = TestNode::start(echo_handler(), 1 << 20).await;
    let app = app_of(&node);
    join_member(&node, &app, "a", 4001).await;
    let blob = "x".repeat(100_000);
    for i in 0..30 {
        let id = format!("m{i}");
        let body = json!({"id": id, "ip": "10.0.0.9", "port": 4100 + i, "data": {"blob": blob}});
        let (status, _) = send(&app, post_json("/joined", Some("a"), body)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            node.member(&id).is_some(),
            "{id} was acknowledged before it was listed"
        );
    }
    for i in 0..30 {
        let id = format!("m{i}");
        let (status, _) = send(&app, post_json("/left", Some(&id), json!({"id": id}))).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            node.member(&id).is_none(),
            "{id} was acknowledged before it was unlisted"
        );
    }
}

#[tokio::test]
async fn a_left_for_an_unknown_id_is_acknowledged() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let (status, reply) = send(&app, post_json("/left", Some("a"), json!({"id": "z"}))).await;
    assert_eq!(
        (status, reply),
        (StatusCode::OK, json!({"status": "removed"}))
    );
    assert_eq!(node.member_ids(), ["a"]);
}
