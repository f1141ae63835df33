//! The table of one cloud size, as Markdown: each figure, its value under
//! each set of rules, peercloud's target and whether peercloud meets it.

use crate::figures::Row;
use crate::{Plan, Rules, Scenario};

pub(crate) fn render(size: usize, plan: &Plan, columns: &[(Rules, Vec<Row>)]) -> String {
    let delivery = if plan.typed {
        ", messages handed over typed"
    } else {
        ""
    };
    let soaks = if plan.skip.contains(&Scenario::Soaks) {
        "no soaks".to_owned()
    } else {
        format!("soaks of {} simulated minutes", plan.soak_minutes)
    };
    let partition = if plan.skip.contains(&Scenario::Partition) {
        ", no partition"
    } else {
        ""
    };
    let mut out = format!(
        "\n### {size} peers (seed {}, {soaks}{partition}{delivery})\n\n",
        plan.seed
    );
    let names: Vec<&str> = columns.iter().map(|(rules, _)| rules.name()).collect();
    out += &format!("| figure | {} | target | met |\n", names.join(" | "));
    out += &format!("|---|{}--:|---|\n", "--:|".repeat(names.len()));
    // Every figure any column has, in the order it first appears.
    let mut figures: Vec<&Row> = Vec::new();
    for row in columns.iter().flat_map(|(_, rows)| rows) {
        if !figures.iter().any(|f| f.figure == row.figure) {
            figures.push(row);
        }
    }
    for figure in figures {
        let cells: Vec<String> = columns
            .iter()
            .map(
                |(_, rows)| match rows.iter().find(|r| r.figure == figure.figure) {
                    Some(row) => value(row),
                    None => String::new(),
                },
            )
            .collect();
        let ours = columns
            .iter()
            .find(|(rules, _)| *rules == Rules::Peercloud)
            .and_then(|(_, rows)| rows.iter().find(|r| r.figure == figure.figure));
        let (target, met) = match ours {
            Some(row) => verdict(row),
            None => (verdict(figure).0, String::new()),
        };
        out += &format!(
            "| {} | {} | {target} | {met} |\n",
            figure.figure,
            cells.join(" | ")
        );
    }
    out
}

fn value(row: &Row) -> String {
    match &row.value {
        Ok(v) => format!("{} {}", shown(*v), row.unit).trim_end().to_owned(),
        Err(why) => format!("({why})"),
    }
}

/// The target, and whether the row meets it.
fn verdict(row: &Row) -> (String, String) {
    match (row.target, &row.value) {
        (Some(t), Ok(v)) => (
            format!("<= {} {}", shown(t), row.unit)
                .trim_end()
                .to_owned(),
            if *v <= t { "yes" } else { "NO" }.to_owned(),
        ),
        (Some(t), Err(_)) => (format!("<= {}", shown(t)), "NO".to_owned()),
        (None, _) => (String::new(), String::new()),
    }
}

fn shown(v: f64) -> String {
    if v == 0.0 {
        "0".to_owned()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}
