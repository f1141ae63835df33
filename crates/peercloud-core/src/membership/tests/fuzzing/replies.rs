//! What the harness answers the core's calls with: a reply shaped for
//! the call's path from a case's parts, from the peer the call was meant
//! for (or another, or nobody), or a reply of the wrong kind, each through
//! the codec as the client reads it.

use serde_json::Value;

use super::inputs::{home, peer, Digest, Outcome, Parts, Who, PEERS};
use super::run::{Made, Run};
use crate::error::CallError;
use crate::id::PeerId;
use crate::io::{CallId, CallResult, Response};
use crate::member::{Address, Member};
use crate::membership::members::Place;
use crate::membership::Pending;
use crate::wire::{
    decode_reply, encode_reply, Ack, JoinReply, PeersReply, ProbeReply, ServerInfo, StatusReply,
    STATUS_ADDED, STATUS_JOINED, STATUS_REMOVED,
};

fn same_place(a: &Member, b: &Member) -> bool {
    Place::of(a) == Place::of(b)
}

impl Run {
    /// The result the driver hands back: a reply goes through the codec,
    /// and one that does not read back is an invalid reply, as the client
    /// reports it.
    pub(super) fn result(&self, call: CallId, made: &Made, outcome: &Outcome) -> CallResult {
        let response = match outcome {
            Outcome::Failed(error) => return Err(error.clone()),
            Outcome::Reply(parts) => self.shape(call, made, parts),
            Outcome::WrongKind => self.wrong_kind(call, made),
        };
        decode_reply(made.path, &encode_reply(&response))
            .map_err(|e| CallError::InvalidReply(e.to_string()))
    }

    /// The peer a call was meant for: the one named by what it is for,
    /// else the member listed at its address, else the peer of the world
    /// living there.
    fn meant_for(&self, call: CallId, made: &Made) -> PeerId {
        let what = self.core.pending.get(&call).map(|o| &o.what);
        match what {
            Some(Pending::JoinCheck { candidate, .. } | Pending::SyncCheck { candidate }) => {
                return candidate.member.id.clone()
            }
            Some(
                Pending::Probe { target, .. }
                | Pending::Verify { target, .. }
                | Pending::Reprobe { target }
                | Pending::Relay { target, .. },
            ) => return target.clone(),
            Some(Pending::IndirectProbe { helper, .. }) => return helper.clone(),
            Some(Pending::Push { to } | Pending::Round { to, .. }) => return to.clone(),
            _ => {}
        }
        let listed = self
            .core
            .members()
            .find(|m| same_place(m, &at_address(&made.to)))
            .map(|m| m.id.clone());
        listed
            .or_else(|| index_of_place(&made.to).map(super::inputs::peer))
            .unwrap_or_else(|| PeerId::parse("stranger").expect("a valid id"))
    }

    fn who(&self, call: CallId, made: &Made, who: Who) -> Option<PeerId> {
        match who {
            Who::Right => Some(self.meant_for(call, made)),
            Who::Other(k) if k < PEERS => Some(peer(k)),
            Who::Other(_) => Some(self.core.id().clone()),
            Who::Nobody => None,
        }
    }

    /// A successful reply to the call's path, from `parts`.
    fn shape(&self, call: CallId, made: &Made, parts: &Parts) -> Response {
        let who = self.who(call, made, parts.who);
        let mut gossip = parts.gossip.clone();
        if let (Some(from), Who::Right, Some(who)) = (&mut gossip.from, parts.who, &who) {
            from.id = who.clone();
        }
        let server = ServerInfo {
            id: who.clone().unwrap_or_else(|| self.meant_for(call, made)),
            data: parts.data.clone(),
            incarnation: parts.incarnation,
        };
        match made.path {
            "/join" => Response::Join(JoinReply {
                status: if parts.accepted {
                    STATUS_JOINED
                } else {
                    "full"
                }
                .into(),
                id: Some(match parts.renamed {
                    Some(k) if k < PEERS => peer(k),
                    _ => self.core.id().clone(),
                }),
                ip: None,
                port: None,
                server,
                peers: parts.peers.clone(),
            }),
            "/status" => Response::Status(StatusReply {
                id: who,
                online: true,
                listening: true,
                joined: true,
                digest: match parts.digest {
                    Digest::None => None,
                    Digest::Same => Some(self.core.digest()),
                    Digest::Other => Some("9-00ff00ff00ff00ff".into()),
                },
                incarnation: parts.incarnation,
                gossip,
            }),
            "/peers" => Response::Peers(PeersReply {
                server,
                peers: parts.peers.clone(),
                lacking: parts.lacking.clone(),
            }),
            "/probe" => Response::Probe(ProbeReply {
                outcome: parts.outcome,
                envelope: gossip,
            }),
            "/gossip" => Response::Gossip(gossip),
            "/joined" => ack(STATUS_ADDED, Response::Joined),
            _ => ack(STATUS_REMOVED, Response::Left),
        }
    }

    /// A reply meant for another path: a `/status` gets an ack, anything
    /// else a status (of the right peer).
    fn wrong_kind(&self, call: CallId, made: &Made) -> Response {
        match made.path {
            "/status" => ack(STATUS_ADDED, Response::Joined),
            _ => Response::Status(StatusReply {
                id: Some(self.meant_for(call, made)),
                online: true,
                listening: true,
                joined: true,
                digest: None,
                incarnation: Some(0),
                gossip: Default::default(),
            }),
        }
    }
}

fn ack(status: &str, kind: fn(Ack) -> Response) -> Response {
    kind(Ack {
        status: status.into(),
    })
}

/// A member record at `address`, to compare places.
fn at_address(address: &Address) -> Member {
    Member {
        id: PeerId::parse("place").expect("a valid id"),
        host: address.host.clone(),
        port: address.port,
        data: Value::Null.into(),
    }
}

/// The world's peer whose home is at `address`.
pub(super) fn index_of_place(address: &Address) -> Option<usize> {
    (0..PEERS).find(|k| same_place(&at_address(&home(*k)), &at_address(address)))
}
