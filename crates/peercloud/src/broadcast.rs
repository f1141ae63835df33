//! Broadcasts: one message to every peer at once, every reply gathered.

use std::sync::Arc;

use futures_util::{stream, StreamExt};
use serde_json::Value;

use crate::error::SendError;
use crate::http::client::encode;
use crate::node::Link;
use crate::peer::Peer;

/// One peer's answer to a broadcast.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Who answered (or failed to).
    pub peer: Peer,
    /// Its reply, or why there is none.
    pub result: Result<Value, SendError>,
}

/// Every answer to a broadcast, in the order of the member list.
///
/// The original hands back either every value, or (if any peer failed)
/// every result as an error; [`Replies::into_result`] gives that view, and
/// the rest of the methods give access to each result.
///
/// ```no_run
/// # async fn demo(cloud: peercloud::Cloud) {
/// let replies = cloud.send(serde_json::json!({"message": "hi all"})).await;
/// for reply in replies.iter() {
///     match &reply.result {
///         Ok(value) => println!("{}: {value}", reply.peer.data()),
///         Err(e) => eprintln!("{}: {e}", reply.peer.data()),
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Replies {
    replies: Vec<Reply>,
}

impl Replies {
    /// How many peers the message went to.
    pub fn len(&self) -> usize {
        self.replies.len()
    }

    /// Whether there was no peer to send to.
    pub fn is_empty(&self) -> bool {
        self.replies.is_empty()
    }

    /// Every answer.
    pub fn iter(&self) -> std::slice::Iter<'_, Reply> {
        self.replies.iter()
    }

    /// Whether every peer replied.
    pub fn all_ok(&self) -> bool {
        self.replies.iter().all(|r| r.result.is_ok())
    }

    /// The answers that are errors.
    pub fn errors(&self) -> impl Iterator<Item = (&Peer, &SendError)> {
        self.replies
            .iter()
            .filter_map(|r| r.result.as_ref().err().map(|e| (&r.peer, e)))
    }

    /// The original's view: every peer with its reply if all of them replied,
    /// or all the answers as the error if any failed.
    pub fn into_result(self) -> Result<Vec<(Peer, Value)>, Replies> {
        if !self.all_ok() {
            return Err(self);
        }
        Ok(self
            .replies
            .into_iter()
            .filter_map(|r| r.result.ok().map(|v| (r.peer, v)))
            .collect())
    }
}

impl IntoIterator for Replies {
    type Item = Reply;
    type IntoIter = std::vec::IntoIter<Reply>;

    fn into_iter(self) -> Self::IntoIter {
        self.replies.into_iter()
    }
}

impl<'a> IntoIterator for &'a Replies {
    type Item = &'a Reply;
    type IntoIter = std::slice::Iter<'a, Reply>;

    fn into_iter(self) -> Self::IntoIter {
        self.replies.iter()
    }
}

/// Sends `body` to every peer, at most `concurrency` at a time, each with
/// the message timeout. The body is encoded once.
pub(crate) async fn broadcast(
    link: &Arc<Link>,
    peers: Vec<Peer>,
    body: Value,
    concurrency: usize,
) -> Replies {
    let started = tokio::time::Instant::now();
    let bytes = encode(&body);
    let body = &body;
    let replies = stream::iter(peers)
        .map(|peer| {
            let bytes = bytes.clone();
            async move {
                let result = link.send(&peer, bytes, body).await;
                Reply { peer, result }
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    link.recorder().broadcast(started.elapsed());
    Replies { replies }
}
