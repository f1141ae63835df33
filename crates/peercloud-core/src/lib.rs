//! The sans-IO core of peercloud: the wire types of the peercloud protocol
//! and the membership state machine.
//!
//! Nothing here opens a socket, reads a clock or spawns a task. A driver
//! (the `peercloud` crate's, or a simulator) feeds [`Membership`] what
//! arrives: requests from other peers, results of calls, timer wake-ups, each
//! with the current time; and carries out what comes out: [`Action`]s (calls
//! to make, replies to give), [`Event`]s, and the next deadline.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use peercloud_core::{Action, Config, Event, Identity, Membership, PeerId, Start};
//! use serde_json::json;
//!
//! let me = Identity { id: PeerId::parse("solo").unwrap(), port: 9338, advertise: None, data: json!({}) };
//! let mut core = Membership::new(me, Config::default(), 1);
//! let t0 = Instant::now();
//! core.start(t0, vec![]); // no seeds: a cloud of one
//! assert_eq!(core.poll_event(), Some(Event::Started(Start::Alone)));
//! // The core asks to be woken up for its first timer: a gossip round
//! // (with nothing to tell, it sends nothing).
//! assert_eq!(core.poll_timeout(), Some(t0 + Config::default().gossip_interval));
//! core.handle_timeout(t0 + Config::default().gossip_interval);
//! assert_eq!(core.poll_action(), None);
//! ```

mod config;
mod error;
mod id;
mod io;
mod member;
mod membership;
pub mod wire;

pub use config::{Config, DEFAULT_MAX_JOINS_PER_IP_PER_MINUTE, DEFAULT_MAX_MEMBERS, MAX_DURATION};
pub use error::{CallError, InvalidConfig, InvalidField, Refusal};
pub use id::{PeerId, MAX_ID_LEN};
pub use io::{
    Action, CallId, CallResult, Event, FailureCause, LeftReason, Origin, ReplyToken, Request,
    Response, Start,
};
pub use member::{source_of, Address, Host, Member};
pub use membership::{Counters, Evictions, Identity, MemberState, Membership};
