//! What happens in a cloud, as a stream of events for the application.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use peercloud_core::{Address, CallError};
use serde_json::Value;
use tokio::sync::broadcast;
use tokio_stream::wrappers::{errors::BroadcastStreamRecvError, BroadcastStream};

pub use peercloud_core::{FailureCause, LeftReason, Start};

use crate::error::SendError;
use crate::peer::Peer;

/// Something that happened. Events describe the past; new kinds may be
/// added, so match with a wildcard arm.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The peer finished starting: it joined a cloud, or started one alone.
    Started(Start),
    /// While starting, a seed did not let this peer in, and the next one
    /// is tried: it could not be reached, refused, or does not trust this
    /// peer ([`CallError::Unauthorized`]: a wrong cloud key, a private
    /// seed for an open peer, or the other way round).
    SeedFailed {
        /// The seed.
        seed: Address,
        /// Why.
        error: CallError,
    },
    /// A peer joined the cloud.
    PeerJoined(Peer),
    /// A member answered no probe, direct or indirect: it is suspected. It
    /// stays a member (and may still answer messages) until its suspicion
    /// runs out, unless it refutes it first.
    PeerSuspected(Peer),
    /// A suspected member refuted its suspicion: it is alive.
    PeerAlive(Peer),
    /// A member's data changed ([`Peer::data`] holds the new data).
    PeerUpdated(Peer),
    /// A peer left the cloud, or was removed after failing checks.
    PeerLeft {
        /// The peer as it was known.
        peer: Peer,
        /// Why it is gone.
        reason: LeftReason,
    },
    /// A message arrived and was handed to the message handler. (Message
    /// events are only made while some [`Events`] stream exists.)
    MessageReceived {
        /// Who sent it.
        from: Peer,
        /// What it said.
        body: Value,
    },
    /// A message was sent and its reply (or error) came back.
    MessageSent {
        /// To whom.
        to: Peer,
        /// What was sent.
        body: Value,
        /// The reply, or why there was none.
        reply: Result<Value, SendError>,
    },
    /// The events came faster than this stream was read: this many were
    /// skipped.
    Lagged {
        /// How many events were lost.
        missed: u64,
    },
    /// The peer left the cloud and stopped.
    Closed,
}

/// The stream of [`Event`]s of one cloud; see [`Cloud::events`](crate::Cloud::events).
///
/// It ends when the cloud has closed.
pub struct Events {
    inner: BroadcastStream<Event>,
    /// Set once [`Event::Closed`] went out: the channel itself stays open as
    /// long as the `Cloud` handle lives, so the stream ends on its own.
    closed: bool,
}

impl Events {
    pub(crate) fn new(rx: broadcast::Receiver<Event>) -> Self {
        Events {
            inner: BroadcastStream::new(rx),
            closed: false,
        }
    }

    /// A stream that has already ended.
    pub(crate) fn ended() -> Self {
        let (_, rx) = broadcast::channel(1);
        Events {
            inner: BroadcastStream::new(rx),
            closed: true,
        }
    }

    /// The next event, or `None` once the cloud has closed.
    pub async fn recv(&mut self) -> Option<Event> {
        futures_util::StreamExt::next(self).await
    }
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        if self.closed {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(Pin::new(&mut self.inner).poll_next(cx));
        let event = item.map(|result| match result {
            Ok(event) => event,
            Err(BroadcastStreamRecvError::Lagged(missed)) => Event::Lagged { missed },
        });
        self.closed = matches!(event, Some(Event::Closed));
        Poll::Ready(event)
    }
}
