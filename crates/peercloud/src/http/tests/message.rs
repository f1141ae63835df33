//! `/message`: the sender check, the handler's reply, error and panic, and
//! the body limit.

use super::*;

#[tokio::test]
async fn a_message_from_an_unknown_or_missing_sender_is_refused() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let (status, reply) = send(&app, post_json("/message", Some("stranger"), json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
    assert!(error_of(&reply).contains("unknown sender"), "{reply}");
    let (status, reply) = send(&app, post_json("/message", None, json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
}

#[tokio::test]
async fn the_handler_gets_the_sender_and_body_and_its_reply_is_the_answer() {
    let (mut node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    node.drain_events();
    let (status, reply) = send(&app, post_json("/message", Some("a"), json!({"hi": 1}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        reply,
        json!({"from": "a", "data": {"name": "a"}, "got": {"hi": 1}})
    );
    let events = node.drain_events();
    assert!(
        matches!(&events[..], [Event::MessageReceived { from, body }]
            if from.id() == "a" && *body == json!({"hi": 1})),
        "{events:?}"
    );
    // An empty body is `{}`, an array is passed as it is.
    let (_, reply) = send(&app, post("/message", Some("a"), "")).await;
    assert_eq!(reply["got"], json!({}));
    let (_, reply) = send(&app, post("/message", Some("a"), "[1,2]")).await;
    assert_eq!(reply["got"], json!([1, 2]));
}

#[tokio::test]
async fn a_handler_error_is_a_500_with_its_message() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let body = json!({"fail": "no such account"});
    let (status, reply) = send(&app, post_json("/message", Some("a"), body)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply,
        json!({"error": HANDLER_FAILED, "message": "no such account"})
    );
}

#[tokio::test]
async fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    for when in ["later", "at once"] {
        let body = json!({"panic": when});
        let (status, reply) = send(&app, post_json("/message", Some("a"), body)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{when}: {reply}");
        assert_eq!(reply["error"], HANDLER_FAILED, "{when}: {reply}");
        let (status, _) = send(&app, post_json("/message", Some("a"), json!({"ok": 1}))).await;
        assert_eq!(status, StatusCode::OK, "after a panic {when}");
    }
    assert_eq!(
        send(&app, post("/status", None, "{}")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_malformed_message_is_refused_with_400() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let (status, reply) = send(&app, post("/message", Some("a"), "{\"oops\":")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(error_of(&reply).contains("malformed JSON"), "{reply}");
}

/// A JSON body of exactly `len` bytes.
fn body_of_len(len: usize) -> String {
    let filler = "x".repeat(len - r#"{"x":""}"#.len());
    format!(r#"{{"x":"{filler}"}}"#)
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413_with_or_without_a_length() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let at_limit = body_of_len(LIMIT);
    let over = body_of_len(LIMIT + 1);

    let mut request = post("/message", Some("a"), at_limit.clone());
    request.headers_mut().insert(CONTENT_LENGTH, LIMIT.into());
    assert_eq!(send(&app, request).await.0, StatusCode::OK);

    // Declared by Content-Length.
    let mut request = post("/message", Some("a"), over.clone());
    request
        .headers_mut()
        .insert(CONTENT_LENGTH, (LIMIT + 1).into());
    let (status, reply) = send(&app, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
    assert!(
        error_of(&reply).contains("larger than 1024 bytes"),
        "{reply}"
    );

    // Streamed in chunks, no length given.
    for path in ["/message", "/join", "/joined"] {
        let chunks: Vec<Result<Bytes, std::io::Error>> = over
            .as_bytes()
            .chunks(100)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        let request = post(path, Some("a"), Body::from_stream(stream::iter(chunks)));
        assert!(request.headers().get(CONTENT_LENGTH).is_none());
        let (status, reply) = send(&app, request).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {reply}");
    }
    assert_eq!(node.member_ids(), ["a"]);
}

#[tokio::test]
async fn the_message_route_is_the_path_alone_and_post_only() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    // A query string does not change the route, as with the router.
    let (status, reply) = send(&app, post_json("/message?x=1", Some("a"), json!({"hi": 1}))).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["got"], json!({"hi": 1}));
    let get = HttpRequest::get("/message")
        .header(ID_HEADER, "a")
        .body(Body::empty())
        .expect("a valid request");
    let (status, reply) = send(&app, get).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
    assert_eq!(error_of(&reply), "no endpoint GET /message");
    let (status, reply) = send(&app, post_json("/message/", Some("a"), json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{reply}");
}

#[tokio::test]
async fn a_bad_sender_header_then_a_bad_body_then_a_missing_sender_are_refused_in_that_order() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    // A header that is no id is refused before the body is read.
    let (status, reply) = send(&app, post("/message", Some("a\tb"), "{\"oops\":")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert_eq!(error_of(&reply), format!("invalid {ID_HEADER} header"));
    // A malformed body is refused before the missing sender.
    let (status, reply) = send(&app, post("/message", None, "{\"oops\":")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    assert!(error_of(&reply).contains("malformed JSON"), "{reply}");
    // An unknown sender's body is still read first.
    let over = body_of_len(LIMIT + 1);
    let (status, reply) = send(&app, post("/message", Some("stranger"), over)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
}

#[tokio::test]
async fn a_message_and_its_answer_are_counted_in_the_server_bytes() {
    let (node, app) = node().await;
    join_member(&node, &app, "a", 4001).await;
    let before = node.state.link().recorder().snapshot();
    let body = json!({"hi": 1}).to_string();
    let mut request = post("/message", Some("a"), body.clone());
    request
        .headers_mut()
        .insert(CONTENT_LENGTH, body.len().into());
    let response = app.clone().oneshot(request).await.expect("infallible");
    let answer = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    let after = node.state.link().recorder().snapshot();
    assert_eq!(
        after.bytes_received - before.bytes_received,
        body.len() as u64
    );
    assert_eq!(after.bytes_sent - before.bytes_sent, answer.len() as u64);
}
