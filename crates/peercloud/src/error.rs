//! The library's errors: starting a peer, and sending a message.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

/// Why a peer could not start. Nothing was left running.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The TLS settings could not be made.
    #[error(transparent)]
    Security(#[from] crate::security::TlsSetupError),
    /// A seed is not `HOST:PORT`.
    #[error("invalid seed {seed:?}: expected HOST:PORT")]
    InvalidSeed {
        /// The seed as given.
        seed: String,
    },
    /// The advertised address is not an IP address or host name.
    #[error("invalid advertised address {0:?}")]
    InvalidAdvertise(String),
    /// The listening socket could not be set up (for an explicit port: it is
    /// taken).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address tried.
        addr: String,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The peer stopped before it finished starting.
    #[error("the peer stopped while starting")]
    Stopped,
    /// The membership timing breaks one of its invariants (such as a zero
    /// interval); nothing was started.
    #[error(transparent)]
    InvalidConfig(#[from] peercloud_core::InvalidConfig),
    /// One of the [`Limits`](crate::Limits) cannot work (such as a zero
    /// timeout); nothing was started.
    #[error("invalid limit {field}: {reason}")]
    InvalidLimit {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The state directory cannot be made.
    #[error("cannot use the state directory {path}: {source}")]
    StateDir {
        /// The directory.
        path: String,
        /// Why not.
        #[source]
        source: std::io::Error,
    },
    /// The data, as JSON, is larger than [`DATA_LIMIT`](crate::DATA_LIMIT).
    #[error("data is {size} bytes as JSON, more than the limit of {limit}")]
    DataTooLarge {
        /// Its size, in bytes of JSON.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
}

/// Why [`Cloud::set_data`](crate::Cloud::set_data) refused new data; the
/// data did not change.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SetDataError {
    /// The data, as JSON, is larger than the limit.
    #[error("data is {size} bytes as JSON, more than the limit of {limit}")]
    TooLarge {
        /// Its size, in bytes of JSON.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The cloud has closed.
    #[error("the cloud is closed")]
    Closed,
}

/// Why sending a message to a peer failed.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum SendError {
    /// No reply in time.
    #[error("no reply from {peer} within {after:?}")]
    Timeout {
        /// The peer's address.
        peer: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The peer could not be reached.
    #[error("{peer} is unreachable: {reason}")]
    Unreachable {
        /// The peer's address.
        peer: String,
        /// What went wrong.
        reason: String,
    },
    /// The peer answered with a non-2xx status (an original peer answers
    /// 404 to a sender it does not know; a Rust peer answers 403).
    #[error("{peer} refused the message with status {status}")]
    Refused {
        /// The peer's address.
        peer: String,
        /// The HTTP status.
        status: u16,
        /// The body of the answer: JSON, or the text as a JSON string.
        body: Value,
    },
    /// The peer's message handler returned an error.
    #[error("{peer}'s message handler failed: {message}")]
    Handler {
        /// The peer's address.
        peer: String,
        /// What the handler said.
        message: String,
    },
    /// The peer answered 2xx with a body that is not JSON.
    #[error("{peer} sent an invalid reply: {reason}")]
    InvalidReply {
        /// The peer's address.
        peer: String,
        /// What was wrong.
        reason: String,
    },
    /// The peer and this one do not trust each other: one is private and
    /// the other open, or they hold different cloud keys or CAs. Not a
    /// dead peer: it answered, but not to this peer.
    #[error("{peer} and this peer do not trust each other: {reason}")]
    Unauthorized {
        /// The peer's address.
        peer: String,
        /// Which side refused, and the likely cause.
        reason: String,
    },
    /// No member has this id.
    #[error("no peer with id {id}")]
    UnknownPeer {
        /// The id asked for.
        id: String,
    },
    /// This cloud is closed.
    #[error("the cloud is closed")]
    Closed,
}

/// The error a message handler returns: the sender gets status 500 and
/// `{"error": "handler failed", "message": ...}`, and sees
/// [`SendError::Handler`].
///
/// Any error converts into it, so `?` works in handlers:
///
/// ```
/// use peercloud::HandlerError;
///
/// fn parse(body: &serde_json::Value) -> Result<u32, HandlerError> {
///     let text = body["n"].as_str().ok_or_else(|| HandlerError::new("n must be a string"))?;
///     Ok(text.parse::<u32>()?)
/// }
/// assert!(parse(&serde_json::json!({"n": "12"})).is_ok());
/// assert_eq!(parse(&serde_json::json!({})).unwrap_err().to_string(), "n must be a string");
/// ```
pub struct HandlerError {
    message: String,
}

impl HandlerError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        HandlerError {
            message: message.into(),
        }
    }

    /// The message sent back to the sender.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for HandlerError {
    fn from(error: E) -> Self {
        HandlerError::new(error.to_string())
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandlerError({:?})", self.message)
    }
}
