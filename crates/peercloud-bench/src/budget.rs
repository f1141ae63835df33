//! How long and how often each benchmark runs: the full run, and `--quick`
//! (a few minutes). Every wait in the orchestrator is bounded by these.

use std::time::Duration;

use crate::roles::load::Window;

/// The counts and time limits of one `all` run.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    /// Whether this is the `--quick` run.
    pub(crate) quick: bool,
    /// Repetitions of the throughput and broadcast measurements.
    pub(crate) runs: usize,
    /// One unicast measurement.
    pub(crate) unicast: Window,
    /// One broadcast measurement (broadcasts one after the other).
    pub(crate) broadcast: Window,
    /// Repetitions of the idle-memory measurement of a lone peer.
    pub(crate) memory_runs: usize,
    /// Repetitions of each membership scenario, per kind of peer.
    pub(crate) membership_runs: usize,
    /// How long 20 peers joining at once may take to converge.
    pub(crate) converge_within: Duration,
    /// How long the survivors of a `kill -9` may take to drop it.
    pub(crate) evict_within: Duration,
    /// Repetitions of each fault scenario (pauses, clouds formed apart),
    /// per kind of peer.
    pub(crate) faults_runs: usize,
    /// How long the survivors may take, after a 10 s pause ends, to list
    /// the paused peer again: past it, "never".
    pub(crate) return_within: Duration,
    /// How long two clouds formed apart may take to merge, from the start
    /// of the second: past it, "never".
    pub(crate) merge_within: Duration,
    /// How long five peers in a testbed may take, after the link between
    /// the bridges comes back, to all list each other again: past it,
    /// "never". The partition and the broken pair run `faults_runs` times.
    pub(crate) heal_within: Duration,
    /// How long the other peers may take to show a peer's new data, from
    /// the `set_data` command: past it, "never". Each data-update scenario
    /// runs `faults_runs` times.
    pub(crate) update_within: Duration,
    /// Repetitions of the swarm.
    pub(crate) swarm_runs: usize,
    /// Peers in the swarm's one process (`--peers`).
    pub(crate) swarm_peers: usize,
    /// Broadcasts timed in each swarm run.
    pub(crate) swarm_broadcasts: usize,
}

/// The swarm's size unless `--peers` says otherwise: issue 7's cloud.
pub(crate) const SWARM_PEERS: usize = 1_000;

impl Budget {
    /// The full run (5 runs unless `runs` says otherwise), or `--quick`
    /// (3 runs, shorter windows, one run of each slow scenario).
    pub(crate) fn new(quick: bool, runs: Option<usize>) -> Budget {
        if quick {
            let runs = runs.unwrap_or(3);
            Budget {
                quick,
                runs,
                unicast: window(200, 600),
                broadcast: window(200, 600),
                memory_runs: 1,
                membership_runs: 1,
                converge_within: Duration::from_secs(5),
                // The original probes one random member every 5 s: its
                // worst case is tens of seconds.
                evict_within: Duration::from_secs(30),
                // The bounds are the figures' meaning ("never"): the same
                // as the full run's.
                faults_runs: 1,
                return_within: RETURN_WITHIN,
                merge_within: MERGE_WITHIN,
                heal_within: HEAL_WITHIN,
                update_within: UPDATE_WITHIN,
                swarm_runs: 1,
                swarm_peers: SWARM_PEERS,
                swarm_broadcasts: 10,
            }
        } else {
            let runs = runs.unwrap_or(5);
            Budget {
                quick,
                runs,
                unicast: window(500, 2_000),
                broadcast: window(500, 2_000),
                memory_runs: runs.min(3),
                membership_runs: runs,
                converge_within: Duration::from_secs(10),
                evict_within: Duration::from_secs(30),
                // Each run mostly waits out fixed windows and bounds
                // (about 140 s when neither kind recovers, and 140 s more
                // for the partition and the broken pair when the original
                // never heals): three runs add about 14 minutes to the full
                // run.
                faults_runs: runs.min(3),
                return_within: RETURN_WITHIN,
                merge_within: MERGE_WITHIN,
                heal_within: HEAL_WITHIN,
                update_within: UPDATE_WITHIN,
                swarm_runs: runs.min(3),
                swarm_peers: SWARM_PEERS,
                swarm_broadcasts: 20,
            }
        }
    }
}

/// See [`Budget::return_within`].
const RETURN_WITHIN: Duration = Duration::from_secs(30);

/// See [`Budget::merge_within`].
const MERGE_WITHIN: Duration = Duration::from_secs(60);

/// See [`Budget::heal_within`].
const HEAL_WITHIN: Duration = Duration::from_secs(60);

/// See [`Budget::update_within`].
const UPDATE_WITHIN: Duration = Duration::from_secs(30);

fn window(warmup_ms: u64, ms: u64) -> Window {
    Window::of_ms(warmup_ms, ms)
}
