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
    /// The header `page` carries.
    fn of(page: QueryPage<IgnoredAny>) -> Self {
        let has_records = !page.records.is_empty();
        Self { total_size: page.total_size, done: page.done, next_records_url: page.next_records_url, has_records }
    }

    /// Where the query goes after this page; `None` at its end.
    pub fn next(&self) -> Result<Option<&str>, SalesforceError> {
        next_page(self.next_records_url.as_deref(), self.done)
    }
}

const JSON_SPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// The header of a page whose header fields come before a non-empty `records` array, as
/// Salesforce writes them (§5.1), read without its records, and where its first row starts.
/// `None` for any other page, which is then read whole: an empty one (nothing else would check
/// it), or one whose first `"records"` is not the page's own key.
fn leading_header(body: &str) -> Option<(PageHeader, usize)> {
    const KEY: &str = "\"records\"";
    let at = body.find(KEY)?;
    // A key follows `{` or `,`; this `"records"` might otherwise sit inside a string.
    body[..at].trim_end_matches(JSON_SPACE).ends_with(['{', ',']).then_some(())?;
    let after_key = body[at + KEY.len()..].trim_start_matches(JSON_SPACE).strip_prefix(':')?;
    let rows = after_key.trim_start_matches(JSON_SPACE).strip_prefix('[')?.trim_start_matches(JSON_SPACE);
    if rows.starts_with(']') {
        return None;
    }
    // Closed with an empty `records`, the text before the key parses only if the key is the
    // page's own: one opening a string at the top level, after complete fields.
    let page = QueryPage::<IgnoredAny>::from_text(&format!("{}{KEY}:[]}}", &body[..at])).ok()?;
    let header = PageHeader { has_records: true, ..PageHeader::of(page) };
    // A `nextRecordsUrl` after the records would be missed: such a page is read whole.
    (header.done || header.next_records_url.is_some()).then(|| (header, body.len() - rows.len()))
}

/// A page whose header is read and whose records are not yet: a reader can ask for the next page
/// before it parses this one.
#[derive(Debug, Clone)]
pub struct FetchedPage {
    pub header: PageHeader,
    /// Checked as UTF-8 once, so neither parse checks each string again.
    body: String,
    /// Where the first row starts, when the header was read from the fields before it.
    rows_at: Option<usize>,
}

impl FetchedPage {
    fn new(body: Bytes) -> Result<Self, SalesforceError> {
        let body = String::from_utf8(body.into())
            .map_err(|err| SalesforceError::Protocol(format!("query page: {}", err.utf8_error())))?;
        Self::from_body(body)
    }

    /// Reads a page already in hand.
    pub fn from_body(body: String) -> Result<Self, SalesforceError> {
        let (header, rows_at) = match leading_header(&body) {
            Some((header, rows_at)) => (header, Some(rows_at)),
            None => (PageHeader::of(QueryPage::from_text(&body)?), None),
        };
        Ok(Self { header, body, rows_at })
    }

    /// The page with its records parsed as `T`, which may borrow from the page.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<QueryPage<T>, SalesforceError> {
        QueryPage::from_text(&self.body)
    }

    /// The page from its first row to its end, when its header was read from the fields before
    /// the rows (so the rest of the page is `row, ..., row]` and whatever follows the array).
    pub fn rows(&self) -> Option<&str> {
        self.rows_at.and_then(|at| self.body.get(at..))
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
        // Rows that are not even JSON: only a read that stops at `records` gets past them.
        let first = r#"{"totalSize":4001,"done":false,"nextRecordsUrl":"/services/data/v66.0/query/01gxx-2000","records": [{not json"#;
        let page = FetchedPage::from_body(first.to_owned()).unwrap();
        assert_eq!(
            page.header,
            PageHeader {
                total_size: 4001,
                done: false,
                next_records_url: Some("/services/data/v66.0/query/01gxx-2000".into()),
                has_records: true,
            }
        );
        assert_eq!(page.rows(), Some("{not json"));
    }

    #[test]
    fn reads_the_whole_page_when_its_leading_fields_cannot_vouch_for_it() {
        let next = "/services/data/v66.0/query/01gxx-2000";
        let row = r#"{"Id":"003A"}"#;
        for (body, expected_next, has_records) in [
            (
                format!(r#"{{"totalSize":3,"done":false,"records":[{row}],"nextRecordsUrl":"{next}"}}"#),
                Some(next),
                true,
            ),
            (
                format!(r#"{{"records":[{row}],"nextRecordsUrl":"{next}","done":false,"totalSize":3}}"#),
                Some(next),
                true,
            ),
            // The first `"records"` is a value, then a nested object's key, then inside a key
            // (the page's own `records` key is written with an escape).
            (format!(r#"{{"note":"records","totalSize":3,"done":true,"records":[{row}]}}"#), None, true),
            (format!(r#"{{"meta":{{"records":[{row}]}},"totalSize":3,"done":true,"records":[]}}"#), None, false),
            (format!(r#"{{"totalSize":3,"done":true,"rec\u006frds":[{row}],"x\"records":[]}}"#), None, true),
            (format!(r#"{{"totalSize":3,"done":true,"rec\u006frds":[],"x\"records":[{row}]}}"#), None, false),
            // An empty page is read whole, so it is checked whole.
            ("{ \"totalSize\" : 3 ,\n \"done\" : true , \"records\" :\t[ \r\n] }".to_owned(), None, false),
        ] {
            assert!(leading_header(&body).is_none(), "{body}");
            let page = FetchedPage::from_body(body.clone()).unwrap();
            assert_eq!(
                (page.header.total_size, page.header.next().unwrap(), page.header.has_records),
                (3, expected_next, has_records),
                "{body}"
            );
            assert_eq!(page.rows(), None);
        }
        for malformed in [
            r#"{"totalSize":1,"done":false,"records":[{"Id":"003A"}]"#,
            r#"{"totalSize":1,"done":true,"records":[],"records":[{"Id":"003A"}]}"#,
            r#"{"totalSize":0,"done":true,"records":[]"#,
            r#"{"totalSize":0,"done":true,"records":[]]garbage"#,
        ] {
            assert!(FetchedPage::from_body(malformed.to_owned()).is_err(), "{malformed}");
        }
        let not_done = FetchedPage::from_body(r#"{"totalSize":1,"done":false,"records":[]}"#.to_owned()).unwrap();
        assert!(not_done.header.next().is_err());
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
