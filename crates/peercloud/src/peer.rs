//! `Peer`: a member of the cloud, as a handle that can send it messages.

use std::fmt;
use std::sync::Arc;

use peercloud_core::{Address, Member};
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
