//! Updating this peer's data, and putting this peer back into original
//! peers' lists. Peercloud members hear new data as gossip at a higher
//! incarnation (the newest wins). Original peers have no update message and
//! append a second entry on a second `/joined`, so this peer first takes
//! itself out of their lists (`/left` about itself, marked `rejoining` so
//! that peercloud peers ignore it) and then joins one of them again, which
//! tells the others with `/joined`. The same steps put it back after an
//! original peer evicted it.
//!
//! A round never starts while the `/joined` notices of this peer's last
//! join may still be on their way: a `/left` that overtook one would be
//! undone by it, and the next join would add a second entry beside it.

use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use serde_json::Value;

use super::table::{Candidate, Kind};
use super::{Membership, Pending, Timer};
use crate::io::{CallResult, Request, Response};
use crate::member::{Address, Member};
use crate::wire::{LeftRequest, STATUS_JOINED};

/// The state of putting this peer back into original peers' lists.
#[derive(Debug, Default)]
pub(super) struct Reintroducer {
    /// Whether it is under way.
    running: bool,
    /// Whether its `/join` is out: news after it needs another round,
    /// news before it rides on it.
    joining: bool,
    /// `/left` calls not answered yet.
    waiting: usize,
    /// Whether it must run once more when done (the data changed, or an
    /// original peer dropped this peer, after the `/join` went out).
    again: bool,
    /// Joins that failed in a row; it gives up after [`MAX_FAILED_JOINS`].
    failed_joins: u32,
    /// No round starts before this: the notices of this peer's last join
    /// may still be on their way.
    quiet_until: Option<Instant>,
    /// Whether a round waits for `quiet_until` (its timer is set).
    deferred: bool,
}

/// How many times in a row the join into original peers' lists is tried.
const MAX_FAILED_JOINS: u32 = 3;

/// How long an original peer's `/joined` notices may take: it gives every
/// request 1 s (`peer.js`), and sends them before it answers the `/join`.
const ORIGINAL_NOTICE_TIME: Duration = Duration::from_secs(1);

impl Membership {
    /// Gives this peer new data: its incarnation rises, every peercloud
    /// member is told at once, and original members through a leave and a
    /// join. The driver checks the size of `data` before.
    pub fn set_data(&mut self, now: Instant, data: Value) {
        if self.is_leaving() || data == self.me.data {
            return;
        }
        self.my_data = std::sync::Arc::new(data.clone());
        self.me.data = data;
        // Saturating, as in `refute`: only a forged accusation takes the
        // number this high.
        self.incarnation = self.incarnation.saturating_add(1);
        self.version += 1;
        if !self.is_running() {
            return;
        }
        let update = self.self_update();
        self.gossip.queue(update.clone());
        self.push_to_all(now, &update);
        self.reintroduce(now);
    }

    /// The members that may be original peers (a peercloud peer that is
    /// not known as one yet ignores the `rejoining` goodbye).
    fn plain_members(&self) -> Vec<Address> {
        self.members
            .values()
            .filter(|e| e.kind != Kind::Rust)
            .map(|e| e.member.address())
            .collect()
    }

    /// Takes this peer out of the original members' lists, then joins one
    /// of them again (see the module documentation).
    pub(super) fn reintroduce(&mut self, now: Instant) {
        if self.reintro.running {
            // A `/join` not sent yet carries the newest data, and puts this
            // peer back into the list of an original that dropped it.
            self.reintro.again |= self.reintro.joining;
            return;
        }
        if self.reintro.deferred {
            return;
        }
        if let Some(until) = self.reintro.quiet_until.filter(|until| now < *until) {
            self.reintro.deferred = true;
            self.timers.schedule(until, Timer::Reintroduce);
            return;
        }
        let plain = self.plain_members();
        if plain.is_empty() || !self.is_running() {
            return;
        }
        self.reintro.running = true;
        self.reintro.waiting = plain.len();
        let goodbye = LeftRequest {
            rejoining: true,
            ..LeftRequest::new(self.me.id.clone())
        };
        let timeout = self.config.call_timeout;
        for to in plain {
            let request = Request::Left(goodbye.clone());
            self.call(now, to, request, timeout, Pending::ReintroLeft);
        }
    }

    pub(super) fn on_reintro_left(&mut self, now: Instant) {
        self.reintro.waiting = self.reintro.waiting.saturating_sub(1);
        if self.reintro.waiting > 0 {
            return;
        }
        // A member known as an original peer if there is one: a peercloud
        // peer not known as one yet would refuse the join (it lists us).
        let originals: Vec<Address> = self
            .members
            .values()
            .filter(|e| e.kind == Kind::Original)
            .map(|e| e.member.address())
            .collect();
        let choices = if originals.is_empty() {
            self.plain_members()
        } else {
            originals
        };
        let Some(via) = choices.choose(&mut self.rng).cloned() else {
            return self.reintroduced(now);
        };
        let request = Request::Join(self.join_request());
        let timeout = self.config.join_timeout;
        self.reintro.joining = true;
        self.call(now, via, request, timeout, Pending::ReintroJoin);
    }

    /// The quiet time is over: the round that waited for it starts.
    pub(super) fn on_reintroduce_timer(&mut self, now: Instant) {
        self.reintro.deferred = false;
        self.reintroduce(now);
    }

    /// This peer was just admitted by a member, which is telling the
    /// others with `/joined` (an original peer within 1 s, a peercloud
    /// peer within a call timeout): no round starts before they landed.
    pub(super) fn joined_just_now(&mut self, now: Instant, via_original: bool) {
        let grace = if via_original {
            ORIGINAL_NOTICE_TIME
        } else {
            self.config.call_timeout
        };
        self.reintro.quiet_until = Some(now + grace);
    }

    /// The original peer's answer lists its members: any this peer missed
    /// is checked like any member learned second hand.
    pub(super) fn on_reintro_join(&mut self, now: Instant, result: CallResult) {
        self.reintro.joining = false;
        // Even a join that failed here (a timeout) may have been admitted.
        self.joined_just_now(now, true);
        let joined = matches!(&result, Ok(Response::Join(r)) if r.status == STATUS_JOINED);
        if joined {
            self.reintro.failed_joins = 0;
        } else {
            self.reintro.failed_joins += 1;
            self.reintro.again |= self.reintro.failed_joins < MAX_FAILED_JOINS;
        }
        if let Ok(Response::Join(reply)) = result {
            if joined && self.is_running() {
                for info in reply.peers {
                    if !self.members.contains_key(&info.id) && info.id != self.me.id {
                        let candidate = Candidate {
                            kind: Kind::of(info.incarnation),
                            incarnation: info.incarnation.unwrap_or(0),
                            member: Member::from(info),
                        };
                        self.check_candidate(now, candidate);
                    }
                }
            }
        }
        self.reintroduced(now);
    }

    fn reintroduced(&mut self, now: Instant) {
        self.reintro.running = false;
        if std::mem::take(&mut self.reintro.again) {
            self.reintroduce(now);
        }
    }
}
