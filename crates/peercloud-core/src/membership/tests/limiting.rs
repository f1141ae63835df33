//! Tests of the admission limits: joins per source address per minute, and
//! the most members a peer keeps. A refused join is answered at once, costs
//! no `/status` check, and changes nothing.

use super::*;

/// Server "s" with members b and c, under `config`.
fn server_with(config: Config) -> (Membership, Instant) {
    let b = member("b", "10.0.0.2:9338");
    let c = member("c", "10.0.0.3:9338");
    joined_core_with(config, "s", &b, &[c])
}

fn with_join_rate(per_minute: u32) -> Config {
    Config {
        max_joins_per_ip_per_minute: per_minute,
        ..test_config()
    }
}

fn with_max_members(max_members: usize) -> Config {
    Config {
        max_members,
        ..test_config()
    }
}

/// Hands `s` a `/join` from `remote` with reply token `token`, asking for
/// id `id` (a made one when `None`), and returns what `s` did at once.
fn join_from(
    s: &mut Membership,
    now: Instant,
    token: u64,
    id: Option<&str>,
    remote: &str,
) -> Vec<Action> {
    let request = join_request(id, None, None);
    s.handle_request(now, ReplyToken(token), anonymous(remote), request);
    drain(s)
}

/// Asserts that `actions` is only the refusal of `token`, matching
/// `expected`, and that nothing else changed in `s`.
fn assert_refused_alone(
    s: &mut Membership,
    actions: &[Action],
    token: u64,
    version: u64,
    members: &[&str],
    expected: impl Fn(&Refusal) -> bool,
) {
    let reply = only_reply(actions, ReplyToken(token));
    assert!(matches!(&reply, Err(r) if expected(r)), "{reply:?}");
    assert_eq!(member_ids(s), members);
    assert_eq!(s.version(), version);
    assert!(events(s).is_empty());
}

#[test]
fn joins_past_the_rate_of_one_address_are_refused_with_429_and_change_nothing() {
    let (mut s, t0) = server_with(with_join_rate(3));
    let version = s.version();
    for n in 0..3 {
        let id = format!("x{n}");
        let check = only_call(&join_from(&mut s, t0, n, Some(&id), "10.1.2.3"), "/status");
        assert_eq!(check.to, addr("10.1.2.3:9338"));
    }
    let refused = join_from(&mut s, t0, 9, Some("x9"), "10.1.2.3");
    assert_refused_alone(&mut s, &refused, 9, version, &["b", "c"], |r| {
        *r == Refusal::TooManyJoins {
            per_minute: 3,
            retry_after: secs(20),
        }
    });
    let Err(refusal) = only_reply(&refused, ReplyToken(9)) else {
        unreachable!()
    };
    assert_eq!(refusal.http_status(), 429);
    assert_eq!(refusal.retry_after(), Some(secs(20)));
    assert_eq!(
        refusal.to_string(),
        "too many joins from this address: at most 3 a minute; try again in 20 s"
    );
}

#[test]
fn a_burst_of_the_limit_is_taken_then_one_join_per_interval_for_any_limit_and_seed() {
    for per_minute in [1, 2, 5, 60] {
        for rng_seed in 0..8 {
            let config = with_join_rate(per_minute);
            let b = member("b", "10.0.0.2:9338");
            let (mut s, t0) = joined_core_with(config, "s", &b, &[]);
            s.rng = rand::SeedableRng::seed_from_u64(rng_seed);
            let case = format!("{per_minute} a minute, rng seed {rng_seed}");
            let interval = secs(60) / per_minute;
            let mut token = 0;
            // `None` when the join was taken (its check is under way), else
            // the refusal.
            let mut join_at = |s: &mut Membership, at: Instant| {
                token += 1;
                let actions = join_from(s, at, token, None, "10.1.2.3");
                match calls_to(&actions, "/status").len() {
                    1 => None,
                    _ => only_reply(&actions, ReplyToken(token)).err(),
                }
            };
            for n in 0..per_minute {
                assert_eq!(join_at(&mut s, t0), None, "{case}: join {n}");
            }
            let Some(Refusal::TooManyJoins { retry_after, .. }) = join_at(&mut s, t0) else {
                panic!("{case}: the join past the burst was not refused");
            };
            assert_eq!(retry_after, interval, "{case}");
            let early = t0 + interval - millis(1);
            assert!(join_at(&mut s, early).is_some(), "{case}: one ms early");
            assert_eq!(join_at(&mut s, t0 + interval), None, "{case}: on time");
            assert!(join_at(&mut s, t0 + interval).is_some(), "{case}: only one");
        }
    }
}

#[test]
fn other_addresses_are_not_held_back_by_one_that_is_refused() {
    let (mut s, t0) = server_with(with_join_rate(1));
    assert_eq!(
        calls(&join_from(&mut s, t0, 1, Some("x"), "10.1.2.3")).len(),
        1
    );
    let refused = join_from(&mut s, t0, 2, Some("y"), "10.1.2.3");
    assert!(matches!(
        only_reply(&refused, ReplyToken(2)),
        Err(Refusal::TooManyJoins { .. })
    ));
    let other = join_from(&mut s, t0, 3, Some("z"), "10.1.2.4");
    assert_eq!(only_call(&other, "/status").to, addr("10.1.2.4:9338"));
}

