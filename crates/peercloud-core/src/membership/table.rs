//! The member table: each member's entry (its wire record, incarnation,
//! kind and suspicion), the tombstones of members that left or failed, and
//! the one way members are added, removed and replaced.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Membership;
use crate::id::PeerId;
use crate::io::{Event, FailureCause, LeftReason};
use crate::member::Member;
use crate::wire::{record_hash, PeerInfo, Update, UpdateKind};

/// Whether a member is alive or suspected, as this peer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// It answers (or nobody has shown otherwise).
    Alive,
    /// It answered no probe; it is declared failed unless it refutes in
    /// time.
    Suspected,
}

/// What a member speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A peercloud peer: incarnations, gossip, `/probe`, `/peers`.
    Rust,
    /// An original peer (its `/status` has no incarnation): the plain
    /// protocol only.
    Original,
    /// Not known yet (learned from a list without incarnation).
    Unknown,
}

impl Kind {
    /// The kind told by an incarnation on the wire: only peercloud peers
    /// send one.
    pub(super) fn of(incarnation: Option<u64>) -> Kind {
        match incarnation {
            Some(_) => Kind::Rust,
            None => Kind::Unknown,
        }
    }
}

/// A suspicion of one member.
#[derive(Debug, Clone)]
pub(super) struct Suspicion {
    /// The incarnation suspected: only a higher one refutes it.
    pub(super) incarnation: u64,
    pub(super) started: Instant,
    /// When it runs out, if nobody refutes it.
    pub(super) deadline: Instant,
    /// Every member known to suspect it, this peer included if it does:
    /// all but the first are confirmations.
    pub(super) accusers: BTreeSet<PeerId>,
    /// Whether its final check is under way (see
    /// [`Membership::on_suspicion_timeout`]), and how many were sent.
    pub(super) checking: bool,
    pub(super) final_checks: u8,
}

/// One member of the table.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// Shared with the snapshots and events a driver makes of it, so that
    /// a thousand members are held once, not once per copy.
    pub(super) member: Arc<Member>,
    pub(super) incarnation: u64,
    pub(super) kind: Kind,
    /// Boxed: most members are not suspected, and an unboxed suspicion
    /// would make every entry as large as one.
    pub(super) suspicion: Option<Box<Suspicion>>,
}

impl Entry {
    pub(super) fn new(member: Member, incarnation: u64, kind: Kind) -> Self {
        Entry {
            member: Arc::new(member),
            incarnation,
            kind,
            suspicion: None,
        }
    }

    pub(super) fn state(&self) -> MemberState {
        match self.suspicion {
            Some(_) => MemberState::Suspected,
            None => MemberState::Alive,
        }
    }

    /// Its incarnation as the wire tells it: only a peercloud peer's.
    pub(super) fn wire_incarnation(&self) -> Option<u64> {
        (self.kind == Kind::Rust).then_some(self.incarnation)
    }

    /// Its record's hash, as a pull names it.
    pub(super) fn record_hash(&self) -> u64 {
        record_hash(&self.member.id, self.wire_incarnation().unwrap_or(0))
    }

    /// The member as the wire describes it: with its incarnation when it
    /// is a peercloud peer.
    pub(super) fn info(&self) -> PeerInfo {
        PeerInfo::of(&self.member, self.wire_incarnation())
    }

    /// The gossip that says this member is alive, with its record.
    pub(super) fn alive_update(&self) -> Update {
        Update {
            ip: Some(self.member.host.clone()),
            port: Some(self.member.port),
            data: Some(self.member.data.clone()),
            ..Update::about(UpdateKind::Alive, self.member.id.clone(), self.incarnation)
        }
    }
}

/// A member learned of but not checked yet.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    pub(super) member: Member,
    pub(super) incarnation: u64,
    pub(super) kind: Kind,
}

/// A member that left or failed.
#[derive(Debug, Clone)]
pub(super) struct Tombstone {
    pub(super) member: Arc<Member>,
    pub(super) incarnation: u64,
    pub(super) kind: Kind,
    /// It left (for good) rather than failed (it may come back).
    pub(super) left: bool,
    /// When it is forgotten.
    pub(super) until: Instant,
    /// When a failed member is tried again.
    pub(super) next_try: Instant,
    /// How many times it was tried.
    pub(super) tries: u32,
}

impl Membership {
    /// Adds a member, or updates a known one when `incarnation` is newer.
    /// Returns whether it was added: not when the table is full
    /// ([`Config::max_members`](crate::Config::max_members)) and the
    /// newcomer takes no member's place.
    ///
    /// Never two entries at one place: a `checked` newcomer (it answered
    /// there with its id) replaces a member listed at its place, which
    /// cannot be there any more; an unchecked one is checked first.
    pub(super) fn insert_member(&mut self, now: Instant, new: Candidate, checked: bool) -> bool {
        self.insert(now, new, checked, true)
    }

    /// Adds a member known from a join answer (the seed, `checked` as it
    /// answered, and its list) or from a pulled list, like
    /// [`insert_member`](Self::insert_member) but without gossiping it:
    /// the cloud knows it already, and at thousands of members, gossiping
    /// every entry of every list would fill the queue.
    pub(super) fn insert_listed(&mut self, now: Instant, new: Candidate, checked: bool) -> bool {
        self.insert(now, new, checked, false)
    }

