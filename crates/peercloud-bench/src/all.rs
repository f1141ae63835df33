//! `all` and `faults`: run the benchmarks in turn (every one, or only the
//! fault scenarios and data updates), side by side, and print one table, the machine and the
//! command. Progress goes to stderr, the table to stdout.

use std::time::Instant;

use crate::budget::Budget;
use crate::figure::Figure;
use crate::fleet::Env;
use crate::table::Figures;
use crate::{bench, machine, Result};

/// Which benchmarks a run measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Suite {
    /// Every one (`all`).
    All,
    /// Only the membership-under-faults scenarios and the data updates
    /// (`faults`).
    Faults,
}

impl Suite {
    /// The rows of its table.
    fn rows(self) -> &'static [Figure] {
        match self {
            Suite::All => &Figure::ALL,
            Suite::Faults => &Figure::FAULTS,
        }
    }
}

/// Runs the benchmarks of `suite` (`--quick`: shorter) and prints the table.
pub(crate) fn main(suite: Suite, quick: bool, runs: Option<usize>) -> Result<()> {
    let budget = Budget::new(quick, runs);
    // The orchestrator mostly waits; one thread keeps it out of the way of
    // the processes it measures.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(measure(suite, &budget))?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let runs = match suite {
        Suite::All => budget.runs,
        Suite::Faults => budget.faults_runs,
    };
    println!("{}", figures.render(suite.rows()));
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
    if suite == Suite::All {
        progress("unicast: original, peercloud, ceiling; 1 and 64 in flight");
        bench::unicast::run(&env, budget, &mut figures).await;
        progress("broadcast to 19 peers, and memory in a cloud of 20");
        bench::broadcast::run(&env, budget, &mut figures).await;
        progress("idle memory of a lone peer");
        bench::memory::run(&env, budget, &mut figures).await;
        progress("membership: 20 peers joining at once; kill -9 of 1 of 10");
        bench::membership::run(&env, budget, &mut figures).await;
    }
    progress("membership under faults: 1 of 10 paused 3 s and 10 s; clouds formed apart");
    bench::faults::run(&env, budget, &mut figures).await;
    progress("membership under link faults, 5 hosts in network namespaces: a 3 + 2 partition; a broken pair link");
    bench::partition::run(&env, budget, &mut figures).await;
    progress("data updates: 1 of 10 peercloud peers; a peercloud peer beside 5 originals");
    bench::update::run(&env, budget, &mut figures).await;
    if suite == Suite::All {
        progress("200 peercloud peers in one process");
        bench::swarm::run(&env, budget, &mut figures).await;
    }
    progress("done");
    Ok(figures)
}
