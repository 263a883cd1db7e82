//! Bulk API 2.0 query jobs (SALESFORCE-API.md §7): create, poll, read CSV results page by page via
//! `Sforce-Locator` until the literal `null`.

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;

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
        call.headers.push(("Accept", "text/csv".into()));
        let reply = self.client.send(call).await?;
        let header = |name: &str| reply.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let next_locator = header("sforce-locator").filter(|l| l != "null" && !l.is_empty());
        let records = header("sforce-numberofrecords").and_then(|n| n.parse().ok());
        Ok(BulkResultsPage { csv: reply.body, next_locator, records })
    }
}

/// Rows of an RFC 4180 CSV document (quoted fields, doubled quotes, LF or CRLF).
pub struct CsvRows<'a> {
    data: &'a [u8],
    position: usize,
}

impl<'a> CsvRows<'a> {
    /// Iterates over `data`'s rows, header row included.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, position: 0 }
    }
}

impl Iterator for CsvRows<'_> {
    type Item = Result<Vec<String>, SalesforceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.data.len() {
            return None;
        }
        let mut fields = Vec::new();
        let mut field = Vec::new();
        let mut quoted = false;
        let mut at_field_start = true;
        while self.position < self.data.len() {
            let byte = self.data[self.position];
            self.position += 1;
            if quoted {
                match byte {
                    b'"' if self.data.get(self.position) == Some(&b'"') => {
                        field.push(b'"');
                        self.position += 1;
                    }
                    b'"' => quoted = false,
                    _ => field.push(byte),
                }
                continue;
            }
            match byte {
                b'"' if at_field_start => {
                    quoted = true;
                    at_field_start = false;
                }
                b',' => {
                    fields.push(String::from_utf8_lossy(&field).into_owned());
                    field.clear();
                    at_field_start = true;
                }
                b'\r' if self.data.get(self.position) == Some(&b'\n') => {}
                b'\n' => {
                    fields.push(String::from_utf8_lossy(&field).into_owned());
                    return Some(Ok(fields));
                }
                _ => {
                    field.push(byte);
                    at_field_start = false;
                }
            }
        }
        if quoted {
            return Some(Err(SalesforceError::Protocol("unterminated quoted CSV field".into())));
        }
        fields.push(String::from_utf8_lossy(&field).into_owned());
        Some(Ok(fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_fields_and_both_line_endings() {
        let csv = b"\"Id\",\"Name\",\"Note\"\n\"003A\",\"Doe, Jane\",\"said \"\"hi\"\"\"\r\n003B,,\"multi\nline\"\n";
        let rows: Vec<Vec<String>> = CsvRows::new(csv).collect::<Result<_, _>>().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0], vec!["Id", "Name", "Note"]);
        assert_eq!(rows[1], vec!["003A", "Doe, Jane", "said \"hi\""]);
        assert_eq!(rows[2], vec!["003B", "", "multi\nline"]);
    }

    #[test]
    fn reports_an_unterminated_quote() {
        let mut rows = CsvRows::new(b"\"open");
        assert!(rows.next().unwrap().is_err());
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
