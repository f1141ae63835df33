//! Membership under faults, for both kinds of peer side by side:
//!
//! - **paused 3 s**: in a settled cloud of 10, one peer (not the seed) is
//!   stopped with SIGSTOP for 3 s, then let go with SIGCONT, and watched
//!   10 s more: how many survivors dropped it at any time, and whether
//!   every list (the paused peer's too) is whole at the end;
//! - **paused 10 s**: the same with a 10 s pause: how many survivors
//!   dropped it, and the time from SIGCONT until every survivor lists it
//!   again ("never" past [`Budget::return_within`]);
//! - **clouds formed apart**: `a` is told of seed `c` before `c` is up, so
//!   it starts alone; `b` joins `a`; `c` starts alone, `d` joins `c`: the
//!   time from `c`'s start until all four list the three others ("never"
//!   past [`Budget::merge_within`]).
//!
//! Each side runs with its own defaults (see `membership.rs`). A paused
//! peer's sockets stay open: the kernel accepts connections for it, which
//! nobody answers, so its probes time out like a hung peer's, not like a
//! dead one's. The times are when the `members` lines arrived.
//!
//! Every scenario starts a watched cloud ([`settled`]), acts on one peer,
//! then reads the lists ([`Watched::until`]). The data updates
//! (`update.rs`, in the same `faults` run) take the same shape: a command
//! to one peer instead of a signal, and a wait until the others' lines
//! show it.

use std::time::Duration;

use tokio::time::{sleep, Instant};

use super::lists::{by_name, View, Watched};
use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::{free_port, ready, Env, Kind};
use crate::table::Figures;
use crate::Result;

/// The cloud one peer of which is paused.
const CLOUD: usize = 10;

/// How long the cloud, started one after the other, may take to list
/// everyone.
const MESH_WITHIN: Duration = Duration::from_secs(15);

/// How long the cloud runs before the pause: one probe round of peercloud,
/// as before the `kill -9` of `membership.rs` (and for the same reason).
const SETTLE: Duration = Duration::from_secs(10);

/// The short pause.
const SHORT: Duration = Duration::from_secs(3);

/// How long the cloud is watched after the short pause.
const SHORT_WATCH: Duration = Duration::from_secs(10);

/// The long pause.
const LONG: Duration = Duration::from_secs(10);

/// The names of the four peers of the clouds formed apart.
const APART: [&str; 4] = ["a", "b", "c", "d"];

/// Runs the three scenarios for both kinds at once (idle peers hardly
/// compete, and it halves the waits) and records their figures.
pub(crate) async fn run(env: &Env, budget: &Budget, figures: &mut Figures) {
    for _ in 0..budget.faults_runs {
        let (original, peercloud) = tokio::join!(
            short_pause(env, Kind::Original),
            short_pause(env, Kind::Peercloud)
        );
        record_short(figures, Kind::Original, original);
        record_short(figures, Kind::Peercloud, peercloud);
    }
    for _ in 0..budget.faults_runs {
        let within = budget.return_within;
        let (original, peercloud) = tokio::join!(
            long_pause(env, Kind::Original, within),
            long_pause(env, Kind::Peercloud, within)
        );
        record_long(figures, Kind::Original, original);
        record_long(figures, Kind::Peercloud, peercloud);
    }
    for _ in 0..budget.faults_runs {
        let within = budget.merge_within;
        let (original, peercloud) = tokio::join!(
            apart(env, Kind::Original, within),
            apart(env, Kind::Peercloud, within)
        );
        record_apart(figures, Kind::Original, original);
        record_apart(figures, Kind::Peercloud, peercloud);
    }
}

/// What a 3 s pause did.
struct ShortPause {
    /// Survivors that dropped the paused peer at any time.
    dropped: usize,
    /// Peers, the paused one too, whose list was whole at the end.
    whole: usize,
}

