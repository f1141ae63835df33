//! The read-only view of the membership that the driver publishes after
//! every change, so that readers (`cloud.peers()`, the HTTP handlers) never
//! wait for the driver.

use std::collections::HashMap;
use std::sync::Arc;

use peercloud_core::wire::{PeersReply, StatusReply};
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
    /// What `/peers` answers.
    peers: PeersReply,
    /// The members, ordered by id.
    pub(crate) members: Vec<Arc<Member>>,
    /// Whether each member (at the same index) is alive or suspected.
    states: Vec<MemberState>,
    by_id: HashMap<PeerId, usize>,
}

impl Snapshot {
    /// Takes a snapshot of the core.
    pub(crate) fn of(core: &Membership) -> Self {
        let members: Vec<Arc<Member>> = core.members().cloned().map(Arc::new).collect();
        let by_id = members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.id.clone(), i))
            .collect();
        let states = members
            .iter()
            .map(|m| core.member_state(&m.id).unwrap_or(MemberState::Alive))
            .collect();
        Snapshot {
            id: core.id().clone(),
            data: Arc::new(core.identity().data.clone()),
            status: core.status(),
            peers: core.peers_reply(),
            members,
            states,
            by_id,
        }
    }

    /// A member by id.
    pub(crate) fn member(&self, id: &PeerId) -> Option<&Arc<Member>> {
        self.by_id.get(id).map(|&i| &self.members[i])
    }

    /// Whether a member is alive or suspected; `None` for a non-member.
    pub(crate) fn state(&self, id: &PeerId) -> Option<MemberState> {
        self.by_id.get(id).map(|&i| self.states[i])
    }

    /// What `/peers` answers.
    pub(crate) fn peers_reply(&self) -> &PeersReply {
        &self.peers
    }
}
