//! The `swarm N` role: N peercloud peers in this one process on 127.0.0.1.
//! A seed starts first; then the other N-1 start at the same moment, each
//! joining through the seed. Prints `converged {secs}` once every peer lists
//! the N-1 others (or `converged {error}` after a minute), then idles until
//! stdin ends, so the orchestrator can read its footprint.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use peercloud::{Cloud, Start};
use serde_json::json;
use tokio::io::AsyncReadExt;
use tokio::time::{sleep, Instant};

use super::{emit, runtime};
use crate::Result;

/// How long the swarm may take to converge.
const WITHIN: Duration = Duration::from_secs(20);

/// How often the member lists are looked at.
const POLL: Duration = Duration::from_millis(20);

/// Runs the role until stdin ends.
pub(crate) fn main(n: usize) -> Result<()> {
    runtime()?.block_on(run(n))
}

async fn run(n: usize) -> Result<()> {
    let seed = builder().start().await?;
    let seed_address = format!("127.0.0.1:{}", seed.port());
    let started = Instant::now();
    let joins: Vec<_> = (1..n)
        .map(|_| tokio::spawn(builder().seed(seed_address.clone()).start()))
        .collect();
    let mut clouds = vec![seed];
    for join in joins {
        clouds.push(join.await??);
    }
    let deadline = started + WITHIN;
    let line = loop {
        let complete = clouds.iter().filter(|c| c.peers().len() == n - 1).count();
        if complete == n {
            break json!({"event": "converged", "secs": started.elapsed().as_secs_f64(), "peers": n});
        }
        if Instant::now() >= deadline {
            break json!({"event": "converged", "error": shortfall(&clouds, complete)});
        }
        sleep(POLL).await;
    };
    emit(&line);
    let mut sink = Vec::new();
    let _ = tokio::io::stdin().read_to_end(&mut sink).await;
    // Exit without 200 goodbyes: the orchestrator is gone.
    std::process::exit(0)
}

/// What a swarm that did not converge looks like.
fn shortfall(clouds: &[Cloud], complete: usize) -> String {
    let counts: Vec<usize> = clouds.iter().map(|c| c.peers().len()).collect();
    let alone = clouds
        .iter()
        .filter(|c| matches!(c.start_outcome(), Start::Alone))
        .count();
    format!(
        "{complete} of {} peers had the full list after {WITHIN:?}; they listed {} to {} peers; {alone} started alone",
        clouds.len(),
        counts.iter().min().unwrap_or(&0),
        counts.iter().max().unwrap_or(&0),
    )
}

fn builder() -> peercloud::CloudBuilder {
    Cloud::builder()
        .random_port()
        .bind(IpAddr::V4(Ipv4Addr::LOCALHOST))
}
