//! 200 peercloud peers in one process (the `swarm` role), joining at once
//! through one seed: time to converge, then, after a second idle, the
//! process's resident memory, threads and open sockets.

use std::time::Duration;

use tokio::time::sleep;

use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::Env;
use crate::procfs::footprint;
use crate::table::Figures;
use crate::Result;

/// Peers in the process.
const PEERS: usize = 200;

/// How long the swarm may take (it gives up itself after a minute).
const WITHIN: Duration = Duration::from_secs(90);

/// How long the converged swarm idles before its footprint is read.
const SETTLE: Duration = Duration::from_secs(1);

/// Runs the benchmark and records its figures (peercloud only).
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures) {
    for _ in 0..budget.swarm_runs {
        if let Err(e) = once(env, figures).await {
            figures.fail(Figure::SwarmTime, Sys::Peercloud, e);
        }
    }
}

async fn once(env: &Env, figures: &mut Figures) -> Result<()> {
    let mut swarm = env.spawn_role(&["swarm", &PEERS.to_string()])?;
    let line = swarm.expect("converged", WITHIN).await?;
    if let Some(error) = line.value["error"].as_str() {
        return Err(error.into());
    }
    let secs = line.value["secs"]
        .as_f64()
        .ok_or("no time in the swarm's answer")?;
    sleep(SETTLE).await;
    let pid = swarm.pid().ok_or("the swarm exited")?;
    let print = footprint(&pid.to_string())?;
    figures.record(Figure::SwarmTime, Sys::Peercloud, secs);
    figures.record(Figure::SwarmMemory, Sys::Peercloud, print.rss_mib);
    figures.record(Figure::SwarmThreads, Sys::Peercloud, print.threads as f64);
    figures.record(Figure::SwarmSockets, Sys::Peercloud, print.sockets as f64);
    Ok(())
}
