//! Real peers in one process, each on its own `127.0.0.1:0` listener,
//! talking HTTP to each other: joining, converging, messaging, leaving.
//! Every wait is on a condition with a deadline, never a bare sleep.

#[path = "support/wait.rs"]
mod wait;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use peercloud::{
    Cloud, Config, Event, Events, HandlerError, LeftReason, Peer, SendError, Start, StartError,
};
use serde_json::{json, Value};

/// The longest any condition may take to come true.
const DEADLINE: Duration = Duration::from_secs(10);

/// Probes often, so that failures are found quickly, with the patient
/// timeouts of a WAN: on a machine starved of CPU (tests run side by side
/// on two shared cores), a LAN's 800 ms check of a joiner can run out, and
/// the refused joiner then starts a cloud of its own.
fn fast() -> Config {
    Config {
        probe_interval: Duration::from_millis(100),
        ..Config::new_wan()
    }
}

/// Never probes during a test: whatever changes, a notice changed it.
fn no_probes() -> Config {
    Config {
        probe_interval: Duration::from_secs(3600),
        ..fast()
    }
}

fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0")
}

fn seed_of(cloud: &Cloud) -> String {
    format!("127.0.0.1:{}", cloud.port())
}

/// Replies `{"by": its name, "from": the sender's data, "got": the body}`;
/// fails when the body's `fail_at` is its name.
fn handler(
    name: &str,
) -> impl Fn(Peer, Value) -> std::future::Ready<Result<Value, HandlerError>> + Send + Sync + 'static
{
    let name = name.to_owned();
    move |from, body| {
        let result = if body["fail_at"] == name.as_str() {
            Err(HandlerError::new(format!("{name} refuses")))
        } else {
            Ok(json!({ "by": name, "from": from.data(), "got": body }))
        };
        std::future::ready(result)
    }
}

/// Starts a peer named `name` (its data is `{"name": name}`).
async fn start(name: &str, seeds: &[String], config: Config) -> Cloud {
    Cloud::builder()
        .listener(local_listener())
        .seeds(seeds.iter().cloned())
        .data(json!({ "name": name }))
        .on_message(handler(name))
        .membership(config)
        .start()
        .await
        .unwrap_or_else(|e| panic!("{name} did not start: {e}"))
}

fn peer_ids(cloud: &Cloud) -> BTreeSet<String> {
    cloud.peers().iter().map(|p| p.id().to_owned()).collect()
}

fn lists(cloud: &Cloud, id: &str) -> bool {
    cloud.peer(id).is_some()
}

/// Who misses whom, or `None` when every peer lists exactly every other.
fn mesh_gaps(clouds: &[Cloud]) -> Option<String> {
    let name_of = |id: &String| {
        clouds
            .iter()
            .find(|c| c.id() == *id)
            .map_or_else(|| id.clone(), |c| c.data()["name"].to_string())
    };
    let all: BTreeSet<String> = clouds.iter().map(Cloud::id).collect();
    let mut gaps = Vec::new();
    for cloud in clouds {
        let mut expected = all.clone();
        expected.remove(&cloud.id());
        let known = peer_ids(cloud);
        if known != expected {
            let missing: Vec<_> = expected.difference(&known).map(name_of).collect();
            let extra: Vec<_> = known.difference(&expected).map(name_of).collect();
            gaps.push(format!(
                "{} (started {:?}) misses {missing:?}, has extra {extra:?}",
                cloud.data()["name"],
                cloud.start_outcome(),
            ));
        }
    }
    (!gaps.is_empty()).then(|| gaps.join("\n"))
}

async fn wait_for_mesh(clouds: &[Cloud], timeout: Duration) {
    let deadline = tokio::time::Instant::now() + timeout;
    let all: Vec<&Cloud> = clouds.iter().collect();
    wait::mesh(&all, deadline, || mesh_gaps(clouds).unwrap_or_default()).await;
}

