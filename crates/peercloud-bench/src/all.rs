//! `all`: runs every benchmark in turn, side by side, and prints the one
//! table, the machine and the command. Progress goes to stderr, the table
//! to stdout.

use std::time::Instant;

use crate::budget::Budget;
use crate::fleet::Env;
use crate::table::Figures;
use crate::{bench, machine, Result};

/// Runs the benchmarks (`--quick`: about a minute) and prints the table.
pub(crate) fn main(quick: bool, runs: Option<usize>) -> Result<()> {
    let budget = Budget::new(quick, runs);
    // The orchestrator mostly waits; one thread keeps it out of the way of
    // the processes it measures.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let figures = runtime.block_on(measure(&budget))?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    println!("{}", figures.render());
    println!("machine: {}", machine::describe());
    println!(
        "runs: {} ({}), command: `{command}`",
        budget.runs,
        if budget.quick { "--quick" } else { "full" }
    );
    Ok(())
}

async fn measure(budget: &Budget) -> Result<Figures> {
    let env = Env::discover()?;
    let mut figures = Figures::new();
    let started = Instant::now();
    let progress = |what: &str| eprintln!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
    progress("unicast: original, peercloud, ceiling; 1 and 64 in flight");
    bench::unicast::run(&env, budget, &mut figures).await;
    progress("broadcast to 19 peers, and memory in a cloud of 20");
    bench::broadcast::run(&env, budget, &mut figures).await;
    progress("idle memory of a lone peer");
    bench::memory::run(&env, budget, &mut figures).await;
    progress("membership: 20 peers joining at once; kill -9 of 1 of 10");
    bench::membership::run(&env, budget, &mut figures).await;
    progress("200 peercloud peers in one process");
    bench::swarm::run(&env, budget, &mut figures).await;
    progress("done");
    Ok(figures)
}
