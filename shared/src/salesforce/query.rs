//! SOQL query and queryAll as a stream of typed pages that follows `nextRecordsUrl` to the end
//! (docs/salesforce.md#query). No hidden cap: the stream ends when Salesforce says `done`.

use futures::Stream;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use super::{OrgConnection, SalesforceError, data_path};

/// How to run a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryOptions {
    /// `queryAll`: include deleted (recycle bin) and archived rows.
    pub include_deleted: bool,
    /// `Sforce-Query-Options: batchSize=N` (200..=2000; Salesforce treats it as a hint).
    pub batch_size: Option<u16>,
}

/// One page of results: its rows are `Vec<Row>`, or kept raw.
#[derive(Debug, Clone, Deserialize)]
pub struct QueryPage<Records> {
    /// Rows matched by the whole query, not this page.
    #[serde(rename = "totalSize")]
    pub total_size: u64,
    pub done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    pub next_records_url: Option<String>,
    pub records: Records,
}

impl<T: DeserializeOwned> QueryPage<Vec<T>> {
    /// Parses a page body.
    pub fn from_slice(body: &[u8]) -> Result<Self, SalesforceError> {
        serde_json::from_slice(body).map_err(|err| SalesforceError::Protocol(format!("query page: {err}")))
    }

    /// Where the query goes after this page; `None` at its end.
    pub fn next(&self) -> Result<Option<&str>, SalesforceError> {
        next_page(self.next_records_url.as_deref(), self.done)
    }
}

fn next_page(next_records_url: Option<&str>, done: bool) -> Result<Option<&str>, SalesforceError> {
    match (next_records_url, done) {
        (Some(url), false) => Ok(Some(url)),
        (None, false) => Err(SalesforceError::Protocol("a page not done without nextRecordsUrl".into())),
        (_, true) => Ok(None),
    }
}

/// What a page says about itself: enough to ask for the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageHeader {
    /// Rows matched by the whole query, not this page.
    pub total_size: u64,
    pub done: bool,
    pub next_records_url: Option<String>,
    /// Whether this page holds any row.
    pub has_records: bool,
}

impl PageHeader {
    /// Where the query goes after this page; `None` at its end.
    pub fn next(&self) -> Result<Option<&str>, SalesforceError> {
        next_page(self.next_records_url.as_deref(), self.done)
    }
}

/// A page whose header is read and whose records are kept as raw JSON: the fetcher asks for the
/// next page while this one is parsed elsewhere.
#[derive(Debug)]
pub struct FetchedPage {
    pub header: PageHeader,
    records: Box<RawValue>,
}

impl FetchedPage {
    /// Reads a page body: its header, and its records array checked as JSON but not parsed.
    pub fn from_slice(body: &[u8]) -> Result<Self, SalesforceError> {
        let page: QueryPage<Box<RawValue>> =
            serde_json::from_slice(body).map_err(|err| SalesforceError::Protocol(format!("query page: {err}")))?;
        let rows = page.records.get().trim_start().strip_prefix('[').map(str::trim_start);
        let has_records = rows.is_some_and(|rows| !rows.starts_with(']'));
        let header = PageHeader {
            total_size: page.total_size,
            done: page.done,
            next_records_url: page.next_records_url,
            has_records,
        };
        Ok(Self { header, records: page.records })
    }

    /// The page's records parsed as `T`, which may borrow from the page.
    pub fn records<'a, T: Deserialize<'a>>(&'a self) -> Result<Vec<T>, SalesforceError> {
        serde_json::from_str(self.records.get()).map_err(|err| SalesforceError::Protocol(format!("query page: {err}")))
    }
}

/// A `nextRecordsUrl` must be a data-API query path on the same host; anything else is refused
/// rather than followed.
fn checked_next_path(next: &str) -> Result<&str, SalesforceError> {
    let plausible = next.starts_with("/services/data/v")
        && (next.contains("/query/") || next.contains("/queryAll/"))
        && !next.contains("..")
        && !next.contains("//")
        && next.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_'));
    if plausible { Ok(next) } else { Err(SalesforceError::Protocol("implausible nextRecordsUrl".into())) }
}

enum Cursor {
    First(String),
    Next(String),
    Done,
}

impl OrgConnection {
    /// The first page of `soql`.
    #[tracing::instrument(skip_all, fields(host = %self.host, all = options.include_deleted))]
    pub async fn query_first(&self, soql: &str, options: QueryOptions) -> Result<FetchedPage, SalesforceError> {
        let resource = if options.include_deleted { "/queryAll/" } else { "/query/" };
        let encoded: String = url::form_urlencoded::byte_serialize(soql.as_bytes()).collect();
        let mut call = self.call(Method::GET, &data_path(&format!("{resource}?q={encoded}")));
        if let Some(size) = options.batch_size {
            call.headers.push(("Sforce-Query-Options", format!("batchSize={size}")));
        }
        FetchedPage::from_slice(&self.client.send(call).await?.body)
    }

