//! Property test of the HTTP edge (fuzzing on stable Rust): the app (the
//! message route and the router) in front of a running node (real core and
//! driver, scripted transport), fed
//! sequences of arbitrary requests — any method, odd paths, sender headers
//! valid, invalid or missing, declared lengths true, false or huge, bodies
//! of any bytes, near-protocol JSON, or over the limit. Every answer is
//! JSON with a documented status (5xx only 502/504, a joiner's failed
//! check; the handler here never fails), an error answer says `error`, no
//! request hangs, nothing panics, and the driver is still there at the end.
//!
//! 64 cases by default (a few seconds); `PROPTEST_CASES=N` sets another
//! number. Time is tokio's paused clock: a request that never gets an
//! answer fails at once rather than hanging the test.

use std::time::Duration;

use axum::http::HeaderValue;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use super::*;

/// The answers the edge may give, per the README: 400 malformed, invalid
/// or no sender, 403 a sender that is not a member, 404 no such endpoint,
/// 409 an id in use, 413 a body over the limit, 502/504 a joiner's check
/// that failed or timed out. (500 is only a failing handler's, and 503
/// only a leaving peer's: neither happens here.)
const DOCUMENTED: [u16; 8] = [200, 400, 403, 404, 409, 413, 502, 504];

/// How long any one request may take, on the paused clock.
const PATIENCE: Duration = Duration::from_secs(60);

/// One request, as the test builds it.
#[derive(Debug, Clone)]
struct Call {
    method: Method,
    path: String,
    sender: Option<Text>,
    content_type: Option<&'static str>,
    declared_length: Option<u64>,
    body: Text,
}

/// Bytes that print as text (lossily), so that a failing case reads.
#[derive(Clone)]
struct Text(Vec<u8>);

impl std::fmt::Debug for Text {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        12 => Just(Method::POST),
        1 => prop::sample::select(vec![
            Method::GET,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::HEAD,
            Method::OPTIONS,
        ]),
    ]
}

/// The endpoints, sometimes with a suffix that makes another path (or
/// the same one with a query), and paths of their own.
fn path() -> impl Strategy<Value = String> {
    let endpoint = prop::sample::select(vec![
        "/join", "/joined", "/left", "/status", "/message", "/peers", "/probe", "/gossip",
    ]);
    let suffix = prop::sample::select(vec![
        "", "", "", "", "/", "?x=1", "//", "/..", "%2F", "x", "?", "#f",
    ]);
    prop_oneof![
        8 => (endpoint, suffix).prop_map(|(e, s)| format!("{e}{s}")),
        1 => "/[a-zA-Z0-9%._~/?=&-]{0,24}",
        1 => Just("/".to_owned()),
    ]
}

/// The `x-peercloud-id` header: a member, a stranger, or something no id
/// is (too long, spaces, bytes past ASCII).
fn sender() -> impl Strategy<Value = Option<Text>> {
    prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "stranger", NODE_ID])
            .prop_map(|s| Some(Text(s.as_bytes().to_vec()))),
        1 => Just(None),
        1 => "[ -~]{0,140}".prop_map(|s| Some(Text(s.into_bytes()))),
        1 => prop::collection::vec(0x80u8..=0xff, 1..8).prop_map(|b| Some(Text(b))),
    ]
}

/// Near-protocol JSON: the fields the endpoints read, with values that
/// fit, do not, or are odd.
fn json_body() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        Just(Value::from(1.5)),
        prop::sample::select(vec![
            "a",
            "b",
            "stranger",
            "",
            "127.0.0.1",
            "::ffff:127.0.0.1",
            "[::1]",
            "alive",
            "suspect",
            "failed",
            "left",
            "9338",
            "x y",
            "é",
        ])
        .prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 4, |inner| {
        let key = prop::sample::select(vec![
            "id",
            "ip",
            "port",
            "data",
            "incarnation",
            "from",
            "updates",
            "target",
            "kind",
            "by",
            "rejoining",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.prop_map(str::to_owned), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    });
    let port = prop_oneof![3 => (4001u16..4005).prop_map(Value::from), 1 => value.clone()];
    let id = prop_oneof![
        3 => prop::sample::select(vec!["a", "b", "c", "d", NODE_ID]).prop_map(Value::from),
        1 => value.clone(),
    ];
    let ip = prop_oneof![
        3 => Just(Value::from("127.0.0.1")),
        1 => Just(Value::Null),
        1 => value.clone(),
    ];
    let peer = (id.clone(), ip, port, value.clone())
        .prop_map(|(id, ip, port, data)| json!({"id": id, "ip": ip, "port": port, "data": data}));
    let update = (
        prop::sample::select(vec!["alive", "suspect", "failed", "left"]),
        id.clone(),
    )
        .prop_map(|(kind, id)| json!({"kind": kind, "id": id, "incarnation": 1}));
    let envelope = (
        prop::option::of(update.clone()),
        prop::collection::vec(update, 0..3),
    )
        .prop_map(|(from, updates)| json!({"from": from, "updates": updates}));
    // The join that succeeds: "c", where the transport answers as "c".
    let join_c = value
        .clone()
        .prop_map(|data| json!({"id": "c", "ip": null, "port": 4003, "data": data}));
    prop_oneof![
        join_c,
        peer.clone(),
        id.prop_map(|id| json!({ "id": id })),
        envelope.clone(),
        (peer, envelope).prop_map(|(target, mut envelope)| {
            envelope["target"] = target;
            envelope
        }),
        value,
    ]
}

