//! The `swarm N` role: N peercloud peers in this one process on 127.0.0.1.
//! A seed starts first; then the other N-1 start at the same moment, each
//! joining through the seed. Prints `converged {secs}` once every peer lists
//! the N-1 others (or `converged {error}` after a minute), with the
//! suspicions the peers raised so far, then answers `work` commands (the
//! suspicions raised so far) and `broadcast {count}` commands (one peer
//! sends to all the others, `count` times, one after the other) until
//! stdin ends, so the orchestrator can read its footprint between them.
//! On stderr it tells how many peers started alone and why, and every 2 s
//! how far the lists got, what the peers did since (calls, probes,
//! suspicions, bytes), the members suspected in all lists and the peers
//! at each local health score, the members suspected in the most lists
//! (while any is), and how the peer with the shortest list is doing;
//! after convergence, the same work and the live tasks.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use peercloud::{Cloud, Event, Limits, Start};
use serde_json::{json, Value};
use tokio::time::{sleep, Instant};

use super::{emit, runtime, serve_commands, unknown, BODY};
use crate::stats::percentile;
use crate::Result;

/// How long the swarm may take to converge.
const WITHIN: Duration = Duration::from_secs(60);

/// How often the member lists are looked at.
const POLL: Duration = Duration::from_millis(50);

/// How often how far they got is told on stderr, while they converge.
const REPORT: Duration = Duration::from_secs(2);

/// Runs the role until stdin ends.
pub(crate) fn main(n: usize) -> Result<()> {
    let open_files = raise_open_files();
    runtime()?.block_on(run(n, open_files))
}

/// Raises this process's soft limit on open files to its hard limit: each
/// peer holds a listener, and both ends of every connection between peers
/// are in this process. Returns the limit in force.
fn raise_open_files() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return 0;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

async fn run(n: usize, open_files: u64) -> Result<()> {
    let seed = builder(n, open_files).start().await?;
    let seed_address = format!("127.0.0.1:{}", seed.port());
    let started = Instant::now();
    let joins: Vec<_> = (1..n)
        .map(|_| tokio::spawn(builder(n, open_files).seed(seed_address.clone()).start()))
        .collect();
    let mut clouds = vec![seed];
    for join in joins {
        clouds.push(join.await??);
    }
    let alone = clouds
        .iter()
        .filter(|c| matches!(c.start_outcome(), Start::Alone))
        .count();
    eprintln!(
        "  swarm: all {n} started after {:.1} s, {alone} of them alone{}",
        started.elapsed().as_secs_f64(),
        why_alone(&clouds)
    );
    let deadline = started + WITHIN;
    let clouds = Arc::new(clouds);
    let mut reported = Instant::now();
    let mut before = Work::of(&clouds);
    let line = loop {
        let complete = clouds.iter().filter(|c| c.peer_count() == n - 1).count();
        if complete == n {
            break json!({"event": "converged", "secs": started.elapsed().as_secs_f64(),
                         "peers": n, "open_files": open_files, "tasks": alive_tasks(),
                         "suspicions": Work::of(&clouds).suspicions});
        }
        if reported.elapsed() >= REPORT {
            reported = Instant::now();
            let mut counts: Vec<usize> = clouds.iter().map(Cloud::peer_count).collect();
            counts.sort_unstable();
            let work = Work::of(&clouds);
            eprintln!(
                "  swarm: {:.1} s, {complete} with the full list; the lists hold {} to {} members, {} at the median; since the last line: {}",
                started.elapsed().as_secs_f64(),
                counts[0],
                counts[counts.len() - 1],
                counts[counts.len() / 2],
                work.since(&before),
            );
            before = work;
            if let Some(last) = clouds.iter().min_by_key(|c| c.peer_count()) {
                eprintln!("    the shortest list: {}", laggard(last));
            }
            if before.suspected > 0 {
                eprintln!("    {}", most_suspected(&clouds));
            }
        }
        if Instant::now() >= deadline {
            break json!({"event": "converged", "open_files": open_files,
                         "error": shortfall(&clouds, complete, open_files),
                         "suspicions": Work::of(&clouds).suspicions});
        }
        sleep(POLL).await;
    };
    emit(&line);
    tokio::spawn(settled(Arc::clone(&clouds), started, before));
    // The last peer to join broadcasts: not the seed, which every other
    // peer talked to while joining.
    let sender = clouds.last().ok_or("no peers")?;
    let peers = &clouds;
    serve_commands(|command| async move {
        match command["cmd"].as_str() {
            Some("broadcast") => broadcasts(sender, n - 1, &command).await,
            Some("work") => json!({"event": "work", "suspicions": Work::of(peers).suspicions}),
            _ => unknown(&command),
        }
    })
    .await;
    // Exit without a thousand goodbyes: the orchestrator is gone.
    std::process::exit(0)
}

