//! Tests of `start`: trying seeds one at a time and taking a seed's member
//! list (the client side of `/join`).

use super::*;
use crate::error::CallError;
use crate::io::Start;

/// Five seed addresses.
fn seeds() -> Vec<Address> {
    (1..=5).map(|n| addr(&format!("10.0.0.{n}:9338"))).collect()
}

/// The order in which a core with `rng_seed` dials `seeds()` when every
/// attempt fails.
fn dial_order(rng_seed: u64) -> Vec<Address> {
    let t0 = base();
    let mut core = Membership::new(identity("a", 9338), Config::default(), rng_seed);
    core.start(t0, seeds());
    let mut order = Vec::new();
    while let Some(action) = core.poll_action() {
        let Action::Call { call, to, .. } = action else {
            panic!("not a call: {action:?}")
        };
        order.push(to);
        core.handle_response(t0, call, Err(CallError::Unreachable("refused".into())));
    }
    order
}

#[test]
fn starting_without_seeds_starts_alone_and_schedules_a_probe_tick() {
    let t0 = base();
    let mut core = core("a", 9338);
    core.start(t0, vec![]);
    assert_eq!(events(&mut core), [Event::Started(Start::Alone)]);
    assert!(drain(&mut core).is_empty());
    assert_eq!(core.poll_timeout(), Some(t0 + secs(1)));
    assert_eq!(core.members().len(), 0);
}

#[test]
fn starting_with_seeds_sends_one_join_carrying_who_this_peer_is() {
    let t0 = base();
    let mut core = core("a", 4444);
    core.start(t0, seeds());
    let join = only_call(&drain(&mut core), "/join");
    assert!(seeds().contains(&join.to));
    assert_eq!(join.timeout, Config::default().join_timeout);
    assert_eq!(
        join.request,
        Request::Join(JoinRequest {
            id: Some(pid("a")),
            ip: None,
            port: Some(4444),
            data: Some(data_of("a")),
            incarnation: Some(0),
        })
    );
    assert!(events(&mut core).is_empty());
    assert_eq!(
        core.poll_timeout(),
        Some(t0 + Config::default().join_timeout),
        "no probes before the join ends: only the join's own deadline"
    );
}

#[test]
fn an_advertised_host_is_sent_as_the_joiners_ip() {
    let t0 = base();
    let me = Identity {
        advertise: Some(Host::parse("peer-a.example").unwrap()),
        ..identity("a", 9338)
    };
    let mut core = Membership::new(me, Config::default(), 1);
    core.start(t0, seeds());
    let join = only_call(&drain(&mut core), "/join");
    let Request::Join(body) = join.request else {
        panic!()
    };
    assert_eq!(body.ip, Some(Host::parse("peer-a.example").unwrap()));
}

#[test]
fn seeds_are_dialled_one_at_a_time_each_once_in_an_order_set_by_the_rng_seed() {
    let order = dial_order(5);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, seeds(), "every seed is dialled exactly once");
    assert_eq!(dial_order(5), order, "the same rng seed replays");
    let orders: Vec<_> = (0..10).map(dial_order).collect();
    assert!(
        orders.iter().any(|o| *o != order),
        "the order depends on the rng seed"
    );
}

#[test]
fn a_failed_refused_or_unsuccessful_join_moves_on_to_the_next_seed() {
    let t0 = base();
    let mut core = core("a", 9338);
    core.start(t0, seeds());
    let not_joined = JoinReply {
        status: "full".to_owned(),
        ..match join_reply("a", &member("s", "10.0.0.1:9338"), &[]) {
            Ok(Response::Join(reply)) => reply,
            _ => unreachable!(),
        }
    };
    let failures: Vec<CallResult> = vec![
        Err(CallError::Timeout),
        Err(CallError::Refused {
            status: 500,
            body: "id in use".into(),
        }),
        Ok(Response::Join(not_joined)),
        status_of("s"),
        Err(CallError::InvalidReply("not json".into())),
    ];
    let mut dialled = Vec::new();
    let mut now = t0;
    for failure in failures {
        let join = only_call(&drain(&mut core), "/join");
        assert!(!dialled.contains(&join.to), "{} dialled twice", join.to);
        dialled.push(join.to.clone());
        assert!(events(&mut core).is_empty());
        now += secs(1);
        let expected = match &failure {
            Err(error) => error.clone(),
            Ok(_) => CallError::InvalidReply("a join answer that does not let in".into()),
        };
        core.handle_response(now, join.call, failure);
        // Each failed seed is told, with its reason, before the next is
        // tried; the last one's before the start.
        let told = events(&mut core);
        assert_eq!(
            told.first(),
            Some(&Event::SeedFailed {
                seed: join.to,
                error: expected
            })
        );
        if dialled.len() < 5 {
            assert_eq!(told.len(), 1, "{told:?}");
        } else {
            assert_eq!(told[1..], [Event::Started(Start::Alone)]);
        }
    }
    assert!(drain(&mut core).is_empty());
    // Alone, it ticks for probes and, sooner, to try its seeds again.
    let next = core.poll_timeout().expect("a tick");
    assert!(next > now && next < now + secs(1), "{:?}", next - now);
}

