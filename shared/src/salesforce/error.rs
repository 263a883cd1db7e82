//! Typed Salesforce failures, classified from each API surface's own error shape
//! (docs/salesforce.md#errors): REST arrays, OAuth JSON objects and userinfo's plain text.

use serde::Deserialize;

/// Everything that can go wrong talking to Salesforce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SalesforceError {
    /// userinfo's `403 Bad_OAuth_Token`: the session or token is expired, revoked or unknown.
    #[error("the Salesforce session is expired or invalid (Bad_OAuth_Token)")]
    BadOAuthToken,
    /// `401 INVALID_SESSION_ID` "Session expired or invalid": renewable by logging in again.
    #[error("the Salesforce session expired or is invalid")]
    SessionExpired,
    /// A valid session Salesforce will not accept from a server: Lightning-context session, IP
    /// lock, API access control, "not valid for use with the REST API". Never renewed in a loop.
    #[error("Salesforce refused the session for API use: {message}")]
    SessionRefused { status: u16, message: String },
    /// `403 REQUEST_LIMIT_EXCEEDED`: the org's daily API allocation is spent.
    #[error("the org's API request limit is exceeded")]
    RequestLimitExceeded,
    /// A `400` the request itself caused (`MALFORMED_QUERY`, `INVALID_FIELD`, …): never retried.
    #[error("Salesforce rejected the request: {code}: {message}")]
    BadRequest { code: String, message: String },
    /// Another `403` (`INSUFFICIENT_ACCESS`, …).
    #[error("Salesforce refused the request: {code}: {message}")]
    Forbidden { code: String, message: String },
    /// `404`.
    #[error("not found: {code}: {message}")]
    NotFound { code: String, message: String },
    /// `300`: an external id matched several records; the record URLs Salesforce listed.
    #[error("the external id matches {} records", .0.len())]
    MultipleMatches(Vec<String>),
    /// `UNABLE_TO_LOCK_ROW`: another transaction holds the record; retryable.
    #[error("Salesforce could not lock the row")]
    UnableToLockRow,
    /// `5xx`, `SERVER_UNAVAILABLE`, `QUERY_TIMEOUT`: retryable.
    #[error("Salesforce is unavailable (HTTP {status} {code})")]
    Unavailable { status: u16, code: String },
    /// The request timed out.
    #[error("the request to Salesforce timed out")]
    Timeout,
    /// No connection could be made.
    #[error("Salesforce could not be reached")]
    Unreachable,
    /// The OAuth token endpoint's `{"error","error_description"}`.
    #[error("OAuth refused: {error}: {description}")]
    OAuth { status: u16, error: String, description: String },
    /// Any other status, or a body that is not what the documentation promises.
    #[error("unexpected response from Salesforce: {0}")]
    Protocol(String),
}

impl SalesforceError {
    /// Whether retrying the same idempotent request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SalesforceError::UnableToLockRow
                | SalesforceError::Unavailable { .. }
                | SalesforceError::Timeout
                | SalesforceError::Unreachable
        )
    }

    /// A stable code for logs and run records.
    pub fn code(&self) -> &str {
        match self {
            SalesforceError::BadOAuthToken => "Bad_OAuth_Token",
            SalesforceError::SessionExpired => "INVALID_SESSION_ID",
            SalesforceError::SessionRefused { .. } => "SESSION_REFUSED",
            SalesforceError::RequestLimitExceeded => "REQUEST_LIMIT_EXCEEDED",
            SalesforceError::BadRequest { code, .. }
            | SalesforceError::Forbidden { code, .. }
            | SalesforceError::NotFound { code, .. }
            | SalesforceError::Unavailable { code, .. } => code,
            SalesforceError::MultipleMatches(_) => "MULTIPLE_CHOICES",
            SalesforceError::UnableToLockRow => "UNABLE_TO_LOCK_ROW",
            SalesforceError::Timeout => "TIMEOUT",
            SalesforceError::Unreachable => "UNREACHABLE",
            SalesforceError::OAuth { error, .. } => error,
            SalesforceError::Protocol(_) => "PROTOCOL",
        }
    }
}

/// One element of a REST error array.
#[derive(Debug, Deserialize)]
struct RestError {
    #[serde(rename = "errorCode", default)]
    error_code: String,
    #[serde(default)]
    message: String,
}

