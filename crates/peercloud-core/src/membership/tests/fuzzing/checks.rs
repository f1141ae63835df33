//! The invariants of a core's state, checked after every step of a fuzz
//! case. Each says which rule of the code it holds (the comment it comes
//! from) and returns what broke it, for the failure message.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use super::run::Run;
use crate::io::CallId;
use crate::membership::health::MAX_SCORE;
use crate::membership::members::Place;
use crate::membership::sync::MAX_SYNC_CHECKS;
use crate::membership::timers::Timer;
use crate::membership::{Membership, Pending, Phase, MAX_EARLY_NOTICES};

type Checked = Result<(), String>;

/// Every invariant of the state; `woken` when the step just ran
/// `handle_timeout` at `run.now`.
pub(super) fn state(run: &Run, woken: bool) -> Checked {
    let core = &run.core;
    no_member_is_this_peer(core)?;
    no_two_members_at_one_place(core)?;
    core.members.indexes_agree()?;
    no_member_is_also_remembered_gone(core)?;
    the_phase_holds(core)?;
    suspicions_stand_at_their_members_incarnation(core)?;
    every_pending_call_was_made_and_has_its_deadline(run)?;
    if !core.pending.index_is_exact() {
        return Err("the index of probing calls differs from the calls".to_owned());
    }
    one_call_at_a_time_where_the_code_says_so(core)?;
    the_round_window_holds_only_pushes_under_way(core)?;
    checks_and_waiting_requests_match_the_calls(run)?;
    timers_match_the_phase(core)?;
    if woken {
        nothing_due_is_left_after_a_wake(core, run.now)?;
    }
    Ok(())
}

/// `insert_member`: this peer is never its own member.
fn no_member_is_this_peer(core: &Membership) -> Checked {
    match core.members.contains_key(&core.me.id) {
        true => Err(format!(
            "this peer {} is in its own member list",
            core.me.id
        )),
        false => Ok(()),
    }
}

/// `insert_member`: "Never two entries at one place".
fn no_two_members_at_one_place(core: &Membership) -> Checked {
    let members: Vec<_> = core.members().collect();
    for (i, a) in members.iter().enumerate() {
        if let Some(b) = members[i + 1..]
            .iter()
            .find(|b| Place::of(a) == Place::of(b))
        {
            return Err(format!(
                "two members at one place: {} at {} and {} at {}",
                a.id,
                a.address(),
                b.id,
                b.address()
            ));
        }
    }
    Ok(())
}

/// `table.rs`: a member is added by `insert_member`, which forgets its
/// tombstone, and removed by `remove_member`, which makes one.
fn no_member_is_also_remembered_gone(core: &Membership) -> Checked {
    match core
        .members
        .keys()
        .find(|id| core.tombstones.contains_key(*id))
    {
        Some(id) => Err(format!("{id} is a member and a tombstone at once")),
        None => Ok(()),
    }
}

/// Members exist while running, or joining (a joining peer admits joiners,
/// and introduces them to the cloud it joins), never once leaving; early
/// notices are replayed or dropped when the join ends (a leave while
/// joining just never uses them); the health score within its bound.
fn the_phase_holds(core: &Membership) -> Checked {
    let running = matches!(core.phase, Phase::Running);
    let joining = matches!(core.phase, Phase::Joining { .. });
    if !running && !joining && !core.members.is_empty() {
        return Err(format!("members while {:?}", core.phase));
    }
    if running && !core.early.is_empty() {
        return Err("early notices kept while running".into());
    }
    if core.early.len() > MAX_EARLY_NOTICES {
        return Err("more early notices than MAX_EARLY_NOTICES".into());
    }
    if core.health() > MAX_SCORE {
        return Err(format!("health {} above {MAX_SCORE}", core.health()));
    }
    Ok(())
}

