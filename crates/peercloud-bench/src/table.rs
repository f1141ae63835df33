//! The figures of one run, and the tables they make: original, peercloud
//! and ceiling side by side (`all`, `faults`), or open and private
//! peercloud (`private`), with the ratios, and whether each target of the
//! benchmark issues is met. Failures are kept with their reason and listed
//! under the table.

use std::fmt::Write;

use crate::figure::{Figure, Stat, Sys, Target, Unit};
use crate::stats::{max, median};

/// What was measured for one figure of one system.
#[derive(Debug, Clone, Default)]
struct Cell {
    values: Vec<f64>,
    failures: Vec<String>,
}

/// The columns of a table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// The systems shown, with their headers (also their names in the
    /// notes).
    columns: &'static [(Sys, &'static str)],
    /// The ratios shown: the first system's figure over the second's.
    ratios: &'static [(Sys, Sys, &'static str)],
    /// Whose figures the targets are about.
    subject: Sys,
    /// Each row's target.
    target: fn(Figure) -> Target,
}

impl Layout {
    /// Original, peercloud, ceiling, and the targets of the first
    /// benchmark issue (`all`, `faults`).
    pub(crate) const MAIN: Layout = Layout {
        columns: &[
            (Sys::Original, "original"),
            (Sys::Peercloud, "peercloud"),
            (Sys::Ceiling, "ceiling"),
        ],
        ratios: &[
            (Sys::Peercloud, Sys::Original, "peercloud / original"),
            (Sys::Peercloud, Sys::Ceiling, "peercloud / ceiling"),
        ],
        subject: Sys::Peercloud,
        target: |figure| figure.spec().3,
    };

    /// Open and private peercloud, and the targets of issue 8 (`private`).
    pub(crate) const PRIVATE: Layout = Layout {
        columns: &[(Sys::Peercloud, "open"), (Sys::Private, "private")],
        ratios: &[(Sys::Private, Sys::Peercloud, "private / open")],
        subject: Sys::Private,
        target: Figure::private_target,
    };

    /// The header line and the alignment line.
    fn header(&self) -> String {
        let mut names = vec!["figure"];
        names.extend(self.columns.iter().map(|(_, name)| *name));
        names.extend(self.ratios.iter().map(|(.., name)| *name));
        names.push("target");
        let numbers = self.columns.len() + self.ratios.len();
        format!(
            "| {} |\n|---|{}---|\n",
            names.join(" | "),
            "--:|".repeat(numbers)
        )
    }
}

/// Every figure of the run.
#[derive(Debug, Default)]
pub(crate) struct Figures {
    cells: Vec<[Cell; Sys::COUNT]>,
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

