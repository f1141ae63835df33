//! Reconnecting: what heals partitions and merges clouds. A running peer
//! tries again, now and then, the seeds that are not its members (with a
//! `/join`: a seed of another cloud admits it, and the two lists merge) and
//! the members it declared failed (with a `/status` that tells them so, so
//! a live one refutes and is taken back). A peer with no member tries its
//! seeds soon, then less and less often, up to every `rejoin_interval`;
//! one with members every `reconnect_interval`; all with jitter.
//! Tombstones past their memory are forgotten here.

use std::sync::Arc;
use std::time::Instant;

use super::gossip::Source;
use super::table::{Candidate, Kind};
use super::{Membership, Pending, Timer};
use crate::id::PeerId;
use crate::io::{CallResult, Request, Response, Start};
use crate::member::{Address, Member};
use crate::wire::STATUS_JOINED;

/// The most failed members tried on one tick.
const MAX_TRIES_PER_TICK: usize = 4;

/// A peer alone tries its seeds again after an eighth of
/// `rejoin_interval`, then a quarter, a half, and from then on the whole
/// of it. Most peers that start alone do so because their seed was busy
/// (a check of them timed out while a thousand others joined): a seed
/// that could not take them then usually can a moment later, and a fixed
/// wait held them out of the cloud for its whole length, all of them
/// together, so that they found the seed busy again.
const LONE_HALVINGS: u32 = 3;

/// The seeds to try again, and how.
#[derive(Debug, Default)]
pub(super) struct Reconnector {
    /// The seeds given at start, but for those found to be this peer.
    seeds: Vec<Address>,
    /// Which seed is tried next (an index into `seeds`, wrapping).
    next_seed: usize,
    /// Whether a `/join` to a seed is under way.
    in_flight: bool,
    /// Whether this peer received its own `/join` since the last attempt
    /// began: the seed it is trying is itself.
    saw_own_join: bool,
    /// Ticks in a row found this peer alone.
    lone_ticks: u32,
}

impl Reconnector {
    /// Remembers the seeds (in the order the join tried them).
    pub(super) fn begin(&mut self, seeds: &[Address]) {
        self.seeds = seeds.to_vec();
    }

    /// Notes that an attempt (at start or later) begins.
    pub(super) fn attempt_started(&mut self) {
        self.saw_own_join = false;
    }

    /// Notes that this peer's own `/join` came in.
    pub(super) fn note_own_join(&mut self) {
        self.saw_own_join = true;
    }

    /// After an attempt on `seed` failed: a seed that turned out to be this
    /// peer is never tried again.
    pub(super) fn attempt_failed(&mut self, seed: &Address) {
        if std::mem::take(&mut self.saw_own_join) {
            self.seeds.retain(|s| s != seed);
        }
    }
}

impl Membership {
    /// Sets the first tick. A peer that joined has no members yet when it
    /// starts running (they are added right after), but is not alone.
    pub(super) fn start_reconnecting(&mut self, now: Instant, start: &Start) {
        let wait = match start {
            Start::Joined { .. } => self.jittered(self.config.reconnect_interval),
            Start::Alone => self.reconnect_wait(),
        };
        self.timers.schedule(now + wait, Timer::Reconnect);
    }

    /// How long until the next tick: when alone (the original starts
    /// alone for good), a short wait growing to the rejoin interval (see
    /// [`LONE_HALVINGS`]); else the reconnect interval. Jittered, so that
    /// peers turned away together do not come back together.
    fn reconnect_wait(&mut self) -> std::time::Duration {
        if self.members.is_empty() && self.reconnector.seeds.is_empty() {
            // No seed to try: only tombstones to forget, no hurry.
            self.config.rejoin_interval
        } else if self.members.is_empty() {
            let ticks = &mut self.reconnector.lone_ticks;
            let halvings = LONE_HALVINGS.saturating_sub(*ticks);
            *ticks = ticks.saturating_add(1);
            self.jittered(self.config.rejoin_interval / 2u32.pow(halvings))
        } else {
            self.reconnector.lone_ticks = 0;
            self.jittered(self.config.reconnect_interval)
        }
    }

