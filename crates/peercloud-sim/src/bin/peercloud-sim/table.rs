//! The table of one cloud size, as Markdown: each figure, its value, its
//! target and whether it is met.

use crate::figures::Row;
use crate::Plan;

pub(crate) fn render(size: usize, plan: &Plan, rows: &[Row]) -> String {
    let mut out = format!(
        "\n### {size} peers (seed {}, soaks of {} simulated minutes)\n\n",
        plan.seed, plan.soak_minutes
    );
    out += "| figure | peercloud | target | met |\n|---|--:|--:|---|\n";
    for row in rows {
        let value = match &row.value {
            Ok(v) => format!("{} {}", shown(*v), row.unit).trim_end().to_owned(),
            Err(why) => format!("({why})"),
        };
        let (target, met) = match (row.target, &row.value) {
            (Some(t), Ok(v)) => (
                format!("<= {} {}", shown(t), row.unit)
                    .trim_end()
                    .to_owned(),
                if *v <= t { "yes" } else { "NO" }.to_owned(),
            ),
            (Some(t), Err(_)) => (format!("<= {}", shown(t)), "NO".to_owned()),
            (None, _) => (String::new(), String::new()),
        };
        out += &format!("| {} | {value} | {target} | {met} |\n", row.figure);
    }
    out
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
