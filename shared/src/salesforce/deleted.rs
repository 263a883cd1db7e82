//! getDeleted (docs/salesforce.md#get-deleted): ids deleted in a window, at most 15 days back.

use reqwest::Method;
use serde::Deserialize;

use super::{OrgConnection, SalesforceError, SfDateTime, data_path, is_api_name};

/// One deleted record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeletedRecord {
    pub id: String,
    #[serde(rename = "deletedDate")]
    pub deleted_date: SfDateTime,
}

/// The answer of getDeleted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeletedRecords {
    #[serde(rename = "deletedRecords", default)]
    pub deleted_records: Vec<DeletedRecord>,
    #[serde(rename = "earliestDateAvailable", default)]
    pub earliest_date_available: Option<SfDateTime>,
    /// Minute-granular; the next window starts here.
    #[serde(rename = "latestDateCovered", default)]
    pub latest_date_covered: Option<SfDateTime>,
}

impl OrgConnection {
    /// `GET /sobjects/{SObject}/deleted/?start=&end=`. A window older than the delete log answers
    /// `INVALID_REPLICATION_DATE` as [`SalesforceError::BadRequest`].
    pub async fn get_deleted(
        &self,
        sobject: &str,
        start: SfDateTime,
        end: SfDateTime,
    ) -> Result<DeletedRecords, SalesforceError> {
        if !is_api_name(sobject) {
            return Err(SalesforceError::Protocol("invalid sObject name".into()));
        }
        let encode =
            |t: SfDateTime| -> String { url::form_urlencoded::byte_serialize(t.iso8601().as_bytes()).collect() };
        let path = data_path(&format!("/sobjects/{sobject}/deleted/?start={}&end={}", encode(start), encode(end)));
        let reply = self.client.send(self.call(Method::GET, &path)).await?;
        serde_json::from_slice(&reply.body).map_err(|err| SalesforceError::Protocol(format!("getDeleted body: {err}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_body() {
        let body = r#"{"deletedRecords": [{"id": "a00D0000008pQRAIA2", "deletedDate": "2013-05-07T22:07:19.000+0000"}],
            "earliestDateAvailable": "2013-05-03T15:57:00.000+0000", "latestDateCovered": "2013-05-08T21:20:00.000+0000"}"#;
        let deleted: DeletedRecords = serde_json::from_str(body).unwrap();
        assert_eq!(deleted.deleted_records[0].id, "a00D0000008pQRAIA2");
        assert_eq!(deleted.latest_date_covered.unwrap().to_string(), "2013-05-08T21:20:00.000+0000");
    }
}
