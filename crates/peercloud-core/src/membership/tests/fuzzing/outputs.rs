//! The checks of what a step put out, and of what follows from it across
//! steps: calls and replies as the other side reads them, the events as an
//! application follows them, the version against what a driver publishes,
//! incarnations that only rise.

use std::collections::BTreeMap;

use serde_json::Value;

use super::run::{Made, Run};
use crate::error::Refusal;
use crate::id::PeerId;
use crate::io::{Action, Event, Request};
use crate::member::Member;
use crate::membership::{MemberState, Membership};
use crate::wire::{decode_reply, decode_request, encode_reply, encode_request, StatusReply};

type Checked = Result<(), String>;

/// What the driver publishes after a step (its snapshot: this peer, its
/// status, its members): `version()` must change when any of it does, or
/// the published snapshot goes stale. A member's kind is left out: a probe
/// learns it, and the `/peers` answer shows incarnations by it, but the
/// version does not move for it (anti-entropy takes every new version for
/// a list still changing).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Published {
    id: PeerId,
    data: Value,
    incarnation: u64,
    status: StatusReply,
    members: Vec<(Member, u64, MemberState)>,
}

impl Published {
    pub(super) fn of(core: &Membership) -> Self {
        Published {
            id: core.id().clone(),
            data: core.identity().data.clone(),
            incarnation: core.incarnation(),
            status: core.status(),
            members: core
                .members
                .values()
                .map(|e| (Member::clone(&e.member), e.incarnation, e.state()))
                .collect(),
        }
    }
}

