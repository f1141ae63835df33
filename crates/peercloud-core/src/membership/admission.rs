//! Admission limits of joiners: how many `/join` requests one source
//! address may make in a minute, and how many members this peer keeps.
//! Both are checked before a joiner costs anything (its `/status` check,
//! the notices to every member). Time comes in as `now`, like every input.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::Membership;
use crate::error::Refusal;
use crate::member::{source_of, Member};

/// How many source addresses the join rate remembers at most. A source is
/// forgotten as soon as it could make a full burst again; past this many
/// sources that joined within the last minute, joins from new ones are
/// refused until some are forgotten, so that strangers with many addresses
/// cannot make the table grow without end.
pub(super) const MAX_JOIN_SOURCES: usize = 4096;

/// The joins per source, as a generic cell rate algorithm: each source has
/// a theoretical arrival time (`tat`); a join is taken when `tat` is less
/// than a minute ahead of `now`, and moves it one interval (a minute over
/// the limit) further. So `n` joins may come at once, then one per
/// interval. One instant per source, no timer, exact integer time.
#[derive(Debug, Default)]
pub(super) struct JoinRate {
    tat: BTreeMap<IpAddr, Instant>,
}

impl JoinRate {
    /// Takes one join from `remote` at `now` if the limit allows it, else
    /// says how long until it would.
    pub(super) fn take(
        &mut self,
        now: Instant,
        remote: IpAddr,
        per_minute: u32,
    ) -> Result<(), Duration> {
        let window = Duration::from_secs(60);
        let interval = window / per_minute.max(1);
        let burst = window - interval;
        let source = source_of(remote);
        if !self.tat.contains_key(&source) && self.tat.len() >= MAX_JOIN_SOURCES {
            self.tat.retain(|_, tat| *tat > now);
            if self.tat.len() >= MAX_JOIN_SOURCES {
                return Err(interval);
            }
        }
        let tat = self.tat.get(&source).map_or(now, |tat| (*tat).max(now));
        let ahead = tat - now;
        if ahead > burst {
            return Err(ahead - burst);
        }
        self.tat.insert(source, tat + interval);
        Ok(())
    }

    /// How many sources are remembered.
    #[cfg(test)]
    pub(super) fn sources(&self) -> usize {
        self.tat.len()
    }
}

impl Membership {
    /// Takes a `/join` from `remote` against the rate limit.
    pub(super) fn admit_join_rate(&mut self, now: Instant, remote: IpAddr) -> Result<(), Refusal> {
        let per_minute = self.config.max_joins_per_ip_per_minute;
        self.join_rate
            .take(now, remote, per_minute)
            .map_err(|retry_after| Refusal::TooManyJoins {
                per_minute,
                retry_after,
            })
    }

    /// Refuses `joiner` if it would be one member too many: it does not
    /// take the place of a member at its address, and the members, with
    /// `pending` others counted as members to come (those under a check,
    /// when a join arrives), leave no room.
    pub(super) fn admit_size(&self, joiner: &Member, pending: usize) -> Result<(), Refusal> {
        let limit = self.config.max_members;
        let replaces = self.members.at_place(joiner).is_some();
        if replaces || self.members.len() + pending < limit {
            Ok(())
        } else {
            Err(Refusal::CloudFull { limit })
        }
    }

    /// Whether the table has room for one more member.
    pub(super) fn has_room(&self) -> bool {
        self.members.len() < self.config.max_members
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(n: usize) -> IpAddr {
        let [_, a, b, c] = (n as u32).to_be_bytes();
        IpAddr::from([10, a, b, c])
    }

    #[test]
    fn the_sources_remembered_are_bounded_and_forgotten_once_they_could_burst_again() {
        #[allow(clippy::disallowed_methods)]
        let t0 = Instant::now();
        let mut rate = JoinRate::default();
        for n in 0..MAX_JOIN_SOURCES {
            assert_eq!(rate.take(t0, source(n), 2), Ok(()), "source {n}");
        }
        let newcomer = source(MAX_JOIN_SOURCES);
        assert_eq!(
            rate.take(t0, newcomer, 2),
            Err(Duration::from_secs(30)),
            "no room for a new source while every one joined within the minute"
        );
        assert_eq!(rate.take(t0, source(0), 2), Ok(()), "known ones still may");
        assert_eq!(rate.sources(), MAX_JOIN_SOURCES);
        let later = t0 + Duration::from_secs(30);
        assert_eq!(rate.take(later, newcomer, 2), Ok(()));
        assert_eq!(
            rate.sources(),
            2,
            "only source 0 (twice) and the newcomer are still within a burst"
        );
    }
}
