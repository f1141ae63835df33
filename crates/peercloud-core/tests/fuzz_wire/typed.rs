//! Strategies for typed messages, every field free within what the wire can
//! say: the values that must come back unchanged from `encode_*` and
//! `decode_*`. What the wire cannot say is left out on purpose, each for
//! its reason: a digest that is empty or over 64 bytes (read back as
//! none), more than `MAX_UPDATES` updates (the rest are dropped on
//! reading).

use proptest::collection::vec;
use proptest::prelude::*;

use peercloud_core::wire::{
    Ack, Envelope, Held, JoinReply, JoinRequest, LeftRequest, PeerInfo, PeersReply, PeersRequest,
    ProbeOutcome, ProbeReply, ProbeRequest, ServerInfo, StatusReply, Update, UpdateKind, WireCause,
    MAX_UPDATES,
};
use peercloud_core::{Host, PeerId, Request, Response};

use super::shapes::any_value;

pub(crate) fn peer_id() -> impl Strategy<Value = PeerId> {
    let odd = "[^\\p{Cc}]{1,32}".prop_filter_map("a valid id", |s| PeerId::parse(&s).ok());
    prop_oneof![
        prop::sample::select(vec![
            "a",
            "b",
            "é",
            "a b",
            "0b5bd3c5-9e1d-4c26-9f5c-8b0a4f2f1e77"
        ])
        .prop_map(|s| PeerId::parse(s).expect("a valid id")),
        Just(PeerId::parse(&"m".repeat(128)).expect("a valid id")),
        odd,
    ]
}

pub(crate) fn host() -> impl Strategy<Value = Host> {
    let name = "[a-zA-Z0-9._-]{1,40}".prop_map(|s| Host::parse(&s).expect("a valid name"));
    let v4 = any::<[u8; 4]>().prop_map(|o| Host::from_ip(o.into()));
    let v6 = any::<[u16; 8]>().prop_map(|s| Host::from_ip(s.into()));
    let listed = prop::sample::select(vec!["::ffff:127.0.0.1", "[::1]", "localhost"])
        .prop_map(|s| Host::parse(s).expect("a valid host"));
    prop_oneof![name, v4, v6, listed]
}

fn port() -> impl Strategy<Value = u16> {
    1u16..=u16::MAX
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("joined".to_owned()),
        Just("added".to_owned()),
        any::<String>()
    ]
}

pub(crate) fn peer_info() -> impl Strategy<Value = PeerInfo> {
    (peer_id(), host(), port(), any_value(), any::<Option<u64>>()).prop_map(
        |(id, ip, port, data, incarnation)| PeerInfo {
            id,
            ip,
            port,
            data: data.into(),
            incarnation,
        },
    )
}

pub(crate) fn update() -> impl Strategy<Value = Update> {
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
        (kind, peer_id(), any::<u64>()),
        prop::option::of(host()),
        prop::option::of(port()),
        prop::option::of(any_value()),
        prop::option::of(peer_id()),
        prop::option::of(cause),
    )
        .prop_map(
            |((kind, id, incarnation), ip, port, data, by, cause)| Update {
                kind,
                id,
                incarnation,
                ip,
                port,
                data: data.map(Into::into),
                by,
                cause,
            },
        )
}

pub(crate) fn envelope() -> impl Strategy<Value = Envelope> {
    let many = (0..=MAX_UPDATES, update()).prop_map(|(n, u)| vec![u; n]);
    let updates = prop_oneof![3 => vec(update(), 0..4), 1 => many];
    (prop::option::of(update()), updates).prop_map(|(from, updates)| Envelope { from, updates })
}

fn server() -> impl Strategy<Value = ServerInfo> {
    (peer_id(), any_value(), any::<Option<u64>>()).prop_map(|(id, data, incarnation)| ServerInfo {
        id,
        data,
        incarnation,
    })
}

pub(crate) fn request() -> impl Strategy<Value = Request> {
    let join = (
        prop::option::of(peer_id()),
        prop::option::of(host()),
        prop::option::of(port()),
        prop::option::of(any_value()),
        any::<Option<u64>>(),
    )
        .prop_map(|(id, ip, port, data, incarnation)| {
            Request::Join(JoinRequest {
                id,
                ip,
                port,
                data,
                incarnation,
            })
        });
    let left = (peer_id(), any::<bool>())
        .prop_map(|(id, rejoining)| Request::Left(LeftRequest { id, rejoining }));
    let probe = (peer_info(), envelope())
        .prop_map(|(target, envelope)| Request::Probe(ProbeRequest { target, envelope }));
    prop_oneof![
        join,
        peer_info().prop_map(Request::Joined),
        left,
        envelope().prop_map(Request::Status),
        held().prop_map(|have| Request::Peers(PeersRequest { have })),
        probe,
        envelope().prop_map(Request::Gossip),
    ]
}

fn digest() -> impl Strategy<Value = Option<String>> {
    prop::option::of("[^\\p{Cc}]{1,16}".prop_filter("at most 64 bytes", |s| s.len() <= 64))
}

pub(crate) fn response() -> impl Strategy<Value = Response> {
    let join = (
        text(),
        prop::option::of(peer_id()),
        prop::option::of(host()),
        prop::option::of(port()),
        server(),
        vec(peer_info(), 0..4),
    )
        .prop_map(|(status, id, ip, port, server, peers)| {
            Response::Join(JoinReply {
                status,
                id,
                ip,
                port,
                server,
                peers,
            })
        });
    let status = (
        prop::option::of(peer_id()),
        any::<(bool, bool, bool)>(),
        digest(),
        any::<Option<u64>>(),
        envelope(),
    )
        .prop_map(
            |(id, (online, listening, joined), digest, incarnation, gossip)| {
                Response::Status(StatusReply {
                    id,
                    online,
                    listening,
                    joined,
                    digest,
                    incarnation,
                    gossip,
                })
            },
        );
    let outcome = prop::sample::select(vec![
        ProbeOutcome::Alive,
        ProbeOutcome::Refused,
        ProbeOutcome::Replaced,
        ProbeOutcome::Silent,
    ]);
    let probe = (outcome, envelope())
        .prop_map(|(outcome, envelope)| Response::Probe(ProbeReply { outcome, envelope }));
    let peers = (server(), vec(peer_info(), 0..4), held()).prop_map(|(server, peers, lacking)| {
        Response::Peers(PeersReply {
            server,
            peers,
            lacking,
        })
    });
    prop_oneof![
        join,
        text().prop_map(|status| Response::Joined(Ack { status })),
        text().prop_map(|status| Response::Left(Ack { status })),
        status,
        peers,
        probe,
        envelope().prop_map(Response::Gossip),
    ]
}

/// A set of record hashes as a pull sends or answers one, or none.
fn held() -> impl Strategy<Value = Option<Held>> {
    prop::option::of(vec(any::<u64>(), 0..20).prop_map(Held::new))
}
