//! Each column of a table in its own process: the parent runs this binary
//! again with `--rows` for one size and one set of rules, so that the wall
//! time and peak memory it reports are that run's alone (an allocator
//! keeps what an earlier run freed), and a run that dies takes only its
//! own column with it. Rows travel as one line each, tab-separated; the
//! child's progress goes straight to stderr.

use std::process::{Command, Stdio};

use peercloud_core::Config;
use peercloud_sim::Sim;

use crate::figures::{self, Row};
use crate::{Plan, Rules};

/// Measures the plan's one size under its one rules here; the rows as
/// lines.
pub(crate) fn rows_here(plan: &Plan) -> String {
    let size = plan.sizes[0];
    let rows = match plan.rules[0] {
        Rules::Peercloud => figures::measure(size, plan, "peercloud", peercloud),
        Rules::Original => figures::measure(size, plan, "original", Sim::original),
    };
    rows.iter().map(to_line).collect()
}

/// A simulation under peercloud's rules with room for every simulated
/// peer: the default `max_members` (1024) guards a real peer against a
/// flood of members; it is not what the figures measure.
fn peercloud(seed: u64, net: peercloud_sim::NetConfig) -> Sim {
    let config = Config {
        max_members: 1 << 20,
        ..Config::default()
    };
    Sim::with_config(seed, net, config)
}

/// Runs one size under `rules` in a child process and reads its rows; a
/// child that fails gives one row that says how.
pub(crate) fn in_child(size: usize, rules: Rules, plan: &Plan) -> Vec<Row> {
    let failed = |why: String| {
        vec![Row {
            figure: "(the run)".to_owned(),
            value: Err(why),
            unit: String::new(),
            target: None,
        }]
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return failed(format!("cannot find this binary: {e}")),
    };
    let output = Command::new(exe)
        .args([
            "--rows",
            "--sizes",
            &size.to_string(),
            "--rules",
            rules.name(),
        ])
        .args(["--seed", &plan.seed.to_string()])
        .args(["--hour-minutes", &plan.soak_minutes.to_string()])
        .args(plan.typed.then_some("--typed"))
        .args(skip_args(plan))
        .stderr(Stdio::inherit())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(e) => return failed(format!("cannot run: {e}")),
    };
    let rows: Vec<Row> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(from_line)
        .collect();
    if !output.status.success() {
        let mut rows = rows;
        rows.extend(failed(format!("the run failed: {}", output.status)));
        return rows;
    }
    rows
}

/// `--skip` as the child takes it, if anything is skipped.
fn skip_args(plan: &Plan) -> Vec<String> {
    if plan.skip.is_empty() {
        return Vec::new();
    }
    let names: Vec<&str> = plan.skip.iter().map(|s| s.name()).collect();
    vec!["--skip".to_owned(), names.join(",")]
}

fn to_line(row: &Row) -> String {
    let target = row.target.map(|t| t.to_string()).unwrap_or_default();
    let value = match &row.value {
        Ok(v) => format!("ok\t{v}"),
        Err(e) => format!("err\t{}", e.replace(['\t', '\n'], " ")),
    };
    format!("{}\t{}\t{target}\t{value}\n", row.figure, row.unit)
}

fn from_line(line: &str) -> Option<Row> {
    let mut fields = line.splitn(5, '\t');
    let figure = fields.next()?.to_owned();
    let unit = fields.next()?.to_owned();
    let target = fields.next()?;
    let target = (!target.is_empty()).then(|| target.parse().ok()).flatten();
    let value = match (fields.next()?, fields.next()?) {
        ("ok", v) => Ok(v.parse().ok()?),
        (_, e) => Err(e.to_owned()),
    };
    Some(Row {
        figure,
        value,
        unit,
        target,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_from_their_lines_as_they_were() {
        let rows = [
            Row {
                figure: "convergence after concurrent joins".to_owned(),
                value: Ok(5.25),
                unit: "s".to_owned(),
                target: Some(5.0),
            },
            Row {
                figure: "partition in halves healed".to_owned(),
                value: Err("not within 300 s:\t1.5% missing".to_owned()),
                unit: "s".to_owned(),
                target: None,
            },
        ];
        let back: Vec<Row> = rows
            .iter()
            .map(to_line)
            .filter_map(|l| from_line(l.trim_end()))
            .collect();
        assert_eq!(back[0], rows[0]);
        assert_eq!(
            back[1].value,
            Err("not within 300 s: 1.5% missing".to_owned())
        );
    }
}
