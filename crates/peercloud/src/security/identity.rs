//! The TLS identity a cloud key stands for: an Ed25519 key pair derived
//! from the cloud key (HKDF), and a self-signed certificate for it made
//! with rcgen. Every holder of the key derives the same key pair, so peers
//! recognise each other by its public key, which they pin; holding the key
//! is the only way to sign a TLS handshake with it.

use std::sync::Arc;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, PKCS_ED25519};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use super::key::CloudKey;

/// What HKDF is asked for: the seed of the Ed25519 key pair.
const IDENTITY_PURPOSE: &[u8] = b"peercloud tls identity v1";

/// The DER prefix of an Ed25519 private key in PKCS#8 v1 (RFC 8410,
/// section 7): the 32-byte seed follows it.
const ED25519_PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// The identity of one cloud key.
#[derive(Debug)]
pub(crate) struct KeyIdentity {
    /// The certificate and signing key presented in handshakes.
    pub(crate) certified: Arc<CertifiedKey>,
    /// The public key (SubjectPublicKeyInfo, DER) that peers pin.
    pub(crate) spki: Vec<u8>,
    /// The key's fingerprint, for logs.
    pub(crate) fingerprint: String,
}

/// Why an identity could not be made: only a bug or a broken crypto
/// library could cause it, since every input is derived.
#[derive(Debug, thiserror::Error)]
#[error("cannot make the TLS identity of a cloud key: {0}")]
pub struct IdentityError(String);

impl KeyIdentity {
    pub(crate) fn derive(key: &CloudKey) -> Result<Self, IdentityError> {
        let mut seed = [0u8; 32];
        key.expand(IDENTITY_PURPOSE, &mut seed);
        let mut pkcs8 = Vec::with_capacity(48);
        pkcs8.extend_from_slice(&ED25519_PKCS8_PREFIX);
        pkcs8.extend_from_slice(&seed);
        let der = PrivatePkcs8KeyDer::from(pkcs8);
        let pair = KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_ED25519)
            .map_err(|e| IdentityError(e.to_string()))?;
        let fingerprint = key.fingerprint();
        // Names and dates are not checked by peers (they pin the public
        // key), but a certificate needs them; they name the key for anyone
        // who inspects a handshake with the key.
        let mut params = CertificateParams::new(vec!["peercloud.invalid".to_owned()])
            .map_err(|e| IdentityError(e.to_string()))?;
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, format!("peercloud key {fingerprint}"));
        params.distinguished_name = name;
        let cert = params
            .self_signed(&pair)
            .map_err(|e| IdentityError(e.to_string()))?;
        let signing = rustls::crypto::ring::sign::any_supported_type(&PrivateKeyDer::Pkcs8(der))
            .map_err(|e| IdentityError(e.to_string()))?;
        let certified = CertifiedKey::new(vec![CertificateDer::from(cert.der().to_vec())], signing);
        Ok(KeyIdentity {
            certified: Arc::new(certified),
            spki: pair.public_key_der(),
            fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spki_of(cert: &CertificateDer<'_>) -> Vec<u8> {
        let parsed = webpki::EndEntityCert::try_from(cert).unwrap();
        parsed.subject_public_key_info().as_ref().to_vec()
    }

    #[test]
    fn every_holder_of_a_key_derives_the_same_public_key() {
        let key = CloudKey::generate();
        let a = KeyIdentity::derive(&key).unwrap();
        let b = KeyIdentity::derive(&key.to_hex().parse().unwrap()).unwrap();
        assert_eq!(a.spki, b.spki);
        assert_eq!(spki_of(&a.certified.cert[0]), a.spki);
        assert_eq!(spki_of(&b.certified.cert[0]), a.spki);
    }

    #[test]
    fn different_keys_give_different_public_keys() {
        let a = KeyIdentity::derive(&CloudKey::from_bytes([1; 32])).unwrap();
        let b = KeyIdentity::derive(&CloudKey::from_bytes([2; 32])).unwrap();
        assert_ne!(a.spki, b.spki);
    }

    #[test]
    fn the_certificate_holds_no_key_material() {
        let key = CloudKey::from_bytes([9; 32]);
        let identity = KeyIdentity::derive(&key).unwrap();
        let cert = identity.certified.cert[0].as_ref();
        let mut seed = [0u8; 32];
        key.expand(IDENTITY_PURPOSE, &mut seed);
        for secret in [&[9u8; 32][..], &seed[..]] {
            assert!(!cert.windows(32).any(|w| w == secret));
        }
    }
}
