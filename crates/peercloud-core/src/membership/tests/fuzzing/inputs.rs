//! What the fuzz tests feed a core: a small world of peers (few ids, few
//! places, so that inputs keep meeting each other), and strategies for
//! every kind of input a driver hands the core: requests from anyone,
//! results of its calls (replies shaped for the call, replies of the wrong
//! kind, every `CallError`), time passing, new data, a leave.

use std::net::IpAddr;
use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::CallError;
use crate::id::PeerId;
use crate::io::Request;
use crate::member::{Address, Host};
use crate::wire::{
    Envelope, Held, JoinRequest, LeftRequest, PeerInfo, PeersRequest, ProbeOutcome, ProbeRequest,
    Update, UpdateKind, WireCause,
};

/// The core's own id.
pub(super) const ME: &str = "me";

/// The other peers of the world; `p{k}` lives at [`home`]`(k)`.
pub(super) const PEERS: usize = 6;

pub(super) fn peer(k: usize) -> PeerId {
    PeerId::parse(&format!("p{k}")).expect("a valid id")
}

/// Where `p{k}` listens.
pub(super) fn home(k: usize) -> Address {
    Address::new(ip_host(&format!("10.0.0.{}", k + 1)), 9338)
}

fn ip_host(ip: &str) -> Host {
    Host::parse(ip).expect("a valid host")
}

/// An id: mostly one of the world's peers, sometimes the core's own, or a
/// stranger no list holds.
pub(super) fn any_id() -> impl Strategy<Value = PeerId> {
    prop_oneof![
        10 => (0..PEERS).prop_map(peer),
        1 => Just(PeerId::parse(ME).expect("a valid id")),
        1 => Just(PeerId::parse("stranger").expect("a valid id")),
    ]
}

/// Where an id is said to listen: its home mostly, else the same place
/// spelt otherwise, a name, another peer's home, another port.
#[derive(Debug, Clone, Copy)]
pub(super) enum Place {
    Home,
    Mapped,
    Name,
    NameUpper,
    Of(usize),
    OtherPort,
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        12 => Just(Place::Home),
        1 => Just(Place::Mapped),
        1 => Just(Place::Name),
        1 => Just(Place::NameUpper),
        2 => (0..PEERS).prop_map(Place::Of),
        1 => Just(Place::OtherPort),
    ]
}

/// The address `id` is said to listen at: `p{k}` at home on 10.0.0.{k+1},
/// this peer on 10.0.0.100 (where it advertises itself, if it does), a
/// stranger on 10.0.0.50.
pub(super) fn at(id: &PeerId, place: Place) -> Address {
    let n = match index_of(id) {
        Some(k) => k + 1,
        None if id.as_str() == ME => 100,
        None => 50,
    };
    match place {
        Place::Home => Address::new(ip_host(&format!("10.0.0.{n}")), 9338),
        Place::Mapped => Address::new(ip_host(&format!("::ffff:10.0.0.{n}")), 9338),
        Place::Name => Address::new(ip_host(&format!("h{n}.example")), 9338),
        Place::NameUpper => Address::new(ip_host(&format!("H{n}.Example")), 9338),
        Place::Of(other) => home(other),
        Place::OtherPort => Address::new(ip_host(&format!("10.0.0.{n}")), 9339),
    }
}

/// `k` for `p{k}`.
pub(super) fn index_of(id: &PeerId) -> Option<usize> {
    let k: usize = id.as_str().strip_prefix('p')?.parse().ok()?;
    (k < PEERS).then_some(k)
}

fn incarnation() -> impl Strategy<Value = u64> {
    prop_oneof![12 => 0u64..4, 1 => (u64::MAX - 1)..=u64::MAX]
}

pub(super) fn data() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({})),
        (0..3).prop_map(|v| json!({ "v": v })),
        Just(Value::Null),
        Just(json!("text")),
    ]
}

fn remote() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (1u8..=8).prop_map(|n| IpAddr::from([10, 0, 0, n])),
        Just("::ffff:10.0.0.1".parse().expect("an ip")),
        Just("::1".parse().expect("an ip")),
    ]
}

fn peer_info() -> impl Strategy<Value = PeerInfo> {
    (any_id(), place(), data(), prop::option::of(incarnation())).prop_map(
        |(id, place, data, incarnation)| {
            let Address { host, port } = at(&id, place);
            PeerInfo {
                id,
                ip: host,
                port,
                data: data.into(),
                incarnation,
            }
        },
    )
}

fn update() -> impl Strategy<Value = Update> {
    let kind = prop::sample::select(vec![
        UpdateKind::Alive,
        UpdateKind::Suspect,
        UpdateKind::Failed,
        UpdateKind::Left,
    ]);
    let cause = prop::sample::select(vec![
        WireCause::Refused,
        WireCause::Silent,
        WireCause::Replaced,
    ]);
    (
        (kind, any_id(), incarnation()),
        prop::option::weighted(0.8, place()),
        prop::option::of(data()),
        prop::option::of(any_id()),
        prop::option::of(cause),
    )
        .prop_map(|((kind, id, incarnation), place, data, by, cause)| {
            let address = place.map(|p| at(&id, p));
            Update {
                ip: address.as_ref().map(|a| a.host.clone()),
                port: address.map(|a| a.port),
                data: data.map(Into::into),
                by,
                cause,
                ..Update::about(kind, id, incarnation)
            }
        })
}