    /// The table of the given rows in `layout`, in Markdown, followed by the
    /// failures.
    pub(crate) fn render(&self, layout: &Layout, rows: &[Figure]) -> String {
        let mut notes = Vec::new();
        let mut out = layout.header();
        for &figure in rows {
            let (label, unit, stat, _) = figure.spec();
            let cells = &self.cells[figure as usize];
            let value = |sys: Sys| summary(&cells[sys as usize], stat);
            // A ratio of counts of runs or of peers says little.
            let ratio = |a: Option<f64>, b: Option<f64>| match (stat, a, b) {
                (Stat::Converged, ..) => String::new(),
                _ if matches!(unit, Unit::Count) => String::new(),
                (_, Some(a), Some(b)) if b > 0.0 => show_ratio(a / b),
                _ => String::new(),
            };
            let mut shown = vec![label.to_owned()];
            for &(sys, name) in layout.columns {
                let cell = &cells[sys as usize];
                shown.push(show_cell(cell, unit, stat, label, name, &mut notes));
            }
            for &(of, to, _) in layout.ratios {
                shown.push(ratio(value(of), value(to)));
            }
            shown.push(verdict(
                (layout.target)(figure),
                cells,
                stat,
                layout.subject,
            ));
            let _ = writeln!(out, "| {} |", shown.join(" | "));
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

/// A cell as shown; its failures become notes under the table, under
/// the column's `name`.
fn show_cell(
    cell: &Cell,
    unit: Unit,
    stat: Stat,
    label: &str,
    name: &str,
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
        notes.push(format!("{name} — {label}: {}", reasons.join("; ")));
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
        Unit::Mib if value < 1.0 => format!("{value:.2} MiB"),
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

/// The target and whether `subject` meets it.
fn verdict(target: Target, cells: &[Cell; Sys::COUNT], stat: Stat, subject: Sys) -> String {
    let value = |sys: Sys| summary(&cells[sys as usize], stat);
    let subject_cell = &cells[subject as usize];
    let (text, met) = match target {
        Target::Info => return String::new(),
        Target::AtMost(r) => (format!("≤ {r}"), value(subject).map(|x| x <= r)),
        Target::CeilingAtLeast(r) => (
            format!("≥ {r}× ceiling"),
            ratio_of(value(subject), value(Sys::Ceiling)).map(|x| x >= r),
        ),
        Target::CeilingAtMost(r) => (
            format!("≤ {r}× ceiling"),
            ratio_of(value(subject), value(Sys::Ceiling)).map(|x| x <= r),
        ),
        Target::OriginalAtMost(r) => (
            format!("≤ 1/{:.0} of original", 1.0 / r),
            ratio_of(value(subject), value(Sys::Original)).map(|x| x <= r),
        ),
        Target::OpenAtLeast(r) => (
            format!("≥ {r}× open"),
            ratio_of(value(subject), value(Sys::Peercloud)).map(|x| x >= r),
        ),
        Target::EveryRun => (
            "every run converges".to_owned(),
            (!subject_cell.values.is_empty()).then(|| {
                subject_cell.failures.is_empty() && subject_cell.values.iter().all(|v| *v > 0.5)
            }),
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
        let table = figures.render(&Layout::MAIN, &Figure::ALL);
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
        let table = figures.render(&Layout::MAIN, &Figure::ALL);
        assert!(table.contains("| 0/1 | 1/1 |"), "{table}");
        assert!(table.contains("node is missing"), "{table}");
    }

    #[test]
    fn a_table_of_some_rows_shows_only_those_and_counts_have_no_ratio() {
        let mut figures = Figures::new();
        figures.record(Figure::PauseLongDropped, Sys::Original, 9.0);
        figures.record(Figure::PauseLongDropped, Sys::Peercloud, 3.0);
        figures.record(Figure::Unicast1, Sys::Peercloud, 10_000.0);
        let table = figures.render(&Layout::MAIN, &Figure::FAULTS);
        assert_eq!(table.lines().count(), 2 + Figure::FAULTS.len(), "{table}");
        assert!(!table.contains("unicast"), "{table}");
        assert!(table.contains("| 9 | 3 | — |  |  |  |"), "{table}");
    }

    #[test]
    fn the_main_table_keeps_its_columns() {
        let table = Figures::new().render(&Layout::MAIN, &[Figure::Unicast1]);
        let mut lines = table.lines();
        assert_eq!(
            lines.next(),
            Some("| figure | original | peercloud | ceiling | peercloud / original | peercloud / ceiling | target |")
        );
        assert_eq!(lines.next(), Some("|---|--:|--:|--:|--:|--:|---|"));
        assert_eq!(
            lines.next(),
            Some("| unicast round trips, 1 in flight | — | — | — |  |  | ≥ 0.7× ceiling: not measured |")
        );
    }

    /// The figures of a private run whose private unicast at 64 in flight
    /// is `private_64` round trips a second, against 30,000 open.
    fn private_run(private_64: f64) -> String {
        let mut figures = Figures::new();
        for (sys, unicast_1, unicast_64) in [
            (Sys::Peercloud, 12_000.0, 30_000.0),
            (Sys::Private, 9_000.0, private_64),
        ] {
            figures.record(Figure::Unicast1, sys, unicast_1);
            figures.record(Figure::Unicast64, sys, unicast_64);
            figures.record(Figure::JoinConverged, sys, 1.0);
        }
        // Results of other systems are not this table's.
        figures.record(Figure::Unicast64, Sys::Ceiling, 40_000.0);
        figures.render(&Layout::PRIVATE, &Figure::PRIVATE)
    }

    #[test]
    fn the_private_table_shows_open_and_private_and_their_ratio() {
        let table = private_run(24_000.0);
        let mut lines = table.lines();
        assert_eq!(
            lines.next(),
            Some("| figure | open | private | private / open | target |")
        );
        assert_eq!(lines.next(), Some("|---|--:|--:|--:|---|"));
        assert_eq!(
            lines.next(),
            Some("| unicast round trips, 1 in flight | 12,000/s | 9,000/s | 0.75× |  |")
        );
        assert_eq!(
            lines.next(),
            Some("| unicast round trips, 64 in flight | 30,000/s | 24,000/s | 0.80× | ≥ 0.7× open: met |")
        );
        assert!(!table.contains("40,000"), "{table}");
        assert!(table.contains("| 1/1 | 1/1 |  |  |"), "{table}");
        assert_eq!(table.lines().count(), 2 + Figure::PRIVATE.len(), "{table}");
    }

    #[test]
    fn a_private_unicast_below_the_target_is_marked_missed() {
        let table = private_run(20_000.0);
        let row = table
            .lines()
            .find(|l| l.contains("64 in flight") && l.contains("round trips"))
            .expect("row");
        assert!(row.contains("| 0.67× | ≥ 0.7× open: **MISSED** |"), "{row}");
    }

    #[test]
    fn a_private_failure_is_noted_under_its_column_name() {
        let mut figures = Figures::new();
        figures.fail(Figure::BroadcastP50, Sys::Private, "no mesh");
        let table = figures.render(&Layout::PRIVATE, &Figure::PRIVATE);
        assert!(table.contains("| — | (failed [1]) |"), "{table}");
        assert!(
            table.contains("[1] private — broadcast to 19 peers, p50: no mesh"),
            "{table}"
        );
    }
}
