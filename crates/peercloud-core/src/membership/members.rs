//! The members by id, with the two things the core asks of them on every
//! message kept up to date as they change instead of computed by scanning:
//! who listens at a place (one entry per place), and the order-free hash of
//! the ids that the digest is made of. At thousands of members, scanning
//! for either on each join or probe made the cost per peer grow with N².

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use fnv::FnvHasher;
use rand::Rng;

use super::table::Entry;
use crate::id::PeerId;
use crate::member::Member;

/// Where a member listens, as compared: IPv4-mapped IPv6 addresses as
/// IPv4, host names without case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Place {
    Ip(IpAddr, u16),
    /// Boxed rather than a `String`: the key is a third smaller, and the
    /// index holds one per member.
    Name(Box<str>, u16),
}

impl Place {
    pub(super) fn of(member: &Member) -> Place {
        match member.host.ip() {
            Some(ip) => Place::Ip(ip, member.port),
            None => Place::Name(
                member.host.as_str().to_ascii_lowercase().into(),
                member.port,
            ),
        }
    }

    /// The key of the place index (FNV-1a of the place).
    fn key(&self) -> u64 {
        let mut hasher = FnvHasher::default();
        self.hash(&mut hasher);
        hasher.finish()
    }
}

/// The place index: (the place's key, the slot of the member there).
/// Holding the key rather than the place makes an index entry 16 bytes
/// instead of 28, which is 1.7 GB over the simulator's 10⁸ entries at
/// 10,000 peers; places whose keys collide are told apart by reading the
/// entries they point at (a few at most: a table holds at most
/// `Config::max_members` places).
#[derive(Debug, Default)]
struct Places(BTreeSet<(u64, Slot)>);

impl Places {
    /// The slot of the member indexed at `place`.
    fn find(&self, place: &Place, slab: &[Entry]) -> Option<Slot> {
        let key = place.key();
        self.0
            .range((key, 0)..=(key, Slot::MAX))
            .map(|&(_, i)| i)
            .find(|&i| Place::of(&slab[i as usize].member) == *place)
    }
}

/// The hash of one id in the digest; ids combine with xor, so the order
/// members came in does not matter.
pub(super) use crate::wire::id_hash;

/// The member table: the entries in a slab (no order), found by id and by
/// place through indexes into it. Entries change in place through
/// [`Members::get_mut`], except their place, which only
/// [`Members::relocate`] changes (so that the index follows). One copy of
/// each id besides the entry's own: at thousands of members per peer, and
/// thousands of peers in the simulator, every copy counts (the ids are
/// shared, so the copy is a reference, and the slots are `u32`).
#[derive(Debug, Default)]
pub(super) struct Members {
    slab: Vec<Entry>,
    by_id: BTreeMap<PeerId, Slot>,
    by_place: Places,
    /// The xor of [`id_hash`] over the ids.
    ids_hash: u64,
}

/// An entry's place in the slab: a member table holds fewer than 2³²
/// members (`Config::max_members` bounds it far below).
type Slot = u32;

fn slot(i: usize) -> Slot {
    Slot::try_from(i).expect("fewer than 2^32 members")
}

impl Members {
    pub(super) fn get(&self, id: &PeerId) -> Option<&Entry> {
        self.by_id.get(id).map(|&i| &self.slab[i as usize])
    }

    /// An entry to change: anything but its member's host and port.
    pub(super) fn get_mut(&mut self, id: &PeerId) -> Option<&mut Entry> {
        self.by_id.get(id).map(|&i| &mut self.slab[i as usize])
    }

    pub(super) fn contains_key(&self, id: &PeerId) -> bool {
        self.by_id.contains_key(id)
    }

    pub(super) fn len(&self) -> usize {
        self.slab.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// The ids, in order.
    pub(super) fn keys(&self) -> impl Iterator<Item = &PeerId> {
        self.by_id.keys()
    }

    /// The entries, in the order of their ids.
    pub(super) fn values(&self) -> impl ExactSizeIterator<Item = &Entry> {
        self.by_id.values().map(|&i| &self.slab[i as usize])
    }

    /// The entries to change, in no order: anything but their members'
    /// host and port.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.slab.iter_mut()
    }

