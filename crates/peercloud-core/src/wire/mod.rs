//! The peercloud wire format: one serde struct per message, field names as the
//! protocol spells them.
//!
//! Parsing is lenient where the original node.js peers are (ports as numbers
//! or numeric strings, missing fields at their defaults, unknown fields
//! ignored) and strict where input could hurt (ids and hosts are validated, so
//! nothing that cannot be dialled or told apart ever enters a member list).
//! Nothing here touches the network.

use std::sync::Arc;

use serde::{de, Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::id::PeerId;
use crate::member::{Host, Member};

mod codec;
mod pull;
mod swim;

pub use codec::{
    decode_reply, decode_request, encode_reply, encode_request, encoded_len, encoded_reply_len,
    encoded_request_len, CodecError,
};
pub use pull::{id_hash, record_hash, Held, PeersRequest, HASH_DIGITS, MAX_LACKING};
pub use swim::{
    Envelope, ProbeOutcome, ProbeReply, ProbeRequest, Update, UpdateKind, WireCause, MAX_UPDATES,
};

/// The port a peer is assumed to listen on when it does not say.
pub const DEFAULT_PORT: u16 = 9338;

/// The header that names the sender of every request.
pub const ID_HEADER: &str = "x-peercloud-id";

/// The `status` value of a successful `/join` reply.
pub const STATUS_JOINED: &str = "joined";
/// The `status` value of a successful `/joined` reply.
pub const STATUS_ADDED: &str = "added";
/// The `status` value of a successful `/left` reply.
pub const STATUS_REMOVED: &str = "removed";

/// Body of `POST /join`: a peer asks to join the cloud.
///
/// Every field is optional on the wire; the server fills in defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The joiner's id; the server generates one when it is missing.
    #[serde(default, deserialize_with = "optional_id")]
    pub id: Option<PeerId>,
    /// The address other peers should use for the joiner; inferred from the
    /// connection when missing. The original sends `null` here.
    #[serde(default, deserialize_with = "optional_host")]
    pub ip: Option<Host>,
    /// The joiner's port, [`DEFAULT_PORT`] when missing.
    #[serde(default, deserialize_with = "optional_port")]
    pub port: Option<u16>,
    /// The joiner's data, `{}` when missing (`null` is kept as `null`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<Value>,
    /// The joiner's incarnation: sent by peercloud peers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<u64>,
}

/// Body of a `/join` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinReply {
    /// [`STATUS_JOINED`] on success; anything else is a refusal.
    pub status: String,
    /// The joiner's id (the one it sent, or the one generated for it).
    #[serde(default, deserialize_with = "optional_id")]
    pub id: Option<PeerId>,
    /// The joiner's address as the server saw or was told it.
    #[serde(default, deserialize_with = "optional_host")]
    pub ip: Option<Host>,
    /// The joiner's port.
    #[serde(default, deserialize_with = "optional_port")]
    pub port: Option<u16>,
    /// The server itself.
    #[serde(rename = "self")]
    pub server: ServerInfo,
    /// Every other member the server knows, without the joiner.
    #[serde(default)]
    pub peers: Vec<PeerInfo>,
}

/// The server's own entry in a [`JoinReply`] (it knows no address of itself).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The server's id.
    pub id: PeerId,
    /// The server's data.
    #[serde(default = "empty_object")]
    pub data: Value,
    /// The server's incarnation: peercloud peers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<u64>,
}

/// One member as the wire describes it: in `/join` replies and as the body of
/// `POST /joined`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeerInfo {
    /// The member's id.
    pub id: PeerId,
    /// The host (usually an IP address) the member listens on.
    pub ip: Host,
    /// The member's port ([`DEFAULT_PORT`] when missing).
    #[serde(default = "default_port", deserialize_with = "port")]
    pub port: u16,
    /// The member's data (`{}` when missing), shared with the record it
    /// was made from.
    #[serde(default = "empty_shared_object", deserialize_with = "shared_data")]
    pub data: Arc<Value>,
    /// The member's incarnation, as a peercloud peer knows it; original
    /// peers neither send it nor read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<u64>,
}

/// Reply to `POST /joined` ([`STATUS_ADDED`]) and `POST /left`
/// ([`STATUS_REMOVED`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// What was done.
    pub status: String,
}