impl Run {
    /// Calls: each id new, a timeout within bounds, a body the other side
    /// reads as sent, and after a leave only its goodbyes. Replies: one per
    /// request, of the request's kind, readable by the other side.
    pub(super) fn take_action(&mut self, action: &Action) -> Checked {
        match action {
            Action::Call {
                call,
                to,
                request,
                timeout,
            } => {
                if self.last_call.is_some_and(|last| *call <= last) {
                    return Err(format!("{call:?} asked for after {:?}", self.last_call));
                }
                self.last_call = Some(*call);
                if timeout.is_zero() || *timeout > self.max_timeout {
                    return Err(format!("{call:?} with timeout {timeout:?}"));
                }
                let goodbye = matches!(request, Request::Left(l) if l.id == *self.core.id());
                if self.left && !(self.leaving_now && goodbye) {
                    return Err(format!("after leaving, a call to {to}: {request:?}"));
                }
                let read = decode_request(request.path(), &encode_request(request));
                if read.as_ref() != Ok(request) {
                    return Err(format!("{request:?} reads back as {read:?}"));
                }
                let made = Made {
                    to: to.clone(),
                    path: request.path(),
                    deadline: self.now + *timeout,
                };
                self.calls.insert(*call, made);
            }
            Action::Reply { token, reply } => {
                let Some(path) = self.waiting.remove(token) else {
                    return Err(format!("a reply to {token:?}, never given or replied to"));
                };
                if let Ok(response) = reply {
                    let read = decode_reply(path, &encode_reply(response));
                    if read.as_ref() != Ok(response) {
                        return Err(format!("reply to {path}: {response:?} reads as {read:?}"));
                    }
                }
                if let Err(Refusal::CheckFailed(_) | Refusal::CheckTimedOut) = reply {
                    if path != "/join" {
                        return Err(format!("a joiner's check failed for {path}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Events tell an application the member list: a member joins when
    /// not a member (joiners admitted while this peer joins come before
    /// `Started`), and leaves, is suspected, refutes or changes data when
    /// it is one; started at most once (a leave may end a start that never
    /// finished), no join after `leave`, nothing after `Closed`.
    pub(super) fn take_event(&mut self, event: &Event) -> Checked {
        if self.closed {
            return Err(format!("{event:?} after Closed"));
        }
        let known = |view: &BTreeMap<PeerId, _>, id: &PeerId| {
            if view.contains_key(id) {
                Ok(())
            } else {
                Err(format!("{event:?} about a peer that is not a member"))
            }
        };
        match event {
            // A failed seed is told only while starting.
            Event::SeedFailed { .. } if self.started => {
                return Err(format!("{event:?} after the start"))
            }
            Event::SeedFailed { .. } => {}
            Event::Started(_) if self.started => return Err("started twice".into()),
            Event::Started(_) => self.started = true,
            Event::PeerJoined(_) if self.left => return Err(format!("{event:?} after leave")),
            Event::PeerJoined(m) => {
                if self.view.contains_key(&m.id) {
                    return Err(format!("{} joined twice", m.id));
                }
                self.view
                    .insert(m.id.clone(), ((*m.data).clone(), MemberState::Alive));
            }
            Event::PeerSuspected(m) | Event::PeerAlive(m) => {
                known(&self.view, &m.id)?;
                let state = match event {
                    Event::PeerSuspected(_) => MemberState::Suspected,
                    _ => MemberState::Alive,
                };
                self.view.insert(m.id.clone(), ((*m.data).clone(), state));
            }
            Event::PeerUpdated(m) => {
                known(&self.view, &m.id)?;
                if let Some(entry) = self.view.get_mut(&m.id) {
                    entry.0 = (*m.data).clone();
                }
            }
            Event::PeerLeft { member, .. } => {
                known(&self.view, &member.id)?;
                self.view.remove(&member.id);
                // Back later, it may be at any incarnation (an original
                // peer has none).
                self.incarnations.remove(&member.id);
            }
            Event::Closed if !self.left => return Err("closed without a leave".into()),
            Event::Closed => {
                self.closed = true;
                self.view.clear();
            }
        }
        Ok(())
    }

    /// An application that follows the events knows every member with its
    /// data and state (until the leave, which forgets them all at once).
    pub(super) fn the_view_matches_the_members(&self) -> Checked {
        if self.left {
            return Ok(());
        }
        let members: BTreeMap<PeerId, (Value, MemberState)> = self
            .core
            .members
            .iter()
            .map(|(id, e)| (id.clone(), ((*e.member.data).clone(), e.state())))
            .collect();
        if members != self.view {
            return Err(format!(
                "the events tell {:?}, the members are {members:?}",
                self.view
            ));
        }
        Ok(())
    }

    /// `version`: "changes whenever the member list, a member's state,
    /// this peer's id, data or incarnation changes", so a driver knows when
    /// to publish: what it publishes must not change behind an old version.
    pub(super) fn published_changes_bump_the_version(&mut self) -> Checked {
        let version = self.core.version();
        let now = Published::of(&self.core);
        if version < self.published.0 {
            return Err(format!("version went down to {version}"));
        }
        if version == self.published.0 && now != self.published.1 {
            return Err(format!(
                "published state changed at version {version}: was {:?}, is {now:?}",
                self.published.1
            ));
        }
        self.published = (version, now);
        Ok(())
    }

    /// Incarnations only rise: "an incarnation only its member raises",
    /// this peer's own included (whatever id a seed gives it).
    pub(super) fn incarnations_never_go_down(&mut self) -> Checked {
        let mine = self.core.incarnation();
        if mine < self.incarnation {
            return Err(format!(
                "this peer's incarnation went from {} to {mine}",
                self.incarnation
            ));
        }
        self.incarnation = mine;
        let now: BTreeMap<PeerId, u64> = self
            .core
            .members
            .iter()
            .map(|(id, e)| (id.clone(), e.incarnation))
            .collect();
        for (id, incarnation) in &now {
            if let Some(before) = self.incarnations.get(id).filter(|b| *b > incarnation) {
                return Err(format!(
                    "{id}'s incarnation went from {before} to {incarnation}"
                ));
            }
        }
        self.incarnations = now;
        Ok(())
    }
}
