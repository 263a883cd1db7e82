//! Sessions and access tokens: `<org15>!<opaque>`, inactivity timeout on the sim clock,
//! kinds that the API refuses (Lightning context, IP-locked), revocation.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::clock::SfDateTime;
use crate::ids::{self, SfId};

/// What a session may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    /// A full API session (Classic/Visualforce context, or an OAuth access token).
    #[default]
    Api,
    /// A Lightning Experience session: exists, but has no API access.
    Lightning,
    /// Locked to the IP it came from: refused from any server.
    IpLocked,
}

impl SessionKind {
    /// Parses `api`, `lightning`, `ip_locked` (also `iplocked`, `ip-locked`).
    pub fn parse(s: &str) -> Option<SessionKind> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "api" => Some(SessionKind::Api),
            "lightning" | "lex" => Some(SessionKind::Lightning),
            "ip_locked" | "iplocked" => Some(SessionKind::IpLocked),
            _ => None,
        }
    }
}

/// One live session.
#[derive(Clone, Debug)]
pub struct Session {
    /// Owner.
    pub user: SfId,
    /// Kind.
    pub kind: SessionKind,
    /// Last use (inactivity timeout counts from here, like Salesforce).
    pub last_used: SfDateTime,
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionError {
    /// Unknown, expired or revoked.
    Invalid,
    /// Exists but may not use the API.
    NotForApi,
}

/// All live sessions.
#[derive(Debug)]
pub struct Sessions {
    map: HashMap<String, Session>,
    /// Inactivity timeout in seconds.
    pub lifetime_secs: i64,
}

/// Characters of the opaque part (real session ids use letters, digits, '.' and '_').
const OPAQUE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";

impl Sessions {
    /// No sessions yet.
    pub fn new(lifetime_secs: i64) -> Sessions {
        Sessions { map: HashMap::new(), lifetime_secs }
    }

    /// Mints a session `<org15>!AQ<opaque>`.
    pub fn mint(&mut self, org: &SfId, user: SfId, kind: SessionKind, now: SfDateTime) -> String {
        let token = format!("{}!AQ{}", org.as15(), ids::random_chars(OPAQUE, 94));
        self.map.insert(token.clone(), Session { user, kind, last_used: now });
        token
    }

    /// Looks a token up, enforcing expiry, and refreshes its inactivity timer.
    pub fn check(&mut self, token: &str, now: SfDateTime) -> Result<Session, SessionError> {
        let lifetime = self.lifetime_secs;
        let Some(s) = self.map.get_mut(token) else {
            return Err(SessionError::Invalid);
        };
        if now.0 - s.last_used.0 > lifetime {
            self.map.remove(token);
            return Err(SessionError::Invalid);
        }
        s.last_used = now.max(s.last_used);
        Ok(s.clone())
    }

    /// Checks a token for API use.
    pub fn check_api(&mut self, token: &str, now: SfDateTime) -> Result<Session, SessionError> {
        let s = self.check(token, now)?;
        if s.kind == SessionKind::Api { Ok(s) } else { Err(SessionError::NotForApi) }
    }

    /// Ends every session.
    pub fn expire_all(&mut self) {
        self.map.clear();
    }

    /// Ends one session; true if it existed.
    pub fn revoke(&mut self, token: &str) -> bool {
        self.map.remove(token).is_some()
    }

    /// Ends every session of one user.
    pub fn revoke_user(&mut self, user: &SfId) {
        self.map.retain(|_, s| s.user != *user);
    }

    /// Number of live (not yet timed-out) sessions.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are no sessions.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The bearer token of a request: `Authorization: Bearer|OAuth <token>`.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    let token = token.trim();
    ((scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("oauth")) && !token.is_empty())
        .then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_look_real_and_time_out_on_inactivity() {
        let org = SfId::parse(crate::config::DEFAULT_ORG_ID).unwrap();
        let user = SfId::parse("0055g0000000001").unwrap();
        let mut s = Sessions::new(100);
        let t = s.mint(&org, user, SessionKind::Api, SfDateTime(1000));
        assert_eq!(&t[..15], org.as15());
        assert_eq!(&t[15..16], "!");
        assert!(t[16..].bytes().all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_'));
        assert!(s.check(&t, SfDateTime(1090)).is_ok());
        assert!(s.check(&t, SfDateTime(1180)).is_ok(), "activity extends the session");
        assert_eq!(s.check(&t, SfDateTime(1300)).unwrap_err(), SessionError::Invalid);
        let l = s.mint(&org, user, SessionKind::Lightning, SfDateTime(1000));
        assert_eq!(s.check_api(&l, SfDateTime(1000)).unwrap_err(), SessionError::NotForApi);
    }
}
