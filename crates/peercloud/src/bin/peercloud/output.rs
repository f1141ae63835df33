//! What `peercloud run` prints: one line per event on stdout, for humans or
//! (with `--json`) as one JSON object per line with an `event` field. Only
//! writes to stdout and stderr.
//!
//! The JSON event names and fields are a contract with users' scripts: they
//! are never renamed, only added to.

use std::io::Write;
use std::net::SocketAddr;

use peercloud::{
    Address, CallError, Event, FailureCause, LeftReason, Peer, Replies, SendError, Start,
};
use serde_json::{json, Value};

/// One thing to print.
#[derive(Debug)]
pub(crate) enum Line<'a> {
    /// This peer listens: `started {id, port}`.
    Started { id: &'a str, port: u16 },
    /// It joined a cloud: `joined {via, peers}`.
    Joined { via: &'a Address, peers: usize },
    /// No seed answered, it is a cloud of its own: `alone {}`.
    Alone,
    /// `seed_failed {seed, error, unauthorized}`: while starting, a seed
    /// did not let this peer in.
    SeedFailed {
        seed: &'a Address,
        error: &'a CallError,
    },
    /// `keys_loaded {keys, speaking}`: the key file was re-read.
    KeysLoaded { keys: usize, speaking: String },
    /// `peer_joined {peer: {id, ip, port, data}}`.
    PeerJoined(&'a Peer),
    /// `peer_suspected {peer}`.
    PeerSuspected(&'a Peer),
    /// `peer_alive {peer}`: a suspected peer refuted its suspicion.
    PeerAlive(&'a Peer),
    /// `peer_updated {peer}`: a peer's data changed.
    PeerUpdated(&'a Peer),
    /// `data_set {data}`: this peer's data changed (a `:data` line).
    DataSet(&'a Value),
    /// `peer_left {id, reason, cause?, detected_by?}`.
    PeerLeft {
        peer: &'a Peer,
        reason: &'a LeftReason,
    },
    /// `message {from, from_id, body}`.
    Message { from: &'a Peer, body: &'a Value },
    /// `message_sent {to, to_id, body, value | error}`: one message this
    /// peer sent, and its reply. Streamed by the admin listener only: `run`
    /// prints a broadcast's replies together, as `replies`.
    MessageSent {
        to: &'a Peer,
        body: &'a Value,
        reply: &'a Result<Value, SendError>,
    },
    /// `admin_listening {addr}`: the admin listener (`--admin`) is up.
    AdminListening { addr: SocketAddr },
    /// `replies {replies: [...]}`.
    Replies(&'a Replies),
    /// Events were lost because they came faster than they were printed:
    /// `lagged {missed}`.
    Lagged { missed: u64 },
    /// Something went wrong but the peer goes on: `error {error}`.
    Error(&'a str),
    /// The peer left the cloud: `closed {}`.
    Closed,
}

impl<'a> Line<'a> {
    /// The line for how the start ended.
    pub(crate) fn of_start(start: &'a Start) -> Self {
        match start {
            Start::Joined { via, peers } => Line::Joined { via, peers: *peers },
            Start::Alone => Line::Alone,
        }
    }

    /// The line for an event of the stream, if it is one that is printed
    /// (`Started` is printed with [`Line::of_start`]; sent messages
    /// are printed as gathered replies; `Closed` after the cloud is closed).
    pub(crate) fn of_event(event: &'a Event) -> Option<Self> {
        match event {
            // Only a seed that does not trust this peer is printed: an
            // absent seed is the common case of a first peer (the log
            // says it with -v), and the lines scripts know stay in place.
            Event::SeedFailed {
                seed,
                error: error @ CallError::Unauthorized(_),
            } => Some(Line::SeedFailed { seed, error }),
            Event::PeerJoined(peer) => Some(Line::PeerJoined(peer)),
            Event::PeerSuspected(peer) => Some(Line::PeerSuspected(peer)),
            Event::PeerAlive(peer) => Some(Line::PeerAlive(peer)),
            Event::PeerUpdated(peer) => Some(Line::PeerUpdated(peer)),
            Event::PeerLeft { peer, reason } => Some(Line::PeerLeft { peer, reason }),
            Event::MessageReceived { from, body } => Some(Line::Message { from, body }),
            Event::Lagged { missed } => Some(Line::Lagged { missed: *missed }),
            _ => None,
        }
    }

    /// The line for any event of the stream, as the admin listener streams
    /// them: those `run` prints, and also how the start ended, each message
    /// sent, and the close.
    pub(crate) fn of_streamed(event: &'a Event) -> Option<Self> {
        match event {
            Event::Started(start) => Some(Line::of_start(start)),
            Event::MessageSent { to, body, reply } => Some(Line::MessageSent { to, body, reply }),
            Event::Closed => Some(Line::Closed),
            other => Line::of_event(other),
        }
    }

    /// The peer the line is about, if it is about one.
    pub(crate) fn peer(&self) -> Option<&'a Peer> {
        match self {
            Line::PeerJoined(peer)
            | Line::PeerSuspected(peer)
            | Line::PeerAlive(peer)
            | Line::PeerUpdated(peer)
            | Line::PeerLeft { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// The event name of the JSON form.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Line::Started { .. } => "started",
            Line::Joined { .. } => "joined",
            Line::Alone => "alone",
            Line::SeedFailed { .. } => "seed_failed",
            Line::KeysLoaded { .. } => "keys_loaded",
            Line::PeerJoined(_) => "peer_joined",
            Line::PeerSuspected(_) => "peer_suspected",
            Line::PeerAlive(_) => "peer_alive",
            Line::PeerUpdated(_) => "peer_updated",
            Line::DataSet(_) => "data_set",
            Line::PeerLeft { .. } => "peer_left",
            Line::Message { .. } => "message",
            Line::MessageSent { .. } => "message_sent",
            Line::AdminListening { .. } => "admin_listening",
            Line::Replies(_) => "replies",
            Line::Lagged { .. } => "lagged",
            Line::Error(_) => "error",
            Line::Closed => "closed",
        }
    }

    /// The JSON form as text, `event` first for whoever reads it by eye.
    pub(crate) fn json_text(&self) -> String {
        let fields = self.json_fields().to_string();
        match fields.strip_prefix('{').filter(|rest| *rest != "}") {
            Some(rest) => format!(r#"{{"event":"{}",{rest}"#, self.name()),
            None => format!(r#"{{"event":"{}"}}"#, self.name()),
        }
    }

    /// The JSON form: `{"event": name, ...fields}`.
    #[cfg(test)]
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.json_text()).expect("valid JSON")
    }

    /// The fields of the JSON form, without `event`: always an object.
    pub(crate) fn json_fields(&self) -> Value {
        match self {
            Line::Started { id, port } => json!({"id": id, "port": port}),
            Line::Joined { via, peers } => json!({"via": via.to_string(), "peers": peers}),
            Line::SeedFailed { seed, error } => json!({
                "seed": seed.to_string(),
                "error": error.to_string(),
                "unauthorized": matches!(error, CallError::Unauthorized(_)),
            }),
            Line::KeysLoaded { keys, speaking } => json!({"keys": keys, "speaking": speaking}),
            Line::PeerJoined(peer)
            | Line::PeerSuspected(peer)
            | Line::PeerAlive(peer)
            | Line::PeerUpdated(peer) => json!({"peer": peer_json(peer)}),
            Line::DataSet(data) => json!({"data": data}),
            Line::PeerLeft { peer, reason } => left_json(peer, reason),
            Line::Message { from, body } => {
                json!({"from": from.data(), "from_id": from.id(), "body": body})
            }
            Line::MessageSent { to, body, reply } => {
                let mut fields = json!({"to": to.data(), "to_id": to.id(), "body": body});
                match reply {
                    Ok(value) => fields["value"] = value.clone(),
                    Err(e) => fields["error"] = json!(e.to_string()),
                }
                fields
            }
            Line::AdminListening { addr } => json!({"addr": addr.to_string()}),
            Line::Replies(replies) => json!({"replies": replies_json(replies)}),
            Line::Lagged { missed } => json!({"missed": missed}),
            Line::Error(error) => json!({"error": error}),
            Line::Alone | Line::Closed => json!({}),
        }
    }

    /// The form for humans; may span several lines (replies).
    pub(crate) fn human(&self) -> String {
        match self {
            Line::Started { id, port } => format!("started peer {id} on port {port}"),
            Line::Joined { via, peers } => {
                format!("joined the cloud via {via}: {}", count(*peers, "peer"))
            }
            Line::Alone => "alone: no peer answered, started a new cloud".to_owned(),
            Line::SeedFailed { seed, error } => format!("cannot join through {seed}: {error}"),
            Line::KeysLoaded { keys, speaking } => format!(
                "keys loaded: {}, speaking with {speaking}",
                count(*keys, "key")
            ),
            Line::PeerJoined(peer) => format!(
                "peer joined: {} at {} with data {}",
                peer.id(),
                peer.address(),
                peer.data()
            ),
            Line::PeerSuspected(peer) => {
                format!("peer suspected: {} at {}", peer.id(), peer.address())
            }
            Line::PeerAlive(peer) => format!("peer alive again: {}", peer.id()),
            Line::PeerUpdated(peer) => {
                format!("peer updated: {} now has data {}", peer.id(), peer.data())
            }
            Line::DataSet(data) => format!("data set: {data}"),
            Line::PeerLeft { peer, reason } => {
                format!("peer left: {} ({})", peer.id(), reason_human(reason))
            }
            Line::Message { from, body } => {
                format!("message from {} ({}): {body}", from.data(), from.id())
            }
            Line::MessageSent { to, body, reply } => match reply {
                Ok(value) => format!(
                    "message to {} ({}): {body}, reply {value}",
                    to.data(),
                    to.id()
                ),
                Err(e) => format!("message to {} ({}): {body}, error: {e}", to.data(), to.id()),
            },
            Line::AdminListening { addr } => format!("admin console on http://{addr}/"),
            Line::Replies(replies) => replies_human(replies),
            Line::Lagged { missed } => {
                format!(
                    "lagged: {} lost (output too slow)",
                    count(*missed as usize, "event")
                )
            }
            Line::Error(error) => format!("error: {error}"),
            Line::Closed => "closed: left the cloud".to_owned(),
        }
    }
}

/// Where lines go: JSON or human lines on stdout; in human mode errors go to
/// stderr, so that stdout holds only what happened.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
}

impl Output {
    pub(crate) fn new(json: bool) -> Self {
        Output { json }
    }

    /// Prints one line and flushes it, so scripts read it at once. A closed
    /// stdout is not a reason to stop the peer, so write errors are ignored.
    pub(crate) fn print(&self, line: &Line<'_>) {
        let text = if self.json {
            line.json_text()
        } else {
            line.human()
        };
        if !self.json && matches!(line, Line::Error(_)) {
            eprintln!("{text}");
            return;
        }
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{text}");
        let _ = stdout.flush();
    }
}

/// A peer as every line shows it: `{id, ip, port, data}`.
pub(crate) fn peer_json(peer: &Peer) -> Value {
    json!({"id": peer.id(), "ip": peer.ip(), "port": peer.port(), "data": peer.data()})
}

fn left_json(peer: &Peer, reason: &LeftReason) -> Value {
    let mut fields = json!({"id": peer.id()});
    match reason {
        LeftReason::Failed { detected_by, cause } => {
            fields["reason"] = json!("failed");
            fields["cause"] = json!(cause_name(cause));
            if let Some(by) = detected_by {
                fields["detected_by"] = json!(by.as_str());
            }
        }
        _ => fields["reason"] = json!("left"),
    }
    fields
}

/// The `cause` of a `peer_left` line.
fn cause_name(cause: &FailureCause) -> &'static str {
    match cause {
        FailureCause::Refused => "refused",
        FailureCause::Replaced { .. } => "replaced",
        FailureCause::Reported => "reported",
        _ => "silent",
    }
}

fn replies_json(replies: &Replies) -> Vec<Value> {
    replies
        .iter()
        .map(|reply| reply_json(&reply.peer, &reply.result))
        .collect()
}

/// One entry of `replies`: `{peer, id, value}` or `{peer, id, error}`.
pub(crate) fn reply_json(peer: &Peer, result: &Result<Value, SendError>) -> Value {
    match result {
        Ok(value) => json!({"peer": peer.data(), "id": peer.id(), "value": value}),
        Err(e) => json!({"peer": peer.data(), "id": peer.id(), "error": e.to_string()}),
    }
}

fn reason_human(reason: &LeftReason) -> String {
    match reason {
        LeftReason::Failed {
            detected_by: None,
            cause,
        } => format!("failed: {}", cause_name(cause)),
        LeftReason::Failed {
            detected_by: Some(by),
            cause,
        } => format!("failed: {}, reported by {by}", cause_name(cause)),
        _ => "left".to_owned(),
    }
}

fn replies_human(replies: &Replies) -> String {
    if replies.is_empty() {
        return "replies: none, no peer to send to".to_owned();
    }
    let mut text = format!("replies from {}:", count(replies.len(), "peer"));
    for reply in replies {
        let peer = &reply.peer;
        match &reply.result {
            Ok(value) => text += &format!("\n  {} ({}): {value}", peer.data(), peer.id()),
            Err(e) => text += &format!("\n  {} ({}): error: {e}", peer.data(), peer.id()),
        }
    }
    text
}

fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_hold_the_event_name_and_its_fields() {
        let line = Line::Started {
            id: "abc",
            port: 4000,
        };
        assert_eq!(
            line.json(),
            json!({"event": "started", "id": "abc", "port": 4000})
        );
        assert_eq!(Line::Alone.json(), json!({"event": "alone"}));
        assert_eq!(Line::Closed.json(), json!({"event": "closed"}));
    }

    #[test]
    fn the_event_name_comes_first_in_the_text() {
        let line = Line::Error("not JSON");
        assert_eq!(line.json_text(), r#"{"event":"error","error":"not JSON"}"#);
        assert_eq!(Line::Alone.json_text(), r#"{"event":"alone"}"#);
    }

    #[test]
    fn joined_names_the_seed_as_host_and_port() {
        let via: Address = "[::1]:9338".parse().expect("an address");
        let line = Line::Joined {
            via: &via,
            peers: 3,
        };
        assert_eq!(
            line.json(),
            json!({"event": "joined", "via": "[::1]:9338", "peers": 3})
        );
        assert_eq!(line.human(), "joined the cloud via [::1]:9338: 3 peers");
    }

    #[test]
    fn the_admin_listener_is_named_with_its_address() {
        let addr: SocketAddr = "[::1]:9339".parse().expect("an address");
        let line = Line::AdminListening { addr };
        assert_eq!(
            line.json(),
            json!({"event": "admin_listening", "addr": "[::1]:9339"})
        );
        assert_eq!(line.human(), "admin console on http://[::1]:9339/");
    }

    #[test]
    fn errors_are_events_too() {
        let line = Line::Error("stdin line is not JSON");
        assert_eq!(
            line.json(),
            json!({"event": "error", "error": "stdin line is not JSON"})
        );
    }
}
