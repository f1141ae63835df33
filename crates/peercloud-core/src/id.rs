//! Peer ids: the opaque strings that name members (UUID v4 when we make them).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::InvalidField;

/// The longest id accepted from the network, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// A member's unique id, as carried in `x-peercloud-id` and in `id` fields.
///
/// The original makes UUID v4 strings, but the protocol only asks for unique
/// strings, so any short printable string is accepted. Ids are compared as
/// exact strings.
///
/// ```
/// use peercloud_core::PeerId;
///
/// let id = PeerId::parse("0b5bd3c5-9e1d-4c26-9f5c-8b0a4f2f1e77").unwrap();
/// assert_eq!(id.as_str(), "0b5bd3c5-9e1d-4c26-9f5c-8b0a4f2f1e77");
/// assert!(PeerId::parse("").is_err());
/// assert!(PeerId::parse("two\nlines").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PeerId(String);

impl PeerId {
    /// Checks and wraps an id: 1 to [`MAX_ID_LEN`] bytes, no control characters.
    pub fn parse(id: &str) -> Result<Self, InvalidField> {
        if id.is_empty() {
            return Err(InvalidField::new("id", "is empty"));
        }
        if id.len() > MAX_ID_LEN {
            return Err(InvalidField::new(
                "id",
                format!("is longer than {MAX_ID_LEN} bytes"),
            ));
        }
        if id.chars().any(char::is_control) {
            return Err(InvalidField::new("id", "holds control characters"));
        }
        Ok(PeerId(id.to_owned()))
    }

    /// Makes a UUID v4 id from 16 random bytes.
    pub fn from_random_bytes(bytes: [u8; 16]) -> Self {
        PeerId(
            uuid::Builder::from_random_bytes(bytes)
                .into_uuid()
                .to_string(),
        )
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PeerId {
    type Error = InvalidField;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        PeerId::parse(&id)?;
        Ok(PeerId(id))
    }
}

impl From<PeerId> for String {
    fn from(id: PeerId) -> Self {
        id.0
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
}
