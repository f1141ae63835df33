//! The running peer: the driver task that owns the membership core, the
//! listening socket, and the `Link` that handles share to reach the cloud.

pub(crate) mod driver;
pub(crate) mod listener;
pub(crate) mod snapshot;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use peercloud_core::{Origin, Refusal, Request, Response};
use serde_json::Value;
use tokio::sync::{broadcast, oneshot, watch};

use crate::error::SendError;
use crate::event::Event;
use crate::http::client::HttpClient;
use crate::peer::Peer;

pub(crate) use snapshot::Snapshot;

/// What the driver is asked to do.
#[derive(Debug)]
pub(crate) enum Input {
    /// A membership request from another peer, to answer on `reply_tx`.
    Request {
        origin: Origin,
        request: Request,
        reply_tx: oneshot::Sender<Result<Response, Refusal>>,
    },
}

/// What every handle (cloud, peers, the server) shares to reach the cloud:
/// the client, the latest snapshot, and the event channel.
pub(crate) struct Link {
    client: HttpClient,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    events_tx: broadcast::Sender<Event>,
    message_timeout: Duration,
}

impl Link {
    pub(crate) fn new(
        client: HttpClient,
        snapshot: watch::Receiver<Arc<Snapshot>>,
        events_tx: broadcast::Sender<Event>,
        message_timeout: Duration,
    ) -> Self {
        Link {
            client,
            snapshot,
            events_tx,
            message_timeout,
        }
    }

    /// The latest published snapshot.
    pub(crate) fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Sends an event, building it only if someone listens.
    pub(crate) fn emit_with(&self, event: impl FnOnce() -> Event) {
        if self.events_tx.receiver_count() > 0 {
            let _ = self.events_tx.send(event());
        }
    }

    /// Sends an encoded message to a peer; `body` is only for the event.
    pub(crate) async fn send(
        &self,
        peer: &Peer,
        bytes: Bytes,
        body: &Value,
    ) -> Result<Value, SendError> {
        let from = self.snapshot.borrow().id.clone();
        let reply = self
            .client
            .message(&peer.address(), &from, bytes, self.message_timeout)
            .await;
        self.emit_with(|| Event::MessageSent {
            to: peer.clone(),
            body: body.clone(),
            reply: reply.clone(),
        });
        reply
    }
}
