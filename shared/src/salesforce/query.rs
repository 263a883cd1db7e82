//! SOQL query and queryAll as a stream of typed pages that follows `nextRecordsUrl` to the end
//! (SALESFORCE-API.md §5.1). No hidden cap: the stream ends when Salesforce says `done`.

use bytes::Bytes;
use futures::Stream;
use reqwest::Method;
use serde::Deserialize;
use serde::de::{DeserializeOwned, IgnoredAny};

use super::{OrgConnection, SalesforceError, data_path};

/// How to run a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueryOptions {
    /// `queryAll`: include deleted (recycle bin) and archived rows.
    pub include_deleted: bool,
    /// `Sforce-Query-Options: batchSize=N` (200..=2000; Salesforce treats it as a hint).
    pub batch_size: Option<u16>,
}

/// One page of results.
#[derive(Debug, Clone, Deserialize)]
pub struct QueryPage<T> {
    /// Rows matched by the whole query, not this page.
    #[serde(rename = "totalSize")]
    pub total_size: u64,
    pub done: bool,
    #[serde(rename = "nextRecordsUrl", default)]
    pub next_records_url: Option<String>,
    pub records: Vec<T>,
}

impl<T> QueryPage<T> {
    /// Parses a page body.
    pub fn from_slice(body: &[u8]) -> Result<Self, SalesforceError>
    where
        T: DeserializeOwned,
    {
        let text = std::str::from_utf8(body).map_err(|err| SalesforceError::Protocol(format!("query page: {err}")))?;
        Self::from_text(text)
    }

    /// Parses a page body already known to be UTF-8 (its strings are not checked again); the
    /// records may borrow from it.
    pub fn from_text<'a>(text: &'a str) -> Result<Self, SalesforceError>
    where
        T: Deserialize<'a>,
    {
        serde_json::from_str(text).map_err(|err| SalesforceError::Protocol(format!("query page: {err}")))
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
    /// Reads a page's header without scanning its records when, as Salesforce writes them, the
    /// header's fields come before `records` (§5.1); otherwise from the whole page.
    fn read(body: &str) -> Result<Self, SalesforceError> {
        if let Some(header) = Self::read_leading(body) {
            return Ok(header);
        }
        let page = QueryPage::<IgnoredAny>::from_text(body)?;
        let has_records = !page.records.is_empty();
        Ok(Self::of(page, has_records))
    }

    /// The header `page` carries; whether it has rows is told apart.
    fn of(page: QueryPage<IgnoredAny>, has_records: bool) -> Self {
        Self { total_size: page.total_size, done: page.done, next_records_url: page.next_records_url, has_records }
    }

    /// The header from the fields before the first `"records"` key, if they hold all of it.
    fn read_leading(body: &str) -> Option<Self> {
        const KEY: &str = "\"records\"";
        const JSON_SPACE: [char; 4] = [' ', '\t', '\n', '\r'];
        let at = body.find(KEY)?;
        let rows = body[at + KEY.len()..].trim_start_matches(JSON_SPACE).strip_prefix(':')?;
        let rows = rows.trim_start_matches(JSON_SPACE).strip_prefix('[')?;
        // Closed with an empty `records`, the text before the key parses only if the key is one of
        // the page's own (not inside a string or a nested object).
        let leading = format!("{}{KEY}:[]}}", &body[..at]);
        let page = QueryPage::<IgnoredAny>::from_text(&leading).ok()?;
        let has_records = !rows.trim_start_matches(JSON_SPACE).starts_with(']');
        // A `nextRecordsUrl` after the records would be missed: such a page is read whole.
        (page.done || page.next_records_url.is_some()).then(|| Self::of(page, has_records))
    }

    /// Where the query goes after this page; `None` at its end.
    pub fn next(&self) -> Result<Option<&str>, SalesforceError> {
        next_page(self.next_records_url.as_deref(), self.done)
    }
}

/// A page whose header is read and whose records are not yet: a reader can ask for the next page
/// before it parses this one.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    pub header: PageHeader,
    /// Checked as UTF-8 once, so neither parse checks each string again.
    body: String,
}

