//! The read-only view of the membership that the driver publishes after
//! every change, so that readers (`cloud.peers()`, the HTTP handlers) never
//! wait for the driver.
//!
//! A peer of a cloud of a thousand publishes hundreds of times while the
//! cloud forms, so a snapshot costs one pass over the members and no copy
//! of the ones that did not change: they are shared with the previous
//! snapshot, and the `/peers` answer is made only when asked for.

use std::sync::Arc;

use peercloud_core::wire::{record_hash, PeersReply, PeersRequest, StatusReply};
use peercloud_core::{Member, MemberState, Membership, PeerId};
use serde_json::Value;

use crate::http::client::IdHeader;
use crate::metrics::MemberCounts;

/// One published state of the membership.
#[derive(Debug)]
pub(crate) struct Snapshot {
    /// This peer's id.
    pub(crate) id: PeerId,
    /// The same as the header of its requests, made once per snapshot.
    pub(crate) id_header: IdHeader,
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
    /// Each member's record hash, as a pull names it.
    hashes: Vec<u64>,
    /// Whether a member of the previous snapshot is gone or changed (so
    /// that what is kept per member address may need sweeping).
    pub(crate) departed: bool,
}

/// The previous snapshot's members, as a new one walks them.
#[derive(Default)]
struct Old<'a> {
    members: &'a [Arc<Member>],
    incarnations: &'a [Option<u64>],
    hashes: &'a [u64],
}

impl Snapshot {
    /// Takes a snapshot of the core. The members are the core's own
    /// records, shared (a reference count each, no copy); `previous` is
    /// only compared with, to tell whether a member departed or changed.
    pub(crate) fn of(core: &Membership, previous: Option<&Snapshot>) -> Self {
        let records = core.member_records();
        let mut members = Vec::with_capacity(records.len());
        let mut states = Vec::with_capacity(records.len());
        let mut incarnations = Vec::with_capacity(records.len());
        let mut hashes = Vec::with_capacity(records.len());
        // Both lists are ordered by id: one walk pairs them.
        let old = previous.map_or(Old::default(), |p| Old {
            members: &p.members,
            incarnations: &p.incarnations,
            hashes: &p.hashes,
        });
        let mut at = 0;
        let mut departed = false;
        for (member, state, incarnation) in records {
            // A member that did not change is the very record the previous
            // snapshot holds (the core replaces a record, never edits it):
            // one comparison of pointers, and its hash is kept. The ids,
            // each behind two pointers, are read only past a change;
            // reading them for every member was most of a snapshot's cost
            // while a cloud of a thousand formed, and hashing them for
            // every pull answered was as much again.
            let mut hash = None;
            if old.members.get(at).is_some_and(|o| Arc::ptr_eq(o, member)) {
                hash = (old.incarnations[at] == incarnation).then_some(old.hashes[at]);
                at += 1;
            } else {
                while old.members.get(at).is_some_and(|o| o.id < member.id) {
                    departed = true;
                    at += 1;
                }
                if let Some(o) = old.members.get(at).filter(|o| o.id == member.id) {
                    departed |= !Arc::ptr_eq(o, member) && **o != **member;
                    at += 1;
                }
            }
            let hash = hash.unwrap_or_else(|| record_hash(&member.id, incarnation.unwrap_or(0)));
            members.push(member.clone());
            states.push(state);
            incarnations.push(incarnation);
            hashes.push(hash);
        }
        departed |= at < old.members.len();
        Snapshot {
            id: core.id().clone(),
            id_header: IdHeader::of(core.id()),
            data: Arc::new(core.identity().data.clone()),
            status: core.status(),
            members,
            states,
            incarnations,
            hashes,
            departed,
        }
    }

    /// The members by state.
    pub(crate) fn member_counts(&self) -> MemberCounts {
        let suspected = self
            .states
            .iter()
            .filter(|s| **s == MemberState::Suspected)
            .count() as u64;
        MemberCounts {
            alive: self.members.len() as u64 - suspected,
            suspected,
        }
    }