    /// The page a `nextRecordsUrl` points at.
    pub async fn query_next(
        &self,
        next_records_url: &str,
        options: QueryOptions,
    ) -> Result<FetchedPage, SalesforceError> {
        let mut call = self.call(Method::GET, checked_next_path(next_records_url)?);
        if let Some(size) = options.batch_size {
            call.headers.push(("Sforce-Query-Options", format!("batchSize={size}")));
        }
        FetchedPage::from_slice(&self.client.send(call).await?.body)
    }

    /// Every page of `soql`, following `nextRecordsUrl` until `done`.
    pub fn query<T: DeserializeOwned>(
        &self,
        soql: &str,
        options: QueryOptions,
    ) -> impl Stream<Item = Result<Vec<T>, SalesforceError>> + '_ {
        futures::stream::try_unfold(Cursor::First(soql.to_owned()), move |cursor| async move {
            let page = match cursor {
                Cursor::First(soql) => self.query_first(&soql, options).await?,
                Cursor::Next(url) => self.query_next(&url, options).await?,
                Cursor::Done => return Ok(None),
            };
            let next = match page.header.next()? {
                Some(url) => Cursor::Next(url.to_owned()),
                None => Cursor::Done,
            };
            Ok(Some((page.records::<T>()?, next)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Row {
        #[serde(rename = "Id")]
        id: String,
    }

    #[test]
    fn parses_paginated_and_final_pages() {
        let first = br#"{"totalSize": 3, "done": false, "nextRecordsUrl": "/services/data/v26.0/query/01gD0000002HU6KIAW-2000",
            "records": [{"attributes": {"type": "Contact", "url": "/services/data/v66.0/sobjects/Contact/003A"}, "Id": "003A"}]}"#;
        let page: QueryPage<Vec<Row>> = QueryPage::from_slice(first).unwrap();
        assert_eq!(page.total_size, 3);
        assert!(!page.done);
        assert_eq!(page.records[0].id, "003A");
        assert!(checked_next_path(page.next_records_url.as_deref().unwrap()).is_ok());
        let empty: QueryPage<Vec<Row>> = QueryPage::from_slice(br#"{"totalSize":0,"done":true,"records":[]}"#).unwrap();
        assert!(empty.done && empty.next_records_url.is_none());
    }

    #[test]
    fn a_fetched_page_reads_its_header_and_keeps_its_rows_for_later() {
        let body = br#"{"totalSize":4001,"done":false,"nextRecordsUrl":"/services/data/v66.0/query/01gxx-2000",
            "records":[{"attributes":{"type":"Contact"},"Id":"003A"},{"Id":"003B"}]}"#;
        let page = FetchedPage::from_slice(body).unwrap();
        assert_eq!(
            page.header,
            PageHeader {
                total_size: 4001,
                done: false,
                next_records_url: Some("/services/data/v66.0/query/01gxx-2000".into()),
                has_records: true,
            }
        );
        let rows: Vec<Row> = page.records().unwrap();
        assert_eq!(rows.iter().map(|row| row.id.as_str()).collect::<Vec<_>>(), ["003A", "003B"]);
        // The header may come after the rows: serde reads any field order.
        let reordered = br#"{"records":[],"done":true,"totalSize":0}"#;
        let page = FetchedPage::from_slice(reordered).unwrap();
        assert!(!page.header.has_records && page.header.next().unwrap().is_none());
        let spaced =
            FetchedPage::from_slice(b"{ \"totalSize\" : 3 ,\n \"done\" : true , \"records\" :\t[ \r\n] }").unwrap();
        assert!(!spaced.header.has_records);
    }

    #[test]
    fn malformed_pages_are_errors() {
        for malformed in [
            r#"{"totalSize":1,"done":false,"records":[{"Id":"003A"}]"#,
            r#"{"totalSize":0,"done":true,"records":[]"#,
            r#"{"totalSize":0,"done":true,"records":[]]garbage"#,
            r#"{"totalSize":1,"done":true,"records":[{"Id":"003A"]}"#,
        ] {
            assert!(FetchedPage::from_slice(malformed.as_bytes()).is_err(), "{malformed}");
        }
        let not_done = FetchedPage::from_slice(br#"{"totalSize":1,"done":false,"records":[]}"#).unwrap();
        assert!(not_done.header.next().is_err());
        let bad_row = FetchedPage::from_slice(br#"{"totalSize":1,"done":true,"records":[{"Id":3}]}"#).unwrap();
        assert!(bad_row.records::<Row>().is_err());
    }

    #[test]
    fn refuses_next_urls_that_leave_the_query_resource() {
        for bad in [
            "https://evil.example/services/data/v64.0/query/x",
            "//evil.example/services/data/v64.0/query/x",
            "/services/data/v64.0/sobjects/User",
            "/services/data/v64.0/query/../../oauth2/userinfo",
            "/services/data/v64.0/query/x?redirect=1",
            "/services/data/v64.0/query/x@evil",
        ] {
            assert!(checked_next_path(bad).is_err(), "{bad}");
        }
        assert!(checked_next_path("/services/data/v64.0/queryAll/0r8xx0000000001AAA-4000").is_ok());
    }
}
