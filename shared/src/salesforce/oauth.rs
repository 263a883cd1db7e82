//! OAuth 2.0 against the org's My Domain token endpoint (docs/salesforce.md#oauth): JWT bearer and
//! client credentials for the integration user, and the authorization-code exchange for SSO.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde::Deserialize;

use super::SalesforceError;
use super::client::{Body, Call, Replay, SalesforceClient, Surface};
use crate::hosts::SalesforceHost;
use crate::tokens::AccessToken;

/// A person waits on the SSO code exchange: it gets the same budget as a session check.
const INTERACTIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// JWT assertions live this long; Salesforce allows 3 minutes of skew.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(150);

/// An RSA private key that signs JWT bearer assertions (RS256).
pub struct RsaSigningKey(RsaKeyPair);

impl std::fmt::Debug for RsaSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RsaSigningKey(..)")
    }
}

/// Errors reading a PEM key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is not PEM")]
    NotPem,
    #[error("the PEM key is not an RSA private key of 2048 to 8192 bits")]
    Rejected,
}

impl RsaSigningKey {
    /// Reads a PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let pair = match PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| KeyError::NotPem)? {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => return Err(KeyError::Rejected),
        };
        pair.map(Self).map_err(|_| KeyError::Rejected)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SalesforceError> {
        let mut signature = vec![0u8; self.0.public().modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &ring::rand::SystemRandom::new(), message, &mut signature)
            .map_err(|_| SalesforceError::Protocol("RS256 signing failed".into()))?;
        Ok(signature)
    }
}

/// The JWT bearer grant for an org's integration user.
#[derive(Debug)]
pub struct JwtBearer<'a> {
    /// The External Client App's consumer key (`iss`).
    pub consumer_key: &'a str,
    /// The integration user's username (`sub`).
    pub username: &'a str,
    pub key: &'a RsaSigningKey,
}

impl JwtBearer<'_> {
    /// A signed RS256 assertion with `aud` = the My Domain URL and a short `exp`.
    pub fn assertion(&self, audience: &str, now: SystemTime) -> Result<String, SalesforceError> {
        let exp = now
            .checked_add(ASSERTION_LIFETIME)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256"}"#);
        let claims = serde_json::json!({
            "iss": self.consumer_key,
            "sub": self.username,
            "aud": audience,
            "exp": exp,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let signature = URL_SAFE_NO_PAD.encode(self.key.sign(signing_input.as_bytes())?);
        Ok(format!("{signing_input}.{signature}"))
    }
}

/// The authorization-code exchange of the SSO web-server flow with PKCE.
#[derive(Debug)]
pub struct AuthorizationCode<'a> {
    pub code: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uri: &'a str,
    pub code_verifier: &'a str,
}

/// A successful token response. `issued_at`/`signature` are optional: not every grant sends them.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    #[serde(deserialize_with = "token_from_string")]
    pub access_token: AccessToken,
    pub instance_url: String,
    /// The identity URL `…/id/<org18>/<user18>`.
    pub id: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Epoch milliseconds as a string.
    #[serde(default)]
    pub issued_at: Option<String>,
}

fn token_from_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<AccessToken, D::Error> {
    String::deserialize(deserializer).map(AccessToken::new)
}

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

impl SalesforceClient {
    async fn token(
        &self,
        host: &SalesforceHost,
        body: String,
        timeout: Option<Duration>,
    ) -> Result<TokenResponse, SalesforceError> {
        let mut call = Call::new(Method::POST, host.url("/services/oauth2/token"), Surface::OAuth);
        call.body = Some(Body::Form(body));
        call.timeout = timeout;
        // A token request mints a token; resend only if it never left.
        call.replay = Replay::OnlyIfNotSent;
        let reply = self.send(call).await?;
        serde_json::from_slice(&reply.body).map_err(|err| SalesforceError::Protocol(format!("token body: {err}")))
    }

