//! `/joined` and `/left` notices from other members.

use super::{Membership, Phase};
use crate::error::Refusal;
use crate::id::PeerId;
use crate::io::{Event, LeftReason, Origin, ReplyToken, Request, Response};
use crate::member::Member;
use crate::wire::{Ack, LeftRequest, PeerInfo, STATUS_ADDED, STATUS_REMOVED};

impl Membership {
    pub(super) fn on_joined_request(&mut self, token: ReplyToken, origin: Origin, info: PeerInfo) {
        let ack = Response::Joined(Ack {
            status: STATUS_ADDED.to_owned(),
        });
        self.on_notice(token, origin, Request::Joined(info), ack);
    }

    pub(super) fn on_left_request(&mut self, token: ReplyToken, origin: Origin, left: LeftRequest) {
        let ack = Response::Left(Ack {
            status: STATUS_REMOVED.to_owned(),
        });
        self.on_notice(token, origin, Request::Left(left), ack);
    }

    fn on_notice(&mut self, token: ReplyToken, origin: Origin, notice: Request, ack: Response) {
        if matches!(self.phase, Phase::Leaving { .. } | Phase::Closed) {
            return self.reply(token, Err(Refusal::ShuttingDown));
        }
        let sender = match self.check_sender(&origin) {
            Ok(sender) => sender,
            Err(refusal) => return self.reply(token, Err(refusal)),
        };
        if self.members.contains_key(&sender) {
            self.apply_notice(&sender, notice);
        } else {
            // Only possible while joining: the sender may be the seed whose
            // reply has not arrived yet.
            self.keep_early_notice(sender, notice);
        }
        self.reply(token, Ok(ack));
    }

    /// Applies a notice from a known member.
    pub(super) fn apply_notice(&mut self, sender: &PeerId, notice: Request) {
        match notice {
            Request::Joined(info) => {
                self.insert_member(Member::from(info));
            }
            Request::Left(left) => self.on_member_gone(sender, &left.id),
            Request::Join(_) | Request::Status | Request::Peers => {}
        }
    }

    fn on_member_gone(&mut self, sender: &PeerId, gone: &PeerId) {
        if *gone == self.me.id {
            // Another member thinks this peer failed. Staying is right (it is
            // alive); rejoining the members that dropped it comes later.
            return;
        }
        if let Some(member) = self.remove_member(gone) {
            let reason = if sender == gone {
                LeftReason::Left
            } else {
                LeftReason::Failed {
                    detected_by: Some(sender.clone()),
                }
            };
            self.emit(Event::PeerLeft { member, reason });
        }
    }
}
