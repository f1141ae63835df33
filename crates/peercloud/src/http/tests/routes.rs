//! `/peers`, and what is not an endpoint.

use peercloud_core::wire::{record_hash, Held};
use peercloud_core::PeerId;

use super::*;

#[tokio::test]
async fn peers_lists_the_members_and_this_peer() {
    let (node, app) = node().await;
    let (status, reply) = send(&app, post("/peers", None, "")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reply,
        json!({"self": {"id": NODE_ID, "data": {"name": NODE_ID}}, "peers": []})
    );
    join_member(&node, &app, "a", 4001).await;
    join_member(&node, &app, "b", 4002).await;
    let (_, reply) = send(&app, post("/peers", None, "")).await;
    assert_eq!(
        reply["peers"],
        json!([
            {"id": "a", "ip": "127.0.0.1", "port": 4001, "data": {"name": "a"}},
            {"id": "b", "ip": "127.0.0.1", "port": 4002, "data": {"name": "b"}},
        ])
    );
}

#[tokio::test]
async fn peers_asked_with_what_the_asker_holds_lists_the_rest_and_names_what_it_lacks() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    join_member(&node, &app, "b", 4002).await;
    let hash = |id: &str| record_hash(&PeerId::parse(id).expect("an id"), 0);
    let stranger = 0x0123_4567_89ab_cdef;
    let have = Held::new([hash(NODE_ID), hash("a"), stranger]);
    let body = json!({ "have": have }).to_string();
    let (status, reply) = send(&app, post("/peers", None, body)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        reply["peers"],
        json!([{"id": "b", "ip": "127.0.0.1", "port": 4002, "data": {"name": "b"}}])
    );
    assert_eq!(reply["lacking"], json!(Held::new([stranger])));

    for bad in [
        r#"{"have": "abc"}"#,
        r#"{"have": 12}"#,
        r#"{"have": "zzzzzzzzzzzzzzzz"}"#,
    ] {
        let (status, reply) = send(&app, post("/peers", None, bad)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            error_of(&reply).starts_with("invalid request: "),
            "{bad}: {reply}"
        );
    }
    let (_, reply) = send(&app, post("/peers", None, "")).await;
    assert_eq!(
        reply["peers"].as_array().map(Vec::len),
        Some(2),
        "nothing changed"
    );
    assert_eq!(
        reply.get("lacking"),
        None,
        "a plain request gets the plain list"
    );
}

#[tokio::test]
async fn other_methods_and_unknown_paths_are_a_json_404() {
    let (_node, app) = node().await;
    let paths = [
        "/join", "/joined", "/left", "/status", "/message", "/peers", "/",
    ];
    for path in paths {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let request = HttpRequest::builder()
                .method(method.clone())
                .uri(path)
                .body(Body::empty())
                .expect("a valid request");
            let (status, reply) = send(&app, request).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(error_of(&reply), format!("no endpoint {method} {path}"));
        }
    }
    for path in ["/nope", "/statuses"] {
        let (status, _) = send(&app, post(path, None, "{}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "POST {path}");
    }
}
