//! End-to-end tests of what a running peer tells operators: its logs as
//! JSON lines (`--log-format json`) and its metrics, scraped from the admin
//! listener's `GET /metrics`. Real processes on 127.0.0.1 and free
//! ports; every wait has a deadline; every child is killed by its pid when
//! its guard drops.

#![allow(clippy::unwrap_used)]

#[path = "support/admin.rs"]
mod admin;
#[path = "support/process.rs"]
mod process;
#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use nix::sys::signal::Signal;
use serde_json::Value;

use admin::start_with_admin;
use process::{RunningPeer, DEADLINE};

#[test]
fn json_logs_are_one_object_per_line_with_level_target_and_fields() {
    let mut peer = RunningPeer::start_alone(&["-v", "--log-format", "json"]);
    peer.guard.signal(Signal::SIGTERM);
    let status = peer.guard.wait(Instant::now() + DEADLINE).unwrap();
    assert!(status.success());
    peer.pipes.read_to_end();
    let stderr = peer.pipes.stderr.lock().unwrap().clone();
    let records: Vec<Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    let leaving = records
        .iter()
        .find(|r| r["message"] == "leaving the cloud")
        .unwrap_or_else(|| panic!("no leaving record in {stderr}"));
    assert_eq!(leaving["level"], "INFO");
    assert_eq!(leaving["signal"], "SIGTERM");
    assert_eq!(leaving["target"], "peercloud::run");
    assert!(leaving["timestamp"].is_string());
}

#[test]
fn text_logs_stay_the_default() {
    let mut peer = RunningPeer::start_alone(&["-v"]);
    peer.guard.signal(Signal::SIGTERM);
    peer.guard.wait(Instant::now() + DEADLINE).unwrap();
    peer.pipes.read_to_end();
    let stderr = peer.pipes.stderr.lock().unwrap().clone();
    let line = stderr
        .lines()
        .find(|line| line.contains("leaving the cloud"))
        .unwrap_or_else(|| panic!("no leaving line in {stderr}"));
    assert!(
        line.contains("INFO peercloud::run: leaving the cloud signal=\"SIGTERM\""),
        "{line}"
    );
}

/// `GET path` on `addr`: the status, the `Content-Type` and the body.
fn get_text(addr: &str, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|line| {
            line.to_ascii_lowercase()
                .strip_prefix("content-type: ")
                .map(str::to_owned)
        })
        .unwrap_or_default();
    (status, content_type, body.to_owned())
}

/// The samples of an exposition, by series (`name{labels}`).
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Scrapes `/metrics` until `done` holds for its samples.
fn scrape_until(
    admin: &str,
    what: &str,
    done: impl Fn(&BTreeMap<String, f64>) -> bool,
) -> BTreeMap<String, f64> {
    let text = || get_text(admin, "/metrics").2;
    let look = || {
        let samples = samples(&text());
        done(&samples).then_some(samples)
    };
    wait::until(Instant::now() + DEADLINE, what, text, look).0
}

#[test]
fn metrics_scraped_from_the_admin_listener_move_as_messages_flow_and_a_peer_fails() {
    let first = RunningPeer::start_alone(&[]);
    let (mut second, admin) = start_with_admin(first.port, &[]);
    let mut third = RunningPeer::start(first.port, &[]);
    second.wait_for_peers(&[&first.id, &third.id]);

    let (status, content_type, text) = get_text(&admin, "/metrics");
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for (name, kind) in [
        ("peercloud_members", "gauge"),
        ("peercloud_local_health", "gauge"),
        ("peercloud_probes_sent", "counter"),
        ("peercloud_evictions", "counter"),
        ("peercloud_messages_sent", "counter"),
        ("peercloud_message_latency_seconds", "histogram"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name}: {text}"
        );
        assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
    }
    let alive = r#"peercloud_members{state="alive"}"#;
    assert_eq!(samples(&text)[alive], 2.0, "{text}");

    second.write_line(r#"{"hello":"all"}"#);
    second.wait_for("replies", |_| true);
    let sent = samples(&get_text(&admin, "/metrics").2);
    assert_eq!(sent[r#"peercloud_messages_sent_total{outcome="ok"}"#], 2.0);
    assert_eq!(sent["peercloud_broadcasts_total"], 1.0);
    assert_eq!(sent["peercloud_message_latency_seconds_count"], 2.0);

    // A crash: no goodbye, its port closed.
    third.guard.kill_now();
    let after = scrape_until(&admin, "the crashed peer is evicted", |s| {
        s[r#"peercloud_evictions_total{cause="refused"}"#]
            + s[r#"peercloud_evictions_total{cause="silent"}"#]
            + s[r#"peercloud_evictions_total{cause="reported"}"#]
            == 1.0
    });
    assert_eq!(after[alive], 1.0);
    assert_eq!(after["peercloud_leaves_total"], 0.0);
    assert!(after["peercloud_probes_sent_total"] >= 1.0);
}
