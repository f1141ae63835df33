//! Property tests of the whole core (fuzzing on stable Rust): one core fed
//! arbitrary sequences of inputs — requests from anyone, replies of any
//! shape to its calls, every kind of failed call, time passing by any
//! step, new data, a leave — must never panic, and after every step keeps
//! every invariant its code states (`fuzzing/checks.rs` for the state,
//! `fuzzing/outputs.rs` for what each step puts out): no member is this
//! peer, no two members share a place, every call gets one result and
//! every request one reply, the events tell the member list, the version
//! moves with what is published, outputs stay bounded, nothing joins after
//! a leave, and a leave ends.
//!
//! 256 cases by default (a few seconds); `PROPTEST_CASES=N` sets another
//! number, as the README's fuzzing section does for long runs. A failure
//! prints the failing step, the rule it broke and the shrunk case
//! (`opening`, `steps`), and its seed (`cc ...`), which proptest saves
//! under `proptest-regressions/` and runs first from then on.

mod checks;
mod inputs;
mod outputs;
mod replies;
mod run;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use self::inputs::{opening, step, Opening, Step};
use self::run::Run;
use super::base;

/// The most steps in one case, before the end (see `Run::finish`).
const MAX_STEPS: usize = 80;

/// Runs one case; the error says which step broke what.
fn run_case(opening: &Opening, steps: &[Step]) -> Result<(), String> {
    let mut run = Run::start(opening, base()).map_err(|e| format!("at the start: {e}"))?;
    for (i, step) in steps.iter().enumerate() {
        run.step(step)
            .map_err(|e| format!("at step {i} ({step:?}): {e}"))?;
    }
    run.finish().map_err(|e| format!("at the end: {e}"))
}

/// Proptest's defaults (256 cases, or `PROPTEST_CASES`; failures saved),
/// but shrinking may go on longer: a case is quick to run, and a short
/// one is what makes a failure readable.
fn config() -> ProptestConfig {
    ProptestConfig {
        max_shrink_iters: 50_000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_sequence_of_inputs_keeps_every_invariant(
        opening in opening(),
        steps in prop::collection::vec(step(), 0..MAX_STEPS),
    ) {
        if let Err(broken) = run_case(&opening, &steps) {
            return Err(TestCaseError::fail(broken));
        }
    }
}
