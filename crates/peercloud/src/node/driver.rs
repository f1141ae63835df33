//! The driver: the one task that owns the membership core. It feeds the core
//! requests, call results and timer wake-ups, and after every step carries
//! out what the core asks: calls (each on its own task), replies, a new
//! snapshot, events.

use std::collections::HashMap;
use std::sync::Arc;

use peercloud_core::{
    Action, Address, CallError, CallId, CallResult, Counters, Event as CoreEvent, Member,
    Membership, Refusal, ReplyToken, Response, Start,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

use super::outbox::Outbox;
use super::{Input, Link, Snapshot};
use crate::event::{Event, EventSender};
use crate::http::client::Transport;
use crate::metrics::MemberCounts;
use crate::peer::Peer;

/// The most inputs (requests and call results) handed to the core in one
/// step, before what it asked for is carried out: the first replies of a
/// batch wait for the rest of it.
const MAX_BATCH: usize = 64;

/// A call's result on its way back to the driver. Boxed: a result is up
/// to a few hundred bytes (a join answer), and the channel's blocks hold
/// 32 of them whether used or not, at every peer.
type Returned = (CallId, Box<CallResult>);

/// The driver's channels and state; `run` consumes it.
pub(crate) struct Driver<T> {
    pub(crate) core: Membership,
    pub(crate) transport: T,
    pub(crate) inputs: mpsc::Receiver<Input>,
    /// Becomes true (or is dropped) when the cloud must leave.
    pub(crate) leave_rx: watch::Receiver<bool>,
    pub(crate) snapshot_tx: watch::Sender<Arc<Snapshot>>,
    pub(crate) events_tx: EventSender,
    pub(crate) started_tx: Option<oneshot::Sender<Start>>,
    pub(crate) link: Arc<Link>,
}

/// What the running loop keeps besides the parts above.
struct Running<T> {
    parts: Driver<T>,
    results_tx: mpsc::UnboundedSender<Returned>,
    replies: HashMap<ReplyToken, oneshot::Sender<Result<Response, Refusal>>>,
    next_token: u64,
    published: u64,
    leaving: bool,
    outbox: Outbox,
    /// The core's local health when last looked at.
    health: u32,
    /// The core's counters when last published.
    counters: Counters,
    /// The members by state in the last snapshot: counted once per
    /// change of the list, not at every step (the counters change with
    /// every call, and a walk of a thousand members at each is most of
    /// what a quiet peer of a large cloud would spend).
    members: MemberCounts,
}

impl<T: Transport> Driver<T> {
    /// Starts the core with `seeds` and runs until it has left the cloud.
    pub(crate) async fn run(self, seeds: Vec<Address>) {
        let (results_tx, mut results_rx) = mpsc::unbounded_channel();
        let mut this = Running {
            published: self.core.version(),
            parts: self,
            results_tx,
            replies: HashMap::new(),
            next_token: 0,
            leaving: false,
            outbox: Outbox::default(),
            health: 0,
            counters: Counters::default(),
            members: MemberCounts::default(),
        };
        this.parts.core.start(now(), seeds);
        this.flush();
        while !this.parts.core.is_closed() {
            let deadline = this.parts.core.poll_timeout();
            tokio::select! {
                input = this.parts.inputs.recv() => match input {
                    Some(input) => this.on_input(input),
                    None => this.leave(),
                },
                Some((call, result)) = results_rx.recv() => {
                    this.parts.core.handle_response(now(), call, *result);
                }
                _ = sleep_until(deadline.map(Instant::from_std).unwrap_or_else(far_future)),
                    if deadline.is_some() => {
                    // Answers and requests already in go first: a busy
                    // peer is woken late, for a deadline and for the
                    // answers that beat it at once, and `select!` picks
                    // either; taken for timeouts, those answers failed
                    // joiners and suspected members that had answered.
                    this.take_ready(&mut results_rx);
                    this.parts.core.handle_timeout(now());
                }
                changed = this.parts.leave_rx.changed(), if !this.leaving => {
                    if changed.is_err() || *this.parts.leave_rx.borrow() {
                        this.leave();
                    }
                }
            }
            this.take_ready(&mut results_rx);
            this.flush();
        }
    }
}

impl<T: Transport> Running<T> {
    /// Hands the core the requests and call results that are already
    /// waiting, up to [`MAX_BATCH`], so that one flush (one snapshot of
    /// the list, rebuilt in a pass over every member) serves them all: a
    /// busy peer of a large cloud, with many waiting, would otherwise
    /// rebuild it for each.
    fn take_ready(&mut self, results_rx: &mut mpsc::UnboundedReceiver<Returned>) {
        let mut taken = 1;
        while taken < MAX_BATCH {
            let before = taken;
            if let Ok(input) = self.parts.inputs.try_recv() {
                self.on_input(input);
                taken += 1;
            }
            if let Ok((call, result)) = results_rx.try_recv() {
                self.parts.core.handle_response(now(), call, *result);
                taken += 1;
            }
            if taken == before {
                break;
            }
        }
    }

    fn on_input(&mut self, input: Input) {
        match input {
            Input::Request {
                origin,
                request,
                reply_tx,
            } => {
                let token = ReplyToken(self.next_token);
                self.next_token += 1;
                self.replies.insert(token, reply_tx);
                self.parts
                    .core
                    .handle_request(now(), token, origin, *request);
            }
            Input::SetData { data, done_tx } => {
                self.parts.core.set_data(now(), data);
                // Published before the caller hears back, so that its next
                // read of the cloud's data shows the new data.
                self.flush();
                let _ = done_tx.send(());
            }
        }
    }

    fn leave(&mut self) {
        self.leaving = true;
        self.parts.core.leave(now());
    }

    /// Carries out everything the core asked for since the last step. The
    /// snapshot goes out first, before the replies and the events, so that
    /// a peer that got an answer (`/joined`, `/left`, `/join`) or a reader
    /// woken by an event sees the state they describe.
    fn flush(&mut self) {
        let health = self.parts.core.health();
        if health != self.health {
            tracing::debug!(health, "local health changed");
            self.health = health;
            self.parts.link.recorder().publish_local_health(health);
        }
        let changed = self.parts.core.version() != self.published;
        if changed {
            self.publish_snapshot();
        }
        self.publish_counters(changed);
        while let Some(action) = self.parts.core.poll_action() {
            match action {
                Action::Call {
                    call,
                    to,
                    request,
                    timeout,
                } => {
                    let transport = self.parts.transport.clone();
                    let from = self.parts.core.id().clone();
                    let results_tx = self.results_tx.clone();
                    let lanes = self.outbox.lanes(&to);
                    let link = self.parts.link.clone();
                    tokio::spawn(async move {
                        let _lane = lanes.acquire().await;
                        let path = request.path();
                        let result = transport.call(to.clone(), from, request, timeout).await;
                        link.recorder().call(&result);
                        match &result {
                            Ok(_) => link.contacts.answered(&to, now()),
                            Err(error) => tracing::debug!(%to, path, %error, "call failed"),
                        }
                        let _ = results_tx.send((call, Box::new(result)));
                    });
                }
                Action::Reply { token, reply } => {
                    if let Some(reply_tx) = self.replies.remove(&token) {
                        let _ = reply_tx.send(reply);
                    }
                }
            }
        }
        while let Some(event) = self.parts.core.poll_event() {
            self.on_event(event);
        }
    }

    /// Publishes a new snapshot of the core. The contacts are swept only
    /// when a member is gone or changed: while a cloud forms, almost every
    /// change is a join, and a sweep costs a pass over all the members.
    fn publish_snapshot(&mut self) {
        self.published = self.parts.core.version();
        let snapshot = {
            let previous = self.parts.snapshot_tx.borrow();
            Snapshot::of(&self.parts.core, Some(&previous))
        };
        if snapshot.departed {
            let addresses: Vec<Address> = snapshot.members.iter().map(|m| m.address()).collect();
            self.parts.link.contacts.retain(addresses.iter());
        }
        self.members = snapshot.member_counts();
        self.parts.snapshot_tx.send_replace(Arc::new(snapshot));
    }

    /// Hands the membership's numbers to the metrics when they changed
    /// (a probe moves them even when the member list does not change);
    /// `changed` says the member list did.
    fn publish_counters(&mut self, changed: bool) {
        let core = &self.parts.core;
        if !changed && *core.counters() == self.counters {
            return;
        }
        self.counters = core.counters().clone();
        self.parts
            .link
            .recorder()
            .publish_membership(self.members, &self.counters);
    }

    /// The member of an event as the snapshot published before it holds
    /// it (events go out after the snapshot), so that an event kept by
    /// the event channel costs no copy of the record; a copy only for a
    /// member the snapshot does not hold as it is (one that left).
    fn shared(&self, member: Member) -> Arc<Member> {
        let snapshot = self.parts.snapshot_tx.borrow();
        match snapshot.member(&member.id) {
            Some(listed) if **listed == member => listed.clone(),
            _ => Arc::new(member),
        }
    }

    fn on_event(&mut self, event: CoreEvent) {
        let link = &self.parts.link;
        let public = match event {
            CoreEvent::Started(start) => {
                log_start(&start);
                if let Some(started_tx) = self.parts.started_tx.take() {
                    let _ = started_tx.send(start.clone());
                }
                Event::Started(start)
            }
            CoreEvent::SeedFailed { seed, error } => {
                // A seed that does not trust this peer is a configuration
                // error worth a warning; an absent seed is common (the
                // first peer of a cloud).
                match &error {
                    CallError::Unauthorized(why) => {
                        tracing::warn!(%seed, "cannot join through {seed}: {why}")
                    }
                    other => tracing::info!(%seed, "cannot join through {seed}: {other}"),
                }
                Event::SeedFailed { seed, error }
            }
            CoreEvent::PeerJoined(member) => {
                tracing::info!(id = %member.id, address = %member.address(), "peer joined");
                Event::PeerJoined(Peer::new(self.shared(member), link.clone()))
            }
            CoreEvent::PeerSuspected(member) => {
                tracing::info!(id = %member.id, "peer suspected");
                Event::PeerSuspected(Peer::new(self.shared(member), link.clone()))
            }
            CoreEvent::PeerAlive(member) => {
                tracing::info!(id = %member.id, "peer refuted its suspicion");
                Event::PeerAlive(Peer::new(self.shared(member), link.clone()))
            }
            CoreEvent::PeerUpdated(member) => {
                tracing::info!(id = %member.id, data = %member.data, "peer data updated");
                Event::PeerUpdated(Peer::new(self.shared(member), link.clone()))
            }
            CoreEvent::PeerLeft { member, reason } => {
                tracing::info!(id = %member.id, ?reason, "peer left");
                Event::PeerLeft {
                    peer: Peer::new(self.shared(member), link.clone()),
                    reason,
                }
            }
            CoreEvent::Closed => {
                tracing::info!("left the cloud");
                link.mark_closed();
                Event::Closed
            }
        };
        let _ = self.parts.events_tx.send(Arc::new(public));
    }
}

fn log_start(start: &Start) {
    match start {
        Start::Joined { via, peers } => tracing::info!(%via, peers, "joined a cloud"),
        Start::Alone => tracing::info!("no seed answered: started a new cloud"),
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

fn far_future() -> Instant {
    Instant::now() + std::time::Duration::from_secs(86_400)
}
