//! The two ways messages travel ([`Delivery`]) make the same run: the same
//! events at every peer, the same requests and bytes, the same lists; and
//! a typed run replays from its seed like a wire run.

mod support;

use peercloud_sim::{Delivery, NetConfig, Sim, Stats};
use support::{secs, SEEDS};

/// A cloud of 40 with loss, then a crash, a stall, new data, a goodbye and
/// a partition that heals: what each peer saw, what the network carried,
/// and each peer's list.
fn run(seed: u64, delivery: Delivery) -> (Vec<String>, Stats, Vec<String>) {
    let mut sim = Sim::new(seed, NetConfig::lan().with_loss(0.02));
    sim.set_delivery(delivery);
    sim.join_through_seeds(40, 3);
    sim.run_for(secs(10));
    sim.crash(7);
    sim.stall(11, secs(2));
    sim.set_data(12, serde_json::json!({"v": 2}));
    sim.leave(13);
    let (left, right): (Vec<usize>, Vec<usize>) = (0..40).partition(|&n| n < 20);
    sim.partition(&[&left, &right]);
    sim.run_for(secs(20));
    sim.heal();
    sim.run_for(secs(30));
    let logs = (0..sim.len())
        .map(|n| format!("{:?}", sim.events(n)))
        .collect();
    let lists = (0..sim.len())
        .map(|n| {
            let ids: Vec<&str> = sim.core(n).members().map(|m| m.id.as_str()).collect();
            format!("{ids:?}")
        })
        .collect();
    (logs, sim.stats(), lists)
}

#[test]
fn typed_delivery_makes_the_same_run_as_the_wire_for_every_seed() {
    for seed in SEEDS {
        let wire = run(seed, Delivery::Wire);
        let typed = run(seed, Delivery::Typed);
        assert!(wire.0 == typed.0, "seed {seed}: the events differ");
        assert_eq!(wire.1, typed.1, "seed {seed}: the traffic differs");
        assert!(wire.2 == typed.2, "seed {seed}: the lists differ");
    }
}

#[test]
fn a_typed_run_replays_exactly_from_its_seed() {
    assert!(run(5, Delivery::Typed) == run(5, Delivery::Typed));
    assert!(run(5, Delivery::Typed).0 != run(6, Delivery::Typed).0);
}
