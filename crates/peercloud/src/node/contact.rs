//! When each member last answered this peer: the time of the last call to
//! its address (a probe, a sync, a message) that got an answer. Kept beside
//! the snapshot rather than in it, since answers come several times a
//! second and a new snapshot wakes every reader; in an ordered map, since
//! every answered message looks its address up, and a few comparisons of
//! short addresses cost less than hashing one. Touches only its own map.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Instant;

use peercloud_core::Address;

/// The last answer from each address, for members only.
#[derive(Debug, Default)]
pub(crate) struct Contacts {
    last: Mutex<BTreeMap<Address, Instant>>,
}

impl Contacts {
    /// Notes that `address` answered at `at`; an older time never
    /// replaces a newer one (answers of concurrent calls arrive in any
    /// order).
    pub(crate) fn answered(&self, address: &Address, at: Instant) {
        let mut last = self.lock();
        match last.get_mut(address) {
            Some(known) => *known = (*known).max(at),
            None => {
                last.insert(address.clone(), at);
            }
        }
    }

    /// When `address` last answered, if it ever did.
    pub(crate) fn last(&self, address: &Address) -> Option<Instant> {
        self.lock().get(address).copied()
    }

    /// Forgets every address that is not one of `members`, so that the map
    /// stays as small as the cloud.
    pub(crate) fn retain<'a>(&self, members: impl Iterator<Item = &'a Address>) {
        let keep: BTreeSet<&Address> = members.collect();
        self.lock().retain(|address, _| keep.contains(address));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Address, Instant>> {
        // The map holds plain times: a panic elsewhere leaves it usable.
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn address(port: u16) -> Address {
        Address::new(
            peercloud_core::Host::parse("127.0.0.1").expect("a host"),
            port,
        )
    }

    #[test]
    fn an_older_answer_does_not_replace_a_newer_one() {
        let contacts = Contacts::default();
        let t0 = Instant::now();
        let later = t0 + Duration::from_secs(1);
        contacts.answered(&address(1), later);
        contacts.answered(&address(1), t0);
        assert_eq!(contacts.last(&address(1)), Some(later));
        assert_eq!(contacts.last(&address(2)), None);
    }

    #[test]
    fn addresses_of_non_members_are_forgotten() {
        let contacts = Contacts::default();
        let t0 = Instant::now();
        contacts.answered(&address(1), t0);
        contacts.answered(&address(2), t0);
        let members = [address(2)];
        contacts.retain(members.iter());
        assert_eq!(contacts.last(&address(1)), None);
        assert_eq!(contacts.last(&address(2)), Some(t0));
    }
}
