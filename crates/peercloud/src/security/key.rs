//! Cloud keys and keyrings: what a key looks like on disk, and how a key
//! file is read. A key is 32 random bytes written as 64 hex digits (so
//! `openssl rand -hex 32` makes one too); a key file holds one or more,
//! one per line, the first being the one this peer speaks with.

use std::fmt;
use std::path::{Path, PathBuf};

use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use thiserror::Error;

/// The length of a cloud key, in bytes.
pub const KEY_BYTES: usize = 32;

/// A shared secret: every peer that holds it belongs to the private cloud.
///
/// Its `Debug` never shows the secret, only its [fingerprint](Self::fingerprint).
///
/// ```
/// let key = peercloud::CloudKey::generate();
/// let again: peercloud::CloudKey = key.to_hex().parse().unwrap();
/// assert_eq!(key.fingerprint(), again.fingerprint());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CloudKey {
    bytes: [u8; KEY_BYTES],
}

/// Why a key or a key file was not accepted.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not 64 hex digits.
    #[error("a cloud key is 64 hex digits (32 bytes), as `peercloud keygen` prints; got {got}")]
    Malformed {
        /// What was wrong with it (never the text itself: it may be a key
        /// with a typo).
        got: String,
    },
    /// The key file could not be read.
    #[error("cannot read the key file {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A line of the key file is not a key.
    #[error("{path}, line {line}: {reason}")]
    BadLine {
        /// The file.
        path: PathBuf,
        /// Its line number, from 1.
        line: usize,
        /// Why.
        reason: String,
    },
    /// The key file holds no key.
    #[error("{path} holds no key (one key per line, as `peercloud keygen` prints; `#` starts a comment)")]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// The system's random generator failed.
    #[error("the system's random generator failed")]
    Random,
}

impl CloudKey {
    /// A new random key from the system's secure generator.
    ///
    /// # Panics
    /// If the system has no secure random generator, which a peer cannot
    /// run without; [`CloudKey::try_generate`] returns the error instead.
    #[allow(clippy::expect_used)]
    pub fn generate() -> Self {
        Self::try_generate().expect("the system's secure random generator")
    }

    /// A new random key, or why the system could not make one.
    pub fn try_generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_BYTES];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KeyError::Random)?;
        Ok(CloudKey { bytes })
    }

    /// A key from its 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        CloudKey { bytes }
    }

    /// The key as 64 lowercase hex digits, as a key file holds it.
    pub fn to_hex(&self) -> String {
        self.bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// A short name of the key for logs and errors (8 hex digits). It is
    /// derived one way from the key, so showing it reveals nothing of it,
    /// and two peers can tell whether they hold the same key.
    pub fn fingerprint(&self) -> String {
        let mut out = [0u8; 4];
        self.expand(b"peercloud key fingerprint v1", &mut out);
        out.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Derives `out.len()` bytes for `purpose` (HKDF-SHA256, RFC 5869): each
    /// purpose gets its own independent secret from the one key.
    pub(crate) fn expand(&self, purpose: &[u8], out: &mut [u8]) {
        struct Len(usize);
        impl hkdf::KeyType for Len {
            fn len(&self) -> usize {
                self.0
            }
        }
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"peercloud cloud key").extract(&self.bytes);
        let info = [purpose];
        // Both can only fail for an output longer than 255 hashes, and the
        // callers ask for 4 or 32 bytes.
        if let Ok(okm) = prk.expand(&info, Len(out.len())) {
            let _ = okm.fill(out);
        }
    }
}

impl fmt::Debug for CloudKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloudKey({})", self.fingerprint())
    }
}

impl std::str::FromStr for CloudKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.len() != 2 * KEY_BYTES {
            return Err(KeyError::Malformed {
                got: format!("{} characters", text.chars().count()),
            });
        }
        let mut bytes = [0u8; KEY_BYTES];
        for (i, byte) in bytes.iter_mut().enumerate() {
            let pair = text
                .get(2 * i..2 * i + 2)
                .ok_or_else(|| KeyError::Malformed {
                    got: "a character that is not a hex digit".to_owned(),
                })?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| KeyError::Malformed {
                got: "a character that is not a hex digit".to_owned(),
            })?;
        }
        Ok(CloudKey { bytes })
    }
}

/// The keys a private peer holds: it speaks with the first and accepts
/// every one, so that a key can be rotated with no downtime (add the new
/// key second everywhere, move it first everywhere, remove the old one).
#[derive(Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<CloudKey>,
}

impl Keyring {
    /// A keyring of one key.
    pub fn new(key: CloudKey) -> Self {
        Keyring { keys: vec![key] }
    }

    /// A keyring whose first key is the one spoken with; `None` when
    /// `keys` is empty.
    pub fn from_keys(keys: impl IntoIterator<Item = CloudKey>) -> Option<Self> {
        let mut ring: Vec<CloudKey> = Vec::new();
        for key in keys {
            if !ring.contains(&key) {
                ring.push(key);
            }
        }
        (!ring.is_empty()).then_some(Keyring { keys: ring })
    }

