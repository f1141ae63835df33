//! Membership under link faults, for both kinds of peer side by side, each
//! kind in a network-namespace testbed of its own (`peercloud-testbed`):
//! five hosts, h1, h2 and h3 on bridge `br0`, h4 and h5 on `br1`, one
//! watched peer on each, listening on its host's `10.77.0.N`, all joining
//! through h1, one after the other (as the clouds of `fleet.rs`):
//!
//! - **partition**: once every list is full, the link between the bridges
//!   is cut for [`CUT`]; at its end, whether each side had dropped the
//!   other (no list held a peer of the other side); then the link comes
//!   back, and the time until all five list the four others ("never" past
//!   [`Budget::heal_within`]);
//! - **broken pair link**: once every list is full, h1 and h4 cannot reach
//!   each other for [`BROKEN`] (an unreachable route in each) while every
//!   other path works: how many peers dropped someone meanwhile (0 is
//!   best).
//!
//! Needs root: where namespaces are unavailable, every row of these
//! scenarios says why, and the rest of the run goes on. The `ip` commands
//! (building, cutting, deleting) run off the orchestrator's thread, so that
//! the other kind's lines keep their times; the times are read when those
//! commands have returned. Touches only the testbeds it builds and the
//! processes it starts in them.

use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::Duration;

use peercloud_testbed::{Bridge, Testbed, THREE_TWO};
use tokio::task::spawn_blocking;
use tokio::time::{sleep, Instant};

use super::faults::detail;
use super::lists::{by_name, View, Watched};
use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::{ready, Env, Kind};
use crate::table::Figures;
use crate::Result;

/// The hosts: three on `br0`, two on `br1`.
const LAYOUT: [(&str, Bridge); 5] = THREE_TWO;

/// The hosts' names, index by index.
const NAMES: [&str; 5] = ["h1", "h2", "h3", "h4", "h5"];

/// How long the five peers, started one after the other, may take to list
/// everyone.
const MESH_WITHIN: Duration = Duration::from_secs(15);

/// How long the link between the bridges stays cut: long enough for both
/// kinds to drop the other side (the original probes one member every 5 s).
const CUT: Duration = Duration::from_secs(30);

/// How long the link between h1 and h4 stays broken.
const BROKEN: Duration = Duration::from_secs(30);

/// The pair whose link breaks: h1 and h4, indexes into [`LAYOUT`].
const PAIR: (usize, usize) = (0, 3);

/// How long a killed peer may take to exit before its testbed is deleted.
const END_WITHIN: Duration = Duration::from_secs(5);

/// The figures these scenarios record.
const ROWS: [Figure; 3] = [
    Figure::PartitionSplit,
    Figure::PartitionHeal,
    Figure::PairDropped,
];

/// Runs both scenarios for both kinds at once (each kind in its own
/// testbed) and records their figures, or why they could not run.
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures) {
    let unavailable = spawn_blocking(peercloud_testbed::unavailable).await;
    let why = match unavailable {
        Ok(None) => None,
        Ok(Some(why)) => Some(format!("network namespaces unavailable: {why}")),
        Err(e) => Some(format!("cannot check for network namespaces: {e}")),
    };
    if let Some(why) = why {
        for kind in Kind::BOTH {
            detail(kind, "partition and broken pair link", &why);
            for figure in ROWS {
                figures.fail(figure, Sys::from(kind), &why);
            }
        }
        return;
    }
    for _ in 0..budget.faults_runs {
        let within = budget.heal_within;
        let (original, peercloud) = tokio::join!(
            partition(env, Kind::Original, within),
            partition(env, Kind::Peercloud, within)
        );
        record_partition(figures, Kind::Original, original);
        record_partition(figures, Kind::Peercloud, peercloud);
    }
    for _ in 0..budget.faults_runs {
        let (original, peercloud) = tokio::join!(
            broken_pair(env, Kind::Original),
            broken_pair(env, Kind::Peercloud)
        );
        record_pair(figures, Kind::Original, original);
        record_pair(figures, Kind::Peercloud, peercloud);
    }
}

/// What a partition did.
struct Partition {
    /// Seconds from the cut until each side had dropped the other, if that
    /// happened before the link came back.
    split: Option<f64>,
    /// Every list at the end of the cut, by name.
    lists_at_end_of_cut: String,
    /// Seconds from the link's return until all five listed the four
    /// others, or why that never happened.
    healed: std::result::Result<f64, String>,
}

/// Who dropped whom while the pair link was broken, by index; only the
/// peers that dropped someone.
type Dropped = Vec<(usize, Vec<usize>)>;

/// Cuts the link between the bridges of a testbed of five peers for
/// [`CUT`], then waits, up to `within`, until they all list each other.
async fn partition(env: &Env, kind: Kind, within: Duration) -> Result<Partition> {
    let mut five = Five::start(env, kind).await?;
    let result = five.partition(within).await;
    five.close().await;
    result
}