    fn insert(&mut self, now: Instant, new: Candidate, checked: bool, tell: bool) -> bool {
        let id = new.member.id.clone();
        if id == self.me.id {
            return false;
        }
        if let Some(entry) = self.members.get_mut(&id) {
            if entry.kind == Kind::Unknown {
                entry.kind = new.kind;
            }
            if new.incarnation > entry.incarnation {
                self.refresh_member(new);
            }
            return false;
        }
        let taken = self.members.at_place(&new.member).cloned();
        if taken.is_none() && !self.has_room() {
            // `Config::max_members` bounds the table whoever tells of a
            // new member: joins are refused before this, and news from
            // notices, gossip and lists past it is dropped.
            return false;
        }
        if let Some(old) = taken {
            if !checked {
                self.check_candidate(now, new);
                return false;
            }
            let cause = FailureCause::Replaced {
                by: Some(id.clone()),
            };
            self.declare_failed(now, &old, cause, None);
        }
        self.tombstones.remove(&id);
        let entry = Entry::new(new.member, new.incarnation, new.kind);
        if tell && entry.kind == Kind::Rust {
            self.gossip.queue(entry.alive_update());
        }
        let member = entry.member.clone();
        self.members.insert(entry);
        self.version += 1;
        self.prober.enqueue(id, &mut self.rng);
        self.emit(Event::PeerJoined(Member::clone(&member)));
        true
    }

    /// Takes a newer record of a known member: its data, address and
    /// incarnation; a suspicion of an older incarnation is refuted.
    ///
    /// Never two entries at one place: a move onto the place of another
    /// member is not taken (which of the two is there is not known here).
    /// Probes settle it: the other is found replaced if this one answers
    /// there, and this one's next news moves it once the place is free.
    pub(super) fn refresh_member(&mut self, new: Candidate) {
        let Some(entry) = self.members.get_mut(&new.member.id) else {
            return;
        };
        if new.incarnation <= entry.incarnation && entry.suspicion.is_none() {
            return;
        }
        entry.incarnation = entry.incarnation.max(new.incarnation);
        if entry.kind == Kind::Unknown {
            entry.kind = new.kind;
        }
        let refuted = entry
            .suspicion
            .take_if(|s| s.incarnation < entry.incarnation)
            .is_some();
        let data_changed = entry.member.data != new.member.data;
        if data_changed {
            // A copy of the record if a snapshot shares it, which keeps
            // the record it was given.
            Arc::make_mut(&mut entry.member).data = new.member.data.clone();
        }
        self.members.relocate(&new.member.id, &new.member);
        let Some(entry) = self.members.get(&new.member.id) else {
            return;
        };
        let member = entry.member.clone();
        let update = entry.alive_update();
        self.version += 1;
        self.gossip.queue(update);
        if refuted {
            self.emit(Event::PeerAlive(Member::clone(&member)));
        }
        if data_changed {
            self.emit(Event::PeerUpdated(Member::clone(&member)));
        }
    }

    /// Removes a member and remembers it: a failed member is tried again
    /// for `failed_memory`, a member that left is kept out for
    /// `left_memory`.
    pub(super) fn remove_member(&mut self, now: Instant, id: &PeerId, left: bool) -> Option<Entry> {
        let entry = self.members.remove(id)?;
        self.version += 1;
        self.prober.forget(id);
        // The probes of it under way are forgotten with their runs: a
        // stale timeout must not count against the member if it is added
        // again (a goodbye then a join, a failure then a refutation).
        self.pending.forget_probes_of(id);
        let memory = if left {
            self.config.left_memory
        } else {
            self.config.failed_memory
        };
        let first_try = self.jittered(self.config.reconnect_interval);
        self.tombstones.insert(
            id.clone(),
            Tombstone {
                member: entry.member.clone(),
                incarnation: entry.incarnation,
                kind: entry.kind,
                left,
                until: now + memory,
                next_try: now + first_try,
                tries: 0,
            },
        );
        Some(entry)
    }

    /// A member that said goodbye (or whose goodbye reached us second hand).
    pub(super) fn member_left(&mut self, now: Instant, id: &PeerId) {
        if let Some(entry) = self.remove_member(now, id, true) {
            let update = Update::about(UpdateKind::Left, id.clone(), entry.incarnation);
            self.gossip.queue(update);
            self.emit(Event::PeerLeft {
                member: Arc::unwrap_or_clone(entry.member),
                reason: LeftReason::Left,
            });
        }
    }

    /// The backoff between tries of a failed member: the reconnect
    /// interval, doubling with each try, at most four times it.
    pub(super) fn retry_backoff(&mut self, tries: u32) -> Duration {
        let base = self.config.reconnect_interval * 2u32.pow(tries.min(2));
        self.jittered(base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(host: &str, port: u16) -> Member {
        Member {
            id: PeerId::parse("x").unwrap(),
            host: crate::member::Host::parse(host).unwrap(),
            port,
            data: serde_json::json!({}).into(),
        }
    }

    fn same_place(a: &Member, b: &Member) -> bool {
        super::super::members::Place::of(a) == super::super::members::Place::of(b)
    }

    #[test]
    fn mapped_and_plain_ipv4_are_the_same_place_but_other_ports_are_not() {
        assert!(same_place(&at("::ffff:127.0.0.1", 1), &at("127.0.0.1", 1)));
        assert!(!same_place(&at("127.0.0.1", 1), &at("127.0.0.1", 2)));
        assert!(same_place(&at("Example.com", 1), &at("example.com", 1)));
        assert!(!same_place(&at("127.0.0.2", 1), &at("127.0.0.1", 1)));
    }
}