/// Gossip: a `from` (made the sender's own by [`request`]) and updates.
fn envelope() -> impl Strategy<Value = Envelope> {
    (prop::option::of(update()), vec(update(), 0..5))
        .prop_map(|(from, updates)| Envelope { from, updates })
}

fn request_body() -> impl Strategy<Value = Request> {
    let join = (
        prop::option::weighted(0.9, any_id()),
        prop::option::of(place()),
        prop::option::of(data()),
        prop::option::of(incarnation()),
        any::<bool>(),
    )
        .prop_map(|(id, place, data, incarnation, say_port)| {
            let address = place.map(|p| at(id.as_ref().unwrap_or(&peer(0)), p));
            Request::Join(JoinRequest {
                id,
                ip: address.as_ref().map(|a| a.host.clone()),
                port: address.filter(|_| say_port).map(|a| a.port),
                data,
                incarnation,
            })
        });
    let left = (any_id(), prop::bool::weighted(0.2))
        .prop_map(|(id, rejoining)| Request::Left(LeftRequest { id, rejoining }));
    let probe = (peer_info(), envelope())
        .prop_map(|(target, envelope)| Request::Probe(ProbeRequest { target, envelope }));
    prop_oneof![
        2 => join,
        2 => peer_info().prop_map(Request::Joined),
        2 => left,
        3 => envelope().prop_map(Request::Status),
        1 => held().prop_map(|have| Request::Peers(PeersRequest { have })),
        2 => probe,
        3 => envelope().prop_map(Request::Gossip),
    ]
}

/// A request from `from` (no `x-peercloud-id` when `None`), arriving from
/// `remote`; its gossip's `from` is mostly the sender's own news.
fn request() -> impl Strategy<Value = Step> {
    (
        prop::option::weighted(0.95, any_id()),
        remote(),
        request_body(),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(from, remote, mut request, own_news)| {
            let envelope = match &mut request {
                Request::Status(e) | Request::Gossip(e) => Some(e),
                Request::Probe(p) => Some(&mut p.envelope),
                _ => None,
            };
            if let (Some(sender), Some(Some(news)), true) =
                (&from, envelope.map(|e| &mut e.from), own_news)
            {
                news.id = sender.clone();
            }
            Step::Request {
                from,
                remote,
                request: Box::new(request),
            }
        })
}

/// Who a reply says it is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Who {
    /// The peer the call was meant for.
    Right,
    /// Another peer of the world (or the core itself).
    Other(usize),
    /// No id at all.
    Nobody,
}

/// The digest a `/status` reply carries.
#[derive(Debug, Clone, Copy)]
pub(super) enum Digest {
    None,
    /// The core's own: lists agree.
    Same,
    /// Another: lists differ, the core may pull.
    Other,
}

/// The parts of a successful reply; the harness shapes them into the reply
/// to the path the call went to.
#[derive(Debug, Clone)]
pub(super) struct Parts {
    pub(super) who: Who,
    /// Whether a `/join` reply accepts (`"joined"`).
    pub(super) accepted: bool,
    /// Whether a `/join` reply gives the joiner another id than its own.
    pub(super) renamed: Option<usize>,
    /// `None`: an original peer.
    pub(super) incarnation: Option<u64>,
    pub(super) digest: Digest,
    pub(super) gossip: Envelope,
    pub(super) peers: Vec<PeerInfo>,
    /// A `/peers` answer's hashes of records it does not hold (`None`: a
    /// peer that lists every member).
    pub(super) lacking: Option<Held>,
    pub(super) outcome: ProbeOutcome,
    pub(super) data: Value,
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        8 => Just(Who::Right),
        1 => (0..=PEERS).prop_map(Who::Other),
        1 => Just(Who::Nobody),
    ]
}

fn parts() -> impl Strategy<Value = Parts> {
    let digest = prop_oneof![Just(Digest::None), Just(Digest::Same), Just(Digest::Other)];
    let outcome = prop::sample::select(vec![
        ProbeOutcome::Alive,
        ProbeOutcome::Refused,
        ProbeOutcome::Replaced,
        ProbeOutcome::Silent,
    ]);
    (
        (
            who(),
            prop::bool::weighted(0.9),
            prop::option::weighted(0.05, 0..=PEERS),
        ),
        prop::option::weighted(0.8, incarnation()),
        digest,
        envelope(),
        (vec(peer_info(), 0..5), held()),
        outcome,
        data(),
    )
        .prop_map(
            |(
                (who, accepted, renamed),
                incarnation,
                digest,
                gossip,
                (peers, lacking),
                outcome,
                data,
            )| {
                Parts {
                    who,
                    accepted,
                    renamed,
                    incarnation,
                    digest,
                    gossip,
                    peers,
                    lacking,
                    outcome,
                    data,
                }
            },
        )
}