    /// The member listed at `member`'s place, if any.
    pub(super) fn at_place(&self, member: &Member) -> Option<&PeerId> {
        let i = self.by_place.find(&Place::of(member), &self.slab)?;
        Some(&self.slab[i as usize].member.id)
    }

    /// The xor of the ids' hashes.
    pub(super) fn ids_hash(&self) -> u64 {
        self.ids_hash
    }

    /// A member picked at random (each as likely).
    pub(super) fn random(&self, rng: &mut impl Rng) -> Option<&PeerId> {
        if self.slab.is_empty() {
            return None;
        }
        let i = rng.random_range(0..self.slab.len());
        Some(&self.slab[i].member.id)
    }

    /// Adds an entry whose id and place are both free (the caller made
    /// them so); an entry at a taken place is not indexed there.
    pub(super) fn insert(&mut self, entry: Entry) {
        let id = entry.member.id.clone();
        debug_assert!(!self.by_id.contains_key(&id), "insert of a listed id");
        let i = slot(self.slab.len());
        let place = Place::of(&entry.member);
        if self.by_place.find(&place, &self.slab).is_none() {
            self.by_place.0.insert((place.key(), i));
        }
        self.ids_hash ^= id_hash(&id);
        self.by_id.insert(id, i);
        grow_by_a_quarter(&mut self.slab);
        self.slab.push(entry);
    }

    pub(super) fn remove(&mut self, id: &PeerId) -> Option<Entry> {
        let i = self.by_id.remove(id)?;
        let place = Place::of(&self.slab[i as usize].member);
        self.by_place.0.remove(&(place.key(), i));
        self.ids_hash ^= id_hash(id);
        let last = slot(self.slab.len() - 1);
        let entry = self.slab.swap_remove(i as usize);
        if i != last {
            // The last entry moved into the hole: its indexes follow.
            let moved = &self.slab[i as usize];
            if let Some(slot) = self.by_id.get_mut(&moved.member.id) {
                *slot = i;
            }
            let key = Place::of(&moved.member).key();
            if self.by_place.0.remove(&(key, last)) {
                self.by_place.0.insert((key, i));
            }
        }
        Some(entry)
    }

    /// Moves a member to the place of `to` (its host and port), if that
    /// place is free.
    pub(super) fn relocate(&mut self, id: &PeerId, to: &Member) -> bool {
        let Some(&i) = self.by_id.get(id) else {
            return false;
        };
        let place = Place::of(to);
        if self
            .by_place
            .find(&place, &self.slab)
            .is_some_and(|at| at != i)
        {
            return false;
        }
        let entry = &mut self.slab[i as usize];
        let old = Place::of(&entry.member);
        let member = Arc::make_mut(&mut entry.member);
        member.host = to.host.clone();
        member.port = to.port;
        if old != place {
            self.by_place.0.remove(&(old.key(), i));
            self.by_place.0.insert((place.key(), i));
        }
        true
    }

    /// Empties the table, handing back the entries by id.
    pub(super) fn take(&mut self) -> BTreeMap<PeerId, Entry> {
        self.by_id.clear();
        self.by_place.0.clear();
        self.ids_hash = 0;
        self.slab
            .drain(..)
            .map(|entry| (entry.member.id.clone(), entry))
            .collect()
    }
}

/// Makes room for one more entry, growing by a quarter rather than the
/// doubling `Vec::push` would do: a full table of 10,000 members then
/// holds at most 2,500 empty slots instead of up to 6,384, and the
/// simulator holds one table per peer. Still amortised O(1) per push.
fn grow_by_a_quarter<T>(slab: &mut Vec<T>) {
    if slab.len() == slab.capacity() {
        slab.reserve_exact((slab.len() / 4).max(4));
    }
}

/// What the fuzz tests check after every step: the indexes agree with a
/// scan of the entries.
#[cfg(test)]
impl Members {
    pub(super) fn iter(&self) -> impl Iterator<Item = (&PeerId, &Entry)> {
        self.by_id
            .iter()
            .map(|(id, &i)| (id, &self.slab[i as usize]))
    }

