//! `peercloud-sim`: runs the membership at scale on the simulator, under
//! peercloud's rules and under a model of the original's, and prints one
//! table per cloud size. This file only parses the arguments.
//!
//! ```text
//! peercloud-sim [--sizes 100,1000] [--seed N] [--hour-minutes M] [--rules peercloud,original] [--typed] [--skip partition,soaks]
//! ```

mod figures;
mod run;
mod table;

use std::process::ExitCode;

const USAGE: &str =
    "usage: peercloud-sim [--sizes N,N,...] [--seed N] [--hour-minutes M] [--rules R,R]
  --sizes          cloud sizes to run (default 100,1000)
  --seed           the seed every run starts from (default 1); printed to replay
  --hour-minutes   simulated minutes of each false-eviction run (default 60)
  --rules          peercloud, original or both (default both), one column each
  --skip           scenarios left out: partition, soaks or both (the joins,
                   the quiet load and the crashes always run); for sizes
                   where every peer learning of N/2 failures and N/2
                   returns, N² facts told many times each, takes hours
  --typed          hand messages over typed instead of through the wire codec
                   (records shared between peers, bytes still counted):
                   what lets 10,000 peers fit in memory
  --rows           run one size under one rules in this process and print
                   its rows for a parent run (how each column gets its own
                   wall time and peak memory)";

/// Whose membership rules the peers follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rules {
    /// peercloud's core.
    Peercloud,
    /// The model of the original (`peercloud_sim::Original`).
    Original,
}

impl Rules {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Rules::Peercloud => "peercloud",
            Rules::Original => "original",
        }
    }
}

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub(crate) sizes: Vec<usize>,
    pub(crate) seed: u64,
    pub(crate) soak_minutes: u64,
    pub(crate) rules: Vec<Rules>,
    /// A child run: one size, one rules, rows on stdout.
    pub(crate) rows: bool,
    /// Messages handed over typed (`peercloud_sim::Delivery::Typed`).
    pub(crate) typed: bool,
    /// The scenarios left out.
    pub(crate) skip: Vec<Scenario>,
}

/// A scenario that may be left out of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// The cloud split in halves for a minute, then healed.
    Partition,
    /// The runs under loss and stalls that count false evictions.
    Soaks,
}

impl Scenario {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Partition => "partition",
            Scenario::Soaks => "soaks",
        }
    }
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
    if plan.rows {
        print!("{}", run::rows_here(&plan));
        return ExitCode::SUCCESS;
    }
    for &size in &plan.sizes {
        let columns: Vec<_> = plan
            .rules
            .iter()
            .map(|&rules| (rules, run::in_child(size, rules, &plan)))
            .collect();
        println!("{}", table::render(size, &plan, &columns));
    }
    ExitCode::SUCCESS
}

fn parse(args: &[String]) -> Result<Plan, String> {
    let mut plan = Plan {
        sizes: vec![100, 1000],
        seed: 1,
        soak_minutes: 60,
        rules: vec![Rules::Peercloud, Rules::Original],
        rows: false,
        typed: false,
        skip: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--rows" {
            plan.rows = true;
            continue;
        }
        if arg == "--typed" {
            plan.typed = true;
            continue;
        }
        let value = args.next().ok_or(format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--sizes" => plan.sizes = list(value, parse_size)?,
            "--seed" => plan.seed = value.parse().map_err(|_| "bad --seed".to_owned())?,
            "--hour-minutes" => {
                plan.soak_minutes = value.parse().map_err(|_| "bad --hour-minutes".to_owned())?
            }
            "--rules" => plan.rules = list(value, parse_rules)?,
            "--skip" => plan.skip = list(value, parse_scenario)?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if plan.rows && (plan.sizes.len() != 1 || plan.rules.len() != 1) {
        return Err("--rows runs one size under one rules".to_owned());
    }
    Ok(plan)
}

fn list<T>(value: &str, one: fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    value.split(',').map(|v| one(v.trim())).collect()
}

fn parse_size(n: &str) -> Result<usize, String> {
    match n.parse::<usize>() {
        Ok(n) if n >= 10 => Ok(n),
        Ok(_) => Err("every size must be at least 10".to_owned()),
        Err(_) => Err(format!("bad size {n:?}")),
    }
}

fn parse_rules(r: &str) -> Result<Rules, String> {
    match r {
        "peercloud" => Ok(Rules::Peercloud),
        "original" => Ok(Rules::Original),
        _ => Err(format!("bad rules {r:?}: peercloud or original")),
    }
}

fn parse_scenario(s: &str) -> Result<Scenario, String> {
    [Scenario::Partition, Scenario::Soaks]
        .into_iter()
        .find(|scenario| scenario.name() == s)
        .ok_or_else(|| format!("bad scenario {s:?}: partition or soaks"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn defaults_run_both_rules_at_100_and_1000() {
        let plan = parse(&[]).unwrap();
        assert_eq!(plan.sizes, [100, 1000]);
        assert_eq!(plan.rules, [Rules::Peercloud, Rules::Original]);
        assert!(!plan.rows && !plan.typed);
        assert!(parse(&args("--typed --sizes 10000")).unwrap().typed);
        assert!(plan.skip.is_empty(), "every scenario runs");
    }

    #[test]
    fn scenarios_are_left_out_by_name() {
        let plan = parse(&args("--skip partition,soaks")).unwrap();
        assert_eq!(plan.skip, [Scenario::Partition, Scenario::Soaks]);
        assert!(
            parse(&args("--skip joins")).is_err(),
            "the joins always run"
        );
    }

    #[test]
    fn a_child_run_takes_one_size_and_one_rules() {
        let plan = parse(&args("--rows --sizes 1000 --rules original --seed 3")).unwrap();
        assert_eq!(
            (plan.sizes, plan.rules, plan.seed),
            (vec![1000], vec![Rules::Original], 3)
        );
        assert!(parse(&args("--rows --sizes 100,1000 --rules original")).is_err());
        assert!(parse(&args("--sizes 5")).is_err());
        assert!(parse(&args("--rules nodejs")).is_err());
        assert!(parse(&args("--seed")).is_err());
    }
}
