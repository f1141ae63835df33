//! What the tables report: who (`Sys`), which row (`Figure`), and for each
//! row its label, unit, statistic and the target of the benchmark issue
//! (the `private` table has targets of its own: [`Figure::private_target`]).

use crate::fleet::Kind;

/// Who a figure is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sys {
    /// The original node.js peers.
    Original,
    /// peercloud peers (open ones: plain HTTP, as the original).
    Peercloud,
    /// The bare hyper pair.
    Ceiling,
    /// peercloud peers of a private cloud (TLS 1.3).
    Private,
}

impl Sys {
    /// How many there are: the cells of one figure.
    pub(crate) const COUNT: usize = 4;

    /// The peers it stands for; `None` for the ceiling, which is no peer.
    pub(crate) fn kind(self) -> Option<Kind> {
        match self {
            Sys::Original => Some(Kind::Original),
            Sys::Peercloud => Some(Kind::Peercloud),
            Sys::Private => Some(Kind::Private),
            Sys::Ceiling => None,
        }
    }
}

impl From<Kind> for Sys {
    fn from(kind: Kind) -> Sys {
        match kind {
            Kind::Original => Sys::Original,
            Kind::Peercloud => Sys::Peercloud,
            Kind::Private => Sys::Private,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Figure {
    /// Round trips per second, 1 in flight.
    Unicast1,
    /// Round trips per second, 64 in flight.
    Unicast64,
    /// Latency p50 at 64 in flight.
    UnicastP50,
    /// Latency p99 at 64 in flight.
    UnicastP99,
    /// Broadcast to 19 peers, p50 of the gathered replies.
    BroadcastP50,
    /// Broadcast to 19 peers, p99.
    BroadcastP99,
    /// 20 peers joining at once: did the run fully converge (1) or not (0).
    JoinConverged,
    /// 20 peers joining at once: time to full mesh after the last start.
    JoinTime,
    /// kill -9 of one of 10: time until every survivor dropped it (median).
    EvictMedian,
    /// The same, worst run.
    EvictWorst,
    /// One of 10 paused 3 s: how many survivors dropped it at any time.
    PauseShortDropped,
    /// The same: was every list (the paused peer's too) whole 10 s after.
    PauseShortWhole,
    /// One of 10 paused 10 s: how many survivors dropped it at any time.
    PauseLongDropped,
    /// The same: time from SIGCONT until every survivor lists it again.
    PauseLongReturn,
    /// Two clouds of 2 formed apart: time from the second one's start
    /// until all four list the three others.
    MergeTime,
    /// Five hosts, 3 and 2 on two bridges, the link between the bridges
    /// cut 30 s: did each side drop the other (1) or not (0).
    PartitionSplit,
    /// The same: time from the link's return until all five list the four
    /// others.
    PartitionHeal,
    /// Five hosts, the link between h1 and h4 broken 30 s: how many peers
    /// dropped someone meanwhile.
    PairDropped,
    /// New data of 1 of 10 peercloud peers: time until every other peer
    /// shows it.
    UpdateCloud,
    /// New data of a peercloud peer in a cloud of 5 original and 5
    /// peercloud peers: time until every original lists it exactly once.
    UpdateMixed,
    /// Idle resident memory of a lone peer.
    MemLone,
    /// Idle resident memory per peer in a cloud of 20.
    MemCloud,
    /// The swarm (many peers in one process): time to converge.
    SwarmTime,
    /// The swarm: resident memory of the process.
    SwarmMemory,
    /// The swarm: resident memory of the process over its peers.
    SwarmPerPeer,
    /// The swarm: threads.
    SwarmThreads,
    /// The swarm: open sockets, 1 s after it converged.
    SwarmSockets,
    /// The swarm: open sockets, 10 s after it converged.
    SwarmSocketsLater,
    /// The swarm: resident memory of the process, 10 s after it converged.
    SwarmMemoryLater,
    /// The swarm: suspicions its peers raised in the 10 s after it
    /// converged (a storm of false suspicions shows here).
    SwarmSuspicionsAfter,
    /// The swarm: a broadcast from one peer to all the others, p50.
    SwarmBroadcastP50,
    /// The swarm: the same, p99.
    SwarmBroadcastP99,
}

/// How a figure is shown.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Unit {
    /// Per second, with thousands separators.
    PerSec,
    /// Milliseconds.
    Millis,
    /// Seconds.
    Secs,
    /// Mebibytes.
    Mib,
    /// A plain count.
    Count,
}

/// How the runs of a figure become one number.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stat {
    /// The median of the runs.
    Median,
    /// The largest run.
    Worst,
    /// Values are 1 (converged) or 0; shown as `k/n`.
    Converged,
}

/// What peercloud must reach, from the benchmark issue.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// Nothing: the figure is reported.
    Info,
    /// peercloud's figure at most this, in the row's unit.
    AtMost(f64),
    /// peercloud / ceiling at least this.
    CeilingAtLeast(f64),
    /// peercloud / ceiling at most this.
    CeilingAtMost(f64),
    /// peercloud / original at most this.
    OriginalAtMost(f64),
    /// Every run converged.
    EveryRun,
    /// private / open peercloud at least this.
    OpenAtLeast(f64),
}

