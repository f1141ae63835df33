//! `/status` and `/join`: who may ask, how a joiner is checked, and every
//! refusal leaving the member list as it was.

use super::*;
use crate::node::testing::live_status;

#[tokio::test]
async fn status_answers_anyone_whatever_the_body() {
    let (_node, app) = node().await;
    let bodies = ["", "{}", "[1,2]", "\"str\"", "{\"oops\":", "hello"];
    for body in bodies {
        let (status, reply) = send(&app, post("/status", None, body)).await;
        assert_eq!(status, StatusCode::OK, "body {body:?}");
        let digest = reply["digest"].as_str().unwrap_or_default().to_owned();
        assert!(
            digest.starts_with("1-"),
            "a lone peer's digest counts 1: {digest:?}"
        );
        let expected = json!({"id": NODE_ID, "online": true, "listening": true, "joined": false, "digest": digest, "incarnation": 0});
        assert_eq!(reply, expected, "body {body:?}");
    }
    let text = HttpRequest::post("/status")
        .header(CONTENT_TYPE, "text/plain")
        .body(Body::from("hello"))
        .expect("a valid request");
    assert_eq!(send(&app, text).await.0, StatusCode::OK);
}

#[tokio::test]
async fn status_says_joined_once_there_is_a_member() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let (status, reply) = send(&app, post("/status", None, "{}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["joined"], true);
}

// ---- /join ----

#[tokio::test]
async fn a_joiner_is_checked_at_its_inferred_address_then_gets_the_cloud() {
    let (node, app) = node().await;
    let reply = join_member(&node, &app, "a", 4001).await;
    assert_eq!(
        reply,
        json!({
            "status": "joined", "id": "a", "ip": "127.0.0.1", "port": 4001,
            "self": {"id": NODE_ID, "data": {"name": NODE_ID}, "incarnation": 0},
            "peers": [],
        })
    );
    let calls = node.transport.calls();
    assert_eq!(
        calls,
        vec![(addr("127.0.0.1:4001"), Request::Status(Default::default()))]
    );
    assert_eq!(
        node.member("a"),
        Some(json!({"id": "a", "ip": "127.0.0.1", "port": 4001, "data": {"name": "a"}}))
    );

    // The second joiner learns of the first, and the first of the second.
    let reply = join_member(&node, &app, "b", 4002).await;
    assert_eq!(
        reply["peers"],
        json!([{"id": "a", "ip": "127.0.0.1", "port": 4001, "data": {"name": "a"}}])
    );
    let b = node.member("b").expect("b is a member");
    let notice: PeerInfo = serde_json::from_value(b).expect("a member");
    let calls = node.transport.calls();
    assert!(
        calls.contains(&(addr("127.0.0.1:4001"), Request::Joined(notice))),
        "no /joined to a: {calls:?}"
    );
    assert_eq!(node.member_ids(), ["a", "b"]);
}

#[tokio::test]
async fn a_joiner_without_a_port_is_checked_at_the_default_port() {
    let (node, app) = node().await;
    node.transport
        .status_answers(&addr("127.0.0.1:9338"), Some("a"));
    let (status, reply) = send(&app, post_json("/join", None, json!({"id": "a"}))).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        (reply["ip"].clone(), reply["port"].clone()),
        (json!("127.0.0.1"), json!(9338))
    );
    assert_eq!(
        node.transport.calls(),
        vec![(addr("127.0.0.1:9338"), Request::Status(Default::default()))]
    );
    assert_eq!(node.member("a").expect("a member")["data"], json!({}));
}

#[tokio::test]
async fn a_joiner_port_given_as_a_string_is_accepted() {
    let (node, app) = node().await;
    node.transport
        .status_answers(&addr("127.0.0.1:4003"), Some("a"));
    let body = json!({"id": "a", "port": "4003", "data": {}});
    let (status, reply) = send(&app, post_json("/join", None, body)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["port"], 4003);
    assert_eq!(node.member_ids(), ["a"]);
}

#[tokio::test]
async fn a_joiner_that_gives_its_ip_is_checked_there() {
    let (node, app) = node().await;
    node.transport
        .status_answers(&addr("10.0.0.7:4004"), Some("a"));
    let body = json!({"id": "a", "ip": "10.0.0.7", "port": 4004});
    let (status, reply) = send(&app, post_json("/join", None, body)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["ip"], "10.0.0.7");
    assert_eq!(
        node.transport.calls(),
        vec![(addr("10.0.0.7:4004"), Request::Status(Default::default()))]
    );
}

#[tokio::test]
async fn a_join_with_a_taken_id_is_refused_with_409_without_a_check() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let calls_before = node.transport.calls();
    for taken in ["a", NODE_ID] {
        let body = json!({"id": taken, "port": 4005});
        let (status, reply) = send(&app, post_json("/join", None, body)).await;
        assert_eq!(status, StatusCode::CONFLICT, "id {taken}: {reply}");
        assert!(error_of(&reply).contains("already in use"), "{reply}");
    }
    assert_eq!(node.transport.calls(), calls_before);
    assert_eq!(node.member_ids(), ["a"]);
    assert_eq!(node.member("a").expect("a member")["port"], 4001);
}

