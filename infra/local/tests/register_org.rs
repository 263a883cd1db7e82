//! `outpost-local register-org` against moto (`AWS_ENDPOINT_URL`, set by `infra/test.sh`): the org
//! lands in DynamoDB and its secrets in Secrets Manager exactly as the deployed functions read them.

#![allow(clippy::unwrap_used)] // Tests unwrap: a panic is the failure report.

use std::sync::Arc;
use std::time::Duration;

use outpost_local::admin_aws_clients;
use outpost_local::provision::OrgFile;
use outpost_local::register_on_aws;
use outpost_shared::crypto;
use outpost_shared::ids::OrgId;
use outpost_shared::secrets::{CalloutKey, IntegrationCredentials, SecretCache, SecretsManagerSource};
use outpost_shared::store::{DynamoTable, Items, OrgStore, ProvisioningMode};
use secrecy::ExposeSecret;

fn org_file(dir: &std::path::Path, my_domain: &str) -> std::path::PathBuf {
    let path = dir.join("org.toml");
    std::fs::write(
        &path,
        format!(
            r#"
org_id = "00Dx0000000BV7z"
name = "Acme sandbox"
my_domain = "{my_domain}"
mode = "org_wide"
[integration]
kind = "client_credentials"
client_id = "3MVG9client"
client_secret = "s3cr3t"
"#
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn registers_an_org_where_the_functions_read_it() {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "AWS_ENDPOINT_URL must name moto: run ./infra/test.sh");
    let dir = tempfile::tempdir().unwrap();
    let path = org_file(dir.path(), "https://acme--dev.sandbox.my.salesforce.com");
    let file = OrgFile::read(&path).unwrap();
    let (dynamodb, secrets_manager) = admin_aws_clients().await.unwrap();
    let table = format!("register{}", &crypto::sha256_hex(crypto::random_token().as_bytes())[..10]);
    DynamoTable::create_if_missing(&dynamodb, &table).await.unwrap();
    let prefix = format!("reg-{}", &crypto::sha256_hex(crypto::random_token().as_bytes())[..8]);

    let first = register_on_aws(&file, &path, &table, &prefix).await.unwrap();
    let store = Items::new(DynamoTable::new(dynamodb, table.as_str()));
    let org = OrgId::parse("00Dx0000000BV7z").unwrap();
    let registered = store.get_org(&org).await.unwrap().unwrap();
    assert_eq!(registered.pinned_host, "https://acme--dev.sandbox.my.salesforce.com");
    assert_eq!(registered.mode, ProvisioningMode::OrgWide);
    assert_eq!(registered.secrets.integration, format!("{prefix}/org/{org}/integration"));

    let secrets = SecretCache::new(Arc::new(SecretsManagerSource::new(secrets_manager)), Duration::ZERO);
    let IntegrationCredentials::ClientCredentials { client_id, client_secret, my_domain_url } =
        secrets.json(&registered.secrets.integration).await.unwrap()
    else {
        panic!("client credentials expected");
    };
    assert_eq!(client_id, "3MVG9client");
    assert_eq!(client_secret.expose_secret(), "s3cr3t");
    assert_eq!(my_domain_url, "https://acme--dev.sandbox.my.salesforce.com");
    let key: CalloutKey = secrets.json(&registered.secrets.callout_key).await.unwrap();
    assert_eq!(key.key.expose_secret(), first.callout_key);

    // Registering again updates in place and keeps the callout key Salesforce already holds.
    let again = register_on_aws(&file, &path, &table, &prefix).await.unwrap();
    assert_eq!(again.callout_key, first.callout_key);
}

#[tokio::test]
async fn refuses_hosts_that_are_not_salesforce_api_hosts() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["https://acme.lightning.force.com", "http://127.0.0.1:8080", "https://evil.example"] {
        let path = org_file(dir.path(), bad);
        let file = OrgFile::read(&path).unwrap();
        assert!(register_on_aws(&file, &path, "unused", "unused").await.is_err(), "{bad}");
    }
}
