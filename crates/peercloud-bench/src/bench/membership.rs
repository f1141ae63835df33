//! Membership: 20 peers started at the same moment, each joining through
//! one seed (time until every peer lists the 19 others, after the last
//! start), and `kill -9` of one peer of 10 (time until every survivor has
//! dropped it). Each side runs with its own defaults: peercloud probes one
//! member a second and evicts after two failed probes; the original probes
//! one random member every 5 s and evicts after one. Peers print their
//! member list on every change; the times are when those lines arrived.

use std::collections::BTreeSet;
use std::time::Duration;

use tokio::time::{sleep, Instant};

use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::{Env, Kind, READY_WITHIN};
use crate::procs::{Line, Proc};
use crate::table::Figures;
use crate::Result;

/// Peers that join at once.
const JOINERS: usize = 20;

/// The cloud one peer of which is killed.
const KILL_CLOUD: usize = 10;

/// How long the cloud of 10, started one after the other, may take to list
/// everyone before the kill.
const MESH_WITHIN: Duration = Duration::from_secs(15);

/// How long the cloud of 10 runs before the kill: one probe round of
/// peercloud (10 probes at its 1 s default), after which every peer probes
/// in its own shuffled order. (In the first round, all peers probe in join
/// order, so a peer killed then is found only at the end of the round; see
/// BENCHMARKS.md.) The original probes at random, so this does not matter
/// to it.
const KILL_SETTLE: Duration = Duration::from_secs(10);

/// How often the member lists are looked at (the times come from the lines).
const POLL: Duration = Duration::from_millis(10);

/// Runs both scenarios for both kinds and records their figures.
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures) {
    for _ in 0..budget.membership_runs {
        for kind in Kind::BOTH {
            let sys = Sys::from(kind);
            match converge(env, kind, budget.converge_within).await {
                Ok(Ok(secs)) => {
                    figures.record(Figure::JoinConverged, sys, 1.0);
                    figures.record(Figure::JoinTime, sys, secs);
                }
                Ok(Err(why)) => {
                    figures.record(Figure::JoinConverged, sys, 0.0);
                    figures.fail(Figure::JoinTime, sys, why);
                }
                Err(e) => figures.fail(Figure::JoinConverged, sys, e),
            }
        }
    }
    for _ in 0..budget.membership_runs {
        // Both clouds at once: idle peers hardly compete, and it halves the
        // wait.
        let (original, peercloud) = tokio::join!(
            evict(env, Kind::Original, budget.evict_within),
            evict(env, Kind::Peercloud, budget.evict_within)
        );
        for (sys, result) in [(Sys::Original, original), (Sys::Peercloud, peercloud)] {
            match result {
                Ok(secs) => {
                    figures.record(Figure::EvictMedian, sys, secs);
                    figures.record(Figure::EvictWorst, sys, secs);
                }
                Err(e) => {
                    let why = e.to_string();
                    figures.fail(Figure::EvictMedian, sys, &why);
                    figures.fail(Figure::EvictWorst, sys, why);
                }
            }
        }
    }
}

/// One peer's member list, as its last `members` line said.
#[derive(Debug, Default)]
struct View {
    /// Its own id, once it said it was ready.
    id: Option<String>,
    /// When it said it was ready (if that was watched here).
    ready: Option<Instant>,
    members: BTreeSet<String>,
    /// When its list last changed.
    changed: Option<Instant>,
    /// When its list first lacked the killed peer (and has since).
    dropped: Option<Instant>,
}

