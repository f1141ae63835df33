//! The swarm: N peercloud peers in one process (the `swarm` role, 1,000
//! unless `--peers` says otherwise), joining at once through one seed: time
//! to converge; then the process's resident memory (and its share per
//! peer), threads and open sockets 1 s after, its memory, open sockets and
//! the suspicions its peers raised 10 s after (also when it did not
//! converge: after it gave up); then broadcasts from one peer to all the
//! others, timed.

use std::time::Duration;

use serde_json::json;
use tokio::time::{sleep_until, Instant};

use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::Env;
use crate::procfs::footprint;
use crate::table::Figures;
use crate::Result;

/// How long the swarm may take (it gives up itself after a minute).
const WITHIN: Duration = Duration::from_secs(120);

/// How long the converged swarm idles before its footprint is read.
const SETTLE: Duration = Duration::from_secs(1);

/// When its open sockets are read again: past the clients' 3 s idle
/// timeout, within the servers' 10 s one.
const LATER: Duration = Duration::from_secs(10);

/// How long one broadcast may take, at most, before the run fails.
const BROADCAST_WITHIN: Duration = Duration::from_secs(10);

/// Runs the benchmark and records its figures (peercloud only).
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures) {
    for _ in 0..budget.swarm_runs {
        if let Err(e) = once(env, budget, figures).await {
            figures.fail(Figure::SwarmTime, Sys::Peercloud, e);
        }
    }
}

async fn once(env: &Env, budget: &Budget, figures: &mut Figures) -> Result<()> {
    let peers = budget.swarm_peers;
    let mut swarm = env.spawn_role(&["swarm", &peers.to_string()])?;
    let line = swarm.expect("converged", WITHIN).await?;
    let converged = Instant::now();
    eprintln!("  swarm of {peers}: {}", line.value);
    // A swarm that did not converge still has a footprint worth reading
    // (from the moment it gave up); only its broadcasts are not timed.
    let failure = line.value["error"].as_str().map(str::to_owned);
    let secs = line.value["secs"].as_f64();
    sleep_until(converged + SETTLE).await;
    let pid = swarm.pid().ok_or("the swarm exited")?.to_string();
    let print = footprint(&pid)?;
    sleep_until(converged + LATER).await;
    let later = footprint(&pid)?;
    // An older build's role (PEERCLOUD_BENCH_EXE) does not know the
    // command: only this figure goes without.
    let work = swarm.command(&json!({"cmd": "work"}), "work", LATER).await;
    let suspicions = |value: &serde_json::Value| value["suspicions"].as_u64();
    let raised = match (
        suspicions(&line.value),
        work.ok().as_ref().and_then(suspicions),
    ) {
        (Some(then), Some(now)) => Some(now.saturating_sub(then)),
        _ => None,
    };
    let told = raised.map_or_else(|| "?".to_owned(), |n| n.to_string());
    eprintln!(
        "  1 s after: {:.1} MiB, {} threads, {} sockets; 10 s after: {:.1} MiB, {} sockets, {told} suspicions raised since converging",
        print.rss_mib, print.threads, print.sockets, later.rss_mib, later.sockets
    );
    figures.record(Figure::SwarmMemory, Sys::Peercloud, print.rss_mib);
    figures.record(
        Figure::SwarmPerPeer,
        Sys::Peercloud,
        print.rss_mib / peers as f64,
    );
    figures.record(Figure::SwarmThreads, Sys::Peercloud, print.threads as f64);
    figures.record(Figure::SwarmSockets, Sys::Peercloud, print.sockets as f64);
    figures.record(
        Figure::SwarmSocketsLater,
        Sys::Peercloud,
        later.sockets as f64,
    );
    figures.record(Figure::SwarmMemoryLater, Sys::Peercloud, later.rss_mib);
    match raised {
        Some(raised) => figures.record(Figure::SwarmSuspicionsAfter, Sys::Peercloud, raised as f64),
        None => figures.fail(
            Figure::SwarmSuspicionsAfter,
            Sys::Peercloud,
            "no suspicion count in the swarm's answers",
        ),
    }
    if let Some(error) = failure {
        return Err(error.into());
    }
    let secs = secs.ok_or("no time in the swarm's answer")?;
    figures.record(Figure::SwarmTime, Sys::Peercloud, secs);
    let count = budget.swarm_broadcasts;
    let command = json!({"cmd": "broadcast", "count": count});
    let within = BROADCAST_WITHIN * count as u32;
    let answer = swarm.command(&command, "broadcast", within).await?;
    eprintln!("  broadcasts: {answer}");
    let failed = answer["failed"].as_u64().unwrap_or(0);
    if failed > 0 {
        let e = format!("{failed} of {count} broadcasts missed a reply");
        figures.fail(Figure::SwarmBroadcastP50, Sys::Peercloud, e);
    }
    if let Some(p50) = answer["p50_ms"].as_f64() {
        figures.record(Figure::SwarmBroadcastP50, Sys::Peercloud, p50);
    }
    if let Some(p99) = answer["p99_ms"].as_f64() {
        figures.record(Figure::SwarmBroadcastP99, Sys::Peercloud, p99);
    }
    Ok(())
}
