//! Peers that share one machine's processors ([`Sim::share_processors`]):
//! a cloud that forms on a saturated machine forms later, as the bench's
//! swarm of real peers does, but it forms, evicts nobody, and replays
//! from its seed.

mod support;

use std::time::Duration;

use peercloud_sim::{NetConfig, Processors, Sim, Stats};
use support::{assert_full_mesh, assert_no_churn_since, everyone, failed_seen_by, secs, STEP};

/// One processor at 1 ms a message: 150 peers at rest read about 600
/// messages a second (two probes a second each, and their answers), so
/// it has room to spare, while the joins and their gossip swamp it.
fn one_slow_processor() -> Processors {
    Processors {
        cores: 1,
        per_message: Duration::from_millis(1),
        per_kib: Duration::from_micros(50),
        per_timer: Duration::from_micros(50),
    }
}

/// 150 peers joining at once through one, on `processors` if any: how
/// long until every list is whole, and the simulation then. (Had the
/// peers' timers not waited for the processor, they would go on probing
/// at their pace however late the answers came, and this cloud would not
/// be whole within the minute.)
fn formed(seed: u64, processors: Option<Processors>) -> (Option<Duration>, Sim) {
    let mut sim = Sim::new(seed, NetConfig::lan());
    if let Some(processors) = processors {
        sim.share_processors(processors);
    }
    sim.join_through_seeds(150, 1);
    let took = sim.run_until(secs(60), STEP, |sim| sim.converged().is_ok());
    (took, sim)
}

#[test]
fn a_cloud_formed_on_a_busy_machine_forms_later_but_whole_and_evicts_nobody() {
    for seed in 0..3 {
        let (quick, _) = formed(seed, None);
        let (slow, mut sim) = formed(seed, Some(one_slow_processor()));
        let quick = quick.unwrap_or_else(|| panic!("seed {seed}: no processors, no convergence"));
        let slow = slow.unwrap_or_else(|| panic!("seed {seed}: not whole within 60 s"));
        assert!(
            slow > quick,
            "seed {seed}: the busy machine formed the cloud in {slow:?}, no later than {quick:?}"
        );
        assert!(sim.stats().processor_time > Duration::ZERO);
        // The machine at rest again: nobody dropped, every list whole.
        let calm = sim.now();
        sim.run_for(secs(30));
        assert_full_mesh(&sim, &everyone(&sim));
        for n in everyone(&sim) {
            assert!(
                failed_seen_by(&sim, n).is_empty(),
                "seed {seed}: peer {n} saw a failure"
            );
        }
        assert_no_churn_since(&sim, calm, &format!("seed {seed}"));
    }
}

#[test]
fn a_run_on_shared_processors_replays_from_its_seed() {
    let run = |seed| -> (Option<Duration>, Stats) {
        let (took, sim) = formed(seed, Some(one_slow_processor()));
        (took, sim.stats())
    };
    assert_eq!(run(4), run(4));
}
