//! `Cloud::metrics` on real peers in one process, on `127.0.0.1:0`: the
//! counters move as messages flow and when a peer crashes. A crash is a
//! peer whose runtime is shut down under it: its listener closes and it
//! never says goodbye. Every wait has a deadline.

#![allow(clippy::unwrap_used)]

#[path = "support/wait.rs"]
mod wait;

use std::net::TcpListener;
use std::time::Duration;

use peercloud::{Cloud, Config, HandlerError, Metrics};
use serde_json::json;

const DEADLINE: Duration = Duration::from_secs(20);

/// Probes often, with a WAN's patient timeouts (the tests share two cores).
fn fast() -> Config {
    Config {
        probe_interval: Duration::from_millis(100),
        ..Config::new_wan()
    }
}

/// A peer on 127.0.0.1:0 whose handler fails when the body says so.
async fn start(seed: Option<String>) -> Cloud {
    let mut builder = Cloud::builder()
        .listener(TcpListener::bind("127.0.0.1:0").unwrap())
        .membership(fast())
        .on_message(|_, body| async move {
            if body["fail"] == true {
                return Err(HandlerError::new("asked to fail"));
            }
            Ok(json!({"got": body}))
        });
    if let Some(seed) = seed {
        builder = builder.seed(seed);
    }
    builder.start().await.unwrap()
}

/// Polls the metrics of `cloud` until `done` holds for them (metrics have
/// no watch: they change with every request).
async fn wait_until(cloud: &Cloud, what: &str, done: impl Fn(&Metrics) -> bool) -> Metrics {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let look = || {
        let metrics = cloud.metrics();
        std::future::ready(match done(&metrics) {
            true => Ok(metrics),
            false => Err(metrics),
        })
    };
    wait::until_async(deadline, what, look).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_messages_bytes_probes_and_a_crashed_peer() {
    let a = start(None).await;
    let crashing = tokio::runtime::Runtime::new().unwrap();
    let seed = format!("127.0.0.1:{}", a.port());
    // Started on a runtime of its own, which the crash will shut down.
    let b = crashing.spawn(start(Some(seed))).await.unwrap();
    wait_until(&a, "b is a member", |m| m.members.alive == 1).await;

    let b_id = b.id();
    assert!(a.send_to(&b_id, json!({"n": 1})).await.is_ok());
    assert!(a.send_to(&b_id, json!({"fail": true})).await.is_err());
    assert_eq!(a.send(json!({"n": 2})).await.len(), 1);

    let sent = a.metrics();
    assert_eq!((sent.messages_sent.ok, sent.messages_sent.handler), (2, 1));
    assert_eq!(sent.message_latency.count, 3);
    assert_eq!((sent.broadcasts, sent.broadcast_latency.count), (1, 1));
    assert_eq!(sent.membership.joins, 1);
    assert!(sent.bytes_sent > 0 && sent.bytes_received > 0, "{sent:#?}");
    let received = b.metrics();
    assert_eq!(
        (
            received.messages_received.ok,
            received.messages_received.handler_failed
        ),
        (2, 1)
    );
    assert_eq!(received.handler_duration.count, 3);

    wait_until(&a, "a probe of b is answered", |m| {
        m.membership.probes_acked >= 1 && m.calls.ok >= 1
    })
    .await;

    // The crash: b's tasks and listener go, with no goodbye.
    std::mem::forget(b);
    crashing.shutdown_background();
    let after = wait_until(&a, "b is evicted", |m| {
        m.membership.evictions.refused + m.membership.evictions.silent == 1
    })
    .await;
    assert_eq!(after.members.alive + after.members.suspected, 0);
    assert_eq!(after.membership.leaves, 0);
    assert!(after.membership.probes_failed >= 1, "{after:#?}");
    assert!(after.calls.no_listener >= 1, "{after:#?}");
    a.close().await;
}
