//! A pull that names what the asker holds (a peercloud extension of
//! `/peers`): the asker sends one 64-bit hash per member record it holds,
//! and the answer lists only the records whose hash is not among them,
//! with the asker's hashes the answering peer does not hold.
//!
//! Why: a whole list is about 85 bytes a member, a hash 16 hex digits.
//! While a swarm of a thousand peers formed, pulls of whole lists moved
//! 190 MB (about 110 KB a pull once the first seconds were past), more
//! than any other call; named this way, 59 MB. A peer that does not know
//! the extension ignores `have` and answers the whole list without
//! `lacking`, which the asker reads as before.

use std::hash::Hasher;

use fnv::FnvHasher;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use super::{PeerInfo, PeersReply, ServerInfo};
use crate::id::PeerId;
use crate::member::Member;

/// The most hashes a [`PeersReply::lacking`] holds: the asker probes the
/// members they name (see `MAX_SYNC_CHECKS` in the membership), and more
/// would wait for a later pull anyway.
pub const MAX_LACKING: usize = 16;

/// The hash of a member id in the digest (FNV-1a of its bytes).
pub fn id_hash(id: &PeerId) -> u64 {
    let mut hasher = FnvHasher::default();
    hasher.write(id.as_str().as_bytes());
    hasher.finish()
}

/// The hash of a member's record as a pull compares it: its id's hash,
/// mixed with its incarnation (0 for a member without one), so that a
/// newer record of a member the asker holds is sent too.
pub fn record_hash(id: &PeerId, incarnation: u64) -> u64 {
    id_hash(id) ^ incarnation.wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// How many hex digits a hash is written with.
pub const HASH_DIGITS: usize = 16;

/// A set of record hashes, written as one string of [`HASH_DIGITS`]
/// lowercase hex digits per hash, in ascending order (a set of a thousand
/// is 16 KB).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Held(Vec<u64>);

impl Held {
    /// The set of `hashes` (in any order, repeats once).
    pub fn new(hashes: impl IntoIterator<Item = u64>) -> Self {
        let mut hashes: Vec<u64> = hashes.into_iter().collect();
        hashes.sort_unstable();
        hashes.dedup();
        Held(hashes)
    }

    /// Whether `hash` is in the set.
    pub fn contains(&self, hash: u64) -> bool {
        self.0.binary_search(&hash).is_ok()
    }

    /// The hashes, in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().copied()
    }

    /// How many hashes the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Held {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut text = Vec::with_capacity(HASH_DIGITS * self.0.len());
        for hash in &self.0 {
            // By hand: a thousand hashes through the formatter cost more
            // than the rest of a pull's request.
            text.extend(
                (0..HASH_DIGITS)
                    .rev()
                    .map(|i| DIGITS[(hash >> (4 * i)) as usize & 0xf]),
            );
        }
        // Only ASCII digits were written.
        serializer.serialize_str(std::str::from_utf8(&text).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for Held {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        if text.len() % HASH_DIGITS != 0 {
            return Err(de::Error::custom(format!(
                "a set of hashes is 16 hex digits each, not {} characters",
                text.len()
            )));
        }
        let mut hashes = Vec::with_capacity(text.len() / HASH_DIGITS);
        for chunk in text.as_bytes().chunks(HASH_DIGITS) {
            let mut hash = 0u64;
            for &digit in chunk {
                let value = match digit {
                    b'0'..=b'9' => digit - b'0',
                    b'a'..=b'f' => digit - b'a' + 10,
                    b'A'..=b'F' => digit - b'A' + 10,
                    _ => return Err(de::Error::custom("a set of hashes holds only hex digits")),
                };
                hash = hash << 4 | u64::from(value);
            }
            hashes.push(hash);
        }
        Ok(Held::new(hashes))
    }
}

/// The body of `POST /peers`: `{}` for the whole list (what an operator
/// asks), or what the asker holds already.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeersRequest {
    /// The hashes of the records the asker holds ([`record_hash`]), its
    /// own included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub have: Option<Held>,
}

