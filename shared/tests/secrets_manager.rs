//! The Secrets Manager adapter against moto (`AWS_ENDPOINT_URL`, set by `infra/test.sh`).

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic is the failure report.

use std::sync::Arc;
use std::time::Duration;

use outpost_shared::crypto;
use outpost_shared::secrets::{
    CalloutKey, IntegrationCredentials, SecretCache, SecretSource, SecretsError, SecretsManagerSource,
};
use outpost_shared::services::aws_clients;
use secrecy::ExposeSecret;

/// The functions' own Secrets Manager client (its HTTP connector included), on moto.
async fn client() -> aws_sdk_secretsmanager::Client {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL must name the moto server: run the tests through ./infra/test.sh"
    );
    aws_clients().unwrap().1
}

fn unique(name: &str) -> String {
    format!("outpost-test/{}/{name}", &crypto::sha256_hex(crypto::random_token().as_bytes())[..12])
}

#[tokio::test]
async fn reads_a_secret_and_reports_a_missing_one() {
    let client = client().await;
    let name = unique("callout-key");
    client
        .create_secret()
        .name(&name)
        .secret_string(r#"{"key":"s3cr3t"}"#)
        .send()
        .await
        .expect("create secret on moto");
    let source = SecretsManagerSource::new(client);
    assert_eq!(source.fetch(&name).await.unwrap().expose_secret(), r#"{"key":"s3cr3t"}"#);
    let missing = unique("missing");
    assert_eq!(source.fetch(&missing).await.err(), Some(SecretsError::NotFound(missing)));
}

#[tokio::test]
async fn the_cache_serves_typed_documents_until_its_ttl() {
    let client = client().await;
    let name = unique("integration");
    let document = r#"{"kind":"client_credentials","client_id":"3MVG9","client_secret":"shh","my_domain_url":"https://acme.my.salesforce.com"}"#;
    client.create_secret().name(&name).secret_string(document).send().await.unwrap();
    let cache = SecretCache::new(Arc::new(SecretsManagerSource::new(client.clone())), Duration::from_secs(60));
    let IntegrationCredentials::ClientCredentials { client_id, .. } = cache.json(&name).await.unwrap() else {
        panic!("expected client credentials");
    };
    assert_eq!(client_id, "3MVG9");

    // A rotation is invisible while cached and visible once forgotten.
    let rotated = r#"{"kind":"client_credentials","client_id":"ROTATED","client_secret":"shh","my_domain_url":"https://acme.my.salesforce.com"}"#;
    client.put_secret_value().secret_id(&name).secret_string(rotated).send().await.unwrap();
    let IntegrationCredentials::ClientCredentials { client_id, .. } = cache.json(&name).await.unwrap() else {
        panic!("expected client credentials");
    };
    assert_eq!(client_id, "3MVG9");
    cache.forget(&name);
    let IntegrationCredentials::ClientCredentials { client_id, .. } = cache.json(&name).await.unwrap() else {
        panic!("expected client credentials");
    };
    assert_eq!(client_id, "ROTATED");

    let malformed = cache.json::<CalloutKey>(&name).await.err().unwrap();
    assert!(matches!(malformed, SecretsError::Malformed { .. }));
    assert!(!malformed.to_string().contains("shh"));
}
