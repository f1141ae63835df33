//! Tunables of the membership state machine, with their invariants.

use std::time::Duration;

/// How the membership behaves in time. Every field must be non-zero.
///
/// ```
/// use std::time::Duration;
/// use peercloud_core::Config;
///
/// let config = Config {
///     probe_interval: Duration::from_millis(200),
///     ..Config::new_lan()
/// };
/// assert_eq!(config.probe_failures, 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// How often one member is probed with `/status`. Each peer probes its
    /// members in turn (a shuffled round), so with `n` members each one is
    /// probed by this peer once in every round of `n` ticks: two probes of
    /// one member are at most `(2n - 1) * probe_interval` apart.
    pub probe_interval: Duration,
    /// How long a probe may take before it counts as failed.
    pub probe_timeout: Duration,
    /// How many probes in a row must fail before a member is evicted. A
    /// failed member is probed again at the next tick, so a crash is found
    /// within about `probe_failures * probe_interval` of its first probe.
    /// The original evicts on the first failure, which lets one slow answer
    /// evict a healthy peer.
    pub probe_failures: u32,
    /// How long a `/joined` or `/left` notice may take.
    pub call_timeout: Duration,
    /// How long a joiner's `/status` check may take. Keep it under the
    /// joiner's own patience (the original gives up on its `/join` after
    /// 1 s): a joiner that gave up and is admitted anyway would be a member
    /// that does not know it is one.
    pub check_timeout: Duration,
    /// How long this peer waits for a seed to answer its `/join` (the seed
    /// checks the joiner before it answers).
    pub join_timeout: Duration,
    /// How long `leave` waits for the members to acknowledge it.
    pub leave_timeout: Duration,
    /// How often a peer that has no member tries its seeds again: one that
    /// started before its seeds, whose cloud left, or that every member
    /// dropped. A seed that answers `409` (it is this peer, or already
    /// lists it) is not tried again.
    pub rejoin_interval: Duration,
}

impl Config {
    /// For peers on one network: probe every second, evict after two
    /// failed probes of one second each.
    pub fn new_lan() -> Self {
        Config {
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(1),
            probe_failures: 2,
            call_timeout: Duration::from_secs(2),
            check_timeout: Duration::from_millis(800),
            join_timeout: Duration::from_secs(5),
            leave_timeout: Duration::from_secs(2),
            rejoin_interval: Duration::from_secs(5),
        }
    }

    /// For peers across slower or lossier links: everything more patient.
    pub fn new_wan() -> Self {
        Config {
            probe_interval: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(3),
            probe_failures: 3,
            call_timeout: Duration::from_secs(5),
            check_timeout: Duration::from_secs(3),
            join_timeout: Duration::from_secs(15),
            leave_timeout: Duration::from_secs(5),
            rejoin_interval: Duration::from_secs(15),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::new_lan()
    }
}
