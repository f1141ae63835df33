//! The one mapping between membership requests and replies and their HTTP
//! form (a path and a JSON body), used by the client, the server and the
//! test networks alike, so that what one side writes the other reads.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::Serialize;
use thiserror::Error;

use super::{
    Ack, Envelope, JoinReply, JoinRequest, LeftRequest, PeerInfo, PeersReply, PeersRequest,
    StatusReply,
};
use super::{ProbeReply, ProbeRequest, HASH_DIGITS};
use crate::io::{Request, Response};

/// A body that is not what its path expects.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CodecError {
    /// No membership endpoint has this path.
    #[error("no membership endpoint {0}")]
    UnknownPath(String),
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    Malformed(String),
    /// The body is JSON, but not the expected message (a wrong type, a
    /// number out of range, nesting deeper than 128).
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// The JSON body of a request (its path is [`Request::path`]).
pub fn encode_request(request: &Request) -> Vec<u8> {
    match request {
        Request::Join(join) => to_vec(join),
        Request::Joined(info) => to_vec(info),
        Request::Left(left) => to_vec(left),
        Request::Status(envelope) | Request::Gossip(envelope) => to_vec(envelope),
        Request::Peers(peers) => to_vec(peers),
        Request::Probe(probe) => to_vec(probe),
    }
}

/// The length of [`encode_request`]'s body, counted as it is written
/// rather than kept: for test networks that hand the typed request over
/// and still account for the bytes.
pub fn encoded_request_len(request: &Request) -> usize {
    match request {
        Request::Join(join) => encoded_len(join),
        Request::Joined(info) => encoded_len(info),
        Request::Left(left) => encoded_len(left),
        Request::Status(envelope) | Request::Gossip(envelope) => encoded_len(envelope),
        // Counted, not written: a pull names a hash per member, and the
        // simulator counts one per pull at ten thousand members.
        Request::Peers(PeersRequest { have: None }) => 2,
        Request::Peers(PeersRequest { have: Some(held) }) => {
            r#"{"have":""}"#.len() + HASH_DIGITS * held.len()
        }
        Request::Probe(probe) => encoded_len(probe),
    }
}

/// Reads the body of a request to `path`. An empty body reads as `{}`, as
/// the original's body parser does.
pub fn decode_request(path: &str, body: &[u8]) -> Result<Request, CodecError> {
    let body = non_empty(body);
    Ok(match path {
        "/join" => Request::Join(from_slice::<JoinRequest>(body)?),
        "/joined" => Request::Joined(from_slice::<PeerInfo>(body)?),
        "/left" => Request::Left(from_slice::<LeftRequest>(body)?),
        "/status" => Request::Status(from_slice::<Envelope>(body)?),
        "/peers" => Request::Peers(from_slice::<PeersRequest>(body)?),
        "/probe" => Request::Probe(from_slice::<ProbeRequest>(body)?),
        "/gossip" => Request::Gossip(from_slice::<Envelope>(body)?),
        other => return Err(CodecError::UnknownPath(other.to_owned())),
    })
}

/// The JSON body of a successful reply.
pub fn encode_reply(response: &Response) -> Vec<u8> {
    match response {
        Response::Join(reply) => to_vec(reply),
        Response::Joined(ack) | Response::Left(ack) => to_vec(ack),
        Response::Status(status) => to_vec(status),
        Response::Peers(peers) => to_vec(peers),
        Response::Probe(probe) => to_vec(probe),
        Response::Gossip(envelope) => to_vec(envelope),
    }
}

/// The length of [`encode_reply`]'s body, counted without keeping it.
pub fn encoded_reply_len(response: &Response) -> usize {
    match response {
        Response::Join(reply) => encoded_len(reply),
        Response::Joined(ack) | Response::Left(ack) => encoded_len(ack),
        Response::Status(status) => encoded_len(status),
        Response::Peers(peers) => encoded_len(peers),
        Response::Probe(probe) => encoded_len(probe),
        Response::Gossip(envelope) => encoded_len(envelope),
    }
}

/// Reads the body of a successful reply to a request to `path`.
pub fn decode_reply(path: &str, body: &[u8]) -> Result<Response, CodecError> {
    let body = non_empty(body);
    Ok(match path {
        "/join" => Response::Join(from_slice::<JoinReply>(body)?),
        "/joined" => Response::Joined(from_slice::<Ack>(body)?),
        "/left" => Response::Left(from_slice::<Ack>(body)?),
        "/status" => Response::Status(from_slice::<StatusReply>(body)?),
        "/peers" => Response::Peers(from_slice::<PeersReply>(body)?),
        "/probe" => Response::Probe(from_slice::<ProbeReply>(body)?),
        "/gossip" => Response::Gossip(from_slice::<Envelope>(body)?),
        other => return Err(CodecError::UnknownPath(other.to_owned())),
    })
}

