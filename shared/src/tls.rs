//! Trust roots: the platform's CA bundle, read once per process and handed to every HTTP client
//! (Salesforce's and the AWS SDK's). Left to itself each would scan the certificate directory,
//! which costs milliseconds of every cold start.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Where Linux distributions keep their CA bundle (Debian/Ubuntu, Amazon Linux/RHEL, SUSE, Alpine).
const BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

#[derive(Debug, Clone, thiserror::Error)]
pub enum TlsError {
    #[error("no CA bundle found (looked at $SSL_CERT_FILE and {BUNDLES:?})")]
    NoBundle,
    #[error("the CA bundle {0} holds no usable certificate")]
    Empty(String),
    #[error("reading the CA bundle {0}: {1}")]
    Read(String, String),
    #[error("cannot build an HTTP client: {0}")]
    Client(String),
}

/// The root certificates every outbound TLS connection is verified against.
#[derive(Debug)]
pub struct TrustRoots {
    store: Arc<rustls::RootCertStore>,
}

impl TrustRoots {
    /// The platform's roots (`SSL_CERT_FILE`, else the distribution's bundle), loaded once.
    pub fn system() -> Result<&'static Self, TlsError> {
        static SYSTEM: OnceLock<Result<TrustRoots, TlsError>> = OnceLock::new();
        SYSTEM.get_or_init(|| Self::read(&bundle_path()?)).as_ref().map_err(Clone::clone)
    }

    /// The certificates of a PEM bundle that can anchor a chain; others are skipped, as OpenSSL does.
    pub fn read(path: &Path) -> Result<Self, TlsError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|err| TlsError::Read(shown.clone(), err.to_string()))?;
        let mut store = rustls::RootCertStore::empty();
        // Undecodable blocks are skipped, and not every certificate can anchor a chain (OpenSSL
        // skips those too).
        for der in CertificateDer::pem_slice_iter(&pem).flatten() {
            let _ = store.add(der);
        }
        if store.is_empty() {
            return Err(TlsError::Empty(shown));
        }
        Ok(Self { store: Arc::new(store) })
    }

    /// The TLS configuration of every outbound HTTP client: these roots only, ring's algorithms,
    /// TLS 1.2 and 1.3, HTTP/1.1.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, TlsError> {
        let mut config =
            rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|err| TlsError::Client(err.to_string()))?
                .with_root_certificates(Arc::clone(&self.store))
                .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn bundle_path() -> Result<PathBuf, TlsError> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return Ok(PathBuf::from(file));
    }
    BUNDLES.iter().map(PathBuf::from).find(|path| path.is_file()).ok_or(TlsError::NoBundle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    /// One certificate as PEM.
    fn pem(der: &CertificateDer<'_>) -> Vec<u8> {
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let mut pem = b"-----BEGIN CERTIFICATE-----\n".to_vec();
        for line in body.as_bytes().chunks(64) {
            pem.extend_from_slice(line);
            pem.push(b'\n');
        }
        pem.extend_from_slice(b"-----END CERTIFICATE-----\n");
        pem
    }

    #[test]
    fn the_system_bundle_loads_once_with_every_usable_root() {
        let roots = TrustRoots::system().unwrap();
        assert!(roots.store.len() > 50, "{} roots", roots.store.len());
        assert!(std::ptr::eq(roots, TrustRoots::system().unwrap()), "read once per process");
        let config = roots.client_config().unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        assert!(config.crypto_provider().cipher_suites.iter().any(|suite| suite.version() == &rustls::version::TLS12));
    }

    #[test]
    fn unusable_entries_are_skipped_and_an_empty_bundle_is_an_error() {
        let roots = TrustRoots::system().unwrap();
        let system_bundle = std::fs::read(bundle_path().unwrap()).unwrap();
        let first_root = CertificateDer::pem_slice_iter(&system_bundle)
            .flatten()
            .find(|der| rustls::RootCertStore::empty().add(der.clone()).is_ok())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mixed = dir.path().join("mixed.pem");
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let mut bundle = garbage.to_vec();
        bundle.extend(pem(&first_root));
        bundle.extend(b"not pem at all\n");
        std::fs::write(&mixed, bundle).unwrap();
        let read = TrustRoots::read(&mixed).unwrap();
        assert_eq!(read.store.roots, vec![roots.store.roots[0].clone()], "the PEM round-trips");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, garbage).unwrap();
        assert!(matches!(TrustRoots::read(&empty), Err(TlsError::Empty(_))));
        assert!(matches!(TrustRoots::read(&dir.path().join("absent.pem")), Err(TlsError::Read(..))));
    }
}
