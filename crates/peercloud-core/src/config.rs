//! Tunables of the membership state machine, with their invariants and
//! trade-offs, and the two presets.

use std::time::Duration;

use crate::error::InvalidConfig;

/// How the membership behaves in time. [`Config::validate`] checks the
/// invariants; `Cloud::builder().start()` refuses a config that breaks them.
///
/// Failure detection follows SWIM with Lifeguard's refinements: each
/// `probe_interval` one member is probed directly; if it does not answer
/// within `probe_timeout`, `indirect_probes` other members are asked to
/// probe it; if none reaches it, it is *suspected* and gossip tells the
/// cloud. It stays a member until its suspicion times out (between
/// `suspicion_min` and `suspicion_max`, shorter the more members confirm
/// it), and it can refute the suspicion at any time by answering with a
/// higher incarnation. Only then is it declared failed.
///
/// ```
/// use std::time::Duration;
/// use peercloud_core::Config;
///
/// let config = Config {
///     probe_interval: Duration::from_millis(200),
///     ..Config::new_lan()
/// };
/// assert!(config.validate().is_ok());
/// let broken = Config { probe_interval: Duration::ZERO, ..Config::new_lan() };
/// assert!(broken.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How often one member is probed with `/status`. Each peer probes its
    /// members in turn (a shuffled round), so with `n` members each one is
    /// probed by this peer once in every round of `n` ticks, and by some
    /// peer about once per interval. Shorter finds failures sooner and
    /// costs more requests (one per interval per peer, whatever the size
    /// of the cloud).
    pub probe_interval: Duration,
    /// How long a direct probe may take before helpers are asked. Too short
    /// on a busy host asks helpers for nothing; too long delays detection.
    pub probe_timeout: Duration,
    /// How many members are asked to probe a member that did not answer a
    /// direct probe. More helpers make one broken link or one slow path
    /// less likely to cause a suspicion, at the cost of that many requests
    /// per failed probe. 0 turns indirect probes off.
    pub indirect_probes: usize,
    /// The shortest suspicion, for a cloud of up to 10 members; it grows
    /// with the logarithm of the cloud's size. A suspected member has this
    /// long at least to refute before it is declared failed: it must be
    /// longer than the pauses a healthy peer may take (a GC, a stalled VM).
    pub suspicion_min: Duration,
    /// The longest suspicion: what a member suspected by this peer alone
    /// waits before it is declared failed. Each other member that suspects
    /// it too brings the wait closer to the shortest (Lifeguard's dynamic
    /// suspicion).
    pub suspicion_max: Duration,
    /// How many times each piece of gossip rides on outgoing probes,
    /// multiplied by the logarithm of the cloud's size. Higher spreads news
    /// more surely on lossy links, at the cost of larger probes.
    pub gossip_retransmits: u32,
    /// How often news waiting in the gossip queue (a join, a suspicion, a
    /// failure, new data) is sent to `gossip_fanout` random peercloud
    /// members besides riding on probes. This is what carries a burst of
    /// joins through a large cloud in seconds: probes alone carry a few
    /// dozen updates each, twice a probe interval. With nothing to tell,
    /// nothing is sent, so a quiet cloud costs no more.
    pub gossip_interval: Duration,
    /// How many members each gossip round goes to. News reaches every
    /// member in about `log(n) / log(fanout + 1)` rounds; more costs that
    /// many requests per round while there is news. 0 leaves gossip to
    /// the probes alone. It is also the most round pushes under way at
    /// once: a round goes only to as many members as earlier rounds'
    /// answers (or failures) left room for, so a peer answered slower
    /// than `gossip_interval` gossips at the pace it is answered. A push
    /// still unanswered when later ones come back quickly (after twice
    /// their round trip and one interval more) is presumed lost and gives
    /// its place back, so loss does not shrink the rounds.
    pub gossip_fanout: usize,
    /// How long a `/joined` or `/left` notice, a gossip push or a list pull
    /// may take.
    pub call_timeout: Duration,
    /// How long a joiner's `/status` check may take. Keep it under the
    /// joiner's own patience (the original gives up on its `/join` after
    /// 1 s): a joiner that gave up and is admitted anyway would be a member
    /// that does not know it is one. A peercloud joiner, which waits
    /// `join_timeout`, is given half of that when it is longer.
    pub check_timeout: Duration,
    /// How long this peer waits for a seed to answer its `/join` (the seed
    /// checks the joiner before it answers).
    pub join_timeout: Duration,
    /// How long `leave` waits for the members to acknowledge it.
    pub leave_timeout: Duration,
    /// How often a peer that has no member tries its seeds again: one that
    /// started before its seeds, whose cloud left, or that every member
    /// dropped. It tries after an eighth of this, then a quarter, a half,
    /// and from then on every interval, each give or take a quarter. A
    /// seed that turns out to be this peer is not tried again.
    pub rejoin_interval: Duration,
    /// How often (with ±25% jitter) a peer that has members tries its seeds
    /// that are not members, and members it declared failed: this is what
    /// heals a partition and merges clouds that formed apart. Shorter heals
    /// sooner; each try is one request.
    pub reconnect_interval: Duration,
    /// How long a member declared failed is remembered and tried again
    /// (with backoff, up to four reconnect intervals apart). Past this it
    /// can still come back by itself, through its seeds.
    pub failed_memory: Duration,
    /// How long a member that left is remembered, so that late gossip
    /// about it does not bring it back.
    pub left_memory: Duration,
    /// The most `/join` requests taken from one source address (an IPv4
    /// address, or an IPv6 /64: see [`source_of`](crate::source_of)) in a
    /// minute: they may come all at once, then one every `60 s / n`. More
    /// are refused with [`Refusal::TooManyJoins`](crate::Refusal::TooManyJoins)
    /// (HTTP 429) before anything is checked, because each join costs a
    /// `/status` check of the joiner and a notice to every member, and a
    /// stranger must not make this peer spend them without end. Default
    /// 60: twenty peers started at once on one host (or behind one NAT)
    /// join through one seed without waiting, and a peer alone retries its
    /// seeds far less often. Must be at least 1. The `peercloud` crate sets
    /// it from its `Limits`.
    pub max_joins_per_ip_per_minute: u32,
    /// The most members this peer keeps. A join that would add one more is
    /// refused with [`Refusal::CloudFull`](crate::Refusal::CloudFull) (HTTP
    /// 503) before anything is checked (a joiner that takes the place of a
    /// member at its address is not one more), and members learned of in
    /// any other way (notices, gossip, lists) are not added past it: this
    /// bounds the memory a cloud can make a peer hold, at most 64 KiB of
    /// data per member. Default 1024. Every peer of a cloud should have the
    /// same limit, above the cloud's size: a peer at its limit does not
    /// know the members past it. Must be at least 1. The `peercloud` crate
    /// sets it from its `Limits`.
    pub max_members: usize,
}

