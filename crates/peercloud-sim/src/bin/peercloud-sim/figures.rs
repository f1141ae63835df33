//! The figures of one cloud size under one set of rules, measured on one
//! simulation in turn: the joins, the quiet load, crashes, a partition,
//! and soaks under loss and stalls that count false evictions. Reads only
//! the simulation (and this process's peak memory, from /proc).

use std::time::{Duration, Instant};

use peercloud_sim::{Latency, NetConfig, PeerIndex, Protocol, Sim};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Plan, Scenario};

/// How often conditions are looked at (simulated).
const STEP: Duration = Duration::from_millis(100);

/// How long each wait may take (simulated) before it counts as never.
const LIMIT: Duration = Duration::from_secs(300);

/// How long a soak's cloud may take to converge before the count starts.
const SETTLE: Duration = Duration::from_secs(60);

/// How many events each peer keeps: the figures only count.
const KEEP: usize = 4;

/// One figure: a value or why there is none, and a target if it has one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub(crate) figure: String,
    pub(crate) value: Result<f64, String>,
    pub(crate) unit: String,
    /// The target at this size, if any: at most this.
    pub(crate) target: Option<f64>,
}

impl Row {
    fn new(figure: &str, unit: &str, value: Result<f64, String>) -> Self {
        Row {
            figure: figure.to_owned(),
            value,
            unit: unit.to_owned(),
            target: None,
        }
    }

    fn at_most(mut self, target: f64) -> Self {
        self.target = Some(target);
        self
    }
}

/// How a simulation of the chosen rules is made.
pub(crate) type NewSim<P> = fn(u64, NetConfig) -> Sim<P>;

/// Tells on stderr how far a long run got.
struct Progress {
    name: String,
    /// The wall clock, read only to report how long the simulator took.
    started: Instant,
}

impl Progress {
    fn new(name: String) -> Self {
        #[allow(clippy::disallowed_methods)]
        let started = Instant::now();
        Progress { name, started }
    }

    fn done(&self, what: &str) {
        let wall = self.started.elapsed().as_secs_f64();
        eprintln!("[{}] {what} ({wall:.0} s wall)", self.name);
    }
}

/// Everything measured for a cloud of `size` whose peers follow `P`.
pub(crate) fn measure<P: Protocol>(
    size: usize,
    plan: &Plan,
    name: &str,
    new: NewSim<P>,
) -> Vec<Row> {
    let progress = Progress::new(format!("{name} {size}"));
    let mut rows = Vec::new();
    // Every simulation of the run, the soaks' too, hands messages over
    // as the plan says.
    let new_sim = |net: NetConfig| {
        let mut sim = new(plan.seed, net);
        if plan.typed {
            sim.set_delivery(peercloud_sim::Delivery::Typed);
        }
        sim
    };
    let mut sim = new_sim(NetConfig::lan());
    sim.keep_events(KEEP);
    let joined = join_at_once(&mut sim, size);
    progress.done(&format!("joins: {joined:?}"));
    rows.push(Row::new("convergence after concurrent joins", "s", joined).at_most(5.0));
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
    progress.done("quiet load and crashes");
    if !plan.skip.contains(&Scenario::Partition) {
        rows.push(Row::new(
            "partition in halves healed",
            "s",
            partition(&mut sim),
        ));
        progress.done("partition");
    }
    drop(sim);
    let minutes = plan.soak_minutes;
    let soaks = if plan.skip.contains(&Scenario::Soaks) {
        Vec::new()
    } else {
        vec![
            ("1% loss", lossy(0.01), false),
            ("5% loss", lossy(0.05), false),
            ("5% loss and 1-3 s stalls", lossy(0.05), true),
        ]
    };
    for (loss, net, stalls) in soaks {
        let soaked = soak(size, plan.seed, new_sim(net), stalls, minutes);
        let figure = format!("false evictions per peer-hour, {loss}");
        progress.done(&figure);
        rows.push(Row::new(&figure, "", Ok(soaked.false_evictions)).at_most(0.0));
        let half_gone = soaked
            .half_gone
            .map(|d| d.as_secs_f64())
            .ok_or_else(|| "never".to_owned());
        let figure = format!("half of all list entries gone after, {loss}");
        rows.push(Row::new(&figure, "s", half_gone));
        if stalls {
            let figure = format!("lists at the end, share of a full mesh, {loss}");
            rows.push(Row::new(&figure, "%", Ok(soaked.listed * 100.0)));
        }
    }
    let wall = progress.started.elapsed().as_secs_f64();
    rows.push(Row::new("simulator wall time", "s", Ok(wall)));
    rows.push(Row::new("simulator CPU time", "s", cpu_seconds()));
    rows.push(Row::new("simulator peak memory", "MiB", peak_memory_mib()));
    rows
}

/// Three seeds form a cloud, then everyone else joins at once through one
/// of them each: the time until every list is whole.
fn join_at_once<P: Protocol>(sim: &mut Sim<P>, size: usize) -> Result<f64, String> {
    sim.join_through_seeds(size, 3);
    timed(sim, |s| s.converged().is_ok()).map_err(|e| format!("{e}: {}", missing(sim)))
}

/// How far the lists are from a full mesh of the live peers.
fn missing<P: Protocol>(sim: &Sim<P>) -> String {
    let gaps = sim.list_gaps(&sim.live());
    let share = |n: usize| 100.0 * n as f64 / gaps.expected.max(1) as f64;
    format!(
        "{:.1}% of entries missing, {:.1}% extra",
        share(gaps.missing),
        share(gaps.extra)
    )
}

