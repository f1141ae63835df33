//! `/joined` and `/left` notices from other members: the plain protocol's
//! way of telling news. A goodbye (`/left` about its own sender) is final;
//! a `/left` about a third peer is an accusation that this peer checks
//! before it believes it (original peers evict on one failed probe).

use std::time::Instant;

use super::table::{Candidate, Kind};
use super::{Membership, Phase};
use crate::error::Refusal;
use crate::id::PeerId;
use crate::io::{Origin, ReplyToken, Request, Response};
use crate::member::Member;
use crate::wire::{Ack, LeftRequest, PeerInfo, STATUS_ADDED, STATUS_REMOVED};

impl Membership {
    pub(super) fn on_joined_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        info: PeerInfo,
    ) {
        let ack = Response::Joined(Ack {
            status: STATUS_ADDED.to_owned(),
        });
        self.on_notice(now, token, origin, Request::Joined(info), ack);
    }

    pub(super) fn on_left_request(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        left: LeftRequest,
    ) {
        let ack = Response::Left(Ack {
            status: STATUS_REMOVED.to_owned(),
        });
        self.on_notice(now, token, origin, Request::Left(left), ack);
    }

    fn on_notice(
        &mut self,
        now: Instant,
        token: ReplyToken,
        origin: Origin,
        notice: Request,
        ack: Response,
    ) {
        if matches!(self.phase, Phase::Leaving | Phase::Closed) {
            return self.reply(token, Err(Refusal::ShuttingDown));
        }
        let sender = match self.check_sender(&origin) {
            Ok(sender) => sender,
            Err(refusal) => return self.reply(token, Err(refusal)),
        };
        if self.members.contains_key(&sender) {
            self.apply_notice(now, &sender, notice);
        } else {
            // Only possible while joining: the sender may be the seed whose
            // reply has not arrived yet.
            self.keep_early_notice(sender, notice);
        }
        self.reply(token, Ok(ack));
    }

    /// Applies a notice from a known member.
    pub(super) fn apply_notice(&mut self, now: Instant, sender: &PeerId, notice: Request) {
        match notice {
            Request::Joined(info) => self.on_joined_notice(now, info),
            Request::Left(left) => self.on_left_notice(now, sender, left),
            _ => {}
        }
    }

    /// A member joined through `sender`, which checked it: it is added (a
    /// duplicate notice only updates a newer incarnation). A member that
    /// failed or left here comes back only with a newer incarnation, or
    /// through an original peer (which sends none: the member joined it
    /// again just now).
    fn on_joined_notice(&mut self, now: Instant, info: PeerInfo) {
        if let Some(tomb) = self.tombstones.get(&info.id) {
            if info.incarnation.is_some_and(|inc| inc <= tomb.incarnation) {
                return;
            }
        }
        let candidate = Candidate {
            kind: Kind::of(info.incarnation),
            incarnation: info.incarnation.unwrap_or(0),
            member: Member::from(info),
        };
        self.insert_member(now, candidate, true);
    }

    fn on_left_notice(&mut self, now: Instant, sender: &PeerId, left: LeftRequest) {
        if left.id == self.me.id {
            // Another member thinks this peer failed; it is alive, and its
            // probes of that member will show it.
            return;
        }
        if *sender == left.id {
            // A goodbye is final, unless the member only steps out of the
            // original peers' lists to step in again with new data.
            if !left.rejoining {
                self.member_left(now, &left.id);
            }
            return;
        }
        self.verify(now, &left.id, sender.clone());
    }
}