impl FetchedPage {
    fn new(body: Bytes) -> Result<Self, SalesforceError> {
        let body = String::from_utf8(body.into())
            .map_err(|err| SalesforceError::Protocol(format!("query page: {}", err.utf8_error())))?;
        Ok(Self { header: PageHeader::read(&body)?, body })
    }

    /// The page with its records parsed as `T`, which may borrow from the page.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<QueryPage<T>, SalesforceError> {
        QueryPage::from_text(&self.body)
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
        FetchedPage::new(self.client.send(call).await?.body)
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
        FetchedPage::new(self.client.send(call).await?.body)
    }

    /// Every page of `soql`, following `nextRecordsUrl` until `done`.
    pub fn query<T: DeserializeOwned>(
        &self,
        soql: &str,
        options: QueryOptions,
    ) -> impl Stream<Item = Result<QueryPage<T>, SalesforceError>> + '_ {
        futures::stream::try_unfold(Cursor::First(soql.to_owned()), move |cursor| async move {
            let page: QueryPage<T> = match cursor {
                Cursor::First(soql) => self.query_first(&soql, options).await?.parse()?,
                Cursor::Next(url) => self.query_next(&url, options).await?.parse()?,
                Cursor::Done => return Ok(None),
            };
            let next = match page.next()? {
                Some(url) => Cursor::Next(url.to_owned()),
                None => Cursor::Done,
            };
            Ok(Some((page, next)))
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
        let page: QueryPage<Row> = QueryPage::from_slice(first).unwrap();
        assert_eq!(page.total_size, 3);
        assert!(!page.done);
        assert_eq!(page.records[0].id, "003A");
        assert!(checked_next_path(page.next_records_url.as_deref().unwrap()).is_ok());
        let empty: QueryPage<Row> = QueryPage::from_slice(br#"{"totalSize":0,"done":true,"records":[]}"#).unwrap();
        assert!(empty.done && empty.next_records_url.is_none());
    }

    #[test]
    fn reads_a_leading_header_without_reading_the_records() {
        // Records that are not even JSON: only a read that stops at `records` gets through them.
        let first = r#"{"totalSize":4001,"done":false,"nextRecordsUrl":"/services/data/v66.0/query/01gxx-2000","records":[{not json"#;
        let header = PageHeader::read(first).unwrap();
        assert_eq!(
            header,
            PageHeader {
                total_size: 4001,
                done: false,
                next_records_url: Some("/services/data/v66.0/query/01gxx-2000".into()),
                has_records: true,
            }
        );
        let empty = PageHeader::read("{ \"totalSize\" : 0 ,\n \"done\" : true , \"records\" :\t[ \r\n] }").unwrap();
        assert!(empty.done && !empty.has_records && empty.next().unwrap().is_none());
    }

    #[test]
    fn reads_the_whole_page_when_the_header_is_not_all_before_the_records() {
        let next = "/services/data/v66.0/query/01gxx-2000";
        for body in [
            format!(r#"{{"totalSize":3,"done":false,"records":[{{"Id":"003A"}}],"nextRecordsUrl":"{next}"}}"#),
            format!(r#"{{"records":[{{"Id":"003A"}}],"nextRecordsUrl":"{next}","done":false,"totalSize":3}}"#),
            // The first `"records"` is a value, then a nested object's key.
            format!(
                r#"{{"note":"records","totalSize":3,"done":false,"nextRecordsUrl":"{next}","records":[{{"Id":"003A"}}]}}"#
            ),
            format!(
                r#"{{"meta":{{"records":[]}},"totalSize":3,"done":false,"nextRecordsUrl":"{next}","records":[{{"Id":"003A"}}]}}"#
            ),
        ] {
            let header = PageHeader::read(&body).unwrap();
            assert_eq!(
                (header.total_size, header.next().unwrap(), header.has_records),
                (3, Some(next), true),
                "{body}"
            );
        }
        // Read whole, a page is checked whole.
        assert!(PageHeader::read(r#"{"totalSize":1,"done":false,"records":[{"Id":"003A"}]"#).is_err());
        assert!(PageHeader::read(r#"{"totalSize":1,"done":false,"records":[]}"#).unwrap().next().is_err());
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