fn body() -> impl Strategy<Value = Text> {
    let bytes = prop_oneof![
        6 => json_body().prop_map(|v| v.to_string().into_bytes()),
        2 => prop::collection::vec(any::<u8>(), 0..64),
        1 => Just(Vec::new()),
        1 => (LIMIT..LIMIT + 64).prop_map(|n| format!("{{\"x\":\"{}\"}}", "y".repeat(n)).into_bytes()),
    ];
    bytes.prop_map(Text)
}

fn call() -> impl Strategy<Value = Call> {
    (
        method(),
        path(),
        sender(),
        prop::sample::select(vec![Some("application/json"), Some("text/plain"), None]),
        prop::option::weighted(0.15, prop_oneof![0u64..2048, Just(u64::MAX)]),
        body(),
    )
        .prop_map(
            |(method, path, sender, content_type, declared_length, body)| Call {
                method,
                path,
                sender,
                content_type,
                declared_length,
                body,
            },
        )
}

/// The request, or `None` when `http` itself refuses to build it (a path
/// it cannot take): no peer would ever see such a request.
fn request(call: &Call) -> Option<HttpRequest<Body>> {
    let mut builder = HttpRequest::builder()
        .method(call.method.clone())
        .uri(&call.path);
    if let Some(value) = call
        .sender
        .as_ref()
        .and_then(|s| HeaderValue::from_bytes(&s.0).ok())
    {
        builder = builder.header(ID_HEADER, value);
    }
    if let Some(content_type) = call.content_type {
        builder = builder.header(CONTENT_TYPE, content_type);
    }
    if let Some(length) = call.declared_length {
        builder = builder.header(CONTENT_LENGTH, length);
    }
    builder.body(Body::from(call.body.0.clone())).ok()
}

/// Sends one request; the answer must come, be JSON, have a documented
/// status, and say `error` when it is one.
async fn answer(app: &App, call: &Call) -> Result<u16, TestCaseError> {
    let Some(request) = request(call) else {
        return Ok(0);
    };
    let answered = tokio::time::timeout(PATIENCE, app.clone().oneshot(request)).await;
    let Ok(Ok(response)) = answered else {
        return Err(TestCaseError::fail(format!(
            "no answer within {PATIENCE:?}"
        )));
    };
    let status = response.status().as_u16();
    prop_assert!(DOCUMENTED.contains(&status), "undocumented status {status}");
    let content_type = response.headers().get(CONTENT_TYPE).cloned();
    prop_assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "status {}",
        status
    );
    if call.method == Method::HEAD {
        // A HEAD answer has no body, by HTTP's rules.
        return Ok(status);
    }
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| TestCaseError::fail(format!("a broken body: {e}")))?
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes)
        .map_err(|e| TestCaseError::fail(format!("not JSON ({e}): {bytes:?}")))?;
    if status >= 400 {
        prop_assert!(
            body["error"].is_string(),
            "{status} without an error: {body}"
        );
    }
    Ok(status)
}

/// A fresh node with two members, "a" and "b" (and "c" ready to join at
/// 127.0.0.1:4003), fed `calls` in order; at the end its driver must
/// still take membership requests.
async fn run_case(calls: &[Call]) -> Result<(), TestCaseError> {
    let handler: Handler =
        Arc::new(|_peer: Peer, body: Value| Box::pin(async move { Ok(json!({ "got": body })) }));
    let node = TestNode::start(handler, LIMIT).await;
    let app = app_of(&node);
    join_member(&node, &app, "a", 4001).await;
    join_member(&node, &app, "b", 4002).await;
    node.transport
        .status_answers(&addr("127.0.0.1:4003"), Some("c"));
    for (i, call) in calls.iter().enumerate() {
        answer(&app, call)
            .await
            .map_err(|e| TestCaseError::fail(format!("request {i} ({call:?}): {e}")))?;
    }
    let alive = post_json("/gossip", Some("fuzz-check"), json!({}));
    let (status, reply) = send(&app, alive).await;
    prop_assert_eq!(status, StatusCode::OK, "the driver is gone: {}", reply);
    Ok(())
}

#[test]
fn any_request_gets_a_documented_json_answer_and_the_node_lives_on() {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(64);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let mut runner = TestRunner::new(config);
    let calls = prop::collection::vec(call(), 1..8);
    let result = runner.run(&calls, |calls| runtime.block_on(run_case(&calls)));
    if let Err(failure) = result {
        panic!("{failure}");
    }
}