/// Body of `POST /left`: a member is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftRequest {
    /// The id of the member that left or failed.
    pub id: PeerId,
    /// Set by a peercloud peer that takes itself out of original peers'
    /// lists only to join them again at once (to update its data there):
    /// peercloud peers that get it keep the member.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rejoining: bool,
}

impl LeftRequest {
    /// A `/left` about `id`.
    pub fn new(id: PeerId) -> Self {
        LeftRequest {
            id,
            rejoining: false,
        }
    }
}

/// Reply to `POST /status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusReply {
    /// The peer's id.
    #[serde(default, deserialize_with = "optional_id")]
    pub id: Option<PeerId>,
    /// Whether the peer is up (false while it shuts down).
    #[serde(default = "yes")]
    pub online: bool,
    /// Whether the peer is listening.
    #[serde(default = "yes")]
    pub listening: bool,
    /// Whether the peer knows any other member.
    #[serde(default)]
    pub joined: bool,
    /// A digest of the member list the peer knows, itself included: equal
    /// lists have equal digests. A peercloud extension: original peers
    /// neither send nor read it, and a digest that is not a short string is
    /// taken as missing.
    #[serde(
        default,
        deserialize_with = "optional_digest",
        skip_serializing_if = "Option::is_none"
    )]
    pub digest: Option<String>,
    /// The peer's incarnation: only peercloud peers send it, so it also
    /// tells that the peer speaks the membership extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incarnation: Option<u64>,
    /// Gossip for the prober (peercloud peers only).
    #[serde(default, skip_serializing_if = "Envelope::is_empty", flatten)]
    pub gossip: Envelope,
}

/// Reply to `POST /peers`, an endpoint only peercloud peers have: the member
/// list a peer knows, for operators (`peercloud peers HOST:PORT`) and for
/// peers whose lists differ (see [`StatusReply::digest`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeersReply {
    /// The answering peer itself.
    #[serde(rename = "self")]
    pub server: ServerInfo,
    /// Every other member it knows, or, when the request said what the
    /// asker holds, the others (see [`PeersRequest`]).
    pub peers: Vec<PeerInfo>,
    /// Of the hashes the asker sent, those of records this peer does not
    /// hold (at most [`MAX_LACKING`]); absent in the answer to a plain
    /// request, and from peers that do not know the extension.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacking: Option<Held>,
}

impl PeersReply {
    /// The reply of the peer `id` with `data` that knows `peers`.
    pub fn of(id: &PeerId, data: &Value, peers: impl IntoIterator<Item = PeerInfo>) -> Self {
        PeersReply {
            server: ServerInfo {
                id: id.clone(),
                data: data.clone(),
                incarnation: None,
            },
            peers: peers.into_iter().collect(),
            lacking: None,
        }
    }
}

/// The JSON body of every error answer: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What was wrong, in lowercase words.
    pub error: String,
}

impl PeerInfo {
    /// A member as the wire describes it, with its incarnation when the
    /// member is a peercloud peer (original peers have none).
    pub fn of(member: &Member, incarnation: Option<u64>) -> Self {
        PeerInfo {
            id: member.id.clone(),
            ip: member.host.clone(),
            port: member.port,
            data: member.data.clone(),
            incarnation,
        }
    }
}

impl From<&Member> for PeerInfo {
    fn from(member: &Member) -> Self {
        PeerInfo::of(member, None)
    }
}