/// Tells on stderr, every [`REPORT`] until the process ends, what the
/// converged swarm goes on doing: its probes, gossip and checks.
async fn settled(clouds: Arc<Vec<Cloud>>, started: Instant, mut before: Work) {
    loop {
        sleep(REPORT).await;
        let work = Work::of(&clouds);
        eprintln!(
            "  swarm: {:.1} s, converged, {} tasks; since the last line: {}",
            started.elapsed().as_secs_f64(),
            alive_tasks(),
            work.since(&before)
        );
        if work.suspected > 0 {
            eprintln!("    {}", most_suspected(&clouds));
        }
        before = work;
    }
}

/// `count` broadcasts one after the other, each timed until all `expect`
/// replies are in; a broadcast with a missing reply counts as failed.
async fn broadcasts(sender: &Cloud, expect: usize, command: &Value) -> Value {
    let count = command["count"].as_u64().unwrap_or(1);
    let Ok(body) = serde_json::from_slice::<Value>(BODY) else {
        return json!({"event": "broadcast", "error": "bad body"});
    };
    let mut micros = Vec::new();
    let mut failed = 0;
    for _ in 0..count {
        let start = Instant::now();
        let replies = sender.send(body.clone()).await;
        if replies.all_ok() && replies.len() == expect {
            micros.push(start.elapsed().as_micros() as u64);
        } else {
            failed += 1;
        }
    }
    micros.sort_unstable();
    let ms = |p| percentile(&micros, p).map(|us| us as f64 / 1000.0);
    json!({"event": "broadcast", "p50_ms": ms(50.0), "p99_ms": ms(99.0), "failed": failed})
}

/// Why the peers that started alone did: their seed's errors, counted.
fn why_alone(clouds: &[Cloud]) -> String {
    let mut errors = std::collections::BTreeMap::<String, usize>::new();
    for cloud in clouds
        .iter()
        .filter(|c| matches!(c.start_outcome(), Start::Alone))
    {
        // The first stream of a peer starts at its start, so its seeds'
        // errors are there. Unconstrained: past tokio's budget of polls a
        // ready event would look pending.
        let mut events = cloud.events();
        while let Some(Some(event)) = tokio::task::unconstrained(events.recv()).now_or_never() {
            if let Event::SeedFailed { error, .. } = event {
                *errors.entry(error.to_string()).or_default() += 1;
            }
        }
    }
    errors
        .iter()
        .map(|(error, count)| format!("; {count} for: {error}"))
        .collect()
}

/// How a peer with a short list is doing: its probes (each answer may
/// pull a list), its calls, and how it started.
fn laggard(cloud: &Cloud) -> String {
    let metrics = cloud.metrics();
    let (membership, calls) = (&metrics.membership, &metrics.calls);
    format!(
        "{} members; {} probes sent, {} answered, {} failed; {} calls answered, {} timed out; started {:?}",
        cloud.peer_count(),
        membership.probes_sent,
        membership.probes_acked,
        membership.probes_failed,
        calls.ok,
        calls.timeout,
        cloud.start_outcome()
    )
}

/// The members suspected in the most lists, with how many, and which of
/// the swarm's peers each is (0 is the seed): whether a storm falls on a
/// few peers (a hub, the seed) or spreads over many.
fn most_suspected(clouds: &[Cloud]) -> String {
    let index: std::collections::BTreeMap<String, usize> = clouds
        .iter()
        .enumerate()
        .map(|(i, c)| (c.id(), i))
        .collect();
    let mut lists = std::collections::BTreeMap::<String, usize>::new();
    for cloud in clouds {
        for peer in cloud.peers() {
            if peer.state() == peercloud::PeerState::Suspected {
                *lists.entry(peer.id().to_owned()).or_default() += 1;
            }
        }
    }
    if lists.is_empty() {
        return "no member suspected now".to_owned();
    }
    let mut counted: Vec<(usize, String)> = lists.into_iter().map(|(id, n)| (n, id)).collect();
    counted.sort_unstable_by(|a, b| b.cmp(a));
    let top: Vec<String> = counted
        .iter()
        .take(3)
        .map(|(n, id)| {
            format!(
                "peer {} in {n} lists",
                index.get(id).map_or(-1, |&i| i as i64)
            )
        })
        .collect();
    format!(
        "{} members suspected somewhere; most: {}",
        counted.len(),
        top.join(", ")
    )
}

