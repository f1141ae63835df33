//! Leaving: goodbyes to every member, then closed.

use std::time::Instant;

use super::{Membership, Pending, Phase, Timer};
use crate::error::Refusal;
use crate::io::{Event, Request};
use crate::wire::LeftRequest;

impl Membership {
    /// Leaves the cloud: sends `/left` with this peer's id to every member
    /// and forgets them. [`Event::Closed`] follows when every member answered,
    /// or at `now + leave_timeout`, whichever comes first.
    pub fn leave(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Leaving | Phase::Closed) {
            return;
        }
        self.refuse_waiting_callers();
        let goodbye = LeftRequest::new(self.me.id.clone());
        let members = self.members.take();
        self.version += 1;
        self.timers.clear();
        let timeout = self.config.leave_timeout;
        for entry in members.values() {
            let request = Request::Left(goodbye.clone());
            self.goodbyes += 1;
            self.call(
                now,
                entry.member.address(),
                request,
                timeout,
                Pending::Goodbye,
            );
        }
        self.phase = Phase::Leaving;
        self.timers.schedule(now + timeout, Timer::Leave);
        self.on_goodbye_answered_after(0);
    }

    pub(super) fn on_goodbye_answered(&mut self) {
        self.on_goodbye_answered_after(1);
    }

    fn on_goodbye_answered_after(&mut self, answered: usize) {
        self.goodbyes = self.goodbyes.saturating_sub(answered);
        if matches!(self.phase, Phase::Leaving) && self.goodbyes == 0 {
            self.finish_leaving();
        }
    }

    pub(super) fn finish_leaving(&mut self) {
        self.pending.clear();
        self.gossip.forget_rounds();
        self.timers.clear();
        self.phase = Phase::Closed;
        self.emit(Event::Closed);
    }

    /// Answers every request still waiting on a call (joiners being
    /// checked, indirect probes relayed): this peer is going away.
    fn refuse_waiting_callers(&mut self) {
        let tokens = self.pending.take_waiting();
        self.checking.clear();
        for token in tokens {
            self.reply(token, Err(Refusal::ShuttingDown));
        }
    }
}