impl From<PeerInfo> for Member {
    fn from(info: PeerInfo) -> Self {
        Member {
            id: info.id,
            host: info.ip,
            port: info.port,
            data: info.data,
        }
    }
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// The one `{}` that every member record without data shares (the
/// default data of a peer): at a thousand members a peer would otherwise
/// hold a thousand allocations of the same empty object.
fn empty_shared_object() -> Arc<Value> {
    static EMPTY: std::sync::OnceLock<Arc<Value>> = std::sync::OnceLock::new();
    EMPTY.get_or_init(|| Arc::new(empty_object())).clone()
}

/// A member's data as received, made shared: an empty object is the
/// shared one ([`empty_shared_object`]), anything else its own.
pub(crate) fn shared_data<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Arc<Value>, D::Error> {
    Value::deserialize(deserializer).map(share)
}

/// Data made shared, the empty object being the one shared `{}`.
pub(crate) fn share(data: Value) -> Arc<Value> {
    match &data {
        Value::Object(map) if map.is_empty() => empty_shared_object(),
        _ => Arc::new(data),
    }
}

/// [`shared_data`] for an optional field, as [`present`] reads it.
pub(crate) fn present_shared_data<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Arc<Value>>, D::Error> {
    shared_data(deserializer).map(Some)
}

fn default_port() -> u16 {
    DEFAULT_PORT
}

fn yes() -> bool {
    true
}

/// A port as the original sends it: a number, or a string of digits.
#[derive(Deserialize)]
#[serde(untagged)]
enum PortRepr {
    Number(u64),
    Text(String),
}

fn parse_port<E: de::Error>(repr: PortRepr) -> Result<u16, E> {
    let number = match repr {
        PortRepr::Number(n) => n,
        PortRepr::Text(s) => s
            .trim()
            .parse::<u64>()
            .map_err(|_| E::custom(format!("port {s:?} is not a number")))?,
    };
    match u16::try_from(number) {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(E::custom(format!(
            "port {number} is out of range (1 to 65535)"
        ))),
    }
}

fn port<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u16, D::Error> {
    parse_port(PortRepr::deserialize(deserializer)?)
}

/// `null`, `""` and a missing field all mean "not given".
pub(crate) fn optional_port<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u16>, D::Error> {
    match Option::<PortRepr>::deserialize(deserializer)? {
        None => Ok(None),
        Some(PortRepr::Text(s)) if s.is_empty() => Ok(None),
        Some(repr) => parse_port(repr).map(Some),
    }
}

pub(crate) fn optional_host<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Host>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => Host::parse(&s).map(Some).map_err(de::Error::custom),
    }
}

pub(crate) fn optional_id<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PeerId>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => PeerId::parse(&s).map(Some).map_err(de::Error::custom),
    }
}

/// Any JSON, `null` included, for an optional field whose value may be
/// `null` (a peer's data): with `#[serde(default)]`, a missing field is
/// `None` and a present one `Some`, so that `null` data is not taken for
/// no data (and replaced by an older record's) on the way.
pub(crate) fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// A string checked by `parse`, read through a visitor so that a
/// borrowed string is checked in place rather than copied first.
pub(crate) fn checked_str<'de, D, T>(
    deserializer: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, crate::error::InvalidField>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct Checked<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, crate::error::InvalidField>,
    }
    impl<T> de::Visitor<'_> for Checked<T> {
        type Value = T;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
            (self.parse)(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Checked { expecting, parse })
}

/// The longest digest taken; longer ones are ignored.
const MAX_DIGEST_LEN: usize = 64;