/// `start_suspicion` sets the member's incarnation to the one suspected,
/// and `refresh_member` ends a suspicion once the incarnation passes it:
/// a standing suspicion is always at its member's incarnation. Each one
/// has a timer due by its deadline, or its final check under way, or it
/// would never run out.
fn suspicions_stand_at_their_members_incarnation(core: &Membership) -> Checked {
    for (id, entry) in core.members.iter() {
        let Some(suspicion) = &entry.suspicion else {
            continue;
        };
        if suspicion.incarnation != entry.incarnation {
            return Err(format!(
                "{id} suspected at incarnation {} but listed at {}",
                suspicion.incarnation, entry.incarnation
            ));
        }
        let timed = core
            .timers
            .all()
            .any(|(at, t)| *t == Timer::Suspicion(id.clone()) && at <= suspicion.deadline);
        let checked = suspicion.checking
            && core
                .pending
                .values()
                .any(|o| matches!(&o.what, Pending::FinalCheck { target } if target == id));
        if !timed && !checked {
            return Err(format!("{id}'s suspicion has no timer by its deadline"));
        }
    }
    Ok(())
}

/// `call`: "every call gets exactly one result, its own or a timeout".
/// Every outstanding call is one the driver was asked to make and has not
/// answered, and its deadline is in the timers, due when the call said.
/// (A leave drops the timers of the calls made before it: their results
/// are still taken, and the end of the leave forgets them.)
fn every_pending_call_was_made_and_has_its_deadline(run: &Run) -> Checked {
    let leaving = matches!(run.core.phase, Phase::Leaving);
    for (call, outstanding) in run.core.pending.iter() {
        let Some(made) = run.calls.get(call) else {
            return Err(format!(
                "{call:?} ({:?}) is outstanding, but was never asked for or was answered",
                outstanding.what
            ));
        };
        if leaving && !matches!(outstanding.what, Pending::Goodbye) {
            continue;
        }
        match run.core.timers.get(outstanding.deadline) {
            Some((at, Timer::Call(c))) if c == call && at == made.deadline => {}
            other => {
                return Err(format!(
                    "{call:?} ({:?}) to {} has no deadline of its own: {other:?}",
                    outstanding.what, made.to
                ))
            }
        }
    }
    Ok(())
}

/// The "one at a time" of the code: one direct probe per member
/// (`Prober::in_flight`), one list pull (`Syncer::pulling`), one seed
/// tried (`Reconnector::in_flight`), one join of a start, one `/join` of
/// a reintroduction, at most `MAX_SYNC_CHECKS` checks of listed members.
fn one_call_at_a_time_where_the_code_says_so(core: &Membership) -> Checked {
    let mut probes = BTreeSet::new();
    let mut counts = BTreeMap::<&str, usize>::new();
    for outstanding in core.pending.values() {
        let kind = match &outstanding.what {
            Pending::Probe { target, .. } => {
                if !probes.insert(target) {
                    return Err(format!("two direct probes of {target} at once"));
                }
                continue;
            }
            Pending::Sync => "list pulls (/peers)",
            Pending::Rejoin { .. } => "seed tries while running",
            Pending::JoinAttempt { .. } => "joins of the start",
            Pending::ReintroJoin => "reintroduction joins",
            Pending::SyncCheck { .. } => "checks of listed members",
            _ => continue,
        };
        *counts.entry(kind).or_default() += 1;
    }
    for (kind, count) in counts {
        let most = if kind == "checks of listed members" {
            MAX_SYNC_CHECKS
        } else {
            1
        };
        if count > most {
            return Err(format!("{count} {kind} at once (at most {most})"));
        }
    }
    let joining = matches!(core.phase, Phase::Joining { .. });
    let joins = core
        .pending
        .values()
        .filter(|o| matches!(o.what, Pending::JoinAttempt { .. }))
        .count();
    if joining && joins != 1 {
        return Err(format!("joining with {joins} joins under way"));
    }
    Ok(())
}

/// `rounds.rs`: a place in the window is held only by a round push under
/// way (every call ends with its result or its timeout, which frees it),
/// and never more than `gossip_fanout` at once.
fn the_round_window_holds_only_pushes_under_way(core: &Membership) -> Checked {
    let rounds = core.gossip.rounds();
    let fanout = core.config.gossip_fanout;
    if rounds.held() > fanout {
        return Err(format!(
            "{} round places held, fanout {fanout}",
            rounds.held()
        ));
    }
    let held_by_calls = core
        .pending
        .values()
        .filter(|o| matches!(&o.what, Pending::Round { place, .. } if rounds.holds(place)))
        .count();
    if held_by_calls != rounds.held() {
        return Err(format!(
            "{} round places held, {held_by_calls} of them by pushes under way",
            rounds.held()
        ));
    }
    Ok(())
}

