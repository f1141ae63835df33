//! The driver's outbox: bounds the membership calls in flight to each peer.
//!
//! A seed that admits many joiners at once announces each to every member:
//! with one connection per call in flight, 200 joiners meant tens of
//! thousands of sockets in one burst. Through the outbox, calls to one peer
//! wait their turn for one of a few lanes (connections, kept alive by the
//! client's pool), and a call's timeout starts when it gets its lane, so a
//! queue behind a burst is never taken for a dead peer. Application
//! messages do not go through it.

use std::collections::HashMap;
use std::sync::Arc;

use peercloud_core::Address;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many membership calls may be in flight to one peer at once.
pub(crate) const CALLS_PER_PEER: usize = 4;

/// The lanes to each peer called recently.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    lanes: HashMap<Address, Arc<Semaphore>>,
    /// When `lanes` grows past this, idle lanes are dropped.
    sweep_at: usize,
}

impl Outbox {
    /// The lanes to `to`; await `acquire` on them before calling.
    pub(crate) fn lanes(&mut self, to: &Address) -> Lanes {
        if self.lanes.len() >= self.sweep_at {
            // Nobody holds or waits for an idle lane but this map.
            self.lanes.retain(|_, lanes| Arc::strong_count(lanes) > 1);
            self.sweep_at = (self.lanes.len() * 2).max(64);
        }
        let lanes = self
            .lanes
            .entry(to.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(CALLS_PER_PEER)));
        Lanes(lanes.clone())
    }
}

/// The lanes to one peer.
#[derive(Debug)]
pub(crate) struct Lanes(Arc<Semaphore>);

impl Lanes {
    /// Waits for a free lane; it is free again when the permit drops.
    pub(crate) async fn acquire(self) -> Option<OwnedSemaphorePermit> {
        // The semaphore is never closed, so this only fails if it were.
        self.0.acquire_owned().await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address(port: u16) -> Address {
        format!("127.0.0.1:{port}").parse().expect("an address")
    }

    #[tokio::test]
    async fn calls_to_one_peer_queue_beyond_the_lanes_while_others_go_on() {
        let mut outbox = Outbox::default();
        let mut held = Vec::new();
        for _ in 0..CALLS_PER_PEER {
            held.push(outbox.lanes(&address(1)).acquire().await);
        }
        let waiting = outbox.lanes(&address(1)).acquire();
        tokio::pin!(waiting);
        assert!(
            futures_util::poll!(waiting.as_mut()).is_pending(),
            "a fifth call waits"
        );
        // Another peer's lanes are free.
        let other = outbox.lanes(&address(2)).acquire().await;
        assert!(other.is_some());
        held.pop();
        assert!(waiting.await.is_some(), "a freed lane is taken");
    }

    #[tokio::test]
    async fn idle_lanes_are_dropped_as_peers_come_and_go() {
        let mut outbox = Outbox::default();
        for port in 1..=1000 {
            let permit = outbox.lanes(&address(port)).acquire().await;
            drop(permit);
        }
        assert!(
            outbox.lanes.len() <= 64,
            "{} lanes kept",
            outbox.lanes.len()
        );
        let busy = outbox.lanes(&address(5000)).acquire().await;
        for port in 1001..=2000 {
            drop(outbox.lanes(&address(port)));
        }
        assert!(
            outbox.lanes.contains_key(&address(5000)),
            "a busy lane stays"
        );
        drop(busy);
    }
}
