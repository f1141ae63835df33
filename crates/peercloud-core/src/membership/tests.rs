//! Unit tests of the membership state machine: helpers shared by the test
//! files below this one, which drive single cores by hand (`joining`,
//! `serving`, `limiting`, `notices`, `probing`, `gossiping`, `updating`,
//! `reintroducing`, `leaving`, `rejoining`, `syncing`, `determinism`), and
//! `fuzzing`, which feeds one core arbitrary inputs. Scenarios of many peers live in
//! `peercloud-sim`'s tests. Touches no clock but one `Instant` taken per
//! test as a base.

mod counting;
mod determinism;
mod fuzzing;
mod gossiping;
mod joining;
mod leaving;
mod limiting;
mod notices;
mod probing;
mod reintroducing;
mod rejoining;
mod serving;
mod syncing;
mod updating;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{Evictions, Identity, MemberState, Membership};
use crate::config::Config;
use crate::error::Refusal;
use crate::id::PeerId;
use crate::io::{
    Action, CallId, CallResult, Event, FailureCause, Origin, ReplyToken, Request, Response,
};
use crate::member::{Address, Host, Member};
use crate::wire::{JoinReply, JoinRequest, LeftRequest, PeerInfo, ServerInfo, StatusReply};

/// The one clock reading of a test; everything else is this plus durations.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn pid(id: &str) -> PeerId {
    PeerId::parse(id).unwrap()
}

fn addr(address: &str) -> Address {
    address.parse().unwrap()
}

fn ip(ip: &str) -> IpAddr {
    ip.parse().unwrap()
}

/// The data every test peer identifies itself with.
fn data_of(id: &str) -> Value {
    json!({ "name": id })
}

fn identity(id: &str, port: u16) -> Identity {
    Identity {
        id: pid(id),
        port,
        advertise: None,
        data: data_of(id),
    }
}

/// The config of the tests that drive single cores: the LAN preset with
/// a round one-second probe interval, so that ticks fall on whole seconds.
///
/// Gossip rounds are an hour apart, so that the probe tick is the next
/// wake and news goes out only on probes and pushes, as each test expects;
/// `tests/gossiping.rs` sets them where it tests them.
fn test_config() -> Config {
    Config {
        probe_interval: Duration::from_secs(1),
        gossip_interval: Duration::from_secs(3600),
        ..Config::new_lan()
    }
}

/// A core that is not started, with [`test_config`] and rng seed 1.
fn core(id: &str, port: u16) -> Membership {
    Membership::new(identity(id, port), test_config(), 1)
}

/// A member listening at `address`, with the usual test data.
fn member(id: &str, address: &str) -> Member {
    let Address { host, port } = addr(address);
    Member {
        id: pid(id),
        host,
        port,
        data: data_of(id).into(),
    }
}

/// A request from a peer with id `sender`, coming from an unrelated address.
fn origin(sender: &str) -> Origin {
    Origin {
        sender: Some(pid(sender)),
        remote: ip("10.9.9.9"),
    }
}

/// A request with no `x-peercloud-id` header from `remote`.
fn anonymous(remote: &str) -> Origin {
    Origin {
        sender: None,
        remote: ip(remote),
    }
}

/// Everything the core wants done, in order.
fn drain(core: &mut Membership) -> Vec<Action> {
    std::iter::from_fn(|| core.poll_action()).collect()
}

/// Everything that happened, in order.
fn events(core: &mut Membership) -> Vec<Event> {
    std::iter::from_fn(|| core.poll_event()).collect()
}

/// One drained [`Action::Call`], flattened.
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    call: CallId,
    to: Address,
    request: Request,
    timeout: Duration,
}

/// The calls among `actions`, in order.
fn calls(actions: &[Action]) -> Vec<Sent> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Call {
                call,
                to,
                request,
                timeout,
            } => Some(Sent {
                call: *call,
                to: to.clone(),
                request: request.clone(),
                timeout: *timeout,
            }),
            Action::Reply { .. } => None,
        })
        .collect()
}

/// The calls to `path` among `actions`, in order.
fn calls_to(actions: &[Action], path: &str) -> Vec<Sent> {
    calls(actions)
        .into_iter()
        .filter(|sent| sent.request.path() == path)
        .collect()
}

/// The one call among `actions`, which must be to `path` and alone.
fn only_call(actions: &[Action], path: &str) -> Sent {
    assert_eq!(
        actions.len(),
        1,
        "expected one call to {path}: {actions:#?}"
    );
    let sent = calls(actions).remove(0);
    assert_eq!(sent.request.path(), path, "{sent:#?}");
    sent
}

/// The replies among `actions`, in order.
fn replies(actions: &[Action]) -> Vec<(ReplyToken, Result<Response, Refusal>)> {
    actions
        .iter()
        .filter_map(|action| match action {
            Action::Reply { token, reply } => Some((*token, reply.clone())),
            Action::Call { .. } => None,
        })
        .collect()
}

