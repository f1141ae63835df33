//! How the lists fill up after concurrent joins: the count of missing
//! entries over time, for one size.
//!
//! `cargo run --release -p peercloud-sim --example joins -- 100`
use std::time::Duration;

use peercloud_sim::{NetConfig, Sim};

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let mut sim = Sim::new(1, NetConfig::lan());
    sim.join_through_seeds(size, 3);
    for t in 0..40 {
        let missing: usize = (0..size)
            .map(|n| (0..size).filter(|&m| m != n && !sim.lists(n, m)).count())
            .sum();
        let stats = sim.stats();
        println!("t={t:>2}s missing={missing:>6} requests={}", stats.requests);
        if missing == 0 {
            break;
        }
        sim.run_for(Duration::from_secs(1));
    }
}