/// The first `{errorCode, message}` of a REST error body (an array, or a lone object).
fn first_rest_error(body: &[u8]) -> Option<RestError> {
    serde_json::from_slice::<Vec<RestError>>(body)
        .ok()
        .and_then(|errors| errors.into_iter().next())
        .or_else(|| serde_json::from_slice::<RestError>(body).ok())
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

/// Classifies a non-success answer of the REST data API, Bulk API 2.0 or Apex REST.
pub(crate) fn classify_rest(status: u16, body: &[u8]) -> SalesforceError {
    let error = first_rest_error(body);
    let (code, message) = error.map(|e| (e.error_code, e.message)).unwrap_or_else(|| (String::new(), snippet(body)));
    match (status, code.as_str()) {
        (_, "REQUEST_LIMIT_EXCEEDED") => SalesforceError::RequestLimitExceeded,
        (_, "UNABLE_TO_LOCK_ROW") => SalesforceError::UnableToLockRow,
        (401, _) | (_, "INVALID_SESSION_ID") => classify_invalid_session(status, message),
        (300, _) => SalesforceError::MultipleMatches(serde_json::from_slice::<Vec<String>>(body).unwrap_or_default()),
        (_, "SERVER_UNAVAILABLE" | "QUERY_TIMEOUT") | (500..=599, _) => {
            SalesforceError::Unavailable { status, code: if code.is_empty() { format!("HTTP_{status}") } else { code } }
        }
        (403, _) => SalesforceError::Forbidden { code, message },
        (404, _) => SalesforceError::NotFound { code, message },
        (400..=499, _) => SalesforceError::BadRequest { code, message },
        _ => SalesforceError::Protocol(format!("HTTP {status}: {message}")),
    }
}

/// `INVALID_SESSION_ID` means expiry unless the message says the session is not valid for API
/// use, which is a policy refusal (docs/salesforce.md#data-api-session-errors).
fn classify_invalid_session(status: u16, message: String) -> SalesforceError {
    if message.contains("not valid for use with") {
        SalesforceError::SessionRefused { status, message }
    } else {
        SalesforceError::SessionExpired
    }
}

/// Classifies a non-success answer of `/services/oauth2/userinfo`.
pub(crate) fn classify_userinfo(status: u16, body: &[u8]) -> SalesforceError {
    let text = String::from_utf8_lossy(body);
    match (status, text.trim()) {
        (403, "Bad_OAuth_Token") => SalesforceError::BadOAuthToken,
        (500..=599, _) => SalesforceError::Unavailable { status, code: format!("HTTP_{status}") },
        (401 | 403, other) => {
            let message = first_rest_error(body).map_or_else(|| snippet(other.as_bytes()), |e| e.message);
            SalesforceError::SessionRefused { status, message }
        }
        _ => SalesforceError::Protocol(format!("userinfo answered HTTP {status}")),
    }
}

#[derive(Deserialize)]
struct OAuthErrorBody {
    error: String,
    #[serde(default)]
    error_description: String,
}

/// Classifies a non-success answer of `/services/oauth2/token`.
pub(crate) fn classify_oauth(status: u16, body: &[u8]) -> SalesforceError {
    if (500..=599).contains(&status) {
        return SalesforceError::Unavailable { status, code: format!("HTTP_{status}") };
    }
    match serde_json::from_slice::<OAuthErrorBody>(body) {
        Ok(err) => SalesforceError::OAuth { status, error: err.error, description: err.error_description },
        Err(_) => SalesforceError::Protocol(format!("token endpoint answered HTTP {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_plain_text_bad_oauth_token_means_expired() {
        assert_eq!(classify_userinfo(403, b"Bad_OAuth_Token"), SalesforceError::BadOAuthToken);
    }

    #[test]
    fn userinfo_other_refusals_are_policy_refusals() {
        let body =
            br#"[{"message":"This session is not valid for use with the REST API","errorCode":"INVALID_SESSION_ID"}]"#;
        assert!(matches!(classify_userinfo(401, body), SalesforceError::SessionRefused { status: 401, .. }));
        assert!(matches!(classify_userinfo(403, b"Missing_OAuth_Token"), SalesforceError::SessionRefused { .. }));
        assert!(classify_userinfo(503, b"").is_retryable());
    }

    #[test]
    fn invalid_session_id_distinguishes_expiry_from_policy() {
        let expired = br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert_eq!(classify_rest(401, expired), SalesforceError::SessionExpired);
        let policy =
            br#"{"errorCode":"INVALID_SESSION_ID","message":"This session is not valid for use with the REST API"}"#;
        assert!(matches!(classify_rest(401, policy), SalesforceError::SessionRefused { .. }));
    }

    #[test]
    fn classifies_documented_rest_failures() {
        let limit = br#"[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]"#;
        assert_eq!(classify_rest(403, limit), SalesforceError::RequestLimitExceeded);
        let malformed = br#"[{"message":"unexpected token: FORM","errorCode":"MALFORMED_QUERY"}]"#;
        assert!(matches!(
            classify_rest(400, malformed),
            SalesforceError::BadRequest { ref code, .. } if code == "MALFORMED_QUERY"
        ));
        let field = br#"[{"message":"No such column 'Foo' on entity 'Contact'","errorCode":"INVALID_FIELD"}]"#;
        assert_eq!(classify_rest(400, field).code(), "INVALID_FIELD");
        let missing = br#"[{"errorCode":"NOT_FOUND","message":"The requested resource does not exist"}]"#;
        assert!(matches!(classify_rest(404, missing), SalesforceError::NotFound { .. }));
        let multiple =
            br#"["/services/data/v64.0/sobjects/Contact/003A","/services/data/v64.0/sobjects/Contact/003B"]"#;
        assert_eq!(
            classify_rest(300, multiple),
            SalesforceError::MultipleMatches(vec![
                "/services/data/v64.0/sobjects/Contact/003A".into(),
                "/services/data/v64.0/sobjects/Contact/003B".into()
            ])
        );
        let lock = br#"[{"errorCode":"UNABLE_TO_LOCK_ROW","message":"unable to obtain exclusive access"}]"#;
        assert!(classify_rest(400, lock).is_retryable());
        let busy = br#"[{"errorCode":"SERVER_UNAVAILABLE","message":"try later"}]"#;
        assert!(classify_rest(503, busy).is_retryable());
        assert!(classify_rest(502, b"<html>").is_retryable());
        assert!(!classify_rest(400, malformed).is_retryable());
    }

    #[test]
    fn oauth_errors_keep_error_and_description() {
        let body = br#"{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}"#;
        assert_eq!(
            classify_oauth(400, body),
            SalesforceError::OAuth {
                status: 400,
                error: "invalid_grant".into(),
                description: "user hasn't approved this consumer".into()
            }
        );
    }
}
