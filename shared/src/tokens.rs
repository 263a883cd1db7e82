//! Salesforce session ids and access tokens. They are passwords: no `Debug` or `Display` reveals
//! them, logs carry only a short fingerprint, and they are never stored.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

use crate::crypto;
use crate::ids::OrgId;

/// A bearer credential for the Salesforce API: a UI session id or an OAuth access token.
#[derive(Clone)]
pub struct AccessToken(SecretString);

impl AccessToken {
    /// Wraps a token Salesforce issued.
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }

    /// The raw value, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// A short non-reversible fingerprint for logs.
    pub fn fingerprint(&self) -> String {
        crypto::fingerprint(self.expose())
    }

    /// Hex SHA-256, the key of the validated-session cache.
    pub fn sha256_hex(&self) -> String {
        crypto::sha256_hex(self.expose().as_bytes())
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccessToken(#{})", self.fingerprint())
    }
}

/// Why a link's session id was refused before any network call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionIdError {
    #[error("the session id is missing")]
    Missing,
    #[error("the session id is too long")]
    TooLong,
    #[error("the session id has characters a Salesforce session id never has")]
    Charset,
    #[error("the session id does not belong to the link's organization")]
    ForeignOrg,
}

/// Longest session id accepted; real ones are about 112 characters.
const MAX_SESSION_ID_LEN: usize = 512;

/// A Salesforce UI session id from a custom link: `<15-char org id>!<opaque>` (docs/salesforce.md#session-id).
#[derive(Clone, Debug)]
pub struct SessionId(AccessToken);

impl SessionId {
    /// Checks the shape and that the id starts with `org`'s 15-char id and `!`.
    pub fn parse(raw: &str, org: &OrgId) -> Result<Self, SessionIdError> {
        if raw.is_empty() {
            return Err(SessionIdError::Missing);
        }
        if raw.len() > MAX_SESSION_ID_LEN {
            return Err(SessionIdError::TooLong);
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'!' | b'.' | b'_' | b'-')) {
            return Err(SessionIdError::Charset);
        }
        let (prefix, rest) = raw.split_at_checked(15).ok_or(SessionIdError::ForeignOrg)?;
        if prefix != org.as_15() || !rest.starts_with('!') || rest.len() < 2 {
            return Err(SessionIdError::ForeignOrg);
        }
        Ok(Self(AccessToken::new(raw)))
    }

    /// The session id as an API bearer credential.
    pub fn token(&self) -> &AccessToken {
        &self.0
    }

    /// Converts into the bearer credential.
    pub fn into_token(self) -> AccessToken {
        self.0
    }
}

/// The credentials of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 9110 §11.1).
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_schemes_compare_case_insensitively() {
        for (value, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER  abc ", Some("abc")),
            ("Bearer ", None),
            ("Bearer", None),
            ("Basic abc", None),
            ("Bearerabc", None),
        ] {
            assert_eq!(bearer_token(value), token, "{value:?}");
        }
    }

    fn org() -> OrgId {
        OrgId::parse("00Dx0000000BV7zEAG").unwrap()
    }

    #[test]
    fn accepts_a_session_id_of_the_links_org() {
        let sid = SessionId::parse("00Dx0000000BV7z!AQ0AQH0dMHZfz972Szmpkb58urFRkgeBGsxL", &org());
        assert!(sid.is_ok());
    }

    #[test]
    fn rejects_session_ids_of_other_orgs_and_odd_shapes() {
        let cases = [
            ("", SessionIdError::Missing),
            ("00Dx0000000BV7Z!abc", SessionIdError::ForeignOrg),
            ("00Dy0000000BV7z!abc", SessionIdError::ForeignOrg),
            ("00Dx0000000BV7zEAG!abc", SessionIdError::ForeignOrg),
            ("00Dx0000000BV7z", SessionIdError::ForeignOrg),
            ("00Dx0000000BV7z!", SessionIdError::ForeignOrg),
            ("eyJhbGciOiJSUzI1NiJ9", SessionIdError::ForeignOrg),
            ("00Dx0000000BV7z!ab c", SessionIdError::Charset),
            ("00Dx0000000BV7z!ab<script>", SessionIdError::Charset),
        ];
        for (raw, expected) in cases {
            assert_eq!(SessionId::parse(raw, &org()).err(), Some(expected), "{raw:?}");
        }
        let long = format!("00Dx0000000BV7z!{}", "a".repeat(600));
        assert_eq!(SessionId::parse(&long, &org()).err(), Some(SessionIdError::TooLong));
    }

    #[test]
    fn debug_never_reveals_the_token() {
        let token = AccessToken::new("00Dx0000000BV7z!SECRETSECRET");
        let shown = format!("{token:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let sid = SessionId::parse("00Dx0000000BV7z!SECRETSECRET", &org()).unwrap();
        assert!(!format!("{sid:?}").contains("SECRET"));
    }
}