/// Waits on `cloud`'s list until `done` holds for it, at most [`DEADLINE`].
async fn wait_for_peers(cloud: &Cloud, what: &str, done: impl FnMut(&[Peer]) -> bool) {
    wait::peers_until(cloud, tokio::time::Instant::now() + DEADLINE, what, done).await;
}

/// Waits until `cloud` lists the member `id`.
async fn wait_lists(cloud: &Cloud, id: &str) {
    let what = format!("{} lists {id}", cloud.data()["name"]);
    wait_for_peers(cloud, &what, |peers| peers.iter().any(|p| p.id() == id)).await;
}

/// Starts p0 alone, then p1 and p2 through p0, p3 through p1, and p4
/// through p2 or p3: the seeds of each of p1..p4.
fn five_peer_seeds(clouds: &[Cloud]) -> Vec<String> {
    match clouds.len() {
        1 | 2 => vec![seed_of(&clouds[0])],
        3 => vec![seed_of(&clouds[1])],
        _ => vec![seed_of(&clouds[2]), seed_of(&clouds[3])],
    }
}

/// Five peers joined through different members (see [`five_peer_seeds`]),
/// each started once the cloud before it is a full mesh.
///
/// The wait matters when probes are off: a member answers a `/join` before
/// its `/joined` notices have arrived, so a peer that joins through another
/// member right after a start returned may be told a list that lacks the
/// peer just started, and only anti-entropy (which rides on probes) would
/// repair that. See the test below that does not wait.
async fn five_peers(config: Config) -> Vec<Cloud> {
    let mut clouds = vec![start("p0", &[], config.clone()).await];
    for n in 1..5 {
        let seeds = five_peer_seeds(&clouds);
        clouds.push(start(&format!("p{n}"), &seeds, config.clone()).await);
        wait_for_mesh(&clouds, DEADLINE).await;
    }
    clouds
}

