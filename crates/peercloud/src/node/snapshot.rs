//! The read-only view of the membership that the driver publishes after
//! every change, so that readers (`cloud.peers()`, the HTTP handlers) never
//! wait for the driver.
//!
//! A peer of a cloud of a thousand publishes hundreds of times while the
//! cloud forms, so a snapshot costs one pass over the members and no copy
//! of the ones that did not change: they are shared with the previous
//! snapshot, and the `/peers` answer is made only when asked for.

use std::sync::Arc;

use peercloud_core::wire::{PeerInfo, PeersReply, StatusReply};
use peercloud_core::{Member, MemberState, Membership, PeerId};
use serde_json::Value;

/// One published state of the membership.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// This peer's id.
    pub(crate) id: PeerId,
    /// This peer's data.
    pub(crate) data: Arc<Value>,
    /// What `/status` answers to a request without gossip.
    pub(crate) status: StatusReply,
    /// The members, ordered by id.
    pub(crate) members: Vec<Arc<Member>>,
    /// Whether each member (at the same index) is alive or suspected.
    states: Vec<MemberState>,
    /// Each member's incarnation, for a peercloud peer.
    incarnations: Vec<Option<u64>>,
}

impl Snapshot {
    /// Takes a snapshot of the core, sharing with `previous` the members
    /// that did not change.
    pub(crate) fn of(core: &Membership, previous: Option<&Snapshot>) -> Self {
        let records = core.member_records();
        let mut members = Vec::with_capacity(records.len());
        let mut states = Vec::with_capacity(records.len());
        let mut incarnations = Vec::with_capacity(records.len());
        // Both lists are ordered by id: one walk pairs them.
        let mut old = previous
            .map_or(&[][..], |p| &p.members[..])
            .iter()
            .peekable();
        for (member, state, incarnation) in records {
            while old.next_if(|o| o.id < member.id).is_some() {}
            let shared = old.next_if(|o| ***o == *member).cloned();
            members.push(shared.unwrap_or_else(|| Arc::new(member.clone())));
            states.push(state);
            incarnations.push(incarnation);
        }
        Snapshot {
            id: core.id().clone(),
            data: Arc::new(core.identity().data.clone()),
            status: core.status(),
            members,
            states,
            incarnations,
        }
    }

    fn index(&self, id: &PeerId) -> Option<usize> {
        self.members.binary_search_by(|m| m.id.cmp(id)).ok()
    }

    /// A member by id.
    pub(crate) fn member(&self, id: &PeerId) -> Option<&Arc<Member>> {
        self.index(id).map(|i| &self.members[i])
    }

    /// Whether a member is alive or suspected; `None` for a non-member.
    pub(crate) fn state(&self, id: &PeerId) -> Option<MemberState> {
        self.index(id).map(|i| self.states[i])
    }

    /// What `/peers` answers.
    pub(crate) fn peers_reply(&self) -> PeersReply {
        let infos = self
            .members
            .iter()
            .zip(&self.incarnations)
            .map(|(member, incarnation)| PeerInfo::of(member, *incarnation));
        PeersReply::of(&self.id, &self.data, infos)
    }
}