    /// JWT bearer grant against the org's My Domain host (`aud` = its URL).
    #[tracing::instrument(skip_all, fields(host = %host))]
    pub async fn jwt_bearer_token(
        &self,
        host: &SalesforceHost,
        grant: &JwtBearer<'_>,
    ) -> Result<TokenResponse, SalesforceError> {
        let assertion = grant.assertion(host.origin(), SystemTime::now())?;
        self.token(
            host,
            form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)]),
            None,
        )
        .await
    }

    /// Client credentials grant; only a My Domain host answers it (docs/salesforce.md#client-credentials).
    #[tracing::instrument(skip_all, fields(host = %host))]
    pub async fn client_credentials_token(
        &self,
        host: &SalesforceHost,
        client_id: &str,
        client_secret: &str,
    ) -> Result<TokenResponse, SalesforceError> {
        self.token(
            host,
            form(&[("grant_type", "client_credentials"), ("client_id", client_id), ("client_secret", client_secret)]),
            None,
        )
        .await
    }

    /// Exchanges an authorization code (with its PKCE verifier) for a token, within 5 seconds.
    #[tracing::instrument(skip_all, fields(host = %host))]
    pub async fn authorization_code_token(
        &self,
        host: &SalesforceHost,
        exchange: &AuthorizationCode<'_>,
    ) -> Result<TokenResponse, SalesforceError> {
        self.token(
            host,
            form(&[
                ("grant_type", "authorization_code"),
                ("code", exchange.code),
                ("client_id", exchange.client_id),
                ("client_secret", exchange.client_secret),
                ("redirect_uri", exchange.redirect_uri),
                ("code_verifier", exchange.code_verifier),
            ]),
            Some(INTERACTIVE_TIMEOUT),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    #[test]
    fn signs_a_verifiable_rs256_assertion_with_short_exp() {
        let (private_pem, public_pem) = salesforce_sim::oauth::generate_integration_key_pair().unwrap();
        let key = RsaSigningKey::from_pem(&private_pem).unwrap();
        let grant = JwtBearer { consumer_key: "3MVG9consumer", username: "integration@acme.example", key: &key };
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let jwt = grant.assertion("https://acme.my.salesforce.com", now).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(URL_SAFE_NO_PAD.decode(parts[0]).unwrap(), br#"{"alg":"RS256"}"#);
        let claims: serde_json::Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "3MVG9consumer");
        assert_eq!(claims["sub"], "integration@acme.example");
        assert_eq!(claims["aud"], "https://acme.my.salesforce.com");
        assert_eq!(claims["exp"], 1_700_000_150);
        let public_der = rustls_pki_types::SubjectPublicKeyInfoDer::from_pem_slice(public_pem.as_bytes()).unwrap();
        // aws-lc verifies against the SubjectPublicKeyInfo as well as PKCS#1.
        let verifier = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public_der);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        assert!(verifier.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature).is_ok());
    }

    #[test]
    fn refuses_keys_that_are_not_rsa_pem() {
        assert_eq!(RsaSigningKey::from_pem("nonsense").err(), Some(KeyError::NotPem));
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(RsaSigningKey::from_pem(garbage).err(), Some(KeyError::Rejected));
    }

    #[test]
    fn parses_a_token_response_without_optional_fields() {
        let body = r#"{"access_token":"00Dx0000000BV7z!AR8AQ","scope":"web api",
            "instance_url":"https://acme.my.salesforce.com","id":"https://login.salesforce.com/id/00Dx0000000BV7zEAG/005x00000012Q9PAAU","token_type":"Bearer"}"#;
        let token: TokenResponse = serde_json::from_str(body).unwrap();
        assert_eq!(token.access_token.expose(), "00Dx0000000BV7z!AR8AQ");
        assert!(token.issued_at.is_none());
        assert!(!format!("{token:?}").contains("AR8AQ"));
    }
}
