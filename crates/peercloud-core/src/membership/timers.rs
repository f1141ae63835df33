//! The timer table: every deadline of the core as a typed token, ordered by
//! time, so that `poll_timeout` is the first entry and `handle_timeout`
//! runs each due token through its own function.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::id::PeerId;
use crate::io::CallId;

/// What is due when a timer fires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Timer {
    /// Probe the next member.
    ProbeTick,
    /// Send the news waiting in the gossip queue to a few members.
    GossipTick,
    /// Try seeds and failed members again.
    Reconnect,
    /// A member's suspicion may have run out (the entry says whether it
    /// still stands and until when).
    Suspicion(PeerId),
    /// A call got no result in time.
    Call(CallId),
    /// Stop waiting for goodbyes to be answered.
    Leave,
    /// Put this peer back into original peers' lists, after a quiet time.
    Reintroduce,
}

/// Names one scheduled timer, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct TimerKey(Instant, u64);

/// The timers, first due first; ties fire in the order they were set.
#[derive(Debug, Default)]
pub(super) struct Timers {
    table: BTreeMap<TimerKey, Timer>,
    next_seq: u64,
}

impl Timers {
    pub(super) fn schedule(&mut self, at: Instant, timer: Timer) -> TimerKey {
        let key = TimerKey(at, self.next_seq);
        self.next_seq += 1;
        self.table.insert(key, timer);
        key
    }

    pub(super) fn cancel(&mut self, key: TimerKey) {
        self.table.remove(&key);
    }

    /// When the first timer is due.
    pub(super) fn next(&self) -> Option<Instant> {
        self.table.keys().next().map(|key| key.0)
    }

    /// Takes the first timer if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let entry = self.table.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }

    /// Removes everything (the peer closed).
    pub(super) fn clear(&mut self) {
        self.table.clear();
    }
}

/// What the fuzz tests (`tests/fuzzing`) check the table against: every
/// outstanding call and suspicion has its timer.
#[cfg(test)]
impl Timers {
    /// Every timer set, first due first.
    pub(super) fn all(&self) -> impl Iterator<Item = (Instant, &Timer)> {
        self.table.iter().map(|(key, timer)| (key.0, timer))
    }

    /// The timer named by `key`, if it is still set.
    pub(super) fn get(&self, key: TimerKey) -> Option<(Instant, &Timer)> {
        self.table.get(&key).map(|timer| (key.0, timer))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn timers_fire_in_time_order_and_cancelled_ones_never() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let mut timers = Timers::default();
        timers.schedule(t0 + Duration::from_secs(2), Timer::Reconnect);
        let call = timers.schedule(t0 + Duration::from_secs(1), Timer::Call(CallId(7)));
        timers.schedule(t0 + Duration::from_secs(1), Timer::ProbeTick);
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        timers.cancel(call);
        assert_eq!(timers.pop_due(t0), None, "nothing is due yet");
        let later = t0 + Duration::from_secs(5);
        assert_eq!(timers.pop_due(later), Some(Timer::ProbeTick));
        assert_eq!(timers.pop_due(later), Some(Timer::Reconnect));
        assert_eq!(timers.pop_due(later), None);
    }
}
