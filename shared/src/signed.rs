//! Short-lived signed values (the pending-onboarding identity, SSO state) and CSRF tokens, both
//! keyed from the app secret's signing key with a separate subkey per purpose.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::crypto::{HmacKey, constant_time_eq};
use crate::store::{EpochSeconds, now_epoch};

/// Why a signed value was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    #[error("the value is malformed or its signature is wrong")]
    Invalid,
    #[error("the value has expired")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    exp: EpochSeconds,
    v: T,
}

/// Signs and verifies values and CSRF tokens with one master key.
pub struct Signer {
    master: HmacKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer over `key` (the app secret's signing key, at least 32 bytes).
    pub fn new(key: &[u8]) -> Self {
        Self { master: HmacKey::new(key) }
    }

    /// A subkey per purpose, so a token minted for one use is worthless for another.
    fn subkey(&self, purpose: &str) -> HmacKey {
        HmacKey::new(&self.master.sign(purpose.as_bytes()))
    }

    /// `base64url(json{exp, v}).base64url(tag)`, valid for `ttl`.
    pub fn seal<T: Serialize>(&self, purpose: &str, value: &T, ttl: Duration) -> String {
        self.seal_until(purpose, value, now_epoch().saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX)))
    }

    fn seal_until<T: Serialize>(&self, purpose: &str, value: &T, exp: EpochSeconds) -> String {
        let json = serde_json::to_vec(&Envelope { exp, v: value }).unwrap_or_default();
        let payload = URL_SAFE_NO_PAD.encode(json);
        let tag = URL_SAFE_NO_PAD.encode(self.subkey(purpose).sign(payload.as_bytes()));
        format!("{payload}.{tag}")
    }

    /// Verifies and decodes a sealed value.
    pub fn open<T: DeserializeOwned>(&self, purpose: &str, sealed: &str) -> Result<T, SignedError> {
        let (payload, tag) = sealed.split_once('.').ok_or(SignedError::Invalid)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| SignedError::Invalid)?;
        if !self.subkey(purpose).verify(payload.as_bytes(), &tag) {
            return Err(SignedError::Invalid);
        }
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| SignedError::Invalid)?;
        let envelope: Envelope<T> = serde_json::from_slice(&json).map_err(|_| SignedError::Invalid)?;
        if envelope.exp <= now_epoch() {
            return Err(SignedError::Expired);
        }
        Ok(envelope.v)
    }

    /// A CSRF token bound to `binding` (a cookie's nonce or a session's hash).
    pub fn csrf_token(&self, purpose: &str, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.subkey(&format!("csrf:{purpose}")).sign(binding.as_bytes()))
    }

    /// Whether `token` is the CSRF token of `binding`, compared in constant time.
    pub fn verify_csrf(&self, purpose: &str, binding: &str, token: &str) -> bool {
        constant_time_eq(self.csrf_token(purpose, binding).as_bytes(), token.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn round_trips_within_its_lifetime_and_purpose() {
        let sealed = signer().seal("pending", &("00D", 7), Duration::from_secs(60));
        assert_eq!(signer().open::<(String, i32)>("pending", &sealed), Ok(("00D".into(), 7)));
        assert_eq!(signer().open::<(String, i32)>("sso", &sealed), Err(SignedError::Invalid));
        let other = Signer::new(b"another key another key another k");
        assert_eq!(other.open::<(String, i32)>("pending", &sealed), Err(SignedError::Invalid));
    }

    #[test]
    fn refuses_expired_and_tampered_values() {
        let expired = signer().seal_until("p", &1, now_epoch() - 1);
        assert_eq!(signer().open::<i32>("p", &expired), Err(SignedError::Expired));
        let sealed = signer().seal("p", &1, Duration::from_secs(60));
        let (payload, tag) = sealed.split_once('.').unwrap();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"exp":99999999999,"v":2}"#);
        assert_eq!(signer().open::<i32>("p", &format!("{forged_payload}.{tag}")), Err(SignedError::Invalid));
        assert_eq!(signer().open::<i32>("p", payload), Err(SignedError::Invalid));
        assert_eq!(signer().open::<i32>("p", "garbage"), Err(SignedError::Invalid));
        assert_eq!(signer().open::<i32>("p", ""), Err(SignedError::Invalid));
    }

    #[test]
    fn csrf_tokens_bind_to_their_cookie_and_purpose() {
        let token = signer().csrf_token("onboarding", "nonce-a");
        assert!(signer().verify_csrf("onboarding", "nonce-a", &token));
        assert!(!signer().verify_csrf("onboarding", "nonce-b", &token));
        assert!(!signer().verify_csrf("logout", "nonce-a", &token));
        assert!(!signer().verify_csrf("onboarding", "nonce-a", ""));
    }
}
