//! sObject Collections update and upsert-by-external-id (docs/salesforce.md#collections): requests of at
//! most 200 records, `allOrNone=false`, per-record results in request order.

use bytes::Bytes;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::Body;
use super::{OrgConnection, SalesforceError, data_path, is_api_name};

/// Most records one Collections request takes.
pub const COLLECTION_LIMIT: usize = 200;

/// One record to write: its type, its id (update) or none (upsert by external id), and fields.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordWrite {
    pub sobject: String,
    pub id: Option<String>,
    pub fields: Map<String, Value>,
}

impl RecordWrite {
    fn to_json(&self) -> Value {
        let mut record = Map::with_capacity(self.fields.len() + 2);
        record.insert("attributes".into(), serde_json::json!({ "type": self.sobject }));
        if let Some(id) = &self.id {
            record.insert("id".into(), Value::String(id.clone()));
        }
        record.extend(self.fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        Value::Object(record)
    }
}

/// A per-record failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordError {
    #[serde(rename = "statusCode")]
    pub status_code: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub fields: Vec<String>,
}

/// The outcome of one record, in request order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordResult {
    #[serde(default)]
    pub id: Option<String>,
    pub success: bool,
    #[serde(default)]
    pub errors: Vec<RecordError>,
    /// Upserts only: whether the record was created.
    #[serde(default)]
    pub created: Option<bool>,
}

impl RecordResult {
    /// Whether the failure is worth retrying later (another transaction held the row).
    pub fn is_retryable_failure(&self) -> bool {
        !self.success && self.errors.iter().any(|e| e.status_code == "UNABLE_TO_LOCK_ROW")
    }
}

/// What a single-record upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created { id: String },
    Updated,
}

#[derive(Deserialize)]
struct UpsertBody {
    id: String,
}

impl OrgConnection {
    /// `PATCH /composite/sobjects`: updates records by id, 200 per request.
    pub async fn update_records(&self, records: &[RecordWrite]) -> Result<Vec<RecordResult>, SalesforceError> {
        if records.iter().any(|r| r.id.is_none() || !is_api_name(&r.sobject)) {
            return Err(SalesforceError::Protocol("an update needs a type and an id per record".into()));
        }
        self.write_collections(&data_path("/composite/sobjects"), records).await
    }

    /// `PATCH /composite/sobjects/{SObject}/{ExternalIdField}`: upserts by external id.
    pub async fn upsert_records(
        &self,
        sobject: &str,
        external_id_field: &str,
        records: &[RecordWrite],
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        if !is_api_name(sobject) || !is_api_name(external_id_field) {
            return Err(SalesforceError::Protocol("invalid sObject or field name".into()));
        }
        if records.iter().any(|r| r.id.is_some() || r.sobject != sobject) {
            return Err(SalesforceError::Protocol("an upsert takes records of the URI's type without ids".into()));
        }
        let path = data_path(&format!("/composite/sobjects/{sobject}/{external_id_field}"));
        self.write_collections(&path, records).await
    }

    /// `PATCH /sobjects/{SObject}/{ExternalIdField}/{value}`: one record; `300` becomes
    /// [`SalesforceError::MultipleMatches`].
    pub async fn upsert_one(
        &self,
        sobject: &str,
        external_id_field: &str,
        value: &str,
        fields: &Map<String, Value>,
    ) -> Result<UpsertOutcome, SalesforceError> {
        if !is_api_name(sobject) || !is_api_name(external_id_field) {
            return Err(SalesforceError::Protocol("invalid sObject or field name".into()));
        }
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let path = data_path(&format!("/sobjects/{sobject}/{external_id_field}/{encoded}"));
        let mut call = self.call(Method::PATCH, &path);
        call.body = Some(Body::Json(Bytes::from(Value::Object(fields.clone()).to_string())));
        let reply = self.client.send(call).await?;
        if reply.status == 201 {
            let body: UpsertBody = serde_json::from_slice(&reply.body)
                .map_err(|err| SalesforceError::Protocol(format!("upsert body: {err}")))?;
            Ok(UpsertOutcome::Created { id: body.id })
        } else {
            Ok(UpsertOutcome::Updated)
        }
    }

    async fn write_collections(
        &self,
        path: &str,
        records: &[RecordWrite],
    ) -> Result<Vec<RecordResult>, SalesforceError> {
        let mut results = Vec::with_capacity(records.len());
        for chunk in records.chunks(COLLECTION_LIMIT) {
            let body = serde_json::json!({
                "allOrNone": false,
                "records": chunk.iter().map(RecordWrite::to_json).collect::<Vec<_>>(),
            });
            let mut call = self.call(Method::PATCH, path);
            call.body = Some(Body::Json(Bytes::from(body.to_string())));
            let reply = self.client.send(call).await?;
            let chunk_results: Vec<RecordResult> = serde_json::from_slice(&reply.body)
                .map_err(|err| SalesforceError::Protocol(format!("collections body: {err}")))?;
            if chunk_results.len() != chunk.len() {
                return Err(SalesforceError::Protocol(format!(
                    "collections answered {} results for {} records",
                    chunk_results.len(),
                    chunk.len()
                )));
            }
            results.extend(chunk_results);
        }
        Ok(results)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_records_with_attributes_and_id() {
        let mut fields = Map::new();
        fields.insert("HasOptedOutOfEmail".into(), Value::Bool(true));
        let write = RecordWrite { sobject: "Contact".into(), id: Some("003q000000KvQ1tAAF".into()), fields };
        assert_eq!(
            write.to_json(),
            serde_json::json!({"attributes": {"type": "Contact"}, "id": "003q000000KvQ1tAAF", "HasOptedOutOfEmail": true})
        );
    }

    #[test]
    fn parses_mixed_per_record_results() {
        let body = r#"[{"id":"003A","success":true,"errors":[],"created":true},
            {"success":false,"errors":[{"statusCode":"UNABLE_TO_LOCK_ROW","message":"locked","fields":[]}]},
            {"success":false,"errors":[{"statusCode":"DUPLICATE_VALUE","message":"dup","fields":["Email"]}]}]"#;
        let results: Vec<RecordResult> = serde_json::from_str(body).unwrap();
        assert_eq!(results[0].created, Some(true));
        assert!(results[1].is_retryable_failure());
        assert!(!results[2].is_retryable_failure());
        assert_eq!(results[2].errors[0].fields, vec!["Email"]);
    }
}
