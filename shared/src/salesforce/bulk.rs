//! Bulk API 2.0 query jobs (docs/salesforce.md#bulk): create, poll, read CSV results page by page via
//! `Sforce-Locator` until the literal `null`.

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{Body, Replay};
use super::{OrgConnection, SalesforceError, data_path};

/// A job's lifecycle state.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum BulkJobState {
    UploadComplete,
    InProgress,
    JobComplete,
    Failed,
    Aborted,
    #[serde(other)]
    Other,
}

impl BulkJobState {
    /// Whether the job will not change any more.
    pub fn is_terminal(&self) -> bool {
        matches!(self, BulkJobState::JobComplete | BulkJobState::Failed | BulkJobState::Aborted)
    }
}

/// A query job's info.
#[derive(Debug, Clone, Deserialize)]
pub struct BulkJob {
    pub id: String,
    pub state: BulkJobState,
    #[serde(rename = "errorMessage", default)]
    pub error_message: Option<String>,
    #[serde(rename = "numberRecordsProcessed", default)]
    pub records_processed: Option<u64>,
    /// Salesforce's clock when the job was created.
    #[serde(rename = "createdDate", default)]
    pub created_date: Option<super::SfDateTime>,
}

/// One page of CSV results.
#[derive(Debug, Clone)]
pub struct BulkResultsPage {
    pub csv: Bytes,
    /// The locator of the next page; `None` once Salesforce answered `null`.
    pub next_locator: Option<String>,
    pub records: Option<u64>,
}

impl BulkResultsPage {
    /// The page's rows, each read by the header's column names (an empty cell is `None`). Bytes
    /// that are not UTF-8, a broken quote or a short row are errors.
    pub fn rows<T: DeserializeOwned>(&self) -> Result<Vec<T>, SalesforceError> {
        csv::ReaderBuilder::new()
            .from_reader(self.csv.as_ref())
            .deserialize()
            .collect::<Result<_, _>>()
            .map_err(|err| SalesforceError::Protocol(format!("bulk results: {err}")))
    }
}

/// Job ids and locators go into paths and queries: keep them to what Salesforce issues.
fn is_token(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl OrgConnection {
    /// `POST /jobs/query`: starts a query (or queryAll) job. Not retried once sent: a resend could
    /// start a second job.
    pub async fn create_bulk_query(&self, soql: &str, include_deleted: bool) -> Result<BulkJob, SalesforceError> {
        let body = serde_json::json!({
            "operation": if include_deleted { "queryAll" } else { "query" },
            "query": soql,
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        let mut call = self.call(Method::POST, &data_path("/jobs/query"));
        call.body = Some(Body::Json(Bytes::from(body.to_string())));
        call.replay = Replay::OnlyIfNotSent;
        let reply = self.client.send(call).await?;
        serde_json::from_slice(&reply.body).map_err(|err| SalesforceError::Protocol(format!("bulk job: {err}")))
    }

    /// `GET /jobs/query/{id}`.
    pub async fn bulk_job(&self, job_id: &str) -> Result<BulkJob, SalesforceError> {
        if !is_token(job_id) {
            return Err(SalesforceError::Protocol("implausible job id".into()));
        }
        let reply = self.client.send(self.call(Method::GET, &data_path(&format!("/jobs/query/{job_id}")))).await?;
        serde_json::from_slice(&reply.body).map_err(|err| SalesforceError::Protocol(format!("bulk job: {err}")))
    }

    /// `GET /jobs/query/{id}/results[?locator=…][&maxRecords=…]`.
    pub async fn bulk_results(
        &self,
        job_id: &str,
        locator: Option<&str>,
        max_records: Option<u32>,
    ) -> Result<BulkResultsPage, SalesforceError> {
        if !is_token(job_id) || locator.is_some_and(|l| !is_token(l)) {
            return Err(SalesforceError::Protocol("implausible job id or locator".into()));
        }
        let mut query = Vec::new();
        if let Some(locator) = locator {
            query.push(format!("locator={locator}"));
        }
        if let Some(max) = max_records {
            query.push(format!("maxRecords={max}"));
        }
        let suffix = if query.is_empty() { String::new() } else { format!("?{}", query.join("&")) };
        let mut call = self.call(Method::GET, &data_path(&format!("/jobs/query/{job_id}/results{suffix}")));
        call.accept = "text/csv";
        let reply = self.client.send(call).await?;
        let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let next_locator = header("sforce-locator").filter(|l| l != "null" && !l.is_empty());
        let records = header("sforce-numberofrecords").and_then(|n| n.parse().ok());
        Ok(BulkResultsPage { csv: reply.body, next_locator, records })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Row {
        #[serde(rename = "Id")]
        id: String,
        #[serde(rename = "Name")]
        name: Option<String>,
        #[serde(rename = "Note")]
        note: String,
        #[serde(rename = "Flag")]
        flag: Option<bool>,
    }

    fn page(csv: &[u8]) -> BulkResultsPage {
        BulkResultsPage { csv: Bytes::copy_from_slice(csv), next_locator: None, records: None }
    }

    #[test]
    fn reads_rows_by_header_name_with_quotes_and_both_line_endings() {
        let csv = b"\"Id\",\"Note\",\"Name\",\"Flag\"\n\"003A\",\"said \"\"hi\"\"\",\"Doe, Jane\",true\r\n003B,\"multi\nline\",,\n";
        let rows: Vec<Row> = page(csv).rows().unwrap();
        assert_eq!(
            rows,
            vec![
                Row { id: "003A".into(), name: Some("Doe, Jane".into()), note: "said \"hi\"".into(), flag: Some(true) },
                Row { id: "003B".into(), name: None, note: "multi\nline".into(), flag: None },
            ]
        );
        assert!(page(b"").rows::<Row>().unwrap().is_empty());
    }

    #[test]
    fn bad_bytes_and_broken_rows_are_errors_never_mangled_text() {
        assert!(page(b"Id,Note,Name,Flag\n003A,caf\xe9,x,true\n").rows::<Row>().is_err());
        assert!(page(b"Id,Note,Name,Flag\n003A,\"open,x,true\n").rows::<Row>().is_err());
        assert!(page(b"Id,Note,Name,Flag\n003A,a,b\n").rows::<Row>().is_err());
        assert!(page(b"Id,Note,Name,Flag\n003A,a,b,maybe\n").rows::<Row>().is_err());
    }

    #[test]
    fn job_states_parse_including_unknown_ones() {
        let job: BulkJob = serde_json::from_str(
            r#"{"id":"750R0000000zlh9IAA","operation":"query","object":"Contact","state":"Failed","errorMessage":"boom"}"#,
        )
        .unwrap();
        assert_eq!(job.state, BulkJobState::Failed);
        assert!(job.state.is_terminal());
        let job: BulkJob = serde_json::from_str(r#"{"id":"750R0000000zlh9IAA","state":"Queued"}"#).unwrap();
        assert_eq!(job.state, BulkJobState::Other);
    }
}