#[test]
fn a_joined_reply_adds_the_seed_at_the_address_dialled_and_every_listed_peer() {
    let t0 = base();
    let mut core = core("a", 9338);
    let seed = member("s", "10.0.0.1:7000");
    let (b, c) = (member("b", "10.0.0.2:9338"), member("c", "10.0.0.3:9000"));
    let version = core.version();
    core.start(t0, vec![seed.address()]);
    let join = only_call(&drain(&mut core), "/join");
    let listed = [b.clone(), member("a", "10.0.0.9:9338"), c.clone()];
    core.handle_response(t0 + millis(10), join.call, join_reply("a", &seed, &listed));

    assert!(drain(&mut core).is_empty());
    assert_eq!(member_ids(&core), ["b", "c", "s"], "its own id is skipped");
    assert_eq!(core.member(&pid("s")), Some(&seed));
    assert_eq!(core.member(&pid("b")), Some(&b));
    assert_eq!(core.member(&pid("c")), Some(&c));
    assert_eq!(
        events(&mut core),
        [
            Event::Started(Start::Joined {
                via: seed.address(),
                peers: 3
            }),
            Event::PeerJoined(seed.clone()),
            Event::PeerJoined(b),
            Event::PeerJoined(c),
        ]
    );
    assert_eq!(core.id(), &pid("a"));
    assert_ne!(core.version(), version);
    assert_eq!(core.poll_timeout(), Some(t0 + millis(10) + secs(1)));
}

#[test]
fn a_different_id_in_the_joined_reply_is_adopted() {
    let t0 = base();
    let mut core = core("a", 9338);
    let seed = member("s", "10.0.0.1:9338");
    core.start(t0, vec![seed.address()]);
    let join = only_call(&drain(&mut core), "/join");
    let version = core.version();
    // The seed renamed us, and lists us under the new name too.
    let listed = [member("a2", "10.0.0.9:9338"), member("b", "10.0.0.2:9338")];
    core.handle_response(t0, join.call, join_reply("a2", &seed, &listed));

    assert_eq!(core.id(), &pid("a2"));
    assert_eq!(core.identity().id, pid("a2"));
    assert_ne!(core.version(), version);
    assert_eq!(member_ids(&core), ["b", "s"]);
    assert_eq!(core.status().id, Some(pid("a2")));
}

#[test]
fn a_joined_reply_without_an_id_keeps_ours() {
    let t0 = base();
    let mut core = core("a", 9338);
    let seed = member("s", "10.0.0.1:9338");
    core.start(t0, vec![seed.address()]);
    let join = only_call(&drain(&mut core), "/join");
    let Ok(Response::Join(mut reply)) = join_reply("a", &seed, &[]) else {
        unreachable!()
    };
    reply.id = None;
    core.handle_response(t0, join.call, Ok(Response::Join(reply)));
    assert_eq!(core.id(), &pid("a"));
    assert_eq!(member_ids(&core), ["s"]);
}

#[test]
fn starting_twice_does_nothing() {
    let t0 = base();
    let mut core = core("a", 9338);
    core.start(t0, vec![]);
    events(&mut core);
    core.start(t0 + secs(1), seeds());
    assert!(drain(&mut core).is_empty());
    assert!(events(&mut core).is_empty());
    assert_eq!(core.poll_timeout(), Some(t0 + secs(1)));
}

#[test]
fn a_join_reply_that_comes_after_the_join_ended_is_ignored() {
    let t0 = base();
    let mut core = core("a", 9338);
    core.start(t0, seeds());
    let first = only_call(&drain(&mut core), "/join");
    core.handle_response(t0, first.call, Err(CallError::Timeout));
    let second = only_call(&drain(&mut core), "/join");
    core.handle_response(
        t0,
        second.call,
        join_reply("a", &member("s", "10.0.0.7:1"), &[]),
    );
    events(&mut core);
    // A late answer under a call id already answered changes nothing.
    let late = join_reply("a", &member("t", "10.0.0.8:1"), &[]);
    core.handle_response(t0, first.call, late);
    assert_eq!(member_ids(&core), ["s"]);
    assert!(drain(&mut core).is_empty());
    assert!(events(&mut core).is_empty());
}
