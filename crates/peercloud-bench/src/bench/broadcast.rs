//! Broadcast to 19 peers: a cloud of 20 of each kind measured (the original
//! and peercloud, or open and private peercloud; started one after the
//! other, so that even the original converges), one peer broadcasting one
//! message after the other and timing each until every reply is in. The
//! same clouds, once idle, give the memory per peer in a cloud of 20.

use std::time::Duration;

use serde_json::json;
use tokio::time::sleep;

use super::memory::rss;
use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::{wait_mesh, Env, Kind, Peer, COMMAND_WITHIN};
use crate::table::Figures;
use crate::Result;

/// Peers in each cloud: one broadcaster and 19 that answer.
const CLOUD: usize = 20;

/// How long the sequentially started cloud may take to list everyone.
const MESH_WITHIN: Duration = Duration::from_secs(15);

/// How long a cloud idles before its memory is read.
const SETTLE: Duration = Duration::from_secs(1);

/// Runs the broadcast benchmark for `kinds` and records their figures, and
/// the memory per peer in a cloud of 20.
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures, kinds: &[Kind]) {
    let mut clouds = Vec::new();
    for &kind in kinds {
        match start_cloud(env, kind).await {
            Ok(peers) => clouds.push((kind, peers)),
            Err(e) => {
                for figure in [Figure::BroadcastP50, Figure::BroadcastP99, Figure::MemCloud] {
                    figures.fail(figure, kind.into(), &e);
                }
            }
        }
    }
    sleep(SETTLE).await;
    for (kind, peers) in &clouds {
        record_memory(figures, (*kind).into(), peers);
    }
    for run in 0..budget.runs {
        clouds.rotate_left(usize::from(run > 0));
        for (kind, peers) in clouds.iter_mut() {
            let sys = Sys::from(*kind);
            match broadcast(&mut peers[0], budget).await {
                Ok((p50, p99)) => {
                    figures.record(Figure::BroadcastP50, sys, p50);
                    figures.record(Figure::BroadcastP99, sys, p99);
                }
                Err(e) => figures.fail(Figure::BroadcastP50, sys, e),
            }
        }
    }
}

async fn start_cloud(env: &Env, kind: Kind) -> Result<Vec<Peer>> {
    let mut peers = env.cloud(kind, CLOUD, false).await?;
    wait_mesh(&mut peers, MESH_WITHIN).await?;
    Ok(peers)
}

/// Each peer's resident memory is one figure.
fn record_memory(figures: &mut Figures, sys: Sys, peers: &[Peer]) {
    for peer in peers {
        match rss(peer.proc.pid()) {
            Ok(mib) => figures.record(Figure::MemCloud, sys, mib),
            Err(e) => figures.fail(Figure::MemCloud, sys, format!("{}: {e}", peer.proc.name())),
        }
    }
}

/// The p50 and p99 of one run of broadcasts, in ms.
async fn broadcast(peer: &mut Peer, budget: &Budget) -> Result<(f64, f64)> {
    let mut command = budget.broadcast.to_json();
    command["cmd"] = json!("broadcast");
    command["expect"] = json!(CLOUD - 1);
    let within = budget.broadcast.total() + COMMAND_WITHIN + Duration::from_secs(5);
    let answer = peer.proc.command(&command, "broadcast", within).await?;
    let errors = answer["errors"].as_u64().unwrap_or(0);
    if errors > 0 || answer["count"].as_u64().unwrap_or(0) == 0 {
        return Err(format!("{errors} broadcasts failed, {} succeeded", answer["count"]).into());
    }
    let ms = |field: &str| answer[field].as_f64().unwrap_or(f64::NAN) / 1_000.0;
    Ok((ms("p50_us"), ms("p99_us")))
}
