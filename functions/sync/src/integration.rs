//! The integration user: per-org credentials from the secret store (JWT bearer or client
//! credentials), access tokens cached in memory until Salesforce says they expired, and exactly
//! one re-login per expiry. A policy refusal is reported, never looped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use outpost_shared::hosts::{HostPolicy, SalesforceHost};
use outpost_shared::ids::OrgId;
use outpost_shared::salesforce::{
    ApiMeter, JwtBearer, OrgConnection, RsaSigningKey, SalesforceClient, SalesforceError, TokenResponse,
};
use outpost_shared::secrets::{IntegrationCredentials, SecretCache};
use outpost_shared::store::OrgRegistration;
use outpost_shared::tokens::AccessToken;
use secrecy::ExposeSecret;

/// Why the integration user could not log in.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Salesforce refused: `invalid_grant`, not approved, API access control… Needs an admin.
    #[error("Salesforce refused the integration user's login: {0}")]
    Refused(String),
    /// The org's integration secret is missing or unusable.
    #[error("the integration credentials are unusable: {0}")]
    Credentials(String),
    /// Salesforce could not be reached; the next run tries again.
    #[error("Salesforce is unavailable: {0}")]
    Unavailable(String),
}

/// Integration tokens per org, shared by every run of a warm function.
pub struct IntegrationLogin {
    client: SalesforceClient,
    secrets: Arc<SecretCache>,
    policy: HostPolicy,
    tokens: Mutex<HashMap<OrgId, AccessToken>>,
}

impl std::fmt::Debug for IntegrationLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntegrationLogin").finish_non_exhaustive()
    }
}

impl IntegrationLogin {
    pub fn new(client: SalesforceClient, secrets: Arc<SecretCache>, policy: HostPolicy) -> Self {
        Self { client, secrets, policy, tokens: Mutex::new(HashMap::new()) }
    }

    fn cached(&self, org: &OrgId) -> Option<AccessToken> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).get(org).cloned()
    }

    /// A connection as the integration user, logging in only when no token is cached.
    pub async fn connect(&self, org: &OrgRegistration, meter: Arc<ApiMeter>) -> Result<OrgConnection, LoginError> {
        let host = org.host(self.policy).map_err(|err| LoginError::Credentials(err.to_string()))?;
        let token = match self.cached(&org.org_id) {
            Some(token) => token,
            None => self.login(org, &host).await?,
        };
        Ok(OrgConnection::new(self.client.clone(), host, token, meter))
    }

    /// Drops the cached token and logs in again (after one `INVALID_SESSION_ID`).
    pub async fn renew(&self, org: &OrgRegistration, meter: Arc<ApiMeter>) -> Result<OrgConnection, LoginError> {
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).remove(&org.org_id);
        // A rotated secret is picked up with the new token.
        self.secrets.forget(&org.secrets.integration);
        self.connect(org, meter).await
    }

    async fn login(&self, org: &OrgRegistration, pinned: &SalesforceHost) -> Result<AccessToken, LoginError> {
        let credentials: IntegrationCredentials = self
            .secrets
            .json(&org.secrets.integration)
            .await
            .map_err(|err| LoginError::Credentials(err.to_string()))?;
        let (my_domain_url, response) = match &credentials {
            IntegrationCredentials::JwtBearer { consumer_key, username, private_key_pem, my_domain_url } => {
                let host = self.my_domain(my_domain_url, pinned)?;
                let key = RsaSigningKey::from_pem(private_key_pem.expose_secret())
                    .map_err(|err| LoginError::Credentials(err.to_string()))?;
                let grant = JwtBearer { consumer_key, username, key: &key };
                (my_domain_url, self.client.jwt_bearer_token(&host, &grant).await)
            }
            IntegrationCredentials::ClientCredentials { client_id, client_secret, my_domain_url } => {
                let host = self.my_domain(my_domain_url, pinned)?;
                let response =
                    self.client.client_credentials_token(&host, client_id, client_secret.expose_secret()).await;
                (my_domain_url, response)
            }
        };
        let token = self.accept(response, pinned)?;
        tracing::info!(org = %org.org_id, host = %my_domain_url, token = %token.fingerprint(), "integration user logged in");
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(org.org_id, token.clone());
        Ok(token)
    }

    /// The credential's My Domain URL must be the org's pinned host: tokens are requested there only.
    fn my_domain(&self, url: &str, pinned: &SalesforceHost) -> Result<SalesforceHost, LoginError> {
        let host =
            SalesforceHost::from_url(url, self.policy).map_err(|err| LoginError::Credentials(err.to_string()))?;
        if &host != pinned {
            return Err(LoginError::Credentials("my_domain_url is not the org's pinned host".into()));
        }
        Ok(host)
    }

    fn accept(
        &self,
        response: Result<TokenResponse, SalesforceError>,
        pinned: &SalesforceHost,
    ) -> Result<AccessToken, LoginError> {
        match response {
            Ok(token) => {
                let instance = SalesforceHost::from_url(&token.instance_url, self.policy)
                    .map_err(|err| LoginError::Refused(format!("instance_url: {err}")))?;
                if &instance != pinned {
                    return Err(LoginError::Refused("instance_url is not the org's pinned host".into()));
                }
                Ok(token.access_token)
            }
            Err(SalesforceError::OAuth { error, description, .. }) => {
                Err(LoginError::Refused(format!("{error}: {description}")))
            }
            Err(err) if err.is_retryable() => Err(LoginError::Unavailable(err.code().to_owned())),
            Err(err) => Err(LoginError::Refused(err.to_string())),
        }
    }
}