    pub(super) fn indexes_agree(&self) -> Result<(), String> {
        let hash = self.by_id.keys().fold(0, |acc, id| acc ^ id_hash(id));
        if hash != self.ids_hash {
            return Err("the ids' hash does not match the ids".into());
        }
        if self.by_id.len() != self.slab.len() {
            return Err("the ids do not match the entries".into());
        }
        for (id, &i) in &self.by_id {
            match self.slab.get(i as usize) {
                Some(entry) if entry.member.id == *id => {}
                _ => return Err(format!("{id} points at another entry")),
            }
        }
        for &(key, i) in &self.by_place.0 {
            let Some(entry) = self.slab.get(i as usize) else {
                return Err(format!("the place key {key:x} points past the entries"));
            };
            let place = Place::of(&entry.member);
            if place.key() != key {
                return Err(format!("the place {place:?} is indexed under another key"));
            }
            if self.by_place.find(&place, &self.slab) != Some(i) {
                return Err(format!("the place {place:?} is indexed twice"));
            }
        }
        for entry in &self.slab {
            if self
                .by_place
                .find(&Place::of(&entry.member), &self.slab)
                .is_none()
            {
                return Err(format!("{}'s place is not indexed", entry.member.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::Host;
    use crate::membership::table::Kind;

    fn entry(id: &str, host: &str, port: u16) -> Entry {
        let member = Member {
            id: PeerId::parse(id).unwrap(),
            host: Host::parse(host).unwrap(),
            port,
            data: serde_json::Value::Null.into(),
        };
        Entry::new(member, 0, Kind::Rust)
    }

    #[test]
    fn a_place_names_its_member_through_inserts_moves_and_removals() {
        let mut members = Members::default();
        members.insert(entry("a", "127.0.0.1", 1));
        members.insert(entry("b", "Example.com", 2));
        let probe = |host: &str, port| entry("x", host, port).member;
        let at = |m: &Members, host: &str, port| m.at_place(&probe(host, port)).cloned();
        assert_eq!(at(&members, "::ffff:127.0.0.1", 1).unwrap().as_str(), "a");
        assert_eq!(at(&members, "example.COM", 2).unwrap().as_str(), "b");
        let a = PeerId::parse("a").unwrap();
        assert!(!members.relocate(&a, &probe("example.com", 2)), "taken");
        assert!(members.relocate(&a, &probe("127.0.0.3", 3)));
        assert_eq!(at(&members, "127.0.0.1", 1), None, "the old place is free");
        assert_eq!(at(&members, "127.0.0.3", 3), Some(a.clone()));
        members.remove(&a);
        assert_eq!(at(&members, "127.0.0.3", 3), None);
        members.indexes_agree().unwrap();
    }

    #[test]
    fn a_growing_table_keeps_at_most_a_quarter_of_its_slots_empty() {
        let mut members = Members::default();
        for i in 0..5_000u32 {
            members.insert(entry(&i.to_string(), "127.0.0.1", 1 + i as u16));
            let (len, room) = (members.slab.len(), members.slab.capacity());
            assert!(room <= len + len / 4 + 4, "{room} slots for {len}");
        }
        members.indexes_agree().unwrap();
    }

    #[test]
    fn a_random_member_is_any_of_them_and_removed_ones_never() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let mut members = Members::default();
        assert_eq!(members.random(&mut rng), None);
        for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
            members.insert(entry(id, "127.0.0.1", i as u16 + 1));
        }
        members.remove(&PeerId::parse("b").unwrap());
        members.indexes_agree().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(members.random(&mut rng).unwrap().as_str().to_owned());
        }
        let expected: std::collections::BTreeSet<String> =
            ["a", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(seen, expected);
    }

    #[test]
    fn the_ids_hash_follows_the_ids_whatever_the_order() {
        let mut one = Members::default();
        let mut two = Members::default();
        for id in ["a", "b", "c"] {
            one.insert(entry(
                id,
                "127.0.0.1",
                id.len() as u16 + id.as_bytes()[0] as u16,
            ));
        }
        for id in ["c", "a", "b", "d"] {
            two.insert(entry(
                id,
                "127.0.0.1",
                id.len() as u16 + id.as_bytes()[0] as u16,
            ));
        }
        assert_ne!(one.ids_hash(), two.ids_hash());
        two.remove(&PeerId::parse("d").unwrap());
        assert_eq!(one.ids_hash(), two.ids_hash());
        assert_eq!(Members::default().ids_hash(), 0);
        one.indexes_agree().unwrap();
        two.indexes_agree().unwrap();
    }
}
