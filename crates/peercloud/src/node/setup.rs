//! Assembling a node: the core, the driver that owns it, and the link that
//! every handle shares, wired together by their channels. The builder and
//! the tests start nodes through this one function, so they run the same
//! wiring. Touches nothing outside the values it makes.

use std::sync::Arc;
use std::time::Duration;

use peercloud_core::{Membership, Start};
use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::driver::Driver;
use super::{Link, Snapshot};
use crate::event::{EventReceiver, EventSender};
use crate::http::client::{HttpClient, Transport};

/// How many events an application may fall behind before it misses some
/// (and is told how many, with [`Event::Lagged`](crate::Event::Lagged)).
/// Every peer holds this many slots from its start, read or not: at 1,024
/// slots of whole events they were 139 KiB of each peer, a quarter of a
/// peer's share of a thousand in one process (slots of pointers now, see
/// [`EventSender`]).
const EVENT_BUFFER: usize = 256;

/// How many inputs (requests for the driver) may wait at once.
const INPUT_BUFFER: usize = 1024;

/// A node ready to run: spawn `driver.run(seeds)`, keep the rest.
pub(crate) struct Assembled<T> {
    pub(crate) driver: Driver<T>,
    pub(crate) link: Arc<Link>,
    /// Send `true` (or drop it) to make the node leave.
    pub(crate) leave_tx: watch::Sender<bool>,
    /// How the start ended, once it has.
    pub(crate) started_rx: oneshot::Receiver<Start>,
    pub(crate) events_tx: EventSender,
    /// A receiver made before the start, so the first reader sees every
    /// event from the start on.
    pub(crate) first_events: EventReceiver,
}

/// Wires `core` to a driver that calls through `transport`; messages go
/// through `client`, waiting at most `message_timeout` for a reply.
pub(crate) fn assemble<T: Transport>(
    core: Membership,
    transport: T,
    client: HttpClient,
    message_timeout: Duration,
) -> Assembled<T> {
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::of(&core, None)));
    let (events_tx, first_events) = broadcast::channel(EVENT_BUFFER);
    let (inputs_tx, inputs) = mpsc::channel(INPUT_BUFFER);
    let link = Arc::new(Link::new(
        client,
        inputs_tx,
        snapshot_rx,
        events_tx.clone(),
        message_timeout,
    ));
    let (leave_tx, leave_rx) = watch::channel(false);
    let (started_tx, started_rx) = oneshot::channel();
    let driver = Driver {
        core,
        transport,
        inputs,
        leave_rx,
        snapshot_tx,
        events_tx: events_tx.clone(),
        started_tx: Some(started_tx),
        link: link.clone(),
    };
    Assembled {
        driver,
        link,
        leave_tx,
        started_rx,
        events_tx,
        first_events,
    }
}
