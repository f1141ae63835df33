//! `Limits`: what a peer grants any one connection, request or source
//! address, so that strangers cannot exhaust it. Plain values; the server
//! and the core enforce them.

use std::time::Duration;

use peercloud_core::{DEFAULT_MAX_JOINS_PER_IP_PER_MINUTE, DEFAULT_MAX_MEMBERS};

use crate::builder::DEFAULT_BODY_LIMIT;
use crate::error::StartError;

/// The limits a peer puts on what others may make it hold, in open and
/// private clouds alike: connections, how long each part of a request may
/// take, body sizes, joins and members. Every field has a default meant to
/// be safe for a peer reachable by strangers and roomy for a cloud of up to
/// a thousand members; set them with [`CloudBuilder::limits`](crate::CloudBuilder::limits).
///
/// A "source" is an IPv4 address, or an IPv6 /64 (one host commonly holds
/// a whole /64); see [`source_of`](peercloud_core::source_of).
///
/// ```no_run
/// use std::time::Duration;
/// use peercloud::{Cloud, Limits};
///
/// # async fn demo() -> Result<(), peercloud::StartError> {
/// // A cloud of 3,000 peers, many of them behind one NAT.
/// let mut limits = Limits::default();
/// limits.max_members = 4096;
/// limits.max_connections = 8192;
/// limits.max_connections_per_ip = 2048;
/// limits.idle_timeout = Duration::from_secs(20);
/// limits.header_timeout = Duration::from_secs(30);
/// let cloud = Cloud::builder().limits(limits).start().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most connections open to this peer at once, from anyone; one
    /// more is closed as soon as it is accepted. Each holds a task and its
    /// buffers (up to about 64 KiB), and a file descriptor that this
    /// peer's own calls to other members also need. Default 1024: as many
    /// as there can be members by default, since every member may hold one
    /// open to this peer (a broadcast opens one to every member).
    pub max_connections: usize,
    /// The most connections open at once from one source; one more is
    /// closed as soon as it is accepted. Default 256: a quarter of
    /// [`max_connections`](Self::max_connections), so that one stranger
    /// never takes them all, and room for the few connections each peer
    /// keeps to this one (four for membership calls, one per message in
    /// flight) for dozens of peers on one host or behind one NAT. Peers run
    /// many to a process or a host on one address (a test, a benchmark)
    /// need more.
    pub max_connections_per_ip: usize,
    /// How long the per-connection step before HTTP may take (a TLS
    /// handshake, where there is one). Default 10 s: a handshake over a
    /// slow link takes a few round trips; a stranger that starts one and
    /// stops holds a connection no longer than this.
    pub handshake_timeout: Duration,
    /// How long a connection may wait, from the moment it is ready for a
    /// request (it opened, or its previous answer was sent), until the
    /// request's head (the request line and headers) has fully arrived; it
    /// is then closed without an answer. Default 20 s: a head is a few
    /// hundred bytes, so only a stranger trickling it byte by byte (to hold
    /// the connection) comes near. The wait before the first byte counts,
    /// so keep it above [`idle_timeout`](Self::idle_timeout), which closes
    /// silent connections sooner.
    pub header_timeout: Duration,
    /// How long a request's body may take to arrive, from the moment its
    /// head has; a body still incomplete then is answered `408` and the
    /// connection closed. Default 30 s: a full
    /// [`body_limit`](Self::body_limit) at about 35 KB/s.
    pub body_timeout: Duration,
    /// How long a connection with no request under way may stay silent
    /// (no byte either way) before it is closed. Default 10 s: longer than
    /// peers keep an idle connection for reuse (3 s, and 5 s for node.js
    /// clients), so that the client always closes first and never sends a
    /// request on a connection this peer is closing.
    pub idle_timeout: Duration,
    /// The largest request body; a larger one is answered `413`, and the
    /// rest of it is read and dropped (a bounded amount) so that the client
    /// hears the answer rather than a reset. Default 1 MiB
    /// ([`DEFAULT_BODY_LIMIT`](crate::DEFAULT_BODY_LIMIT)): gossip and
    /// member lists of a thousand members fit, and so do most messages.
    pub body_limit: usize,
    /// The most `/join` requests taken from one source in a minute; they
    /// may come all at once, then one every `60 s / n`. More are answered
    /// `429` with `Retry-After`, before the joiner is checked, so nothing
    /// changes. Default 60: twenty peers started together on one host join
    /// through one seed at once, and a peer alone retries its seeds far
    /// less often. Sets [`Config::max_joins_per_ip_per_minute`](peercloud_core::Config::max_joins_per_ip_per_minute).
    pub max_joins_per_ip_per_minute: u32,
    /// The most members this peer keeps. A joiner past it is answered
    /// `503` before it is checked, so nothing changes; members learned of
    /// otherwise past it are not kept. Default 1024: at most 64 MiB of
    /// member data. Every peer of a cloud should have the same limit, above
    /// the cloud's size. Sets [`Config::max_members`](peercloud_core::Config::max_members).
    pub max_members: usize,
    /// The most idle keep-alive connections this peer's client keeps open
    /// for reuse, to all members together; when one more goes idle, the
    /// least recently used is closed. Idle ones are also closed after 3 s
    /// unused. A connection serves one request at a time, so a peer holds
    /// at most as many client connections as requests in flight, plus
    /// these. Default 16: the members a peer talks to in a second of
    /// steady state (gossip to three, probes, a few messages) all reuse
    /// theirs, and a burst (a broadcast to a thousand members) leaves
    /// sixteen behind, not a thousand. Any value is valid; 0 reuses
    /// nothing (a connection per request).
    pub max_idle_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            max_connections_per_ip: 256,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(20),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(10),
            body_limit: DEFAULT_BODY_LIMIT,
            max_joins_per_ip_per_minute: DEFAULT_MAX_JOINS_PER_IP_PER_MINUTE,
            max_members: DEFAULT_MAX_MEMBERS,
            max_idle_connections: crate::http::client::DEFAULT_MAX_IDLE,
        }
    }
}