/// The default of [`Config::max_joins_per_ip_per_minute`].
pub const DEFAULT_MAX_JOINS_PER_IP_PER_MINUTE: u32 = 60;

/// The default of [`Config::max_members`].
pub const DEFAULT_MAX_MEMBERS: usize = 1024;

impl Config {
    /// For peers on one network: probe every half second, ask three helpers,
    /// suspect for 4 to 20 seconds; reconnect every 5 seconds.
    pub fn new_lan() -> Self {
        Config {
            probe_interval: Duration::from_millis(500),
            probe_timeout: Duration::from_millis(800),
            indirect_probes: 3,
            suspicion_min: Duration::from_secs(4),
            suspicion_max: Duration::from_secs(20),
            gossip_retransmits: 4,
            gossip_interval: Duration::from_millis(200),
            gossip_fanout: 3,
            call_timeout: Duration::from_secs(2),
            check_timeout: Duration::from_millis(800),
            join_timeout: Duration::from_secs(5),
            leave_timeout: Duration::from_secs(2),
            rejoin_interval: Duration::from_secs(5),
            reconnect_interval: Duration::from_secs(5),
            failed_memory: Duration::from_secs(3600),
            left_memory: Duration::from_secs(120),
            max_joins_per_ip_per_minute: DEFAULT_MAX_JOINS_PER_IP_PER_MINUTE,
            max_members: DEFAULT_MAX_MEMBERS,
        }
    }

