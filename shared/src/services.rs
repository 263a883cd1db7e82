//! The clients every function holds, built once at init and shared by every invocation.

use std::sync::Arc;

use crate::aws_http::ReqwestHttpClient;
use crate::config::Config;
use crate::salesforce::{ClientSettings, SalesforceClient, SalesforceError};
use crate::secrets::{SecretCache, SecretsManagerSource};
use crate::store::{DynamoTable, Items, SharedStore};
use crate::tls::{TlsError, TrustRoots};

/// The I/O a function reaches: store, secrets, Salesforce; plus its configuration.
#[derive(Clone)]
pub struct Services {
    pub config: Arc<Config>,
    pub store: SharedStore,
    pub secrets: Arc<SecretCache>,
    pub salesforce: SalesforceClient,
}

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Init failed; the function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Salesforce(#[from] SalesforceError),
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The AWS SDK clients, configured from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` for emulators). Building them makes no network call.
pub async fn aws_clients() -> Result<(aws_sdk_dynamodb::Client, aws_sdk_secretsmanager::Client), TlsError> {
    let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(ReqwestHttpClient::shared(TrustRoots::system()?)?)
        .load()
        .await;
    Ok((aws_sdk_dynamodb::Client::new(&aws), aws_sdk_secretsmanager::Client::new(&aws)))
}

impl Services {
    /// DynamoDB, Secrets Manager and the Salesforce client from the Lambda environment. No
    /// network call happens here: clients connect on first use.
    pub async fn from_aws(config: Config) -> Result<Self, InitError> {
        let (dynamodb, secrets_manager) = aws_clients().await?;
        let table = DynamoTable::new(dynamodb, config.table_name.clone());
        let secrets = SecretsManagerSource::new(secrets_manager);
        Ok(Self {
            store: Arc::new(Items::new(table)),
            secrets: Arc::new(SecretCache::new(Arc::new(secrets), config.secret_ttl)),
            salesforce: SalesforceClient::new(&ClientSettings::default())?,
            config: Arc::new(config),
        })
    }
}