impl Figure {
    /// Every row, in the order of the table.
    pub(crate) const ALL: [Figure; 32] = [
        Figure::Unicast1,
        Figure::Unicast64,
        Figure::UnicastP50,
        Figure::UnicastP99,
        Figure::BroadcastP50,
        Figure::BroadcastP99,
        Figure::JoinConverged,
        Figure::JoinTime,
        Figure::EvictMedian,
        Figure::EvictWorst,
        Figure::PauseShortDropped,
        Figure::PauseShortWhole,
        Figure::PauseLongDropped,
        Figure::PauseLongReturn,
        Figure::MergeTime,
        Figure::PartitionSplit,
        Figure::PartitionHeal,
        Figure::PairDropped,
        Figure::UpdateCloud,
        Figure::UpdateMixed,
        Figure::MemLone,
        Figure::MemCloud,
        Figure::SwarmTime,
        Figure::SwarmMemory,
        Figure::SwarmPerPeer,
        Figure::SwarmThreads,
        Figure::SwarmSockets,
        Figure::SwarmSocketsLater,
        Figure::SwarmMemoryLater,
        Figure::SwarmSuspicionsAfter,
        Figure::SwarmBroadcastP50,
        Figure::SwarmBroadcastP99,
    ];

    /// The rows of the `unicast` table: peercloud against the ceiling.
    pub(crate) const UNICAST: [Figure; 4] = [
        Figure::Unicast1,
        Figure::Unicast64,
        Figure::UnicastP50,
        Figure::UnicastP99,
    ];

    /// The rows of the `scale` table: the swarm alone.
    pub(crate) const SWARM: [Figure; 10] = [
        Figure::SwarmTime,
        Figure::SwarmMemory,
        Figure::SwarmPerPeer,
        Figure::SwarmThreads,
        Figure::SwarmSockets,
        Figure::SwarmSocketsLater,
        Figure::SwarmMemoryLater,
        Figure::SwarmSuspicionsAfter,
        Figure::SwarmBroadcastP50,
        Figure::SwarmBroadcastP99,
    ];

    /// The rows of the `private` table: open and private peercloud side by
    /// side.
    pub(crate) const PRIVATE: [Figure; 9] = [
        Figure::Unicast1,
        Figure::Unicast64,
        Figure::UnicastP50,
        Figure::UnicastP99,
        Figure::BroadcastP50,
        Figure::BroadcastP99,
        Figure::JoinConverged,
        Figure::JoinTime,
        Figure::MemCloud,
    ];

    /// Its target in the `private` table (issue 8): private unicast round
    /// trips at 64 in flight at least 0.7× open peercloud's; the other
    /// rows are reported.
    pub(crate) fn private_target(self) -> Target {
        match self {
            Figure::Unicast64 => Target::OpenAtLeast(0.7),
            _ => Target::Info,
        }
    }

    /// The rows of the fault scenarios and data updates (`peercloud-bench
    /// faults`).
    pub(crate) const FAULTS: [Figure; 10] = [
        Figure::PauseShortDropped,
        Figure::PauseShortWhole,
        Figure::PauseLongDropped,
        Figure::PauseLongReturn,
        Figure::MergeTime,
        Figure::PartitionSplit,
        Figure::PartitionHeal,
        Figure::PairDropped,
        Figure::UpdateCloud,
        Figure::UpdateMixed,
    ];

