//! What the simulator drives: the sans-IO shape of the core (`handle_*`
//! in, `poll_*` out, `now` passed in), as a trait, so that the real core
//! and the model of the original run on the same network, faults and
//! codec. Touches nothing but the membership it wraps.

use std::fmt;
use std::time::Instant;

use peercloud_core::{
    Action, Address, CallId, CallResult, Config, Event, Identity, Member, Membership, Origin,
    PeerId, ReplyToken, Request,
};

/// The rules one simulated peer follows: a sans-IO membership state
/// machine with the interface of [`Membership`]. Every request and reply
/// it takes and gives goes through the wire codec on the way.
pub trait Protocol: fmt::Debug + Sized {
    /// What every peer of one simulation is configured with.
    type Config: Clone + fmt::Debug;

    /// A peer that is not started yet; `rng_seed` seeds its own random
    /// choices.
    fn create(identity: Identity, config: &Self::Config, rng_seed: u64) -> Self;

    /// Its id now (a seed may replace it when it joins).
    fn id(&self) -> &PeerId;

    /// Starts it, joining through `seeds` (none: a cloud of its own).
    fn start(&mut self, now: Instant, seeds: Vec<Address>);

    /// It leaves the cloud properly.
    fn leave(&mut self, now: Instant);

    /// A request from another peer; its reply comes out of
    /// [`Protocol::poll_action`] with the same `token`.
    fn handle_request(&mut self, now: Instant, token: ReplyToken, origin: Origin, request: Request);

    /// The result of one of its calls.
    fn handle_response(&mut self, now: Instant, call: CallId, result: CallResult);

    /// Runs what is due at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// The next call to make or reply to give.
    fn poll_action(&mut self) -> Option<Action>;

    /// The next event.
    fn poll_event(&mut self) -> Option<Event>;

    /// When [`Protocol::handle_timeout`] must be called next.
    fn poll_timeout(&self) -> Option<Instant>;

    /// Whether it has finished leaving.
    fn is_closed(&self) -> bool;

    /// Whether it lists a member with this id.
    fn lists(&self, id: &PeerId) -> bool;

    /// Every entry of its list, in any order, duplicates included (the
    /// original keeps them).
    fn members(&self) -> impl Iterator<Item = &Member>;

    /// How many entries its list has, duplicates included.
    fn member_count(&self) -> usize;
}

/// The real core, unchanged: each method is the inherent one.
impl Protocol for Membership {
    type Config = Config;

    fn create(identity: Identity, config: &Config, rng_seed: u64) -> Self {
        Membership::new(identity, config.clone(), rng_seed)
    }

    fn id(&self) -> &PeerId {
        Membership::id(self)
    }

    fn start(&mut self, now: Instant, seeds: Vec<Address>) {
        Membership::start(self, now, seeds)
    }

    fn leave(&mut self, now: Instant) {
        Membership::leave(self, now)
    }

    fn handle_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        request: Request,
    ) {
        Membership::handle_request(self, now, token, origin, request)
    }

    fn handle_response(&mut self, now: Instant, call: CallId, result: CallResult) {
        Membership::handle_response(self, now, call, result)
    }

    fn handle_timeout(&mut self, now: Instant) {
        Membership::handle_timeout(self, now)
    }

    fn poll_action(&mut self) -> Option<Action> {
        Membership::poll_action(self)
    }

    fn poll_event(&mut self) -> Option<Event> {
        Membership::poll_event(self)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Membership::poll_timeout(self)
    }

    fn is_closed(&self) -> bool {
        Membership::is_closed(self)
    }

    fn lists(&self, id: &PeerId) -> bool {
        Membership::member(self, id).is_some()
    }

    fn members(&self) -> impl Iterator<Item = &Member> {
        Membership::members(self)
    }

    fn member_count(&self) -> usize {
        Membership::members(self).len()
    }
}