    pub(super) fn on_reconnect_tick(&mut self, now: Instant) {
        if !self.is_running() {
            return;
        }
        let wait = self.reconnect_wait();
        self.timers.schedule(now + wait, Timer::Reconnect);
        self.tombstones.retain(|_, t| t.until > now);
        self.try_a_seed(now);
        self.try_failed_members(now);
    }

    /// Sends `/join` to the next seed that is not a member (not this peer,
    /// not one listed at that address).
    fn try_a_seed(&mut self, now: Instant) {
        if self.reconnector.in_flight || self.reconnector.seeds.is_empty() {
            return;
        }
        let count = self.reconnector.seeds.len();
        for _ in 0..count {
            let index = self.reconnector.next_seed % count;
            self.reconnector.next_seed = self.reconnector.next_seed.wrapping_add(1);
            let seed = self.reconnector.seeds[index].clone();
            if self.is_member_address(&seed) {
                continue;
            }
            self.reconnector.in_flight = true;
            self.reconnector.attempt_started();
            let request = Request::Join(self.join_request());
            let timeout = self.config.join_timeout;
            self.call(
                now,
                seed.clone(),
                request,
                timeout,
                Pending::Rejoin { seed },
            );
            return;
        }
    }

    fn is_member_address(&self, address: &Address) -> bool {
        let probe = Member {
            id: self.me.id.clone(),
            host: address.host.clone(),
            port: address.port,
            data: serde_json::Value::Null.into(),
        };
        self.members.at_place(&probe).is_some()
    }

    pub(super) fn on_rejoin_reply(&mut self, now: Instant, seed: Address, result: CallResult) {
        self.reconnector.in_flight = false;
        if !self.is_running() {
            return;
        }
        match result {
            // Members may have joined through this peer meanwhile: the
            // merge introduces them to the cloud it joins.
            Ok(Response::Join(reply)) if reply.status == STATUS_JOINED => {
                self.merge_cloud(now, seed, reply)
            }
            _ => self.reconnector.attempt_failed(&seed),
        }
    }

    /// Sends `/status` to the failed members due for a try, with the news
    /// that they failed: a live peercloud member refutes in its answer.
    fn try_failed_members(&mut self, now: Instant) {
        let due: Vec<PeerId> = self
            .tombstones
            .iter()
            .filter(|(_, t)| !t.left && t.next_try <= now)
            .map(|(id, _)| id.clone())
            .take(MAX_TRIES_PER_TICK)
            .collect();
        for id in due {
            let tries = self.tombstones.get(&id).map_or(0, |t| t.tries) + 1;
            let backoff = self.retry_backoff(tries);
            let Some(tomb) = self.tombstones.get_mut(&id) else {
                continue;
            };
            tomb.tries = tries;
            tomb.next_try = now + backoff;
            let to = tomb.member.address();
            let envelope = self.envelope_for(&id, true);
            let timeout = self.config.probe_timeout;
            let pending = Pending::Reprobe { target: id };
            self.call(now, to, Request::Status(envelope), timeout, pending);
        }
    }

    /// A failed member answered: a peercloud peer's refutation rides in
    /// its gossip (merged first hand); an original peer, which cannot
    /// refute, is taken back as it is.
    pub(super) fn on_reprobe_reply(&mut self, now: Instant, target: PeerId, result: CallResult) {
        let Ok(Response::Status(status)) = result else {
            return;
        };
        if status.id.as_ref() != Some(&target) || !self.is_running() {
            return;
        }
        let Some(tomb) = self.tombstones.get(&target).cloned() else {
            return;
        };
        match status.incarnation {
            Some(_) => {
                let source = Source::Reply { replier: &target };
                self.merge_envelope(now, status.gossip, source, None);
            }
            None => {
                let candidate = Candidate {
                    member: Arc::unwrap_or_clone(tomb.member),
                    incarnation: 0,
                    kind: Kind::Original,
                };
                self.insert_member(now, candidate, true);
            }
        }
    }
}