impl Limits {
    /// Checks that no limit is zero (a zero count or timeout would refuse
    /// or close everything; `max_idle_connections` may be zero, which only
    /// stops reuse) and that the header timeout is longer than the
    /// idle timeout. `start` refuses limits that fail this.
    pub fn validate(&self) -> Result<(), StartError> {
        let counts = [
            ("max_connections", self.max_connections),
            ("max_connections_per_ip", self.max_connections_per_ip),
            ("body_limit", self.body_limit),
            (
                "max_joins_per_ip_per_minute",
                self.max_joins_per_ip_per_minute as usize,
            ),
            ("max_members", self.max_members),
        ];
        let durations = [
            ("handshake_timeout", self.handshake_timeout),
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
            ("idle_timeout", self.idle_timeout),
        ];
        let zero = counts
            .iter()
            .find(|(_, n)| *n == 0)
            .map(|(field, _)| *field)
            .or_else(|| {
                durations
                    .iter()
                    .find(|(_, d)| d.is_zero())
                    .map(|(field, _)| *field)
            });
        if let Some(field) = zero {
            return Err(StartError::InvalidLimit {
                field,
                reason: "must not be zero",
            });
        }
        // hyper counts the wait before a request's first byte toward the
        // header timeout: at or under the idle timeout, it would close
        // idle connections first, mid-reuse, instead of the idle rule.
        if self.header_timeout <= self.idle_timeout {
            return Err(StartError::InvalidLimit {
                field: "header_timeout",
                reason: "must be longer than idle_timeout",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_a_zero_limit_is_refused_by_name() {
        assert!(Limits::default().validate().is_ok());
        let limits = Limits {
            idle_timeout: Duration::ZERO,
            ..Limits::default()
        };
        let Err(StartError::InvalidLimit { field, .. }) = limits.validate() else {
            panic!("a zero idle timeout was taken");
        };
        assert_eq!(field, "idle_timeout");
        let limits = Limits {
            max_connections_per_ip: 0,
            ..Limits::default()
        };
        assert!(limits.validate().is_err());
        let no_reuse = Limits {
            max_idle_connections: 0,
            ..Limits::default()
        };
        assert!(
            no_reuse.validate().is_ok(),
            "zero idle connections is valid"
        );
    }

    #[test]
    fn a_header_timeout_not_longer_than_the_idle_timeout_is_refused() {
        let limits = Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(10),
            ..Limits::default()
        };
        let Err(StartError::InvalidLimit { field, .. }) = limits.validate() else {
            panic!("a header timeout equal to the idle timeout was taken");
        };
        assert_eq!(field, "header_timeout");
    }
}
