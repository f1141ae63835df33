//! `peercloud-sim`: runs the membership at scale on the simulator and
//! prints one table per cloud size. This file only parses the arguments.
//!
//! ```text
//! peercloud-sim [--sizes 100,1000] [--seed N] [--hour-minutes M]
//! ```

mod figures;
mod table;

use std::process::ExitCode;

const USAGE: &str = "usage: peercloud-sim [--sizes N,N,...] [--seed N] [--hour-minutes M]
  --sizes          cloud sizes to run (default 100,1000; 10000 takes long)
  --seed           the seed every run starts from (default 1); printed to replay
  --hour-minutes   simulated minutes of each false-eviction run (default 60)";

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) sizes: Vec<usize>,
    pub(crate) seed: u64,
    pub(crate) soak_minutes: u64,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plan = match parse(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("peercloud-sim: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    for &size in &plan.sizes {
        let rows = figures::measure(size, &plan);
        println!("{}", table::render(size, &plan, &rows));
    }
    ExitCode::SUCCESS
}

fn parse(args: &[String]) -> Result<Plan, String> {
    let mut plan = Plan {
        sizes: vec![100, 1000],
        seed: 1,
        soak_minutes: 60,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = || {
            args.clone()
                .next()
                .cloned()
                .ok_or(format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--sizes" => {
                plan.sizes = value()?
                    .split(',')
                    .map(|n| {
                        n.trim()
                            .parse::<usize>()
                            .map_err(|_| format!("bad size {n:?}"))
                    })
                    .collect::<Result<_, _>>()?;
                args.next();
            }
            "--seed" => {
                plan.seed = value()?.parse().map_err(|_| "bad --seed".to_owned())?;
                args.next();
            }
            "--hour-minutes" => {
                plan.soak_minutes = value()?
                    .parse()
                    .map_err(|_| "bad --hour-minutes".to_owned())?;
                args.next();
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if plan.sizes.iter().any(|&n| n < 10) {
        return Err("every size must be at least 10".to_owned());
    }
    Ok(plan)
}
