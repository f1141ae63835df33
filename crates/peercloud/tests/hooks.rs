//! End-to-end tests of `peercloud run`'s hooks: `--exec` answers messages
//! with a shell script, `--on-event` runs one for each membership event.
//! Real processes on 127.0.0.1 and free ports; scripts write into a temp
//! directory of the test's own. Every wait has a deadline; every child is
//! killed by its pid when its guard drops.

#![allow(clippy::unwrap_used)]

#[path = "support/process.rs"]
mod process;
#[path = "support/wait.rs"]
mod wait;

use std::path::Path;
use std::time::Instant;

use peercloud::{Cloud, Config, SendError};
use serde_json::{json, Value};

use process::{run_to_end, RunningPeer, DEADLINE};

/// Replies with what the script was given: its environment and its stdin.
const ECHO_SCRIPT: &str = r#"printf '{"from_id":"%s","from_data":%s,"from_address":"%s","self_id":"%s","body":%s}' "$PEERCLOUD_FROM_ID" "$PEERCLOUD_FROM_DATA" "$PEERCLOUD_FROM_ADDRESS" "$PEERCLOUD_SELF_ID" "$(cat)""#;

#[test]
fn a_reply_printed_by_the_exec_script_reaches_the_sender() {
    let mut first = RunningPeer::start_alone(&["--exec", ECHO_SCRIPT]);
    let mut second = RunningPeer::start(first.port, &["--data", r#"{"name":"second"}"#]);
    second.expect_event(1, "joined");
    first.wait_for_peers(&[&second.id]);

    second.write_line(r#"{"task":"add","n":[1,2]}"#);
    let replies = second.wait_for("replies", |_| true);
    assert_eq!(
        replies["replies"],
        json!([{"peer": {}, "id": first.id, "value": {
            "from_id": second.id,
            "from_data": {"name": "second"},
            "from_address": format!("127.0.0.1:{}", second.port),
            "self_id": first.id,
            "body": {"task": "add", "n": [1, 2]},
        }}])
    );
}

/// Fails in the way the body names.
const FAILING_SCRIPT: &str = r#"body=$(cat); case "$body" in
  *exit*) echo '{"partial":true}'; echo 'something broke' >&2; exit 3 ;;
  *garbage*) echo 'this is not json' ;;
  *slow*) sleep 30; echo '{}' ;;
  *empty*) ;;
esac"#;

#[test]
fn a_failing_exec_script_answers_the_sender_a_clear_error() {
    let mut first =
        RunningPeer::start_alone(&["--exec", FAILING_SCRIPT, "--exec-timeout-ms", "500"]);
    let mut second = RunningPeer::start(first.port, &[]);
    second.expect_event(1, "joined");
    first.wait_for_peers(&[&second.id]);

    let cases = [
        ("exit", "the handler exited with status 3"),
        ("garbage", "the handler's output is not JSON"),
        (
            "slow",
            "the handler did not finish within 500 ms and was killed",
        ),
        ("empty", "the handler's output is not JSON"),
    ];
    for (i, (kind, expected)) in cases.into_iter().enumerate() {
        second.write_line(&json!({ "case": kind }).to_string());
        second.pipes.wait_until(&format!("reply {i}"), |seen| {
            process::parse_all(seen)
                .iter()
                .filter(|e| e["event"] == "replies")
                .count()
                > i
        });
        let all: Vec<Value> = second
            .pipes
            .events()
            .into_iter()
            .filter(|e| e["event"] == "replies")
            .collect();
        let error = all[i]["replies"][0]["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains("message handler failed") && error.contains(expected),
            "{kind}: {error}"
        );
    }
    // The script's stderr went to the peer's log.
    first.pipes.drain();
    let stderr = || first.pipes.stderr.lock().unwrap().clone();
    wait::until_true(
        Instant::now() + DEADLINE,
        "the script's stderr is logged",
        stderr,
        || stderr().contains("something broke"),
    );
}

#[test]
fn exec_and_reply_together_are_a_usage_error() {
    let result = run_to_end(&["run", "--exec", "cat", "--reply", "{}"]);
    assert_eq!(result.status.code(), Some(2), "{}", result.stderr);
    assert!(result.stderr.contains("--reply"), "{}", result.stderr);
}