/// What the swarm's peers did, summed: told on stderr as it forms, so that
/// a slow run shows where the time went.
#[derive(Default)]
struct Work {
    probes: u64,
    probes_failed: u64,
    suspicions: u64,
    refutations: u64,
    calls: u64,
    timeouts: u64,
    refused: u64,
    bytes_sent: u64,
    /// Gauges, now: the members listed as suspected, summed over the
    /// peers, and how many peers are at each local health score.
    suspected: u64,
    health: [usize; 9],
}

impl Work {
    fn of(clouds: &[Cloud]) -> Self {
        let mut work = Self::default();
        for metrics in clouds.iter().map(Cloud::metrics) {
            let (membership, calls) = (&metrics.membership, &metrics.calls);
            work.probes += membership.probes_sent;
            work.probes_failed += membership.probes_failed;
            work.suspicions += membership.suspicions;
            work.refutations += membership.refutations;
            work.calls += calls.ok + calls.timeout + calls.no_listener + calls.unreachable;
            work.calls += calls.refused + calls.invalid_reply + calls.unauthorized;
            work.timeouts += calls.timeout;
            work.refused += calls.refused;
            work.bytes_sent += metrics.bytes_sent;
            work.suspected += metrics.members.suspected;
            let score = (metrics.local_health as usize).min(work.health.len() - 1);
            work.health[score] += 1;
        }
        work
    }

    fn since(&self, before: &Self) -> String {
        format!(
            "{} calls ({} timed out, {} refused), {} probes ({} failed), {} suspicions, {} refutations, {:.1} MB sent; now {} suspected in all lists, peers by local health 0-8: {:?}",
            self.calls - before.calls,
            self.timeouts - before.timeouts,
            self.refused - before.refused,
            self.probes - before.probes,
            self.probes_failed - before.probes_failed,
            self.suspicions - before.suspicions,
            self.refutations - before.refutations,
            (self.bytes_sent - before.bytes_sent) as f64 / 1e6,
            self.suspected,
            self.health,
        )
    }
}

/// How many tasks the runtime holds: the peers' own, and one or two per
/// open connection, which is where much of a swarm's memory goes.
fn alive_tasks() -> usize {
    tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks()
}

/// What a swarm that did not converge looks like.
fn shortfall(clouds: &[Cloud], complete: usize, open_files: u64) -> String {
    let counts: Vec<usize> = clouds.iter().map(Cloud::peer_count).collect();
    let alone = clouds
        .iter()
        .filter(|c| matches!(c.start_outcome(), Start::Alone))
        .count();
    format!(
        "{complete} of {} peers had the full list after {WITHIN:?}; they listed {} to {} peers; \
         {alone} started alone (open files allowed: {open_files})",
        clouds.len(),
        counts.iter().min().unwrap_or(&0),
        counts.iter().max().unwrap_or(&0),
    )
}

fn builder(n: usize, open_files: u64) -> peercloud::CloudBuilder {
    Cloud::builder()
        .random_port()
        .bind(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .limits(limits(n, open_files))
}

/// The limits of a peer among `n` in one process: every connection and
/// every join comes from 127.0.0.1, which the defaults would take for one
/// stranger. The seed takes `n - 1` joins at once, and each peer may get
/// the connections of every other (up to four lanes each, and messages).
/// `open_files` is the process's limit on open files.
fn limits(n: usize, open_files: u64) -> Limits {
    let mut limits = Limits::default();
    limits.max_members = limits.max_members.max(n);
    let joins = u32::try_from(2 * n).unwrap_or(u32::MAX);
    limits.max_joins_per_ip_per_minute = limits.max_joins_per_ip_per_minute.max(joins);
    limits.max_connections = limits.max_connections.max(8 * n);
    limits.max_connections_per_ip = limits.max_connections;
    // Both ends of every connection are in this one process, under one
    // limit on open files: the default sixteen idle connections of each of
    // a thousand peers would be 32,000 descriptors, past the 20,000 this
    // machine allows. Idle ones may take a tenth of the limit (one each
    // for a thousand peers); the rest is for listeners and connections in
    // use, which is what runs out while a large swarm forms (probes and
    // gossip go to random members, so an idle connection to the one
    // called next is rare however many are kept).
    let idle = usize::try_from(open_files).unwrap_or(usize::MAX) / (20 * n);
    limits.max_idle_connections = idle.clamp(1, limits.max_idle_connections);
    limits
}
