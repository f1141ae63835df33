//! The figures of one run, and the one table they make: original,
//! peercloud and ceiling side by side, the ratios, and whether each target
//! of the benchmark issue is met. Failures are kept with their reason and
//! listed under the table.

use std::fmt::Write;

use crate::figure::{Figure, Stat, Sys, Target, Unit};
use crate::stats::{max, median};

/// What was measured for one figure of one system.
#[derive(Debug, Clone, Default)]
struct Cell {
    values: Vec<f64>,
    failures: Vec<String>,
}

/// Every figure of the run.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    cells: Vec<[Cell; 3]>,
}

impl Figures {
    /// No figures yet.
    pub(crate) fn new() -> Figures {
        Figures {
            cells: vec![Default::default(); Figure::ALL.len()],
        }
    }

    fn cell(&mut self, figure: Figure, sys: Sys) -> &mut Cell {
        &mut self.cells[figure as usize][sys as usize]
    }

    /// Adds the figure of one run.
    pub(crate) fn record(&mut self, figure: Figure, sys: Sys, value: f64) {
        self.cell(figure, sys).values.push(value);
    }

    /// Adds a failed run, with its reason.
    pub(crate) fn fail(&mut self, figure: Figure, sys: Sys, why: impl ToString) {
        self.cell(figure, sys).failures.push(why.to_string());
    }

    /// The table of the given rows, in Markdown, followed by the failures.
    pub(crate) fn render(&self, rows: &[Figure]) -> String {
        let mut notes = Vec::new();
        let mut out = String::from(
            "| figure | original | peercloud | ceiling | peercloud / original | peercloud / ceiling | target |\n\
             |---|--:|--:|--:|--:|--:|---|\n",
        );
        for &figure in rows {
            let (label, unit, stat, target) = figure.spec();
            let cells = &self.cells[figure as usize];
            let shown: Vec<String> = Sys::ALL
                .iter()
                .map(|&sys| show_cell(&cells[sys as usize], unit, stat, label, sys, &mut notes))
                .collect();
            let value = |sys: Sys| summary(&cells[sys as usize], stat);
            // A ratio of counts of runs or of peers says little.
            let ratio = |a: Option<f64>, b: Option<f64>| match (stat, a, b) {
                (Stat::Converged, ..) => String::new(),
                _ if matches!(unit, Unit::Count) => String::new(),
                (_, Some(a), Some(b)) if b > 0.0 => show_ratio(a / b),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {label} | {} | {} | {} | {} | {} | {} |",
                shown[0],
                shown[1],
                shown[2],
                ratio(value(Sys::Peercloud), value(Sys::Original)),
                ratio(value(Sys::Peercloud), value(Sys::Ceiling)),
                verdict(target, cells, stat),
            );
        }
        for (i, note) in notes.iter().enumerate() {
            let _ = writeln!(out, "\n[{}] {note}", i + 1);
        }
        out
    }
}

/// The figure a cell stands for: the median (or worst) of its runs.
fn summary(cell: &Cell, stat: Stat) -> Option<f64> {
    match stat {
        Stat::Median => median(&cell.values),
        Stat::Worst => max(&cell.values),
        Stat::Converged => None,
    }
}

fn show_cell(
    cell: &Cell,
    unit: Unit,
    stat: Stat,
    label: &str,
    sys: Sys,
    notes: &mut Vec<String>,
) -> String {
    let mut shown = match stat {
        Stat::Converged if !cell.values.is_empty() || !cell.failures.is_empty() => {
            let converged = cell.values.iter().filter(|v| **v > 0.5).count();
            format!("{converged}/{}", cell.values.len() + cell.failures.len())
        }
        _ => summary(cell, stat)
            .map(|v| show_value(v, unit))
            .unwrap_or_default(),
    };
    if !cell.failures.is_empty() {
        let mut reasons = cell.failures.clone();
        reasons.dedup();
        notes.push(format!("{} — {label}: {}", sys.name(), reasons.join("; ")));
        let failed = if shown.is_empty() {
            "failed".to_owned()
        } else {
            format!("{} failed", cell.failures.len())
        };
        shown = format!("{shown} ({failed} [{}])", notes.len())
            .trim()
            .to_owned();
    }
    if shown.is_empty() {
        "—".to_owned()
    } else {
        shown
    }
}