    /// For peers across slower or lossier links: everything more patient.
    pub fn new_wan() -> Self {
        Config {
            probe_interval: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(3),
            indirect_probes: 3,
            suspicion_min: Duration::from_secs(12),
            suspicion_max: Duration::from_secs(60),
            gossip_retransmits: 6,
            gossip_interval: Duration::from_millis(500),
            gossip_fanout: 3,
            call_timeout: Duration::from_secs(5),
            check_timeout: Duration::from_secs(3),
            join_timeout: Duration::from_secs(15),
            leave_timeout: Duration::from_secs(5),
            rejoin_interval: Duration::from_secs(15),
            reconnect_interval: Duration::from_secs(15),
            failed_memory: Duration::from_secs(3 * 3600),
            left_memory: Duration::from_secs(300),
            max_joins_per_ip_per_minute: DEFAULT_MAX_JOINS_PER_IP_PER_MINUTE,
            max_members: DEFAULT_MAX_MEMBERS,
        }
    }

    /// Checks the invariants: every duration is non-zero (a zero interval
    /// would spin), `suspicion_min <= suspicion_max`, at least one gossip
    /// retransmit, and limits of at least one join a minute and one member
    /// (zero would refuse every joiner).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let durations = [
            ("probe_interval", self.probe_interval),
            ("probe_timeout", self.probe_timeout),
            ("suspicion_min", self.suspicion_min),
            ("suspicion_max", self.suspicion_max),
            ("gossip_interval", self.gossip_interval),
            ("call_timeout", self.call_timeout),
            ("check_timeout", self.check_timeout),
            ("join_timeout", self.join_timeout),
            ("leave_timeout", self.leave_timeout),
            ("rejoin_interval", self.rejoin_interval),
            ("reconnect_interval", self.reconnect_interval),
            ("failed_memory", self.failed_memory),
            ("left_memory", self.left_memory),
        ];
        if let Some((field, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(InvalidConfig {
                field,
                reason: "must not be zero",
            });
        }
        if let Some((field, _)) = durations.iter().find(|(_, d)| *d > MAX_DURATION) {
            return Err(InvalidConfig {
                field,
                reason: "must be at most 30 days",
            });
        }
        if self.suspicion_min > self.suspicion_max {
            return Err(InvalidConfig {
                field: "suspicion_min",
                reason: "must not be longer than suspicion_max",
            });
        }
        let counts = [
            ("gossip_retransmits", u64::from(self.gossip_retransmits)),
            (
                "max_joins_per_ip_per_minute",
                u64::from(self.max_joins_per_ip_per_minute),
            ),
            ("max_members", self.max_members as u64),
        ];
        if let Some((field, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(InvalidConfig {
                field,
                reason: "must be at least 1",
            });
        }
        Ok(())
    }
}

/// The longest any duration of a [`Config`] may be: far past any sensible
/// timing, and far from where the core's arithmetic on it (a deadline is
/// `now` plus it; suspicions scale it with the cloud's size, backoffs
/// multiply it) could overflow an `Instant`.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for Config {
    fn default() -> Self {
        Config::new_lan()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_past_a_month_is_refused_before_it_can_overflow_a_deadline() {
        let huge = Config {
            failed_memory: Duration::MAX,
            ..Config::new_lan()
        };
        assert_eq!(
            huge.validate(),
            Err(InvalidConfig {
                field: "failed_memory",
                reason: "must be at most 30 days",
            })
        );
        let month = Config {
            failed_memory: MAX_DURATION,
            ..Config::new_lan()
        };
        assert_eq!(month.validate(), Ok(()));
    }

    #[test]
    fn both_presets_are_valid() {
        assert_eq!(Config::new_lan().validate(), Ok(()));
        assert_eq!(Config::new_wan().validate(), Ok(()));
    }

    #[test]
    fn a_zero_interval_is_refused_by_name() {
        let config = Config {
            reconnect_interval: Duration::ZERO,
            ..Config::new_lan()
        };
        assert_eq!(config.validate().unwrap_err().field, "reconnect_interval");
    }

    #[test]
    fn zero_limits_are_refused_by_name() {
        let no_joins = Config {
            max_joins_per_ip_per_minute: 0,
            ..Config::new_lan()
        };
        assert_eq!(
            no_joins.validate().unwrap_err().field,
            "max_joins_per_ip_per_minute"
        );
        let no_members = Config {
            max_members: 0,
            ..Config::new_wan()
        };
        assert_eq!(no_members.validate().unwrap_err().field, "max_members");
    }

    #[test]
    fn a_minimum_suspicion_above_the_maximum_is_refused() {
        let config = Config {
            suspicion_min: Duration::from_secs(30),
            ..Config::new_lan()
        };
        assert_eq!(config.validate().unwrap_err().field, "suspicion_min");
    }
}
