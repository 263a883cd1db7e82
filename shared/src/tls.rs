//! Trust roots: the platform's CA bundle, read once per process and handed to both HTTP stacks
//! (reqwest for Salesforce, the AWS SDK's client). Left to themselves each would scan the
//! certificate directory too, which costs milliseconds of every cold start.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_smithy_http_client::Builder;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use base64::Engine;
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
}

/// The root certificates every outbound TLS connection is verified against.
#[derive(Debug)]
pub struct TrustRoots {
    certificates: Vec<CertificateDer<'static>>,
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
        let mut usable = rustls::RootCertStore::empty();
        let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .filter_map(Result::ok)
            .filter(|der| usable.add(der.clone()).is_ok())
            .collect();
        if certificates.is_empty() {
            return Err(TlsError::Empty(shown));
        }
        Ok(Self { certificates })
    }

    /// For reqwest: these roots only.
    pub fn reqwest_certificates(&self) -> impl Iterator<Item = reqwest::Certificate> + '_ {
        self.certificates.iter().filter_map(|der| reqwest::Certificate::from_der(der).ok())
    }

    /// For the AWS SDK: its rustls client, verifying with these roots only.
    pub fn aws_http_client(&self) -> SharedHttpClient {
        let trust =
            self.certificates.iter().fold(TrustStore::empty(), |trust, der| trust.with_pem_certificate(pem(der)));
        Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc))
            // `build` never fails today; should it, the SDK's default context reads the roots itself.
            .tls_context(TlsContext::builder().with_trust_store(trust).build().unwrap_or_default())
            .build_https()
    }
}

fn bundle_path() -> Result<PathBuf, TlsError> {
    if let Some(file) = std::env::var_os("SSL_CERT_FILE") {
        return Ok(PathBuf::from(file));
    }
    BUNDLES.iter().map(PathBuf::from).find(|path| path.is_file()).ok_or(TlsError::NoBundle)
}

/// One certificate as PEM (the form the SDK's trust store takes).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_bundle_loads_once_with_every_usable_root() {
        let roots = TrustRoots::system().unwrap();
        assert!(roots.certificates.len() > 50, "{} roots", roots.certificates.len());
        assert!(std::ptr::eq(roots, TrustRoots::system().unwrap()), "read once per process");
        assert_eq!(roots.reqwest_certificates().count(), roots.certificates.len());
    }

    #[test]
    fn unusable_entries_are_skipped_and_an_empty_bundle_is_an_error() {
        let roots = TrustRoots::system().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mixed = dir.path().join("mixed.pem");
        let garbage = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let mut bundle = garbage.to_vec();
        bundle.extend(pem(&roots.certificates[0]));
        bundle.extend(b"not pem at all\n");
        std::fs::write(&mixed, bundle).unwrap();
        let read = TrustRoots::read(&mixed).unwrap();
        assert_eq!(read.certificates, vec![roots.certificates[0].clone()], "the PEM round-trips");

        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, garbage).unwrap();
        assert!(matches!(TrustRoots::read(&empty), Err(TlsError::Empty(_))));
        assert!(matches!(TrustRoots::read(&dir.path().join("absent.pem")), Err(TlsError::Read(..))));
    }
}
