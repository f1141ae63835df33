//! `Peer`: a member of the cloud, as a handle that can send it messages.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use peercloud_core::{Address, Member, MemberState};
use serde_json::Value;

use crate::error::SendError;
use crate::node::Link;

/// Another member of the cloud: its id, address and data, and a way to
/// message it. Cheap to clone.
///
/// ```no_run
/// # async fn demo(cloud: peercloud::Cloud) {
/// for peer in cloud.peers() {
///     match peer.send(serde_json::json!({"message": "hello"})).await {
///         Ok(reply) => println!("{} replied {reply}", peer.id()),
///         Err(e) => eprintln!("{e}"),
///     }
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Peer {
    member: Arc<Member>,
    link: Arc<Link>,
}

impl Peer {
    pub(crate) fn new(member: Arc<Member>, link: Arc<Link>) -> Self {
        Peer { member, link }
    }

    /// Its unique id.
    pub fn id(&self) -> &str {
        self.member.id.as_str()
    }

    /// The host it listens on, as the cloud knows it (an IP address, or a
    /// host name given as a seed).
    pub fn ip(&self) -> &str {
        self.member.host.as_str()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.member.port
    }

    /// The address requests to it go to.
    pub fn address(&self) -> Address {
        self.member.address()
    }

    /// The data it identifies itself with.
    pub fn data(&self) -> &Value {
        &self.member.data
    }

    /// Whether it is alive, suspected or gone, as this peer sees it now
    /// (unlike [`Peer::data`], which is as of when this handle was made).
    ///
    /// ```no_run
    /// # fn demo(cloud: peercloud::Cloud) {
    /// use peercloud::PeerState;
    /// let suspected = cloud
    ///     .peers()
    ///     .into_iter()
    ///     .filter(|peer| peer.state() == PeerState::Suspected)
    ///     .count();
    /// println!("{suspected} members answer no probe");
    /// # }
    /// ```
    pub fn state(&self) -> PeerState {
        match self.link.snapshot().state(&self.member.id) {
            Some(MemberState::Alive) => PeerState::Alive,
            Some(MemberState::Suspected) => PeerState::Suspected,
            None => PeerState::Left,
        }
    }

    /// When it last answered this peer: the latest call to it (a probe, a
    /// sync, a message) that got an answer. `None` when none did yet, or
    /// when it is no longer a member. Probes go to one member at a time,
    /// so in a cloud of `n` members this is normally under `n` probe
    /// intervals old.
    pub fn last_contact(&self) -> Option<Instant> {
        self.link.contacts.last(&self.address())
    }

    /// Sends it a message and waits for its reply (`POST /message`).
    pub async fn send(&self, body: Value) -> Result<Value, SendError> {
        let bytes = crate::http::client::encode(&body);
        self.link.send(self, bytes, &body).await
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.member.id)
            .field("ip", &self.member.host)
            .field("port", &self.member.port)
            .field("data", &self.member.data)
            .finish()
    }
}

impl PartialEq for Peer {
    fn eq(&self, other: &Self) -> bool {
        self.member == other.member
    }
}

/// Whether a peer is a member in good standing, as this peer sees it. New
/// states may be added, so match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PeerState {
    /// A member that answers (or that nobody has shown otherwise).
    Alive,
    /// A member that answered no probe, direct or indirect: it stays a
    /// member until its suspicion runs out, unless it refutes it first
    /// ([`Event::PeerSuspected`](crate::Event::PeerSuspected)).
    Suspected,
    /// No longer a member: it left, or was removed as failed
    /// ([`Event::PeerLeft`](crate::Event::PeerLeft) said which).
    Left,
}

impl PeerState {
    /// Its name in lowercase, as the command line prints it: `alive`,
    /// `suspected` or `left`.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerState::Alive => "alive",
            PeerState::Suspected => "suspected",
            PeerState::Left => "left",
        }
    }
}

impl fmt::Display for PeerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