/// The one action among `actions`, which must be the reply to `token`.
fn only_reply(actions: &[Action], token: ReplyToken) -> Result<Response, Refusal> {
    assert_eq!(actions.len(), 1, "expected one reply: {actions:#?}");
    let (replied, reply) = replies(actions).remove(0);
    assert_eq!(replied, token);
    reply
}

/// The `/joined` and `/left` notices among `actions`: where to, saying what.
fn notices(actions: &[Action]) -> Vec<(Address, Request)> {
    calls(actions)
        .into_iter()
        .filter(|sent| matches!(sent.request, Request::Joined(_) | Request::Left(_)))
        .map(|sent| (sent.to, sent.request))
        .collect()
}

/// The ids of the members, in the core's (id) order.
fn member_ids(core: &Membership) -> Vec<String> {
    core.members().map(|m| m.id.to_string()).collect()
}

fn join_request(id: Option<&str>, ip: Option<&str>, port: Option<u16>) -> Request {
    Request::Join(JoinRequest {
        id: id.map(pid),
        ip: ip.map(|h| Host::parse(h).unwrap()),
        port,
        data: None,
        incarnation: None,
    })
}

fn joined_notice(about: &Member) -> Request {
    Request::Joined(PeerInfo::from(about))
}

fn left_notice(id: &str) -> Request {
    Request::Left(LeftRequest::new(pid(id)))
}

/// A successful `/status` answer from a peer with id `id`.
fn status_of(id: &str) -> CallResult {
    Ok(Response::Status(StatusReply {
        id: Some(pid(id)),
        online: true,
        listening: true,
        joined: true,
        digest: None,
        incarnation: None,
        gossip: Default::default(),
    }))
}

/// A seed's successful `/join` answer: `server` accepts `joiner` and lists
/// `peers`.
fn join_reply(joiner: &str, server: &Member, peers: &[Member]) -> CallResult {
    Ok(Response::Join(JoinReply {
        status: "joined".to_owned(),
        id: Some(pid(joiner)),
        ip: None,
        port: None,
        server: ServerInfo {
            id: server.id.clone(),
            data: (*server.data).clone(),
            incarnation: None,
        },
        peers: peers.iter().map(PeerInfo::from).collect(),
    }))
}

/// A core `me` (port 9338) that joined through `seed` (dialled at the
/// seed's address), which listed `others`; every output so far is drained.
/// Returns the core and the time it joined.
fn joined_core(me: &str, seed: &Member, others: &[Member]) -> (Membership, Instant) {
    joined_core_with(test_config(), me, seed, others)
}

/// Like [`joined_core`], with this config.
fn joined_core_with(
    config: Config,
    me: &str,
    seed: &Member,
    others: &[Member],
) -> (Membership, Instant) {
    let t0 = base();
    let mut core = Membership::new(identity(me, 9338), config, 1);
    core.start(t0, vec![seed.address()]);
    let join = only_call(&drain(&mut core), "/join");
    core.handle_response(t0, join.call, join_reply(me, seed, others));
    assert!(drain(&mut core).is_empty());
    events(&mut core);
    (core, t0)
}

/// Like [`joined_core`], with the wire records the seed sent: its own
/// incarnation (`None` for an original peer) and its `peers`, with theirs.
fn joined_core_as_told(
    me: &str,
    seed: &Member,
    seed_incarnation: Option<u64>,
    peers: Vec<PeerInfo>,
) -> (Membership, Instant) {
    joined_as_told_with(test_config(), me, seed, seed_incarnation, peers)
}

/// [`joined_core_as_told`] with another config.
fn joined_as_told_with(
    config: Config,
    me: &str,
    seed: &Member,
    seed_incarnation: Option<u64>,
    peers: Vec<PeerInfo>,
) -> (Membership, Instant) {
    let t0 = base();
    let mut core = Membership::new(identity(me, 9338), config, 1);
    core.start(t0, vec![seed.address()]);
    let join = only_call(&drain(&mut core), "/join");
    let reply = JoinReply {
        status: "joined".to_owned(),
        id: Some(pid(me)),
        ip: None,
        port: None,
        server: ServerInfo {
            id: seed.id.clone(),
            data: (*seed.data).clone(),
            incarnation: seed_incarnation,
        },
        peers,
    };
    core.handle_response(t0, join.call, Ok(Response::Join(reply)));
    drain(&mut core);
    events(&mut core);
    (core, t0)
}

/// A core `me` (port 9338) started with no seeds; every output is drained.
fn alone_core(me: &str) -> (Membership, Instant) {
    let t0 = base();
    let mut core = core(me, 9338);
    core.start(t0, vec![]);
    events(&mut core);
    (core, t0)
}