/// Breaks the link between h1 and h4 of a testbed of five peers for
/// [`BROKEN`]: who dropped whom meanwhile.
async fn broken_pair(env: &Env, kind: Kind) -> Result<Dropped> {
    let mut five = Five::start(env, kind).await?;
    let result = five.broken_pair().await;
    five.close().await;
    result
}

/// A testbed with one watched peer on each of its five hosts.
struct Five {
    bed: Arc<Testbed>,
    watched: Watched,
}

impl Five {
    /// Builds the testbed and starts the peers, h1 alone and the others
    /// through it, one after the other; returns once every list is full.
    async fn start(env: &Env, kind: Kind) -> Result<Five> {
        let bed = spawn_blocking(|| Testbed::new(&LAYOUT)).await??;
        let mut five = Five {
            bed: Arc::new(bed),
            watched: Watched::new(Vec::new()),
        };
        match five.fill(env, kind).await {
            Ok(()) => Ok(five),
            Err(e) => {
                five.close().await;
                Err(e)
            }
        }
    }

    async fn fill(&mut self, env: &Env, kind: Kind) -> Result<()> {
        let mut seed = None;
        for host in self.bed.hosts() {
            let peer = ready(env.spawn_peer_in(kind, host, seed, true)?).await?;
            seed.get_or_insert(SocketAddrV4::new(host.ip(), peer.port));
            self.watched.push(peer);
        }
        self.watched.wait_mesh(MESH_WITHIN).await
    }

    /// Changes the testbed's links, off the orchestrator's thread.
    async fn fault<F>(&self, change: F) -> Result<()>
    where
        F: FnOnce(&Testbed) -> std::result::Result<(), peercloud_testbed::Error> + Send + 'static,
    {
        let bed = self.bed.clone();
        Ok(spawn_blocking(move || change(&bed)).await??)
    }

    async fn partition(&mut self, within: Duration) -> Result<Partition> {
        self.fault(Testbed::cut_bridge_link).await?;
        let cut = Instant::now();
        sleep(CUT).await;
        self.watched.look();
        let split = split_at(&self.watched.views, &self.sides())
            .map(|at| at.saturating_duration_since(cut).as_secs_f64());
        let lists_at_end_of_cut = by_name(&self.watched.views, &NAMES);
        self.fault(Testbed::restore_bridge_link).await?;
        let restored = Instant::now();
        let ids = self.watched.ids();
        let healed = |views: &[View]| {
            let whole = views.iter().all(|v| v.complete(&ids));
            whole.then(|| {
                views
                    .iter()
                    .filter_map(View::changed)
                    .fold(restored, Instant::max)
            })
        };
        let healed = match self.watched.until(restored + within, healed).await {
            Some(at) => Ok(at.saturating_duration_since(restored).as_secs_f64()),
            None => Err(format!(
                "never within {within:?}; lists at the end: {}",
                by_name(&self.watched.views, &NAMES)
            )),
        };
        Ok(Partition {
            split,
            lists_at_end_of_cut,
            healed,
        })
    }

    /// Each host's bridge, index by index.
    fn sides(&self) -> Vec<Bridge> {
        self.bed.hosts().iter().map(|h| h.bridge()).collect()
    }

    async fn broken_pair(&mut self) -> Result<Dropped> {
        let hosts = self.bed.hosts();
        let (a, b) = (hosts[PAIR.0].clone(), hosts[PAIR.1].clone());
        let from = Instant::now();
        let (a2, b2) = (a.clone(), b.clone());
        self.fault(move |bed| bed.break_pair(&a2, &b2)).await?;
        sleep(BROKEN).await;
        self.watched.look();
        let dropped = dropped_after(&self.watched.views, from);
        self.fault(move |bed| bed.repair_pair(&a, &b)).await?;
        Ok(dropped)
    }

    /// Kills the peers, waits until they have exited, and deletes the
    /// testbed, off the orchestrator's thread.
    async fn close(self) {
        for proc in self.watched.procs {
            proc.end(END_WITHIN).await;
        }
        let bed = self.bed;
        let _ = spawn_blocking(move || drop(bed)).await;
    }
}

/// When each side had dropped the other (the latest moment a list began to
/// lack its last peer of the other side), if every list lacks the other
/// side now; `sides` gives each view's bridge.
fn split_at(views: &[View], sides: &[Bridge]) -> Option<Instant> {
    let mut latest: Option<Instant> = None;
    for (view, side) in views.iter().zip(sides) {
        let others = views
            .iter()
            .zip(sides)
            .filter(|(_, s)| *s != side)
            .filter_map(|(v, _)| v.id.as_deref());
        for other in others {
            let since = view.lacked_since(other)?;
            latest = Some(latest.map_or(since, |l| l.max(since)));
        }
    }
    latest
}

