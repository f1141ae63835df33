//! Leaving: goodbyes to every member, then closed.

use std::time::Instant;

use super::{Membership, Pending, Phase};
use crate::error::Refusal;
use crate::io::{Event, Request};
use crate::wire::LeftRequest;

impl Membership {
    /// Leaves the cloud: sends `/left` with this peer's id to every member
    /// and forgets them. [`Event::Closed`] follows when every member answered,
    /// or at `now + leave_timeout`, whichever comes first.
    pub fn leave(&mut self, now: Instant) {
        if matches!(self.phase, Phase::Leaving { .. } | Phase::Closed) {
            return;
        }
        self.refuse_waiting_joiners();
        let goodbye = LeftRequest {
            id: self.me.id.clone(),
        };
        let members = std::mem::take(&mut self.members);
        self.version += 1;
        let timeout = self.config.leave_timeout;
        for member in members.values() {
            let request = Request::Left(goodbye.clone());
            self.call(member.address(), request, timeout, Pending::Goodbye);
        }
        self.phase = Phase::Leaving {
            deadline: now + timeout,
        };
        self.on_goodbye_answered();
    }

    pub(super) fn on_goodbye_answered(&mut self) {
        let waiting = self.pending.values().any(|p| matches!(p, Pending::Goodbye));
        if matches!(self.phase, Phase::Leaving { .. }) && !waiting {
            self.finish_leaving();
        }
    }

    pub(super) fn finish_leaving(&mut self) {
        self.pending.clear();
        self.phase = Phase::Closed;
        self.emit(Event::Closed);
    }

    fn refuse_waiting_joiners(&mut self) {
        let tokens: Vec<_> = self
            .pending
            .values()
            .filter_map(|p| match p {
                Pending::JoinCheck { token, .. } => Some(*token),
                _ => None,
            })
            .collect();
        self.pending
            .retain(|_, p| !matches!(p, Pending::JoinCheck { .. }));
        for token in tokens {
            self.reply(token, Err(Refusal::ShuttingDown));
        }
    }
}