fn non_empty(body: &[u8]) -> &[u8] {
    if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    }
}

fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, CodecError> {
    serde_json::from_slice(body).map_err(|e| {
        // serde_json reports the first error it meets, which does not say
        // whether the body is JSON: `0 x` fails on the type of the `0`,
        // a valid array where an enum goes fails as a syntax error, a
        // wrong field fails before the nesting limit further on. Only
        // reading the body as any JSON tells, and only failures pay for it.
        if serde_json::from_slice::<IgnoredAny>(body).is_ok() {
            CodecError::Invalid(e.to_string())
        } else {
            CodecError::Malformed(e.to_string())
        }
    })
}

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Our wire types have string keys only: serialising cannot fail.
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

/// Counts the bytes written to it.
struct Counter(usize);

impl std::io::Write for Counter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len();
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The length of `value`'s JSON, counted as it is written rather than
/// kept (`{}`'s, should it fail to serialise): what the typed lengths above
/// are made of, and test networks count parts of messages with.
pub fn encoded_len<T: Serialize + ?Sized>(value: &T) -> usize {
    let mut counter = Counter(0);
    // As in `to_vec`: a failure would be written as `{}`.
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::PeerId;

    #[test]
    fn every_request_reads_back_as_written_and_its_length_is_counted_exactly() {
        let id = PeerId::parse("a").unwrap();
        let requests = [
            Request::Join(JoinRequest::default()),
            Request::Left(LeftRequest::new(id.clone())),
            Request::Status(Envelope::default()),
            Request::Peers(Default::default()),
            Request::Peers(super::super::PeersRequest {
                have: Some(super::super::Held::new([7, 1 << 60])),
            }),
            Request::Gossip(Envelope {
                from: Some(super::super::Update::about(
                    super::super::UpdateKind::Alive,
                    id,
                    4,
                )),
                updates: vec![],
            }),
        ];
        for request in requests {
            let body = encode_request(&request);
            assert_eq!(encoded_request_len(&request), body.len());
            assert_eq!(decode_request(request.path(), &body), Ok(request));
        }
    }

    #[test]
    fn every_reply_reads_back_at_the_path_it_names_and_its_length_is_counted_exactly() {
        let id = PeerId::parse("a").unwrap();
        let ack = Ack {
            status: "added".into(),
        };
        let replies = [
            Response::Joined(ack.clone()),
            Response::Left(ack),
            Response::Status(StatusReply {
                id: Some(id.clone()),
                online: true,
                listening: true,
                joined: true,
                digest: Some("2-00ff".into()),
                incarnation: Some(3),
                gossip: Envelope::default(),
            }),
            Response::Peers(PeersReply::of(&id, &serde_json::json!({"a": 1}), [])),
            Response::Gossip(Envelope {
                from: None,
                updates: vec![super::super::Update::about(
                    super::super::UpdateKind::Suspect,
                    id,
                    2,
                )],
            }),
        ];
        for reply in replies {
            let body = encode_reply(&reply);
            assert_eq!(encoded_reply_len(&reply), body.len());
            assert_eq!(decode_reply(reply.path(), &body), Ok(reply));
        }
    }

    #[test]
    fn an_empty_body_reads_as_an_empty_object() {
        assert_eq!(
            decode_request("/status", b""),
            Ok(Request::Status(Envelope::default()))
        );
    }

    #[test]
    fn bad_bodies_and_paths_are_told_apart() {
        assert!(matches!(
            decode_request("/left", b"{"),
            Err(CodecError::Malformed(_))
        ));
        assert!(matches!(
            decode_request("/left", b"{}"),
            Err(CodecError::Invalid(_))
        ));
        assert!(matches!(
            decode_request("/nope", b"{}"),
            Err(CodecError::UnknownPath(_))
        ));
    }

    #[test]
    fn json_of_the_wrong_shape_is_invalid_and_anything_else_malformed() {
        // Found by the wire fuzz tests: serde_json's first error said
        // "syntax" for a valid array where an enum goes, and "type" for
        // a body whose syntax breaks only after a wrong value.
        let deep = format!(
            r#"{{"id":"a","data":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let json: [(&str, &[u8]); 3] = [
            (
                "/status",
                br#"{"updates":[{"kind":"alive","id":"a","cause":[]}]}"#,
            ),
            ("/joined", br#"{"id":"a","ip":"10.0.0.1","port":1e999}"#),
            ("/joined", deep.as_bytes()),
        ];
        for (path, body) in json {
            assert!(matches!(
                decode_request(path, body),
                Err(CodecError::Invalid(_))
            ));
        }
        assert!(matches!(
            decode_request("/joined", b"0 x"),
            Err(CodecError::Malformed(_))
        ));
    }
}
