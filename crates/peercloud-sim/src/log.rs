//! What one simulated peer's membership emitted, kept within bounds: a
//! count of every kind of event for the whole run, and the last events
//! themselves with their times. A thousand peers that each see a thousand
//! joins would otherwise keep a million events; scenarios ask for counts
//! or for the last few.

use std::collections::VecDeque;
use std::time::Duration;

use peercloud_core::{Event, LeftReason};

/// How many events each peer keeps unless told otherwise
/// ([`crate::Sim::keep_events`]): enough for every join, leave and
/// suspicion of the clouds of a few hundred peers the tests build.
pub const DEFAULT_KEEP: usize = 256;

/// How many events of each kind a peer saw in the whole run, forgotten
/// ones included.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventCounts {
    /// Seeds that did not let it in while it started.
    pub seeds_failed: u64,
    /// Its starts (joined or alone).
    pub started: u64,
    /// Members added.
    pub joined: u64,
    /// Members suspected.
    pub suspected: u64,
    /// Suspicions refuted.
    pub alive: u64,
    /// Members whose data changed.
    pub updated: u64,
    /// Members removed because they said goodbye.
    pub left: u64,
    /// Members removed as failed (found so, or told so).
    pub failed: u64,
    /// Its ends.
    pub closed: u64,
}

impl EventCounts {
    fn count(&mut self, event: &Event) {
        let counter = match event {
            Event::SeedFailed { .. } => &mut self.seeds_failed,
            Event::Started(_) => &mut self.started,
            Event::PeerJoined(_) => &mut self.joined,
            Event::PeerSuspected(_) => &mut self.suspected,
            Event::PeerAlive(_) => &mut self.alive,
            Event::PeerUpdated(_) => &mut self.updated,
            Event::PeerLeft {
                reason: LeftReason::Left,
                ..
            } => &mut self.left,
            Event::PeerLeft { .. } => &mut self.failed,
            Event::Closed => &mut self.closed,
        };
        *counter += 1;
    }
}

/// One peer's events: counts of all, and the last few with when.
#[derive(Debug, Clone)]
pub struct EventLog {
    recent: VecDeque<(Duration, Event)>,
    keep: usize,
    counts: EventCounts,
    /// When the newest event that was forgotten happened.
    forgotten_at: Option<Duration>,
}

impl EventLog {
    pub(crate) fn new(keep: usize) -> Self {
        EventLog {
            recent: VecDeque::new(),
            keep,
            counts: EventCounts::default(),
            forgotten_at: None,
        }
    }

    pub(crate) fn push(&mut self, at: Duration, event: Event) {
        self.counts.count(&event);
        self.recent.push_back((at, event));
        self.trim();
    }

    /// Keeps the last `keep` events from now on (at least one).
    pub(crate) fn set_keep(&mut self, keep: usize) {
        self.keep = keep.max(1);
        self.trim();
    }

    fn trim(&mut self) {
        while self.recent.len() > self.keep {
            if let Some((at, _)) = self.recent.pop_front() {
                self.forgotten_at = Some(at);
            }
        }
    }

    /// Every event of the run, by kind.
    pub fn counts(&self) -> EventCounts {
        self.counts
    }

    /// The events kept, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &(Duration, Event)> {
        self.recent.iter()
    }

    /// The newest event.
    pub fn last(&self) -> Option<&(Duration, Event)> {
        self.recent.back()
    }

    /// Whether every event from `since` on is still kept.
    pub fn is_complete_since(&self, since: Duration) -> bool {
        self.forgotten_at.is_none_or(|at| at < since)
    }

    /// Every event from `since` on, oldest first.
    ///
    /// # Panics
    ///
    /// If some of them were forgotten: an answer with events missing
    /// would let a scenario pass that should fail. Keep more
    /// ([`crate::Sim::keep_events`]) or count ([`EventLog::counts`]).
    pub fn since(&self, since: Duration) -> impl Iterator<Item = &(Duration, Event)> {
        assert!(
            self.is_complete_since(since),
            "events from {since:?} on were forgotten (the newest at {:?}); keep more than {}",
            self.forgotten_at,
            self.keep
        );
        self.recent.iter().filter(move |(at, _)| *at >= since)
    }
}

#[cfg(test)]
mod tests {
    use peercloud_core::{FailureCause, Member, PeerId, Start};

    use super::*;

    fn failed(id: &str) -> Event {
        Event::PeerLeft {
            member: Member {
                id: PeerId::parse(id).unwrap(),
                host: peercloud_core::Host::parse("10.0.0.1").unwrap(),
                port: 9338,
                data: serde_json::json!({}).into(),
            },
            reason: LeftReason::Failed {
                detected_by: None,
                cause: FailureCause::Silent,
            },
        }
    }

    #[test]
    fn the_last_events_are_kept_and_every_one_is_counted() {
        let mut log = EventLog::new(2);
        log.push(Duration::from_secs(1), Event::Started(Start::Alone));
        log.push(Duration::from_secs(2), failed("a"));
        log.push(Duration::from_secs(3), failed("b"));
        assert_eq!(log.iter().count(), 2);
        assert_eq!(log.counts().started, 1);
        assert_eq!(log.counts().failed, 2);
        assert!(log.is_complete_since(Duration::from_secs(2)));
        assert!(!log.is_complete_since(Duration::from_secs(1)));
        assert_eq!(log.since(Duration::from_secs(3)).count(), 1);
    }

    #[test]
    #[should_panic(expected = "forgotten")]
    fn asking_for_forgotten_events_is_an_error_not_an_empty_answer() {
        let mut log = EventLog::new(1);
        log.push(Duration::from_secs(1), failed("a"));
        log.push(Duration::from_secs(2), Event::Closed);
        let _ = log.since(Duration::ZERO).count();
    }
}
