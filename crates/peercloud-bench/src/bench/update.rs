//! Data updates: one peercloud peer of a settled, watched cloud is given
//! new data (the `rust-peer` role's `set_data`, which calls
//! `cloud.set_data`), and the time from that command until the others'
//! `members` lines show it:
//!
//! - **cloud of 10** (peercloud only): until every other peer shows the
//!   new data (peercloud peers push it to each other at once);
//! - **mixed cloud** (5 original and 5 peercloud peers, started one after
//!   the other through an original seed, kinds alternating): until every
//!   original peer lists the updated peer exactly once, with the new data.
//!   The original has no update message: the peer takes itself out of the
//!   originals' lists and joins one of them again, which tells the others.
//!
//! The original alone cannot change a peer's data at all, so its cells
//! stay empty. The times are when the `members` lines arrived; a list
//! counts from the first line of the run of lines that show the data and
//! still do at the end (a member listed twice spoils it).

use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::{sleep, Instant};

use super::faults::detail;
use super::lists::{View, Watched};
use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::{Env, Kind, COMMAND_WITHIN};
use crate::table::Figures;
use crate::Result;

/// The peercloud cloud one peer of which gets new data.
const CLOUD: usize = 10;

/// The kinds of the mixed cloud, in the order they start (the seed first).
const MIXED: [Kind; 10] = [
    Kind::Original,
    Kind::Peercloud,
    Kind::Original,
    Kind::Peercloud,
    Kind::Original,
    Kind::Peercloud,
    Kind::Original,
    Kind::Peercloud,
    Kind::Original,
    Kind::Peercloud,
];

/// How long a cloud, started one after the other, may take to list
/// everyone.
const MESH_WITHIN: Duration = Duration::from_secs(15);

/// How long a cloud runs before the update: longer than the quiet time a
/// peercloud peer keeps after its own join before it rejoins original
/// peers (1 s after a join through an original, a call timeout, 2 s,
/// through a peercloud peer), so the figure is the update's alone.
const SETTLE: Duration = Duration::from_secs(5);

/// Runs both scenarios at once (idle peers hardly compete) and records
/// their figures.
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures) {
    for _ in 0..budget.faults_runs {
        let within = budget.update_within;
        let (cloud, mixed) = tokio::join!(in_cloud(env, within), in_mixed(env, within));
        record(figures, Figure::UpdateCloud, "new data, cloud of 10", cloud);
        record(figures, Figure::UpdateMixed, "new data, 5 + 5", mixed);
    }
}

/// What one update did.
struct Update {
    /// Milliseconds until the watched peers all showed it.
    ms: f64,
    /// What else is worth saying.
    note: String,
}

/// A cloud of 10 peercloud peers: how long until the 9 others show the
/// last one's new data.
async fn in_cloud(env: &Env, within: Duration) -> Result<Update> {
    let mut watched = Watched::new(env.cloud(Kind::Peercloud, CLOUD, true).await?);
    let others: Vec<usize> = (0..CLOUD - 1).collect();
    let (id, data, set) = settle_and_update(&mut watched, CLOUD - 1).await?;
    let secs = shown_by(&mut watched, &others, &id, &data, set, within).await?;
    Ok(Update {
        ms: secs * 1e3,
        note: String::new(),
    })
}

/// A cloud of 5 original and 5 peercloud peers: how long until the 5
/// originals list the last peercloud peer once with its new data.
async fn in_mixed(env: &Env, within: Duration) -> Result<Update> {
    let seed = env.start_peer(MIXED[0], "seed", None, true).await?;
    let seed_port = seed.port;
    let mut peers = vec![seed];
    for (i, kind) in MIXED.iter().enumerate().skip(1) {
        let name = format!("peer {i}");
        peers.push(env.start_peer(*kind, &name, Some(seed_port), true).await?);
    }
    let mut watched = Watched::new(peers);
    let updated = MIXED.len() - 1;
    let of_kind = |kind: Kind| -> Vec<usize> {
        (0..MIXED.len())
            .filter(|i| MIXED[*i] == kind && *i != updated)
            .collect()
    };
    let (originals, peerclouds) = (of_kind(Kind::Original), of_kind(Kind::Peercloud));
    let (id, data, set) = settle_and_update(&mut watched, updated).await?;
    let secs = shown_by(&mut watched, &originals, &id, &data, set, within).await?;
    // The peercloud peers showed it by now, or say why not.
    let rust = shown_by(&mut watched, &peerclouds, &id, &data, set, COMMAND_WITHIN).await;
    let rust = match rust {
        Ok(secs) => format!("the other peercloud peers after {secs:.2} s"),
        Err(e) => e.to_string(),
    };
    let doubled = originals
        .iter()
        .filter(|i| watched.views[**i].doubled_after(&id, set))
        .count();
    Ok(Update {
        ms: secs * 1e3,
        note: format!("; {rust}; {doubled} originals listed it twice meanwhile"),
    })
}

/// Waits for the full mesh, lets the cloud settle, then gives peer
/// `updated` new data. Returns its id, the data, and when it was sent.
async fn settle_and_update(
    watched: &mut Watched,
    updated: usize,
) -> Result<(String, Value, Instant)> {
    watched.wait_mesh(MESH_WITHIN).await?;
    sleep(SETTLE).await;
    watched.look();
    let id = watched.views[updated].id.clone().unwrap_or_default();
    let data = json!({"update": 1});
    let command = json!({"cmd": "set_data", "data": data});
    let set = Instant::now();
    watched.procs[updated]
        .command(&command, "set_data", COMMAND_WITHIN)
        .await?;
    Ok((id, data, set))
}

/// Seconds from `set` until every peer of `watchers` shows `id` once with
/// `data` (up to `within`), or why that never happened.
async fn shown_by(
    watched: &mut Watched,
    watchers: &[usize],
    id: &str,
    data: &Value,
    set: Instant,
    within: Duration,
) -> Result<f64> {
    let shown = |views: &[View]| {
        let since: Option<Vec<Instant>> = watchers
            .iter()
            .map(|i| views[*i].shows_once_since(id, data))
            .collect();
        since.map(|since| since.into_iter().fold(set, Instant::max))
    };
    match watched.until(set + within, shown).await {
        Some(at) => Ok(at.saturating_duration_since(set).as_secs_f64()),
        None => {
            let showing = watchers
                .iter()
                .filter(|i| watched.views[**i].shows_once_since(id, data).is_some())
                .count();
            Err(format!(
                "never within {within:?}: {showing} of {} showed it once",
                watchers.len()
            )
            .into())
        }
    }
}

fn record(figures: &mut Figures, figure: Figure, scenario: &str, result: Result<Update>) {
    match result {
        Ok(update) => {
            let what = format!("shown after {:.1} ms{}", update.ms, update.note);
            detail(Kind::Peercloud, scenario, &what);
            figures.record(figure, Sys::Peercloud, update.ms);
        }
        Err(e) => {
            detail(Kind::Peercloud, scenario, &e.to_string());
            figures.fail(figure, Sys::Peercloud, e);
        }
    }
}
