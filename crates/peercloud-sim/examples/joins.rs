//! How the lists fill up after concurrent joins: the count of missing
//! entries over time, for one size. `cargo run --release -p peercloud-sim --example joins -- 100`
use std::time::Duration;

use peercloud_sim::{NetConfig, Sim};

fn main() {
    let size: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100);
    let mut sim = Sim::new(1, NetConfig::lan());
    let seeds: Vec<usize> = (0..3).map(|_| sim.add_peer()).collect();
    sim.start(seeds[0], &[]);
    sim.start(seeds[1], &seeds[..1]);
    sim.start(seeds[2], &seeds[..1]);
    sim.run_for(Duration::from_secs(1));
    for i in 3..size {
        let p = sim.add_peer();
        sim.start(p, &[seeds[i % 3]]);
    }
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
