//! Latency histograms with fixed buckets: a lock-free recorder, and the
//! snapshot it gives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds of the latency buckets, in seconds: from a millisecond
/// (a message on one host) to ten (past every default timeout).
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A histogram of durations, in seconds, as Prometheus reads one.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Histogram {
    /// Each bucket's upper bound (from [`LATENCY_BUCKETS`]) and how many
    /// observations were at most that long (cumulative). Observations
    /// longer than the last bound count only in `count`.
    pub buckets: Vec<(f64, u64)>,
    /// How many observations there were.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum: f64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: LATENCY_BUCKETS.iter().map(|&bound| (bound, 0)).collect(),
            count: 0,
            sum: 0.0,
        }
    }
}

/// The recording side: one counter per bucket (not cumulative), one for
/// the overflow, and the sum in nanoseconds.
#[derive(Debug, Default)]
pub(crate) struct Recording {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Recording {
    pub(crate) fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> Histogram {
        let mut cumulative = 0;
        let buckets = LATENCY_BUCKETS
            .iter()
            .zip(&self.buckets)
            .map(|(&bound, n)| {
                cumulative += n.load(Ordering::Relaxed);
                (bound, cumulative)
            })
            .collect();
        // Read after the buckets, so that `count` is never below them.
        let count = self.count.load(Ordering::Relaxed).max(cumulative);
        Histogram {
            buckets,
            count,
            sum: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets_with_their_sum() {
        let recording = Recording::default();
        recording.observe(Duration::from_micros(500));
        recording.observe(Duration::from_millis(30));
        recording.observe(Duration::from_secs(60));
        let histogram = recording.snapshot();
        assert_eq!(histogram.count, 3);
        assert_eq!(histogram.buckets[0], (0.001, 1));
        assert_eq!(histogram.buckets[4], (0.025, 1));
        assert_eq!(histogram.buckets[5], (0.05, 2));
        assert_eq!(
            histogram.buckets.last(),
            Some(&(10.0, 2)),
            "60 s is past all"
        );
        assert!((histogram.sum - 60.0305).abs() < 1e-9, "{}", histogram.sum);
    }
}
