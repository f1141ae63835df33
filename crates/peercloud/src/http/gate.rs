//! The gate every accepted connection passes: at most so many open in all,
//! and so many from one source address. A connection holds its pass until
//! it closes. Touches no socket; the accept loop closes what is refused.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use peercloud_core::source_of;

/// Counts the open connections, in all and per source.
#[derive(Debug)]
pub(crate) struct Gate {
    max_total: usize,
    max_per_source: usize,
    open: Mutex<Open>,
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    /// Only sources with at least one connection open.
    per_source: HashMap<IpAddr, usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Full {
    /// [`Limits::max_connections`](crate::Limits::max_connections).
    Total,
    /// [`Limits::max_connections_per_ip`](crate::Limits::max_connections_per_ip).
    Source,
}

/// One open connection's place; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Pass {
    gate: Arc<Gate>,
    source: IpAddr,
}

impl Gate {
    pub(crate) fn new(max_total: usize, max_per_source: usize) -> Arc<Self> {
        Arc::new(Gate {
            max_total,
            max_per_source,
            open: Mutex::new(Open::default()),
        })
    }

    /// A place for a connection from `remote`, if there is room.
    pub(crate) fn enter(self: &Arc<Self>, remote: IpAddr) -> Result<Pass, Full> {
        let source = source_of(remote);
        let mut open = self.lock();
        let from_source = open.per_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.max_per_source {
            return Err(Full::Source);
        }
        if open.total >= self.max_total {
            return Err(Full::Total);
        }
        open.total += 1;
        open.per_source.insert(source, from_source + 1);
        Ok(Pass {
            gate: self.clone(),
            source,
        })
    }

    /// How many connections are open.
    #[cfg(test)]
    pub(crate) fn open(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The counts stay consistent whatever panicked while holding it:
        // every change is a single step.
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut open = self.gate.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                open.per_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(ip: &str) -> IpAddr {
        ip.parse().expect("a valid test address")
    }

    #[test]
    fn a_source_at_its_limit_is_refused_while_others_still_enter() {
        let gate = Gate::new(10, 2);
        let first = gate.enter(ip("10.0.0.1")).expect("room");
        let _second = gate.enter(ip("::ffff:10.0.0.1")).expect("room");
        assert_eq!(gate.enter(ip("10.0.0.1")).unwrap_err(), Full::Source);
        let _other = gate.enter(ip("10.0.0.2")).expect("another source");
        drop(first);
        let _again = gate.enter(ip("10.0.0.1")).expect("a place was freed");
        assert_eq!(gate.open(), 3);
    }

    #[test]
    fn the_total_is_shared_by_every_source_and_freed_by_closing() {
        let gate = Gate::new(2, 2);
        let a = gate.enter(ip("10.0.0.1")).expect("room");
        let _b = gate.enter(ip("2001:db8::1")).expect("room");
        assert_eq!(gate.enter(ip("10.0.0.3")).unwrap_err(), Full::Total);
        drop(a);
        let _c = gate.enter(ip("10.0.0.3")).expect("a place was freed");
        assert_eq!(gate.open(), 2);
    }

    #[test]
    fn addresses_of_one_ipv6_64_are_one_source() {
        let gate = Gate::new(10, 1);
        let _a = gate.enter(ip("2001:db8:0:1::1")).expect("room");
        assert_eq!(gate.enter(ip("2001:db8:0:1::2")).unwrap_err(), Full::Source);
        assert!(gate.enter(ip("2001:db8:0:2::1")).is_ok());
    }
}