/// Who lacked whom at any moment from `from` on, by index; only the views
/// that lacked someone.
fn dropped_after(views: &[View], from: Instant) -> Dropped {
    let dropped_by = |view: &View| -> Vec<usize> {
        let own = view.id.as_deref();
        let lacked = |other: &View| match other.id.as_deref() {
            Some(id) if Some(id) != own => view.lacked_after(id, from),
            _ => false,
        };
        (0..views.len()).filter(|&j| lacked(&views[j])).collect()
    };
    views
        .iter()
        .enumerate()
        .map(|(i, view)| (i, dropped_by(view)))
        .filter(|(_, whom)| !whom.is_empty())
        .collect()
}

fn record_partition(figures: &mut Figures, kind: Kind, result: Result<Partition>) {
    let sys = Sys::from(kind);
    let partition = match result {
        Ok(partition) => partition,
        Err(e) => {
            let why = e.to_string();
            detail(kind, "partition 3 + 2", &why);
            figures.fail(Figure::PartitionSplit, sys, &why);
            figures.fail(Figure::PartitionHeal, sys, why);
            return;
        }
    };
    let split = match partition.split {
        Some(secs) => format!("each side dropped the other {secs:.2} s into the cut"),
        None => format!(
            "the sides had not dropped each other by the end of the {CUT:?} cut: {}",
            partition.lists_at_end_of_cut
        ),
    };
    let healed = match &partition.healed {
        Ok(secs) => format!("all 5 list the 4 others {secs:.2} s after the link came back"),
        Err(why) => why.clone(),
    };
    detail(kind, "partition 3 + 2", &format!("{split}; {healed}"));
    figures.record(
        Figure::PartitionSplit,
        sys,
        if partition.split.is_some() { 1.0 } else { 0.0 },
    );
    match (partition.split, partition.healed) {
        (Some(_), Ok(secs)) => figures.record(Figure::PartitionHeal, sys, secs),
        (Some(_), Err(why)) => figures.fail(Figure::PartitionHeal, sys, why),
        (None, _) => figures.fail(
            Figure::PartitionHeal,
            sys,
            format!("nothing to heal: {split}; then {healed}"),
        ),
    }
}

fn record_pair(figures: &mut Figures, kind: Kind, result: Result<Dropped>) {
    let sys = Sys::from(kind);
    match result {
        Ok(dropped) => {
            let who: Vec<String> = dropped
                .iter()
                .map(|(i, whom)| {
                    let whom: Vec<&str> = whom.iter().map(|&j| NAMES[j]).collect();
                    format!("{} dropped {}", NAMES[*i], whom.join(" "))
                })
                .collect();
            let what = if who.is_empty() {
                format!("nobody dropped anyone in {BROKEN:?}")
            } else {
                format!("in {BROKEN:?}: {}", who.join("; "))
            };
            detail(kind, "link h1–h4 broken", &what);
            figures.record(Figure::PairDropped, sys, dropped.len() as f64);
        }
        Err(e) => {
            detail(kind, "link h1–h4 broken", &e.to_string());
            figures.fail(Figure::PairDropped, sys, e);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::procs::Line;

    fn view(id: &str, lists: &[(Instant, &[&str])]) -> View {
        let mut view = View::of(id);
        view.absorb(
            lists
                .iter()
                .map(|(at, ids)| Line {
                    at: *at,
                    value: json!({"event": "members", "ids": ids}),
                })
                .collect(),
        );
        view
    }

    #[test]
    fn the_sides_split_when_the_last_list_lost_the_last_peer_of_the_other_side() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let sides = [Bridge::Zero, Bridge::Zero, Bridge::One];
        let mut views = vec![
            view("a", &[(t(0), &["b", "c"]), (t(4), &["b"])]),
            view("b", &[(t(0), &["a", "c"]), (t(6), &["a"])]),
            view("c", &[(t(0), &["a", "b"]), (t(3), &["b"]), (t(5), &[])]),
        ];
        assert_eq!(split_at(&views, &sides), Some(t(6)));
        views[1] = view("b", &[(t(0), &["a", "c"])]);
        assert_eq!(split_at(&views, &sides), None);
    }

    #[test]
    fn a_peer_dropped_someone_if_its_list_lacked_them_after_the_break() {
        let t0 = Instant::now();
        let t = |s: u64| t0 + Duration::from_secs(s);
        let views = vec![
            view(
                "a",
                &[(t(0), &["b", "c"]), (t(3), &["b"]), (t(4), &["b", "c"])],
            ),
            view("b", &[(t(0), &["a", "c"])]),
            view("c", &[(t(0), &["a", "b"])]),
        ];
        assert_eq!(dropped_after(&views, t(1)), vec![(0, vec![2])]);
        assert_eq!(dropped_after(&views, t(5)), Vec::new());
    }
}
