//! peercloud: private peer-to-peer clouds over HTTP.
//!
//! A set of processes find each other through a few seed addresses, keep one
//! shared list of members as peers come, go and crash, and exchange JSON
//! messages: to one peer, or to all of them with the replies gathered. The
//! protocol is the one of the original node.js `peercloud` package, and Rust
//! peers join clouds of original peers and the other way round.
//!
//! ```no_run
//! use peercloud::{Cloud, Start};
//! use serde_json::json;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let cloud = Cloud::builder()
//!         .seeds(["127.0.0.1:9338", "localhost:8080", "example.com:4444"])
//!         .data(json!({"joined": "now"}))
//!         .on_message(|from, body| async move {
//!             println!("peer: {}\nbody: {body}", from.data());
//!             Ok(json!({"status": "received"}))
//!         })
//!         .start()
//!         .await?;
//!     match cloud.start_outcome() {
//!         Start::Joined { via, peers } => println!("joined through {via}, {peers} peers"),
//!         Start::Alone => println!("started a new cloud"),
//!     }
//!     cloud.send(json!({"message": "hi all"})).await; // broadcast to all peers
//!     for peer in cloud.peers() {
//!         peer.send(json!({"message": "hello"})).await?;
//!     }
//!     cloud.close().await;
//!     Ok(())
//! }
//! ```
//!
//! The pieces: [`CloudBuilder`] configures and starts a peer; [`Cloud`] is
//! the running peer (members, broadcast, events, close); [`Peer`] is another
//! member (with its [`PeerState`] and last contact); [`PeersWatch`] waits
//! for the member list to change; [`Event`] is what happens; [`Remote`]
//! asks a running peer from outside. A peer is open by default, as the original's are; with a
//! [`CloudKey`] ([`CloudBuilder::key`]) or [`Certificates`] it is private:
//! every connection is TLS 1.3 and only holders of the key (or of a
//! certificate of the CA) can talk to it. [`Limits`] bound what any one
//! connection or address can make a peer do. The membership logic itself is the
//! sans-IO state machine of the `peercloud-core` crate, driven here by one
//! task, with an axum router served by the peer's own accept loop (which
//! enforces the [`Limits`]) and a pooled HTTP client at the edges.

mod broadcast;
mod builder;
mod cloud;
mod error;
mod event;
mod handler;
mod http;
mod limits;
mod metrics;
mod node;
mod peer;
mod remote;
mod security;
mod watch;

pub use broadcast::{Replies, Reply};
pub use builder::{CloudBuilder, DATA_LIMIT, DEFAULT_BODY_LIMIT};
pub use cloud::Cloud;
pub use error::{HandlerError, SendError, SetDataError, StartError};
pub use event::{Event, Events, FailureCause, LeftReason, Start};
pub use limits::Limits;
pub use metrics::{
    CallOutcomes, Counters, Evictions, Histogram, MemberCounts, Metrics, ReceiveOutcomes,
    SendOutcomes, LATENCY_BUCKETS,
};
pub use peer::{Peer, PeerState};
pub use peercloud_core::wire;
pub use peercloud_core::{Address, CallError, Config};
pub use remote::{QueryError, Remote};
pub use security::{
    CertificateError, Certificates, CloudKey, IdentityError, KeyError, Keyring,
    ReplaceKeyringError, Security, TlsSetupError, KEY_BYTES,
};
pub use watch::{PeersWatch, Stopped};

/// The README's Rust examples, compiled as doctests so they stay true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;
