//! Test-only construction of a running node: the real core and the real
//! driver over a scripted fake transport, and the `AppState` the HTTP server
//! shares. Touches no socket: calls the core makes are answered from the
//! script and recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peercloud_core::wire::{Ack, StatusReply, STATUS_ADDED, STATUS_REMOVED};
use peercloud_core::{
    Address, CallError, CallResult, Config, Identity, Membership, PeerId, Request, Response, Start,
};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::{setup, Link, Snapshot};
use crate::event::{Event, EventReceiver};
use crate::handler::Handler;
use crate::http::client::{HttpClient, Transport};
use crate::http::AppState;
use crate::limits::Limits;

/// The id of every test node.
pub(crate) const NODE_ID: &str = "node-under-test";

/// How the fake transport answers one call.
#[derive(Debug, Clone)]
pub(crate) enum Script {
    /// Answer this at once.
    Answer(Box<CallResult>),
    /// Answer nothing until the call's timeout, then time out, as the real
    /// client does.
    TimeOut,
    /// Answer this just as the call's timeout runs out: the answer and
    /// the core's deadline for it are due at the same instant.
    AtTimeout(Box<CallResult>),
}

impl Script {
    /// Answer `result` at once.
    pub(crate) fn answer(result: CallResult) -> Self {
        Script::Answer(Box::new(result))
    }
}

/// A transport that answers from a script and records every call.
///
/// Unscripted `/joined` and `/left` notices are acknowledged; any other
/// unscripted call fails as unreachable.
#[derive(Clone, Default)]
pub(crate) struct FakeTransport {
    inner: Arc<Mutex<Scripted>>,
}

#[derive(Default)]
struct Scripted {
    answers: HashMap<(Address, &'static str), Script>,
    calls: Vec<(Address, Request)>,
}

impl FakeTransport {
    /// Answers calls to `path` at `to` with `script` from now on.
    pub(crate) fn script(&self, to: &Address, path: &'static str, script: Script) {
        self.lock().answers.insert((to.clone(), path), script);
    }

    /// A `/status` at `to` answers with this id, as a live peer would.
    pub(crate) fn status_answers(&self, to: &Address, id: Option<&str>) {
        self.script(to, "/status", Script::answer(live_status(id)));
    }

