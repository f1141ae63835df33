//! The figures of one cloud size, measured on one simulation in turn: the
//! joins, the quiet load, crashes, a partition, and soaks under loss and
//! stalls that count false evictions. Reads only the simulation (and this
//! process's peak memory, from /proc).

use std::time::{Duration, Instant};

use peercloud_core::Config;
use peercloud_sim::{Latency, NetConfig, PeerIndex, Sim};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::Plan;

/// How often conditions are looked at (simulated).
const STEP: Duration = Duration::from_millis(100);

/// How long each wait may take (simulated) before it counts as never.
const LIMIT: Duration = Duration::from_secs(300);

/// One figure: a value or why there is none, and a target if it has one.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) figure: &'static str,
    pub(crate) value: Result<f64, String>,
    pub(crate) unit: &'static str,
    /// The target at this size, if any: at most this.
    pub(crate) target: Option<f64>,
}

impl Row {
    fn new(figure: &'static str, unit: &'static str, value: Result<f64, String>) -> Self {
        Row {
            figure,
            value,
            unit,
            target: None,
        }
    }

    fn at_most(mut self, target: f64) -> Self {
        self.target = Some(target);
        self
    }
}

/// Everything measured for a cloud of `size`.
pub(crate) fn measure(size: usize, plan: &Plan) -> Vec<Row> {
    // The wall clock, read only to report how long the simulator took.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut sim = sim_for(size, plan.seed, NetConfig::lan());
    let joined = join_at_once(&mut sim, size);
    rows.push(Row::new("convergence after concurrent joins", "s", joined).at_most(5.0));
    if sim.converged().is_err() {
        rows.push(Row::new(
            "(the rest)",
            "",
            Err("the cloud never converged".into()),
        ));
        return finish(rows, started);
    }
    let (requests, bytes) = quiet_load(&mut sim);
    rows.push(Row::new("background requests per peer per second", "", Ok(requests)).at_most(5.0));
    rows.push(Row::new(
        "background bytes per peer per second",
        "B",
        Ok(bytes),
    ));
    let (median, worst) = crashes(&mut sim, plan.seed);
    rows.push(Row::new("crash dropped by every peer, median", "s", median).at_most(5.0));
    rows.push(Row::new("crash dropped by every peer, worst", "s", worst));
    rows.push(Row::new(
        "partition in halves healed",
        "s",
        partition(&mut sim),
    ));
    let minutes = plan.soak_minutes;
    for (figure, net, stalls) in [
        ("false evictions per peer-hour, 1% loss", lossy(0.01), false),
        ("false evictions per peer-hour, 5% loss", lossy(0.05), false),
        (
            "false evictions per peer-hour, 5% loss and 1-3 s stalls",
            lossy(0.05),
            true,
        ),
    ] {
        let value = soak(size, plan.seed, net, stalls, minutes);
        rows.push(Row::new(figure, "", value).at_most(0.0));
    }
    finish(rows, started)
}

fn finish(mut rows: Vec<Row>, started: Instant) -> Vec<Row> {
    let wall = started.elapsed().as_secs_f64();
    rows.push(Row::new("simulator wall time", "s", Ok(wall)));
    rows.push(Row::new("simulator peak memory", "MiB", peak_memory_mib()));
    rows
}

/// Three seeds form a cloud, then everyone else joins at once through one
/// of them each: the time until every list is whole.
fn join_at_once(sim: &mut Sim, size: usize) -> Result<f64, String> {
    sim.join_through_seeds(size, 3);
    timed(sim, |s| s.converged().is_ok())
}

/// A minute of quiet: requests and bytes per peer per second.
fn quiet_load(sim: &mut Sim) -> (f64, f64) {
    sim.run_for(Duration::from_secs(30));
    sim.reset_stats();
    let span = Duration::from_secs(60);
    sim.run_for(span);
    let stats = sim.stats();
    let per = sim.live().len() as f64 * span.as_secs_f64();
    (stats.requests as f64 / per, stats.bytes as f64 / per)
}

/// Crashes five peers one after the other: for each, the time until every
/// live peer dropped it; the median and the worst.
fn crashes(sim: &mut Sim, seed: u64) -> (Result<f64, String>, Result<f64, String>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc4a5);
    let mut times = Vec::new();
    for _ in 0..5 {
        let live = sim.live();
        let victim = live[rng.random_range(3..live.len())];
        let gone = sim.id(victim).clone();
        sim.crash(victim);
        match timed(sim, |s| {
            s.live().iter().all(|&n| s.core(n).member(&gone).is_none())
        }) {
            Ok(t) => times.push(t),
            Err(e) => return (Err(e.clone()), Err(e)),
        }
        sim.run_for(Duration::from_secs(10));
    }
    times.sort_by(f64::total_cmp);
    (Ok(times[times.len() / 2]), Ok(times[times.len() - 1]))
}

/// Splits the live peers in halves for a minute, then heals: the time
/// until every list is whole again.
fn partition(sim: &mut Sim) -> Result<f64, String> {
    let live = sim.live();
    let half: Vec<PeerIndex> = live[..live.len() / 2].to_vec();
    sim.partition(&[&half]);
    sim.run_for(Duration::from_secs(60));
    sim.heal();
    timed(sim, |s| s.converged().is_ok())
}

fn lossy(loss: f64) -> NetConfig {
    NetConfig {
        latency: Latency::Tailed {
            typical: Duration::from_millis(1),
            tail: Duration::from_millis(300),
            tail_share: 0.01,
        },
        loss,
    }
}

/// A simulation for a cloud of `size`: the default config, with room for
/// every member (`--sizes` goes past the default `max_members`).
fn sim_for(size: usize, seed: u64, net: NetConfig) -> Sim {
    let config = Config {
        max_members: size.max(Config::default().max_members),
        ..Config::default()
    };
    Sim::with_config(seed, net, config)
}

/// A fresh cloud of `size` on `net` for `minutes` (with 1-3 s stalls of a
/// random peer each second, if `stalls`): members that a peer dropped
/// although they were alive, per peer-hour.
fn soak(size: usize, seed: u64, net: NetConfig, stalls: bool, minutes: u64) -> Result<f64, String> {
    let mut sim = sim_for(size, seed, net);
    join_at_once(&mut sim, size)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x57a1);
    let start = sim.now();
    for _ in 0..minutes * 60 {
        if stalls {
            let victim = rng.random_range(0..size);
            sim.stall(victim, Duration::from_millis(rng.random_range(1000..=3000)));
        }
        sim.run_for(Duration::from_secs(1));
    }
    let false_evictions: usize = (0..size).map(|n| sim.failed_seen_by(n, start).len()).sum();
    let peer_hours = size as f64 * minutes as f64 / 60.0;
    Ok(false_evictions as f64 / peer_hours)
}

/// Runs until `done`, at most [`LIMIT`]: the simulated seconds it took.
fn timed(sim: &mut Sim, done: impl FnMut(&Sim) -> bool) -> Result<f64, String> {
    sim.run_until(LIMIT, STEP, done)
        .map(|d| d.as_secs_f64())
        .ok_or_else(|| format!("not within {}s", LIMIT.as_secs()))
}

/// This process's peak resident memory.
fn peak_memory_mib() -> Result<f64, String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or("no VmHWM in /proc/self/status")?;
    let kib: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .ok_or("unreadable VmHWM")?;
    Ok(kib / 1024.0)
}
