//! The `swarm N` role: N peercloud peers in this one process on 127.0.0.1.
//! A seed starts first; then the other N-1 start at the same moment, each
//! joining through the seed. Prints `converged {secs}` once every peer lists
//! the N-1 others (or `converged {error}` after a minute), then idles until
//! stdin ends, so the orchestrator can read its footprint.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use peercloud::{Cloud, Limits, Start};
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
    let seed = builder(n).start().await?;
    let seed_address = format!("127.0.0.1:{}", seed.port());
    let started = Instant::now();
    let joins: Vec<_> = (1..n)
        .map(|_| tokio::spawn(builder(n).seed(seed_address.clone()).start()))
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

fn builder(n: usize) -> peercloud::CloudBuilder {
    Cloud::builder()
        .random_port()
        .bind(IpAddr::V4(Ipv4Addr::LOCALHOST))
        .limits(limits(n))
}

/// The limits of a peer among `n` in one process: every connection and
/// every join comes from 127.0.0.1, which the defaults would take for one
/// stranger. The seed takes `n - 1` joins at once, and each peer may get
/// the connections of every other (up to four lanes each, and messages).
fn limits(n: usize) -> Limits {
    let mut limits = Limits::default();
    limits.max_members = limits.max_members.max(n);
    let joins = u32::try_from(2 * n).unwrap_or(u32::MAX);
    limits.max_joins_per_ip_per_minute = limits.max_joins_per_ip_per_minute.max(joins);
    limits.max_connections = limits.max_connections.max(8 * n);
    limits.max_connections_per_ip = limits.max_connections;
    limits
}
