//! What goes in and out of the state machine: requests and replies in,
//! actions (calls to make, replies to give) and events out.

use std::net::IpAddr;
use std::time::Duration;

use crate::error::{CallError, Refusal};
use crate::id::PeerId;
use crate::member::{Address, Member};
use crate::wire::{
    Ack, Envelope, JoinReply, JoinRequest, LeftRequest, PeerInfo, PeersReply, PeersRequest,
    ProbeReply, ProbeRequest, StatusReply,
};

/// Names one outgoing call, so its result can be handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(pub u64);

/// Names one incoming request, so its reply can be matched to it. The driver
/// picks these; the core hands them back in [`Action::Reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyToken(pub u64);

/// A membership request, incoming or outgoing. (`/message` is not here: it
/// carries application data and never changes the membership.)
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// `POST /join`.
    Join(JoinRequest),
    /// `POST /joined`.
    Joined(PeerInfo),
    /// `POST /left`.
    Left(LeftRequest),
    /// `POST /status`, with gossip between peercloud peers (empty for
    /// original peers, which send and expect `{}`).
    Status(Envelope),
    /// `POST /peers`: a peercloud extension that original peers answer with
    /// 404. Peers ask it of each other when their digests differ, saying
    /// what they hold.
    Peers(PeersRequest),
    /// `POST /probe`: a peercloud extension, an indirect probe asked of a
    /// helper when a direct probe failed.
    Probe(ProbeRequest),
    /// `POST /gossip`: a peercloud extension, urgent news pushed at once
    /// (a refutation, a failure, new data).
    Gossip(Envelope),
}

impl Request {
    /// The endpoint's path.
    pub fn path(&self) -> &'static str {
        match self {
            Request::Join(_) => "/join",
            Request::Joined(_) => "/joined",
            Request::Left(_) => "/left",
            Request::Status(_) => "/status",
            Request::Peers(_) => "/peers",
            Request::Probe(_) => "/probe",
            Request::Gossip(_) => "/gossip",
        }
    }
}

/// The successful reply to a [`Request`].
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// Reply to `/join`.
    Join(JoinReply),
    /// Reply to `/joined`.
    Joined(Ack),
    /// Reply to `/left`.
    Left(Ack),
    /// Reply to `/status`.
    Status(StatusReply),
    /// Reply to `/peers`.
    Peers(PeersReply),
    /// Reply to `/probe`.
    Probe(ProbeReply),
    /// Reply to `/gossip`.
    Gossip(Envelope),
}

impl Response {
    /// The path of the request this replies to.
    pub fn path(&self) -> &'static str {
        match self {
            Response::Join(_) => "/join",
            Response::Joined(_) => "/joined",
            Response::Left(_) => "/left",
            Response::Status(_) => "/status",
            Response::Peers(_) => "/peers",
            Response::Probe(_) => "/probe",
            Response::Gossip(_) => "/gossip",
        }
    }
}

/// Who sent an incoming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The `x-peercloud-id` header, if present and valid.
    pub sender: Option<PeerId>,
    /// The address the request came from.
    pub remote: IpAddr,
}

/// Something the driver must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Send `request` to `to`, give up after `timeout`, and hand the result
    /// back with `handle_response(call, ..)`. Every call gets exactly one
    /// result.
    Call {
        /// The id to hand back with the result.
        call: CallId,
        /// Where to send it.
        to: Address,
        /// What to send.
        request: Request,
        /// How long to wait for the reply.
        timeout: Duration,
    },
    /// Answer the incoming request named by `token`.
    Reply {
        /// The request's token, as given to `handle_request`.
        token: ReplyToken,
        /// The reply, or why the request was refused.
        reply: Result<Response, Refusal>,
    },
}

/// The result of a call, as the driver hands it back.
pub type CallResult = Result<Response, CallError>;

/// How this peer's start ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// It joined the cloud that `via` belongs to.
    Joined {
        /// The seed that accepted it.
        via: Address,
        /// How many other members it learned of, the seed included.
        peers: usize,
    },
    /// No seed accepted it: it is a new cloud of its own.
    Alone,
}

/// Why a member is no longer in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeftReason {
    /// It said goodbye (`/left` with its own id).
    Left,
    /// It failed this peer's checks, or another member reported so.
    Failed {
        /// The member that reported the failure, `None` when this peer
        /// found it itself.
        detected_by: Option<PeerId>,
        /// What showed that it failed.
        cause: FailureCause,
    },
}

/// What showed that a member failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureCause {
    /// Nothing listens at its address any more (connections refused, for
    /// this peer and for every member that helped probe it): the process
    /// is gone.
    Refused,
    /// It answered no probe, direct or indirect, and did not refute its
    /// suspicion in time.
    Silent,
    /// Another peer answers at its address: it was restarted there under
    /// a new id.
    Replaced {
        /// The id that answers there now, when known.
        by: Option<PeerId>,
    },
    /// An original peer reported it gone and it did not answer when
    /// checked.
    Reported,
}

/// Something that happened, for the application to observe.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The start finished: joined a cloud or alone.
    Started(Start),
    /// A seed did not let this peer in while it was starting (the next
    /// seed is tried): it could not be reached, refused, or does not trust
    /// this peer ([`CallError::Unauthorized`]).
    SeedFailed {
        /// The seed.
        seed: Address,
        /// Why.
        error: CallError,
    },
    /// A member was added.
    PeerJoined(Member),
    /// A member is suspected: it answered no probe, direct or indirect.
    /// It stays a member until its suspicion times out, unless it
    /// refutes it.
    PeerSuspected(Member),
    /// A suspected member answered its suspicion: it is alive.
    PeerAlive(Member),
    /// A member's data changed.
    PeerUpdated(Member),
    /// A member was removed.
    PeerLeft {
        /// The member as it was known.
        member: Member,
        /// Why it was removed.
        reason: LeftReason,
    },
    /// The leave finished (or timed out): this peer is no longer a member.
    Closed,
}
