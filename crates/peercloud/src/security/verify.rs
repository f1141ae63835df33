//! Who may talk to a private peer. In key mode, both ends present the
//! certificate of their cloud key and accept a certificate only when its
//! public key is the one some key of their keyring derives (pinning); the
//! keyring can be replaced while the peer runs. In certificate mode,
//! certificates must chain to the configured CA.

use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::ResolvesClientCert;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ParsedCertificate, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, Error, RootCertStore,
    SignatureScheme,
};

use super::identity::{IdentityError, KeyIdentity};
use super::key::Keyring;

/// The identities of a keyring: the first is spoken with, all are accepted.
#[derive(Debug)]
pub(crate) struct KeyState {
    pub(crate) identities: Vec<KeyIdentity>,
}

impl KeyState {
    fn of(ring: &Keyring) -> Result<Self, IdentityError> {
        let identities = ring
            .keys()
            .iter()
            .map(KeyIdentity::derive)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(KeyState { identities })
    }

    fn speaking(&self) -> &Arc<CertifiedKey> {
        // A keyring is never empty (`Keyring` guarantees it).
        &self.identities[0].certified
    }

    /// The fingerprint of the accepted key whose public key `cert` holds.
    pub(crate) fn accepts(&self, cert: &CertificateDer<'_>) -> Option<&str> {
        let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
        let spki = parsed.subject_public_key_info();
        self.identities
            .iter()
            .find(|identity| identity.spki == spki.as_ref())
            .map(|identity| identity.fingerprint.as_str())
    }
}

/// The keyring of a running peer, shared by its server and its client, and
/// replaced in place when the key file is re-read: every handshake reads
/// the keyring of its moment.
#[derive(Debug)]
pub(crate) struct SharedKeys {
    current: RwLock<Arc<KeyState>>,
    /// Counts replacements, so that open connections can check whether
    /// the key they were authenticated with is still accepted.
    replaced: watch::Sender<u64>,
}

impl SharedKeys {
    pub(crate) fn new(ring: &Keyring) -> Result<Self, IdentityError> {
        Ok(SharedKeys {
            current: RwLock::new(Arc::new(KeyState::of(ring)?)),
            replaced: watch::Sender::new(0),
        })
    }

    /// How many times the keyring was replaced.
    pub(crate) fn generation(&self) -> u64 {
        *self.replaced.borrow()
    }

    /// Wakes on every replacement of the keyring.
    pub(crate) fn replacements(&self) -> watch::Receiver<u64> {
        self.replaced.subscribe()
    }

    pub(crate) fn current(&self) -> Arc<KeyState> {
        // A poisoned lock still holds a whole state: states are swapped,
        // never edited.
        match self.current.read() {
            Ok(state) => state.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub(crate) fn replace(&self, ring: &Keyring) -> Result<(), IdentityError> {
        let state = Arc::new(KeyState::of(ring)?);
        match self.current.write() {
            Ok(mut current) => *current = state,
            Err(poisoned) => *poisoned.into_inner() = state,
        }
        self.replaced.send_modify(|count| *count += 1);
        Ok(())
    }
}

/// The verifier and certificate source of key mode, for both ends.
#[derive(Debug)]
pub(crate) struct PinnedKeys {
    keys: Arc<SharedKeys>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedKeys {
    pub(crate) fn new(keys: Arc<SharedKeys>, algorithms: WebPkiSupportedAlgorithms) -> Self {
        PinnedKeys { keys, algorithms }
    }

    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
    ) -> Result<(), Error> {
        // A key's certificate stands alone: a chain means something else
        // is talking.
        if !intermediates.is_empty() {
            return Err(Error::InvalidCertificate(CertificateError::UnknownIssuer));
        }
        match self.keys.current().accepts(end_entity) {
            Some(_) => Ok(()),
            None => Err(Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
        }
    }
}

impl ServerCertVerifier for PinnedKeys {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        // The name is not checked: a peer is dialled at the address the
        // cloud gave, and what makes it a member is its key.
        self.verify(end_entity, intermediates)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ClientCertVerifier for PinnedKeys {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.verify(end_entity, intermediates)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

impl ResolvesServerCert for PinnedKeys {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.keys.current().speaking().clone())
    }
}

impl ResolvesClientCert for PinnedKeys {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.keys.current().speaking().clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Certificate mode's check of the peers it dials: the certificate must
/// chain to the CA; its names are not checked, since peers are dialled at
/// the addresses the cloud gives, not at names a certificate could hold.
#[derive(Debug)]
pub(crate) struct ChainsToCa {
    roots: Arc<RootCertStore>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ChainsToCa {
    pub(crate) fn new(roots: Arc<RootCertStore>, algorithms: WebPkiSupportedAlgorithms) -> Self {
        ChainsToCa { roots, algorithms }
    }
}

impl ServerCertVerifier for ChainsToCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        rustls::client::verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            self.algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