/// The next event, or a failure saying what was awaited.
async fn next_event(events: &mut Events, what: &str) -> Event {
    match tokio::time::timeout(DEADLINE, events.recv()).await {
        Ok(Some(event)) => event,
        Ok(None) => panic!("the event stream ended before {what}"),
        Err(_) => panic!("no event within {DEADLINE:?}: expected {what}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_seeds_do_not_answer_starts_alone() {
    let dead = local_listener();
    let dead_seed = format!(
        "127.0.0.1:{}",
        dead.local_addr().expect("an address").port()
    );
    drop(dead);
    let cloud = start("p0", &[dead_seed], fast()).await;
    assert_eq!(cloud.start_outcome(), &Start::Alone);
    assert!(cloud.peers().is_empty());
    cloud.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_peers_joining_through_different_members_form_a_full_mesh() {
    let clouds = five_peers(fast()).await;
    assert_eq!(clouds[0].start_outcome(), &Start::Alone);
    for n in 1..5 {
        let seeds = five_peer_seeds(&clouds[..n]);
        match clouds[n].start_outcome() {
            Start::Joined { via, peers } => {
                assert!(seeds.contains(&via.to_string()), "p{n} joined via {via}");
                assert_eq!(*peers, n, "p{n} learned of every earlier peer");
            }
            other => panic!("p{n} did not join: {other:?}"),
        }
    }
    // Every peer knows every other at its address, with its data.
    for cloud in &clouds {
        for peer in cloud.peers() {
            let owner = clouds.iter().find(|c| c.id() == peer.id()).expect("a peer");
            assert_eq!(peer.data(), &owner.data());
            assert_eq!((peer.ip(), peer.port()), ("127.0.0.1", owner.port()));
        }
    }
}

/// The same five peers, each started as soon as the one before returned
/// from `start`. The notices alone often leave a gap on a busy machine: e.g.
/// p3 joins through p1 and p1 notifies p2 (a first connection, ~6 ms), but
/// p3's `start` has returned and p4's whole join through p2 (~3 ms) is
/// admitted first; p2 tells p4 a list without p3, and p3 is told nothing of
/// p4. The digests in probe answers find the difference and a `/peers` pull
/// repairs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_started_one_after_another_through_different_members_form_a_full_mesh() {
    let mut clouds = vec![start("p0", &[], fast()).await];
    for n in 1..5 {
        let seeds = five_peer_seeds(&clouds);
        clouds.push(start(&format!("p{n}"), &seeds, fast()).await);
    }
    wait_for_mesh(&clouds, DEADLINE).await;
}

/// A peer whose seed is not up yet starts alone, then joins the seed when it
/// comes up (the original stays alone for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_started_before_its_seed_joins_it_when_it_comes_up() {
    let reserved = local_listener();
    let seed_address = reserved.local_addr().expect("an address");
    drop(reserved);
    let config = Config {
        rejoin_interval: Duration::from_millis(200),
        ..fast()
    };
    let early = start("early", &[seed_address.to_string()], config.clone()).await;
    assert_eq!(early.start_outcome(), &Start::Alone);
    let mut events = early.events();

    let listener = TcpListener::bind(seed_address).expect("the seed's port again");
    let seed = Cloud::builder()
        .listener(listener)
        .data(json!({ "name": "seed" }))
        .membership(config)
        .start()
        .await
        .expect("the seed starts");
    assert_eq!(seed.start_outcome(), &Start::Alone);
    let seed_id = seed.id();
    let clouds = [early, seed];
    wait_for_mesh(&clouds, DEADLINE).await;
    // The first stream sees the seed fail and the start too; a rejoin is
    // no second start.
    match next_event(&mut events, "the seed failing").await {
        Event::SeedFailed { seed, error } => {
            assert_eq!(seed.to_string(), seed_address.to_string());
            assert_eq!(error, peercloud::CallError::NoListener);
        }
        other => panic!("expected the seed to fail, got {other:?}"),
    }
    let started = next_event(&mut events, "the start").await;
    assert!(
        matches!(started, Event::Started(Start::Alone)),
        "{started:?}"
    );
    match next_event(&mut events, "the seed joining").await {
        Event::PeerJoined(peer) => assert_eq!(peer.id(), seed_id),
        other => panic!("expected the seed to join, got {other:?}"),
    }
    for cloud in &clouds {
        cloud.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_gathers_every_handlers_reply() {
    let clouds = five_peers(fast()).await;
    let replies = clouds[0].send(json!({"hello": "all"})).await;
    assert_eq!(replies.len(), 4);
    let mut answered_by = BTreeSet::new();
    for reply in &replies {
        let value = reply.result.as_ref().expect("every handler replies");
        assert_eq!(value["by"], reply.peer.data()["name"], "{value}");
        assert_eq!(
            value["from"],
            json!({"name": "p0"}),
            "the handler sees p0's data"
        );
        assert_eq!(value["got"], json!({"hello": "all"}));
        answered_by.insert(value["by"].as_str().expect("a name").to_owned());
    }
    assert_eq!(
        answered_by,
        BTreeSet::from(["p1", "p2", "p3", "p4"].map(String::from))
    );
    let all = replies.into_result().expect("no peer failed");
    assert_eq!(all.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_one_peer_gets_that_handlers_reply() {
    let clouds = five_peers(fast()).await;
    let p3 = clouds[1].peer(&clouds[3].id()).expect("p1 knows p3");
    let reply = p3.send(json!({"to": "p3"})).await.expect("a reply");
    assert_eq!(
        reply,
        json!({"by": "p3", "from": {"name": "p1"}, "got": {"to": "p3"}})
    );

    let reply = clouds[4].send_to(&clouds[0].id(), json!({"n": 1})).await;
    assert_eq!(
        reply,
        Ok(json!({"by": "p0", "from": {"name": "p4"}, "got": {"n": 1}}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_an_unknown_id_is_an_unknown_peer_error() {
    let cloud = start("p0", &[], fast()).await;
    let result = cloud.send_to("nobody", json!({})).await;
    assert_eq!(
        result,
        Err(SendError::UnknownPeer {
            id: "nobody".to_owned()
        })
    );
    cloud.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_with_one_failing_handler_is_an_error_as_a_whole() {
    let clouds = five_peers(fast()).await;
    let replies = clouds[0].send(json!({"fail_at": "p2"})).await;
    let failed: Vec<(String, SendError)> = replies
        .errors()
        .map(|(peer, e)| (peer.data()["name"].to_string(), e.clone()))
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, "\"p2\"");
    assert!(
        matches!(&failed[0].1, SendError::Handler { message, .. } if message == "p2 refuses"),
        "{:?}",
        failed[0].1
    );
    let all = replies.into_result().expect_err("one peer failed");
    assert_eq!(all.len(), 4);
    assert_eq!(all.iter().filter(|r| r.result.is_ok()).count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_removes_the_peer_from_every_list_at_once() {
    // No probe can notice anything during this test: only the /left can.
    let clouds = five_peers(no_probes()).await;
    let mut watchers: Vec<Events> = clouds[..4].iter().map(Cloud::events).collect();
    let leaver = clouds[4].id();
    let started = Instant::now();
    clouds[4].close().await;
    // close returns once every member has acknowledged the /left, or at
    // the leave timeout: it must have been the acknowledgements.
    let leave_timeout = no_probes().leave_timeout;
    assert!(
        started.elapsed() < leave_timeout,
        "close took {:?}: some /left was not acknowledged",
        started.elapsed()
    );
    for cloud in &clouds[..4] {
        assert!(
            !lists(cloud, &leaver),
            "{} still lists the closed peer",
            cloud.data()["name"]
        );
    }
    for events in &mut watchers {
        loop {
            if let Event::PeerLeft { peer, reason } = next_event(events, "PeerLeft").await {
                assert_eq!(peer.id(), leaver);
                assert_eq!(reason, LeftReason::Left);
                break;
            }
        }
    }
    // The closed peer itself lists nobody.
    assert!(clouds[4].peers().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_tells_the_life_of_a_peer() {
    let a = start("a", &[], no_probes()).await;
    let mut events = a.events();
    assert!(matches!(
        next_event(&mut events, "Started").await,
        Event::Started(Start::Alone)
    ));

    let b = start("b", &[seed_of(&a)], no_probes()).await;
    let event = next_event(&mut events, "PeerJoined").await;
    assert!(
        matches!(&event, Event::PeerJoined(p) if p.id() == b.id()),
        "{event:?}"
    );

    b.send_to(&a.id(), json!({"from": "b"}))
        .await
        .expect("a reply");
    let event = next_event(&mut events, "MessageReceived").await;
    assert!(
        matches!(&event, Event::MessageReceived { from, body } if from.id() == b.id() && *body == json!({"from": "b"})),
        "{event:?}"
    );

    a.send_to(&b.id(), json!({"from": "a"}))
        .await
        .expect("a reply");
    let event = next_event(&mut events, "MessageSent").await;
    assert!(
        matches!(&event, Event::MessageSent { to, body, reply: Ok(reply) }
            if to.id() == b.id() && *body == json!({"from": "a"}) && reply["by"] == "b"),
        "{event:?}"
    );

    b.close().await;
    let event = next_event(&mut events, "PeerLeft").await;
    assert!(
        matches!(&event, Event::PeerLeft { peer, reason: LeftReason::Left } if peer.id() == b.id()),
        "{event:?}"
    );

    a.close().await;
    assert!(matches!(
        next_event(&mut events, "Closed").await,
        Event::Closed
    ));
    let end = tokio::time::timeout(DEADLINE, events.recv()).await;
    assert!(
        matches!(end, Ok(None)),
        "the stream goes on after Closed: {end:?}"
    );
    // A stream taken after the close ends at once.
    let late = tokio::time::timeout(DEADLINE, a.events().recv()).await;
    assert!(matches!(late, Ok(None)), "a late stream: {late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_cloud_does_not_hang_and_the_others_drop_it() {
    let a = start("a", &[], no_probes()).await;
    let b = start("b", &[seed_of(&a)], no_probes()).await;
    let c = start("c", &[seed_of(&a)], no_probes()).await;
    let mut clouds = vec![a, b, c];
    wait_for_mesh(&clouds, DEADLINE).await;

    let dropped = clouds.pop().expect("c");
    let id = dropped.id();
    let started = Instant::now();
    drop(dropped);
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "drop took {:?}",
        started.elapsed()
    );
    for cloud in &clouds {
        wait_for_peers(cloud, "it no longer lists the dropped peer", |peers| {
            peers.iter().all(|p| p.id() != id)
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_joins_through_a_seed_given_by_host_name() {
    let a = start("a", &[], fast()).await;
    let seed = format!("localhost:{}", a.port());
    let b = start("b", &[seed], fast()).await;
    match b.start_outcome() {
        Start::Joined { via, peers } => {
            assert_eq!(
                (via.to_string(), *peers),
                (format!("localhost:{}", a.port()), 1)
            );
        }
        other => panic!("b did not join: {other:?}"),
    }
    let seen_by_b = b.peer(&a.id()).expect("b lists a");
    assert_eq!((seen_by_b.ip(), seen_by_b.port()), ("localhost", a.port()));
    wait_lists(&a, &b.id()).await;
    let reply = b
        .send_to(&a.id(), json!({}))
        .await
        .expect("a replies through its host name");
    assert_eq!(reply["by"], "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_port_that_is_taken_fails_with_a_bind_error() {
    let taken = local_listener();
    let port = taken.local_addr().expect("an address").port();
    let result = Cloud::builder().port(port).start().await;
    assert!(matches!(result, Err(StartError::Bind { .. })), "{result:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_peers_starting_at_once_through_one_seed_form_a_full_mesh() {
    let seed = start("seed", &[], fast()).await;
    let seeds = vec![seed_of(&seed)];
    let starts: Vec<_> = (0..20)
        .map(|i| {
            let seeds = seeds.clone();
            tokio::spawn(async move { start(&format!("p{i}"), &seeds, fast()).await })
        })
        .collect();
    let mut clouds = vec![seed];
    for start in starts {
        clouds.push(start.await.expect("a peer started"));
    }
    let alone: Vec<_> = clouds[1..]
        .iter()
        .filter(|c| *c.start_outcome() == Start::Alone)
        .map(|c| c.data()["name"].to_string())
        .collect();
    assert!(alone.is_empty(), "peers that did not join: {alone:?}");
    wait_for_mesh(&clouds, Duration::from_secs(20)).await;
}

/// A fresh directory under the system's temporary one, for this test only.
fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("peercloud-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_peer_rejoins_through_the_members_it_remembers_when_its_seed_is_down() {
    let dir = scratch_dir("remembers");
    let seed = start("seed", &[], fast()).await;
    let seed_address = seed_of(&seed);
    let other = start("other", std::slice::from_ref(&seed_address), fast()).await;
    let other_port = other.port();
    let remembering = |seeds: Vec<String>| {
        Cloud::builder()
            .listener(local_listener())
            .seeds(seeds)
            .data(json!({"name": "b"}))
            .membership(fast())
            .state_dir(&dir)
            .start()
    };
    let b = remembering(vec![seed_address.clone()])
        .await
        .expect("b started");
    let mut clouds = vec![seed, other, b];
    wait_for_mesh(&clouds, DEADLINE).await;
    let file = dir.join("members.json");
    let seed_port = clouds[0].port().to_string();
    let remembers = || async {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        match text.contains(&other_port.to_string()) && text.contains(&seed_port) {
            true => Ok(()),
            false => Err(text),
        }
    };
    let deadline = tokio::time::Instant::now() + DEADLINE;
    wait::until_async(deadline, "b remembers both members", remembers).await;
    let b = clouds.pop().expect("b");
    b.close().await;
    let seed = clouds.remove(0);
    seed.close().await;
    let other = clouds.pop().expect("other");

    // Its only seed is gone; the member it remembers lets it back in.
    let b = remembering(vec![seed_address]).await.expect("b restarted");
    match b.start_outcome() {
        Start::Joined { via, .. } => assert_eq!(via.port, other_port),
        alone => panic!("b did not rejoin through what it remembered: {alone:?}"),
    }
    wait_lists(&other, &b.id()).await;
    b.close().await;
    other.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_data_reaches_the_other_peers_as_an_update_and_oversized_data_is_refused() {
    let a = start("a", &[], fast()).await;
    let b = start("b", &[seed_of(&a)], fast()).await;
    wait_lists(&b, &a.id()).await;
    let mut b_events = b.events();

    a.set_data(json!({"name": "a", "v": 2})).await.expect("set");
    assert_eq!(a.data()["v"], 2, "its own data shows at once");
    loop {
        match next_event(&mut b_events, "a PeerUpdated at b").await {
            Event::PeerUpdated(peer) if peer.id() == a.id() => {
                assert_eq!(peer.data()["v"], 2);
                break;
            }
            _ => continue,
        }
    }
    assert_eq!(b.peer(&a.id()).expect("a listed").data()["v"], 2);
    assert_eq!(a.data()["v"], 2);

    let huge = json!({ "blob": "x".repeat(peercloud::DATA_LIMIT) });
    match a.set_data(huge).await {
        Err(peercloud::SetDataError::TooLarge { limit, .. }) => {
            assert_eq!(limit, peercloud::DATA_LIMIT)
        }
        other => panic!("oversized data was not refused: {other:?}"),
    }
    assert_eq!(a.data()["v"], 2, "a refused update changes nothing");
    a.close().await;
    assert_eq!(
        a.set_data(json!({})).await,
        Err(peercloud::SetDataError::Closed)
    );
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_wakes_when_a_peer_joins_and_when_it_leaves() {
    let a = start("a", &[], no_probes()).await;
    let mut watch = a.watch_peers();
    assert!(watch.peers().is_empty());
    let b = start("b", &[seed_of(&a)], no_probes()).await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    tokio::time::timeout_at(deadline, watch.changed())
        .await
        .expect("a change within the deadline")
        .expect("a is running");
    let joined = watch
        .wait_for(|peers| peers.iter().any(|p| p.id() == b.id()))
        .await
        .expect("a is running");
    assert_eq!(joined.len(), 1);
    assert_eq!(watch.peers()[0].data()["name"], "b");

    b.close().await;
    let left = tokio::time::timeout_at(deadline, watch.wait_for(<[Peer]>::is_empty))
        .await
        .expect("b gone within the deadline");
    assert!(left.expect("a is running").is_empty());
    a.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_of_a_closed_peer_says_it_stopped() {
    let a = start("a", &[], no_probes()).await;
    let mut watch = a.watch_peers();
    a.close().await;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut ended = None;
    // Bounded: a closing peer publishes at most a few last snapshots.
    for _ in 0..10 {
        match tokio::time::timeout_at(deadline, watch.changed()).await {
            Ok(Ok(())) => {
                watch.peers();
            }
            Ok(Err(stopped)) => {
                ended = Some(stopped);
                break;
            }
            Err(_) => panic!("the watch neither changed nor ended in time"),
        }
    }
    assert_eq!(ended, Some(peercloud::Stopped));
    assert_eq!(
        watch.wait_for(|_| false).await.err(),
        Some(peercloud::Stopped),
        "a condition that never holds ends with the peer"
    );
}
