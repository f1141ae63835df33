//! The window of gossip-round pushes under way: at most `gossip_fanout` of
//! them hold a place at once, so a peer that is answered slower than
//! `gossip_interval` gossips at the pace it is answered instead of piling
//! up calls (each a connection) that time out. A push leaves the window
//! when it is answered or fails, or when it is presumed lost: a push sent
//! after it was answered, and it has been under way for more than twice
//! that push's round trip and one interval more. Touches nothing else.
//!
//! Why presumed lost: a lost push otherwise held its place until its
//! `call_timeout` (ten intervals on the LAN preset). At 5% loss each way
//! one push in ten is lost, and the lost ones held most of the window, so
//! rounds shrank, refutations spread slower and healthy peers were
//! evicted in simulated hours; in a partition, pushes to the unreachable
//! side held it the same way. Later answers show the network and the
//! peers are working; a long round trip (a busy process, whose answers
//! all come late) keeps the window shut as long as the slow answers take.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// A place in the window, held by one round push: when it was sent, and a
/// number that tells pushes sent at the same instant apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Place {
    sent: Instant,
    seq: u64,
}

/// The round pushes holding a place, oldest first.
#[derive(Debug, Default)]
pub(super) struct Rounds {
    held: BTreeSet<Place>,
    next_seq: u64,
}

impl Rounds {
    /// How many more pushes a round may send now, of `size` places.
    pub(super) fn room(&self, size: usize) -> usize {
        size.saturating_sub(self.held.len())
    }

    /// Takes a place for a push sent at `now`.
    pub(super) fn take(&mut self, now: Instant) -> Place {
        let place = Place {
            sent: now,
            seq: self.next_seq,
        };
        self.next_seq += 1;
        self.held.insert(place);
        place
    }

    /// The push of `place` ended at `now`: `answered` when the peer
    /// answered it (whatever it said), not when it timed out or could not
    /// be reached. An answer also frees the places of earlier pushes under
    /// way for longer than twice its round trip plus `interval`: they are
    /// presumed lost.
    pub(super) fn ended(&mut self, now: Instant, place: Place, answered: bool, interval: Duration) {
        self.held.remove(&place);
        if !answered {
            return;
        }
        let round_trip = now.saturating_duration_since(place.sent);
        let Some(cutoff) = now.checked_sub(round_trip * 2 + interval) else {
            return;
        };
        // Every place sent before the cutoff (and so before this push).
        self.held = self.held.split_off(&Place {
            sent: cutoff,
            seq: 0,
        });
    }

    /// How many places are held.
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.held.len()
    }

    /// Whether `place` is held.
    #[cfg(test)]
    pub(super) fn holds(&self, place: &Place) -> bool {
        self.held.contains(place)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_millis(200);

    /// The one clock reading of these tests.
    #[allow(clippy::disallowed_methods)]
    fn base() -> Instant {
        Instant::now()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_place_is_held_until_its_push_ends_either_way() {
        let t0 = base();
        let mut rounds = Rounds::default();
        let a = rounds.take(t0);
        let b = rounds.take(t0);
        assert_eq!(rounds.room(3), 1);
        rounds.ended(t0 + ms(5), a, true, INTERVAL);
        assert_eq!(rounds.room(3), 2);
        rounds.ended(t0 + ms(2000), b, false, INTERVAL);
        assert_eq!(rounds.room(3), 3);
        // A place already freed is not freed twice.
        rounds.ended(t0 + ms(2000), b, true, INTERVAL);
        assert_eq!(rounds.room(3), 3);
    }

    #[test]
    fn a_quick_answer_frees_the_places_of_pushes_outlived_by_it() {
        let t0 = base();
        let mut rounds = Rounds::default();
        let lost = rounds.take(t0);
        let recent = rounds.take(t0 + ms(300));
        let answered = rounds.take(t0 + ms(400));
        // Answered in 5 ms: pushes under way for more than 210 ms are
        // presumed lost, the one sent 105 ms ago is not.
        rounds.ended(t0 + ms(405), answered, true, INTERVAL);
        assert_eq!(rounds.held(), 1, "the lost one freed, the recent one held");
        // The lost push's own end, if it ever comes, frees nothing more.
        rounds.ended(t0 + ms(2000), lost, false, INTERVAL);
        assert_eq!(rounds.held(), 1);
        rounds.ended(t0 + ms(2001), recent, true, INTERVAL);
        assert_eq!(rounds.held(), 0);
    }

    #[test]
    fn slow_answers_keep_the_window_shut_while_slow_ones_are_under_way() {
        let t0 = base();
        let mut rounds = Rounds::default();
        let first = rounds.take(t0);
        let second = rounds.take(t0 + ms(200));
        let third = rounds.take(t0 + ms(400));
        // A busy process: every answer takes about 1.5 s, whatever order
        // they come in.
        rounds.ended(t0 + ms(1900), third, true, INTERVAL);
        assert_eq!(rounds.held(), 2, "the earlier two are not presumed lost");
        rounds.ended(t0 + ms(1950), second, true, INTERVAL);
        assert_eq!(rounds.held(), 1);
        rounds.ended(t0 + ms(2000), first, true, INTERVAL);
        assert_eq!(rounds.held(), 0);
    }

    #[test]
    fn a_failure_frees_only_its_own_place() {
        let t0 = base();
        let mut rounds = Rounds::default();
        rounds.take(t0);
        let failed = rounds.take(t0 + ms(1000));
        rounds.ended(t0 + ms(1001), failed, false, INTERVAL);
        assert_eq!(rounds.held(), 1, "a failure shows nothing about the others");
    }
}