    /// Reads a key file: one key per line; blank lines and text after `#`
    /// are ignored.
    pub fn read(path: impl AsRef<Path>) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses the text of a key file; `path` only names it in errors.
    pub fn parse(path: impl AsRef<Path>, text: &str) -> Result<Self, KeyError> {
        let path = path.as_ref();
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let key = line.parse::<CloudKey>().map_err(|e| KeyError::BadLine {
                path: path.to_owned(),
                line: i + 1,
                reason: e.to_string(),
            })?;
            keys.push(key);
        }
        Self::from_keys(keys).ok_or_else(|| KeyError::Empty {
            path: path.to_owned(),
        })
    }

    /// The key this peer speaks with.
    pub fn primary(&self) -> &CloudKey {
        &self.keys[0]
    }

    /// Every key accepted, the primary first.
    pub fn keys(&self) -> &[CloudKey] {
        &self.keys
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.keys).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_round_trips_through_its_hex_form() {
        for _ in 0..20 {
            let key = CloudKey::generate();
            let hex = key.to_hex();
            assert_eq!(hex.len(), 64);
            assert_eq!(hex.parse::<CloudKey>().unwrap(), key);
            assert_eq!(hex.to_uppercase().parse::<CloudKey>().unwrap(), key);
        }
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_them() {
        let almost = "ab".repeat(31) + "zz";
        for bad in [
            "",
            "abc",
            &"a".repeat(63),
            &"a".repeat(65),
            &almost,
            &"é".repeat(32),
        ] {
            let error = bad.parse::<CloudKey>().unwrap_err().to_string();
            assert!(error.contains("64 hex digits"), "{error}");
            if bad.len() > 3 {
                assert!(!error.contains(bad), "the error shows the text: {error}");
            }
        }
    }

    #[test]
    fn debug_shows_the_fingerprint_never_the_key() {
        let key = CloudKey::from_bytes([7; 32]);
        let shown = format!("{key:?} {:?}", Keyring::new(key.clone()));
        assert!(!shown.contains(&key.to_hex()));
        assert!(!shown.contains("0707"));
        assert!(shown.contains(&key.fingerprint()));
    }

    #[test]
    fn fingerprints_tell_keys_apart() {
        let a = CloudKey::from_bytes([1; 32]);
        let b = CloudKey::from_bytes([2; 32]);
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint(), CloudKey::from_bytes([1; 32]).fingerprint());
        assert_eq!(a.fingerprint().len(), 8);
    }

    #[test]
    fn a_key_file_keeps_order_skips_comments_and_duplicates() {
        let a = CloudKey::from_bytes([1; 32]);
        let b = CloudKey::from_bytes([2; 32]);
        let text = format!(
            "# the cloud's keys\n\n{}  # new\n{}\n{}\n",
            b.to_hex(),
            a.to_hex(),
            b.to_hex()
        );
        let ring = Keyring::parse("keys", &text).unwrap();
        assert_eq!(ring.keys(), &[b.clone(), a]);
        assert_eq!(ring.primary(), &b);
    }

    proptest::proptest! {
        /// Any text read as a key file is a keyring or an error naming the
        /// file, never a panic; an error never echoes a line of the file
        /// that was long enough to be a key.
        #[test]
        fn any_key_file_text_parses_or_is_refused_by_name(text in "(?s).{0,300}") {
            match Keyring::parse("keys", &text) {
                Ok(ring) => proptest::prop_assert!(!ring.keys().is_empty()),
                Err(e) => {
                    let shown = e.to_string();
                    proptest::prop_assert!(shown.starts_with("keys"), "{}", shown);
                    for line in text.lines().filter(|l| l.trim().len() >= 16) {
                        proptest::prop_assert!(!shown.contains(line.trim()), "{}", shown);
                    }
                }
            }
        }

        /// Keys written among comments and blank lines come back in
        /// order, first one first.
        #[test]
        fn keys_round_trip_through_a_key_file(
            keys in proptest::collection::vec(proptest::array::uniform32(0u8..), 1..6),
            comment in "[ -~]{0,20}",
        ) {
            let keys: Vec<CloudKey> = keys.into_iter().map(CloudKey::from_bytes).collect();
            let text: String = keys
                .iter()
                .map(|k| format!("# {comment}\n\n  {}  # {comment}\n", k.to_hex()))
                .collect();
            let ring = Keyring::parse("keys", &text).unwrap();
            proptest::prop_assert_eq!(ring.primary(), &keys[0]);
            proptest::prop_assert!(ring.keys().iter().all(|k| keys.contains(k)));
        }
    }

    #[test]
    fn a_bad_line_is_named_and_an_empty_file_refused() {
        let text = format!("{}\nnot-a-key\n", CloudKey::generate().to_hex());
        let error = Keyring::parse("keys", &text).unwrap_err().to_string();
        assert!(error.starts_with("keys, line 2:"), "{error}");
        let error = Keyring::parse("keys", "# nothing\n\n").unwrap_err();
        assert!(matches!(error, KeyError::Empty { .. }), "{error}");
    }
}
