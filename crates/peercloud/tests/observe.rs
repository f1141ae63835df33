//! End-to-end tests of what a running peer tells operators: its logs as
//! JSON lines (`--log-format json`). Real processes on 127.0.0.1 and free
//! ports; every wait has a deadline; every child is killed by its pid when
//! its guard drops.

#![allow(clippy::unwrap_used)]

#[path = "support/process.rs"]
mod process;

use std::time::Instant;

use nix::sys::signal::Signal;
use serde_json::Value;

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
