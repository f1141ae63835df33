//! The admin routes with `oneshot`, in front of real peers on loopback
//! (port 0): the members, sending and its errors, the event stream, the
//! page. Every wait has a deadline.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use peercloud::{Cloud, Event};
use serde_json::{json, Value};
use tower::ServiceExt;

use super::{router, AdminState};

const DEADLINE: Duration = Duration::from_secs(10);

/// A peer on 127.0.0.1 named `name` that answers `{"from": name}`,
/// joining through `seed` if given.
async fn peer(name: &'static str, seed: Option<&Cloud>) -> Arc<Cloud> {
    let mut builder = Cloud::builder()
        .bind(Ipv4Addr::LOCALHOST.into())
        .random_port()
        .data(json!({ "name": name }))
        .on_message(move |_, _| async move { Ok(json!({ "from": name })) });
    if let Some(seed) = seed {
        builder = builder.seed(format!("127.0.0.1:{}", seed.port()));
    }
    Arc::new(builder.start().await.unwrap())
}

/// Two peers, `a` and `b`, each knowing the other; and `a`'s admin routes.
async fn pair() -> (Arc<Cloud>, Arc<Cloud>, Router) {
    let a = peer("a", None).await;
    let b = peer("b", Some(&a)).await;
    let knows = |cloud: &Cloud, other: &Cloud| cloud.peer(&other.id()).is_some();
    tokio::time::timeout(DEADLINE, async {
        while !(knows(&a, &b) && knows(&b, &a)) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a and b know each other in time");
    let app = router(AdminState::new(a.clone()));
    (a, b, app)
}

async fn call(app: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    assert_eq!(
        response.headers().get(CONTENT_TYPE).unwrap(),
        "application/json"
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post_send(body: &str) -> Request<Body> {
    Request::post("/api/send")
        .header(CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_owned()))
        .unwrap()
}

#[tokio::test]
async fn members_lists_this_peer_first_then_every_member_with_its_state() {
    let (a, b, app) = pair().await;
    let (status, members) = call(&app, get("/api/members")).await;
    assert_eq!(status, StatusCode::OK);
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    assert_eq!(members[0]["id"], a.id());
    assert_eq!(members[0]["self"], true);
    assert_eq!(members[0]["port"], a.port());
    assert_eq!(members[0]["data"], json!({"name": "a"}));
    assert_eq!(members[0]["state"], "alive");
    let other = &members[1];
    assert_eq!(other["id"], b.id());
    assert_eq!(other["self"], false);
    assert_eq!(other["ip"], "127.0.0.1");
    assert_eq!(other["port"], b.port());
    assert_eq!(other["data"], json!({"name": "b"}));
    assert_eq!(other["state"], "alive");
    // a checked b with /status when b joined through it.
    assert!(other["last_contact_ago_ms"].is_u64(), "{other}");
}

#[tokio::test]
async fn send_broadcasts_or_sends_to_one_member_and_answers_the_replies() {
    let (_a, b, app) = pair().await;
    let expected =
        json!({"replies": [{"peer": {"name": "b"}, "id": b.id(), "value": {"from": "b"}}]});
    let (status, replies) = call(&app, post_send(r#"{"body": {"hi": 1}}"#)).await;
    assert_eq!((status, &replies), (StatusCode::OK, &expected));
    let to_b = json!({"body": "hello", "to": b.id()}).to_string();
    let (status, replies) = call(&app, post_send(&to_b)).await;
    assert_eq!((status, &replies), (StatusCode::OK, &expected));
}

#[tokio::test]
async fn send_to_an_unknown_member_is_404_and_sends_nothing() {
    let (a, b, app) = pair().await;
    let mut b_events = b.events();
    let (status, answer) = call(&app, post_send(r#"{"body": 1, "to": "nobody"}"#)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(answer["error"], r#"no member has the id "nobody""#);
    assert_eq!(answer["id"], "nobody");
    // b sees the next message, not one before it.
    a.send(json!("after")).await;
    let first = tokio::time::timeout(DEADLINE, async {
        loop {
            if let Some(Event::MessageReceived { body, .. }) = b_events.recv().await {
                return body;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(first, json!("after"));
}

#[tokio::test]
async fn bad_send_requests_are_refused_with_what_was_wrong() {
    let (_a, _b, app) = pair().await;
    for (body, says) in [
        ("{}", "missing field `body`"),
        ("{\"body\": 1", "EOF"),
        ("not json", "expected"),
        (r#"{"body": 1, "too": "x"}"#, "unknown field `too`"),
        (r#"{"body": 1, "to": 7}"#, "invalid type"),
    ] {
        let (status, answer) = call(&app, post_send(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(says), "{body}: {error}");
    }
    let plain = Request::post("/api/send")
        .body(Body::from(r#"{"body": 1}"#))
        .unwrap();
    let (status, answer) = call(&app, plain).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(answer["error"]
        .as_str()
        .unwrap()
        .contains("application/json"));
}

#[tokio::test]
async fn events_are_server_sent_events_named_as_the_json_lines() {
    let a = peer("a", None).await;
    let app = router(AdminState::new(a.clone()));
    let response = app.oneshot(get("/api/events")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).unwrap(),
        "text/event-stream"
    );
    let b = peer("b", Some(&a)).await;
    let mut body = response.into_body();
    let mut text = String::new();
    read_until(&mut body, &mut text, |t| t.contains("event: peer_joined\n")).await;
    let data = text
        .lines()
        .skip_while(|line| *line != "event: peer_joined")
        .nth(1)
        .and_then(|line| line.strip_prefix("data: "))
        .unwrap();
    let line: Value = serde_json::from_str(data).unwrap();
    assert_eq!(
        line,
        json!({"event": "peer_joined", "peer": {"id": b.id(), "ip": "127.0.0.1", "port": b.port(), "data": {"name": "b"}}})
    );
}

/// Reads the SSE body until `done` holds for the text read so far.
async fn read_until(body: &mut Body, text: &mut String, done: impl Fn(&str) -> bool) {
    tokio::time::timeout(DEADLINE, async {
        while !done(text) {
            let frame = body.frame().await.unwrap().unwrap();
            if let Ok(data) = frame.into_data() {
                text.push_str(&String::from_utf8_lossy(&data));
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("not found in {text:?}"));
}

#[tokio::test]
async fn a_client_that_falls_behind_gets_lagged_and_the_stream_goes_on() {
    let (a, b, app) = pair().await;
    let response = app.oneshot(get("/api/events")).await.unwrap();
    let mut body = response.into_body();
    // More events than the stream holds (256), none read meanwhile.
    for i in 0..1100 {
        a.send_to(&b.id(), json!(i)).await.unwrap();
    }
    let mut text = String::new();
    read_until(&mut body, &mut text, |t| t.contains("event: lagged\n")).await;
    let missed = text
        .lines()
        .find_map(|line| line.strip_prefix("data: {\"event\":\"lagged\",\"missed\":"))
        .and_then(|rest| rest.strip_suffix('}'))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no lagged line with a count in {text:?}"));
    assert!(missed > 0);
    a.send_to(&b.id(), json!("after")).await.unwrap();
    read_until(&mut body, &mut text, |t| t.contains(r#""body":"after""#)).await;
}

#[tokio::test]
async fn a_request_for_another_host_name_is_refused_on_loopback() {
    let a = peer("a", None).await;
    let app = router(AdminState::new(a));
    let rebound = Request::get("/api/members")
        .header("host", "evil.example:9339")
        .body(Body::empty())
        .unwrap();
    let (status, answer) = call(&app, rebound).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(answer["error"].as_str().unwrap().contains("evil.example"));
    let local = Request::get("/api/members")
        .header("host", "localhost:9339")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, local).await.0, StatusCode::OK);
}

#[tokio::test]
async fn the_console_is_one_html_page_and_other_paths_are_json_404s() {
    let a = peer("a", None).await;
    let app = router(AdminState::new(a));
    let response = app.clone().oneshot(get("/")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers().get(CONTENT_TYPE).unwrap(),
        "text/html; charset=utf-8"
    );
    let policy = response.headers().get(CONTENT_SECURITY_POLICY).unwrap();
    assert!(policy.to_str().unwrap().contains("default-src 'none'"));
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let page = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(page.contains("new EventSource(\"/api/events\")"));
    // Nothing to load: no script, style or image from anywhere.
    assert!(!page.contains(" src=") && !page.contains(" href="));
    let (status, answer) = call(&app, get("/api/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(answer["error"].as_str().unwrap().contains("/api/members"));
}
