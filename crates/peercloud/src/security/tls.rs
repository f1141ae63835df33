//! The TLS settings of a private peer, made once from its [`Security`]:
//! TLS 1.3 only, both ends authenticated, no session resumption and no
//! early data.
//!
//! Why no resumption: a resumed session skips the certificates, so after a
//! key is removed from the keyring a session made with it could still be
//! resumed; a full handshake costs one Ed25519 signature each way, once per
//! pooled connection. Why no early data: 0-RTT data can be replayed.

use std::sync::Arc;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{AlertDescription, ClientConfig, ServerConfig};

use super::verify::{ChainsToCa, PinnedKeys, SharedKeys};
use super::{IdentityError, Keyring, Security};

/// What TLS 1.3 negotiates on top of: HTTP/1.1, as open peers speak.
const ALPN: &[u8] = b"http/1.1";

/// A private peer's TLS settings, for its server and its client.
#[derive(Clone, Debug)]
pub(crate) struct Tls {
    pub(crate) server: Arc<ServerConfig>,
    pub(crate) client: Arc<ClientConfig>,
    /// The keyring in key mode, replaceable while the peer runs.
    pub(crate) keys: Option<Arc<SharedKeys>>,
}

/// Why the TLS settings could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// A key's identity could not be made.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// rustls refused the settings (a certificate and key that do not
    /// match, a CA it cannot use).
    #[error("TLS settings refused: {0}")]
    Rustls(String),
}

impl Tls {
    /// The settings of `security`; `None` for an open peer.
    pub(crate) fn new(security: &Security) -> Result<Option<Tls>, TlsSetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let refused = |e: rustls::Error| TlsSetupError::Rustls(e.to_string());
        let tls = match security {
            Security::Open => return Ok(None),
            Security::Key(ring) => {
                let keys = Arc::new(SharedKeys::new(ring)?);
                let pinned = Arc::new(PinnedKeys::new(keys.clone(), algorithms(&provider)));
                let server = ServerConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(&[&rustls::version::TLS13])
                    .map_err(refused)?
                    .with_client_cert_verifier(pinned.clone())
                    .with_cert_resolver(pinned.clone());
                let client = ClientConfig::builder_with_provider(provider)
                    .with_protocol_versions(&[&rustls::version::TLS13])
                    .map_err(refused)?
                    .dangerous()
                    .with_custom_certificate_verifier(pinned.clone())
                    .with_client_cert_resolver(pinned);
                Tls::finish(server, client, Some(keys))
            }
            Security::Certificates(certs) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    certs.roots.clone(),
                    provider.clone(),
                )
                .build()
                .map_err(|e| TlsSetupError::Rustls(e.to_string()))?;
                let server = ServerConfig::builder_with_provider(provider.clone())
                    .with_protocol_versions(&[&rustls::version::TLS13])
                    .map_err(refused)?
                    .with_client_cert_verifier(verifier)
                    .with_single_cert(certs.chain.clone(), certs.key.clone_key())
                    .map_err(refused)?;
                let chains = ChainsToCa::new(certs.roots.clone(), algorithms(&provider));
                let client = ClientConfig::builder_with_provider(provider)
                    .with_protocol_versions(&[&rustls::version::TLS13])
                    .map_err(refused)?
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(chains))
                    .with_client_auth_cert(certs.chain.clone(), certs.key.clone_key())
                    .map_err(refused)?;
                Tls::finish(server, client, None)
            }
        };
        Ok(Some(tls))
    }

    fn finish(
        mut server: ServerConfig,
        mut client: ClientConfig,
        keys: Option<Arc<SharedKeys>>,
    ) -> Tls {
        server.session_storage = Arc::new(NoServerSessionStorage {});
        server.send_tls13_tickets = 0;
        server.max_early_data_size = 0;
        server.alpn_protocols = vec![ALPN.to_vec()];
        client.resumption = Resumption::disabled();
        client.enable_early_data = false;
        // The client's ALPN is set by the connector, which checks that it
        // matches what it speaks (HTTP/1.1).
        Tls {
            server: Arc::new(server),
            client: Arc::new(client),
            keys,
        }
    }

    /// Replaces the keyring: handshakes from now on speak with its first
    /// key and accept all of its keys. Refused in certificate mode.
    pub(crate) fn replace_keyring(&self, ring: &Keyring) -> Result<(), ReplaceKeyringError> {
        let keys = self.keys.as_ref().ok_or(ReplaceKeyringError::NotKeyMode)?;
        keys.replace(ring).map_err(ReplaceKeyringError::Identity)
    }
}

/// Why a keyring could not be replaced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplaceKeyringError {
    /// The peer was not started with a cloud key.
    #[error("this peer was not started with a cloud key")]
    NotKeyMode,
    /// A key's identity could not be made.
    #[error(transparent)]
    Identity(IdentityError),
}

fn algorithms(provider: &CryptoProvider) -> rustls::crypto::WebPkiSupportedAlgorithms {
    provider.signature_verification_algorithms
}

/// Says, in words for a log line, why a TLS handshake with a peer failed,
/// from this end's rustls error.
pub(crate) fn classify_failure(error: &rustls::Error) -> String {
    use rustls::Error as E;
    match error {
        E::InvalidCertificate(rustls::CertificateError::ApplicationVerificationFailure) => {
            "its certificate is of no key this side holds: a peer of another cloud, or a wrong key"
                .to_owned()
        }
        E::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature,
        ) => "its certificate does not chain to this side's CA: a peer of another cloud".to_owned(),
        E::InvalidCertificate(e) => format!("its certificate is not accepted: {e:?}"),
        E::NoCertificatesPresented => {
            "it presented no certificate: a TLS client that holds no cloud key".to_owned()
        }
        E::AlertReceived(
            AlertDescription::BadCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::DecryptError
            | AlertDescription::CertificateRequired
            | AlertDescription::AccessDenied,
        ) => "it refused this side's certificate: this side's key is not in its keyring, or its \
              certificate is not of its CA (a wrong key?)"
            .to_owned(),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => {
            "it does not speak TLS: an open peer (no key), or not a peer at all".to_owned()
        }
        e => format!("the TLS handshake failed: {e}"),
    }
}
