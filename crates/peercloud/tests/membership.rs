//! The membership seen from outside: real `peercloud run --json` processes
//! on 127.0.0.1 that are paused (SIGSTOP/SIGCONT), killed, restarted on
//! their port, started apart, or given new data, while the test reads what
//! each one prints. Touches only the processes it starts, by their pid, and
//! ports on 127.0.0.1.
//!
//! Default LAN timing (probe every half second, suspicion of 4 to 20 s,
//! reconnect every 5 s). Every wait is on a condition with a deadline; the
//! only sleeps hold a pause, whose wall-clock length is the point. Measured
//! times are printed (run with `--nocapture` to see them).

#![allow(clippy::unwrap_used)]

#[path = "support/process.rs"]
mod process;
#[path = "support/process_wait.rs"]
mod process_wait;
#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use serde_json::{json, Value};

use process::{cloud_of, free_port, peers_of, status_of, RunningPeer, DEADLINE};
use process_wait::{drain_all, hold_all, wait_all};

/// The peer the pause, kill and restart scenarios pick: not the seed.
const VICTIM: usize = 3;

/// How long a new cloud is watched, quiet, before a scenario begins: more
/// than a probe round (four members, one a second). In its first round
/// every peer probes its members in the order they joined, so a fault
/// right after the start would meet the same probe order each time;
/// afterwards rounds are shuffled, as in a cloud that has run a while.
const SETTLE: Duration = Duration::from_secs(5);

/// Five peers with the default timing, all knowing each other and then
/// quiet (no `peer_joined` or `peer_left`) for [`SETTLE`]; returns them
/// with, for each, how many lines it had printed by then (what comes after
/// is what the scenario caused).
fn five_peers() -> (Vec<RunningPeer>, Vec<usize>) {
    let mut peers = cloud_of(5, |_| vec![]);
    drain_all(&mut peers);
    let formed: Vec<usize> = peers.iter().map(|p| p.pipes.seen.len()).collect();
    hold_all(&mut peers, SETTLE, "the new cloud stays quiet", |peers| {
        no_churn(peers, &formed)
    });
    let marks = peers.iter().map(|p| p.pipes.seen.len()).collect();
    (peers, marks)
}

/// Whether no peer printed `peer_joined` or `peer_left` since its mark.
fn no_churn(peers: &[RunningPeer], marks: &[usize]) -> bool {
    peers.iter().zip(marks).all(|(peer, &mark)| {
        peer.events_since(mark)
            .iter()
            .all(|e| e["event"] != "peer_left" && e["event"] != "peer_joined")
    })
}

/// Whether an event is about the peer `id` (`peer_left` names it by `id`,
/// the others by `peer.id`).
fn is_about(event: &Value, id: &str) -> bool {
    event["id"] == id || event["peer"]["id"] == id
}

/// The `name` events about `id` that `peer` printed from line `from` on,
/// each with its line index and the time it was read.
fn events_about(
    peer: &RunningPeer,
    from: usize,
    name: &str,
    id: &str,
) -> Vec<(usize, Instant, Value)> {
    peer.pipes
        .seen
        .iter()
        .zip(&peer.pipes.seen_at)
        .enumerate()
        .skip(from)
        .filter_map(|(i, (line, at))| Some((i, *at, serde_json::from_str::<Value>(line).ok()?)))
        .filter(|(_, _, e)| e["event"] == name && is_about(e, id))
        .collect()
}

/// How many events of each of these names `peer` printed from `from` on.
fn counts(peer: &RunningPeer, from: usize, names: &[&str]) -> Vec<usize> {
    let events = peer.events_since(from);
    names
        .iter()
        .map(|name| events.iter().filter(|e| e["event"] == *name).count())
        .collect()
}

fn ids_but(peers: &[RunningPeer], skip: usize) -> BTreeSet<String> {
    peers
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != skip)
        .map(|(_, p)| p.id.clone())
        .collect()
}

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

