//! How the lists fill up after concurrent joins, step by simulated step
//! (a second unless told): the entries still missing, what the network
//! carried, what waits in the simulator's queue, and the simulator's own
//! time and memory. Under peercloud's rules, or the original's; messages
//! through the wire codec, or with `--typed` handed over typed (shared
//! records, see `Delivery`), which is what lets 10,000 peers fit.
//!
//! `cargo run --release -p peercloud-sim --example joins -- 1000 [peercloud|original] [step-ms] [--typed]`
use std::time::{Duration, Instant};

use peercloud_core::Config;
use peercloud_sim::{Delivery, NetConfig, Protocol, Sim};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let delivery = if args.iter().any(|a| a == "--typed") {
        Delivery::Typed
    } else {
        Delivery::Wire
    };
    let mut args = args.into_iter().filter(|a| a != "--typed");
    let size: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let original = args.next().as_deref() == Some("original");
    let step = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let step = Duration::from_millis(step);
    if original {
        watch(Sim::original(1, NetConfig::lan()), size, step, delivery);
    } else {
        // Room for every simulated peer: the default `max_members` (1024)
        // guards a real peer against a flood, it is not what is watched.
        let config = Config {
            max_members: 1 << 20,
            ..Config::default()
        };
        watch(
            Sim::with_config(1, NetConfig::lan(), config),
            size,
            step,
            delivery,
        );
    }
}

fn watch<P: Protocol>(mut sim: Sim<P>, size: usize, step: Duration, delivery: Delivery) {
    // The wall clock, read only to show how long each second took.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    sim.keep_events(4);
    sim.set_delivery(delivery);
    sim.join_through_seeds(size, 3);
    // A minute of simulated time at most, step by step.
    let steps = (60_000 / step.as_millis().max(1)) as usize;
    for _ in 0..=steps {
        let gaps = sim.list_gaps(&sim.live());
        let stats = sim.stats();
        println!(
            "t={:>6.2}s missing={:>8} extra={:>6} requests={:>9} MB={:>7.1} queued={:>8} wall={:>6.1}s rss={}",
            sim.now().as_secs_f64(),
            gaps.missing,
            gaps.extra,
            stats.requests,
            stats.bytes as f64 / 1e6,
            sim.queued(),
            started.elapsed().as_secs_f64(),
            rss(),
        );
        if gaps.missing + gaps.extra == 0 {
            break;
        }
        sim.run_for(step);
    }
}

/// This process's resident memory now and at its peak.
fn rss() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kib| kib.parse::<u64>().ok())
            .map_or(0, |kib| kib / 1024)
    };
    format!("{}MiB (peak {}MiB)", field("VmRSS:"), field("VmHWM:"))
}
