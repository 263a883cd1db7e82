//! The clients every function holds, built once at init and shared by every invocation.

use std::sync::Arc;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
use aws_types::SdkConfig;

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
    #[error("the environment variable {0} is not set")]
    Environment(&'static str),
}

/// The AWS SDK clients, configured from the Lambda environment: `AWS_REGION`, the execution
/// role's credentials (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`), and
/// `AWS_ENDPOINT_URL` for emulators. A function needs no more of aws-config's credential chain
/// (profiles, SSO, IMDS, STS), which would add about 1 MB to every binary. No network call here.
pub fn aws_clients() -> Result<(aws_sdk_dynamodb::Client, aws_sdk_secretsmanager::Client), InitError> {
    aws_clients_from(|name| std::env::var(name).ok())
}

/// [`aws_clients`] with the variables `lookup` gives, for a process that reaches more than one
/// endpoint (a test's or a benchmark's stand-ins).
pub fn aws_clients_from(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<(aws_sdk_dynamodb::Client, aws_sdk_secretsmanager::Client), InitError> {
    let aws = aws_config_from(lookup)?;
    Ok((aws_sdk_dynamodb::Client::new(&aws), aws_sdk_secretsmanager::Client::new(&aws)))
}

/// The configuration [`aws_clients`] builds its clients from, for a function that needs another
/// AWS client too.
pub fn aws_config() -> Result<SdkConfig, InitError> {
    aws_config_from(|name| std::env::var(name).ok())
}

fn aws_config_from(lookup: impl Fn(&str) -> Option<String>) -> Result<SdkConfig, InitError> {
    let var = |name: &'static str| lookup(name).ok_or(InitError::Environment(name));
    let credentials = Credentials::new(
        var("AWS_ACCESS_KEY_ID")?,
        var("AWS_SECRET_ACCESS_KEY")?,
        lookup("AWS_SESSION_TOKEN"),
        None,
        "lambda-environment",
    );
    let mut aws = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(var("AWS_REGION")?))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .http_client(ReqwestHttpClient::shared(TrustRoots::system()?)?);
    if let Some(endpoint) = lookup("AWS_ENDPOINT_URL") {
        aws = aws.endpoint_url(endpoint);
    }
    Ok(aws.build())
}

impl Services {
    /// The signer keyed from the app secret (read through the secret cache).
    pub async fn app_signer(&self) -> Result<crate::signed::Signer, crate::secrets::SecretsError> {
        let secret: crate::secrets::AppSecret = self.secrets.json(&self.config.app_secret_name).await?;
        Ok(secret.signer())
    }

    /// DynamoDB, Secrets Manager and the Salesforce client from the Lambda environment. No
    /// network call happens here: clients connect on first use.
    pub async fn from_aws(config: Config) -> Result<Self, InitError> {
        let (dynamodb, secrets_manager) = aws_clients()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn lambda_environment(name: &str) -> Option<String> {
        let value = match name {
            "AWS_REGION" => "eu-west-3",
            "AWS_ACCESS_KEY_ID" => "ASIAEXAMPLE",
            "AWS_SECRET_ACCESS_KEY" => "secret",
            "AWS_SESSION_TOKEN" => "token",
            _ => return None,
        };
        Some(value.to_owned())
    }

    #[test]
    fn clients_come_from_the_lambda_environment_alone() {
        let (dynamodb, secrets_manager) = aws_clients_from(lambda_environment).unwrap();
        assert_eq!(dynamodb.config().region().map(Region::as_ref), Some("eu-west-3"));
        assert_eq!(secrets_manager.config().region().map(Region::as_ref), Some("eu-west-3"));
    }

    #[test]
    fn a_missing_variable_is_named() {
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let err =
                aws_clients_from(|name| (name != missing).then(|| lambda_environment(name)).flatten()).unwrap_err();
            assert_eq!(err.to_string(), format!("the environment variable {missing} is not set"));
        }
    }
}