/// A short string, or nothing: a peer must not be evicted over a field it
/// only adds.
fn optional_digest<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::String(s) if !s.is_empty() && s.len() <= MAX_DIGEST_LEN => Some(s),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn join_request_as_the_original_sends_it_parses() {
        let body = json!({"id": "6f1c2a3e-0000-4000-8000-000000000001", "ip": null, "port": 40123, "data": {"n": 1}});
        let req: JoinRequest = serde_json::from_value(body).unwrap();
        assert_eq!(
            req.id.unwrap().as_str(),
            "6f1c2a3e-0000-4000-8000-000000000001"
        );
        assert_eq!(req.ip, None);
        assert_eq!(req.port, Some(40123));
        assert_eq!(req.data, Some(json!({"n": 1})));
    }

    #[test]
    fn an_empty_join_request_takes_every_default() {
        let req: JoinRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(req, JoinRequest::default());
    }

    #[test]
    fn ports_may_be_numeric_strings() {
        let peer: PeerInfo =
            serde_json::from_value(json!({"id": "a", "ip": "localhost", "port": "9338"})).unwrap();
        assert_eq!(peer.port, 9338);
        assert_eq!(peer.data, json!({}).into());
    }

    #[test]
    fn a_missing_port_is_the_default_port() {
        let peer: PeerInfo = serde_json::from_value(json!({"id": "a", "ip": "10.0.0.1"})).unwrap();
        assert_eq!(peer.port, DEFAULT_PORT);
    }

    #[test]
    fn out_of_range_and_non_numeric_ports_are_rejected() {
        for port in [json!(0), json!(70000), json!("http"), json!(-1), json!(1.5)] {
            let result: Result<PeerInfo, _> =
                serde_json::from_value(json!({"id": "a", "ip": "127.0.0.1", "port": port}));
            assert!(result.is_err(), "port {port} was accepted");
        }
    }

    #[test]
    fn ipv4_mapped_addresses_from_node_are_kept_as_sent() {
        let peer: PeerInfo =
            serde_json::from_value(json!({"id": "a", "ip": "::ffff:127.0.0.1", "port": 1}))
                .unwrap();
        assert_eq!(peer.ip.as_str(), "::ffff:127.0.0.1");
        let back = serde_json::to_value(&peer).unwrap();
        assert_eq!(back["ip"], "::ffff:127.0.0.1");
    }

    #[test]
    fn join_reply_round_trips_with_the_self_field() {
        let reply = json!({
            "status": "joined", "id": "b", "ip": "::ffff:127.0.0.1", "port": 5000,
            "self": {"id": "a", "data": {"x": 1}},
            "peers": [{"id": "c", "ip": "127.0.0.1", "port": 5001, "data": {}}]
        });
        let parsed: JoinReply = serde_json::from_value(reply.clone()).unwrap();
        assert_eq!(parsed.server.id.as_str(), "a");
        assert_eq!(serde_json::to_value(&parsed).unwrap(), reply);
    }

    #[test]
    fn floats_in_data_come_back_from_the_wire_bit_for_bit() {
        // Found by the wire fuzz tests: without serde_json's
        // float_roundtrip, this read back one ULP off.
        let peer = PeerInfo {
            id: PeerId::parse("a").unwrap(),
            ip: Host::parse("10.0.0.1").unwrap(),
            port: 1,
            data: json!([1.3830022519702741e305, 5.8462799586890636e-77]).into(),
            incarnation: None,
        };
        let text = serde_json::to_vec(&peer).unwrap();
        assert_eq!(serde_json::from_slice::<PeerInfo>(&text).unwrap(), peer);
    }

    #[test]
    fn null_data_is_data_and_missing_data_is_none() {
        // Found by the fuzz tests: a peer whose data was set to `null`
        // sent `"data": null`, read as no data, so its members kept its
        // old data at its new incarnation.
        let join: JoinRequest = serde_json::from_value(json!({"data": null})).unwrap();
        assert_eq!(join.data, Some(Value::Null));
        let update: Update =
            serde_json::from_value(json!({"kind": "alive", "id": "a", "data": null})).unwrap();
        assert_eq!(update.data.as_deref(), Some(&Value::Null));
        let update: Update = serde_json::from_value(json!({"kind": "alive", "id": "a"})).unwrap();
        assert_eq!(update.data, None);
    }

    #[test]
    fn status_reply_defaults_are_truthy() {
        let status: StatusReply = serde_json::from_value(json!({"id": "a"})).unwrap();
        assert!(status.online && status.listening && !status.joined);
        assert_eq!(status.digest, None);
    }

    #[test]
    fn a_digest_that_is_not_a_short_string_is_ignored_not_fatal() {
        let long = "x".repeat(MAX_DIGEST_LEN + 1);
        for digest in [
            json!(7),
            json!({"a": 1}),
            json!(null),
            json!(""),
            json!(long),
        ] {
            let status: StatusReply =
                serde_json::from_value(json!({"id": "a", "digest": digest})).unwrap();
            assert_eq!(status.digest, None);
        }
        let status: StatusReply =
            serde_json::from_value(json!({"id": "a", "digest": "3-00ff"})).unwrap();
        assert_eq!(status.digest.as_deref(), Some("3-00ff"));
    }

    #[test]
    fn a_status_without_digest_is_written_as_the_original_writes_it() {
        let status = StatusReply {
            id: Some(PeerId::parse("a").unwrap()),
            online: true,
            listening: true,
            joined: false,
            digest: None,
            incarnation: None,
            gossip: Envelope::default(),
        };
        assert_eq!(
            serde_json::to_value(&status).unwrap(),
            json!({"id": "a", "online": true, "listening": true, "joined": false})
        );
    }
}