/// Counts the runs under way in `dir/running` (under a lock), and appends
/// each count reached to `dir/peaks`.
fn counting_script(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"exec 9>"{d}/lock"
flock 9; n=$(( $(cat "{d}/running") + 1 )); echo $n > "{d}/running"; echo $n >> "{d}/peaks"; flock -u 9
sleep 0.4
flock 9; echo $(( $(cat "{d}/running") - 1 )) > "{d}/running"; flock -u 9
echo '{{"done":true}}'"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_exec_scripts_run_at_once_than_the_concurrency_allows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("running"), "0\n").unwrap();
    let script = counting_script(dir.path());
    let mut first = tokio::task::spawn_blocking(move || {
        RunningPeer::start_alone(&["--exec", &script, "--exec-concurrency", "2"])
    })
    .await
    .unwrap();
    let sender = Cloud::builder()
        .listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .seed(first.address())
        .membership(Config::new_wan())
        .start()
        .await
        .unwrap();
    let sender_id = sender.id();
    let mut first = tokio::task::spawn_blocking(move || {
        first.wait_for_peers(&[&sender_id]);
        first
    })
    .await
    .unwrap();

    let peer = sender.peer(&first.id).unwrap();
    let sends = (0..6).map(|i| peer.send(json!({ "n": i })));
    let replies = futures_util::future::join_all(sends).await;
    for reply in &replies {
        assert_eq!(reply.as_ref().unwrap(), &json!({"done": true}));
    }
    let peaks: Vec<u32> = std::fs::read_to_string(dir.path().join("peaks"))
        .unwrap()
        .lines()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(peaks.len(), 6, "{peaks:?}");
    assert_eq!(peaks.iter().max(), Some(&2), "{peaks:?}");
    sender.close().await;
    first.pipes.drain();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_sender_sees_a_failed_exec_as_a_handler_error() {
    let mut first =
        tokio::task::spawn_blocking(|| RunningPeer::start_alone(&["--exec", "echo oops; exit 7"]))
            .await
            .unwrap();
    let sender = Cloud::builder()
        .listener(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .seed(first.address())
        .membership(Config::new_wan())
        .start()
        .await
        .unwrap();
    let sender_id = sender.id();
    let first = tokio::task::spawn_blocking(move || {
        first.wait_for_peers(&[&sender_id]);
        first
    })
    .await
    .unwrap();

    let error = sender.send_to(&first.id, json!({})).await.unwrap_err();
    match error {
        SendError::Handler { message, .. } => {
            assert_eq!(message, "the handler exited with status 7")
        }
        other => panic!("not a handler error: {other:?}"),
    }
    sender.close().await;
}

/// Waits until the file has a line for which `done` holds; returns its lines.
fn wait_for_line(path: &Path, done: impl Fn(&str) -> bool) -> Vec<String> {
    let text = || std::fs::read_to_string(path).unwrap_or_default();
    let lines = || {
        let text = text();
        text.lines()
            .any(&done)
            .then(|| text.lines().map(str::to_owned).collect())
    };
    wait::until(
        Instant::now() + DEADLINE,
        "the file has the line",
        text,
        lines,
    )
    .0
}

#[test]
fn on_event_sees_a_join_then_a_leave_in_order_with_the_peer_in_its_environment() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events");
    // Slow on purpose: later events wait their turn, none is lost.
    let script = format!(
        r#"printf '%s|%s|%s|%s|%s|%s\n' "$PEERCLOUD_EVENT" "$PEERCLOUD_SELF_ID" "$PEERCLOUD_PEER_ID" "$PEERCLOUD_PEER_ADDRESS" "$PEERCLOUD_PEER_DATA" "$(cat)" >> "{}"; sleep 0.3"#,
        log.display()
    );
    let mut first = RunningPeer::start_alone(&["--on-event", &script]);
    let mut second = RunningPeer::start(first.port, &["--data", r#"{"name":"second"}"#]);
    second.expect_event(1, "joined");
    let joined = first.wait_for("peer_joined", |e| e["peer"]["id"] == second.id.as_str());
    second.guard.signal(nix::sys::signal::Signal::SIGTERM);
    let left = first.wait_for("peer_left", |e| e["id"] == second.id.as_str());
    assert_eq!(left["reason"], "left");

    let lines = wait_for_line(&log, |line| line.starts_with("peer_left|"));
    let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.splitn(6, '|').collect()).collect();
    let names: Vec<&str> = fields.iter().map(|f| f[0]).collect();
    assert_eq!(names, ["alone", "peer_joined", "peer_left"], "{lines:#?}");
    let address = format!("127.0.0.1:{}", second.port);
    assert_eq!(fields[0][1..5], [first.id.as_str(), "", "", ""]);
    for (f, printed) in [(&fields[1], &joined), (&fields[2], &left)] {
        assert_eq!(f[1], first.id);
        assert_eq!(f[2], second.id);
        assert_eq!(f[3], address);
        assert_eq!(
            serde_json::from_str::<Value>(f[4]).unwrap(),
            json!({"name": "second"})
        );
        // Stdin holds the very object --json printed.
        assert_eq!(&serde_json::from_str::<Value>(f[5]).unwrap(), printed);
    }
}

#[test]
fn a_failing_on_event_command_is_logged_and_the_next_event_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events");
    let script = format!(r#"echo "$PEERCLOUD_EVENT" >> "{}"; exit 5"#, log.display());
    let mut first = RunningPeer::start_alone(&["--on-event", &script]);
    let second = RunningPeer::start(first.port, &[]);
    first.wait_for_peers(&[&second.id]);
    let lines = wait_for_line(&log, |line| line == "peer_joined");
    assert_eq!(lines, ["alone", "peer_joined"]);
    let stderr = || first.pipes.stderr.lock().unwrap().clone();
    let (logged, _) = wait::until(
        Instant::now() + DEADLINE,
        "both failures are logged",
        stderr,
        || {
            let stderr = stderr();
            (stderr.matches("the handler exited with status 5").count() >= 2).then_some(stderr)
        },
    );
    assert!(
        logged.contains("--on-event failed for peer_joined"),
        "{logged}"
    );
}