#[test]
fn a_peer_paused_for_3_s_is_dropped_by_nobody() {
    let (mut peers, marks) = five_peers();
    let paused = peers[VICTIM].id.clone();

    let stopped = Instant::now();
    peers[VICTIM].guard.signal(Signal::SIGSTOP);
    // The pause itself is the scenario: three seconds of wall clock.
    thread::sleep(Duration::from_secs(3));
    let resumed = Instant::now();
    peers[VICTIM].guard.signal(Signal::SIGCONT);

    hold_all(
        &mut peers,
        Duration::from_secs(10),
        "no peer printed peer_left or peer_joined since the pause",
        |peers| no_churn(peers, &marks),
    );
    for (i, (peer, &mark)) in peers.iter().zip(&marks).enumerate() {
        let suspected = events_about(peer, mark, "peer_suspected", &paused);
        let alive = events_about(peer, mark, "peer_alive", &paused);
        let all = counts(peer, mark, &["peer_suspected", "peer_alive"]);
        let first = |events: &[(usize, Instant, Value)], from: Instant| {
            events.first().map_or("-".to_owned(), |e| {
                secs(e.1.saturating_duration_since(from))
            })
        };
        println!(
            "peer {i}: {} peer_suspected (first {} after SIGSTOP) and {} peer_alive (first {} \
             after SIGCONT) about the paused peer; {} and {} in all",
            suspected.len(),
            first(&suspected, stopped),
            alive.len(),
            first(&alive, resumed),
            all[0],
            all[1]
        );
    }
}

/// How long the long pause lasts at least: longer than the longest
/// suspicion (20 s), so that every other peer drops the paused one.
const PAUSE: Duration = Duration::from_secs(30);

#[test]
fn a_peer_paused_long_enough_to_be_dropped_comes_back_by_itself() {
    let (mut peers, marks) = five_peers();
    let paused = peers[VICTIM].id.clone();
    let others: Vec<usize> = (0..peers.len()).filter(|&i| i != VICTIM).collect();

    let stopped = Instant::now();
    peers[VICTIM].guard.signal(Signal::SIGSTOP);
    let dropped_in = wait_all(
        &mut peers,
        stopped + Duration::from_secs(40),
        "every other peer printed peer_left for the paused peer",
        |peers| {
            others
                .iter()
                .all(|&i| !events_about(&peers[i], marks[i], "peer_left", &paused).is_empty())
        },
    );
    // The pause lasts 30 s, or longer if dropping it took longer.
    thread::sleep(PAUSE.saturating_sub(stopped.elapsed()));
    let resumed = Instant::now();
    peers[VICTIM].guard.signal(Signal::SIGCONT);
    println!(
        "all four dropped the paused peer {} after SIGSTOP; SIGCONT after {}",
        secs(dropped_in),
        secs(resumed - stopped)
    );
    for &i in &others {
        let (_, at, left) = &events_about(&peers[i], marks[i], "peer_left", &paused)[0];
        println!("peer {i} at {}: {left}", secs(*at - stopped));
    }

    let back_in = wait_all(
        &mut peers,
        resumed + Duration::from_secs(10),
        "every other peer printed peer_joined for it after its peer_left",
        |peers| {
            others.iter().all(|&i| {
                let left = events_about(&peers[i], marks[i], "peer_left", &paused)[0].0;
                !events_about(&peers[i], left, "peer_joined", &paused).is_empty()
            })
        },
    );
    println!(
        "every other peer took it back {} after SIGCONT",
        secs(back_in)
    );
    for &i in &others {
        let left = events_about(&peers[i], marks[i], "peer_left", &paused)[0].0;
        let (_, at, _) = events_about(&peers[i], left, "peer_joined", &paused)[0];
        println!("peer {i} took it back {} after SIGCONT", secs(at - resumed));
    }

    let everyone = ids_but(&peers, VICTIM);
    let own = &peers[VICTIM];
    let own_left = counts(own, marks[VICTIM], &["peer_left"])[0];
    assert_eq!(
        own_left,
        0,
        "the paused peer dropped someone:\n{}",
        own.pipes.seen.join("\n")
    );
    assert_eq!(own.members(), everyone, "the paused peer's lines");
    let listed: BTreeSet<String> = peers_of(&own.address())
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, everyone, "peercloud peers of the paused peer");
}

