//! Tests that a core replays: the same rng seed and inputs give the same
//! outputs, since every random choice comes from the seeded rng.

use super::*;
use crate::error::CallError;

/// A fixed script that touches every random choice (seed order, probe
/// rounds, an id made for a joiner); returns every action and event.
fn run(rng_seed: u64) -> (Vec<Action>, Vec<Event>) {
    let t0 = base();
    let mut core = Membership::new(identity("a", 9338), Config::default(), rng_seed);
    let mut actions = Vec::new();
    let seeds = (1..=4).map(|n| addr(&format!("10.0.0.{n}:9338"))).collect();
    core.start(t0, seeds);
    for attempt in 0..4 {
        let join = only_call(&drain(&mut core), "/join");
        let result = if attempt < 3 {
            Err(CallError::Timeout)
        } else {
            let server = Member {
                host: join.to.host.clone(),
                port: join.to.port,
                ..member("s", "10.0.0.1:1")
            };
            let others: Vec<Member> = (10..16)
                .map(|i| member(&format!("m{i}"), &format!("10.0.1.{i}:9338")))
                .collect();
            join_reply("a", &server, &others)
        };
        actions.push(Action::Call {
            call: join.call,
            to: join.to,
            request: join.request,
            timeout: join.timeout,
        });
        core.handle_response(t0, join.call, result);
    }
    core.handle_request(
        t0,
        ReplyToken(1),
        anonymous("10.0.2.1"),
        join_request(None, None, None),
    );
    for n in 1..=20 {
        let at = t0 + secs(n);
        core.handle_timeout(at);
        for action in drain(&mut core) {
            if let Action::Call { call, .. } = &action {
                let result = if n % 3 == 0 {
                    Err(CallError::Timeout)
                } else {
                    status_of("m10")
                };
                core.handle_response(at, *call, result);
            }
            actions.push(action);
        }
    }
    actions.extend(drain(&mut core));
    (actions, events(&mut core))
}

#[test]
fn two_cores_with_the_same_rng_seed_and_inputs_act_alike() {
    let first = run(7);
    assert!(first.0.len() > 20, "the script did something: {first:#?}");
    assert_eq!(run(7), first);
}

#[test]
fn cores_with_different_rng_seeds_choose_differently() {
    let runs: Vec<_> = (0..5).map(run).collect();
    assert!(runs.iter().any(|r| *r != runs[0]));
}
