//! The running peer: the driver task that owns the membership core, the
//! listening socket, and the `Link` that handles share to reach the cloud.

pub(crate) mod contact;
pub(crate) mod driver;
pub(crate) mod listener;
pub(crate) mod outbox;
pub(crate) mod setup;
pub(crate) mod snapshot;
pub(crate) mod state;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use peercloud_core::{Origin, Refusal, Request, Response};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::SendError;
use crate::event::{Event, EventSender};
use crate::http::client::HttpClient;
use crate::metrics::Recorder;
use crate::peer::Peer;

pub(crate) use contact::Contacts;
pub(crate) use snapshot::Snapshot;

/// What the driver is asked to do.
#[derive(Debug)]
pub(crate) enum Input {
    /// A membership request from another peer, to answer on `reply_tx`.
    Request {
        origin: Origin,
        /// Boxed: requests are large beside the other inputs.
        request: Box<Request>,
        reply_tx: oneshot::Sender<Result<Response, Refusal>>,
    },
    /// New data for this peer (its size already checked); `done_tx` is
    /// told once the published snapshot shows it.
    SetData {
        data: Value,
        done_tx: oneshot::Sender<()>,
    },
}

/// What every handle (cloud, peers, the server) shares to reach the cloud:
/// the client, the latest snapshot, the event channel, and the driver.
pub(crate) struct Link {
    client: HttpClient,
    /// Inputs for the driver.
    inputs_tx: mpsc::Sender<Input>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    events_tx: EventSender,
    /// Receivers of `events_tx` that are no application's: the one the
    /// cloud keeps for the first `events()` call, until it is taken.
    reserved_receivers: AtomicUsize,
    /// Set by the driver just before it sends [`Event::Closed`].
    closed: AtomicBool,
    message_timeout: Duration,
    /// When each member last answered.
    pub(crate) contacts: Contacts,
    recorder: Recorder,
}

impl Link {
    pub(crate) fn new(
        client: HttpClient,
        inputs_tx: mpsc::Sender<Input>,
        snapshot: watch::Receiver<Arc<Snapshot>>,
        events_tx: EventSender,
        message_timeout: Duration,
    ) -> Self {
        Link {
            recorder: Recorder::new(client.traffic()),
            client,
            inputs_tx,
            snapshot,
            events_tx,
            reserved_receivers: AtomicUsize::new(1),
            closed: AtomicBool::new(false),
            message_timeout,
            contacts: Contacts::default(),
        }
    }

    /// What the peer has recorded for its metrics.
    pub(crate) fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// Hands an input to the driver; `false` if it has stopped.
    pub(crate) async fn input(&self, input: Input) -> bool {
        self.inputs_tx.send(input).await.is_ok()
    }

    /// A receiver that sees each new snapshot.
    pub(crate) fn snapshots(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    /// The latest published snapshot.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Sends a message event, building it only if the application listens:
    /// messages are many, and their bodies are cloned into the event.
    pub(crate) fn emit_with(&self, event: impl FnOnce() -> Event) {
        let reserved = self.reserved_receivers.load(Ordering::Relaxed);
        if self.events_tx.receiver_count() > reserved {
            let _ = self.events_tx.send(Arc::new(event()));
        }
    }

    /// Notes that the peer has left: no event follows [`Event::Closed`].
    pub(crate) fn mark_closed(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }

    /// Whether [`Event::Closed`] has been sent (or is being sent).
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The application took the cloud's first receiver: it listens now.
    pub(crate) fn release_reserved_receiver(&self) {
        self.reserved_receivers.store(0, Ordering::Relaxed);
    }

    /// Sends an encoded message to a peer; `body` is only for the event.
    pub(crate) async fn send(
        &self,
        peer: &Peer,
        bytes: Bytes,
        body: &Value,
    ) -> Result<Value, SendError> {
        let from = self.snapshot.borrow().id_header.clone();
        // Made once: the contacts take it again below.
        let to = peer.address();
        let started = tokio::time::Instant::now();
        let reply = self
            .client
            .message(&to, &from, bytes, self.message_timeout)
            .await;
        // One clock read for both the latency and the time of the answer.
        let done = tokio::time::Instant::now();
        self.recorder.message_sent(&reply, done - started);
        if reply.is_ok() {
            self.contacts.answered(&to, done.into_std());
        }
        self.emit_with(|| Event::MessageSent {
            to: peer.clone(),
            body: body.clone(),
            reply: reply.clone(),
        });
        reply
    }
}
