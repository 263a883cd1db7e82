//! The Salesforce client: one pooled HTTP client, typed calls per API surface, typed errors.
//!
//! [`SalesforceClient`] holds the connection pool and answers calls that need no org binding
//! (userinfo, OAuth tokens, versions). [`OrgConnection`] binds a validated host, a bearer token and
//! an [`ApiMeter`] for the data API, Bulk API 2.0 and Apex REST.

mod apex;
mod bulk;
mod client;
mod collections;
mod datetime;
mod deleted;
mod describe;
mod error;
mod identity;
mod oauth;
mod query;
mod usage;

use std::sync::Arc;

pub use apex::{ACTIVITY_LIMIT, ActivityRequest, ActivityResponse, ActivityResult};
pub use bulk::{BulkJob, BulkJobState, BulkResultsPage};
pub use client::{ClientSettings, RetryPolicy, SalesforceClient};
pub use collections::{RecordError, RecordResult, RecordWrite, UpsertOutcome};
pub use datetime::{DateTimeError, SfDateTime};
pub use deleted::{DeletedRecord, DeletedRecords};
pub use describe::{DescribedField, PicklistValue, SObjectDescribe};
pub use error::SalesforceError;
pub use identity::{ApiVersion, UserInfo, parse_identity_url};
pub use oauth::{AuthorizationCode, JwtBearer, RsaSigningKey, TokenResponse};
pub use query::{FetchedPage, PageHeader, QueryOptions, QueryPage};
pub use usage::{ApiMeter, ApiUsage};

use crate::hosts::SalesforceHost;
use crate::tokens::AccessToken;

/// The one REST API version Outpost speaks (Spring '26).
pub const API_VERSION: &str = "66.0";

/// `/services/data/v66.0`.
pub(crate) fn data_path(rest: &str) -> String {
    format!("/services/data/v{API_VERSION}{rest}")
}

/// A connection to one org's API as one principal (a user's session or the integration user).
#[derive(Debug, Clone)]
pub struct OrgConnection {
    client: SalesforceClient,
    host: SalesforceHost,
    token: AccessToken,
    meter: Arc<ApiMeter>,
}

impl OrgConnection {
    /// Binds `client` to `host` with `token`, counting calls on `meter`.
    pub fn new(client: SalesforceClient, host: SalesforceHost, token: AccessToken, meter: Arc<ApiMeter>) -> Self {
        Self { client, host, token, meter }
    }

    /// The org's API host.
    pub fn host(&self) -> &SalesforceHost {
        &self.host
    }

    /// Calls made and the latest usage Salesforce reported.
    pub fn meter(&self) -> &Arc<ApiMeter> {
        &self.meter
    }

    fn call(&self, method: reqwest::Method, path: &str) -> client::Call<'_> {
        let mut call = client::Call::new(method, self.host.url(path), client::Surface::Rest);
        call.token = Some(&self.token);
        call.meter = Some(&self.meter);
        call
    }
}

/// Whether `name` is a plain API name (`Contact`, `Outpost_Id__c`) safe to put in a path.
fn is_api_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 80 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}
