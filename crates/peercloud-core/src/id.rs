//! Peer ids: the opaque strings that name members (UUID v4 when we make them).

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::InvalidField;

/// The longest id accepted from the network, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// A member's unique id, as carried in `x-peercloud-id` and in `id` fields.
///
/// The original makes UUID v4 strings, but the protocol only asks for unique
/// strings, so any short printable string is accepted. Ids are compared as
/// exact strings.
///
/// The string is shared: a clone costs a reference count, not a copy,
/// since every member table, queue and message holds the ids of
/// thousands of members.
///
/// ```
/// use peercloud_core::PeerId;
///
/// let id = PeerId::parse("0b5bd3c5-9e1d-4c26-9f5c-8b0a4f2f1e77").unwrap();
/// assert_eq!(id.as_str(), "0b5bd3c5-9e1d-4c26-9f5c-8b0a4f2f1e77");
/// assert!(PeerId::parse("").is_err());
/// assert!(PeerId::parse("two\nlines").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(Arc<str>);

impl PeerId {
    /// Checks and wraps an id: 1 to [`MAX_ID_LEN`] bytes, no control characters.
    pub fn parse(id: &str) -> Result<Self, InvalidField> {
        PeerId::check(id)?;
        Ok(PeerId(Arc::from(id)))
    }

    /// Checks an id as [`parse`](Self::parse) does, without making one:
    /// a member looked up by an id read off a request needs no copy of it.
    ///
    /// ```
    /// use peercloud_core::PeerId;
    ///
    /// assert!(PeerId::check("0b5bd3c5-9e1d-4c26-9f5c-8b0a4f2f1e77").is_ok());
    /// assert!(PeerId::check("tab\there").is_err());
    /// assert!(PeerId::check("c1 control \u{85}").is_err());
    /// ```
    pub fn check(id: &str) -> Result<(), InvalidField> {
        if id.is_empty() {
            return Err(InvalidField::new("id", "is empty"));
        }
        if id.len() > MAX_ID_LEN {
            return Err(InvalidField::new(
                "id",
                format!("is longer than {MAX_ID_LEN} bytes"),
            ));
        }
        // Ids are nearly always ASCII (UUIDs), whose control characters
        // are single bytes: one pass over the bytes, without stopping
        // early so that it runs a word at a time, decodes characters only
        // if there is a byte outside ASCII.
        let (control, wide) = id.bytes().fold((false, false), |(control, wide), b| {
            (control | (b < 0x20) | (b == 0x7f), wide | (b >= 0x80))
        });
        let control = control || (wide && id.chars().any(char::is_control));
        if control {
            return Err(InvalidField::new("id", "holds control characters"));
        }
        Ok(())
    }

    /// Makes a UUID v4 id from 16 random bytes.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        let id = uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string();
        PeerId(Arc::from(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PeerId {
    type Error = InvalidField;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        PeerId::parse(&id)
    }
}

impl From<PeerId> for String {
    fn from(id: PeerId) -> Self {
        id.0.as_ref().to_owned()
    }
}

impl Serialize for PeerId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for PeerId {
    /// Checked as [`PeerId::parse`] checks, straight from the input's string
    /// (one allocation, the shared one).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::wire::checked_str(deserializer, "an id", PeerId::parse)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_uuid_v4_strings() {
        let id = PeerId::from_random_bytes([7; 16]);
        let parsed = uuid::Uuid::parse_str(id.as_str()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn overlong_ids_are_rejected() {
        assert!(PeerId::parse(&"a".repeat(MAX_ID_LEN)).is_ok());
        assert!(PeerId::parse(&"a".repeat(MAX_ID_LEN + 1)).is_err());
    }

    #[test]
    fn ids_deserialize_only_when_valid() {
        assert!(serde_json::from_str::<PeerId>("\"ok\"").is_ok());
        assert!(serde_json::from_str::<PeerId>("\"\"").is_err());
        assert!(serde_json::from_str::<PeerId>("12").is_err());
    }

    #[test]
    fn clones_share_one_string_and_compare_as_strings() {
        let a = PeerId::parse("b-7").unwrap();
        let b = a.clone();
        assert!(std::ptr::eq(a.as_str(), b.as_str()), "a clone copied");
        assert_eq!(a, PeerId::parse("b-7").unwrap());
        assert!(PeerId::parse("a").unwrap() < a);
    }
}