/// What a 10 s pause did.
struct LongPause {
    /// Survivors that dropped the paused peer at any time.
    dropped: usize,
    /// Seconds from SIGCONT until every survivor listed it again, or why
    /// that never happened.
    returned: std::result::Result<f64, String>,
}

/// One peer stopped and let go.
struct Paused {
    id: String,
    /// When it was stopped.
    at: Instant,
    /// When it was let go.
    until: Instant,
}

/// A cloud of [`CLOUD`] peers of `kind`, every list full, then idle for
/// [`SETTLE`].
async fn settled(env: &Env, kind: Kind) -> Result<Watched> {
    let mut watched = Watched::new(env.cloud(kind, CLOUD, true).await?);
    watched.wait_mesh(MESH_WITHIN).await?;
    sleep(SETTLE).await;
    watched.look();
    Ok(watched)
}

/// Stops the last peer that joined (never the seed) for `pause`.
async fn pause_last(watched: &mut Watched, pause: Duration) -> Result<Paused> {
    let last = watched.procs.len().saturating_sub(1);
    let (Some(proc), Some(view)) = (watched.procs.get_mut(last), watched.views.get(last)) else {
        return Err("no peer to pause".into());
    };
    if last == 0 {
        return Err("no peer to pause but the seed".into());
    }
    let id = view.id.clone().unwrap_or_default();
    proc.pause().await?;
    let at = Instant::now();
    sleep(pause).await;
    // Read the clock before SIGCONT is sent: a peer that is back within a
    // millisecond is back before the `kill` that woke it returns.
    let until = Instant::now();
    proc.resume().await?;
    Ok(Paused { id, at, until })
}

/// Every view but the paused peer's.
fn survivors<'a>(views: &'a [View], paused: &'a str) -> impl Iterator<Item = &'a View> + 'a {
    views
        .iter()
        .filter(move |v| v.id.as_deref() != Some(paused))
}

/// How many survivors lacked the paused peer at some moment since it was
/// stopped.
fn dropped(views: &[View], paused: &Paused) -> usize {
    survivors(views, &paused.id)
        .filter(|v| v.lacked_after(&paused.id, paused.at))
        .count()
}

/// Pauses one peer of a settled cloud for 3 s and watches 10 s more.
async fn short_pause(env: &Env, kind: Kind) -> Result<ShortPause> {
    let mut watched = settled(env, kind).await?;
    let paused = pause_last(&mut watched, SHORT).await?;
    sleep(SHORT_WATCH).await;
    watched.look();
    let ids = watched.ids();
    Ok(ShortPause {
        dropped: dropped(&watched.views, &paused),
        whole: watched.views.iter().filter(|v| v.complete(&ids)).count(),
    })
}

/// Pauses one peer of a settled cloud for 10 s and waits, up to `within`,
/// until every survivor lists it again.
async fn long_pause(env: &Env, kind: Kind, within: Duration) -> Result<LongPause> {
    let mut watched = settled(env, kind).await?;
    let paused = pause_last(&mut watched, LONG).await?;
    let id = paused.id.clone();
    // The moment the last survivor began to list it again (and has since).
    let returned = |views: &[View]| {
        let since: Option<Vec<Instant>> =
            survivors(views, &id).map(|v| v.listed_since(&id)).collect();
        since.map(|since| since.into_iter().fold(paused.until, Instant::max))
    };
    let returned = match watched.until(paused.until + within, returned).await {
        Some(at) => Ok(at.saturating_duration_since(paused.until).as_secs_f64()),
        None => {
            let listing = survivors(&watched.views, &id)
                .filter(|v| v.listed_since(&id).is_some())
                .count();
            Err(format!(
                "never within {within:?}: {listing} of {} survivors listed it again",
                CLOUD - 1
            ))
        }
    };
    Ok(LongPause {
        dropped: dropped(&watched.views, &paused),
        returned,
    })
}