fn show_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::PerSec => format!("{}/s", thousands(value.round() as u64)),
        Unit::Millis if value < 10.0 => format!("{value:.2} ms"),
        Unit::Millis => format!("{value:.1} ms"),
        Unit::Secs => format!("{value:.2} s"),
        Unit::Mib => format!("{value:.1} MiB"),
        Unit::Count => thousands(value.round() as u64),
    }
}

fn show_ratio(ratio: f64) -> String {
    if ratio < 0.1 {
        format!("{ratio:.3}×")
    } else {
        format!("{ratio:.2}×")
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The target and whether peercloud meets it.
fn verdict(target: Target, cells: &[Cell; 3], stat: Stat) -> String {
    let value = |sys: Sys| summary(&cells[sys as usize], stat);
    let peercloud = &cells[Sys::Peercloud as usize];
    let (text, met) = match target {
        Target::Info => return String::new(),
        Target::CeilingAtLeast(r) => (
            format!("≥ {r}× ceiling"),
            ratio_of(value(Sys::Peercloud), value(Sys::Ceiling)).map(|x| x >= r),
        ),
        Target::CeilingAtMost(r) => (
            format!("≤ {r}× ceiling"),
            ratio_of(value(Sys::Peercloud), value(Sys::Ceiling)).map(|x| x <= r),
        ),
        Target::OriginalAtMost(r) => (
            format!("≤ 1/{:.0} of original", 1.0 / r),
            ratio_of(value(Sys::Peercloud), value(Sys::Original)).map(|x| x <= r),
        ),
        Target::EveryRun => (
            "every run converges".to_owned(),
            (!peercloud.values.is_empty()).then(|| {
                peercloud.failures.is_empty() && peercloud.values.iter().all(|v| *v > 0.5)
            }),
        ),
        Target::NoFailure => (
            "converges".to_owned(),
            (!peercloud.values.is_empty()).then_some(peercloud.failures.is_empty()),
        ),
    };
    match met {
        Some(true) => format!("{text}: met"),
        Some(false) => format!("{text}: **MISSED**"),
        None => format!("{text}: not measured"),
    }
}

fn ratio_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missed_target_is_marked() {
        let mut figures = Figures::new();
        for (sys, value) in [
            (Sys::Original, 2_800.0),
            (Sys::Peercloud, 10_000.0),
            (Sys::Ceiling, 24_700.0),
        ] {
            figures.record(Figure::Unicast1, sys, value);
        }
        let table = figures.render(&Figure::ALL);
        let row = table
            .lines()
            .find(|l| l.contains("1 in flight"))
            .expect("row");
        assert!(row.contains("24,700/s"), "{row}");
        assert!(row.contains("MISSED"), "{row}");
    }

    #[test]
    fn failures_are_listed_under_the_table() {
        let mut figures = Figures::new();
        figures.record(Figure::JoinConverged, Sys::Peercloud, 1.0);
        figures.record(Figure::JoinConverged, Sys::Original, 0.0);
        figures.fail(Figure::MemLone, Sys::Original, "node is missing");
        let table = figures.render(&Figure::ALL);
        assert!(table.contains("| 0/1 | 1/1 |"), "{table}");
        assert!(table.contains("node is missing"), "{table}");
    }

    #[test]
    fn a_table_of_some_rows_shows_only_those_and_counts_have_no_ratio() {
        let mut figures = Figures::new();
        figures.record(Figure::PauseLongDropped, Sys::Original, 9.0);
        figures.record(Figure::PauseLongDropped, Sys::Peercloud, 3.0);
        figures.record(Figure::Unicast1, Sys::Peercloud, 10_000.0);
        let table = figures.render(&Figure::FAULTS);
        assert_eq!(table.lines().count(), 2 + Figure::FAULTS.len(), "{table}");
        assert!(!table.contains("unicast"), "{table}");
        assert!(table.contains("| 9 | 3 | — |  |  |  |"), "{table}");
    }
}