    fn index(&self, id: &PeerId) -> Option<usize> {
        self.members.binary_search_by(|m| m.id.cmp(id)).ok()
    }

    /// A member by id.
    pub(crate) fn member(&self, id: &PeerId) -> Option<&Arc<Member>> {
        self.index(id).map(|i| &self.members[i])
    }

    /// A member by its id as a string (read off a request, and not made
    /// into a `PeerId` unless it is unknown).
    pub(crate) fn member_named(&self, id: &str) -> Option<&Arc<Member>> {
        self.members
            .binary_search_by(|m| m.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.members[i])
    }

    /// Whether a member is alive or suspected; `None` for a non-member.
    pub(crate) fn state(&self, id: &PeerId) -> Option<MemberState> {
        self.index(id).map(|i| self.states[i])
    }

    /// What `/peers` answers to `request`.
    pub(crate) fn peers_reply(&self, request: &PeersRequest) -> PeersReply {
        let members = (self
            .members
            .iter()
            .zip(&self.incarnations)
            .zip(&self.hashes))
        .map(|((member, incarnation), hash)| (&**member, *incarnation, *hash));
        let incarnation = self.status.incarnation.unwrap_or(0);
        PeersReply::answer(&self.id, incarnation, &self.data, members, request)
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Instant;

    use peercloud_core::wire::{Envelope, JoinRequest, LeftRequest, Update, UpdateKind};
    use peercloud_core::{Action, Config, Identity, Origin, ReplyToken, Request, Response};
    use serde_json::json;

    use super::*;

    /// A running core whose members joined through it, each `(id, port)`.
    fn core_with(members: &[(&str, u16)]) -> Membership {
        let me = Identity {
            id: PeerId::parse("me").expect("an id"),
            port: 9000,
            advertise: None,
            data: json!({}),
        };
        let mut core = Membership::new(me, Config::new_lan(), 7);
        let now = Instant::now();
        core.start(now, Vec::new());
        for (n, (id, port)) in members.iter().enumerate() {
            let join = JoinRequest {
                id: Some(PeerId::parse(id).expect("an id")),
                port: Some(*port),
                ..JoinRequest::default()
            };
            let origin = Origin {
                sender: None,
                remote: IpAddr::V4(Ipv4Addr::LOCALHOST),
            };
            core.handle_request(now, ReplyToken(n as u64), origin, Request::Join(join));
            let status = json!({"id": id, "incarnation": 0});
            let status = serde_json::from_value(status).expect("a status");
            let check = std::iter::from_fn(|| core.poll_action()).find_map(|a| match a {
                Action::Call { call, .. } => Some(call),
                Action::Reply { .. } => None,
            });
            let check = check.expect("the joiner's check");
            core.handle_response(now, check, Ok(Response::Status(status)));
            while core.poll_action().is_some() {}
        }
        assert_eq!(core.members().len(), members.len(), "every joiner admitted");
        core
    }

    #[test]
    fn a_snapshot_after_joins_shares_the_cores_records_and_has_no_departure() {
        let before = Snapshot::of(&core_with(&[("b", 2)]), None);
        let core = core_with(&[("a", 1), ("b", 2), ("c", 3)]);
        let after = Snapshot::of(&core, Some(&before));
        assert!(!after.departed);
        let b = PeerId::parse("b").expect("an id");
        let record = core
            .member_records()
            .find(|(m, _, _)| m.id == b)
            .map(|(m, _, _)| m)
            .expect("b in the core");
        let shared = Arc::ptr_eq(record, after.member(&b).expect("b after"));
        assert!(shared, "the member is the core's record, not a copy");
    }

    #[test]
    fn a_snapshot_without_a_member_of_the_previous_has_a_departure() {
        let all = Snapshot::of(&core_with(&[("a", 1), ("b", 2), ("c", 3)]), None);
        for gone in [
            &[("b", 2), ("c", 3)],
            &[("a", 1), ("c", 3)],
            &[("a", 1), ("b", 2)],
        ] {
            let after = Snapshot::of(&core_with(gone), Some(&all));
            assert!(after.departed, "{gone:?} after a, b and c");
        }
    }

    #[test]
    fn a_snapshot_of_the_same_core_tells_a_member_gone_between_records_it_shares() {
        let ids = ["a", "b", "c"];
        for gone in ids {
            let mut core = core_with(&[("a", 1), ("b", 2), ("c", 3)]);
            let before = Snapshot::of(&core, None);
            let origin = Origin {
                sender: Some(PeerId::parse(gone).expect("an id")),
                remote: IpAddr::V4(Ipv4Addr::LOCALHOST),
            };
            let goodbye = LeftRequest::new(PeerId::parse(gone).expect("an id"));
            core.handle_request(
                Instant::now(),
                ReplyToken(99),
                origin,
                Request::Left(goodbye),
            );
            while core.poll_action().is_some() {}
            let after = Snapshot::of(&core, Some(&before));
            let left: Vec<&str> = after.members.iter().map(|m| m.id.as_str()).collect();
            let stayed: Vec<&str> = ids.into_iter().filter(|id| *id != gone).collect();
            assert_eq!(left, stayed, "{gone} said goodbye");
            assert!(after.departed, "{gone} left between records shared");
            let unchanged = Snapshot::of(&core, Some(&after));
            assert!(!unchanged.departed, "nothing changed since {gone} left");
        }
    }

    #[test]
    fn a_snapshot_where_a_member_moved_has_a_departure() {
        let before = Snapshot::of(&core_with(&[("a", 1), ("b", 2)]), None);
        let after = Snapshot::of(&core_with(&[("a", 1), ("b", 5)]), Some(&before));
        assert!(after.departed);
    }

    /// Whether each record hash of `snapshot` is its record's.
    fn hashes_are_the_records(snapshot: &Snapshot) -> bool {
        let records = snapshot.members.iter().zip(&snapshot.incarnations);
        let hashes = records.map(|(m, inc)| record_hash(&m.id, inc.unwrap_or(0)));
        hashes.eq(snapshot.hashes.iter().copied())
    }

    #[test]
    fn a_snapshot_keeps_each_records_hash_and_hashes_anew_a_member_whose_incarnation_moved() {
        let mut core = core_with(&[("a", 1), ("b", 2), ("c", 3)]);
        let first = Snapshot::of(&core, None);
        // a suspects b at a later incarnation than this peer knew: the
        // core keeps b's record and moves its incarnation.
        let (a, b) = (
            PeerId::parse("a").expect("an id"),
            PeerId::parse("b").expect("an id"),
        );
        let suspicion = Update {
            by: Some(a.clone()),
            ..Update::about(UpdateKind::Suspect, b, 3)
        };
        let origin = Origin {
            sender: Some(a),
            remote: IpAddr::V4(Ipv4Addr::LOCALHOST),
        };
        let gossip = Request::Gossip(Envelope {
            from: None,
            updates: vec![suspicion],
        });
        core.handle_request(Instant::now(), ReplyToken(50), origin, gossip);
        while core.poll_action().is_some() {}
        let second = Snapshot::of(&core, Some(&first));
        assert_eq!(second.incarnations, [Some(0), Some(3), Some(0)]);
        assert!(hashes_are_the_records(&first), "{:?}", first.hashes);
        assert!(hashes_are_the_records(&second), "{:?}", second.hashes);
        let third = Snapshot::of(&core, Some(&second));
        assert_eq!(third.hashes, second.hashes, "kept");
    }

    #[test]
    fn member_counts_count_every_member_once() {
        let snapshot = Snapshot::of(&core_with(&[("a", 1), ("b", 2)]), None);
        let counts = snapshot.member_counts();
        assert_eq!((counts.alive, counts.suspected), (2, 0));
    }
}
