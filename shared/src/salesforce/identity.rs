//! "Who owns this session": userinfo (docs/salesforce.md#userinfo), the version list and the
//! resources-by-version identity URL (docs/salesforce.md#data-api-session-errors).

use std::time::Duration;

use reqwest::Method;
use serde::Deserialize;

use super::client::{Call, SalesforceClient, Surface};
use super::{OrgConnection, SalesforceError, data_path};
use crate::hosts::SalesforceHost;
use crate::ids::{OrgId, UserId};
use crate::tokens::AccessToken;

/// The userinfo check gets less time than data calls: a person is waiting.
const USERINFO_TIMEOUT: Duration = Duration::from_secs(5);

/// What userinfo says about the session's owner. Ids are 18-char and validated on parse.
#[derive(Debug, Clone, Deserialize)]
pub struct UserInfo {
    pub user_id: UserId,
    pub organization_id: OrgId,
    #[serde(default)]
    pub preferred_username: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub family_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    /// Absent means not confirmed active.
    #[serde(default)]
    pub active: bool,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default)]
    pub zoneinfo: Option<String>,
    #[serde(default)]
    pub user_type: Option<String>,
    #[serde(default)]
    pub is_salesforce_integration_user: Option<bool>,
}

impl UserInfo {
    /// The best display name Salesforce gave.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .or_else(|| match (&self.given_name, &self.family_name) {
                (Some(given), Some(family)) => Some(format!("{given} {family}")),
                _ => None,
            })
            .or_else(|| self.preferred_username.clone())
            .unwrap_or_else(|| self.user_id.to_string())
    }
}

/// One entry of `GET /services/data/`.
#[derive(Debug, Clone, Deserialize)]
pub struct ApiVersion {
    pub version: String,
    #[serde(default)]
    pub label: String,
    pub url: String,
}

#[derive(Deserialize)]
struct Resources {
    identity: String,
}

/// The org and user ids of an identity URL `…/id/<org18>/<user18>`.
pub fn parse_identity_url(url: &str) -> Option<(OrgId, UserId)> {
    let path = url.split(['?', '#']).next()?;
    let mut parts = path.rsplit('/');
    let user = UserId::parse(parts.next()?).ok()?;
    let org = OrgId::parse(parts.next()?).ok()?;
    (parts.next()? == "id").then_some((org, user))
}

impl SalesforceClient {
    /// `GET /services/oauth2/userinfo` with the session id or access token as Bearer.
    #[tracing::instrument(skip_all, fields(host = %host, token = %token.fingerprint()))]
    pub async fn userinfo(&self, host: &SalesforceHost, token: &AccessToken) -> Result<UserInfo, SalesforceError> {
        let mut call = Call::new(Method::GET, host.url("/services/oauth2/userinfo"), Surface::UserInfo);
        call.token = Some(token);
        call.timeout = Some(USERINFO_TIMEOUT);
        let reply = self.send(call).await?;
        serde_json::from_slice(&reply.body).map_err(|err| SalesforceError::Protocol(format!("userinfo body: {err}")))
    }

    /// `GET /services/data/`: the versions the host serves; needs no credentials.
    pub async fn api_versions(&self, host: &SalesforceHost) -> Result<Vec<ApiVersion>, SalesforceError> {
        let reply = self.send(Call::new(Method::GET, host.url("/services/data/"), Surface::Rest)).await?;
        serde_json::from_slice(&reply.body).map_err(|err| SalesforceError::Protocol(format!("versions body: {err}")))
    }
}

impl OrgConnection {
    /// `GET /services/data/vXX.X/`: the data API's own answer to who owns the token.
    pub async fn identity(&self) -> Result<(OrgId, UserId), SalesforceError> {
        let reply = self.client.send(self.call(Method::GET, &data_path("/"))).await?;
        let resources: Resources = serde_json::from_slice(&reply.body)
            .map_err(|err| SalesforceError::Protocol(format!("resources body: {err}")))?;
        parse_identity_url(&resources.identity)
            .ok_or_else(|| SalesforceError::Protocol("identity URL without org and user ids".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_userinfo_body() {
        let body = r#"{
          "sub": "https://login.salesforce.com/id/00Dx0000000BV7zEAG/005x00000012Q9PAAU",
          "user_id": "005x00000012Q9PAAU", "organization_id": "00Dx0000000BV7zEAG",
          "preferred_username": "user@example.com", "nickname": "User1741",
          "name": "Jane Doe", "given_name": "Jane", "family_name": "Doe",
          "email": "jane@example.com", "email_verified": true, "zoneinfo": "Europe/Berlin",
          "photos": {"picture": "https://x", "thumbnail": "https://y"},
          "is_salesforce_integration_user": false,
          "urls": {"rest": "https://acme.my.salesforce.com/services/data/v{version}/"},
          "active": true, "user_type": "STANDARD", "language": "en_US", "locale": "en_US",
          "utcOffset": 3600000, "updated_at": "2025-01-01T00:00:00Z"
        }"#;
        let info: UserInfo = serde_json::from_str(body).unwrap();
        assert_eq!(info.user_id.as_str(), "005x00000012Q9PAAU");
        assert_eq!(info.organization_id.as_str(), "00Dx0000000BV7zEAG");
        assert!(info.active);
        assert_eq!(info.display_name(), "Jane Doe");
    }

    #[test]
    fn a_userinfo_body_without_active_is_not_active() {
        let info: UserInfo =
            serde_json::from_str(r#"{"user_id":"005x00000012Q9P","organization_id":"00Dx0000000BV7z"}"#).unwrap();
        assert!(!info.active);
        assert_eq!(info.user_id.as_str(), "005x00000012Q9PAAU");
    }

    #[test]
    fn parses_identity_urls() {
        let (org, user) =
            parse_identity_url("https://MyDomainName.my.salesforce.com/id/00DRO0000008aXd2AI/005RO000000HfnkYAC")
                .unwrap();
        assert_eq!(org.as_str(), "00DRO0000008aXd2AI");
        assert_eq!(user.as_str(), "005RO000000HfnkYAC");
        assert!(parse_identity_url("https://x/id/005RO000000HfnkYAC/00DRO0000008aXd2AI").is_none());
        assert!(parse_identity_url("https://x/other/00DRO0000008aXd2AI/005RO000000HfnkYAC").is_none());
    }
}
