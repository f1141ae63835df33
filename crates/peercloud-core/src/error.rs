//! What can go wrong, as typed values: invalid fields, refused requests and
//! failed calls. None of these change the state of the membership: a request
//! that is refused is answered and forgotten.

use std::fmt;
use std::time::Duration;

use thiserror::Error;

use crate::id::PeerId;

/// A field that failed validation; no state was changed because of it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {field}: {reason}")]
pub struct InvalidField {
    /// The field's name as the wire spells it.
    pub field: &'static str,
    /// What was wrong with it.
    pub reason: String,
}

impl InvalidField {
    /// A new validation error.
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

/// Why this peer refused a membership request. The request changed nothing;
/// the HTTP edge turns each kind into a status code and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request had no `x-peercloud-id` header.
    #[error("missing x-peercloud-id header")]
    MissingSender,
    /// The sender is not a member of this peer's cloud.
    #[error("unknown sender id {0}")]
    UnknownSender(PeerId),
    /// A joiner asked for an id that a member (or this peer) already has.
    #[error("id {0} is already in use")]
    IdInUse(PeerId),
    /// The joiner did not answer its `/status` check in time.
    #[error("the joiner did not answer its status check in time")]
    CheckTimedOut,
    /// The joiner's `/status` check failed.
    #[error("the joiner's status check failed: {0}")]
    CheckFailed(String),
    /// This peer is leaving the cloud and takes no new members.
    #[error("this peer is leaving the cloud")]
    ShuttingDown,
    /// More `/join` requests came from the joiner's source address (see
    /// [`source_of`](crate::source_of)) than
    /// [`Config::max_joins_per_ip_per_minute`](crate::Config::max_joins_per_ip_per_minute)
    /// allows. Nothing was checked nor counted; the joiner may try again
    /// after `retry_after`.
    #[error(
        "too many joins from this address: at most {per_minute} a minute; try again in {} s",
        whole_seconds(*retry_after)
    )]
    TooManyJoins {
        /// The limit.
        per_minute: u32,
        /// How long until a join from this address is taken again.
        retry_after: Duration,
    },
    /// This peer has as many members as
    /// [`Config::max_members`](crate::Config::max_members) allows, and the
    /// joiner would not replace one. Nothing was checked.
    #[error("the cloud is full: this peer keeps at most {limit} members")]
    CloudFull {
        /// The limit.
        limit: usize,
    },
}

/// A wait in whole seconds, rounded up: a client told "0 s" would come
/// back too early.
pub(crate) fn whole_seconds(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

impl Refusal {
    /// The HTTP status the edge answers this refusal with: 400 a missing
    /// sender, 403 a sender that is not a member, 409 an id in use, 502 and
    /// 504 a joiner's failed or late check, 503 while leaving, 429 too many
    /// joins from one address, and 503 a full cloud: like leaving, it is
    /// this peer's state, not the request, that stands in the way, and it
    /// changes when members go (507 would claim a storage failure, which
    /// this is not).
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::MissingSender => 400,
            Refusal::UnknownSender(_) => 403,
            Refusal::IdInUse(_) => 409,
            Refusal::CheckTimedOut => 504,
            Refusal::CheckFailed(_) => 502,
            Refusal::ShuttingDown => 503,
            Refusal::TooManyJoins { .. } => 429,
            Refusal::CloudFull { .. } => 503,
        }
    }

    /// How long the refused peer should wait before it asks again, when
    /// this peer knows (the edge sends it as `Retry-After`, in whole
    /// seconds rounded up).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Refusal::TooManyJoins { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Why a call to another peer failed, as the driver reports it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CallError {
    /// No reply within the call's timeout.
    #[error("timed out")]
    Timeout,
    /// Nothing listens at the address: the connection was refused. For a
    /// member this means its process is gone (a slow host still accepts).
    #[error("connection refused")]
    NoListener,
    /// The peer could not be reached (reset, no route, bad address).
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The peer answered with a status other than 2xx.
    #[error("refused with status {status}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The body, for logs.
        body: String,
    },
    /// The peer answered 2xx with a body that is not the expected reply.
    #[error("invalid reply: {0}")]
    InvalidReply(String),
    /// The two peers do not trust each other: a private peer and an open
    /// one, or private peers of different keys or CAs. The peer is alive,
    /// but cannot be a member of this peer's cloud.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
}

/// The id was not the one expected, shown in logs.
pub(crate) struct Mismatch<'a>(pub(crate) Option<&'a str>);

impl fmt::Display for Mismatch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, "it answered with id {id}"),
            None => f.write_str("it answered without an id"),
        }
    }
}

/// A configuration that cannot work; [`Config::validate`](crate::Config::validate)
/// says which field and why. Nothing was started.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid membership config: {field} {reason}")]
pub struct InvalidConfig {
    /// The field's name.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}
