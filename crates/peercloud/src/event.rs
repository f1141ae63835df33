//! What happens in a cloud, as a stream of events for the application.

use std::pin::Pin;
use std::sync::Arc;
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

/// The sending end of the channel that carries a peer's events to its
/// [`Events`] streams. Its slots hold pointers: the channel keeps every
/// slot from the peer's start, read or not, and 256 slots of 112-byte
/// events were 36 KiB of each peer (7% of a peer's share when a thousand
/// run in one process), against 10 KiB of pointers.
pub(crate) type EventSender = broadcast::Sender<Arc<Event>>;

/// A receiving end of [`EventSender`]'s channel.
pub(crate) type EventReceiver = broadcast::Receiver<Arc<Event>>;

/// The stream of [`Event`]s of one cloud; see [`Cloud::events`](crate::Cloud::events).
///
/// It ends when the cloud has closed.
pub struct Events {
    inner: BroadcastStream<Arc<Event>>,
    /// Set once [`Event::Closed`] went out: the channel itself stays open as
    /// long as the `Cloud` handle lives, so the stream ends on its own.
    closed: bool,
}

impl Events {
    pub(crate) fn new(rx: EventReceiver) -> Self {
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
            Ok(event) => Arc::unwrap_or_clone(event),
            Err(BroadcastStreamRecvError::Lagged(missed)) => Event::Lagged { missed },
        });
        self.closed = matches!(event, Some(Event::Closed));
        Poll::Ready(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each stream gets every event whole, though the channel holds
    /// pointers; one that fell behind is told how many it missed, then
    /// gets the newest.
    #[tokio::test]
    async fn a_stream_gets_whole_events_and_is_told_how_many_it_missed() {
        let (tx, rx): (EventSender, EventReceiver) = broadcast::channel(2);
        let mut first = Events::new(rx);
        let mut second = Events::new(tx.subscribe());
        tx.send(Arc::new(Event::Lagged { missed: 7 })).unwrap();
        assert!(matches!(
            first.recv().await,
            Some(Event::Lagged { missed: 7 })
        ));
        assert!(matches!(
            second.recv().await,
            Some(Event::Lagged { missed: 7 })
        ));
        // Events of their own, told apart by their numbers.
        for missed in 100..104 {
            tx.send(Arc::new(Event::Lagged { missed })).unwrap();
        }
        tx.send(Arc::new(Event::Closed)).unwrap();
        let mut got = Vec::new();
        while let Some(event) = first.recv().await {
            got.push(format!("{event:?}"));
        }
        assert_eq!(
            got,
            ["Lagged { missed: 3 }", "Lagged { missed: 103 }", "Closed"],
            "three missed, then the newest two, then the end"
        );
    }
}