/// Scripts the joiner's check, asks to join as `x` on port 4009, and checks
/// the answer and that nothing changed.
async fn refused_join(script: Script, expected: StatusCode, says: &str) {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    node.transport
        .script(&addr("127.0.0.1:4009"), "/status", script);
    let members_before = node.link.snapshot().members.clone();
    let calls_before = node.transport.calls().len();
    let body = json!({"id": "x", "port": 4009});
    let (status, reply) = send(&app, post_json("/join", None, body)).await;
    assert_eq!(status, expected, "{reply}");
    assert!(
        error_of(&reply).contains(says),
        "{reply} does not say {says:?}"
    );
    assert_eq!(node.link.snapshot().members, members_before);
    let calls = node.transport.calls();
    assert_eq!(
        calls[calls_before..],
        [(addr("127.0.0.1:4009"), Request::Status(Default::default()))],
        "only the check was made: nobody was told of x"
    );
}

#[tokio::test]
async fn a_joiner_whose_check_times_out_is_refused_with_504() {
    refused_join(Script::TimeOut, StatusCode::GATEWAY_TIMEOUT, "in time").await;
}

#[tokio::test]
async fn a_joiner_whose_check_fails_is_refused_with_502() {
    let unreachable = Err(CallError::Unreachable("connection refused".into()));
    refused_join(
        Script::answer(unreachable),
        StatusCode::BAD_GATEWAY,
        "connection refused",
    )
    .await;
    let refused = Err(CallError::Refused {
        status: 500,
        body: String::new(),
    });
    refused_join(
        Script::answer(refused),
        StatusCode::BAD_GATEWAY,
        "status 500",
    )
    .await;
}

#[tokio::test]
async fn a_joiner_whose_check_answers_another_id_is_refused_with_502() {
    let status = |id: Option<&str>| {
        let reply = peercloud_core::wire::StatusReply {
            id: id.map(|id| peercloud_core::PeerId::parse(id).expect("an id")),
            online: true,
            listening: true,
            joined: true,
            digest: None,
            incarnation: None,
            gossip: Default::default(),
        };
        Script::answer(Ok(peercloud_core::Response::Status(reply)))
    };
    refused_join(
        status(Some("y")),
        StatusCode::BAD_GATEWAY,
        "answered with id y",
    )
    .await;
    refused_join(status(None), StatusCode::BAD_GATEWAY, "without an id").await;
}

#[tokio::test]
async fn a_join_with_invalid_fields_is_refused_with_400() {
    let (node, app) = node().await;
    let bodies = [
        (r#"{"id":"a","port":"http"}"#, "port"),
        (r#"{"id":"a","port":0}"#, "port"),
        (r#"{"id":"a","ip":"a/b","port":4001}"#, "ip"),
        (r#"{"id":"a","port":4001"#, "malformed JSON"),
    ];
    for (body, says) in bodies {
        let (status, reply) = send(&app, post("/join", None, body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
        assert!(error_of(&reply).contains(says), "{body}: {reply}");
    }
    assert!(node.transport.calls().is_empty());
    assert!(node.member_ids().is_empty());
}

// ---- limits ----

#[tokio::test]
async fn joins_past_the_rate_of_one_address_get_a_json_429_with_retry_after() {
    let limits = Limits {
        max_joins_per_ip_per_minute: 1,
        ..Limits::default()
    };
    let (node, app) = node_with(&limits).await;
    join_member(&node, &app, "a", 4001).await;
    node.transport
        .status_answers(&addr("127.0.0.1:4002"), Some("b"));
    let calls = node.transport.calls().len();
    let body = json!({"id": "b", "port": 4002});
    let request = post_json("/join", None, body);
    let response = app.clone().oneshot(request).await.expect("infallible");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after = response.headers().get("retry-after").cloned();
    assert_eq!(
        retry_after.as_ref().and_then(|v| v.to_str().ok()),
        Some("60")
    );
    let (status, reply) = send(&app, post_json("/join", None, json!({"id": "b"}))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        error_of(&reply),
        "too many joins from this address: at most 1 a minute; try again in 60 s"
    );
    assert_eq!(node.member_ids(), ["a"], "nothing changed");
    assert_eq!(
        node.transport.calls().len(),
        calls,
        "the joiner was not checked"
    );
}

#[tokio::test]
async fn a_join_to_a_full_cloud_gets_a_json_503_and_changes_nothing() {
    let limits = Limits {
        max_members: 1,
        ..Limits::default()
    };
    let (node, app) = node_with(&limits).await;
    join_member(&node, &app, "a", 4001).await;
    let calls = node.transport.calls().len();
    let body = json!({"id": "b", "port": 4002});
    let (status, reply) = send(&app, post_json("/join", None, body)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        error_of(&reply),
        "the cloud is full: this peer keeps at most 1 members"
    );
    assert_eq!(node.member_ids(), ["a"]);
    assert_eq!(
        node.transport.calls().len(),
        calls,
        "the joiner was not checked"
    );
}

#[tokio::test(start_paused = true)]
async fn a_check_answered_as_its_deadline_passes_still_lets_the_joiner_in() {
    // The answer and the deadline come due at once; the driver, woken for
    // both, hands the core the answer first. A busy peer (a seed that a
    // thousand peers join at once) is woken late for many calls whose
    // answers are already in: taken for timeouts, they failed joiners and
    // suspected members that had answered in time.
    for trial in 0..16 {
        let (node, app) = node().await;
        let answer = Script::AtTimeout(Box::new(live_status(Some("a"))));
        node.transport
            .script(&addr("127.0.0.1:4001"), "/status", answer);
        let body = json!({"id": "a", "ip": null, "port": 4001, "data": {}});
        let (status, reply) = send(&app, post_json("/join", None, body)).await;
        assert_eq!(status, StatusCode::OK, "trial {trial}: {reply}");
        assert_eq!(reply["status"], "joined", "trial {trial}: {reply}");
    }
}