/// A minute of quiet: requests and bytes per peer per second.
fn quiet_load<P: Protocol>(sim: &mut Sim<P>) -> (f64, f64) {
    sim.run_for(Duration::from_secs(30));
    sim.reset_stats();
    let span = Duration::from_secs(60);
    sim.run_for(span);
    let stats = sim.stats();
    let per = sim.live().len() as f64 * span.as_secs_f64();
    (stats.requests as f64 / per, stats.bytes as f64 / per)
}

/// Crashes five peers one after the other: for each, the time until no
/// live peer lists it any more; the median and the worst. A crash not
/// dropped everywhere within [`LIMIT`] counts as the longest.
fn crashes<P: Protocol>(sim: &mut Sim<P>, seed: u64) -> (Result<f64, String>, Result<f64, String>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xc4a5);
    let mut times = Vec::new();
    let mut still_listing = 0;
    for _ in 0..5 {
        let live = sim.live();
        let victim = live[rng.random_range(3..live.len())];
        let gone = sim.id(victim).clone();
        sim.crash(victim);
        let listing = |s: &Sim<P>| s.live().iter().filter(|&&n| s.core(n).lists(&gone)).count();
        match timed(sim, |s| listing(s) == 0) {
            Ok(t) => times.push(t),
            Err(_) => still_listing = still_listing.max(listing(sim)),
        }
        sim.run_for(Duration::from_secs(10));
    }
    times.sort_by(f64::total_cmp);
    let never = 5 - times.len();
    let never_why = format!(
        "{never} of 5 not within {} s: up to {still_listing} peers still list one",
        LIMIT.as_secs()
    );
    let median = times.get(2).copied().ok_or_else(|| never_why.clone());
    let worst = match never {
        0 => Ok(times[4]),
        _ => Err(never_why),
    };
    (median, worst)
}

/// Splits the live peers in halves for a minute, then heals: the time
/// until every list is whole again.
fn partition<P: Protocol>(sim: &mut Sim<P>) -> Result<f64, String> {
    let live = sim.live();
    let half: Vec<PeerIndex> = live[..live.len() / 2].to_vec();
    sim.partition(&[&half]);
    sim.run_for(Duration::from_secs(60));
    sim.heal();
    timed(sim, |s| s.converged().is_ok()).map_err(|e| format!("{e}: {}", missing(sim)))
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

/// What a soak found.
struct Soaked {
    /// Members dropped although alive, per peer-hour.
    false_evictions: f64,
    /// The share of a full mesh listed at the end.
    listed: f64,
    /// When the lists held less than half the entries they held at most,
    /// if they ever did.
    half_gone: Option<Duration>,
}

/// A fresh cloud of `size` on `sim`'s network, run for `minutes` once its
/// joins settled, with 1-3 s stalls of a random peer each second if
/// `stalls`.
///
/// Whether the joins converge is the first figure's business: the soak
/// proper starts once they did, or after [`SETTLE`]. Evictions count from
/// the first join on, and so does the time they are divided by: the
/// original's lists never converge, and lose their members to the loss
/// within minutes (which is why the lists are watched too).
fn soak<P: Protocol>(
    size: usize,
    seed: u64,
    mut sim: Sim<P>,
    stalls: bool,
    minutes: u64,
) -> Soaked {
    sim.keep_events(KEEP);
    let start = sim.now();
    let (mut most, mut half_gone) = (0, None);
    let mut watch = |s: &Sim<P>| {
        let entries: usize = (0..size).map(|n| s.core(n).member_count()).sum();
        most = most.max(entries);
        if half_gone.is_none() && entries * 2 < most {
            half_gone = Some(s.now() - start);
        }
    };
    sim.join_through_seeds(size, 3);
    let _ = sim.run_until(SETTLE, STEP, |s| {
        watch(s);
        s.converged().is_ok()
    });
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x57a1);
    for _ in 0..minutes * 60 {
        if stalls {
            let victim = rng.random_range(0..size);
            sim.stall(victim, Duration::from_millis(rng.random_range(1000..=3000)));
        }
        sim.run_for(Duration::from_secs(1));
        watch(&sim);
    }
    let false_evictions: u64 = (0..size).map(|n| sim.events(n).counts().failed).sum();
    let peer_hours = size as f64 * (sim.now() - start).as_secs_f64() / 3600.0;
    let gaps = sim.list_gaps(&sim.live());
    Soaked {
        false_evictions: false_evictions as f64 / peer_hours,
        listed: 1.0 - gaps.missing as f64 / gaps.expected.max(1) as f64,
        half_gone,
    }
}

/// Runs until `done`, at most [`LIMIT`]: the simulated seconds it took.
fn timed<P: Protocol>(sim: &mut Sim<P>, done: impl FnMut(&Sim<P>) -> bool) -> Result<f64, String> {
    sim.run_until(LIMIT, STEP, done)
        .map(|d| d.as_secs_f64())
        .ok_or_else(|| format!("not within {} s", LIMIT.as_secs()))
}

/// The CPU time this process got, from /proc/self/schedstat (its first
/// field, in nanoseconds): on a shared machine, wall time says how busy
/// the others were too.
fn cpu_seconds() -> Result<f64, String> {
    let schedstat = std::fs::read_to_string("/proc/self/schedstat").map_err(|e| e.to_string())?;
    let ns: f64 = schedstat
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or("unreadable /proc/self/schedstat")?;
    Ok(ns / 1e9)
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
