//! `PeersWatch`: waiting for the member list to change, or to become what
//! the caller needs, without polling. It reads the snapshots the driver
//! publishes after every change; it touches nothing else.

use std::sync::Arc;

use thiserror::Error;
use tokio::sync::watch;

use crate::node::{Link, Snapshot};
use crate::peer::Peer;

/// The peer has stopped: its member list will not change again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the peer has stopped")]
pub struct Stopped;

/// A view of a peer's member list that can wait for it to change. Made by
/// [`Cloud::watch_peers`](crate::Cloud::watch_peers).
///
/// A change is anything the list shows: a member joined, left or failed,
/// became suspected or alive again, or has new data. Changes that come
/// while nobody waits are not queued: [`PeersWatch::changed`] returns once
/// for all of them, and the list then shows the latest state.
///
/// ```no_run
/// # async fn demo(cloud: peercloud::Cloud) -> Result<(), peercloud::Stopped> {
/// use std::time::Duration;
///
/// let mut watch = cloud.watch_peers();
/// // Start work once two other peers are there, or give up after 30 s.
/// let wait = watch.wait_for(|peers| peers.len() >= 2);
/// match tokio::time::timeout(Duration::from_secs(30), wait).await {
///     Ok(peers) => println!("working with {} peers", peers?.len()),
///     Err(_) => eprintln!("still alone after 30 s"),
/// }
/// # Ok(()) }
/// ```
pub struct PeersWatch {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    link: Arc<Link>,
}

impl PeersWatch {
    pub(crate) fn new(link: Arc<Link>) -> Self {
        let mut snapshots = link.snapshots();
        snapshots.mark_unchanged();
        PeersWatch { snapshots, link }
    }

    /// The members now; [`PeersWatch::changed`] then waits for a change
    /// after this one.
    pub fn peers(&mut self) -> Vec<Peer> {
        let snapshot = self.snapshots.borrow_and_update().clone();
        self.peers_of(&snapshot)
    }

    /// Waits until the list changes from the one last seen (through
    /// [`PeersWatch::peers`], or when the watch was made). Returns at once
    /// if it changed since.
    pub async fn changed(&mut self) -> Result<(), Stopped> {
        self.snapshots.changed().await.map_err(|_| Stopped)
    }

    /// Waits until `done` holds for the members, and returns them: at
    /// once if it holds now. Cancel-safe: dropped, it leaves the watch at
    /// the last list `done` looked at.
    ///
    /// `done` may look at the cloud (its id, its peers, their states): it
    /// runs on a copy of the list taken out of the watch, never under the
    /// watch's lock. Run under it (as `tokio::sync::watch::Receiver::wait_for`
    /// runs its closure), a `done` that read the cloud while the driver
    /// was publishing the next list waited forever, and the peer with it.
    pub async fn wait_for(
        &mut self,
        mut done: impl FnMut(&[Peer]) -> bool,
    ) -> Result<Vec<Peer>, Stopped> {
        loop {
            let snapshot = self.snapshots.borrow_and_update().clone();
            let peers = self.peers_of(&snapshot);
            if done(&peers) {
                return Ok(peers);
            }
            self.snapshots.changed().await.map_err(|_| Stopped)?;
        }
    }

    fn peers_of(&self, snapshot: &Snapshot) -> Vec<Peer> {
        peers_of(&self.link, snapshot)
    }
}

fn peers_of(link: &Arc<Link>, snapshot: &Snapshot) -> Vec<Peer> {
    snapshot
        .members
        .iter()
        .map(|m| Peer::new(m.clone(), link.clone()))
        .collect()
}

impl std::fmt::Debug for PeersWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeersWatch")
            .field("peers", &self.snapshots.borrow().members.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::handler::empty_reply;
    use crate::node::testing::TestNode;

    #[test]
    fn a_condition_may_use_the_watch_it_waits_on_while_a_new_list_is_published() {
        // Here the condition itself publishes a list (a write of the
        // watch); run under the watch's lock, that waits forever, so the
        // wait runs on a thread of its own, given ten seconds.
        let (result_tx, result_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                let node = TestNode::start(empty_reply(), 1 << 20).await;
                let (publish, snapshots) = watch::channel(node.link.snapshot());
                let mut watch = PeersWatch {
                    snapshots,
                    link: node.link.clone(),
                };
                let mut looks = 0;
                let waited = watch
                    .wait_for(|_| {
                        looks += 1;
                        if looks == 1 {
                            publish.send_replace(node.link.snapshot());
                        }
                        looks == 2
                    })
                    .await;
                let _ = result_tx.send((waited.is_ok(), looks));
            });
        });
        let outcome = result_rx.recv_timeout(Duration::from_secs(10));
        assert_eq!(
            outcome,
            Ok((true, 2)),
            "the condition looked at the first list, published, and held for the second"
        );
    }
}
