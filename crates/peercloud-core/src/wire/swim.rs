//! The membership extension that peercloud peers speak between themselves
//! (original peers never see it): gossip envelopes carried by `/status`,
//! `/probe` and `/gossip`, and the indirect probe.
//!
//! Every field here is optional or new, so a body that an original peer
//! sends (`{}`) parses as an empty envelope, and an original peer that gets
//! one of these bodies ignores the fields it does not know.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{optional_host, optional_port, PeerInfo};
use crate::id::PeerId;
use crate::member::Host;

/// The most updates one envelope carries; more are dropped on reading.
pub const MAX_UPDATES: usize = 64;

/// What an update says about a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateKind {
    /// The member is alive at this incarnation (with its address and data).
    Alive,
    /// Someone suspects the member at this incarnation; only the member
    /// itself may answer, with a higher incarnation.
    Suspect,
    /// The member was declared failed at this incarnation.
    Failed,
    /// The member left the cloud.
    Left,
}

/// Why a member was declared failed, as gossip carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireCause {
    /// Nothing listened at its address, for the prober and every helper.
    Refused,
    /// It stayed silent through its suspicion.
    Silent,
    /// Another peer answers at its address.
    Replaced,
}

/// One membership update, as gossip carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// What is said.
    pub kind: UpdateKind,
    /// About whom.
    pub id: PeerId,
    /// The member's incarnation the update is about.
    #[serde(default)]
    pub incarnation: u64,
    /// Its host (alive updates).
    #[serde(
        default,
        deserialize_with = "optional_host",
        skip_serializing_if = "Option::is_none"
    )]
    pub ip: Option<Host>,
    /// Its port (alive updates).
    #[serde(
        default,
        deserialize_with = "optional_port",
        skip_serializing_if = "Option::is_none"
    )]
    pub port: Option<u16>,
    /// Its data (alive updates); `null` is data, a missing field none.
    #[serde(
        default,
        deserialize_with = "super::present_shared_data",
        skip_serializing_if = "Option::is_none"
    )]
    pub data: Option<Arc<Value>>,
    /// Who suspected it or declared it failed.
    #[serde(
        default,
        deserialize_with = "super::optional_id",
        skip_serializing_if = "Option::is_none"
    )]
    pub by: Option<PeerId>,
    /// Why it was declared failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<WireCause>,
}

impl Update {
    /// An update of `kind` about `id` at `incarnation`, with nothing else.
    pub fn about(kind: UpdateKind, id: PeerId, incarnation: u64) -> Self {
        Update {
            kind,
            id,
            incarnation,
            ip: None,
            port: None,
            data: None,
            by: None,
            cause: None,
        }
    }
}

/// The gossip riding on a request or a reply: who sends it and what it has
/// to tell. Empty for original peers.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Envelope {
    /// The sender, alive at its incarnation (requests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Update>,
    /// Updates about members, newest news first.
    #[serde(
        default,
        deserialize_with = "bounded_updates",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub updates: Vec<Update>,
}

impl Envelope {
    /// Whether there is nothing in it (the body an original peer sends).
    pub fn is_empty(&self) -> bool {
        self.from.is_none() && self.updates.is_empty()
    }
}

/// Body of `POST /probe`: asks a peer to probe `target` for the sender
/// (SWIM's indirect probe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeRequest {
    /// The member to probe.
    pub target: PeerInfo,
    /// The sender's gossip.
    #[serde(flatten)]
    pub envelope: Envelope,
}

/// What an indirect probe found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeOutcome {
    /// The target answered with its id.
    Alive,
    /// Nothing listens at the target's address.
    Refused,
    /// Another peer answers at the target's address.
    Replaced,
    /// No answer in time, or no way to reach it.
    Silent,
}

/// Reply to `POST /probe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReply {
    /// What the probe found.
    pub outcome: ProbeOutcome,
    /// The helper's gossip.
    #[serde(flatten)]
    pub envelope: Envelope,
}

/// At most [`MAX_UPDATES`] updates; the rest of a longer list is dropped.
fn bounded_updates<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Update>, D::Error> {
    let mut updates = Vec::<Update>::deserialize(deserializer)?;
    updates.truncate(MAX_UPDATES);
    Ok(updates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_body_is_an_empty_envelope() {
        let envelope: Envelope = serde_json::from_str("{}").unwrap();
        assert!(envelope.is_empty());
        assert_eq!(serde_json::to_string(&envelope).unwrap(), "{}");
    }

    #[test]
    fn an_update_round_trips_and_leaves_out_what_it_does_not_say() {
        let update = Update {
            by: Some(PeerId::parse("b").unwrap()),
            ..Update::about(UpdateKind::Suspect, PeerId::parse("a").unwrap(), 3)
        };
        let text = serde_json::to_value(&update).unwrap();
        assert_eq!(
            text,
            json!({"kind": "suspect", "id": "a", "incarnation": 3, "by": "b"})
        );
        assert_eq!(serde_json::from_value::<Update>(text).unwrap(), update);
    }

    #[test]
    fn an_envelope_keeps_at_most_the_bounded_number_of_updates() {
        let one = json!({"kind": "alive", "id": "a", "incarnation": 1});
        let many: Vec<_> = (0..MAX_UPDATES + 10).map(|_| one.clone()).collect();
        let envelope: Envelope = serde_json::from_value(json!({ "updates": many })).unwrap();
        assert_eq!(envelope.updates.len(), MAX_UPDATES);
    }

    #[test]
    fn a_probe_request_carries_its_gossip_beside_the_target() {
        let body = json!({
            "target": {"id": "t", "ip": "10.0.0.1", "port": 9338},
            "from": {"kind": "alive", "id": "s", "incarnation": 2, "port": 9339}
        });
        let request: ProbeRequest = serde_json::from_value(body).unwrap();
        assert_eq!(request.target.id.as_str(), "t");
        assert_eq!(request.envelope.from.unwrap().port, Some(9339));
    }
}
