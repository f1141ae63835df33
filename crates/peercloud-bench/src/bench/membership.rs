//! Membership: 20 peers started at the same moment, each joining through
//! one seed (time until every peer lists the 19 others, after the last
//! start), and `kill -9` of one peer of 10 (time until every survivor has
//! dropped it). Each side runs with its own defaults: peercloud's LAN
//! preset (SWIM: a probe every half second, direct then through helpers; a
//! refused connection confirmed by the helpers evicts at once, silence
//! after a suspicion of 4 to 20 s); the original probes one random member
//! every 5 s and evicts after one failed probe. Peers print their
//! member list on every change; the times are when those lines arrived.
//! The `private` table runs the first scenario for open and private
//! peercloud.

use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::lists::{View, Watched, POLL};
use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::{Env, Kind, READY_WITHIN};
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

/// Runs both scenarios for the original and peercloud and records their
/// figures.
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures) {
    joins(env, budget, figures, &Kind::BOTH).await;
    evictions(env, budget, figures).await;
}

/// Runs the 20 peers joining at once for `kinds`, one after the other, the
/// first kind of one run last in the next, and records their figures.
pub(crate) async fn joins(env: &Env, budget: &Budget, figures: &mut Figures, kinds: &[Kind]) {
    let mut kinds = kinds.to_vec();
    for run in 0..budget.membership_runs {
        kinds.rotate_left(usize::from(run > 0));
        for &kind in &kinds {
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
}

/// Runs the `kill -9` of 1 of 10 for the original and peercloud and
/// records their figures.
async fn evictions(env: &Env, budget: &Budget, figures: &mut Figures) {
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

/// Starts a seed, then 19 peers at once; seconds from the last start until
/// every list is full, or why it never was.
async fn converge(
    env: &Env,
    kind: Kind,
    within: Duration,
) -> Result<std::result::Result<f64, String>> {
    let seed = env.start_peer(kind, "seed", None, true).await?;
    let mut seed_view = View::of(&seed.id);
    seed_view.ready = Some(Instant::now());
    let mut watched = Watched {
        procs: vec![seed.proc],
        views: vec![seed_view],
    };
    for i in 1..JOINERS {
        let joiner = env.spawn_peer(kind, &format!("joiner {i}"), Some(seed.port), true)?;
        watched.procs.push(joiner);
        watched.views.push(View::default());
    }
    let last_start = Instant::now();
    loop {
        watched.look();
        let views = &watched.views;
        let ids = watched.ids();
        let complete = views
            .iter()
            .filter(|v| ids.len() == JOINERS && v.complete(&ids))
            .count();
        if complete == JOINERS {
            let last = views
                .iter()
                .filter_map(View::changed)
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
    let mut watched = Watched::new(env.cloud(kind, KILL_CLOUD, true).await?);
    watched.wait_mesh(MESH_WITHIN).await?;
    sleep(KILL_SETTLE).await;
    watched.look();
    let (Some(mut victim), Some(victim_view)) = (watched.procs.pop(), watched.views.pop()) else {
        return Err("no peer to kill".into());
    };
    let victim_id = victim_view.id.unwrap_or_default();
    victim.kill()?;
    let killed = Instant::now();
    let survivors = watched.views.len();
    // When each survivor dropped it (and has not listed it since).
    let dropped = |views: &[View]| -> Vec<Instant> {
        views
            .iter()
            .filter_map(|v| v.lacked_since(&victim_id))
            .map(|at| at.max(killed))
            .collect()
    };
    let all_dropped = |views: &[View]| {
        let dropped = dropped(views);
        (dropped.len() == survivors).then(|| dropped.into_iter().max().unwrap_or(killed))
    };
    match watched.until(killed + within, all_dropped).await {
        Some(last) => Ok(last.saturating_duration_since(killed).as_secs_f64()),
        None => {
            let n = dropped(&watched.views).len();
            Err(format!("{n} of {survivors} survivors dropped it within {within:?}").into())
        }
    }
}