/// A set of record hashes as a pull sends or answers one, or none.
fn held() -> impl Strategy<Value = Option<Held>> {
    prop::option::of(vec(any::<u64>(), 0..20).prop_map(Held::new))
}

/// The result of one call, as the driver hands it back.
#[derive(Debug, Clone)]
pub(super) enum Outcome {
    /// A success, shaped for the call's path.
    Reply(Box<Parts>),
    /// A success shaped for another path (a confused peer).
    WrongKind,
    Failed(CallError),
}

fn outcome() -> impl Strategy<Value = Outcome> {
    let error = prop_oneof![
        Just(CallError::Timeout),
        Just(CallError::NoListener),
        Just(CallError::Unreachable("connection reset".into())),
        prop::sample::select(vec![400u16, 403, 404, 409, 500, 502, 503, 504]).prop_map(|status| {
            CallError::Refused {
                status,
                body: "{\"error\":\"no\"}".into(),
            }
        }),
        Just(CallError::InvalidReply("not the expected reply".into())),
    ];
    prop_oneof![
        6 => parts().prop_map(|p| Outcome::Reply(Box::new(p))),
        1 => Just(Outcome::WrongKind),
        3 => error.prop_map(Outcome::Failed),
    ]
}

/// One input to the core.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// A membership request from another peer.
    Request {
        from: Option<PeerId>,
        remote: IpAddr,
        request: Box<Request>,
    },
    /// The result of the `pick`-th call the core asked for that the
    /// harness has not answered yet (the core may have timed it out).
    Answer {
        pick: Index,
        outcome: Outcome,
    },
    /// A result for a call id picked at random: most were never made,
    /// or were answered already.
    Stray {
        call: u64,
        outcome: Outcome,
    },
    /// Time passes; the driver wakes the core at the new time when `wake`
    /// (a driver busy elsewhere may not).
    Wait {
        by: Duration,
        wake: bool,
    },
    /// The driver wakes the core at its next deadline.
    NextDeadline,
    SetData(Value),
    Leave,
}

fn wait() -> impl Strategy<Value = Duration> {
    prop_oneof![
        1 => Just(Duration::ZERO),
        4 => (1u64..1_000).prop_map(Duration::from_millis),
        4 => (1u64..30).prop_map(Duration::from_secs),
        1 => (30u64..7_200).prop_map(Duration::from_secs),
    ]
}

pub(super) fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => request(),
        10 => (any::<Index>(), outcome()).prop_map(|(pick, outcome)| Step::Answer { pick, outcome }),
        1 => (0u64..64, outcome()).prop_map(|(call, outcome)| Step::Stray { call, outcome }),
        4 => (wait(), prop::bool::weighted(0.8)).prop_map(|(by, wake)| Step::Wait { by, wake }),
        4 => Just(Step::NextDeadline),
        1 => data().prop_map(Step::SetData),
        1 => Just(Step::Leave),
    ]
}

/// How a case begins.
#[derive(Debug, Clone)]
pub(super) struct Opening {
    pub(super) config: Config,
    pub(super) rng_seed: u64,
    /// The host this peer advertises, if any.
    pub(super) advertise: bool,
    /// The homes of the peers given as seeds (`PEERS` is an address no
    /// peer of the world has).
    pub(super) seeds: Vec<usize>,
    /// When set, the first seed's `/join` is answered at once by `p{k}`
    /// for each `k` of these, Rust peers when `rust`: the case starts in
    /// a cloud rather than alone or joining.
    pub(super) joined: Option<(Vec<usize>, bool)>,
}

fn config() -> impl Strategy<Value = Config> {
    (any::<bool>(), 0usize..=3, 1u32..=4).prop_map(|(wan, indirect_probes, retransmits)| {
        let preset = if wan {
            Config::new_wan()
        } else {
            Config::new_lan()
        };
        Config {
            indirect_probes,
            gossip_retransmits: retransmits,
            ..preset
        }
    })
}

pub(super) fn opening() -> impl Strategy<Value = Opening> {
    let cloud = prop::option::weighted(
        0.6,
        (
            prop::sample::subsequence((0..PEERS).collect::<Vec<_>>(), 1..PEERS),
            any::<bool>(),
        ),
    );
    (
        config(),
        any::<u64>(),
        any::<bool>(),
        prop::sample::subsequence((0..=PEERS).collect::<Vec<_>>(), 0..3),
        cloud,
    )
        .prop_map(|(config, rng_seed, advertise, seeds, joined)| Opening {
            config,
            rng_seed,
            advertise,
            // A cloud to join needs a seed to join through.
            seeds: if joined.is_some() && seeds.is_empty() {
                vec![0]
            } else {
                seeds
            },
            joined,
        })
}
