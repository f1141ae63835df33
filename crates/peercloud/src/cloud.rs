//! `Cloud`: the handle of a running peer.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peercloud_core::{PeerId, Start};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::broadcast::{broadcast, Replies};
use crate::builder::CloudBuilder;
use crate::error::{SendError, SetDataError};
use crate::event::{EventReceiver, EventSender, Events};
use crate::metrics::Metrics;
use crate::node::{Input, Link};
use crate::peer::Peer;
use crate::security::{Keyring, ReplaceKeyringError, Tls};
use crate::watch::PeersWatch;

/// A running peer, member of a cloud. Made by [`Cloud::builder`].
///
/// Dropping it leaves the cloud in the background (bounded by the leave
/// timeout) and never blocks; [`Cloud::close`] does the same and waits for
/// it.
///
/// ```no_run
/// use peercloud::Cloud;
/// use serde_json::json;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let cloud = Cloud::builder()
///     .seed("127.0.0.1:9338")
///     .data(json!({"name": "worker-1"}))
///     .on_message(|from, body| async move {
///         println!("{} says {body}", from.data());
///         Ok(json!({"status": "received"}))
///     })
///     .start()
///     .await?;
/// let replies = cloud.send(json!({"message": "hi all"})).await;
/// println!("{} peers replied", replies.len());
/// cloud.close().await;
/// # Ok(()) }
/// ```
pub struct Cloud {
    pub(crate) link: Arc<Link>,
    pub(crate) start: Start,
    pub(crate) local_addr: SocketAddr,
    pub(crate) leave_tx: watch::Sender<bool>,
    pub(crate) events_tx: EventSender,
    /// Holds every event since the start until `events` is first called.
    pub(crate) first_events: Mutex<Option<EventReceiver>>,
    /// Ends when the peer has left and stopped listening.
    pub(crate) stopped: Mutex<Option<JoinHandle<()>>>,
    pub(crate) broadcast_concurrency: usize,
    /// A private peer's TLS settings, whose keyring can be replaced.
    pub(crate) tls: Option<Tls>,
}

impl Cloud {
    /// A builder with the defaults: no seeds, port 9338 or else a random one,
    /// all interfaces, data `{}`, messages answered with `{}`.
    pub fn builder() -> CloudBuilder {
        CloudBuilder::default()
    }

    /// Replaces the keyring of a peer started with a cloud key: from now
    /// on its connections speak with the new first key and accept every
    /// key of the new keyring. Connections that peers opened with a key
    /// the new keyring lacks are closed at once.
    ///
    /// A key is rotated with no downtime in three steps, each done on every
    /// peer before the next starts: add the new key second, move it first,
    /// remove the old one.
    ///
    /// ```no_run
    /// # async fn demo(cloud: peercloud::Cloud) -> Result<(), Box<dyn std::error::Error>> {
    /// cloud.set_keyring(peercloud::Keyring::read("/etc/peercloud/keys")?)?;
    /// # Ok(()) }
    /// ```
    pub fn set_keyring(&self, keyring: Keyring) -> Result<(), ReplaceKeyringError> {
        match &self.tls {
            Some(tls) => tls.replace_keyring(&keyring),
            None => Err(ReplaceKeyringError::NotKeyMode),
        }
    }

    /// This peer's id.
    pub fn id(&self) -> String {
        self.link.snapshot().id.to_string()
    }

    /// This peer's data.
    pub fn data(&self) -> Value {
        (*self.link.snapshot().data).clone()
    }

    /// The address this peer listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The port this peer listens on.
    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    /// How the start ended: joined through a seed, or alone.
    pub fn start_outcome(&self) -> &Start {
        &self.start
    }

    /// The other members, now. Never waits.
    pub fn peers(&self) -> Vec<Peer> {
        let snapshot = self.link.snapshot();
        snapshot
            .members
            .iter()
            .map(|m| Peer::new(m.clone(), self.link.clone()))
            .collect()
    }

    /// A watch on the member list: it waits for the list to change, or
    /// to hold what the caller needs, without polling [`Cloud::peers`].
    ///
    /// ```no_run
    /// # async fn demo(cloud: peercloud::Cloud) -> Result<(), peercloud::Stopped> {
    /// let mut watch = cloud.watch_peers();
    /// loop {
    ///     println!("{} peers", watch.peers().len());
    ///     watch.changed().await?; // Err once the peer has stopped
    /// }
    /// # }
    /// ```
    pub fn watch_peers(&self) -> PeersWatch {
        PeersWatch::new(self.link.clone())
    }

    /// How many members this peer lists: `peers().len()` without making
    /// the list, for callers that watch many peers.
    pub fn peer_count(&self) -> usize {
        self.link.snapshot().members.len()
    }

