//! What every server-rendered page carries: a per-response nonce for its inline stylesheet, a
//! Content-Security-Policy without `unsafe-inline`, and `frame-ancestors` limited to the org's
//! Salesforce domains, because Outpost lives in web-tab iframes.

use std::collections::HashMap;

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::crypto;
use crate::hosts::{HostPolicy, SalesforceHost};
use crate::namespace::Namespace;

/// Fields every page's layout reads.
pub struct Page {
    pub title: String,
    pub nonce: String,
}

impl Page {
    pub fn new(title: impl Into<String>) -> Self {
        Self { title: title.into(), nonce: crypto::random_token() }
    }
}

/// Who may frame a page.
#[derive(Debug, Clone)]
pub enum Framing {
    /// The org's own Salesforce origins.
    Org(Vec<String>),
    /// Any Salesforce origin: error pages shown before the org is known.
    AnySalesforce { loopback: bool },
    /// No one: pages opened from an email, never inside Salesforce.
    Nowhere,
}

impl Framing {
    /// The org's origins, its package's Visualforce host named after `namespace`.
    pub fn org(host: &SalesforceHost, namespace: Option<&Namespace>) -> Self {
        Framing::Org(host.frame_ancestors(namespace))
    }

    pub fn any(policy: HostPolicy) -> Self {
        Framing::AnySalesforce { loopback: policy.admits_loopback() }
    }

    /// The `frame-ancestors` sources.
    pub fn sources(&self) -> String {
        match self {
            Framing::Org(origins) => origins.join(" "),
            Framing::Nowhere => "'none'".to_owned(),
            Framing::AnySalesforce { loopback } => {
                let mut sources = String::from(
                    "https://*.my.salesforce.com https://*.lightning.force.com https://*.vf.force.com \
                     https://*.my.salesforce.mil https://*.my.sfcrmproducts.cn",
                );
                if *loopback {
                    sources.push_str(" http://localhost:* http://127.0.0.1:*");
                }
                sources
            }
        }
    }
}

/// Whether a page loads the app's own script (served from the same origin, never inline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripts {
    None,
    SameOrigin,
}

/// A rendered page as an HTML response with its CSP; a template that failed to render is a 500
/// with a plain message.
pub fn html(
    status: StatusCode,
    rendered: Result<String, impl std::fmt::Display>,
    page: &Page,
    framing: &Framing,
    scripts: Scripts,
) -> Response {
    let body = match rendered {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "template failed to render");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Outpost could not render this page.").into_response();
        }
    };
    let (script_src, connect_src) = match scripts {
        Scripts::None => ("", ""),
        Scripts::SameOrigin => ("; script-src 'self'", "; connect-src 'self'"),
    };
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{}'{script_src}{connect_src}; img-src 'self' data:; form-action 'self'; \
         base-uri 'none'; frame-ancestors {}",
        page.nonce,
        framing.sources()
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// How the client wants errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wants {
    Html,
    Json,
}

impl Wants {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let json = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|accept| accept.contains("application/json"));
        if json { Wants::Json } else { Wants::Html }
    }
}

/// Middleware for every answer that depends on a session or a key: never cached, never sniffed,
/// and never leaking the address it answered (which may have carried a session id) in `Referer`.
pub async fn private_answers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Whether every name and value of a form body decodes to UTF-8 (what browsers send): anything
/// else would be read with U+FFFD in place of the bytes, and stored so.
pub fn decodes_as_utf8(body: &[u8]) -> bool {
    body.split(|byte| *byte == b'&').flat_map(|pair| pair.splitn(2, |byte| *byte == b'=')).all(|part| {
        let spaced: Vec<u8> = part.iter().map(|byte| if *byte == b'+' { b' ' } else { *byte }).collect();
        percent_encoding::percent_decode(&spaced).decode_utf8().is_ok()
    })
}

/// The fields of an `application/x-www-form-urlencoded` body, read strictly: only the names in
/// `single` (each at most once) and `repeatable`, all valid UTF-8; `None` for any other body.
pub fn form_fields(body: &[u8], single: &[&str], repeatable: &[&str]) -> Option<HashMap<String, Vec<String>>> {
    if !decodes_as_utf8(body) {
        return None;
    }
    let mut fields: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(body) {
        let values = fields.entry(name.as_ref().to_owned()).or_default();
        let allowed = repeatable.contains(&name.as_ref()) || (single.contains(&name.as_ref()) && values.is_empty());
        if !allowed {
            return None;
        }
        values.push(value.into_owned());
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_strictly() {
        let fields = form_fields(b"a=1&b=x+y%21&ids=1&ids=2", &["a", "b"], &["ids"]).unwrap();
        assert_eq!(fields["a"], ["1"]);
        assert_eq!(fields["b"], ["x y!"]);
        assert_eq!(fields["ids"], ["1", "2"]);
        assert_eq!(form_fields(b"a=1&a=2", &["a"], &[]), None, "a single field twice");
        assert_eq!(form_fields(b"c=1", &["a"], &[]), None, "an unknown field");
        assert!(form_fields(b"", &["a"], &[]).unwrap().is_empty());
        assert_eq!(form_fields(b"a=%FF", &["a"], &[]), None, "a value that is not UTF-8");
        assert_eq!(form_fields(b"a=caf\xe9", &["a"], &[]), None, "raw Latin-1 bytes");
        assert_eq!(form_fields(b"a=caf%C3%A9", &["a"], &[]).unwrap()["a"], ["café"]);
    }
}