/// Two clouds of two formed apart, `a`+`b` and `c`+`d`, `a` told of `c`
/// before `c` was up; seconds from `c`'s start until all four list the
/// three others.
async fn apart(env: &Env, kind: Kind, within: Duration) -> Result<f64> {
    let c_port = free_port()?;
    // Nothing listens on c's port yet: a finds no seed and starts alone.
    let a = env.start_peer(kind, "a", Some(c_port), true).await?;
    let b = env.start_peer(kind, "b", Some(a.port), true).await?;
    let started = Instant::now();
    let c = ready(env.spawn_peer_on(kind, "c", c_port, true)?).await?;
    if c.port != c_port {
        return Err(format!("c listens on {} instead of {c_port}", c.port).into());
    }
    let d = env.start_peer(kind, "d", Some(c.port), true).await?;
    let mut watched = Watched::new(vec![a, b, c, d]);
    let ids = watched.ids();
    let merged = |views: &[View]| {
        let whole = views.iter().all(|v| v.complete(&ids));
        whole.then(|| {
            views
                .iter()
                .filter_map(View::changed)
                .fold(started, Instant::max)
        })
    };
    match watched.until(started + within, merged).await {
        Some(at) => Ok(at.saturating_duration_since(started).as_secs_f64()),
        None => Err(format!(
            "never within {within:?}; lists at the end: {}",
            by_name(&watched.views, &APART)
        )
        .into()),
    }
}

fn record_short(figures: &mut Figures, kind: Kind, result: Result<ShortPause>) {
    let sys = Sys::from(kind);
    match result {
        Ok(pause) => {
            figures.record(Figure::PauseShortDropped, sys, pause.dropped as f64);
            let whole = if pause.whole == CLOUD { 1.0 } else { 0.0 };
            figures.record(Figure::PauseShortWhole, sys, whole);
            detail(
                kind,
                "paused 3 s",
                &format!(
                    "{} of {} survivors dropped it; {} of {CLOUD} lists whole {SHORT_WATCH:?} after",
                    pause.dropped,
                    CLOUD - 1,
                    pause.whole
                ),
            );
        }
        Err(e) => {
            let why = e.to_string();
            detail(kind, "paused 3 s", &why);
            figures.fail(Figure::PauseShortDropped, sys, &why);
            figures.fail(Figure::PauseShortWhole, sys, why);
        }
    }
}

fn record_long(figures: &mut Figures, kind: Kind, result: Result<LongPause>) {
    let sys = Sys::from(kind);
    match result {
        Ok(pause) => {
            figures.record(Figure::PauseLongDropped, sys, pause.dropped as f64);
            let returned = match &pause.returned {
                Ok(secs) => format!("all list it again {secs:.2} s after SIGCONT"),
                Err(why) => why.clone(),
            };
            detail(
                kind,
                "paused 10 s",
                &format!(
                    "{} of {} survivors dropped it; {returned}",
                    pause.dropped,
                    CLOUD - 1
                ),
            );
            match pause.returned {
                Ok(secs) => figures.record(Figure::PauseLongReturn, sys, secs),
                Err(why) => figures.fail(Figure::PauseLongReturn, sys, why),
            }
        }
        Err(e) => {
            let why = e.to_string();
            detail(kind, "paused 10 s", &why);
            figures.fail(Figure::PauseLongDropped, sys, &why);
            figures.fail(Figure::PauseLongReturn, sys, why);
        }
    }
}

fn record_apart(figures: &mut Figures, kind: Kind, result: Result<f64>) {
    let sys = Sys::from(kind);
    match result {
        Ok(secs) => {
            detail(
                kind,
                "clouds formed apart",
                &format!("merged after {secs:.2} s"),
            );
            figures.record(Figure::MergeTime, sys, secs);
        }
        Err(e) => {
            detail(kind, "clouds formed apart", &e.to_string());
            figures.fail(Figure::MergeTime, sys, e);
        }
    }
}

/// What one run of a scenario did, on stderr beside the progress.
pub(super) fn detail(kind: Kind, scenario: &str, what: &str) {
    eprintln!("           {} {scenario}: {what}", kind.name());
}