#[test]
fn a_peer_restarted_on_the_same_port_replaces_its_old_self_everywhere() {
    let (mut peers, marks) = five_peers();
    let old = peers[VICTIM].id.clone();
    let port = peers[VICTIM].port;

    peers[VICTIM].guard.kill_now();
    let restarted = Instant::now();
    let mut new = RunningPeer::start_on(port, peers[0].port, &[]);
    new.expect_event(1, "joined");
    let new_id = new.id.clone();
    assert_ne!(new_id, old, "a restarted peer gets a new id");
    peers[VICTIM] = new;
    let others: Vec<usize> = (0..peers.len()).filter(|&i| i != VICTIM).collect();
    let everyone = ids_but(&peers, VICTIM);

    let took = wait_all(
        &mut peers,
        restarted + DEADLINE,
        "every other peer lists the new id and not the old one, and the new peer every other",
        |peers| {
            peers[VICTIM].members() == everyone
                && others.iter().all(|&i| {
                    let members = peers[i].members();
                    members.contains(&new_id) && !members.contains(&old)
                })
        },
    );
    println!(
        "every list holds the new id and not the old {} after the restart",
        secs(took)
    );
    for (at, event) in peers[VICTIM].timed_events() {
        println!(
            "new peer after {}: {event}",
            secs(at.saturating_duration_since(restarted))
        );
    }
    for &i in &others {
        let left = events_about(&peers[i], marks[i], "peer_left", &old);
        let joined = events_about(&peers[i], marks[i], "peer_joined", &new_id);
        let overlap = joined[0].0 < left[0].0;
        println!(
            "peer {i}: old one {} (after {}), new one joined after {}{}",
            left[0].2,
            secs(left[0].1 - restarted),
            secs(joined[0].1 - restarted),
            if overlap {
                " (listed both for a while)"
            } else {
                ""
            }
        );
    }

    for &i in &others {
        let list = peers_of(&peers[i].address());
        let at_port: Vec<&Value> = list.iter().filter(|p| p["port"] == port).collect();
        assert_eq!(at_port.len(), 1, "peer {i} lists at port {port}: {list:?}");
        assert_eq!(at_port[0]["id"], new_id.as_str(), "peer {i}: {list:?}");
    }
    let own = peers_of(&peers[VICTIM].address());
    assert!(
        own.iter().all(|p| p["port"] != port),
        "the new peer lists itself: {own:?}"
    );
    assert_eq!(own.len(), everyone.len(), "the new peer's list: {own:?}");
}

#[test]
fn clouds_formed_apart_merge_once_the_seed_is_up() {
    let c_port = free_port();
    let mut a = RunningPeer::start(c_port, &[]);
    a.expect_event(1, "alone");
    let mut b = RunningPeer::start(a.port, &[]);
    b.expect_event(1, "joined");
    // Its seed is itself: nobody else answers, it starts a cloud of its own.
    let mut c = RunningPeer::start_on(c_port, c_port, &[]);
    c.expect_event(1, "alone");
    let mut d = RunningPeer::start(c.port, &[]);
    d.expect_event(1, "joined");
    let both_up = Instant::now();
    let mut peers = vec![a, b, c, d];

    let took = wait_all(
        &mut peers,
        both_up + Duration::from_secs(30),
        "all four list the three others",
        |peers| (0..peers.len()).all(|i| peers[i].members() == ids_but(peers, i)),
    );
    println!("the two clouds merged {} after both were up", secs(took));
}

