//! Private clouds: who may talk to a peer, and how. A peer is open (plain
//! HTTP, the original protocol, the default), or private: every connection
//! is TLS 1.3 (rustls), with both ends authenticated either by a shared
//! cloud key ([`Keyring`]) or by certificates of one CA ([`Certificates`]).
//! The construction and what it guarantees are in the README's "Private
//! clouds" section.

mod accept;
mod certificates;
mod identity;
mod key;
mod tls;
mod verify;

pub use certificates::{CertificateError, Certificates};
pub use identity::IdentityError;
pub use key::{CloudKey, KeyError, Keyring, KEY_BYTES};

pub(crate) use accept::TlsAccept;
pub use tls::{ReplaceKeyringError, TlsSetupError};

pub(crate) use tls::{classify_failure, Tls};

/// How a peer protects its connections.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub enum Security {
    /// Plain HTTP, as the original peers speak: anyone who reaches the
    /// port can join, read and write. The default.
    #[default]
    Open,
    /// TLS 1.3 authenticated by a shared cloud key: only holders of a key
    /// of the keyring can talk to this peer.
    Key(Keyring),
    /// TLS 1.3 with certificates: only peers whose certificate chains to
    /// the CA can talk to this peer.
    Certificates(Certificates),
}

impl Security {
    /// Whether connections are private (TLS).
    pub fn is_private(&self) -> bool {
        !matches!(self, Security::Open)
    }
}

#[cfg(test)]
mod tests;