impl View {
    fn absorb(&mut self, lines: Vec<Line>, victim: Option<&str>) {
        for line in lines {
            match line.event() {
                "ready" => {
                    self.id = line.value["id"].as_str().map(str::to_owned);
                    self.ready = Some(line.at);
                }
                "members" => {
                    let ids = line.value["ids"].as_array().cloned().unwrap_or_default();
                    self.members = ids
                        .iter()
                        .filter_map(|id| id.as_str().map(str::to_owned))
                        .collect();
                    self.changed = Some(line.at);
                    match victim {
                        Some(v) if self.members.contains(v) => self.dropped = None,
                        Some(_) if self.dropped.is_none() => self.dropped = Some(line.at),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }

    /// Whether it lists exactly every other id.
    fn complete(&self, ids: &BTreeSet<String>) -> bool {
        let Some(own) = &self.id else { return false };
        self.members.len() == ids.len() - 1
            && ids.iter().all(|id| id == own || self.members.contains(id))
    }
}

/// Starts a seed, then 19 peers at once; seconds from the last start until
/// every list is full, or why it never was.
async fn converge(
    env: &Env,
    kind: Kind,
    within: Duration,
) -> Result<std::result::Result<f64, String>> {
    let seed = env.start_peer(kind, "seed", None, true).await?;
    let mut views: Vec<View> = (0..JOINERS).map(|_| View::default()).collect();
    views[0].id = Some(seed.id);
    views[0].ready = Some(Instant::now());
    let mut procs = vec![seed.proc];
    for i in 1..JOINERS {
        procs.push(env.spawn_peer(kind, &format!("joiner {i}"), Some(seed.port), true)?);
    }
    let last_start = Instant::now();
    loop {
        for (proc, view) in procs.iter_mut().zip(views.iter_mut()) {
            view.absorb(proc.drain(), None);
        }
        let ids: BTreeSet<String> = views.iter().filter_map(|v| v.id.clone()).collect();
        let complete = views
            .iter()
            .filter(|v| ids.len() == JOINERS && v.complete(&ids))
            .count();
        if complete == JOINERS {
            let last = views
                .iter()
                .filter_map(|v| v.changed)
                .max()
                .unwrap_or(last_start);
            return Ok(Ok(last.saturating_duration_since(last_start).as_secs_f64()));
        }
        // `within` counts from the moment the last peer is ready (node.js
        // peers take seconds to start when 19 start at once on two cores).
        let deadline = match views.iter().map(|v| v.ready).collect::<Option<Vec<_>>>() {
            Some(ready) => ready.into_iter().max().unwrap_or(last_start) + within,
            None => last_start + READY_WITHIN,
        };
        if Instant::now() >= deadline {
            return Ok(Err(format!(
                "{complete} of {JOINERS} peers had the full list {within:?} after the last was ready ({} ready)",
                ids.len()
            )));
        }
        sleep(POLL).await;
    }
}

/// Starts a cloud of 10, kills one with SIGKILL; seconds until every
/// survivor has dropped it.
async fn evict(env: &Env, kind: Kind, within: Duration) -> Result<f64> {
    let peers = env.cloud(kind, KILL_CLOUD, true).await?;
    let mut views: Vec<View> = peers
        .iter()
        .map(|p| View {
            id: Some(p.id.clone()),
            ..View::default()
        })
        .collect();
    let mut procs: Vec<Proc> = peers.into_iter().map(|p| p.proc).collect();
    wait_watched_mesh(&mut procs, &mut views).await?;
    sleep(KILL_SETTLE).await;
    for (proc, view) in procs.iter_mut().zip(views.iter_mut()) {
        view.absorb(proc.drain(), None);
    }
    let (Some(mut victim), Some(victim_view)) = (procs.pop(), views.pop()) else {
        return Err("no peer to kill".into());
    };
    let victim_id = victim_view.id.unwrap_or_default();
    victim.kill()?;
    let killed = Instant::now();
    let deadline = killed + within;
    loop {
        for (proc, view) in procs.iter_mut().zip(views.iter_mut()) {
            view.absorb(proc.drain(), Some(&victim_id));
        }
        let dropped: Vec<Instant> = views.iter().filter_map(|v| v.dropped).collect();
        if dropped.len() == views.len() {
            let last = dropped.into_iter().max().unwrap_or(killed);
            return Ok(last.saturating_duration_since(killed).as_secs_f64());
        }
        if Instant::now() >= deadline {
            let n = dropped.len();
            return Err(format!(
                "{n} of {} survivors dropped it within {within:?}",
                views.len()
            )
            .into());
        }
        sleep(POLL).await;
    }
}

/// Waits until every watched list is full.
async fn wait_watched_mesh(procs: &mut [Proc], views: &mut [View]) -> Result<()> {
    let ids: BTreeSet<String> = views.iter().filter_map(|v| v.id.clone()).collect();
    let deadline = Instant::now() + MESH_WITHIN;
    loop {
        for (proc, view) in procs.iter_mut().zip(views.iter_mut()) {
            view.absorb(proc.drain(), None);
        }
        let complete = views.iter().filter(|v| v.complete(&ids)).count();
        if complete == views.len() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "only {complete} of {} peers listed everyone before the kill",
                views.len()
            )
            .into());
        }
        sleep(POLL).await;
    }
}