    /// One member by id.
    pub fn peer(&self, id: &str) -> Option<Peer> {
        let id = PeerId::parse(id).ok()?;
        let snapshot = self.link.snapshot();
        snapshot
            .member(&id)
            .map(|m| Peer::new(m.clone(), self.link.clone()))
    }

    /// Gives this peer new data. Every peercloud peer of the cloud sees it
    /// within moments (its members get
    /// [`Event::PeerUpdated`](crate::Event::PeerUpdated)); original peers
    /// see it once this peer has left and joined them again, which it does
    /// by itself. Data larger than [`DATA_LIMIT`](crate::DATA_LIMIT)
    /// as JSON is refused and nothing changes. Once this returns `Ok`,
    /// [`Cloud::data`] shows the new data.
    ///
    /// ```no_run
    /// # async fn demo(cloud: peercloud::Cloud) -> Result<(), peercloud::SetDataError> {
    /// use serde_json::json;
    /// cloud.set_data(json!({"name": "worker-1", "load": 0.7})).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_data(&self, data: Value) -> Result<(), SetDataError> {
        let size = serde_json::to_vec(&data).map_or(0, |json| json.len());
        if size > crate::DATA_LIMIT {
            return Err(SetDataError::TooLarge {
                size,
                limit: crate::DATA_LIMIT,
            });
        }
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        let input = Input::SetData { data, done_tx };
        if self.link.is_closed() || !self.link.input(input).await {
            return Err(SetDataError::Closed);
        }
        done_rx.await.map_err(|_| SetDataError::Closed)
    }

    /// What this peer has done so far, as numbers: its members by state,
    /// what the membership did (probes, suspicions, evictions...), the
    /// messages and calls it sent and received by outcome, with latency
    /// histograms, and the bytes on the wire. Never waits; each call is a
    /// fresh snapshot.
    ///
    /// ```no_run
    /// # async fn demo(cloud: peercloud::Cloud) {
    /// let metrics = cloud.metrics();
    /// println!(
    ///     "{} alive, {} suspected; {} probes sent, {} failed; {} messages answered",
    ///     metrics.members.alive,
    ///     metrics.members.suspected,
    ///     metrics.membership.probes_sent,
    ///     metrics.membership.probes_failed,
    ///     metrics.messages_received.ok,
    /// );
    /// let latency = &metrics.message_latency;
    /// if latency.count > 0 {
    ///     println!("mean reply time: {:.3} s", latency.sum / latency.count as f64);
    /// }
    /// # }
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.link.recorder().snapshot()
    }

    /// Broadcasts a message to every member at once and gathers every reply.
    pub async fn send(&self, body: Value) -> Replies {
        broadcast(&self.link, self.peers(), body, self.broadcast_concurrency).await
    }

    /// Sends a message to the member with this id and waits for its reply.
    pub async fn send_to(&self, id: &str, body: Value) -> Result<Value, SendError> {
        let peer = self
            .peer(id)
            .ok_or_else(|| SendError::UnknownPeer { id: id.to_owned() })?;
        peer.send(body).await
    }

    /// The stream of events. The first call's stream starts at the start of
    /// the peer (so it sees [`Event::Started`](crate::Event::Started) and
    /// every peer since); later calls see events from the moment of the
    /// call. A stream taken after
    /// the cloud closed ends at once.
    pub fn events(&self) -> Events {
        let first = self.first_events.lock().ok().and_then(|mut f| f.take());
        let rx = match first {
            Some(first) => {
                self.link.release_reserved_receiver();
                first
            }
            None => {
                // Subscribe before looking: the flag is set before Closed is
                // sent, so either this receiver gets Closed or it is set.
                let rx = self.events_tx.subscribe();
                if self.link.is_closed() {
                    return Events::ended();
                }
                rx
            }
        };
        Events::new(rx)
    }

    /// Leaves the cloud (tells every member, waiting at most the leave
    /// timeout) and stops listening. Calling it again returns at once.
    pub async fn close(&self) {
        let _ = self.leave_tx.send(true);
        let stopped = self.stopped.lock().ok().and_then(|mut s| s.take());
        if let Some(stopped) = stopped {
            let _ = stopped.await;
        }
    }

    /// How long a peer waits for the server to finish open requests after
    /// leaving, before it drops them.
    pub(crate) const SERVER_GRACE: Duration = Duration::from_secs(1);
}

impl std::fmt::Debug for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloud")
            .field("id", &self.id())
            .field("local_addr", &self.local_addr)
            .field("peers", &self.link.snapshot().members.len())
            .finish()
    }
}
