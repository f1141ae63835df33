//! A closed-loop load: `inflight` loops, each sending one request after the
//! other, first for a warm-up, then for a measured window. The figures are
//! the requests that completed inside the window: how many, how many
//! failed, and their latency percentiles. `interop/bench-peer.js` measures
//! the original the same way. A load may also be bounded by a number of
//! requests, so that a profiler counting instructions (which has no clock
//! of its own to go by) can divide by an exact count.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::stats::percentile;

/// The most requests in flight a command may ask for.
const MAX_INFLIGHT: u64 = 1024;

/// How long a load runs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Running but not counted: connections open, caches warm.
    pub(crate) warmup: Duration,
    /// Counted.
    pub(crate) measure: Duration,
    /// At most this many requests are sent in all, warm-up included, when
    /// given: the loops stop early once they are all sent.
    pub(crate) requests: Option<u64>,
}

impl Window {
    /// A window of `warmup_ms` then `ms`, unbounded in requests.
    pub(crate) fn of_ms(warmup_ms: u64, ms: u64) -> Window {
        Window {
            warmup: Duration::from_millis(warmup_ms),
            measure: Duration::from_millis(ms),
            requests: None,
        }
    }

    /// The window fields of a command: `warmup_ms`, `ms`, and `requests`
    /// if bounded.
    pub(crate) fn to_json(self) -> Value {
        let mut fields = json!({"warmup_ms": self.warmup.as_millis() as u64, "ms": self.measure.as_millis() as u64});
        if let Some(requests) = self.requests {
            fields["requests"] = json!(requests);
        }
        fields
    }

    /// Reads `warmup_ms` and `ms` from a command, each at most a minute,
    /// and `requests` if there.
    pub(crate) fn from_command(command: &Value) -> Window {
        let ms = |field: &str, default: u64| command[field].as_u64().unwrap_or(default).min(60_000);
        Window {
            requests: command["requests"].as_u64(),
            ..Window::of_ms(ms("warmup_ms", 200), ms("ms", 1_000))
        }
    }

    /// The whole run.
    pub(crate) fn total(self) -> Duration {
        self.warmup + self.measure
    }
}

/// How many loops a command asks for: `inflight`, at least 1.
pub(crate) fn inflight(command: &Value) -> usize {
    command["inflight"]
        .as_u64()
        .unwrap_or(1)
        .clamp(1, MAX_INFLIGHT) as usize
}

/// Runs `inflight` loops of `op` (which says whether the request succeeded)
/// and answers the `event` line with the figures. Every `op` must end on
/// its own (each request has a timeout), so this ends soon after the window.
pub(crate) async fn closed_loop<F, Fut>(
    event: &str,
    inflight: usize,
    window: Window,
    op: F,
) -> Value
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send + 'static,
{
    let op = Arc::new(op);
    let from = Instant::now() + window.warmup;
    let end = from + window.measure;
    let left = Arc::new(Left::new(window.requests));
    let loops: Vec<_> = (0..inflight)
        .map(|_| tokio::spawn(one_loop(op.clone(), left.clone(), from, end)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0u64;
    for task in loops {
        if let Ok((mut lat, err)) = task.await {
            latencies.append(&mut lat);
            errors += err;
        }
    }
    latencies.sort_unstable();
    let secs = window.measure.as_secs_f64();
    json!({
        "event": event,
        "count": latencies.len(),
        "errors": errors,
        "secs": secs,
        "per_sec": latencies.len() as f64 / secs,
        "p50_us": percentile(&latencies, 50.0),
        "p99_us": percentile(&latencies, 99.0),
    })
}

/// The requests the loops may still start, shared by them all.
struct Left(Option<AtomicU64>);

impl Left {
    fn new(requests: Option<u64>) -> Self {
        Left(requests.map(AtomicU64::new))
    }

    /// Takes one request; `false` once they are all taken.
    fn take(&self) -> bool {
        self.0.as_ref().is_none_or(|left| {
            left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        })
    }
}

/// One loop: latencies (µs) of the successes and the count of failures
/// that completed in `[from, end)`.
async fn one_loop<F, Fut>(
    op: Arc<F>,
    left: Arc<Left>,
    from: Instant,
    end: Instant,
) -> (Vec<u64>, u64)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let mut latencies = Vec::new();
    let mut errors = 0;
    loop {
        let sent = Instant::now();
        if sent >= end || !left.take() {
            return (latencies, errors);
        }
        let ok = op().await;
        let done = Instant::now();
        if done >= from && done < end {
            if ok {
                latencies.push(done.duration_since(sent).as_micros() as u64);
            } else {
                errors += 1;
            }
        }
    }
}
