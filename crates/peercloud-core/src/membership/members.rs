//! The members by id, with the two things the core asks of them on every
//! message kept up to date as they change instead of computed by scanning:
//! who listens at a place (one entry per place), and the order-free hash of
//! the ids that the digest is made of. At thousands of members, scanning
//! for either on each join or probe made the cost per peer grow with N².

use std::collections::BTreeMap;
use std::hash::Hasher;
use std::net::IpAddr;

use fnv::FnvHasher;
use rand::Rng;

use super::table::Entry;
use crate::id::PeerId;
use crate::member::Member;

/// Where a member listens, as compared: IPv4-mapped IPv6 addresses as
/// IPv4, host names without case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Place {
    Ip(IpAddr, u16),
    Name(String, u16),
}

impl Place {
    pub(super) fn of(member: &Member) -> Place {
        match member.host.ip() {
            Some(ip) => Place::Ip(ip, member.port),
            None => Place::Name(member.host.as_str().to_ascii_lowercase(), member.port),
        }
    }
}

/// The hash of one id in the digest (FNV-1a); ids combine with xor, so
/// the order members came in does not matter.
pub(super) fn id_hash(id: &PeerId) -> u64 {
    let mut hasher = FnvHasher::default();
    hasher.write(id.as_str().as_bytes());
    hasher.finish()
}

/// The member table. Entries change in place through [`Members::get_mut`],
/// except their place, which only [`Members::relocate`] changes (so that
/// the index follows).
#[derive(Debug, Default)]
pub(super) struct Members {
    entries: BTreeMap<PeerId, Entry>,
    places: BTreeMap<Place, PeerId>,
    /// The xor of [`id_hash`] over the ids.
    ids_hash: u64,
    /// The ids in no order, and where each is: a random member in O(1).
    ids: Vec<PeerId>,
    slots: BTreeMap<PeerId, usize>,
}

impl Members {
    pub(super) fn get(&self, id: &PeerId) -> Option<&Entry> {
        self.entries.get(id)
    }

    /// An entry to change: anything but its member's host and port.
    pub(super) fn get_mut(&mut self, id: &PeerId) -> Option<&mut Entry> {
        self.entries.get_mut(id)
    }

    pub(super) fn contains_key(&self, id: &PeerId) -> bool {
        self.entries.contains_key(id)
    }

    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = &PeerId> {
        self.entries.keys()
    }

    pub(super) fn values(&self) -> impl ExactSizeIterator<Item = &Entry> {
        self.entries.values()
    }

    /// The entries to change: anything but their members' host and port.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Entry> {
        self.entries.values_mut()
    }

    /// The member listed at `member`'s place, if any.
    pub(super) fn at_place(&self, member: &Member) -> Option<&PeerId> {
        self.places.get(&Place::of(member))
    }

    /// The xor of the ids' hashes.
    pub(super) fn ids_hash(&self) -> u64 {
        self.ids_hash
    }

    /// Adds an entry whose id and place are both free (the caller made
    /// them so); an entry at a taken place is not indexed there.
    pub(super) fn insert(&mut self, entry: Entry) {
        let id = entry.member.id.clone();
        debug_assert!(!self.entries.contains_key(&id), "insert of a listed id");
        self.places
            .entry(Place::of(&entry.member))
            .or_insert_with(|| id.clone());
        self.ids_hash ^= id_hash(&id);
        self.slots.insert(id.clone(), self.ids.len());
        self.ids.push(id.clone());
        self.entries.insert(id, entry);
    }

    pub(super) fn remove(&mut self, id: &PeerId) -> Option<Entry> {
        let entry = self.entries.remove(id)?;
        let place = Place::of(&entry.member);
        if self.places.get(&place) == Some(id) {
            self.places.remove(&place);
        }
        self.ids_hash ^= id_hash(id);
        if let Some(slot) = self.slots.remove(id) {
            self.ids.swap_remove(slot);
            if let Some(moved) = self.ids.get(slot) {
                self.slots.insert(moved.clone(), slot);
            }
        }
        Some(entry)
    }

    /// A member picked at random (each as likely).
    pub(super) fn random(&self, rng: &mut impl Rng) -> Option<&PeerId> {
        if self.ids.is_empty() {
            return None;
        }
        self.ids.get(rng.random_range(0..self.ids.len()))
    }

    /// Moves a member to the place of `to` (its host and port), if that
    /// place is free.
    pub(super) fn relocate(&mut self, id: &PeerId, to: &Member) -> bool {
        let place = Place::of(to);
        if self.places.get(&place).is_some_and(|at| at != id) {
            return false;
        }
        let Some(entry) = self.entries.get_mut(id) else {
            return false;
        };
        let old = Place::of(&entry.member);
        entry.member.host = to.host.clone();
        entry.member.port = to.port;
        if old != place {
            if self.places.get(&old) == Some(id) {
                self.places.remove(&old);
            }
            self.places.insert(place, id.clone());
        }
        true
    }

    /// Empties the table, handing back the entries.
    pub(super) fn take(&mut self) -> BTreeMap<PeerId, Entry> {
        self.places.clear();
        self.ids_hash = 0;
        self.ids.clear();
        self.slots.clear();
        std::mem::take(&mut self.entries)
    }
}

impl<'a> IntoIterator for &'a Members {
    type Item = (&'a PeerId, &'a Entry);
    type IntoIter = std::collections::btree_map::Iter<'a, PeerId, Entry>;

    fn into_iter(self) -> Self::IntoIter {
        self.entries.iter()
    }
}

/// What the fuzz tests check after every step: the indexes agree with a
/// scan of the entries.
#[cfg(test)]
impl Members {
    pub(super) fn iter(&self) -> impl Iterator<Item = (&PeerId, &Entry)> {
        self.entries.iter()
    }

    pub(super) fn indexes_agree(&self) -> Result<(), String> {
        let hash = self.entries.keys().fold(0, |acc, id| acc ^ id_hash(id));
        if hash != self.ids_hash {
            return Err("the ids' hash does not match the ids".into());
        }
        for (place, id) in &self.places {
            match self.entries.get(id) {
                Some(entry) if Place::of(&entry.member) == *place => {}
                _ => return Err(format!("the place {place:?} names {id}, not there")),
            }
        }
        for (id, entry) in &self.entries {
            if !self.places.contains_key(&Place::of(&entry.member)) {
                return Err(format!("{id}'s place is not indexed"));
            }
            match self.slots.get(id) {
                Some(&slot) if self.ids.get(slot) == Some(id) => {}
                _ => return Err(format!("{id} has no slot among the ids")),
            }
        }
        if self.ids.len() != self.entries.len() || self.slots.len() != self.entries.len() {
            return Err("the ids and their slots do not match the entries".into());
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
            data: serde_json::Value::Null,
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
