//! Local health (Lifeguard): a peer that finds itself slow (it had to
//! refute suspicions of itself, helpers did not answer it, or its timers
//! fired late) probes more patiently, so that its own slowness is not
//! taken for its members' failure. The score falls back as probes succeed
//! again.

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
    /// The same for the last lag (see [`Membership::notice_lateness`]).
    lag_seen: Option<Instant>,
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
    fn new_stall(&mut self, due: Instant) -> bool {
        self.stall_seen.replace(due) != Some(due)
    }

    /// Whether the lag shown by the timer due at `due` is new.
    fn new_lag(&mut self, due: Instant) -> bool {
        self.lag_seen.replace(due) != Some(due)
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

    /// How late a timer may fire before this peer counts as lagging: a
    /// quarter of the probe timeout (200 ms on the LAN preset).
    pub(super) fn lag_threshold(&self) -> Duration {
        self.config.probe_timeout / 4
    }

    /// Looks at how late the timer due at `due` is at `now`, once per
    /// timer however many inputs arrive before it runs. Later than the
    /// stall threshold, this peer was stalled ([`Self::on_stall`]); later
    /// than the lag threshold, it is lagging: its score goes up by one.
    ///
    /// Why a lag counts: a peer whose own work runs a quarter of a probe
    /// timeout behind answers its members that much later and reads
    /// their answers that much later too, so its probes time out on
    /// members that answered in time. A thousand real peers forming a
    /// cloud on two cores ran their timers 200 to 500 ms late for
    /// seconds, short of the stall threshold: without this count most
    /// peers stayed at a score of 0 to 2, suspected healthy members by
    /// the dozen and kept the process saturated with the suspicions and
    /// refutations long after the lists were whole; with it most reached
    /// 7 or 8 within seconds and probed every few seconds with longer
    /// timeouts, and no run went on suspecting members once the lists
    /// were whole.
    pub(super) fn notice_lateness(&mut self, now: Instant, due: Instant) {
        let late = now.saturating_duration_since(due);
        if late > self.stall_threshold() {
            if self.health.new_stall(due) {
                self.on_stall(now);
            }
        } else if late > self.lag_threshold() && self.health.new_lag(due) {
            self.health.worse(1);
        }
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
