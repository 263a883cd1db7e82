//! A response read once, whole, and the assertions every entry test makes about it: the JSON
//! error envelope, the cookies it sets, the headers `/entry` must always carry, and that it never
//! carries a Salesforce session id.

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};

/// `Accept` value that asks Outpost for JSON errors.
pub const JSON: &str = "application/json";
/// The media type of a posted HTML form.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// A response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

/// One `Set-Cookie` header: name, value and attributes as sent.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    pub attributes: Vec<String>,
}

impl SetCookie {
    fn parse(header: &str) -> Option<Self> {
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts.next()?.split_once('=')?;
        Some(Self { name: name.to_owned(), value: value.to_owned(), attributes: parts.map(str::to_owned).collect() })
    }

    /// Whether the cookie carries attribute `name` (case-insensitive, with or without a value).
    pub fn has(&self, name: &str) -> bool {
        self.attributes.iter().any(|a| a.split('=').next().is_some_and(|n| n.trim().eq_ignore_ascii_case(name)))
    }

    /// The value of attribute `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .filter_map(|a| a.split_once('='))
            .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }

    /// `Max-Age` in seconds.
    pub fn max_age(&self) -> u64 {
        self.attribute("Max-Age").and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{self:?} has no Max-Age"))
    }

    /// Asserts the attributes of a cookie that must reach Outpost inside a cross-site web-tab iframe.
    pub fn assert_cross_site(&self, path: &str) {
        for attribute in ["HttpOnly", "Secure", "Partitioned"] {
            assert!(self.has(attribute), "{} lacks {attribute}: {self:?}", self.name);
        }
        assert_eq!(self.attribute("SameSite"), Some("None"), "{self:?}");
        assert_eq!(self.attribute("Path"), Some(path), "{self:?}");
    }
}

impl Reply {
    /// Reads a response to the end.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.expect("the body is readable");
        Self { status, headers, body }
    }

    /// Sends a request and reads the response.
    pub async fn send(request: reqwest::RequestBuilder) -> Self {
        Self::read(request.send().await.expect("the request reaches its server")).await
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> Option<&str> {
        self.header(LOCATION.as_str())
    }

    /// Every cookie the response sets (or clears).
    pub fn set_cookies(&self) -> Vec<SetCookie> {
        self.headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).filter_map(SetCookie::parse).collect()
    }

    /// The cookie named `name`, with a non-empty value.
    pub fn cookie(&self, name: &str) -> Option<SetCookie> {
        self.set_cookies().into_iter().find(|c| c.name == name && !c.value.is_empty())
    }

    /// Whether the response clears cookie `name` (empty value, `Max-Age=0`).
    pub fn clears(&self, name: &str) -> bool {
        self.set_cookies().iter().any(|c| c.name == name && c.value.is_empty() && c.max_age() == 0)
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("not JSON ({err}): {self:?}"))
    }

    /// The error code of a `{"error":{"code","message"}}` body; panics on any other shape.
    pub fn error_code(&self) -> String {
        assert!(
            self.header("content-type").is_some_and(|t| t.starts_with("application/json")),
            "an error for a machine is JSON: {self:?}"
        );
        let json = self.json();
        let error = json.get("error").and_then(|e| e.as_object()).unwrap_or_else(|| panic!("no error object: {json}"));
        assert_eq!(json.as_object().map(|o| o.len()), Some(1), "only `error` at the top: {json}");
        let message = error.get("message").and_then(|m| m.as_str()).unwrap_or_default();
        assert!(!message.trim().is_empty(), "the error explains itself: {json}");
        error.get("code").and_then(|c| c.as_str()).unwrap_or_else(|| panic!("no code: {json}")).to_owned()
    }

    /// Asserts a refusal: the status, the stable code, and that no cookie was set.
    pub fn assert_refused(&self, status: u16, code: &str, context: &str) {
        assert_eq!(self.status.as_u16(), status, "{context}: {self:?}");
        assert_eq!(self.error_code(), code, "{context}");
        assert!(self.set_cookies().is_empty(), "{context}: a refusal sets no cookie: {self:?}");
    }

    /// Asserts the headers every `/entry` (and onboarding, SSO, Canvas) response carries.
    pub fn assert_private(&self, context: &str) {
        assert_eq!(self.header("referrer-policy"), Some("no-referrer"), "{context}: {self:?}");
        assert_eq!(self.header("cache-control"), Some("no-store"), "{context}: {self:?}");
    }

    /// Asserts that neither the headers nor the body contain `secret`.
    pub fn assert_never_shows(&self, secret: &str, context: &str) {
        assert!(!secret.is_empty());
        for (name, value) in &self.headers {
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(!value.contains(secret), "{context}: header {name} carries the secret");
        }
        assert!(!self.body.contains(secret), "{context}: the body carries the secret");
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        assert!(!self.body.contains(&encoded), "{context}: the body carries the secret, URL-encoded");
    }

    /// The value of the hidden input `name` of an HTML form.
    pub fn hidden_input(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start =
            self.body.find(&marker).unwrap_or_else(|| panic!("no input {name} in {}", self.body)) + marker.len();
        let end = self.body[start..].find('"').expect("a closed attribute") + start;
        self.body[start..end].to_owned()
    }
}
