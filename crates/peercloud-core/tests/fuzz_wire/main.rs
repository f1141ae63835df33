//! Property tests of the wire codec (`decode_request`, `decode_reply` and
//! their `encode_*`): fed arbitrary bytes, bodies shaped like the
//! protocol's JSON but wrong, valid messages with one field changed, and
//! raw texts past the parser's limits, no decoder panics; what decodes is valid, re-encodes, and decodes to the
//! same value; typed messages come back from the wire unchanged. The
//! parsers of ids, hosts and addresses are in `parsers.rs`.
//!
//! Cases per property: 256 by default (well under a second each);
//! `PROPTEST_CASES=N` sets another number, as the README's fuzzing
//! section does for long runs. A failure prints the shrunk input.

mod parsers;
mod shapes;
mod typed;

use peercloud_core::wire::{
    decode_reply, decode_request, encode_reply, encode_request, CodecError, Envelope, PeerInfo,
    MAX_UPDATES,
};
use peercloud_core::{Request, Response};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde::de::IgnoredAny;

use shapes::{change, change_one_field, message, raw_text, PATHS};

/// The longest digest a decoded status keeps (see `StatusReply::digest`).
const MAX_DIGEST_LEN: usize = 64;

/// Proptest's defaults: 256 cases, or `PROPTEST_CASES`; a failure prints
/// its shrunk input and its seed, saved under `proptest-regressions/` and
/// run first from then on.
pub(crate) fn config() -> Config {
    Config::default()
}

fn path() -> impl Strategy<Value = &'static str> {
    prop::sample::select(PATHS.to_vec())
}

fn known(path: &str) -> bool {
    !matches!(path, "/message" | "/")
}

/// Both decoders on one body: no panic, unknown paths refused as such, a
/// body that is not JSON told apart from JSON that is not the message, and
/// whatever decodes is valid and round-trips.
fn check_decoders(path: &str, body: &[u8]) -> Result<(), TestCaseError> {
    // JSON as RFC 8259 has it: numbers out of range and nesting past
    // serde_json's limit are JSON (the codec calls them invalid, not
    // malformed); a body `Value` reads is JSON whatever the oracle.
    let blank = body.iter().all(u8::is_ascii_whitespace);
    let is_json = blank || serde_json::from_slice::<IgnoredAny>(body).is_ok();
    prop_assert!(is_json || serde_json::from_slice::<serde_json::Value>(body).is_err());
    let request = decode_request(path, body);
    let reply = decode_reply(path, body);
    for error in [request.as_ref().err(), reply.as_ref().err()]
        .into_iter()
        .flatten()
    {
        match error {
            CodecError::UnknownPath(p) => prop_assert!(!known(path) && p == path),
            CodecError::Malformed(_) => prop_assert!(known(path) && !is_json, "{error}"),
            CodecError::Invalid(_) => prop_assert!(known(path) && is_json, "{error}"),
            other => prop_assert!(false, "a new kind of codec error: {other:?}"),
        }
    }
    if let Ok(request) = request {
        prop_assert!(known(path));
        check_request(&request)?;
        let again = decode_request(path, &encode_request(&request));
        prop_assert_eq!(again, Ok(request), "a decoded request did not round-trip");
    }
    if let Ok(reply) = reply {
        prop_assert!(known(path));
        check_response(&reply)?;
        let again = decode_reply(path, &encode_reply(&reply));
        prop_assert_eq!(again, Ok(reply), "a decoded reply did not round-trip");
    }
    Ok(())
}

/// What the types cannot say alone: bounded envelopes, no port 0.
fn check_envelope(envelope: &Envelope) -> Result<(), TestCaseError> {
    prop_assert!(envelope.updates.len() <= MAX_UPDATES);
    for update in envelope.from.iter().chain(&envelope.updates) {
        prop_assert_ne!(update.port, Some(0));
    }
    Ok(())
}

fn check_peer(peer: &PeerInfo) -> Result<(), TestCaseError> {
    prop_assert_ne!(peer.port, 0);
    Ok(())
}

fn check_request(request: &Request) -> Result<(), TestCaseError> {
    match request {
        Request::Join(join) => prop_assert_ne!(join.port, Some(0)),
        Request::Joined(peer) => check_peer(peer)?,
        Request::Left(_) | Request::Peers(_) => {}
        Request::Status(envelope) | Request::Gossip(envelope) => check_envelope(envelope)?,
        Request::Probe(probe) => {
            check_peer(&probe.target)?;
            check_envelope(&probe.envelope)?;
        }
    }
    Ok(())
}

fn check_response(response: &Response) -> Result<(), TestCaseError> {
    match response {
        Response::Join(join) => {
            prop_assert_ne!(join.port, Some(0));
            join.peers.iter().try_for_each(check_peer)?;
        }
        Response::Joined(_) | Response::Left(_) => {}
        Response::Status(status) => {
            let digest = status.digest.as_deref().unwrap_or("x");
            prop_assert!(!digest.is_empty() && digest.len() <= MAX_DIGEST_LEN);
            check_envelope(&status.gossip)?;
        }
        Response::Peers(peers) => peers.peers.iter().try_for_each(check_peer)?,
        Response::Probe(probe) => check_envelope(&probe.envelope)?,
        Response::Gossip(envelope) => check_envelope(envelope)?,
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn no_decoder_panics_on_arbitrary_bytes(
        path in path(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        check_decoders(path, &body)?;
    }

    #[test]
    fn no_decoder_panics_on_bodies_shaped_like_the_protocol(path in path(), body in message()) {
        check_decoders(path, body.to_string().as_bytes())?;
    }

    #[test]
    fn no_decoder_panics_on_texts_past_the_parsers_limits(path in path(), body in raw_text()) {
        check_decoders(path, &body)?;
    }

    #[test]
    fn no_decoder_panics_on_requests_with_one_field_changed(
        request in typed::request(),
        pick in any::<prop::sample::Index>(),
        how in change(),
    ) {
        let body: serde_json::Value =
            serde_json::from_slice(&encode_request(&request)).expect("requests encode as JSON");
        let body = change_one_field(body, pick, how).to_string();
        for path in PATHS {
            check_decoders(path, body.as_bytes())?;
        }
    }

    #[test]
    fn no_decoder_panics_on_replies_with_one_field_changed(
        reply in typed::response(),
        pick in any::<prop::sample::Index>(),
        how in change(),
    ) {
        let body: serde_json::Value =
            serde_json::from_slice(&encode_reply(&reply)).expect("replies encode as JSON");
        let body = change_one_field(body, pick, how).to_string();
        for path in PATHS {
            check_decoders(path, body.as_bytes())?;
        }
    }

    #[test]
    fn a_blank_body_reads_as_an_empty_object(path in path(), blank in "[ \t\r\n]{0,8}") {
        prop_assert_eq!(decode_request(path, blank.as_bytes()), decode_request(path, b"{}"));
        prop_assert_eq!(decode_reply(path, blank.as_bytes()), decode_reply(path, b"{}"));
    }

    #[test]
    fn every_request_comes_back_from_the_wire_unchanged(request in typed::request()) {
        let body = encode_request(&request);
        prop_assert_eq!(decode_request(request.path(), &body), Ok(request));
    }

    #[test]
    fn every_reply_comes_back_from_the_wire_unchanged(reply in typed::response()) {
        let body = encode_reply(&reply);
        prop_assert_eq!(decode_reply(reply.path(), &body), Ok(reply));
    }
}