    /// Every call made so far, in order.
    pub(crate) fn calls(&self) -> Vec<(Address, Request)> {
        self.lock().calls.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Scripted> {
        // A test that panicked while holding the lock has failed already.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Transport for FakeTransport {
    async fn call(
        &self,
        to: Address,
        _from: PeerId,
        request: Request,
        timeout: Duration,
    ) -> CallResult {
        let script = {
            let mut scripted = self.lock();
            scripted.calls.push((to.clone(), request.clone()));
            scripted.answers.get(&(to, request.path())).cloned()
        };
        match script {
            Some(Script::Answer(result)) => *result,
            Some(Script::TimeOut) => {
                tokio::time::sleep(timeout).await;
                Err(CallError::Timeout)
            }
            Some(Script::AtTimeout(result)) => {
                tokio::time::sleep(timeout).await;
                *result
            }
            None => unscripted(&request),
        }
    }
}

/// What a live peer with this id answers to `/status`.
pub(crate) fn live_status(id: Option<&str>) -> CallResult {
    Ok(Response::Status(StatusReply {
        id: id.map(|id| PeerId::parse(id).expect("a valid test id")),
        online: true,
        listening: true,
        joined: false,
        digest: None,
        incarnation: None,
        gossip: Default::default(),
    }))
}

fn unscripted(request: &Request) -> CallResult {
    let ack = |status: &str| Ack {
        status: status.to_owned(),
    };
    match request {
        Request::Joined(_) => Ok(Response::Joined(ack(STATUS_ADDED))),
        Request::Left(_) => Ok(Response::Left(ack(STATUS_REMOVED))),
        _ => Err(CallError::Unreachable(
            "nothing is scripted there".to_owned(),
        )),
    }
}

/// Timing for test nodes: no probe during a test (so scripted members are
/// never evicted behind its back), quick call timeouts.
pub(crate) fn test_config() -> Config {
    Config {
        probe_interval: Duration::from_secs(3600),
        call_timeout: Duration::from_millis(100),
        ..Config::new_lan()
    }
}

/// A started node (alone, id [`NODE_ID`]) whose driver runs on the test's
/// runtime; the HTTP server is not running: tests serve [`AppState`]
/// through the router themselves.
pub(crate) struct TestNode {
    /// What the HTTP handlers share.
    pub(crate) state: AppState,
    /// The node's transport: script it, read its calls.
    pub(crate) transport: FakeTransport,
    /// The node's link (snapshot, events).
    pub(crate) link: Arc<Link>,
    /// Every event since the start, as an application's stream sees them.
    pub(crate) events_rx: EventReceiver,
    /// The receiver a `Cloud` keeps for its first `events()` call; the
    /// link counts it as nobody's, so `events_rx` is a second one.
    _first_events_rx: EventReceiver,
    /// Kept so that the driver does not leave while the test runs.
    _leave_tx: watch::Sender<bool>,
}

impl TestNode {
    /// Starts a node with this message handler and body limit.
    pub(crate) async fn start(handler: Handler, body_limit: usize) -> Self {
        let limits = Limits {
            body_limit,
            ..Limits::default()
        };
        TestNode::start_with(handler, &limits).await
    }

    /// Starts a node with this message handler and these limits (the
    /// core's among them).
    pub(crate) async fn start_with(handler: Handler, limits: &Limits) -> Self {
        let config = Config {
            max_joins_per_ip_per_minute: limits.max_joins_per_ip_per_minute,
            max_members: limits.max_members,
            ..test_config()
        };
        let identity = Identity {
            id: PeerId::parse(NODE_ID).expect("a valid test id"),
            port: 9338,
            advertise: None,
            data: json!({ "name": NODE_ID }),
        };
        let core = Membership::new(identity, config, 1);
        let transport = FakeTransport::default();
        let client = HttpClient::new(Duration::from_secs(1));
        let node = setup::assemble(core, transport.clone(), client, Duration::from_secs(1));
        let events_rx = node.events_tx.subscribe();
        tokio::spawn(node.driver.run(Vec::new()));
        let start = node.started_rx.await.expect("the driver started");
        assert_eq!(start, Start::Alone);
        TestNode {
            state: AppState::new(node.link.clone(), handler, limits),
            transport,
            link: node.link,
            events_rx,
            _first_events_rx: node.first_events,
            _leave_tx: node.leave_tx,
        }
    }

    /// The ids of the members in the published snapshot.
    pub(crate) fn member_ids(&self) -> Vec<String> {
        self.link
            .snapshot()
            .members
            .iter()
            .map(|m| m.id.to_string())
            .collect()
    }

    /// The published member with this id, as the wire would describe it.
    pub(crate) fn member(&self, id: &str) -> Option<Value> {
        let id = PeerId::parse(id).ok()?;
        let snapshot = self.link.snapshot();
        let member = snapshot.member(&id)?;
        Some(json!({
            "id": member.id.as_str(),
            "ip": member.host.as_str(),
            "port": member.port,
            "data": member.data,
        }))
    }

    /// Waits until the published member ids are `ids`, at most two
    /// seconds; fails the test saying what they were.
    pub(crate) async fn wait_for_members(&self, ids: &[&str]) {
        let mut watch = self.link.snapshots();
        let wanted = |snapshot: &Snapshot| {
            let now: Vec<&str> = snapshot.members.iter().map(|m| m.id.as_str()).collect();
            now == ids
        };
        let waited = tokio::time::timeout(Duration::from_secs(2), watch.wait_for(|s| wanted(s)));
        if !matches!(waited.await, Ok(Ok(_))) {
            panic!("members are {:?}, not {ids:?}", self.member_ids());
        }
    }

    /// Every event received so far.
    pub(crate) fn drain_events(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Ok(event) = self.events_rx.try_recv() {
            events.push(Arc::unwrap_or_clone(event));
        }
        events
    }
}