    /// Its label, unit, statistic and target.
    pub(crate) fn spec(self) -> (&'static str, Unit, Stat, Target) {
        use Figure::*;
        match self {
            Unicast1 => (
                "unicast round trips, 1 in flight",
                Unit::PerSec,
                Stat::Median,
                Target::CeilingAtLeast(0.7),
            ),
            Unicast64 => (
                "unicast round trips, 64 in flight",
                Unit::PerSec,
                Stat::Median,
                Target::CeilingAtLeast(0.7),
            ),
            UnicastP50 => (
                "unicast latency p50, 64 in flight",
                Unit::Millis,
                Stat::Median,
                Target::CeilingAtMost(1.5),
            ),
            UnicastP99 => (
                "unicast latency p99, 64 in flight",
                Unit::Millis,
                Stat::Median,
                Target::CeilingAtMost(1.5),
            ),
            BroadcastP50 => (
                "broadcast to 19 peers, p50",
                Unit::Millis,
                Stat::Median,
                Target::OriginalAtMost(1.0 / 8.0),
            ),
            BroadcastP99 => (
                "broadcast to 19 peers, p99",
                Unit::Millis,
                Stat::Median,
                Target::Info,
            ),
            JoinConverged => (
                "20 peers join at once: runs fully converged",
                Unit::Count,
                Stat::Converged,
                Target::EveryRun,
            ),
            JoinTime => (
                "20 peers join at once: full mesh after the last start",
                Unit::Secs,
                Stat::Median,
                Target::Info,
            ),
            EvictMedian => (
                "kill -9 of 1 of 10: all survivors dropped it, median",
                Unit::Secs,
                Stat::Median,
                Target::Info,
            ),
            EvictWorst => (
                "kill -9 of 1 of 10: all survivors dropped it, worst",
                Unit::Secs,
                Stat::Worst,
                Target::Info,
            ),
            PauseShortDropped => (
                "paused 3 s, 1 of 10: survivors that dropped it, worst",
                Unit::Count,
                Stat::Worst,
                Target::Info,
            ),
            PauseShortWhole => (
                "paused 3 s, 1 of 10: runs with every list whole 10 s after",
                Unit::Count,
                Stat::Converged,
                Target::Info,
            ),
            PauseLongDropped => (
                "paused 10 s, 1 of 10: survivors that dropped it, worst",
                Unit::Count,
                Stat::Worst,
                Target::Info,
            ),
            PauseLongReturn => (
                "paused 10 s, 1 of 10: all survivors list it again, after SIGCONT",
                Unit::Secs,
                Stat::Median,
                Target::Info,
            ),
            MergeTime => (
                "clouds of 2 and 2 formed apart: all 4 list each other, after the 2nd started",
                Unit::Secs,
                Stat::Median,
                Target::Info,
            ),
            PartitionSplit => (
                "partition of 3 + 2 hosts, 30 s: runs where each side dropped the other",
                Unit::Count,
                Stat::Converged,
                Target::Info,
            ),
            PartitionHeal => (
                "partition of 3 + 2 hosts, 30 s: all 5 list the 4 others, after the link is back",
                Unit::Secs,
                Stat::Median,
                Target::Info,
            ),
            PairDropped => (
                "link h1–h4 broken 30 s, 5 hosts: peers that dropped someone meanwhile, worst",
                Unit::Count,
                Stat::Worst,
                Target::Info,
            ),
            UpdateCloud => (
                "new data of 1 of 10: every other peer shows it (the original has no update)",
                Unit::Millis,
                Stat::Median,
                Target::Info,
            ),
            UpdateMixed => (
                "new data of a peercloud peer, 5 original + 5 peercloud: every original lists it once",
                Unit::Millis,
                Stat::Median,
                Target::Info,
            ),
            MemLone => (
                "idle memory (RSS), one peer alone",
                Unit::Mib,
                Stat::Median,
                Target::OriginalAtMost(1.0 / 12.0),
            ),
            MemCloud => (
                "idle memory (RSS) per peer, cloud of 20",
                Unit::Mib,
                Stat::Median,
                Target::OriginalAtMost(1.0 / 12.0),
            ),
            SwarmTime => (
                "swarm, N peers in one process, join at once: converged after",
                Unit::Secs,
                Stat::Median,
                Target::AtMost(15.0),
            ),
            SwarmMemory => (
                "swarm: memory (RSS) of the process, 1 s after",
                Unit::Mib,
                Stat::Median,
                Target::Info,
            ),
            SwarmPerPeer => (
                "swarm: memory (RSS) per peer",
                Unit::Mib,
                Stat::Median,
                Target::AtMost(0.5),
            ),
            SwarmThreads => (
                "swarm: threads",
                Unit::Count,
                Stat::Median,
                Target::Info,
            ),
            SwarmSockets => (
                "swarm: open sockets, 1 s after",
                Unit::Count,
                Stat::Median,
                Target::Info,
            ),
            SwarmSocketsLater => (
                "swarm: open sockets, 10 s after",
                Unit::Count,
                Stat::Median,
                Target::Info,
            ),
            SwarmMemoryLater => (
                "swarm: memory (RSS) of the process, 10 s after",
                Unit::Mib,
                Stat::Median,
                Target::Info,
            ),
            SwarmSuspicionsAfter => (
                "swarm: suspicions raised in the 10 s after, worst",
                Unit::Count,
                Stat::Worst,
                Target::Info,
            ),
            SwarmBroadcastP50 => (
                "swarm: broadcast from 1 peer to all N-1 others, p50",
                Unit::Millis,
                Stat::Median,
                Target::Info,
            ),
            SwarmBroadcastP99 => (
                "swarm: broadcast from 1 peer to all N-1 others, p99",
                Unit::Millis,
                Stat::Median,
                Target::Info,
            ),
        }
    }
}