#[test]
fn an_ipv4_mapped_address_and_addresses_of_one_ipv6_64_are_one_source() {
    let pairs = [
        ("10.1.2.3", "::ffff:10.1.2.3"),
        ("2001:db8:7:7::1", "2001:db8:7:7:ffff::2"),
    ];
    for (first, second) in pairs {
        let (mut s, t0) = server_with(with_join_rate(1));
        assert_eq!(calls(&join_from(&mut s, t0, 1, Some("x"), first)).len(), 1);
        let refused = join_from(&mut s, t0, 2, Some("y"), second);
        assert!(
            matches!(
                only_reply(&refused, ReplyToken(2)),
                Err(Refusal::TooManyJoins { .. })
            ),
            "{second} after {first}"
        );
    }
    let (mut s, t0) = server_with(with_join_rate(1));
    join_from(&mut s, t0, 1, Some("x"), "2001:db8:7:7::1");
    let next_64 = join_from(&mut s, t0, 2, Some("y"), "2001:db8:7:8::1");
    assert_eq!(calls(&next_64).len(), 1, "another /64 is another source");
}

#[test]
fn a_join_refused_for_another_reason_still_counts_and_a_refused_one_does_not() {
    let (mut s, t0) = server_with(with_join_rate(2));
    // An id in use is refused after the rate took it: asking costs a turn.
    let taken = join_from(&mut s, t0, 1, Some("b"), "10.1.2.3");
    assert!(matches!(
        only_reply(&taken, ReplyToken(1)),
        Err(Refusal::IdInUse(_))
    ));
    assert_eq!(
        calls(&join_from(&mut s, t0, 2, Some("x"), "10.1.2.3")).len(),
        1
    );
    // Refusals for the rate take nothing: the next turn comes at its time.
    for token in 3..10 {
        join_from(&mut s, t0 + secs(token), token, Some("y"), "10.1.2.3");
    }
    let on_time = join_from(&mut s, t0 + secs(30), 10, Some("y"), "10.1.2.3");
    assert_eq!(calls(&on_time).len(), 1);
}

#[test]
fn a_join_to_a_full_cloud_is_refused_with_503_and_changes_nothing() {
    let (mut s, t0) = server_with(with_max_members(2));
    let version = s.version();
    let refused = join_from(&mut s, t0, 1, Some("x"), "10.1.2.3");
    assert_refused_alone(&mut s, &refused, 1, version, &["b", "c"], |r| {
        *r == Refusal::CloudFull { limit: 2 }
    });
    let Err(refusal) = only_reply(&refused, ReplyToken(1)) else {
        unreachable!()
    };
    assert_eq!(refusal.http_status(), 503);
    assert_eq!(
        refusal.to_string(),
        "the cloud is full: this peer keeps at most 2 members"
    );
}

#[test]
fn a_joiner_taking_the_place_of_a_member_is_not_one_too_many() {
    let (mut s, t0) = server_with(with_max_members(2));
    // b restarted under a new id, at its old address.
    let request = join_request(Some("b2"), Some("10.0.0.2"), Some(9338));
    s.handle_request(t0, ReplyToken(1), anonymous("10.0.0.2"), request);
    let check = only_call(&drain(&mut s), "/status");
    s.handle_response(t0, check.call, status_of("b2"));
    let actions = drain(&mut s);
    assert!(matches!(
        replies(&actions).as_slice(),
        [(ReplyToken(1), Ok(Response::Join(_)))]
    ));
    assert_eq!(member_ids(&s), ["b2", "c"]);
}

#[test]
fn joiners_under_their_check_count_against_the_limit() {
    let (mut s, t0) = server_with(with_max_members(3));
    only_call(&join_from(&mut s, t0, 1, Some("x"), "10.1.2.3"), "/status");
    let version = s.version();
    let refused = join_from(&mut s, t0, 2, Some("y"), "10.1.2.4");
    assert_refused_alone(&mut s, &refused, 2, version, &["b", "c"], |r| {
        *r == Refusal::CloudFull { limit: 3 }
    });
}

#[test]
fn a_joiner_is_refused_after_its_check_when_news_filled_the_cloud_meanwhile() {
    let (mut s, t0) = server_with(with_max_members(3));
    let check = only_call(&join_from(&mut s, t0, 1, Some("x"), "10.1.2.3"), "/status");
    let d = member("d", "10.0.0.4:9338");
    s.handle_request(t0, ReplyToken(2), origin("b"), joined_notice(&d));
    drain(&mut s);
    events(&mut s);
    assert_eq!(member_ids(&s), ["b", "c", "d"]);
    let version = s.version();
    s.handle_response(t0, check.call, status_of("x"));
    let actions = drain(&mut s);
    assert_refused_alone(&mut s, &actions, 1, version, &["b", "c", "d"], |r| {
        *r == Refusal::CloudFull { limit: 3 }
    });
}

#[test]
fn news_of_a_member_past_the_limit_is_acknowledged_but_not_kept() {
    let (mut s, t0) = server_with(with_max_members(2));
    let version = s.version();
    let d = member("d", "10.0.0.4:9338");
    s.handle_request(t0, ReplyToken(1), origin("b"), joined_notice(&d));
    let reply = only_reply(&drain(&mut s), ReplyToken(1));
    assert!(matches!(reply, Ok(Response::Joined(_))), "{reply:?}");
    assert_eq!(member_ids(&s), ["b", "c"]);
    assert_eq!(s.version(), version);
    assert!(events(&mut s).is_empty());
}
