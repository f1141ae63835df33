//! The web console in a real headless Chromium: it lists a live cloud,
//! follows a peer joining and one leaving without a reload, draws them,
//! and counts messages as they go. Real `peercloud run` processes on
//! 127.0.0.1 (see `cli.rs`), the browser through `support/browser.rs`.
//! Skips, saying why, without Chromium or playwright-core, unless
//! `PEERCLOUD_REQUIRE_BROWSER` is set.
//!
//! `cargo test -p peercloud --test console -- --ignored` also draws
//! `docs/console.png`, the README's picture.

#![allow(clippy::unwrap_used)]

#[path = "support/admin.rs"]
mod admin;
#[path = "support/browser.rs"]
mod browser;
#[path = "support/process.rs"]
mod process;

use std::path::Path;

use nix::sys::signal::Signal;
use serde_json::json;

use admin::start_with_admin;
use browser::{skip_reason, Browser};
use process::{run_to_end, RunningPeer};

/// What the page shows, for failure messages: each table row's id and
/// state, and the drawn nodes.
const DESCRIBE: &str = "JSON.stringify({rows: [...document.querySelectorAll('#members tr')]\
     .map(r => r.dataset.id + ':' + r.dataset.state), nodes: [...document.querySelectorAll('#cloud g.node')]\
     .map(n => n.dataset.id + ':' + n.dataset.state), conn: document.getElementById('conn').textContent})";

/// An expression true when the row and the drawn node of `id` show `state`.
fn shows(id: &str, state: &str) -> String {
    format!(
        "document.querySelector('#members tr[data-id=\"{id}\"]')?.dataset.state === '{state}' && \
         document.querySelector('#cloud g.node[data-id=\"{id}\"]')?.dataset.state === '{state}'"
    )
}

fn count(selector: &str) -> String {
    format!("document.querySelectorAll('{selector}').length")
}

#[test]
fn the_console_follows_the_cloud_live_without_a_reload() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let (mut first, admin) =
        start_with_admin(process::unused_port(), &["--data", r#"{"name":"first"}"#]);
    first.expect_event(2, "alone");
    let second = RunningPeer::start(first.port, &["--data", r#"{"name":"second"}"#]);
    let third = RunningPeer::start(first.port, &["--data", r#"{"name":"third"}"#]);
    first.wait_for_peers(&[&second.id, &third.id]);

    let mut browser = Browser::start();
    browser.goto(&format!("http://{admin}/"));
    let listed = [&first.id, &second.id, &third.id]
        .iter()
        .map(|id| shows(id, "alive"))
        .collect::<Vec<_>>()
        .join(" && ");
    browser.wait_until("the three members are listed and drawn", &listed, DESCRIBE);
    assert_eq!(browser.eval(&count("#members tr")), 3);
    assert_eq!(browser.eval(&count("#cloud g.node")), 3);
    assert_eq!(
        browser.eval("document.querySelector('#cloud g.node[data-id] circle[stroke]')?.parentNode.dataset.id"),
        json!(first.id),
        "this peer is the one ringed"
    );
    // Gone on a reload: proves the page below is the same page.
    browser.eval("window.loadedOnce = true");

    let fourth = RunningPeer::start(first.port, &["--data", r#"{"name":"fourth"}"#]);
    browser.wait_until(
        "the fourth peer shows up",
        &shows(&fourth.id, "alive"),
        DESCRIBE,
    );
    assert_eq!(browser.eval(&count("#cloud g.node")), 4);

    fourth.guard.signal(Signal::SIGTERM);
    browser.wait_until(
        "the fourth peer shows as left",
        &shows(&fourth.id, "left"),
        DESCRIBE,
    );
    assert_eq!(browser.eval(&count("#members tr[data-state=alive]")), 3);
    assert_eq!(browser.eval(&count("#cloud g.node[data-state=alive]")), 3);

    let sent = run_to_end(&["send", &admin, r#"{"hello":"console"}"#]);
    assert!(sent.status.success(), "{}", sent.stderr);
    browser.wait_until(
        "the two messages sent are logged and counted",
        "document.querySelectorAll('#log .ev-message_sent').length === 2 && \
         document.getElementById('rate-out').textContent !== '0.0'",
        "document.getElementById('log').innerText",
    );
    assert_eq!(
        browser.eval("window.loadedOnce === true"),
        true,
        "no reload"
    );
    assert_eq!(
        browser.eval("performance.getEntriesByType('navigation').length"),
        1
    );
    assert_eq!(browser.problems(), json!([]));
}

/// Draws `docs/console.png`: five peers with data, messages going both
/// ways, one peer suspected (stopped) and one gone.
#[test]
#[ignore = "draws docs/console.png for the README; run it by name"]
fn the_readme_screenshot() {
    if let Some(reason) = skip_reason() {
        eprintln!("skipped: {reason}");
        return;
    }
    let data = |name: &str, zone: &str| json!({"name": name, "zone": zone}).to_string();
    let (mut console, admin) = start_with_admin(
        process::unused_port(),
        &[
            "--data",
            &data("gateway", "eu-west"),
            "--reply",
            r#"{"ok":true}"#,
        ],
    );
    console.expect_event(2, "alone");
    let mut peers: Vec<RunningPeer> = [
        ("worker-1", "eu-west"),
        ("worker-2", "eu-west"),
        ("worker-3", "us-east"),
        ("cache", "us-east"),
        ("batch", "eu-central"),
    ]
    .iter()
    .map(|(name, zone)| {
        RunningPeer::start(
            console.port,
            &[
                "--data",
                &data(name, zone),
                "--reply",
                &json!({"ack": name}).to_string(),
            ],
        )
    })
    .collect();
    let ids: Vec<String> = peers.iter().map(|p| p.id.clone()).collect();
    console.wait_for_peers(&ids.iter().map(String::as_str).collect::<Vec<_>>());

    let mut browser = Browser::start();
    browser.goto(&format!("http://{admin}/"));
    let alive = count("#members tr[data-state=alive]");
    browser.wait_until("every peer is listed", &format!("{alive} === 6"), DESCRIBE);
    peers[4].guard.signal(Signal::SIGTERM);
    browser.wait_until("batch shows as left", &shows(&ids[4], "left"), DESCRIBE);
    for round in 0..8 {
        let sent = run_to_end(&["send", &admin, &json!({"job": round}).to_string()]);
        assert!(sent.status.success(), "{}", sent.stderr);
        for peer in &mut peers[round % 2..2 + round % 2] {
            peer.write_line(&json!({"done": round}).to_string());
        }
        // Spreads the traffic over a few seconds, so that the picture
        // shows rates; this test draws a picture and asserts no timing.
        std::thread::sleep(std::time::Duration::from_millis(400));
    }
    peers[3].guard.signal(Signal::SIGSTOP);
    browser.wait_until("cache is suspected", &shows(&ids[3], "suspected"), DESCRIBE);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/console.png");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    browser.screenshot(&path);
    peers[3].guard.kill_now();
}
