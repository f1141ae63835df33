//! How long peers joining at once through one seed take to list each
//! other, seed after seed, on a machine whose processors they share (see
//! `Processors`) or each on its own: the time, the requests and bytes the
//! network carried meanwhile, the processor time they took, and the
//! entries still missing every half second. A model of the bench's swarm
//! (1,000 real peers in one process on two cores) that replays.
//!
//! With `--trace`, every half second also: requests and bytes so far,
//! how many peers are at each local health score (0 to 8), the probes
//! sent so far, and the peers whose lists still lack members (each with
//! how many it lacks and its health), at most five of them.
//!
//! With `--after SECS`, the cloud runs on for SECS once whole, and the
//! requests and bytes of that span are told: the news of the joins that
//! peers still pass on after every list is whole.
//!
//! `cargo run --release -p peercloud-sim --example forming -- [--peers 1000]
//! [--seeds 1,2,3] [--processors CORES:MESSAGE_US:KIB_US] [--trace]
//! [--after SECS]`
use std::time::Duration;

use peercloud_core::Config;
use peercloud_sim::{Delivery, NetConfig, Processors, Sim};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = |flag: &str| {
        let at = args.iter().position(|a| a == flag)?;
        args.get(at + 1).cloned()
    };
    let peers: usize = value("--peers")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seeds: Vec<u64> = value("--seeds")
        .map(|v| v.split(',').filter_map(|s| s.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 3]);
    let processors = value("--processors").map(|v| {
        let parts: Vec<u64> = v.split(':').filter_map(|p| p.parse().ok()).collect();
        let [cores, message, kib] = parts[..] else {
            panic!("--processors CORES:MESSAGE_US:KIB_US, not {v}");
        };
        Processors {
            cores: cores as usize,
            per_message: Duration::from_micros(message),
            per_kib: Duration::from_micros(kib),
            ..Processors::two_cores()
        }
    });
    let trace = args.iter().any(|a| a == "--trace");
    let after = value("--after")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs);
    println!("{peers} peers through one seed, processors: {processors:?}");
    for seed in seeds {
        form(seed, peers, processors, trace, after);
    }
}

fn form(
    seed: u64,
    peers: usize,
    processors: Option<Processors>,
    trace: bool,
    after: Option<Duration>,
) {
    // Room for every simulated peer: the default `max_members` (1024)
    // guards a real peer against a flood, it is not what is watched.
    let config = Config {
        max_members: 1 << 20,
        ..Config::default()
    };
    let mut sim = Sim::with_config(seed, NetConfig::lan(), config);
    sim.set_delivery(Delivery::Typed);
    sim.keep_events(1);
    if let Some(processors) = processors {
        sim.share_processors(processors);
    }
    sim.join_through_seeds(peers, 1);
    let step = Duration::from_millis(100);
    let mut missing = Vec::new();
    let mut whole = None;
    // Two simulated minutes at most.
    for i in 0..1200 {
        let gaps = sim.list_gaps(&sim.live());
        if i % 5 == 0 {
            missing.push(gaps.missing.to_string());
            if trace {
                print_trace(&sim, gaps.missing);
            }
        }
        if gaps.missing + gaps.extra == 0 {
            whole = Some(sim.now());
            break;
        }
        sim.run_for(step);
    }
    let stats = sim.stats();
    let whole_at = whole;
    let whole = whole.map_or("not within 120 s".to_string(), |t| {
        format!("{:.1} s", t.as_secs_f64())
    });
    println!(
        "seed {seed}: whole after {whole}; {} requests, {:.1} MB, {:.1} s of processor time; missing every 0.5 s: {}",
        stats.requests,
        stats.bytes as f64 / 1e6,
        stats.processor_time.as_secs_f64(),
        missing.join(" ")
    );
    if let Some(span) = after.filter(|_| whole_at.is_some()) {
        sim.run_for(span);
        let later = sim.stats();
        println!(
            "  then in {:.0} s: {} requests, {:.1} MB",
            span.as_secs_f64(),
            later.requests - stats.requests,
            (later.bytes - stats.bytes) as f64 / 1e6,
        );
    }
}

/// One line of `--trace` (see the module's notes).
fn print_trace(sim: &Sim, missing: usize) {
    let live = sim.live();
    let mut health = [0usize; 9];
    let mut probes = 0;
    let mut lacking = Vec::new();
    for &a in &live {
        let score = sim.core(a).health() as usize;
        health[score.min(8)] += 1;
        probes += sim.core(a).counters().probes_sent;
        let lacks = live.iter().filter(|&&b| b != a && !sim.lists(a, b)).count();
        if lacks > 0 {
            lacking.push((a, lacks, score));
        }
    }
    let stats = sim.stats();
    let shown: Vec<String> = lacking
        .iter()
        .take(5)
        .map(|(peer, lacks, score)| format!("peer {peer} lacks {lacks} (health {score})"))
        .collect();
    println!(
        "  t={:.1} s: missing {missing}; {} requests, {:.1} MB; health 0..8: {health:?}; {probes} probes sent; {} peers lacking: {}",
        sim.now().as_secs_f64(),
        stats.requests,
        stats.bytes as f64 / 1e6,
        lacking.len(),
        shown.join(", ")
    );
}
