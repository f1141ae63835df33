//! Rejoining: a running peer that has no member tries its seeds again, one
//! every `rejoin_interval`, so that a peer started before its seeds, left
//! alone by its cloud, or dropped by every member finds the cloud again.
//! (The original starts alone for good when its seeds do not answer.)

use std::time::Instant;

use super::{Membership, Pending, Phase};
use crate::io::{CallResult, Request, Response};
use crate::member::Address;
use crate::wire::{JoinRequest, STATUS_JOINED};

/// The seeds to try again, and when.
#[derive(Debug, Default)]
pub(super) struct Rejoiner {
    /// The seeds given at start, but for those found to be this peer.
    seeds: Vec<Address>,
    /// Which seed is tried next (an index into `seeds`, wrapping).
    next_seed: usize,
    /// When the next attempt is due, while the peer has no member.
    next_attempt: Option<Instant>,
    /// Whether an attempt is under way.
    in_flight: bool,
    /// Whether this peer received its own `/join` since the last attempt
    /// began: the seed it is trying is itself.
    saw_own_join: bool,
}

impl Rejoiner {
    /// Remembers the seeds (in the order the join tried them).
    pub(super) fn begin(&mut self, seeds: &[Address]) {
        self.seeds = seeds.to_vec();
    }

    /// When `handle_timeout` must run for the next attempt, if one is due
    /// some day.
    pub(super) fn next_attempt(&self) -> Option<Instant> {
        self.next_attempt.filter(|_| !self.seeds.is_empty())
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
    /// Schedules attempts while the peer has no member, and stops them
    /// when it has one. Called whenever the peer may have become alone.
    pub(super) fn schedule_rejoin(&mut self, now: Instant) {
        let alone = self.members.is_empty() && matches!(self.phase, Phase::Running);
        match (alone, self.rejoiner.next_attempt) {
            (true, None) => {
                self.rejoiner.next_attempt = Some(now + self.config.rejoin_interval);
            }
            (false, Some(_)) => self.rejoiner.next_attempt = None,
            _ => {}
        }
    }

    /// Tries the next seed if an attempt is due.
    pub(super) fn on_rejoin_tick(&mut self, now: Instant) {
        self.schedule_rejoin(now);
        let Some(due) = self.rejoiner.next_attempt() else {
            return;
        };
        if now < due || self.rejoiner.in_flight {
            return;
        }
        self.rejoiner.next_attempt = Some(now + self.config.rejoin_interval);
        let seed = self.rejoiner.seeds[self.rejoiner.next_seed % self.rejoiner.seeds.len()].clone();
        self.rejoiner.next_seed = self.rejoiner.next_seed.wrapping_add(1);
        self.rejoiner.in_flight = true;
        self.rejoiner.attempt_started();
        let request = Request::Join(self.join_request());
        let timeout = self.config.join_timeout;
        self.call(seed.clone(), request, timeout, Pending::Rejoin { seed });
    }

    pub(super) fn on_rejoin_reply(&mut self, now: Instant, seed: Address, result: CallResult) {
        self.rejoiner.in_flight = false;
        if !matches!(self.phase, Phase::Running) {
            return;
        }
        match result {
            Ok(Response::Join(reply)) if reply.status == STATUS_JOINED => {
                // Members may have joined through this peer meanwhile: the
                // merge introduces them to the cloud it joins.
                self.merge_cloud(seed, reply);
                self.schedule_rejoin(now);
            }
            _ => self.rejoiner.attempt_failed(&seed),
        }
    }

    /// What this peer sends to a seed.
    pub(super) fn join_request(&self) -> JoinRequest {
        JoinRequest {
            id: Some(self.me.id.clone()),
            ip: self.me.advertise.clone(),
            port: Some(self.me.port),
            data: Some(self.me.data.clone()),
        }
    }
}
