//! Idle memory of one peer alone: each kind started on its own, left idle
//! for a second, its resident memory read from `/proc`. (The memory per
//! peer in a cloud of 20 is read from the broadcast benchmark's clouds.)

use std::time::Duration;

use tokio::time::sleep;

use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::{Env, Kind};
use crate::procfs::footprint;
use crate::table::Figures;
use crate::Result;

/// How long a peer idles before its memory is read.
const SETTLE: Duration = Duration::from_secs(1);

/// Runs the benchmark and records its figures.
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures) {
    for _ in 0..budget.memory_runs {
        let mut peers = Vec::new();
        for kind in Kind::BOTH {
            match env.start_peer(kind, "alone", None, false).await {
                Ok(peer) => peers.push((kind, peer)),
                Err(e) => figures.fail(Figure::MemLone, kind.into(), e),
            }
        }
        sleep(SETTLE).await;
        for (kind, peer) in &peers {
            match rss(peer.proc.pid()) {
                Ok(mib) => figures.record(Figure::MemLone, Sys::from(*kind), mib),
                Err(e) => figures.fail(Figure::MemLone, Sys::from(*kind), e),
            }
        }
    }
}

/// The resident memory of a running child, in MiB.
pub(crate) fn rss(pid: Option<u32>) -> Result<f64> {
    let pid = pid.ok_or("the peer exited")?;
    Ok(footprint(&pid.to_string())?.rss_mib)
}
