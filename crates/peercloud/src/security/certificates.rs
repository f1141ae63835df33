//! Certificate mode's material: this peer's certificate chain and private
//! key, and the CA its peers' certificates must chain to, read from PEM.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;
use thiserror::Error;

/// A peer's certificate, its private key, and the CA of the cloud.
#[derive(Clone)]
pub struct Certificates {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: Arc<PrivateKeyDer<'static>>,
    pub(crate) roots: Arc<RootCertStore>,
}

/// Why certificates could not be read.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no PEM item of the kind expected.
    #[error("{what} holds no {expected} in PEM")]
    Missing {
        /// The file, or what was given.
        what: String,
        /// What it should hold.
        expected: &'static str,
    },
    /// A PEM item could not be parsed or used.
    #[error("{what}: {reason}")]
    Invalid {
        /// The file, or what was given.
        what: String,
        /// Why.
        reason: String,
    },
}

impl Certificates {
    /// Reads this peer's certificate chain (`cert`), its private key
    /// (`key`) and the CA certificates (`ca`), all PEM files.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        ca: impl AsRef<Path>,
    ) -> Result<Self, CertificateError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| CertificateError::Unreadable {
                path: path.to_owned(),
                source,
            })
        };
        let (cert, key, ca) = (cert.as_ref(), key.as_ref(), ca.as_ref());
        Self::parse(
            (&cert.display().to_string(), &read(cert)?),
            (&key.display().to_string(), &read(key)?),
            (&ca.display().to_string(), &read(ca)?),
        )
    }

    /// The same from PEM text held in memory.
    pub fn from_pem(cert: &str, key: &str, ca: &str) -> Result<Self, CertificateError> {
        Self::parse(
            ("the certificate", cert.as_bytes()),
            ("the private key", key.as_bytes()),
            ("the CA", ca.as_bytes()),
        )
    }

    fn parse(
        (cert_name, cert): (&str, &[u8]),
        (key_name, key): (&str, &[u8]),
        (ca_name, ca): (&str, &[u8]),
    ) -> Result<Self, CertificateError> {
        let invalid = |what: &str, e: &dyn fmt::Display| CertificateError::Invalid {
            what: what.to_owned(),
            reason: e.to_string(),
        };
        let chain = CertificateDer::pem_slice_iter(cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| invalid(cert_name, &e))?;
        if chain.is_empty() {
            return Err(CertificateError::Missing {
                what: cert_name.to_owned(),
                expected: "certificate",
            });
        }
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => CertificateError::Missing {
                what: key_name.to_owned(),
                expected: "private key",
            },
            e => invalid(key_name, &e),
        })?;
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| invalid(key_name, &e))?;
        let mut roots = RootCertStore::empty();
        for ca_cert in CertificateDer::pem_slice_iter(ca) {
            let ca_cert = ca_cert.map_err(|e| invalid(ca_name, &e))?;
            roots.add(ca_cert).map_err(|e| invalid(ca_name, &e))?;
        }
        if roots.is_empty() {
            return Err(CertificateError::Missing {
                what: ca_name.to_owned(),
                expected: "CA certificate",
            });
        }
        Ok(Certificates {
            chain,
            key: Arc::new(key),
            roots: Arc::new(roots),
        })
    }
}

impl fmt::Debug for Certificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificates")
            .field("chain", &self.chain.len())
            .field("roots", &self.roots.len())
            .finish_non_exhaustive()
    }
}
