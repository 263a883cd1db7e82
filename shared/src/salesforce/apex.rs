//! Calls into the package's Apex REST class `@RestResource(urlMapping='/outpost/v1/*')`
//! (docs/salesforce.md#apex-rest) with the integration user's token.

use bytes::Bytes;
use reqwest::Method;
use serde::{Deserialize, Serialize};

use super::client::{Body, Replay};
use super::{OrgConnection, SalesforceError};
use crate::ids::RecordId;
use crate::namespace::{Namespace, apex_rest_path};

/// Records that a recipient list was sent to Contacts/Leads: one completed Task per `whoId`.
#[derive(Debug, Clone, Serialize)]
pub struct ActivityRequest {
    pub subject: String,
    pub description: Option<String>,
    /// `YYYY-MM-DD`.
    #[serde(rename = "activityDate")]
    pub activity_date: String,
    #[serde(rename = "whoIds")]
    pub who_ids: Vec<RecordId>,
}

/// The outcome per `whoId`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActivityResult {
    #[serde(rename = "whoId")]
    pub who_id: String,
    pub success: bool,
    #[serde(rename = "taskId", default)]
    pub task_id: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// The Apex class's answer.
#[derive(Debug, Clone, Deserialize)]
pub struct ActivityResponse {
    pub results: Vec<ActivityResult>,
}

/// Most `whoIds` the Apex class takes in one call.
pub const ACTIVITY_LIMIT: usize = 200;

impl OrgConnection {
    /// `POST /services/apexrest/[<namespace>/]outpost/v1/activity`. Creates Tasks, so it is never
    /// resent once sent.
    pub async fn record_activity(
        &self,
        namespace: Option<&Namespace>,
        request: &ActivityRequest,
    ) -> Result<ActivityResponse, SalesforceError> {
        if request.who_ids.is_empty() || request.who_ids.len() > ACTIVITY_LIMIT {
            return Err(SalesforceError::Protocol(format!("an activity call takes 1 to {ACTIVITY_LIMIT} records")));
        }
        let body = serde_json::to_vec(request).map_err(|err| SalesforceError::Protocol(err.to_string()))?;
        let mut call = self.call(Method::POST, &apex_rest_path(namespace, "outpost/v1/activity"));
        call.body = Some(Body::Json(Bytes::from(body)));
        call.replay = Replay::OnlyIfNotSent;
        let reply = self.client.send(call).await?;
        serde_json::from_slice(&reply.body).map_err(|err| SalesforceError::Protocol(format!("activity body: {err}")))
    }
}