/// `checking`: "so that one id is never checked twice at once" — the ids
/// under check are exactly those of the checks under way (while running or
/// joining; a leave forgets them). A request waiting on a call (a joiner's
/// check, a relayed probe) has not been answered yet; `goodbyes` counts
/// the goodbyes under way.
fn checks_and_waiting_requests_match_the_calls(run: &Run) -> Checked {
    let core = &run.core;
    let mut checked = BTreeSet::new();
    let mut goodbyes = 0;
    for (call, outstanding) in core.pending.iter() {
        match &outstanding.what {
            Pending::JoinCheck {
                token, candidate, ..
            } => {
                if !run.waiting.contains_key(token) {
                    return Err(format!("{call:?} checks for {token:?}, already answered"));
                }
                if !checked.insert(&candidate.member.id) {
                    return Err(format!("{} checked twice at once", candidate.member.id));
                }
            }
            Pending::SyncCheck { candidate } if !checked.insert(&candidate.member.id) => {
                return Err(format!("{} checked twice at once", candidate.member.id));
            }
            Pending::Relay { token, .. } if !run.waiting.contains_key(token) => {
                return Err(format!("{call:?} relays for {token:?}, already answered"));
            }
            Pending::Goodbye => goodbyes += 1,
            _ => {}
        }
    }
    let leaving = matches!(core.phase, Phase::Leaving | Phase::Closed);
    if !leaving && checked != core.checking.iter().collect() {
        return Err(format!(
            "ids under check {:?}, but checks under way for {checked:?}",
            core.checking
        ));
    }
    if matches!(core.phase, Phase::Leaving) && goodbyes != core.goodbyes {
        return Err(format!(
            "{} goodbyes counted, {goodbyes} under way",
            core.goodbyes
        ));
    }
    Ok(())
}

/// A running peer always has its next probe tick and its next reconnect
/// tick set (each tick sets the next; without them it would stop probing
/// or healing for good); a closed one has nothing left to do.
fn timers_match_the_phase(core: &Membership) -> Checked {
    match core.phase {
        Phase::Running => {
            let ticks = [
                ("probe", Timer::ProbeTick),
                ("gossip", Timer::GossipTick),
                ("reconnect", Timer::Reconnect),
            ];
            for (name, timer) in ticks {
                let set = core.timers.all().filter(|(_, t)| **t == timer).count();
                if set != 1 {
                    return Err(format!("running with {set} {name} ticks set"));
                }
            }
        }
        Phase::Closed => {
            if core.poll_timeout().is_some() || core.timers.all().next().is_some() {
                return Err("closed with timers set".into());
            }
            if !core.pending.is_empty() {
                return Err("closed with calls outstanding".into());
            }
        }
        Phase::Idle | Phase::Joining { .. } | Phase::Leaving => {}
    }
    Ok(())
}

/// `handle_timeout`: "Runs whatever is due at `now`": nothing due is left,
/// no call past its deadline, no suspicion past its end but those under
/// their final check.
fn nothing_due_is_left_after_a_wake(core: &Membership, now: Instant) -> Checked {
    if let Some(next) = core.poll_timeout().filter(|next| *next <= now) {
        return Err(format!(
            "woken, and still due: {:?} ago",
            now.duration_since(next)
        ));
    }
    let calls: Vec<&CallId> = core
        .pending
        .iter()
        .filter(|(_, o)| core.timers.get(o.deadline).is_some_and(|(at, _)| at <= now))
        .map(|(call, _)| call)
        .collect();
    if !calls.is_empty() {
        return Err(format!("woken, and calls past their deadline: {calls:?}"));
    }
    if matches!(core.phase, Phase::Running) {
        let over = core.members.iter().find(|(_, e)| {
            e.suspicion
                .as_ref()
                .is_some_and(|s| s.deadline <= now && !s.checking)
        });
        if let Some((id, _)) = over {
            return Err(format!("woken, and {id}'s suspicion ran out unheeded"));
        }
    }
    Ok(())
}
