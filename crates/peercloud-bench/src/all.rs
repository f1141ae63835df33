//! `all`, `faults`, `private` and `scale`: run the benchmarks in turn
//! (every one, only the fault scenarios and data updates, open against
//! private peercloud, or only the swarm; `unicast`: only peercloud's
//! unicast against the ceiling), side by side, and print one table, the machine and the
//! command. Progress goes to stderr, the table to stdout.

use std::time::Instant;

use crate::budget::Budget;
use crate::figure::{Figure, Sys};
use crate::fleet::{Env, Kind};
use crate::table::{Figures, Layout};
use crate::{bench, machine, Result};

/// Which benchmarks a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suite {
    /// Every one (`all`).
    All,
    /// Only the membership-under-faults scenarios and the data updates
    /// (`faults`).
    Faults,
    /// Open and private peercloud side by side: unicast, broadcast and
    /// memory in a cloud of 20, joins (`private`).
    Private,
    /// Only the swarm: many peers in one process (`scale`).
    Scale,
    /// Only unicast, peercloud against the ceiling (`unicast`).
    Unicast,
}

/// The arguments every suite takes.
#[derive(Debug, Clone, Default)]
pub(crate) struct Args {
    /// `--quick`: shorter windows, fewer runs.
    pub(crate) quick: bool,
    /// `--runs N`.
    pub(crate) runs: Option<usize>,
    /// `--peers N`: the swarm's size.
    pub(crate) peers: Option<usize>,
}

impl Suite {
    /// The columns and rows of its table.
    fn table(self) -> (&'static Layout, &'static [Figure]) {
        match self {
            Suite::All => (&Layout::MAIN, &Figure::ALL),
            Suite::Faults => (&Layout::MAIN, &Figure::FAULTS),
            Suite::Private => (&Layout::PRIVATE, &Figure::PRIVATE),
            Suite::Scale => (&Layout::MAIN, &Figure::SWARM),
            Suite::Unicast => (&Layout::MAIN, &Figure::UNICAST),
        }
    }
}

/// Runs the benchmarks of `suite` (`--quick`: shorter) and prints the table.
pub(crate) fn main(suite: Suite, args: Args) -> Result<()> {
    let mut budget = Budget::new(args.quick, args.runs);
    if let Some(peers) = args.peers {
        budget.swarm_peers = peers;
    }
    // The orchestrator mostly waits; one thread keeps it out of the way of
    // the processes it measures.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(measure(suite, &budget))?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let runs = match suite {
        Suite::All | Suite::Private | Suite::Unicast => budget.runs,
        Suite::Faults => budget.faults_runs,
        Suite::Scale => budget.swarm_runs,
    };
    let (layout, rows) = suite.table();
    println!("{}", figures.render(layout, rows));
    if matches!(suite, Suite::All | Suite::Scale) {
        println!("swarm: N = {} peers", budget.swarm_peers);
    }
    println!("machine: {}", machine::describe());
    println!(
        "runs: {runs} ({}), command: `{command}`",
        if budget.quick { "--quick" } else { "full" }
    );
    Ok(())
}

async fn measure(suite: Suite, budget: &Budget) -> Result<Figures> {
    let env = Env::discover()?;
    let mut figures = Figures::new();
    let started = Instant::now();
    let progress = |what: &str| eprintln!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
    match suite {
        Suite::All | Suite::Faults => {
            measure_main(suite, &env, budget, &mut figures, progress).await
        }
        Suite::Private => measure_private(&env, budget, &mut figures, progress).await,
        Suite::Unicast => {
            progress("unicast: peercloud, ceiling; 1 and 64 in flight");
            let systems = [Sys::Peercloud, Sys::Ceiling];
            bench::unicast::run(&env, budget, &mut figures, &systems).await;
        }
        Suite::Scale => {
            progress(&format!(
                "{} peercloud peers in one process",
                budget.swarm_peers
            ));
            bench::swarm::run(&env, budget, &mut figures).await;
        }
    }
    progress("done");
    Ok(figures)
}

/// `all`'s benchmarks, or `faults`' few of them.
async fn measure_main(
    suite: Suite,
    env: &Env,
    budget: &Budget,
    figures: &mut Figures,
    progress: impl Fn(&str),
) {
    if suite == Suite::All {
        progress("unicast: original, peercloud, ceiling; 1 and 64 in flight");
        let systems = [Sys::Original, Sys::Peercloud, Sys::Ceiling];
        bench::unicast::run(env, budget, figures, &systems).await;
        progress("broadcast to 19 peers, and memory in a cloud of 20");
        bench::broadcast::run(env, budget, figures, &Kind::BOTH).await;
        progress("idle memory of a lone peer");
        bench::memory::run(env, budget, figures).await;
        progress("membership: 20 peers joining at once; kill -9 of 1 of 10");
        bench::membership::run(env, budget, figures).await;
    }
    progress("membership under faults: 1 of 10 paused 3 s and 10 s; clouds formed apart");
    bench::faults::run(env, budget, figures).await;
    progress("membership under link faults, 5 hosts in network namespaces: a 3 + 2 partition; a broken pair link");
    bench::partition::run(env, budget, figures).await;
    progress("data updates: 1 of 10 peercloud peers; a peercloud peer beside 5 originals");
    bench::update::run(env, budget, figures).await;
    if suite == Suite::All {
        progress(&format!(
            "{} peercloud peers in one process",
            budget.swarm_peers
        ));
        bench::swarm::run(env, budget, figures).await;
    }
}

/// `private`: some of `all`'s benchmarks, for open and private peercloud.
async fn measure_private(
    env: &Env,
    budget: &Budget,
    figures: &mut Figures,
    progress: impl Fn(&str),
) {
    progress("unicast: open and private peercloud; 1 and 64 in flight");
    let systems = [Sys::Peercloud, Sys::Private];
    bench::unicast::run(env, budget, figures, &systems).await;
    progress("broadcast to 19 peers, and memory in a cloud of 20: open and private");
    bench::broadcast::run(env, budget, figures, &Kind::OPEN_AND_PRIVATE).await;
    progress("membership: 20 peers joining at once, open and private");
    bench::membership::joins(env, budget, figures, &Kind::OPEN_AND_PRIVATE).await;
}