#[test]
fn new_data_reaches_every_peer() {
    let (mut peers, marks) = five_peers();
    let setter = 1;
    let id = peers[setter].id.clone();
    let others: Vec<usize> = (0..peers.len()).filter(|&i| i != setter).collect();

    let sent = Instant::now();
    peers[setter].write_line(r#":data {"v":2}"#);
    // What data_set says is checked at the end, after everything else.
    peers[setter].wait_for_by(sent + Duration::from_secs(5), "data_set", |_| true);
    wait_all(
        &mut peers,
        sent + Duration::from_secs(5),
        "every other peer printed peer_updated with the new data",
        |peers| {
            others
                .iter()
                .all(|&i| updates_of(&peers[i], marks[i], &id).contains(&json!({"v": 2})))
        },
    );
    for &i in &others {
        let (_, at, _) = events_about(&peers[i], marks[i], "peer_updated", &id)[0];
        println!(
            "peer {i} printed peer_updated {} after the :data line",
            secs(at - sent)
        );
    }
    let listed = entry_of(&peers_of(&peers[0].address()), &id);
    assert_eq!(listed["data"], json!({"v": 2}), "{listed}");
    assert_eq!(listed["incarnation"], 1, "{listed}");

    let mark = peers[setter].pipes.seen.len();
    let too_large = format!(r#":data {{"x":"{}"}}"#, "a".repeat(peercloud::DATA_LIMIT));
    for line in [":data {oops", too_large.as_str(), ":foo"] {
        peers[setter].write_line(line);
    }
    peers[setter]
        .pipes
        .wait_until("three error events", |seen| {
            process::parse_all(&seen[mark..])
                .iter()
                .filter(|e| e["event"] == "error")
                .count()
                >= 3
        });
    let errors: Vec<Value> = peers[setter].events_since(mark);
    assert_eq!(errors.len(), 3, "only the three errors: {errors:?}");
    for (error, says) in
        errors
            .iter()
            .zip([":data needs JSON", ":data refused", "unknown command :foo"])
    {
        assert_eq!(error["event"], "error", "{error}");
        assert!(error["error"].as_str().unwrap().contains(says), "{error}");
    }
    assert_eq!(
        status_of(&peers[setter].address())["incarnation"],
        1,
        "the errors changed it"
    );
    let listed = entry_of(&peers_of(&peers[0].address()), &id);
    assert_eq!(
        (&listed["data"], &listed["incarnation"]),
        (&json!({"v": 2}), &json!(1))
    );

    // Data set after the errors: every peer sees it, and nothing between.
    peers[setter].write_line(r#":data {"v":3}"#);
    wait_all(
        &mut peers,
        Instant::now() + DEADLINE,
        "every other peer saw v 3",
        |peers| {
            others
                .iter()
                .all(|&i| updates_of(&peers[i], marks[i], &id).contains(&json!({"v": 3})))
        },
    );
    for &i in &others {
        let updates = updates_of(&peers[i], marks[i], &id);
        assert_eq!(updates, [json!({"v": 2}), json!({"v": 3})], "peer {i}");
    }
    let set: Vec<Value> = peers[setter]
        .events_since(marks[setter])
        .into_iter()
        .filter(|e| e["event"] == "data_set")
        .map(|e| e["data"].clone())
        .collect();
    assert_eq!(
        set,
        [json!({"v": 2}), json!({"v": 3})],
        "data_set prints the data just set"
    );
}

/// The data of each `peer_updated` about `id` that `peer` printed from
/// line `from` on.
fn updates_of(peer: &RunningPeer, from: usize, id: &str) -> Vec<Value> {
    events_about(peer, from, "peer_updated", id)
        .into_iter()
        .map(|(_, _, e)| e["peer"]["data"].clone())
        .collect()
}

/// The entry for `id` in a `peercloud peers --json` list.
fn entry_of(list: &[Value], id: &str) -> Value {
    list.iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is not listed: {list:?}"))
}

#[test]
fn a_killed_peer_is_dropped_by_everyone_as_refused() {
    let (mut peers, marks) = five_peers();
    let killed = peers[VICTIM].id.clone();
    let survivors: Vec<usize> = (0..peers.len()).filter(|&i| i != VICTIM).collect();

    peers[VICTIM].guard.kill_now();
    let at = Instant::now();
    wait_all(
        &mut peers,
        at + Duration::from_secs(10),
        "every survivor printed peer_left for the killed peer",
        |peers| {
            survivors
                .iter()
                .all(|&i| !events_about(&peers[i], marks[i], "peer_left", &killed).is_empty())
        },
    );
    let mut causes = Vec::new();
    for &i in &survivors {
        let (_, when, left) = &events_about(&peers[i], marks[i], "peer_left", &killed)[0];
        println!("peer {i} after {}: {left}", secs(*when - at));
        assert_eq!(left["reason"], "failed", "peer {i}: {left}");
        assert!(*when - at <= Duration::from_secs(10), "peer {i}: {left}");
        causes.push(left["cause"].clone());
    }
    assert!(
        causes.contains(&json!("refused")),
        "no survivor says refused: {causes:?}"
    );
}