impl PeersReply {
    /// The answer to `request` of the peer `id` (at `incarnation`, with
    /// `data`) that holds `members`, each with its incarnation and its
    /// [`record_hash`] (kept by the caller, which hashes a record once
    /// rather than at every pull): every member, or, when the asker said
    /// what it holds, the members it does not hold as they are here, and
    /// up to [`MAX_LACKING`] of the asker's hashes that this peer does not
    /// hold.
    pub fn answer<'a>(
        id: &PeerId,
        incarnation: u64,
        data: &Value,
        members: impl IntoIterator<Item = (&'a Member, Option<u64>, u64)>,
        request: &PeersRequest,
    ) -> Self {
        let members = members.into_iter();
        let Some(have) = &request.have else {
            let peers = members.map(|(member, incarnation, _)| PeerInfo::of(member, incarnation));
            return PeersReply::of(id, data, peers);
        };
        let mut held_here = Vec::with_capacity(members.size_hint().0 + 1);
        held_here.push(record_hash(id, incarnation));
        let mut peers = Vec::new();
        for (member, incarnation, hash) in members {
            held_here.push(hash);
            if !have.contains(hash) {
                peers.push(PeerInfo::of(member, incarnation));
            }
        }
        let held_here = Held::new(held_here);
        let lacking = have
            .iter()
            .filter(|hash| !held_here.contains(*hash))
            .take(MAX_LACKING);
        PeersReply {
            server: ServerInfo {
                id: id.clone(),
                data: data.clone(),
                incarnation: None,
            },
            peers,
            lacking: Some(Held::new(lacking)),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn member(id: &str, port: u16) -> Member {
        Member {
            id: PeerId::parse(id).expect("an id"),
            host: crate::member::Host::parse("10.0.0.1").expect("a host"),
            port,
            data: std::sync::Arc::new(json!({})),
        }
    }

    #[test]
    fn a_set_of_hashes_reads_back_as_written_in_ascending_order() {
        let held = Held::new([u64::MAX, 0, 0x0123_4567_89ab_cdef, 0]);
        let text = serde_json::to_string(&held).expect("serialises");
        assert_eq!(text, "\"00000000000000000123456789abcdefffffffffffffffff\"");
        let back: Held = serde_json::from_str(&text).expect("reads back");
        assert_eq!(back, held);
        assert_eq!(back.len(), 3, "repeats once");
        let upper: Held = serde_json::from_str(&text.to_uppercase()).expect("reads");
        assert_eq!(upper, held, "upper-case digits read alike");
        let many = Held::new((0..1000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        let text = serde_json::to_string(&many).expect("serialises");
        assert_eq!(
            serde_json::from_str::<Held>(&text).expect("reads back"),
            many
        );
    }

    #[test]
    fn a_set_of_hashes_that_is_not_hex_in_sixteens_is_refused() {
        for bad in [
            "\"abc\"",
            "\"000000000000000g\"",
            "\"0000000000000000é\"",
            "12",
            "[]",
        ] {
            let read = serde_json::from_str::<Held>(bad);
            assert!(read.is_err(), "{bad} read as {read:?}");
        }
        let empty: Held = serde_json::from_str("\"\"").expect("an empty set");
        assert!(empty.is_empty());
    }

    #[test]
    fn an_answer_lists_what_the_asker_lacks_and_names_what_it_holds_that_is_not_here() {
        let (a, b, c) = (member("a", 1), member("b", 2), member("c", 3));
        let me = PeerId::parse("me").expect("an id");
        let here = [(&a, Some(0)), (&b, Some(4)), (&c, None)]
            .map(|(m, inc)| (m, inc, record_hash(&m.id, inc.unwrap_or(0))));
        let unknown = 0x5555_5555_5555_5555;
        let have = Held::new([
            record_hash(&me, 2),
            record_hash(&a.id, 0),
            record_hash(&b.id, 3),
            unknown,
        ]);
        let request = PeersRequest { have: Some(have) };
        let reply = PeersReply::answer(&me, 2, &json!({}), here, &request);
        let listed: Vec<(&str, Option<u64>)> = reply
            .peers
            .iter()
            .map(|p| (p.id.as_str(), p.incarnation))
            .collect();
        assert_eq!(listed, [("b", Some(4)), ("c", None)], "a newer b, and c");
        assert_eq!(
            reply.lacking,
            Some(Held::new([record_hash(&b.id, 3), unknown]))
        );

        let whole = PeersReply::answer(&me, 2, &json!({}), here, &PeersRequest::default());
        assert_eq!(whole.peers.len(), 3);
        assert_eq!(whole.lacking, None, "a plain request gets the plain answer");
    }

    #[test]
    fn the_lacking_hashes_are_capped() {
        let me = PeerId::parse("me").expect("an id");
        let have = Held::new(0..100);
        let request = PeersRequest { have: Some(have) };
        let reply = PeersReply::answer(&me, 0, &json!({}), [], &request);
        assert_eq!(reply.lacking.map(|l| l.len()), Some(MAX_LACKING));
    }
}
