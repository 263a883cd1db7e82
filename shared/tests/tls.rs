//! Outbound TLS as the functions make it: the roots of a bundle, ring's algorithms, through the
//! AWS SDK's connector, against a local HTTPS server whose certificate a test CA signed
//! (`tests/fixtures`, valid until 2125).

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic is the failure report.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use outpost_shared::aws_http::ReqwestHttpClient;
use outpost_shared::tls::TrustRoots;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// An HTTPS server for `localhost` answering every request with an empty DynamoDB table list.
async fn https_server() -> u16 {
    let chain = CertificateDer::pem_file_iter(fixture("localhost.pem")).unwrap().map(Result::unwrap).collect();
    let key = PrivateKeyDer::from_pem_file(fixture("localhost.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                while let Ok(read @ 1..) = tls.read(&mut buffer).await {
                    request.extend_from_slice(&buffer[..read]);
                    if request.windows(4).any(|window| window == b"\r\n\r\n") {
                        break;
                    }
                }
                let body = r#"{"TableNames":[]}"#;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    port
}

fn dynamodb(roots: &TrustRoots, port: u16) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(format!("https://localhost:{port}"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .http_client(ReqwestHttpClient::shared(roots).unwrap())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[tokio::test]
async fn a_server_the_roots_vouch_for_is_reached_over_tls() {
    let port = https_server().await;
    let roots = TrustRoots::read(&fixture("test-ca.pem")).unwrap();
    let tables = dynamodb(&roots, port).list_tables().send().await.unwrap();
    assert!(tables.table_names().is_empty());
}

#[tokio::test]
async fn a_server_outside_the_roots_is_refused() {
    let port = https_server().await;
    let err = dynamodb(TrustRoots::system().unwrap(), port).list_tables().send().await.unwrap_err();
    let chain = format!("{:?}", aws_smithy_types::error::display::DisplayErrorContext(&err));
    assert!(chain.contains("UnknownIssuer"), "{chain}");
}
