//! Outpost's own sessions: 256-bit random tokens handed to the browser as `__Host-outpost_session`,
//! stored only as SHA-256, with a sliding idle expiry bounded by an absolute lifetime.

use std::time::Duration;

use crate::crypto;
use crate::ids::{OrgId, UserId};
use crate::store::{EpochSeconds, OutpostSession, ProvisioningMode};

/// The session cookie's name: with `__Host-`, a browser takes it only from a secure origin, for
/// path `/`, without `Domain`, so no sibling subdomain can plant or shadow it.
pub const SESSION_COOKIE: &str = "__Host-outpost_session";

/// The purpose the sign-out form's CSRF token is signed for: the app's pages render the form,
/// the entry function checks it.
pub const LOGOUT_CSRF: &str = "logout";

/// The session token's hash from a request's `Cookie` headers: what CSRF tokens bind to.
pub fn session_hash_of<'a>(cookie_headers: impl IntoIterator<Item = &'a str>) -> Option<String> {
    crate::cookies::find(cookie_headers, SESSION_COOKIE).map(token_hash)
}

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Without activity the session ends after this.
    pub idle: Duration,
    /// The session ends after this no matter what.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self { idle: Duration::from_secs(2 * 3600), absolute: Duration::from_secs(12 * 3600) }
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// A new session: the token for the cookie and the record for the store.
pub struct IssuedSession {
    pub token: String,
    pub record: OutpostSession,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession").field("record", &self.record).finish_non_exhaustive()
    }
}

impl SessionPolicy {
    /// Mints a session for `user` of `org`.
    pub fn issue(&self, org: OrgId, user: UserId, mode: ProvisioningMode, now: EpochSeconds) -> IssuedSession {
        let token = crypto::random_token();
        let absolute_expires_at = now.saturating_add(secs(self.absolute));
        IssuedSession {
            record: OutpostSession {
                token_hash: token_hash(&token),
                org_id: org,
                user_id: user,
                mode,
                created_at: now,
                expires_at: now.saturating_add(secs(self.idle)).min(absolute_expires_at),
                absolute_expires_at,
            },
            token,
        }
    }

    /// The cookie's `Max-Age`: the absolute lifetime, so the browser forgets it no later.
    pub fn cookie_max_age(&self) -> Duration {
        self.absolute
    }

    /// The record with a later idle expiry, when at least half the idle window has passed
    /// (so most requests cost one read and no write).
    pub fn slide(&self, session: &OutpostSession, now: EpochSeconds) -> Option<OutpostSession> {
        let renewed = now.saturating_add(secs(self.idle)).min(session.absolute_expires_at);
        let remaining = session.expires_at - now;
        (remaining < secs(self.idle) / 2 && renewed > session.expires_at)
            .then(|| OutpostSession { expires_at: renewed, ..session.clone() })
    }
}

/// Whether a session record is live at `now` (the store also filters expired items).
pub fn is_live(session: &OutpostSession, now: EpochSeconds) -> bool {
    session.expires_at > now && session.absolute_expires_at > now
}

/// The storage key of a token: hex SHA-256.
pub fn token_hash(token: &str) -> String {
    crypto::sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (OrgId, UserId) {
        (OrgId::parse("00Dx0000000BV7z").unwrap(), UserId::parse("005x00000012Q9P").unwrap())
    }

    #[test]
    fn issues_random_tokens_stored_only_as_hashes() {
        let (org, user) = ids();
        let policy = SessionPolicy::default();
        let a = policy.issue(org, user, ProvisioningMode::PerUser, 1_000);
        let b = policy.issue(org, user, ProvisioningMode::PerUser, 1_000);
        assert_ne!(a.token, b.token);
        assert!(crypto::is_random_token(&a.token));
        assert_eq!(a.record.token_hash, token_hash(&a.token));
        assert!(!a.record.token_hash.contains(&a.token));
        assert_eq!(a.record.expires_at, 1_000 + 7_200);
        assert_eq!(a.record.absolute_expires_at, 1_000 + 43_200);
        assert!(!format!("{a:?}").contains(&a.token));
    }

    #[test]
    fn slides_after_half_the_idle_window_but_never_past_the_absolute_end() {
        let (org, user) = ids();
        let policy = SessionPolicy::default();
        let session = policy.issue(org, user, ProvisioningMode::OrgWide, 0).record;
        assert_eq!(policy.slide(&session, 1_000), None, "fresh sessions are not rewritten");
        let slid = policy.slide(&session, 4_000).unwrap();
        assert_eq!(slid.expires_at, 4_000 + 7_200);
        let late = OutpostSession { expires_at: 43_000, ..session.clone() };
        assert_eq!(policy.slide(&late, 42_000).unwrap().expires_at, 43_200);
        let capped = OutpostSession { expires_at: 43_200, ..session };
        assert_eq!(policy.slide(&capped, 43_000), None);
        assert!(!is_live(&capped, 43_200));
    }
}
