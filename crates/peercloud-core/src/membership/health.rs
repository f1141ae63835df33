//! Local health (Lifeguard): a peer that finds itself slow (it had to
//! refute suspicions of itself, or its timers fired long after they were
//! due) probes more patiently, so that its own slowness is not taken for
//! its members' failure. The score falls back as probes succeed again.

use std::time::{Duration, Instant};

use super::{Membership, Timer};

/// The highest score: timeouts and intervals grow at most this many times
/// plus one.
pub(super) const MAX_SCORE: u32 = 8;

/// This peer's own health: 0 is healthy.
#[derive(Debug, Default)]
pub(super) struct Health {
    score: u32,
    /// The overdue timer that showed the last stall, so that one stall is
    /// counted once however many inputs arrive before that timer runs.
    stall_seen: Option<Instant>,
}

impl Health {
    /// `base` stretched by the score: `base * (1 + score)`.
    pub(super) fn scaled(&self, base: Duration) -> Duration {
        base * (1 + self.score)
    }

    pub(super) fn worse(&mut self, by: u32) {
        self.score = (self.score + by).min(MAX_SCORE);
    }

    pub(super) fn better(&mut self) {
        self.score = self.score.saturating_sub(1);
    }

    /// Whether the stall shown by the timer due at `due` is new.
    pub(super) fn new_stall(&mut self, due: Instant) -> bool {
        self.stall_seen.replace(due) != Some(due)
    }

    pub(super) fn score(&self) -> u32 {
        self.score
    }
}

impl Membership {
    /// How late a timer may fire before this peer counts as stalled.
    pub(super) fn stall_threshold(&self) -> Duration {
        self.config.probe_interval.max(Duration::from_millis(500))
    }

    /// This peer was stalled (its timers fire long after they were due):
    /// whatever it started before the stall may have failed because of
    /// the stall itself, so probes under way do not count, and suspicions
    /// that ran out meanwhile get a fresh minimum (their members may have
    /// refuted while this peer could not listen).
    pub(super) fn on_stall(&mut self, now: Instant) {
        self.health.worse(2);
        self.pending.void_probes();
        self.prober.void_runs();
        let floor = now + self.config.suspicion_min;
        let mut extended = Vec::new();
        for entry in self.members.values_mut() {
            if let Some(suspicion) = &mut entry.suspicion {
                if suspicion.deadline < floor {
                    suspicion.deadline = floor;
                    extended.push(entry.member.id.clone());
                }
            }
        }
        for id in extended {
            self.timers.schedule(floor, Timer::Suspicion(id));
        }
    }
}
